"""Settings read from the environment, each with the command-line option that overrides it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import platformdirs

from stacgen import constants
from stacgen.errors import StacgenError

CACHE_ENV = "STACGEN_CACHE_DIR"
SCHEMAS_ENV = "STACGEN_SCHEMAS"
SCHEMA_URL_ENV = "STACGEN_SCHEMA_URL"
ZENODO_ENV = "STACGEN_ZENODO_URL"
BROWSER_ENV = "STACGEN_BROWSER_DIR"


# Defaults of the command line and the library alike, each in this one place.
CATALOG_DIR: Final = Path("catalog")  # where `stacgen build` writes and the others read
HOST: Final = "127.0.0.1"  # `stacgen serve` answers this machine only unless told otherwise
PORT: Final = 8000
PUBLISH_WORKERS: Final = 8  # parallel uploads: S3 is latency-bound, not CPU-bound


class ConfigError(StacgenError):
    """A setting is missing or points nowhere."""


def workers() -> int:
    """Parallel processes for building and validating: one per CPU."""
    return os.cpu_count() or 1


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


def schemas_dir(explicit: Path | None = None) -> Path | None:
    """A local mirror of the STAC JSON Schemas (`--schemas`, else env STACGEN_SCHEMAS), if one
    is named; None: validation fetches the pinned schemas into the cache (stacgen.stac.schemas).
    """
    value = explicit or (Path(os.environ[SCHEMAS_ENV]) if os.environ.get(SCHEMAS_ENV) else None)
    if value is not None and not value.is_dir():
        source = "--schemas" if explicit else SCHEMAS_ENV
        raise ConfigError(f"{value}: schema mirror folder does not exist ({source})")
    return value


def schema_base_url() -> str | None:
    """Where to fetch the pinned schemas from (env STACGEN_SCHEMA_URL: a mirror served over
    HTTP, `<url>/<host>/<path>`); None: from their own URLs."""
    return os.environ.get(SCHEMA_URL_ENV) or None
