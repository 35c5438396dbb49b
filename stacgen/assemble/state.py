"""What a build remembers in its catalog: scene keys and a manifest of the files it wrote.

The state file decides whether a rebuild has anything to do (a no-op rebuild reads only this
file and stats the files it lists) and which item folders of the previous catalog can be reused.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import stacgen
from stacgen.fileutil import JsonFileError, read_json_object
from stacgen.layout.catalog import STATE_FILE
from stacgen.source.scene import Scene
from stacgen.source.zenodo import record_license

FORMAT = 4  # bump whenever an unchanged scene would now give different files


def scene_key(scene: Scene, archive_sha256: str | None, root_href: str | None) -> str:
    """Changes whenever anything that shapes the scene's item folder changes."""
    h = hashlib.sha256()
    settings = {
        "format": FORMAT,
        "version": stacgen.__version__,
        "root_href": root_href,
        "archive": archive_sha256,
        "folders": [f"{f.parent.name}/{f.name}" for f in scene.folders],  # subset/name
    }
    h.update(json.dumps(settings, sort_keys=True).encode())
    if archive_sha256 is None:
        # A plain folder has no checksum of its own: its files' sizes and times stand in.
        for folder in scene.folders:
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                st = path.stat()
                h.update(f"{path.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()


def license_state(record: dict[str, Any] | None) -> dict[str, Any]:
    """Where the collection's licence came from (layout.catalog.LICENSE_STATE)."""
    found = record_license(record)
    return {"id": found or "other", "from_record": found is not None}


def collection_key(root_href: str | None, record: dict[str, Any] | None) -> str:
    """Changes whenever the collection's inputs do: the published root, the Zenodo metadata."""
    metadata = (record or {}).get("metadata") or {}
    text = json.dumps([root_href, metadata], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def read_state(out: Path) -> dict[str, Any]:
    """The state of the catalog in `out`; {} when there is none or it is unreadable."""
    try:
        return read_json_object(out / STATE_FILE)
    except JsonFileError:
        return {}


def manifest(folder: Path) -> dict[str, int]:
    """Every file the build wrote, with its size: what a no-op rebuild checks is still there."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != STATE_FILE:
            found[path.relative_to(folder).as_posix()] = path.stat().st_size
    return found


def is_up_to_date(out: Path, previous: dict[str, Any], state: dict[str, Any]) -> bool:
    """Same inputs and settings as the catalog in place, and every file it wrote is intact."""
    files = previous.get("files")
    settings = {key: value for key, value in previous.items() if key != "files"}
    return settings == state and isinstance(files, dict) and intact(out, files)


def intact(out: Path, files: dict[str, int]) -> bool:
    """Each file is there with the size the manifest gives."""
    try:
        return all((out / name).stat().st_size == size for name, size in files.items())
    except OSError:
        return False
