"""benchmark.json and benchmark.csv: every number behind the page, the inputs and the citations."""

from __future__ import annotations

import csv
import io
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import rasterio

from stacgen import __version__, constants
from stacgen.benchmark.protocols import CMIX_CITATION, Evaluated
from stacgen.benchmark.run import BenchmarkResult, Spread
from stacgen.fileutil import digests


def versions() -> dict[str, str]:
    """The software that computed and drew the numbers."""
    out = {"stacgen": __version__, "python": platform.python_version()}
    for package in ("numpy", "rasterio", "pystac", "matplotlib"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    out["gdal"] = str(rasterio.__gdal_version__)
    return out


def evaluated_dict(e: Evaluated) -> dict[str, Any]:
    out: dict[str, Any] = {"applicable": e.applicable}
    if e.reason:
        out["reason"] = e.reason
    out["confusion"] = e.confusion.as_dict()
    out["metrics"] = e.values
    if e.undefined:
        out["undefined"] = e.undefined
    return out


def _local_sha256(path: str) -> str | None:
    """A local input file's sha256 (the catalog.json, also of a catalog given as its folder; a
    JSON code table); None for a URL or a built-in table's name."""
    if "://" in path:
        return None
    file = Path(path) / "catalog.json" if Path(path).is_dir() else Path(path)
    return digests(file)["sha256"] if file.is_file() else None


def _spread_dict(s: Spread) -> dict[str, Any]:
    return {"mean": s.mean, "std": s.std, "min": s.min, "max": s.max, "scenes": s.n}


def benchmark_json(result: BenchmarkResult) -> dict[str, Any]:
    plan, protocol = result.plan, result.protocol
    return {
        "stacgen_version": __version__,
        "versions": versions(),
        "protocol": {
            "name": protocol.name,
            "title": protocol.title,
            "rules": protocol.rules,
            "comparisons": list(protocol.comparisons),
            "metrics": list(protocol.metrics),
        },
        "score_options": result.options.as_dict(),
        "catalog": plan.catalog,
        "catalog_sha256": _local_sha256(plan.catalog),
        "selection": {
            "options": plan.selection.options,
            "description": plan.selection.describe(),
        },
        "items": [
            {
                "id": s.id,
                "site": s.site,
                "datetime": s.datetime,
                "eo:cloud_cover": s.cloud_cover,
                "eo:snow_cover": s.snow_cover,
                "alcd:subsets": s.subsets,
                "ml-aoi:split": s.split,
                "href": s.href,
                "classification": {"href": s.asset_href, "file:checksum": s.asset_checksum},
            }
            for s in result.scenes
        ],
        "excluded_items": [{"id": e.item, "no_mask_from": e.missing} for e in plan.excluded],
        "warnings": plan.warnings,
        "unscored": [
            {"processor": u.processor, "item": u.item, "mask": u.mask, "reason": u.reason}
            for u in result.unscored
        ],
        "processors": [
            {
                "name": r.processor.name,
                "codes": r.codes,
                "codes_file_sha256": _local_sha256(r.processor.codes),
                "masks_folder": str(r.processor.masks),
                "tags_common_to_its_masks": r.common_tags,
                "masks_outside_selection": plan.outside[r.processor.name],
                "pooled": {c: evaluated_dict(e) for c, e in r.pooled.items()},
                "over_scenes": {
                    c: {m: _spread_dict(s) for m, s in metrics.items()}
                    for c, metrics in r.spread.items()
                },
                "sites": {
                    site: {c: evaluated_dict(e) for c, e in comparisons.items()}
                    for site, comparisons in r.sites.items()
                },
                "scenes": [
                    {
                        "item": sc.item,
                        "matched_by": sc.matched_by,
                        "mask": {
                            "path": sc.mask.path,
                            "sha256": sc.mask.sha256,
                            "size": sc.mask.size,
                            "tags": sc.mask.tags,
                        },
                        "joint_counts": {
                            "rows": "reference nodata, clear, cloud, shadow",
                            "columns": "mask nodata, clear, cloud, shadow",
                            "counts": sc.joint,
                        },
                        "comparisons": {c: evaluated_dict(e) for c, e in sc.comparisons.items()},
                    }
                    for sc in r.scenes
                ],
            }
            for r in result.processors
        ],
        "cite": {
            "dataset": constants.DATASET_CITATION,
            "paper": constants.PAPER_CITATION,
            "cmix": CMIX_CITATION,
        },
    }


CSV_HEAD = ("processor", "scope", "item", "site", "comparison", "tp", "fp", "fn", "tn", "n")


def benchmark_csv(result: BenchmarkResult) -> str:
    """One row per processor, scope (scene, site, pooled, mean, std) and comparison."""
    metrics = result.protocol.metrics
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*CSV_HEAD, *metrics])
    site_of = {s.id: s.site for s in result.scenes}
    for r in result.processors:
        name = r.processor.name
        for sc in r.scenes:
            for c, e in sc.comparisons.items():
                writer.writerow([name, "scene", sc.item, site_of[sc.item], c, *_row(e, metrics)])
        for site, comparisons in r.sites.items():
            for c, e in comparisons.items():
                writer.writerow([name, "site", "", site, c, *_row(e, metrics)])
        for c, e in r.pooled.items():
            writer.writerow([name, "pooled", "", "", c, *_row(e, metrics)])
        for stat in ("mean", "std"):
            for c, spread in r.spread.items():
                cells = [_cell(getattr(spread[m], stat)) for m in metrics]
                writer.writerow(
                    [name, f"{stat} over scenes", "", "", c, "", "", "", "", "", *cells]
                )
    return buf.getvalue()


def _row(e: Evaluated, metrics: tuple[str, ...]) -> list[Any]:
    cm = e.confusion
    return [cm.tp, cm.fp, cm.fn, cm.tn, cm.n, *(_cell(e.values.get(m)) for m in metrics)]


def _cell(value: float | None) -> str:
    return "" if value is None else repr(float(value))
