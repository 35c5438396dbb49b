"""What a fetch will do, decided before any pixel is read: the label items chosen, what each
provider holds for them, and which imagery items are already up to date.

An imagery item is up to date when its manifest's key (everything that shapes its files: the
provider's product and files, the bands, the grid, the label grid, the offsets) is the key the
fetch computes now and every output it lists is there with its size: then it is not fetched
again. The key holds no time and no credential.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from stacgen import constants
from stacgen.fileutil import JsonFileError, read_json_object
from stacgen.imagery.located import ImageryError, Located
from stacgen.imagery.sources import http_url, public
from stacgen.layout import imagery
from stacgen.raster.grid import Grid
from stacgen.stac.scenes import grid_of, reported_as

FORMAT: Final = 1  # bump whenever an unchanged input would now give other files
SPLIT_PROPERTY: Final = "ml-aoi:split"


@dataclass(frozen=True)
class Label:
    """A label item as the catalog holds it."""

    id: str
    path: Path
    item: dict[str, Any]

    @property
    def grid(self) -> Grid:
        with reported_as(ImageryError):
            return grid_of(self.path, self.item.get("properties") or {})


@dataclass(frozen=True)
class Plan:
    """One imagery item to fetch (or found up to date)."""

    label: Label
    located: Located
    bands: tuple[imagery.Band, ...]
    grid: imagery.ImageryGrid
    key: str
    up_to_date: bool

    @property
    def item_id(self) -> str:
        return self.label.id

    def offset(self, band: str) -> int:
        return (self.located.radio_add_offset or {}).get(band, 0)


def read_labels(root: Path) -> list[Label]:
    """The label items of the catalog at `root`, sorted by id."""
    folder = root / constants.COLLECTION_ID
    found = []
    for path in sorted(folder.glob("*/*.json")):
        if path.stem != path.parent.name:
            continue
        try:
            found.append(Label(path.stem, path, read_json_object(path)))
        except JsonFileError as err:
            raise ImageryError(str(err)) from None
    if not found:
        raise ImageryError(f"{folder}: no label item (build the catalog first: stacgen build)")
    return found


def select(labels: Sequence[Label], items: Sequence[str] | None, split: str | None) -> list[Label]:
    """The labels named by --items (each must exist) or of --split, else all."""
    if items:
        by_id = {label.id: label for label in labels}
        unknown = [i for i in items if i not in by_id]
        if unknown:
            raise ImageryError(f"--items: no label item {', '.join(unknown)} in the catalog")
        return [by_id[i] for i in dict.fromkeys(items)]
    if split:
        chosen = [lb for lb in labels if lb.item["properties"].get(SPLIT_PROPERTY) == split]
        if not chosen:
            seen = sorted({str(lb.item["properties"].get(SPLIT_PROPERTY)) for lb in labels})
            raise ImageryError(f"--split: no item in split {split!r} (splits: {', '.join(seen)})")
        return chosen
    return list(labels)


def input_key(
    label: Label, located: Located, bands: Sequence[imagery.Band], grid: imagery.ImageryGrid
) -> str:
    """Changes whenever anything that shapes the imagery item's files changes."""
    props = label.item["properties"]
    missing = [b.name for b in bands if b.name not in located.bands]
    if missing:
        raise ImageryError(
            f"{label.id}: band {', '.join(missing)} missing from {located.provider_ref}"
        )
    sources = {
        b.name: _source_state(located.bands[b.name], located.sizes.get(b.name)) for b in bands
    }
    settings = {
        "format": FORMAT,
        "provider": located.provider,
        "product": located.product.name,
        "kind": located.kind,
        "ref": located.provider_ref,
        "grid": grid,
        "label_grid": [
            props.get("proj:code"),
            props.get("proj:transform"),
            props.get("proj:shape"),
        ],
        "bands": sources,
        "offsets": {b.name: (located.radio_add_offset or {}).get(b.name, 0) for b in bands},
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _source_state(gdal_path: str, size: int | None) -> list[Any]:
    """A band file's identity without reading it: its path, size and (local) modification time."""
    local = gdal_path
    if local.startswith("/vsizip/"):
        local = local.removeprefix("/vsizip/").partition(".zip/")[0] + ".zip"
    try:
        st = Path(local).stat()
        return (
            [gdal_path, st.st_size, st.st_mtime_ns]
            if not local.startswith("/vsi")
            else [gdal_path, size]
        )
    except OSError:
        return [gdal_path, size]


def is_intact(folder: Path, key: str) -> bool:
    """Whether the imagery item in `folder` was made from inputs of key `key` and is whole."""
    try:
        manifest = read_json_object(folder / imagery.MANIFEST)
    except JsonFileError:
        return False
    if manifest.get("key") != key:
        return False
    outputs = manifest.get("outputs")
    if not isinstance(outputs, list) or not outputs:
        return False
    try:
        return all((folder / o["file"]).stat().st_size == o["size"] for o in outputs)
    except (OSError, KeyError, TypeError):
        return False


def shown_path(gdal_path: str) -> str:
    """A band's path as a line or a manifest may show it: a URL without user info or query."""
    url = http_url(gdal_path)
    return public(url) if url is not None else gdal_path


def dry_run_lines(plans: Sequence[Plan], root: Path) -> list[str]:
    """What a fetch would do, one line per item and per band file, with sizes where known."""
    lines = []
    total = 0
    for plan in plans:
        where = imagery.item_dir(root, plan.item_id)
        state = "up to date" if plan.up_to_date else "would fetch"
        lines.append(
            f"{plan.item_id}: {state} from {plan.located.provider} {plan.located.product.name} "
            f"({plan.located.kind}) into {where}"
        )
        if plan.up_to_date:
            continue
        for band in plan.bands:
            size = plan.located.sizes.get(band.name)
            total += size or 0
            shown = f"{size:,} bytes" if size is not None else "size unknown"
            lines.append(f"  {band.name} {shown_path(plan.located.bands[band.name])} ({shown})")
    todo = sum(not p.up_to_date for p in plans)
    lines.append(f"{todo} of {len(plans)} item(s) to fetch, {total:,} bytes to read")
    return lines
