"""`stacgen chips export`: the chips of a split written to a folder, with one GeoParquet index.

The folder (`--out`) holds, for `--format tif`, one GeoTIFF per chip in `images/<item>/` (float32
reflectance, one band per `--bands`, 0 where a band has no data) and one in `labels/<item>/`
(int16 class indices, `IGNORE_INDEX` where ignored), each with the chip's CRS and transform, so
that two TorchGeo `RasterDataset`s (images, labels) read them; for `--format npz`, one
`chips/<item>/<stem>.npz` per chip (arrays `image` and `mask`, as `Chips` gives them). The
GeoTIFFs carry no nodata tag, on purpose: a reader that masks nodata (xarray, which recent
TorchGeo reads with) would turn the ignore index into NaN, and NaN into garbage when cast to
int64; the values are those `Chips` gives. A file's stem is the item's acquisition time and the
chip's window (`20171002T103009_r00064_c00128`), so that a reader that takes dates from file
names (TorchGeo's `filename_regex`) keeps the dates of one tile apart. `index.parquet`
(GeoParquet 1.1, WGS84 footprints) has one row per chip: footprint, item, split, acquisition,
window, CRS, transform, share of each class and of ignored pixels, the files' paths relative
to the folder. `.stacgen-chips.json` records the options and the inputs: a second export with
the same options and unchanged inputs writes nothing.

Written atomically: into a temp folder beside `--out`, swapped in whole; `--out` must be
missing, empty, or an export of this command (its marker is there).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal, get_args

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
import rasterio
import shapely
from affine import Affine
from rasterio.warp import transform

from stacgen import __version__
from stacgen.fileutil import FILE_MODE, stat_key, swap_in
from stacgen.ml.chips import Chips
from stacgen.ml.classes import IGNORE_INDEX
from stacgen.ml.errors import ChipsError
from stacgen.ml.reading import limit_cache
from stacgen.ml.scenes import Scene

MARKER: Final = ".stacgen-chips.json"
INDEX: Final = "index.parquet"
IMAGES: Final = "images"
LABELS: Final = "labels"
NPZ_DIR: Final = "chips"
Format = Literal["tif", "npz"]
FORMATS: Final[tuple[Format, ...]] = get_args(Format)
# TorchGeo's RasterDataset arguments that read an export's images (labels: `*.tif` too).
FILENAME_REGEX: Final = r"^(?P<date>\d{8}T\d{6})_r\d+_c\d+\.tif$"
DATE_FORMAT: Final = "%Y%m%dT%H%M%S"
DIR_MODE: Final = FILE_MODE | ((FILE_MODE & 0o444) >> 2)
OnChip = Callable[[int], None]


@dataclass(frozen=True)
class ExportOptions:
    """What `stacgen chips export` cuts: `Chips`'s parameters (no shuffle) and the format."""

    split: str = "train"
    grid: int = 60
    size: int = 256
    stride: int | None = None
    classes: str = "alcd"
    format: Format = "tif"
    bands: tuple[str, ...] | None = None
    min_valid: float = 0.5
    not_used: bool = False

    def chips(self, catalog: str | Path) -> Chips:
        if self.format not in FORMATS:
            raise ChipsError(f"format {self.format!r}: not one of {', '.join(FORMATS)}")
        return Chips(
            catalog,
            split=self.split,
            bands=self.bands,
            grid=self.grid,
            size=self.size,
            stride=self.stride,
            classes=self.classes,
            min_valid=self.min_valid,
            seed=None,  # the files' order is the index's: item, row, column
            not_used=self.not_used,
        )


@dataclass(frozen=True)
class ExportPlan:
    """An export decided: its chips, where they go, and whether the folder already holds them."""

    chips: Chips
    out: Path
    options: ExportOptions
    key: dict[str, Any]
    up_to_date: bool

    @property
    def total(self) -> int:
        """Chips to write (0 when up to date)."""
        return 0 if self.up_to_date else len(self.chips)


@dataclass(frozen=True)
class ExportResult:
    out: Path
    chips: int
    written: bool  # False: the folder was up to date and nothing was written

    @property
    def index(self) -> Path:
        return self.out / INDEX


