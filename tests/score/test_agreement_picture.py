"""The agreement picture tells a stranger what it shows (issue 22 §3): its colours stay apart
for every colour vision (measured with colorspacious's simulation of Machado et al. 2009 and
CIELAB distances), its legend names the comparison, the mask and the item, the COG's categories
are named for GDAL, and a world file places a partial window where it lies."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path

import colorspacious
import numpy as np
import numpy.typing as npt
import pytest
import rasterio
from affine import Affine
from PIL import Image
from PIL.PngImagePlugin import PngImageFile

from stacgen.score import score_masks
from stacgen.score.outputs import write_outputs
from tests.must_run import missing
from tests.score.helpers import ITEM, Ref, alcd_groups, edit, encode, read_reference, write_mask

# What the README's table of the agreement picture says, written out here.
COLOURS = {
    "true positive": (0, 114, 178),
    "true negative": (204, 204, 204),
    "false positive": (230, 159, 0),
    "false negative": (0, 0, 0),
}
NAMES = ["ignored", "true positive", "true negative", "false positive", "false negative"]
VERMILION = (213, 94, 0)  # the false negatives' colour before: too close to orange
VISIONS = {"normal": None, "protanopia": "protanomaly", "deuteranopia": "deuteranomaly"}
VISIONS["tritanopia"] = "tritanomaly"
FLOOR = 40.0  # CIELAB dE: two colours told apart at a glance


def seen_as(rgb: tuple[int, int, int], cvd: str | None) -> npt.NDArray[np.float64]:
    """The colour as a dichromat sees it (severity 100), in sRGB 0-1."""
    colour = np.array(rgb, dtype=np.float64) / 255
    if cvd is None:
        return colour
    space = {"name": "sRGB1+CVD", "cvd_type": cvd, "severity": 100}
    seen: npt.NDArray[np.float64] = np.clip(
        colorspacious.cspace_convert(colour, space, "sRGB1"), 0, 1
    )
    return seen


def distance(a: tuple[int, int, int], b: tuple[int, int, int], cvd: str | None) -> float:
    return float(
        colorspacious.deltaE(
            seen_as(a, cvd), seen_as(b, cvd), input_space="sRGB1", uniform_space="CIELab"
        )
    )


def test_the_measure_finds_the_weak_pair_the_issue_found() -> None:
    # Orange against vermilion under deuteranopia: the issue measured dE 18.
    assert distance(COLOURS["false positive"], VERMILION, "deuteranomaly") == pytest.approx(
        18, abs=1
    )


@pytest.mark.parametrize("vision", sorted(VISIONS))
def test_every_two_colours_apart_for_every_colour_vision(vision: str) -> None:
    pairs = list(itertools.combinations(COLOURS, 2))
    assert len(pairs) == 6
    for a, b in pairs:
        dE = distance(COLOURS[a], COLOURS[b], VISIONS[vision])
        assert dE >= FLOOR, (vision, a, b, dE)
    fp_fn = distance(COLOURS["false positive"], COLOURS["false negative"], VISIONS[vision])
    assert fp_fn >= 2 * FLOOR, (vision, fp_fn)


@pytest.fixture(scope="module")
def partial(built_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Ref]:
    """A mask 3 times as fine over rows 60-139, columns 20-119 of the reference, scored."""
    folder = tmp_path_factory.mktemp("agreement")
    ref = read_reference(built_catalog)
    window = ref.values[60:140, 20:120]
    assert window.shape == (80, 100)
    assert (window != 0).all()  # no data would shrink the window scored
    sub = Ref(window, ref.transform * Affine.translation(20, 60), ref.crs)
    groups = edit(alcd_groups(window), 40, seed=3)
    mask = write_mask(folder / f"{ITEM}_part.tif", encode(groups, "sen2cor"), sub, 3)
    run = score_masks([mask], "sen2cor", built_catalog)
    write_outputs(run, folder / "out")
    return folder / "out" / f"{ITEM}_part.agreement", sub


def test_world_file_places_a_partial_window(partial: tuple[Path, Ref]) -> None:
    stem, sub = partial
    with rasterio.open(stem.with_name(stem.name + ".png")) as png:
        assert png.transform == sub.transform
        assert png.crs == sub.crs
        assert (png.width, png.height) == (100, 80)
    with rasterio.open(stem.with_name(stem.name + ".tif")) as cog:
        assert cog.transform == sub.transform
    lines = stem.with_name(stem.name + ".pgw").read_text().split()
    # pixel size x, rotations, pixel size y, then the centre of the top-left pixel
    t = sub.transform
    assert [float(v) for v in lines] == [t.a, 0.0, 0.0, t.e, t.c + t.a / 2, t.f + t.e / 2]


def test_legend_names_comparison_mask_and_item(partial: tuple[Path, Ref]) -> None:
    stem, sub = partial
    with Image.open(stem.with_name(stem.name + ".legend.png")) as legend:
        assert isinstance(legend, PngImageFile)
        text = legend.text["Description"]
        rgb = np.asarray(legend.convert("RGB"))
    assert f"{ITEM}_part.tif" in text
    assert ITEM in text.replace(f"{ITEM}_part.tif", "")
    assert "invalid" in text
    assert f"{sub.transform.a:g} m reference grid" in text  # 60 m in the dataset
    for name, colour in COLOURS.items():  # each swatch drawn in its colour
        assert ((rgb == colour).all(axis=2)).sum() >= 50, name


def test_cog_categories_named_for_gdal(partial: tuple[Path, Ref]) -> None:
    gdalinfo = shutil.which("gdalinfo")
    if gdalinfo is None:
        missing("gdal", "gdalinfo is not installed (apt-get install gdal-bin)")
    stem, _ = partial
    cog = stem.with_name(stem.name + ".tif")
    info = json.loads(
        subprocess.run(
            [gdalinfo, "-json", str(cog)], check=True, capture_output=True, text=True, timeout=60
        ).stdout
    )
    assert info["bands"][0]["categories"] == NAMES
    rat = info["rat"]
    assert rat["tableType"] == "thematic"
    columns = [f["name"] for f in rat["fieldDefn"]]
    rows = {row["f"][0]: dict(zip(columns, row["f"], strict=True)) for row in rat["row"]}
    assert sorted(rows) == [0, 1, 2, 3, 4]
    with rasterio.open(cog) as ds:
        palette = ds.colormap(1)
    for value, row in rows.items():
        assert row["class"] == NAMES[value]
        assert (row["red"], row["green"], row["blue"], row["alpha"]) == palette[value]
