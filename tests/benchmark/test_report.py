"""`stacgen benchmark`: the report's numbers are `stacgen score`'s on the same masks, its files,
and the --out rule (missing, empty or its own report; anything else refused and left alone)."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from stacgen.benchmark import MARKER
from stacgen.cli import main
from tests.benchmark.conftest import MaskSet
from tests.benchmark.pictures import thumbnail_codes
from tests.score.helpers import CLEAR, CLOUD, ENCODE, ND, SHADOW, alcd_groups, read_reference

CONFUSION = ("tp", "fp", "fn", "tn")


def _invoke(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback is a bug: show it
    return result.exit_code, result.output


def _benchmark(catalog: Path, sets: list[MaskSet], out: Path, *extra: str) -> dict[str, Any]:
    code, output = _invoke(
        "benchmark", *(s.spec for s in sets), "--catalog", catalog, "--out", out, *extra
    )
    assert code == 0, output
    doc: dict[str, Any] = json.loads((out / "benchmark.json").read_text())
    return doc


def _score(catalog: Path, s: MaskSet, out: Path) -> dict[str, Any]:
    code, output = _invoke(
        "score", s.folder, "--codes", s.codes, "--catalog", catalog, "--out", out
    )
    assert code == 0, output
    doc: dict[str, Any] = json.loads((out / "scores.json").read_text())
    return doc


@pytest.fixture(scope="module")
def report(
    built_catalog: Path, mask_sets: list[MaskSet], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("report") / "report"
    return out, _benchmark(built_catalog, mask_sets, out)


def test_numbers_equal_stacgen_score(
    report: tuple[Path, dict[str, Any]],
    built_catalog: Path,
    mask_sets: list[MaskSet],
    tmp_path: Path,
) -> None:
    _, doc = report
    assert [p["name"] for p in doc["processors"]] == [s.name for s in mask_sets]
    for s, proc in zip(mask_sets, doc["processors"], strict=True):
        scored = _score(built_catalog, s, tmp_path / s.name)
        by_item = {m["item"]["id"]: m for m in scored["masks"]}
        assert len(proc["scenes"]) == len(by_item) > 0
        for scene in proc["scenes"]:
            want = by_item[scene["item"]]
            assert scene["mask"]["path"] == want["mask"]
            assert scene["joint_counts"]["counts"] == want["joint_counts"]["counts"]
            assert scene["comparisons"].keys() == want["comparisons"].keys()
            for name, comparison in scene["comparisons"].items():
                assert comparison["confusion"] == want["comparisons"][name]["confusion"]
                assert comparison["metrics"] == want["comparisons"][name]["metrics"]
        for name, pooled in proc["pooled"].items():
            if not scored["pooled"]["summed"][name]["applicable"]:  # s2cloudless: no shadow
                assert not pooled["applicable"]
                assert set(pooled["metrics"].values()) == {None}
                continue
            assert pooled["confusion"] == scored["pooled"]["summed"][name]["confusion"]
            assert pooled["metrics"] == scored["pooled"]["summed"][name]["metrics"]
            for metric, mean in scored["pooled"]["mean"][name].items():
                got = proc["over_scenes"][name][metric]["mean"]
                assert got == mean or math.isclose(got, mean, rel_tol=1e-12), (name, metric)


def test_csv_and_page_hold_the_json_numbers(report: tuple[Path, dict[str, Any]]) -> None:
    out, doc = report
    rows = list(csv.DictReader((out / "benchmark.csv").read_text().splitlines()))
    pooled = [r for r in rows if r["scope"] == "pooled" and r["comparison"] == "invalid"]
    assert [r["processor"] for r in pooled] == [p["name"] for p in doc["processors"]]
    page = (out / "index.html").read_text()
    for row, proc in zip(pooled, doc["processors"], strict=True):
        want = proc["pooled"]["invalid"]
        assert {k: int(row[k]) for k in CONFUSION} == {k: want["confusion"][k] for k in CONFUSION}
        assert float(row["overall_accuracy"]) == want["metrics"]["overall_accuracy"]
        assert f"{want['confusion']['tp']:,} (TP)" in page
        assert f">{want['metrics']['overall_accuracy']:.3f}<" in page
    scenes = [r for r in rows if r["scope"] == "scene" and r["processor"] == "fmask"]
    assert len(scenes) == 3 * len(doc["items"]) > 0
    for item in doc["items"]:
        assert item["id"] in page
    assert set(doc["cite"]) == {"dataset", "paper", "cmix"}
    assert doc["versions"]["stacgen"] == doc["stacgen_version"]
    assert all(len(s["mask"]["sha256"]) == 64 for s in doc["processors"][0]["scenes"])
    for name in ("accuracy_vs_cover.png", "heatmap.png", "precision_recall.png", MARKER):
        assert (out / name).is_file(), name
        assert name == MARKER or f'src="{name}"' in page


def test_subset_and_items_file(
    built_catalog: Path, mask_sets: list[MaskSet], tmp_path: Path
) -> None:
    doc = _benchmark(built_catalog, mask_sets[:1], tmp_path / "h", "--subset", "Hollstein")
    ids = [i["id"] for i in doc["items"]]
    assert ids
    assert all("Hollstein" in i["alcd:subsets"] for i in doc["items"])
    listed = tmp_path / "items.txt"
    listed.write_text(f"# two items\n{ids[0]}\n\n{ids[-1]}\n")
    doc = _benchmark(built_catalog, mask_sets[:2], tmp_path / "l", "--items", str(listed))
    assert sorted(i["id"] for i in doc["items"]) == sorted({ids[0], ids[-1]})
    assert doc["selection"]["options"]["--items"] == str(listed)


def test_item_without_every_processor_is_left_out(
    built_catalog: Path, mask_sets: list[MaskSet], tmp_path: Path
) -> None:
    fewer = tmp_path / "fewer"
    fewer.mkdir()
    masks = sorted(mask_sets[0].folder.glob("*.tif"))
    assert len(masks) > 2
    for mask in masks[1:]:
        (fewer / mask.name).symlink_to(mask)
    partial = MaskSet("partial", "fmask4", fewer)
    doc = _benchmark(built_catalog, [partial, mask_sets[1]], tmp_path / "r")
    assert len(doc["items"]) == len(masks) - 1
    assert [e["no_mask_from"] for e in doc["excluded_items"]] == [["partial"]]


def test_out_rule(built_catalog: Path, mask_sets: list[MaskSet], tmp_path: Path) -> None:
    args: list[str | Path] = ["benchmark", mask_sets[1].spec, "--catalog", built_catalog]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    code, output = _invoke(*args, "--out", foreign)
    assert code == 1
    assert output.strip().splitlines() == [
        f"Error: --out {foreign.absolute()}: not empty and not a report stacgen benchmark wrote "
        f"(no {MARKER}): refusing to replace it; choose another --out or empty this folder"
    ]
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    code, output = _invoke(*args, "--out", a_file)
    assert code == 1
    assert "exists and is not a folder" in output
    assert a_file.read_text() == "x"
    empty = tmp_path / "empty"
    empty.mkdir()
    code, output = _invoke(*args, "--out", empty)
    assert code == 0, output
    (empty / "old.png").write_bytes(b"")  # a report of ours is replaced whole
    code, output = _invoke(*args, "--out", empty)
    assert code == 0, output
    assert not (empty / "old.png").exists()
    assert (empty / "index.html").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("fmask4:masks", "expected NAME=CODES:MASKDIR"),
        ("a b=fmask4:masks", "the name must be"),
        ("x=fmask4:/nonexistent/masks", "is not a folder of masks"),
        ("x=nocodes:{folder}", "neither a built-in table"),
    ],
)
def test_bad_processor_is_one_line(
    built_catalog: Path, mask_sets: list[MaskSet], tmp_path: Path, spec: str, message: str
) -> None:
    spec = spec.format(folder=mask_sets[0].folder)
    code, output = _invoke("benchmark", spec, "--catalog", built_catalog, "--out", tmp_path / "out")
    assert code == 1
    assert len(output.strip().splitlines()) == 1, output
    assert message in output
    assert not (tmp_path / "out").exists()


def test_fmask5_is_warned_in_the_report(
    built_catalog: Path, mask_sets: list[MaskSet], tmp_path: Path
) -> None:
    named = MaskSet("fmask5", "fmask4", mask_sets[0].folder)  # the processor's name says FMask 5
    out = tmp_path / "r"
    doc = _benchmark(built_catalog, [named, mask_sets[1]], out)
    assert len(doc["warnings"]) == len(doc["items"]) > 0
    assert all("FMask 5, whose training set includes" in w for w in doc["warnings"])
    assert "FMask 5, whose training set includes" in (out / "index.html").read_text()
    plain = _benchmark(built_catalog, mask_sets[:2], tmp_path / "plain")
    assert plain["warnings"] == []


def test_inputs_digests_and_the_masks_own_tags(
    built_catalog: Path, mask_sets: list[MaskSet], tmp_path: Path
) -> None:
    tagged = tmp_path / "tagged"
    tagged.mkdir()
    masks = sorted(mask_sets[1].folder.glob("*.tif"))
    assert masks
    for n, mask in enumerate(masks):
        copy = tagged / mask.name
        shutil.copyfile(mask, copy)
        with rasterio.open(copy, "r+") as ds:
            ds.update_tags(PROCESSOR="s2cloudless 1.7.3, threshold 0.4", RUN=str(n))
    codes = tmp_path / "mine.json"
    codes.write_text(json.dumps({"clear": [0], "cloud": [1]}))
    out = tmp_path / "r"
    doc = _benchmark(built_catalog, [MaskSet("s2c", str(codes), tagged)], out)
    catalog_json = built_catalog / "catalog.json"
    assert doc["catalog_sha256"] == hashlib.sha256(catalog_json.read_bytes()).hexdigest()
    proc = doc["processors"][0]
    assert proc["codes_file_sha256"] == hashlib.sha256(codes.read_bytes()).hexdigest()
    common = proc["tags_common_to_its_masks"]
    assert common["PROCESSOR"] == "s2cloudless 1.7.3, threshold 0.4"
    assert "RUN" not in common  # differs between masks
    assert "AREA_OR_POINT" not in common  # GDAL's, of the raster's structure
    assert "PROCESSOR=s2cloudless 1.7.3, threshold 0.4" in (out / "index.html").read_text()
    plain = _benchmark(built_catalog, mask_sets[1:2], tmp_path / "plain")
    assert plain["processors"][0]["codes_file_sha256"] is None  # a built-in table's name


def test_an_unscorable_mask_leaves_its_item_out_for_every_processor(
    built_catalog: Path, mask_sets: list[MaskSet], tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    masks = sorted(mask_sets[0].folder.glob("*.tif"))
    assert len(masks) > 2
    for mask in masks:
        shutil.copyfile(mask, broken / mask.name)
    with rasterio.open(broken / masks[0].name, "r+") as ds:
        values = ds.read(1)
        values[:3, :3] = 77  # a value the fmask4 table does not list
        ds.write(values, 1)
    out = tmp_path / "r"
    doc = _benchmark(built_catalog, [MaskSet("fmask", "fmask4", broken), mask_sets[1]], out)
    (unscored,) = doc["unscored"]
    assert unscored["processor"] == "fmask"
    assert unscored["mask"] == str(broken / masks[0].name)
    assert "77" in unscored["reason"]
    assert unscored["item"] not in [i["id"] for i in doc["items"]]
    assert len(doc["items"]) == len(masks) - 1
    for proc in doc["processors"]:  # both compared on the same scenes
        assert [s["item"] for s in proc["scenes"]] == [i["id"] for i in doc["items"]]
    assert "could not be scored" in (out / "index.html").read_text()


# Each comparison of the paper protocol, as the README defines it: (the reference groups it
# counts, the positive groups); a mask's valid pixels are all counted, shadow for `cloud` and
# cloud for `shadow` being negatives.
PAPER = {
    "invalid": ((CLEAR, CLOUD, SHADOW), (CLOUD, SHADOW)),
    "cloud": ((CLEAR, CLOUD), (CLOUD,)),
    "shadow": ((CLEAR, SHADOW), (SHADOW,)),
}


def expected_codes(
    ref_g: np.ndarray, mask_g: np.ndarray, counted: tuple[int, ...], positive: tuple[int, ...]
) -> np.ndarray:
    """0 not counted, 1 TP, 2 TN, 3 FP, 4 FN, per pixel, with numpy."""
    used = np.isin(ref_g, counted) & (mask_g != ND)
    ref_pos, mask_pos = np.isin(ref_g, positive), np.isin(mask_g, positive)
    codes = np.zeros(ref_g.shape, np.uint8)
    codes[used & ref_pos & mask_pos] = 1
    codes[used & ~ref_pos & ~mask_pos] = 2
    codes[used & ~ref_pos & mask_pos] = 3
    codes[used & ref_pos & ~mask_pos] = 4
    return codes


def test_a_thumbnail_for_every_comparison_the_report_shows(
    report: tuple[Path, dict[str, Any]], built_catalog: Path, mask_sets: list[MaskSet]
) -> None:
    out, doc = report
    assert doc["protocol"]["comparisons"] == list(PAPER)
    page = (out / "index.html").read_text()
    item = doc["items"][0]["id"]
    ref_g = alcd_groups(read_reference(built_catalog, item).values)
    step = -(-max(ref_g.shape) // 160)  # every k-th pixel, so that the picture fits in 160 px
    sen2cor = next(s for s in mask_sets if s.name == "sen2cor")
    with rasterio.open(sen2cor.folder / f"{item}_sen2cor.tif") as src:
        values = src.read(1)[::3, ::3]  # written 3 x 3 per 60 m cell: the cell's own value
    group_of = {v: g for g, v in ENCODE["sen2cor"].items()}
    mask_g = np.vectorize(group_of.__getitem__, otypes=[np.uint8])(values)
    for comparison, (counted, positive) in PAPER.items():
        assert f'id="agreement-{comparison}"' in page
        want = expected_codes(ref_g, mask_g, counted, positive)[::step, ::step]
        got = thumbnail_codes(out / "thumbs" / comparison / "sen2cor" / f"{item}.png")
        assert np.array_equal(got, want), comparison
        assert {1, 2} <= set(np.unique(got).tolist())
        for s in mask_sets:
            shown = (out / "thumbs" / comparison / s.name / f"{item}.png").is_file()
            # s2cloudless has no shadow class: its shadow comparison does not apply.
            assert shown == (comparison != "shadow" or s.name != "s2cloudless")
            assert (f'src="thumbs/{comparison}/{s.name}/{item}.png"' in page) == shown
