"""stacgen.assemble.state: the manifest, the up-to-date decision, the scene keys."""

from __future__ import annotations

import json
import os
from pathlib import Path

from stacgen.assemble import state
from stacgen.layout.catalog import STATE_FILE
from stacgen.source.scene import discover


def test_manifest_is_every_file_with_its_size_but_the_state(built_catalog: Path) -> None:
    files = state.manifest(built_catalog)
    expected = {
        p.relative_to(built_catalog).as_posix(): os.stat(p).st_size
        for p in built_catalog.rglob("*")
        if p.is_file() and p.name != STATE_FILE
    }
    assert files == expected
    saved = json.loads((built_catalog / STATE_FILE).read_text())
    assert saved["files"] == expected


def test_up_to_date_needs_the_same_settings_and_intact_files(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"12345")
    settings = {"format": state.FORMAT, "items": {"x": "k"}}
    previous = {**settings, "files": {"a": 5}}
    assert state.is_up_to_date(tmp_path, previous, settings)
    assert not state.is_up_to_date(tmp_path, previous, {**settings, "items": {"x": "other"}})
    (tmp_path / "a").write_bytes(b"1234")
    assert not state.is_up_to_date(tmp_path, previous, settings)
    (tmp_path / "a").unlink()
    assert not state.is_up_to_date(tmp_path, previous, settings)


def test_read_state_of_no_or_a_broken_catalog_is_empty(tmp_path: Path) -> None:
    assert state.read_state(tmp_path) == {}
    (tmp_path / STATE_FILE).write_text("{broken")
    assert state.read_state(tmp_path) == {}


def test_scene_key_follows_the_settings_and_the_archive(archive_top: Path, tmp_path: Path) -> None:
    scenes, problems = discover(archive_top)
    assert not problems
    scene = scenes[0]
    key = state.scene_key(scene, "sha-1", None)
    assert key == state.scene_key(scene, "sha-1", None)
    assert key != state.scene_key(scene, "sha-2", None)
    assert key != state.scene_key(scene, "sha-1", "https://example.org/")
    assert key != state.scene_key(scenes[1], "sha-1", None)
