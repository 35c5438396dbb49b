"""What a scoring run writes: the table on stdout, and in --out scores.json, scores.csv and,
per mask, the agreement picture (PNG, with a world file and its CRS), its legend (PNG: the
comparison, the mask, the item, the colours) and the same codes on the reference grid (COG,
its category names in a raster attribute table GDAL reads).

--out is written atomically: everything goes to a temp folder beside it, swapped in at the end,
and only over a folder that is missing, empty or marked as this command's (`check_out`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import rasterio

from stacgen import __version__, constants
from stacgen.fileutil import FILE_MODE, swap_in
from stacgen.raster.png import png_bytes
from stacgen.score.errors import ScoreError
from stacgen.score.metrics import COMPARISONS, INVALID_AGREEMENT, METRICS, Comparison, agreement
from stacgen.score.presets import preset
from stacgen.score.scoring import MaskScore, ScoreRun

# Agreement codes (metrics.agreement) -> RGBA, for the `invalid` comparison. TP blue,
# TN light grey and FP orange are Okabe & Ito's (2008) colour-blind-safe palette; FN is black,
# not Okabe-Ito's vermilion: orange against vermilion is the palette's weakest pair (CIELAB
# dE 18 under deuteranopia), and black stays far from every other colour under all three
# dichromacies (measured in tests/score/test_agreement_picture.py with colorspacious).
AGREEMENT: Final = {
    0: ("ignored", (0, 0, 0, 0)),
    1: ("true positive", (0, 114, 178, 255)),
    2: ("true negative", (204, 204, 204, 255)),
    3: ("false positive", (230, 159, 0, 255)),
    4: ("false negative", (0, 0, 0, 255)),
}
AGREEMENT_MEANING: Final = {
    0: "no data on either side (transparent)",
    1: "cloud or shadow in both",
    2: "clear in both",
    3: "the mask flags a clear pixel",
    4: "the mask misses a cloud or shadow",
}
AGREEMENT_COMPARISON: Final = "invalid (cloud or shadow against clear)"
# mkdtemp makes an owner-only folder; the published one follows the umask like the files.
# What marks a folder as written by `stacgen score` (and so replaceable by the next run).
MARKER: Final = ".stacgen-score.json"
DIR_MODE: Final = FILE_MODE | ((FILE_MODE & 0o444) >> 2)
_RGBA: Final = np.array([rgba for _, rgba in AGREEMENT.values()], dtype=np.uint8)


def _comparison_dict(c: Comparison) -> dict[str, Any]:
    out: dict[str, Any] = {"applicable": c.applicable}
    if c.reason:
        out["reason"] = c.reason
    out["confusion"] = c.confusion.as_dict()
    out["metrics"] = c.metrics.values
    if c.metrics.undefined:
        out["undefined"] = c.metrics.undefined
    return out


def mask_stem(score: MaskScore) -> str:
    return _stem(score.mask)


def _stem(mask: str | Path) -> str:
    return Path(mask).name.rsplit(".", 1)[0]


def check_names(masks: list[str] | list[Path]) -> None:
    """Masks whose agreement files would share a name are refused before any scoring."""
    seen: dict[str, str | Path] = {}
    for mask in masks:
        if (stem := _stem(mask)) in seen:
            raise ScoreError(f"masks {seen[stem]} and {mask}: same file name, same --out files")
        seen[stem] = mask


def scores_json(run: ScoreRun) -> dict[str, Any]:
    """Every input, every option, each mask's item, matrices and metrics, the pooled figures."""
    return {
        "stacgen_version": __version__,
        "catalog": run.catalog,
        "codes": run.codes.describe(),
        "options": run.options.as_dict(),
        **_preset(run),
        "reference_groups": {
            "cloud": list(constants.CLOUD_VALUES),
            "shadow": list(constants.SHADOW_VALUES),
            "clear": [5, 6, 7] + ([1] if run.options.class_1 == "clear" else []),
            "ignored": [0] + ([1] if run.options.class_1 == "ignore" else []),
        },
        "masks": [
            {
                "mask": s.mask,
                "item": {
                    "id": s.item.id,
                    "href": s.item.href,
                    "asset": s.item.asset_href,
                    "matched_by": s.item.matched_by,
                },
                "grid": {
                    "crs": s.grid.crs.to_string(),
                    "transform": s.grid.proj_transform,
                    "width": s.grid.width,
                    "height": s.grid.height,
                    "col_off": s.offset[1],
                    "row_off": s.offset[0],
                },
                "joint_counts": {
                    "rows": "reference nodata, clear, cloud, shadow",
                    "columns": "mask nodata, clear, cloud, shadow",
                    "counts": s.joint,
                },
                "comparisons": {k: _comparison_dict(v) for k, v in s.comparisons.items()},
            }
            for s in run.scores
        ],
        "unscored": [
            {"mask": u.mask, "item": {"id": u.item.id, "href": u.item.href}, "reason": u.reason}
            for u in run.unscored
        ],
        "pooled": {
            "summed": {k: _comparison_dict(v) for k, v in run.pooled.summed.items()},
            "mean": run.pooled.mean,
            "masks_counted_in_mean": run.pooled.counted,
        },
        "cite": {"dataset": constants.DATASET_CITATION, "paper": constants.PAPER_CITATION},
    }


