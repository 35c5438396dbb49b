"""The `alcd-l1c` part of a catalog folder, written from what the folder holds: the imagery item
folders (each with its manifest) and the label items.

Two writers share it. `stacgen imagery fetch` links its fetched item folders into a staged copy
of the catalog and calls `write_imagery`; `stacgen build` carries the previous catalog's imagery
item folders over into its new catalog (`carry_over`) and calls it too, so that a rebuild keeps
the second collection, the label items' `rel=source` links to it and catalog.json's child
link. Every file written is a new file (temporary name, then rename): the staged catalogs are
made of hard links to the live one, which must never be written through.

Links follow the catalog's form: relative in a self-contained catalog, absolute under the
published root of one built with `--root-href` (with a self link, as the build writes them).
"""

from __future__ import annotations

import logging
import os
import posixpath
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pystac

from stacgen import constants
from stacgen.fileutil import (
    JsonFileError,
    atomic_write_json,
    digests,
    read_json_object,
    sha256_multihash,
)
from stacgen.layout import imagery
from stacgen.raster.grid import Grid
from stacgen.stac.imagery import (
    SOURCE_TITLE,
    BandFile,
    Source,
    imagery_collection,
    imagery_item,
    source_link,
)
from stacgen.stac.links import published_root

log = logging.getLogger(__name__)

CATALOG_FILE: Final = "catalog.json"
COLLECTION_FILE: Final = "collection.json"
CHILD_TITLE: Final = "Sentinel-2 L1C bands of the ALCD reference cloud masks"


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
class Hrefs:
    """The hrefs of one catalog folder: relative, or absolute under its published root."""

    root_href: str | None  # ends in "/" when given

    def to(self, target: str, from_dir: str) -> str:
        """The href, in a JSON file of folder `from_dir`, of `target` (both from the root)."""
        if self.root_href:
            return f"{self.root_href}{target}"
        relative = posixpath.relpath(target, from_dir or ".")
        return relative if relative.startswith("../") else f"./{relative}"

    @classmethod
    def of(cls, root: Path) -> Hrefs:
        try:
            return cls(published_root(read_json_object(root / CATALOG_FILE)))
        except JsonFileError:
            return cls(None)


def label_items(root: Path) -> dict[str, dict[str, Any]]:
    """The label items of the catalog folder `root`, by id."""
    folder = root / constants.COLLECTION_ID
    found = {}
    for path in sorted(folder.glob("*/*.json")):
        if path.stem == path.parent.name:
            found[path.stem] = read_json_object(path)
    return found


def imagery_folders(root: Path) -> list[Path]:
    """The imagery item folders of the catalog folder `root` (those holding a manifest)."""
    folder = root / imagery.COLLECTION_ID
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and (p / imagery.MANIFEST).is_file())


def carry_over(previous: Path, staging: Path) -> int:
    """The previous catalog's `alcd-l1c/` linked into the new one being built in `staging`
    (an item folder whose label item is gone stays behind), then written anew from its
    manifests and the new label items (`write_imagery`); the imagery items carried over."""
    source = previous / imagery.COLLECTION_ID
    if not source.is_dir():
        return 0
    labels = set(label_items(staging))
    gone = {p for p in imagery_folders(previous) if p.name not in labels}
    link_tree(source, staging / imagery.COLLECTION_ID, gone)
    write_imagery(staging)
    return len(imagery_folders(staging))


def write_imagery(root: Path) -> list[Path]:
    """Every imagery item of the catalog folder `root` written from its manifest and its label
    item; the collection (with its items.parquet), the label items' links to their imagery, the
    label collection's items.parquet and catalog.json's child link: the JSON files written."""
    hrefs = Hrefs.of(root)
    labels = label_items(root)
    license_id = _license(root)
    for folder in imagery_folders(root):
        if folder.name not in labels:  # its label item is gone from the catalog
            shutil.rmtree(folder)
    items = [
        _write_item(root, folder, labels[folder.name], hrefs) for folder in imagery_folders(root)
    ]
    written = [imagery.item_json(root, item["id"]) for item in items]
    written += _write_label_links(root, labels, {item["id"] for item in items}, hrefs)
    if items:
        written.append(_write_imagery_collection(root, items, license_id, hrefs))
    written.append(_write_catalog_link(root, bool(items), hrefs))
    _refresh_label_parquet(root, sorted(labels))
    return written


def _license(root: Path) -> str:
    try:
        value = read_json_object(root / constants.COLLECTION_ID / COLLECTION_FILE).get("license")
    except JsonFileError:
        value = None
    return str(value or "other")


def _item_dir(item_id: str) -> str:
    return f"{imagery.COLLECTION_ID}/{item_id}"