def check_out(out: Path) -> None:
    """`out` may be replaced only if it is missing, empty, or an export this command wrote."""
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir():
        raise ChipsError(f"--out {out}: exists and is not a folder: refusing to replace it")
    if (out / MARKER).is_file() or not any(out.iterdir()):
        return
    raise ChipsError(
        f"--out {out}: not empty and not a chips export (no {MARKER}): refusing to replace it; "
        "choose another --out or empty this folder"
    )


def _input_key(chips: Chips) -> str:
    """A digest of every file the chips are read from (its size, mtime and inode)."""
    digest = hashlib.sha256()
    for scene in chips.scenes:
        paths = [scene.label_path, *(scene.bands[b].path for b in chips.bands)]
        for path in paths:
            local = Path(path)
            digest.update(f"{scene.item_id}\0{path}\0".encode())
            digest.update((stat_key(local) if local.is_file() else "remote").encode())
    return digest.hexdigest()


def _saved_key(out: Path) -> dict[str, Any] | None:
    try:
        saved = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    key = saved.get("key") if isinstance(saved, dict) else None
    return key if isinstance(key, dict) else None


def plan_export(catalog: str | Path, out: Path, options: ExportOptions) -> ExportPlan:
    """Check --out, index the chips (a ChipsError names missing imagery and its fetch command)."""
    out = out.absolute()
    check_out(out)
    chips = options.chips(catalog)
    key = {
        "stacgen_version": __version__,
        "options": {**asdict(options), "bands": list(chips.bands)},
        "inputs": _input_key(chips),
    }
    up_to_date = _saved_key(out) == key and (out / INDEX).is_file()
    return ExportPlan(chips, out, options, key, up_to_date)


def export_chips(
    catalog: str | Path, out: Path, options: ExportOptions, on_chip: OnChip | None = None
) -> ExportResult:
    """Plan and write an export (nothing when the folder already holds it)."""
    return write_export(plan_export(catalog, out, options), on_chip)


def write_export(plan: ExportPlan, on_chip: OnChip | None = None) -> ExportResult:
    """Write every chip and the index into a temp folder beside `out`, then swap it in."""
    if plan.up_to_date:
        return ExportResult(plan.out, len(plan.chips), written=False)
    out = plan.out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        places = plan.chips.windows
        limit_cache()  # the export is a Chips worker: its reads go through a bounded cache
        rows = [_write_chip(plan, tmp, i, places[i].scene, on_chip) for i in range(len(places))]
        plan.chips.close()
        write_index(rows, plan.chips.class_names, tmp / INDEX)
        marker = {
            "written_by": "stacgen chips export",
            "key": plan.key,
            "classes": list(plan.chips.class_names),
            "ignore_index": IGNORE_INDEX,
            "chips": len(rows),
        }
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        for path in [tmp, *tmp.rglob("*")]:
            path.chmod(DIR_MODE if path.is_dir() else FILE_MODE)
        check_out(out)  # still ours to replace, after the writing
        swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportResult(out, len(rows), written=True)


def chip_stem(acquired: str, row: int, col: int) -> str:
    """`<acquisition %Y%m%dT%H%M%S>_r<row>_c<col>`: the file name of a chip without suffix."""
    when = datetime.fromisoformat(acquired.replace("Z", "+00:00"))
    return f"{when.strftime(DATE_FORMAT)}_r{row:05d}_c{col:05d}"


def _write_chip(
    plan: ExportPlan, tmp: Path, index: int, scene: Scene, on_chip: OnChip | None
) -> dict[str, Any]:
    chips = plan.chips
    sample = chips[index]
    row, col, height, width = sample["window"]
    stem = chip_stem(scene.datetime, row, col)
    if plan.options.format == "npz":
        image_path = label_path = f"{NPZ_DIR}/{scene.item_id}/{stem}.npz"
        target = tmp / image_path
        target.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(target, image=sample["image"], mask=sample["mask"])
    else:
        image_path = f"{IMAGES}/{scene.item_id}/{stem}.tif"
        label_path = f"{LABELS}/{scene.item_id}/{stem}.tif"
        _write_tif(tmp / image_path, sample["image"], sample, chips.bands)
        _write_tif(tmp / label_path, sample["mask"].astype(np.int16)[None], sample, ("label",))
    if on_chip is not None:
        on_chip(index)
    return {
        "item": scene.item_id,
        "split": scene.split,
        "datetime": scene.datetime,
        "window": (row, col, height, width),
        "crs": sample["crs"],
        "transform": list(sample["transform"]),
        "shares": class_shares(sample["mask"], len(chips.class_names)),
        "image_path": image_path,
        "label_path": label_path,
    }


