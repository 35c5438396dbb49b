"""`stacgen score`: the printed table, the files in --out, and one line per bad input with
--out left as it was."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.errors import NotGeoreferencedWarning

from stacgen.cli import main
from stacgen.score.outputs import MARKER
from tests.score.helpers import (
    CLEAR,
    CLOUD,
    ITEM,
    ND,
    SHADOW,
    alcd_groups,
    edit,
    encode,
    expected,
    read_reference,
    write_mask,
)


def _run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["score", *map(str, args)])
    return result.exit_code, result.output


def test_table_and_out_files(built_catalog: Path, tmp_path: Path) -> None:
    ref = read_reference(built_catalog)
    ref_g = alcd_groups(ref.values)
    user_g = edit(ref_g, 25)
    mask = write_mask(tmp_path / f"{ITEM}_scl.tif", encode(user_g, "sen2cor"), ref, 3)
    out = tmp_path / "out"
    code, output = _run(mask, "--codes", "sen2cor", "--catalog", built_catalog, "--out", out)
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0].split()[:4] == ["mask", "OA", "F1", "kappa"]
    assert lines[1].startswith(mask.name)
    assert lines[2].startswith("pooled")
    want = expected(ref_g, user_g)
    doc = json.loads((out / "scores.json").read_text())
    entry = doc["masks"][0]
    assert entry["item"]["id"] == ITEM
    assert set(entry["comparisons"]) == {"invalid", "cloud", "shadow"}
    for name, matrix in want.items():
        got = {k: entry["comparisons"][name]["confusion"][k] for k in ("tp", "fp", "fn", "tn")}
        assert got == matrix
    assert doc["options"]["resampling"] == "majority"
    assert doc["codes"]["name"] == "sen2cor"
    rows = list(csv.DictReader((out / "scores.csv").read_text().splitlines()))
    assert [r["comparison"] for r in rows[:3]] == ["invalid", "cloud", "shadow"]
    assert int(rows[0]["tp"]) == want["invalid"]["tp"]
    # The agreement picture: each pixel's colour is its TP/TN/FP/FN class, no data transparent.
    with rasterio.open(out / f"{ITEM}_scl.agreement.tif") as cog:
        assert cog.crs == ref.crs
        assert cog.transform == ref.transform
        codes = cog.read(1)
    valid = (ref_g != ND) & (user_g != ND)
    rp = np.isin(ref_g, (CLOUD, SHADOW))
    up = np.isin(user_g, (CLOUD, SHADOW))
    assert ((codes == 1) == (valid & rp & up)).all()
    assert ((codes == 4) == (valid & rp & ~up)).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(out / f"{ITEM}_scl.agreement.png") as png:
            rgba = png.read()
    colours = {tuple(rgba[:, i, j]) for i, j in zip(*np.nonzero(codes == 3), strict=True)}
    assert colours == {(230, 159, 0, 255)}  # false positives: orange
    assert (rgba[3][codes == 0] == 0).all()  # ignored: transparent
    assert user_g[codes == 3].tolist() == [SHADOW] * int((codes == 3).sum())
    assert (ref_g[codes == 3] == CLEAR).all()


def _bad_masks(built_catalog: Path, tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    ref = read_reference(built_catalog)
    ok = encode(alcd_groups(ref.values), "sen2cor")
    named = write_mask(tmp_path / f"{ITEM}.tif", ok, ref, 3)
    no_crs = tmp_path / f"{ITEM}_nocrs.tif"
    profile = dict(driver="GTiff", width=10, height=10, count=1, dtype="uint8")
    with rasterio.open(no_crs, "w", transform=ref.transform, **profile) as dst:
        dst.write(np.zeros((10, 10), np.uint8), 1)
    no_transform = tmp_path / f"{ITEM}_notransform.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(no_transform, "w", crs=ref.crs, **profile) as dst:
            dst.write(np.zeros((10, 10), np.uint8), 1)
    empty = write_mask(tmp_path / f"{ITEM}_empty.tif", np.zeros_like(ok), ref, 3)
    two = tmp_path / f"{ITEM}_two.tif"
    with rasterio.open(
        two, "w", **{**profile, "count": 2}, crs=ref.crs, transform=ref.transform
    ) as dst:
        dst.write(np.zeros((2, 10, 10), np.uint8))
    codes = tmp_path / "codes.json"
    codes.write_text(json.dumps({"cloud": [8, 9], "clear": [4, 9]}))
    undated = write_mask(tmp_path / "mine.tif", ok, ref, 3)
    return {
        "no CRS": ([str(no_crs), "--codes", "sen2cor"], "has no CRS"),
        "no geotransform": ([str(no_transform), "--codes", "sen2cor"], "has no geotransform"),
        "unknown codes": ([str(named), "--codes", "fmask9"], "--codes fmask9: neither"),
        "empty overlap": ([str(empty), "--codes", "sen2cor"], "no pixel left to compare"),
        "multi-band": ([str(two), "--codes", "sen2cor"], "has 2 bands; choose one with --band"),
        "code file": ([str(named), "--codes", str(codes)], "value 9 is in both"),
        "no match": ([str(undated), "--codes", "sen2cor"], "no reference item found"),
        "unlisted": ([str(named), "--codes", "kappamask"], "values not in the kappamask table"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "no CRS",
        "no geotransform",
        "unknown codes",
        "empty overlap",
        "multi-band",
        "code file",
        "no match",
        "unlisted",
    ],
)
def test_bad_input_is_one_line_and_out_untouched(
    built_catalog: Path, tmp_path: Path, case: str
) -> None:
    args, message = _bad_masks(built_catalog, tmp_path)[case]
    out = tmp_path / "out"
    out.mkdir()
    (out / MARKER).write_text("{}")  # a previous run's
    (out / "scores.json").write_text("previous run")
    code, output = _run(*args, "--catalog", built_catalog, "--out", out)
    assert code == 1
    assert output.startswith("Error: ")
    assert len(output.strip().splitlines()) == 1, output
    assert message in output
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "scores.json"]
    assert (out / "scores.json").read_text() == "previous run"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_threshold_needs_s2cloudless(built_catalog: Path, tmp_path: Path) -> None:
    ref = read_reference(built_catalog)
    mask = write_mask(tmp_path / f"{ITEM}.tif", ref.values, ref, 1)
    code, output = _run(mask, "--codes", "alcd", "--threshold", "0.4", "--catalog", built_catalog)
    assert code == 1
    assert output == "Error: --threshold applies to s2cloudless probabilities, not alcd\n"


def test_band_picks_one_band_of_a_multi_band_mask(built_catalog: Path, tmp_path: Path) -> None:
    ref = read_reference(built_catalog)
    ref_g = alcd_groups(ref.values)
    user_g = edit(ref_g, 25)
    path = tmp_path / f"{ITEM}_2bands.tif"
    profile = dict(driver="GTiff", count=2, dtype="uint8", crs=ref.crs, transform=ref.transform)
    height, width = ref.values.shape
    with rasterio.open(path, "w", width=width, height=height, **profile) as dst:
        dst.write(np.full(ref.values.shape, 77, np.uint8), 1)  # not a cloudsen12 value
        dst.write(encode(user_g, "cloudsen12"), 2)
    out = tmp_path / "out"
    code, output = _run(
        path, "--codes", "cloudsen12", "--band", "2", "--catalog", built_catalog, "--out", out
    )
    assert code == 0, output
    doc = json.loads((out / "scores.json").read_text())
    assert doc["options"]["band"] == 2
    confusion = doc["masks"][0]["comparisons"]["invalid"]["confusion"]
    want = expected(ref_g, user_g)["invalid"]
    assert {k: confusion[k] for k in want} == want


def test_second_run_replaces_out_and_same_names_are_refused(
    built_catalog: Path, tmp_path: Path
) -> None:
    ref = read_reference(built_catalog)
    ok = encode(alcd_groups(ref.values), "sen2cor")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_mask(tmp_path / "a" / f"{ITEM}.tif", ok, ref, 3)
    second = write_mask(tmp_path / "b" / f"{ITEM}.tif", ok, ref, 1)
    out = tmp_path / "out"
    common = ["--codes", "sen2cor", "--catalog", str(built_catalog), "--out", str(out)]
    assert _run(first, *common)[0] == 0
    (out / "stale.txt").write_text("from before")
    assert _run(second, *common)[0] == 0
    assert sorted(p.name for p in out.iterdir()) == [
        MARKER,
        f"{ITEM}.agreement.legend.png",
        f"{ITEM}.agreement.pgw",
        f"{ITEM}.agreement.png",
        f"{ITEM}.agreement.png.aux.xml",
        f"{ITEM}.agreement.tif",
        f"{ITEM}.agreement.tif.aux.xml",
        "scores.csv",
        "scores.json",
    ]
    code, output = _run(tmp_path / "a", second, *common)  # a folder: its *.tif files
    assert code == 1
    assert output.strip() == (
        f"Error: masks {first} and {second}: same file name, same --out files"
    )
    assert json.loads((out / "scores.json").read_text())["masks"][0]["mask"] == str(second)


# What `stacgen score` must not import to answer fast (issue 22 §3: under 0.5 s for one mask):
# boto3 (through rasterio.session), the --out writers' matplotlib and rio-cogeo, shapely.
HEAVY = ("boto3", "botocore", "matplotlib", "rio_cogeo", "shapely")
_LOADED = (
    "import sys\nfrom stacgen.cli import main\n"
    "try:\n    main(sys.argv[1:])\nexcept SystemExit as end:\n    code = end.code\n"
    f"print('loaded', code, *[m for m in {HEAVY!r} if m in sys.modules])\n"
)


def test_score_command_imports_nothing_it_does_not_use(built_catalog: Path, tmp_path: Path) -> None:
    ref = read_reference(built_catalog)
    mask = write_mask(
        tmp_path / f"{ITEM}_scl.tif", encode(alcd_groups(ref.values), "sen2cor"), ref, 3
    )
    argv = [str(mask), "--codes", "sen2cor", "--catalog", str(built_catalog), "--quiet"]
    done = subprocess.run(
        [sys.executable, "-c", _LOADED, "score", *argv], capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines()[-1] == "loaded 0", done.stdout + done.stderr
    assert f"{mask.name} " in done.stdout  # it did score the mask


_STAND_IN = """
import sys
from stacgen.cli import _rasterio_without_boto3
_rasterio_without_boto3()
import rasterio.session
assert "botocore" not in sys.modules and "boto3" not in sys.modules
assert rasterio.session.Session.cls_from_path("s3://bucket/key.tif") is rasterio.session.AWSSession
session = rasterio.session.Session.from_path("s3://bucket/key.tif")
import boto3
assert isinstance(session._session, boto3.session.Session)
assert rasterio.session.boto3.Session is boto3.Session
print("ok")
"""


def test_rasterio_still_gets_boto3_when_a_session_needs_it() -> None:
    # The stand-in rasterio keeps for boto3 imports it at the first use: S3 reads still sign.
    done = subprocess.run([sys.executable, "-c", _STAND_IN], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr
