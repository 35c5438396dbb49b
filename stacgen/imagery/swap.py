"""Putting fetched imagery items into the catalog: a staged copy, then one atomic swap.

The catalog is the build's; the fetch changes it the way the build does. A staging copy of the
whole catalog is made beside it from hard links (no byte copied), the fetched item folders are
linked into its `alcd-l1c/`, every imagery item JSON is written from its manifest and its label
item, then the collection (with its items.parquet), the label items' `rel=source` links to their
imagery, the label collection's items.parquet (its rows hold those links), catalog.json's child
link and the build's state (the sizes of the files it lists) are written anew (new files: the
hard-linked originals are never written through), the new JSON is validated, and the staging
copy is swapped in (`fileutil.swap_in`). A reader sees the old catalog or the new one. The
writing is `stacgen.stac.imagery_files`'s, which the build shares to keep the imagery.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from stacgen.fileutil import JsonFileError, atomic_write_json, read_json_object, swap_in
from stacgen.imagery.located import ImageryError
from stacgen.layout import imagery
from stacgen.layout.catalog import STATE_FILE
from stacgen.stac.imagery_files import link_tree, write_imagery

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Staged:
    root: Path  # the live catalog
    staging: Path  # its staged copy


def stage(root: Path, staging: Path, fetched: dict[str, Path]) -> Staged:
    """The staged catalog with the `fetched` item folders (id -> folder) in `alcd-l1c/`."""
    if staging.exists():
        shutil.rmtree(staging)
    collection = root / imagery.COLLECTION_ID
    skip = {collection / item_id for item_id in fetched}
    link_tree(root, staging, skip)
    for item_id, folder in fetched.items():
        link_tree(folder, imagery.item_dir(staging, item_id), set())
    return Staged(root, staging)


def write_collection(staged: Staged) -> list[Path]:
    """Every imagery item, the collection, the label links, catalog.json, the state; the JSON
    files written (to validate)."""
    try:
        written = write_imagery(staged.staging)
    except (JsonFileError, KeyError, TypeError, ValueError) as err:
        raise ImageryError(f"{staged.staging}: cannot write the imagery items ({err})") from None
    _refresh_state(staged.staging)
    return written


def _refresh_state(staging: Path) -> None:
    """The build's state, with the sizes of the files it lists as they now are: a build with
    nothing to do still finds the catalog up to date."""
    path = staging / STATE_FILE
    try:
        state = read_json_object(path)
    except JsonFileError:
        return
    files = state.get("files")
    if isinstance(files, dict):
        # A file the fetch replaced (an imagery item fetched again) is no longer the build's.
        sizes = {name: _size(staging / name) for name in files}
        state["files"] = {name: size for name, size in sizes.items() if size is not None}
    atomic_write_json(path, state)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def validate(written: Iterable[Path], schemas: Path | None) -> None:
    """The JSON written, against the STAC schemas (when a mirror is given)."""
    if schemas is None:
        return
    from stacgen.stac.validate import SchemaStore, report_unchecked, validate_stac_object

    store = SchemaStore(schemas)
    problems = []
    for path in written:
        obj = json.loads(path.read_text())
        problems += [f"{path.name}: {p}" for p in validate_stac_object(obj, store)]
    report_unchecked(store)
    if problems:
        raise ImageryError(
            f"validation of the new imagery failed: {problems[0]}",
        ) from None


def swap(staged: Staged) -> None:
    swap_in(staged.staging, staged.root)