def _write_tif(
    path: Path,
    data: npt.NDArray[Any],
    sample: Mapping[str, Any],
    descriptions: tuple[str, ...],
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    count, height, width = data.shape
    profile = {
        "driver": "GTiff",
        "dtype": data.dtype.name,
        "count": count,
        "height": height,
        "width": width,
        "crs": sample["crs"],
        "transform": Affine(*sample["transform"]),
        "compress": "deflate",
        "zlevel": 1,  # twice as fast as the default level 6, files a few % larger
        "predictor": 3 if data.dtype.kind == "f" else 2,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for b, name in enumerate(descriptions, 1):
            dst.set_band_description(b, name)


def class_shares(mask: npt.NDArray[np.int64], classes: int) -> list[float]:
    """Each class's share of the chip's pixels, then the share of ignored pixels (sum 1)."""
    binned = np.where(mask == IGNORE_INDEX, classes, mask).ravel()
    counts = np.bincount(binned, minlength=classes + 1)
    return [float(c) / mask.size for c in counts]


def _bounds(row: Mapping[str, Any]) -> tuple[float, float, float, float]:
    t = Affine(*row["transform"])
    height, width = row["window"][2:]
    left, top = t * (0, 0)
    right, bottom = t * (width, height)
    return (min(left, right), min(top, bottom), max(left, right), max(top, bottom))


def footprints(rows: list[dict[str, Any]]) -> npt.NDArray[np.object_]:
    """Each chip's outline in WGS84 (longitude, latitude), its edges cut in 8: the points of
    all chips of one CRS transformed in one call (one call per chip costs a second per 100)."""
    out = np.empty(len(rows), dtype=object)
    by_crs: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_crs.setdefault(row["crs"], []).append(i)
    for crs, indices in by_crs.items():
        bounds = np.array([_bounds(rows[i]) for i in indices])
        boxes = shapely.box(bounds[:, 0], bounds[:, 1], bounds[:, 2], bounds[:, 3])
        sides = np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
        boxes = shapely.segmentize(boxes, sides / 8)
        xy = shapely.get_coordinates(boxes)
        lon, lat = transform(crs, "EPSG:4326", xy[:, 0], xy[:, 1])
        out[indices] = shapely.set_coordinates(boxes, np.column_stack([lon, lat]))
    return out


def write_index(rows: list[dict[str, Any]], class_names: tuple[str, ...], target: Path) -> None:
    """`index.parquet`: one row per chip, GeoParquet 1.1 (WKB footprints in OGC:CRS84)."""
    shapes = footprints(rows)
    columns: dict[str, pa.Array] = {
        "item": pa.array([r["item"] for r in rows], pa.string()),
        "split": pa.array([r["split"] for r in rows], pa.string()),
        "datetime": pa.array(
            [datetime.fromisoformat(r["datetime"].replace("Z", "+00:00")) for r in rows],
            pa.timestamp("us", tz="UTC"),
        ),
    }
    for i, name in enumerate(("row", "col", "height", "width")):
        columns[name] = pa.array([r["window"][i] for r in rows], pa.int32())
    columns["crs"] = pa.array([r["crs"] for r in rows], pa.string())
    columns["transform"] = pa.array([r["transform"] for r in rows], pa.list_(pa.float64(), 6))
    for i, name in enumerate((*class_names, "ignored")):
        columns[f"share_{name}"] = pa.array([r["shares"][i] for r in rows], pa.float64())
    columns["image_path"] = pa.array([r["image_path"] for r in rows], pa.string())
    columns["label_path"] = pa.array([r["label_path"] for r in rows], pa.string())
    columns["geometry"] = pa.array(shapely.to_wkb(shapes).tolist(), pa.binary())
    table = pa.table(columns)
    bbox = [float(v) for v in shapely.total_bounds(shapes)] if len(shapes) else []
    geo = {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": ["Polygon"],
                **({"bbox": bbox} if bbox else {}),
            }
        },
    }
    table = table.replace_schema_metadata({b"geo": json.dumps(geo).encode()})
    pq.write_table(table, target, compression="zstd")
