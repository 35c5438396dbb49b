"""`stacgen masks fetch sen2cor`: each item's Sen2Cor scene classification (SCL), fetched.

For each label item: the L2A item of the same datatake at a provider (`l2a.Finder`), then the
window of its 20 m SCL COG over the label grid, read by HTTP range requests through GDAL's
/vsicurl/ (timeouts and retries bounded), written unchanged (values, 20 m pixels) as
`<item id>_sen2cor.tif`, matched by `stacgen score --codes sen2cor`. These are today's Sen2Cor
runs (the L2A's processing baseline and generation time are in the tags and the manifest), not
the Sen2Cor 2.5.5 of Baetens et al. (2019): every output says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

from stacgen import __version__
from stacgen.masks import outputs, scenes
from stacgen.masks.errors import MasksError
from stacgen.masks.l2a import L2A, Finder, NotFound, Settings
from stacgen.raster.grid import Grid
from stacgen.source import naming
from stacgen.stac.scenes import catalog_folder

log = logging.getLogger(__name__)

NAME: Final = "sen2cor"
NODATA: Final = 0  # SCL 0: no data
NOTE: Final = (
    "today's Sen2Cor run, as the provider's L2A holds it (see its processing baseline and "
    "generation time), not the Sen2Cor 2.5.5 the paper (Baetens et al. 2019) compared"
)
# SCL classes (Sen2Cor Product Specification), for the band tags.
SCL_CLASSES: Final = {
    0: "no data",
    1: "saturated or defective",
    2: "dark area pixels",
    3: "cloud shadows",
    4: "vegetation",
    5: "not vegetated",
    6: "water",
    7: "unclassified",
    8: "cloud medium probability",
    9: "cloud high probability",
    10: "thin cirrus",
    11: "snow",
}


def gdal_options(timeout: float) -> dict[str, str]:
    """/vsicurl/ with every wait bounded; no directory listing, no sidecar probing."""
    return {
        "GDAL_HTTP_TIMEOUT": str(int(max(1, timeout))),
        "GDAL_HTTP_CONNECTTIMEOUT": str(int(max(1, timeout))),
        "GDAL_HTTP_MAX_RETRY": "2",
        "GDAL_HTTP_RETRY_DELAY": "1",
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.TIF,.tiff",
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
        "VSI_CACHE": "FALSE",
    }


@dataclass(frozen=True)
class Fetched:
    item_id: str
    path: Path
    l2a: L2A


@dataclass(frozen=True)
class FetchRun:
    provider: str
    out: Path
    masks: list[Fetched]
    missing: dict[str, str]  # item id -> why no L2A was found


def read_scl(
    href: str, label: Grid, timeout: float, where: str
) -> tuple[npt.NDArray[np.uint8], Grid]:
    """The SCL under the label grid, at the SCL's own pixels (which nest in the label cells)."""
    try:
        with rasterio.Env(**gdal_options(timeout)), rasterio.open(f"/vsicurl/{href}") as src:
            scl = Grid.of(src)
            factor = scl.factor_in(label)
            target = label.refined(factor) if factor else None
            offset = target.offset_in(scl) if target else None
            if target is None or offset is None:
                raise MasksError(f"{where}: the SCL's grid is not on the label grid's cells")
            row, col = offset
            window = Window(col, row, target.width, target.height)
            values = src.read(1, window=window, boundless=True, fill_value=NODATA)
    except RasterioIOError as err:
        raise MasksError(f"{where}: cannot read the SCL ({err})") from None
    return values.astype(np.uint8), target