def _write_item(root: Path, folder: Path, label: dict[str, Any], hrefs: Hrefs) -> dict[str, Any]:
    manifest = read_json_object(folder / imagery.MANIFEST)
    order = [b.name for b in imagery.BANDS]
    outputs = sorted(manifest["outputs"], key=lambda o: order.index(o["band"]))
    bands = [
        BandFile(imagery.band(o["band"]), o["size"], o["sha256"], _grid(label, o)) for o in outputs
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
    path = folder / imagery.MANIFEST
    manifest_file = (path.stat().st_size, digests(path)["sha256"])
    item = imagery_item(label, source, manifest["grid"], bands, manifest_file)
    data = item.to_dict(include_self_link=False, transform_hrefs=False)
    here = _item_dir(item.id)
    data["collection"] = imagery.COLLECTION_ID
    for asset in data["assets"].values():
        asset["href"] = hrefs.to(f"{here}/{asset['href'].removeprefix('./')}", here)
    own = f"{here}/{item.id}.json"
    collection = f"{imagery.COLLECTION_ID}/{COLLECTION_FILE}"
    data["links"] += [
        *_self(hrefs, own),
        {"rel": "root", "href": hrefs.to(CATALOG_FILE, here), "type": "application/json"},
        {"rel": "collection", "href": hrefs.to(collection, here), "type": "application/json"},
        {"rel": "parent", "href": hrefs.to(collection, here), "type": "application/json"},
        {
            "rel": "related",
            "href": hrefs.to(f"{constants.COLLECTION_ID}/{item.id}/{item.id}.json", here),
            "type": "application/geo+json",
            "title": "The label item (reference cloud mask)",
        },
    ]
    atomic_write_json(imagery.item_json(root, item.id), data)
    return data


def _self(hrefs: Hrefs, target: str) -> list[dict[str, Any]]:
    """A published catalog's objects name their own URL (STAC's absolute-published form)."""
    if not hrefs.root_href:
        return []
    return [{"rel": "self", "href": hrefs.to(target, ""), "type": "application/json"}]


def _grid(label: dict[str, Any], output: dict[str, Any]) -> Grid:
    return Grid.from_proj(label["properties"]["proj:code"], output["transform"], output["shape"])


def _ref_href(ref: str) -> str:
    if ref.startswith(("http://", "https://", "s3://", "gs://")):
        return ref
    return Path(ref).absolute().as_uri()


def _write_label_links(
    root: Path, labels: dict[str, dict[str, Any]], with_imagery: set[str], hrefs: Hrefs
) -> list[Path]:
    written = []
    for item_id, data in labels.items():
        path = root / constants.COLLECTION_ID / item_id / f"{item_id}.json"
        here = f"{constants.COLLECTION_ID}/{item_id}"
        href = hrefs.to(f"{_item_dir(item_id)}/{item_id}.json", here)
        new = source_link(data, href) if item_id in with_imagery else _without_our_link(data)
        if new != data:
            atomic_write_json(path, new)
            labels[item_id] = new
            written.append(path)
    return written


def _without_our_link(data: dict[str, Any]) -> dict[str, Any]:
    links = [
        link
        for link in data.get("links", [])
        if not (link.get("rel") == "source" and link.get("title") == SOURCE_TITLE)
    ]
    return {**data, "links": links}


def _write_imagery_collection(
    root: Path, items: list[dict[str, Any]], license_id: str, hrefs: Hrefs
) -> Path:
    from stacgen.stac.parquet import items_parquet_asset, write_items_parquet

    folder = root / imagery.COLLECTION_ID
    here = imagery.COLLECTION_ID
    parquet = folder / constants.ITEMS_PARQUET
    parquet.unlink(missing_ok=True)  # maybe a hard link to the live catalog's: not written through
    ids = [item["id"] for item in items]
    collection = imagery_collection([pystac.Item.from_dict(i) for i in items], license_id)
    target = write_items_parquet(folder, ids)
    asset = items_parquet_asset(target, None)
    asset.href = hrefs.to(f"{here}/{constants.ITEMS_PARQUET}", here)
    collection.add_asset("items", asset)
    data = collection.to_dict(include_self_link=False, transform_hrefs=False)
    data["links"] = (
        _self(hrefs, f"{here}/{COLLECTION_FILE}")
        + [
            {"rel": "root", "href": hrefs.to(CATALOG_FILE, here), "type": "application/json"},
            {"rel": "parent", "href": hrefs.to(CATALOG_FILE, here), "type": "application/json"},
            {
                "rel": "related",
                "href": hrefs.to(f"{constants.COLLECTION_ID}/{COLLECTION_FILE}", here),
                "type": "application/json",
                "title": "The reference cloud masks (labels)",
            },
        ]
        + [
            {
                "rel": "item",
                "href": hrefs.to(f"{here}/{item_id}/{item_id}.json", here),
                "type": "application/geo+json",
                "title": item_id,
            }
            for item_id in ids
        ]
    )
    path = folder / COLLECTION_FILE
    atomic_write_json(path, data)
    return path


def _write_catalog_link(root: Path, present: bool, hrefs: Hrefs) -> Path:
    path = root / CATALOG_FILE
    data = read_json_object(path)
    href = hrefs.to(f"{imagery.COLLECTION_ID}/{COLLECTION_FILE}", "")
    links = [link for link in data.get("links", []) if link.get("href") != href]
    if present:
        links.append(
            {"rel": "child", "href": href, "type": "application/json", "title": CHILD_TITLE}
        )
    atomic_write_json(path, {**data, "links": links})
    return path


def _refresh_label_parquet(root: Path, label_ids: list[str]) -> None:
    """The label collection's items.parquet from its items as they now are."""
    from stacgen.stac.parquet import write_items_parquet

    folder = root / constants.COLLECTION_ID
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
