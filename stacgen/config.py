"""Settings read from the environment, each with the command-line option that overrides it."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from stacgen import constants

CACHE_ENV = "STACGEN_CACHE_DIR"
SCHEMAS_ENV = "STACGEN_SCHEMAS"
ZENODO_ENV = "STACGEN_ZENODO_URL"
BROWSER_ENV = "STACGEN_BROWSER_DIR"


class ConfigError(Exception):
    """A setting is missing or points nowhere."""


def cache_dir() -> Path:
    """Where downloads and extracted archives live: env STACGEN_CACHE_DIR or the user cache."""
    value = os.environ.get(CACHE_ENV)
    return Path(value) if value else platformdirs.user_cache_path("stacgen")


def browser_dir() -> Path | None:
    """A built STAC Browser to serve at /browser/ (env STACGEN_BROWSER_DIR), if set."""
    value = os.environ.get(BROWSER_ENV)
    return Path(value) if value else None


def zenodo_url() -> str:
    return os.environ.get(ZENODO_ENV) or constants.ZENODO_URL


def schemas_dir(explicit: Path | None = None) -> Path:
    """The offline mirror of the STAC JSON Schemas (../shared/stac-schemas in this project)."""
    value = explicit or (Path(os.environ[SCHEMAS_ENV]) if os.environ.get(SCHEMAS_ENV) else None)
    if value is None:
        raise ConfigError(f"no schema mirror: set {SCHEMAS_ENV} to the stac-schemas folder")
    if not value.is_dir():
        raise ConfigError(f"{value}: schema mirror folder does not exist ({SCHEMAS_ENV})")
    return value