def _tags(scene: scenes.Scene, l2a: L2A) -> dict[str, str]:
    return {
        "STACGEN_VERSION": __version__,
        "STACGEN_ITEM": scene.item_id,
        "ACQUISITION_DATE": scene.datetime,
        "PROCESSOR": "Sen2Cor (scene classification, SCL)",
        "L2A_PRODUCT": l2a.product,
        "L2A_ITEM": l2a.item_url,
        "L2A_PROVIDER": l2a.provider,
        "L2A_PROCESSING_BASELINE": str(l2a.processing_baseline),
        "L2A_GENERATION_TIME": str(l2a.generation_time),
        "SCL_HREF": l2a.scl_href,
        "NOTE": NOTE,
        "SCORE_CODES": "sen2cor",
    }


def _label_scenes(
    catalog: str | Path, items: Sequence[str] | None, split: str | None
) -> list[scenes.Scene]:
    return scenes.select(catalog, items, split, need_imagery=False)


def fetch(
    provider: str,
    catalog: str | Path,
    out: Path,
    *,
    items: Sequence[str] | None = None,
    split: str | None = None,
    settings: Settings | None = None,
    on_item: Callable[[str], None] | None = None,
) -> FetchRun:
    """The SCL of every chosen item from `provider`, into `out` (masks and manifest)."""
    outputs.check_out(out.absolute())
    settings = settings or Settings()
    finder = Finder(provider, settings)
    chosen = _label_scenes(catalog, items, split)
    fetched: list[Fetched] = []
    missing: dict[str, str] = {}
    entries = []
    with outputs.Staging(out, f"stacgen masks fetch {NAME}") as staging:
        for scene in chosen:
            try:
                l1c = naming.parse_product_name(scene.item_id)
                l2a = finder.find(l1c, scene.bbox)
            except (NotFound, ValueError) as err:  # a network failure stops the run
                missing[scene.item_id] = str(err)
                log.warning("%s", err)
                if on_item:
                    on_item(scene.item_id)
                continue
            where = f"{scene.item_id} ({l2a.item_id})"
            values, grid = read_scl(finder.signed(l2a), scene.label_grid, settings.timeout, where)
            path = staging.path(outputs.mask_name(scene.item_id, NAME))
            outputs.write_mask(path, values, grid, SCL_CLASSES, _tags(scene, l2a), nodata=NODATA)
            entries.append(_entry(scene, l2a, path, grid))
            fetched.append(Fetched(scene.item_id, out.absolute() / path.name, l2a))
            if on_item:
                on_item(scene.item_id)
        if not fetched:
            raise MasksError(f"{provider}: no L2A found for any item ({len(missing)} searched)")
        staging.finish(_manifest(provider, finder, catalog, entries, missing))
    return FetchRun(provider, out.absolute(), fetched, missing)


def _entry(scene: scenes.Scene, l2a: L2A, path: Path, grid: Grid) -> dict[str, Any]:
    return {
        "id": scene.item_id,
        "file": path.name,
        "sha256": outputs.sha256(path),
        "grid": outputs.grid_record(grid),
        "l2a": l2a.record(),
    }


def _manifest(
    provider: str,
    finder: Finder,
    catalog: str | Path,
    entries: list[dict[str, Any]],
    missing: dict[str, str],
) -> dict[str, Any]:
    return {
        "written_by": f"stacgen masks fetch {NAME}",
        "stacgen_version": __version__,
        "catalog": str(catalog_folder(catalog).absolute()),
        "processor": "Sen2Cor scene classification (SCL), from the provider's L2A products",
        "note": NOTE,
        "provider": {
            "name": provider,
            "api": finder.api,
            "collections": list(finder.provider.collections),
        },
        "score": {"codes": "sen2cor"},
        "items": entries,
        "missing": missing,
    }


def summary(run: FetchRun) -> list[str]:
    """One line per mask (the L2A, its baseline and generation time), one per missing item."""
    lines = []
    for f in run.masks:
        lines.append(
            f"{f.path}  (L2A {f.l2a.product}, baseline {f.l2a.processing_baseline}, "
            f"generated {f.l2a.generation_time})"
        )
    lines += [f"{item}: no SCL ({why})" for item, why in run.missing.items()]
    return lines
