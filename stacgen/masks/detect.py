"""`stacgen masks detect`: a detector run on the fetched L1C of each item, one mask COG each.

The orchestrator: choose the items, make the detector (its package imported then), run it on
each item's bands through a window reader, write each mask into the staging folder as it is
made (one item in memory at a time), then the manifest, then swap the folder in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stacgen import __version__
from stacgen.layout import imagery
from stacgen.masks import detector as detectors
from stacgen.masks import outputs, scenes
from stacgen.masks.reflectance import Reader
from stacgen.stac.scenes import BandFile, catalog_folder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Written:
    item_id: str
    path: Path
    pixels: dict[str, int]  # class name -> pixels


@dataclass(frozen=True)
class DetectRun:
    detector: dict[str, Any]
    codes: str  # the `stacgen score --codes` table of the masks
    out: Path
    masks: list[Written]


def _tags(
    detector: detectors.Detector, scene: scenes.Scene, described: dict[str, Any]
) -> dict[str, str]:
    import json

    return {
        "STACGEN_VERSION": __version__,
        "STACGEN_ITEM": scene.item_id,
        "ACQUISITION_DATE": scene.datetime,
        "DETECTOR": detector.name,
        "DETECTOR_PACKAGE": str(described["package"]),
        "DETECTOR_VERSION": str(described["version"]),
        "DETECTOR_MODEL": str(described["model"]),
        "DETECTOR_MODEL_SHA256": str(described["model_sha256"]),
        "DETECTOR_PARAMETERS": json.dumps(described["parameters"], sort_keys=True),
        "DETECTOR_BANDS": ",".join(detector.bands),
        "SCORE_CODES": detector.codes,
    }


def _counts(mask: np.ndarray[Any, Any], classes: Mapping[int, str]) -> dict[str, int]:
    values = np.bincount(mask.ravel(), minlength=256)
    return {name: int(values[v]) for v, name in classes.items()}


def _entry(
    scene: scenes.Scene, bands: Sequence[BandFile], written: Written, grid: Any
) -> dict[str, Any]:
    props = scene.properties
    return {
        "id": scene.item_id,
        "file": written.path.name,
        "sha256": outputs.sha256(written.path),
        "grid": outputs.grid_record(grid),
        "pixels": written.pixels,
        "imagery": {
            "item": str(scene.imagery_json),
            "provider": props.get(imagery.PROVIDER_PROPERTY),
            "kind": props.get(imagery.KIND_PROPERTY),
            "radio_add_offset_applied": props.get(imagery.OFFSET_PROPERTY),
            "grid": props.get(imagery.GRID_PROPERTY),
            "bands": {
                b.name: {
                    "file": str(b.path),
                    "sha256": outputs.sha256(Path(b.path)),
                    "scale": b.scale,
                    "offset": b.offset,
                }
                for b in bands
            },
        },
    }


def detect(
    name: str,
    catalog: str | Path,
    out: Path,
    *,
    items: Sequence[str] | None = None,
    split: str | None = None,
    options: Mapping[str, Any] | None = None,
    on_item: Callable[[Written], None] | None = None,
) -> DetectRun:
    """Run detector `name` on the chosen items of `catalog`; masks and manifest in `out`."""
    outputs.check_out(out.absolute())
    chosen = scenes.select(catalog, items, split)
    det = detectors.make(name, options or {})
    for scene in chosen:  # every missing band and unusable grid is found before any work
        scene.require(det.bands, det.name)
        det.check_grid(det.target.grid(scene.label_grid), scene.item_id)
    described = det.describe()
    entries, written_all = [], []
    with outputs.Staging(out, f"stacgen masks detect {name}") as staging:
        for scene in chosen:
            bands = scene.require(det.bands, det.name)
            with Reader(bands, scene.label_grid, det.target) as reader:
                log.info("%s: %s on %s", scene.item_id, name, reader.grid.shape)
                mask = det.run(reader)
                grid = reader.grid
            path = staging.path(outputs.mask_name(scene.item_id, det.name))
            outputs.write_mask(path, mask, grid, det.classes, _tags(det, scene, described))
            written = Written(scene.item_id, out.absolute() / path.name, _counts(mask, det.classes))
            entries.append(_entry(scene, bands, Written(scene.item_id, path, written.pixels), grid))
            written_all.append(written)
            if on_item:
                on_item(written)
        manifest = {
            "written_by": f"stacgen masks detect {name}",
            "stacgen_version": __version__,
            "catalog": str(catalog_folder(catalog).absolute()),
            "detector": described,
            "grid": {"resolution_m": det.target.metres(), **vars(det.target)},
            "score": {"codes": det.codes, "example": f"stacgen score {out} --codes {det.codes}"},
            "items": entries,
        }
        staging.finish(manifest)
    return DetectRun(described, det.codes, out.absolute(), written_all)