def _preset(run: ScoreRun) -> dict[str, Any]:
    name = run.options.dilate_preset
    return {} if name is None else {"dilate_preset": preset(name).describe()}


def scores_csv(run: ScoreRun) -> str:
    """One row per mask and comparison, then the pooled rows (summed matrix, mean)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    head = ["mask", "item", "comparison", "tp", "fp", "fn", "tn", "n", *METRICS, "reason"]
    writer.writerow(head)
    for s in run.scores:
        for name in COMPARISONS:
            writer.writerow([s.mask, s.item.id, name, *_row(s.comparisons[name]), ""])
    for u in run.unscored:
        writer.writerow([u.mask, u.item.id, "", *[""] * (len(head) - 4), u.reason])
    for name in COMPARISONS:
        summed = ["pooled (summed matrix)", "", name, *_row(run.pooled.summed[name]), ""]
        writer.writerow(summed)
        mean = [*map(_cell, run.pooled.mean[name].values()), ""]
        writer.writerow(["pooled (mean over masks)", "", name, "", "", "", "", "", *mean])
    return buf.getvalue()


def _row(c: Comparison) -> list[Any]:
    cm = c.confusion
    return [cm.tp, cm.fp, cm.fn, cm.tn, cm.n, *(_cell(c.metrics.values[m]) for m in METRICS)]


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def _fmt(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:.3f}"


TABLE_COLUMNS: Final = (
    ("invalid", "overall_accuracy", "OA"),
    ("invalid", "f1", "F1"),
    ("invalid", "kappa", "kappa"),
    ("cloud", "precision", "cloudP"),
    ("cloud", "recall", "cloudR"),
    ("shadow", "precision", "shadP"),
    ("shadow", "recall", "shadR"),
)


def table(run: ScoreRun) -> str:
    """The stdout table: one row per mask, a pooled row (metrics of the summed matrices)."""
    names = [Path(s.mask).name for s in run.scores]
    skipped = [Path(u.mask).name for u in run.unscored]
    width = max(len("pooled"), *(len(n) for n in names + skipped))
    head = f"{'mask':<{width}} " + " ".join(f"{h:>6}" for _, _, h in TABLE_COLUMNS)
    lines = [head + f" {'pixels':>9}  item"]
    for name, s in zip(names, run.scores, strict=True):
        lines.append(_line(name, width, s.comparisons) + f"  {s.item.id}")
    for name, u in zip(skipped, run.unscored, strict=True):
        lines.append(f"{name:<{width}} not scored: {u.reason}")
    lines.append(_line("pooled", width, run.pooled.summed) + f"  {len(run.scores)} mask(s)")
    return "\n".join(lines)


def _line(name: str, width: int, comparisons: dict[str, Comparison]) -> str:
    cells = " ".join(f"{_fmt(comparisons[c].metrics.values[m]):>6}" for c, m, _ in TABLE_COLUMNS)
    return f"{name:<{width}} {cells} {comparisons['invalid'].confusion.n:>9}"


def agreement_rgba(codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    rgba: npt.NDArray[np.uint8] = np.moveaxis(_RGBA[codes], -1, 0)
    return rgba


def write_cog(score: MaskScore, agreement: npt.NDArray[np.uint8], dst: Path) -> None:
    """The agreement codes on the reference grid, a palette, 0 (ignored) as no data; the
    category names as GDAL reads them (a raster attribute table, `write_categories`)."""
    # Here, not at the top: rio-cogeo (and morecantile) cost a third of `stacgen score`'s
    # start-up, and only --out writes a COG.
    from stacgen.raster.cog import cog_profile

    profile = cog_profile(score.grid, 1, "mode", nodata=0)
    with rasterio.open(dst, "w", **profile) as out:
        out.write(agreement, 1)
        out.write_colormap(1, {k: rgba for k, (_, rgba) in AGREEMENT.items()})
        out.update_tags(1, **{f"CLASS_{k}": name for k, (name, _) in AGREEMENT.items()})
    write_categories(dst)


def write_categories(cog: Path) -> None:
    """GDAL's category names and a thematic raster attribute table (value, class, meaning,
    colour) for the agreement COG, in its PAM sidecar `<cog>.aux.xml`: GDAL (gdalinfo, QGIS)
    reads them as the band's own. The GeoTIFF itself keeps the names as CLASS_<value> tags:
    neither the COG driver nor rasterio writes a RAT into the file."""
    # GDALRATFieldType: 0 integer, 2 string; GDALRATFieldUsage: 0 generic, 2 name, 5 min-max,
    # 6-9 red, green, blue, alpha (gdal.h).
    fields = [
        ("value", 0, 5),
        ("class", 2, 2),
        ("meaning", 2, 0),
        ("red", 0, 6),
        ("green", 0, 7),
        ("blue", 0, 8),
        ("alpha", 0, 9),
    ]
    band = ET.Element("PAMRasterBand", band="1")
    names = ET.SubElement(band, "CategoryNames")
    for _, (name, _) in sorted(AGREEMENT.items()):
        ET.SubElement(names, "Category").text = name
    rat = ET.SubElement(band, "GDALRasterAttributeTable", tableType="thematic")
    for i, (name, kind, usage) in enumerate(fields):
        field = ET.SubElement(rat, "FieldDefn", index=str(i))
        ET.SubElement(field, "Name").text = name
        ET.SubElement(field, "Type").text = str(kind)
        ET.SubElement(field, "Usage").text = str(usage)
    for row, (code, (name, rgba)) in enumerate(sorted(AGREEMENT.items())):
        element = ET.SubElement(rat, "Row", index=str(row))
        for value in (code, name, AGREEMENT_MEANING[code], *rgba):
            ET.SubElement(element, "F").text = str(value)
    root = ET.Element("PAMDataset")
    root.append(band)
    ET.indent(root)
    _write_xml(root, cog.with_name(cog.name + ".aux.xml"))


def _write_xml(root: ET.Element, dst: Path) -> None:
    dst.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=False) + b"\n")


def write_world_file(score: MaskScore, png: Path) -> None:
    """Where the PNG lies: a world file (`.pgw`: the pixel size and the centre of the top-left
    pixel of the reference window scored, which may be part of the tile) and its CRS in the PAM
    sidecar `<png>.aux.xml`, both read by GDAL and GIS tools."""
    t = score.grid.transform
    centre_x, centre_y = t * (0.5, 0.5)
    lines = [t.a, t.d, t.b, t.e, centre_x, centre_y]
    png.with_suffix(".pgw").write_text("".join(f"{v!r}\n" for v in lines), encoding="ascii")
    root = ET.Element("PAMDataset")
    ET.SubElement(root, "SRS").text = score.grid.crs.to_wkt()
    _write_xml(root, png.with_name(png.name + ".aux.xml"))


def legend_png(score: MaskScore, agreement: npt.NDArray[np.uint8]) -> bytes:
    """The agreement picture's legend: the comparison, the mask and the item, each colour with
    its meaning and its pixel count."""
    from matplotlib.figure import Figure  # only for --out: `stacgen score` starts light
    from matplotlib.patches import Patch

    counts = np.bincount(agreement.ravel(), minlength=len(AGREEMENT))
    handles = [
        Patch(
            facecolor=(rgba[0] / 255, rgba[1] / 255, rgba[2] / 255, rgba[3] / 255),
            edgecolor="#555555",
            label=f"{name}: {AGREEMENT_MEANING[code]} ({int(counts[code]):,} px)",
        )
        for code, (name, rgba) in AGREEMENT.items()
    ]
    fig = Figure(figsize=(7.2, 2.1), dpi=100)
    text = (
        f"Agreement of mask {Path(score.mask).name}\nwith the reference of item {score.item.id}"
        f"\ncomparison {AGREEMENT_COMPARISON}, on the {abs(score.grid.transform.a):g} m "
        "reference grid"
    )
    fig.text(0.02, 0.96, text, va="top", ha="left", fontsize=9)
    fig.legend(
        handles=handles, loc="lower left", bbox_to_anchor=(0.02, 0.02), fontsize=9, frameon=False
    )
    buf = io.BytesIO()
    # The same words as PNG text too, for tools (and tests) that read no pixels.
    fig.savefig(buf, format="png", metadata={"Title": "agreement legend", "Description": text})
    return buf.getvalue()


class OutputFolder:
    """--out, filled in a temp folder beside it and swapped in whole by `finish`.

    `--out` may be replaced only if it is missing, an empty folder, or a folder this command
    wrote (it carries MARKER); never a file, a link, a folder of the user's, the mask folder or
    a folder inside it, nor a folder that holds a mask (`check_out`). Each mask's pictures are
    written as its score arrives (`add`), so no agreement array is kept; leaving the `with`
    block without `finish` (an error) removes the temp folder and leaves --out as it was.
    """

    def __init__(self, out: Path, masks: Sequence[str | Path] = ()) -> None:
        self.out = out.absolute()
        self.masks = tuple(masks)
        self.tmp: Path | None = None

    def __enter__(self) -> OutputFolder:
        check_out(self.out, self.masks)
        parent = self.out.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            prefix = f".{self.out.name}."
            self.tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=parent))
        except OSError as err:
            raise ScoreError(
                f"--out {self.out}: cannot write in {parent} ({err.strerror or err})"
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def add(self, score: MaskScore) -> None:
        assert self.tmp is not None, "use OutputFolder in a with block"
        if score.pairs is None:
            raise ScoreError(f"mask {score.mask}: its agreement picture was not kept")
        stem = self.tmp / f"{mask_stem(score)}.agreement"
        png, cog = stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".tif")
        if png.exists():
            raise ScoreError(f"mask {score.mask}: another mask has the same file name")
        codes = agreement(score.pairs, INVALID_AGREEMENT)
        png.write_bytes(png_bytes(agreement_rgba(codes)))
        write_world_file(score, png)
        legend = stem.with_name(stem.name + ".legend.png")
        legend.write_bytes(legend_png(score, codes))
        write_cog(score, codes, cog)

    def finish(self, run: ScoreRun) -> None:
        assert self.tmp is not None, "use OutputFolder in a with block"
        text = json.dumps(scores_json(run), indent=2, ensure_ascii=False) + "\n"
        (self.tmp / "scores.json").write_text(text, encoding="utf-8")
        (self.tmp / "scores.csv").write_text(scores_csv(run), encoding="utf-8")
        marker = {"written_by": "stacgen score", "stacgen_version": __version__}
        (self.tmp / MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")
        self.tmp.chmod(DIR_MODE)
        check_out(self.out, self.masks)  # still ours to replace, after the scoring
        swap_in(self.tmp, self.out)
        self.tmp = None


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_out(out: Path, masks: Sequence[str | Path] = ()) -> None:
    """`out` may be replaced only if it is missing, empty, or a folder `stacgen score` wrote,
    and it neither holds a mask nor lies in a mask folder; anything else is one ScoreError."""
    where = f"--out {out}"
    real = Path(os.path.realpath(out))
    for mask in masks:
        given = Path(os.path.realpath(mask))
        if _inside(given, real):
            raise ScoreError(f"{where}: holds the mask {mask}: refusing to replace it")
        if given.is_dir() and _inside(real, given):
            raise ScoreError(f"{where}: inside the mask folder {mask}: choose a folder outside it")
    if out.is_symlink():
        raise ScoreError(f"{where}: is a symbolic link: refusing to replace it; name a folder")
    if not out.exists():
        return
    if not out.is_dir():
        raise ScoreError(f"{where}: exists and is not a folder: refusing to replace it")
    try:
        ours = (out / MARKER).is_file() or not any(out.iterdir())
    except OSError as err:
        raise ScoreError(f"{where}: cannot be read ({err.strerror or err})") from None
    if not ours:
        raise ScoreError(
            f"{where}: not empty and not a folder stacgen score wrote (no {MARKER}): "
            "refusing to replace it; choose another --out or empty this folder"
        )


def write_outputs(run: ScoreRun, out: Path) -> None:
    """scores.json, scores.csv and the agreement files of a run that kept its agreements."""
    with OutputFolder(out, [s.mask for s in run.scores]) as folder:
        for score in run.scores:
            folder.add(score)
        folder.finish(run)
