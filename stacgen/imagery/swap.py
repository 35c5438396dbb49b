"""Putting fetched imagery items into the catalog: a staged copy, then one atomic swap.

The catalog is the build's; the fetch changes it the way the build does. A staging copy of the
whole catalog is made beside it from hard links (no byte copied), the fetched item folders are
linked into its `alcd-l1c/`, every imagery item JSON is written from its manifest and its label
item, then the collection (with its items.parquet), the label items' `rel=source` links to their
imagery, the label collection's items.parquet (its rows hold those links), catalog.json's child
link and the build's state (the sizes of the files it lists) are written anew (new files: the
hard-linked originals are never written through), the new JSON is validated, and the staging
copy is swapped in (`fileutil.swap_in`). A reader sees the old catalog or the new one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pystac

from stacgen import constants
from stacgen.fileutil import (
    JsonFileError,
    atomic_write_json,
    digests,
    read_json_object,
    sha256_multihash,
    swap_in,
)
from stacgen.imagery.located import ImageryError
from stacgen.imagery.plan import Label
from stacgen.layout import imagery
from stacgen.layout.catalog import STATE_FILE
from stacgen.raster.grid import Grid
from stacgen.stac.imagery import (
    SOURCE_TITLE,
    BandFile,
    Source,
    imagery_collection,
    imagery_item,
    source_link,
)

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.json"
COLLECTION_FILE = "collection.json"


def link_tree(source: Path, target: Path, skip: set[Path]) -> None:
    """`target` as a copy of `source` made of hard links, leaving out the paths in `skip`."""
    for folder, dirs, files in os.walk(source):
        here = Path(folder)
        dirs[:] = [d for d in dirs if here / d not in skip]
        out = target / here.relative_to(source)
        out.mkdir(parents=True, exist_ok=True)
        for name in files:
            if here / name not in skip:
                _link(here / name, out / name)


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


@dataclass(frozen=True)
class Staged:
    root: Path  # the live catalog
    staging: Path  # its staged copy
    labels: dict[str, Label]
    license: str


def stage(root: Path, staging: Path, fetched: dict[str, Path], labels: Sequence[Label]) -> Staged:
    """The staged catalog with the `fetched` item folders (id -> folder) in `alcd-l1c/`."""
    if staging.exists():
        shutil.rmtree(staging)
    collection = root / imagery.COLLECTION_ID
    skip = {collection / item_id for item_id in fetched}
    link_tree(root, staging, skip)
    for item_id, folder in fetched.items():
        link_tree(folder, imagery.item_dir(staging, item_id), set())
    by_id = {label.id: label for label in labels}
    for folder in _imagery_folders(staging):
        if folder.name not in by_id:  # its label item is gone from the catalog
            shutil.rmtree(folder)
    return Staged(root, staging, by_id, _license(root))


def _license(root: Path) -> str:
    try:
        value = read_json_object(root / constants.COLLECTION_ID / COLLECTION_FILE).get("license")
    except JsonFileError:
        value = None
    return str(value or "other")


def _imagery_folders(staging: Path) -> list[Path]:
    folder = staging / imagery.COLLECTION_ID
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and (p / imagery.MANIFEST).is_file())


def write_collection(staged: Staged) -> list[Path]:
    """Every imagery item, the collection, the label links, catalog.json, the state; the JSON
    files written (to validate)."""
    staging = staged.staging
    items = [_write_item(staged, folder) for folder in _imagery_folders(staging)]
    written = [imagery.item_json(staging, item.id) for item in items]
    with_imagery = {item.id for item in items}
    written += _write_label_links(staged, with_imagery)
    if items:
        written.append(_write_imagery_collection(staged, items))
    written.append(_write_catalog_link(staging, bool(items)))
    _refresh_label_parquet(staging, sorted(staged.labels))
    _refresh_state(staging)
    return written


def _write_item(staged: Staged, folder: Path) -> pystac.Item:
    manifest = read_json_object(folder / imagery.MANIFEST)
    label = staged.labels[folder.name]
    outputs = {o["band"]: o for o in manifest["outputs"]}
    bands = [
        BandFile(imagery.band(name), o["size"], o["sha256"], _grid(label, o))
        for name, o in sorted(
            outputs.items(), key=lambda kv: [b.name for b in imagery.BANDS].index(kv[0])
        )
    ]
    offsets = set(manifest.get("radio_add_offset_applied", {}).values()) or {0}
    source = Source(
        provider=manifest["provider"],
        product=manifest["product"],
        baseline=manifest.get("baseline"),
        kind=manifest["kind"],
        href=_ref_href(manifest["provider_ref"]),
        offset=offsets.pop() if len(offsets) == 1 else 0,
    )
    size, sha = (
        (folder / imagery.MANIFEST).stat().st_size,
        digests(folder / imagery.MANIFEST)["sha256"],
    )
    item = imagery_item(label.item, source, manifest["grid"], bands, (size, sha))
    data = item.to_dict(include_self_link=False, transform_hrefs=False)
    data["collection"] = imagery.COLLECTION_ID
    data["links"] += [
        {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
        {"rel": "collection", "href": "../collection.json", "type": "application/json"},
        {"rel": "parent", "href": "../collection.json", "type": "application/json"},
        {
            "rel": "related",
            "href": f"../../{constants.COLLECTION_ID}/{label.id}/{label.id}.json",
            "type": "application/geo+json",
            "title": "The label item (reference cloud mask)",
        },
    ]
    atomic_write_json(imagery.item_json(staged.staging, item.id), data)
    return item


def _grid(label: Label, output: dict[str, Any]) -> Grid:
    props = label.item["properties"]
    return Grid.from_proj(props["proj:code"], output["transform"], output["shape"])


def _ref_href(ref: str) -> str:
    if ref.startswith(("http://", "https://", "s3://", "gs://")):
        return ref
    return Path(ref).absolute().as_uri()


def _write_label_links(staged: Staged, with_imagery: set[str]) -> list[Path]:
    written = []
    for item_id, label in staged.labels.items():
        path = staged.staging / label.path.relative_to(staged.root)
        data = read_json_object(path)
        href = f"../../{imagery.COLLECTION_ID}/{item_id}/{item_id}.json"
        new = source_link(data, href) if item_id in with_imagery else _without_our_link(data)
        if new != data:
            atomic_write_json(path, new)
            written.append(path)
    return written


def _without_our_link(data: dict[str, Any]) -> dict[str, Any]:

    links = [
        link
        for link in data.get("links", [])
        if not (link.get("rel") == "source" and link.get("title") == SOURCE_TITLE)
    ]
    return {**data, "links": links}


def _write_imagery_collection(staged: Staged, items: list[pystac.Item]) -> Path:
    from stacgen.stac.parquet import items_parquet_asset, write_items_parquet

    folder = staged.staging / imagery.COLLECTION_ID
    collection = imagery_collection(items, staged.license)
    target = write_items_parquet(folder, [item.id for item in items])
    collection.add_asset("items", items_parquet_asset(target, None))
    data = collection.to_dict(include_self_link=False, transform_hrefs=False)
    data["links"] = [
        {"rel": "root", "href": "../catalog.json", "type": "application/json"},
        {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
        {
            "rel": "related",
            "href": f"../{constants.COLLECTION_ID}/{COLLECTION_FILE}",
            "type": "application/json",
            "title": "The reference cloud masks (labels)",
        },
    ] + [
        {
            "rel": "item",
            "href": f"./{item.id}/{item.id}.json",
            "type": "application/geo+json",
            "title": item.id,
        }
        for item in items
    ]
    path = folder / COLLECTION_FILE
    atomic_write_json(path, data)
    return path


def _write_catalog_link(staging: Path, present: bool) -> Path:
    path = staging / CATALOG_FILE
    data = read_json_object(path)
    href = f"./{imagery.COLLECTION_ID}/{COLLECTION_FILE}"
    links = [link for link in data.get("links", []) if link.get("href") != href]
    if present:
        links.append(
            {
                "rel": "child",
                "href": href,
                "type": "application/json",
                "title": "Sentinel-2 L1C bands of the ALCD reference cloud masks",
            }
        )
    atomic_write_json(path, {**data, "links": links})
    return path


def _refresh_label_parquet(staging: Path, label_ids: list[str]) -> None:
    """The label collection's items.parquet from its items as they now are."""
    from stacgen.stac.parquet import write_items_parquet

    folder = staging / constants.COLLECTION_ID
    path = folder / COLLECTION_FILE
    data = read_json_object(path)
    asset = (data.get("assets") or {}).get("items")
    if not isinstance(asset, dict):
        return
    target = folder / constants.ITEMS_PARQUET
    target.unlink(missing_ok=True)  # a hard link to the live catalog's: never written through
    write_items_parquet(folder, label_ids)
    asset["file:size"] = target.stat().st_size
    asset["file:checksum"] = sha256_multihash(digests(target)["sha256"])
    atomic_write_json(path, data)


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
        for name in files:
            try:
                files[name] = (staging / name).stat().st_size
            except OSError:
                continue
    atomic_write_json(path, state)


def validate(written: Iterable[Path], schemas: Path | None) -> None:
    """The JSON written, against the STAC schemas (when a mirror is given)."""
    if schemas is None:
        return
    from stacgen.stac.validate import SchemaStore, validate_stac_object

    store = SchemaStore(schemas)
    problems = []
    for path in written:
        obj = json.loads(path.read_text())
        problems += [f"{path.name}: {p}" for p in validate_stac_object(obj, store)]
    if problems:
        raise ImageryError(
            f"validation of the new imagery failed: {problems[0]}",
        ) from None


def swap(staged: Staged) -> None:
    swap_in(staged.staging, staged.root)
