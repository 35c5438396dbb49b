"""stacgen.config: each setting from its environment variable, else its default."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from stacgen import config


def test_cache_dir_from_the_environment_or_the_user_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STACGEN_CACHE_DIR", str(tmp_path))
    assert config.cache_dir() == tmp_path
    monkeypatch.delenv("STACGEN_CACHE_DIR")
    assert config.cache_dir() == platformdirs.user_cache_path("stacgen")


def test_zenodo_url_from_the_environment_or_zenodo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STACGEN_ZENODO_URL", raising=False)
    assert config.zenodo_url() == "https://zenodo.org"
    monkeypatch.setenv("STACGEN_ZENODO_URL", "http://127.0.0.1:9")
    assert config.zenodo_url() == "http://127.0.0.1:9"


def test_schemas_dir_explicit_wins_and_must_exist(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STACGEN_SCHEMAS", str(tmp_path / "env"))
    assert config.schemas_dir(tmp_path) == tmp_path
    with pytest.raises(
        config.ConfigError, match=r"env: schema mirror folder does not exist \(STACGEN_SCHEMAS\)"
    ):
        config.schemas_dir()
    with pytest.raises(config.ConfigError, match=r"gone: .* does not exist \(--schemas\)"):
        config.schemas_dir(tmp_path / "gone")
    monkeypatch.delenv("STACGEN_SCHEMAS")
    assert config.schemas_dir() is None  # validation then fetches the pinned schemas


def test_schema_url_from_the_environment_or_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STACGEN_SCHEMA_URL", raising=False)
    assert config.schema_base_url() is None
    monkeypatch.setenv("STACGEN_SCHEMA_URL", "http://127.0.0.1:9/mirror")
    assert config.schema_base_url() == "http://127.0.0.1:9/mirror"
