"""What a scoring run writes (stacgen.score.outputs): scores.csv, the table, the agreement COG and
PNG, checked against the confusion counts numpy computes here from the masks' known edits, and
colours from Okabe & Ito's colour-blind-safe palette; --out replaced whole or not at all."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rasterio

from stacgen.score import score_masks
from stacgen.score.errors import ScoreError
from stacgen.score.outputs import MARKER, OutputFolder, check_names, table, write_outputs
from stacgen.score.scoring import ScoreRun
from tests.score.helpers import (
    CLOUD,
    ITEM,
    ND,
    SHADOW,
    U8,
    alcd_groups,
    edit,
    encode,
    expected,
    read_reference,
    write_mask,
)

# Okabe, M. & Ito, K. (2008), Color Universal Design: blue, orange, vermilion; and black, the
# false negatives' colour since vermilion stood too close to orange (issue 22 §3).
BLUE, ORANGE, VERMILION, BLACK = (0, 114, 178), (230, 159, 0), (213, 94, 0), (0, 0, 0)
GREY = (204, 204, 204)
SIDECARS = ("png", "pgw", "png.aux.xml", "legend.png", "tif", "tif.aux.xml")
EDITS = (10, 60)  # pixels flipped in each mask (tests.score.helpers.edit)


@dataclass(frozen=True)
class Scored:
    run: ScoreRun
    out: Path
    ref_g: U8
    users: dict[str, U8]  # mask file stem -> its groups on the reference grid


@pytest.fixture(scope="module", name="scored")
def scored_fixture(built_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Scored:
    folder = tmp_path_factory.mktemp("score-outputs")
    ref = read_reference(built_catalog)
    ref_g = alcd_groups(ref.values)
    masks, users = [], {}
    for k in EDITS:
        stem = f"{ITEM}_{k}"
        users[stem] = edit(ref_g, k, seed=k)
        masks.append(write_mask(folder / f"{stem}.tif", encode(users[stem], "sen2cor"), ref, 3))
    run = score_masks(masks, "sen2cor", built_catalog)
    out = folder / "out"
    write_outputs(run, out)
    return Scored(run, out, ref_g, users)


def agreement_codes(ref_g: U8, user_g: U8) -> U8:
    """The `invalid` comparison per pixel: 0 ignored, 1 TP, 2 TN, 3 FP, 4 FN."""
    counted = (ref_g != ND) & (user_g != ND)
    rp, up = np.isin(ref_g, (CLOUD, SHADOW)), np.isin(user_g, (CLOUD, SHADOW))
    codes = np.zeros(ref_g.shape, np.uint8)
    codes[counted & rp & up] = 1
    codes[counted & ~rp & ~up] = 2
    codes[counted & ~rp & up] = 3
    codes[counted & rp & ~up] = 4
    return codes


def test_out_holds_the_scores_and_the_pictures_of_each_mask(scored: Scored) -> None:
    names = {p.name for p in scored.out.iterdir()}
    pictures = {f"{stem}.agreement.{ext}" for stem in scored.users for ext in SIDECARS}
    assert names == {"scores.json", "scores.csv", MARKER} | pictures
    assert json.loads((scored.out / MARKER).read_text())["written_by"] == "stacgen score"
    assert [p.name for p in scored.out.parent.iterdir() if p.name.startswith(".out.")] == []


def test_csv_rows_per_mask_and_pooled(scored: Scored) -> None:
    rows = list(csv.DictReader((scored.out / "scores.csv").read_text().splitlines()))
    want = {stem: expected(scored.ref_g, user) for stem, user in scored.users.items()}
    per_mask = [r for r in rows if r["item"] == ITEM]
    assert len(per_mask) == len(EDITS) * 3
    for row in per_mask:
        matrix = want[Path(row["mask"]).stem][row["comparison"]]
        assert {k: int(row[k]) for k in ("tp", "fp", "fn", "tn")} == matrix
        assert int(row["n"]) == sum(matrix.values())
    summed = {r["comparison"]: r for r in rows if r["mask"] == "pooled (summed matrix)"}
    mean = {r["comparison"]: r for r in rows if r["mask"] == "pooled (mean over masks)"}
    assert set(summed) == set(mean) == {"invalid", "cloud", "shadow"}
    for name, row in summed.items():
        for k in ("tp", "fp", "fn", "tn"):
            assert int(row[k]) == sum(w[name][k] for w in want.values())
    recalls = [
        w["invalid"]["tp"] / (w["invalid"]["tp"] + w["invalid"]["fn"]) for w in want.values()
    ]
    assert float(mean["invalid"]["recall"]) == pytest.approx(sum(recalls) / 2, abs=1e-6)


def test_table_one_row_per_mask_and_pooled(scored: Scored) -> None:
    lines = table(scored.run).splitlines()
    assert len(lines) == 1 + len(EDITS) + 1
    assert lines[0].split()[:4] == ["mask", "OA", "F1", "kappa"]
    for line, stem in zip(lines[1:-1], scored.users, strict=True):
        matrix = expected(scored.ref_g, scored.users[stem])["invalid"]
        accuracy = (matrix["tp"] + matrix["tn"]) / sum(matrix.values())
        cells = line.split()
        assert cells[0] == f"{stem}.tif"
        assert cells[1] == f"{accuracy:.3f}"
        assert cells[-2:] == [str(sum(matrix.values())), ITEM]
    assert lines[-1].split()[0] == "pooled"
    assert lines[-1].endswith(f"{len(EDITS)} mask(s)")


def test_agreement_cog_codes_and_palette(scored: Scored) -> None:
    assert scored.users
    for stem, user in scored.users.items():
        with rasterio.open(scored.out / f"{stem}.agreement.tif") as cog:
            codes = cog.read(1)
            palette = cog.colormap(1)
            assert cog.nodata == 0
        assert np.array_equal(codes, agreement_codes(scored.ref_g, user))
        assert palette[1] == (*BLUE, 255)  # true positive
        assert palette[3] == (*ORANGE, 255)  # false positive
        assert palette[4] == (*BLACK, 255)  # false negative
        assert palette[0][3] == 0  # ignored: transparent


def test_agreement_png_colours_each_pixel(scored: Scored) -> None:
    stem, user = next(iter(scored.users.items()))
    codes = agreement_codes(scored.ref_g, user)
    with rasterio.open(scored.out / f"{stem}.agreement.png") as png:
        assert png.count == 4
        rgba = png.read()
    colours = {1: (*BLUE, 255), 2: (*GREY, 255), 3: (*ORANGE, 255), 4: (*BLACK, 255)}
    for code, colour in colours.items():
        where = codes == code
        assert where.any(), code
        assert (rgba[:, where] == np.array(colour)[:, None]).all(), code
    assert (rgba[3][codes == 0] == 0).all()
    assert (rgba[3][codes != 0] == 255).all()


def test_masks_with_the_same_file_name_are_refused_in_one_line(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "scl.tif", tmp_path / "b" / "scl.tif"
    check_names([tmp_path / "a" / "scl.tif", tmp_path / "a" / "scl2.tif"])
    with pytest.raises(ScoreError) as caught:
        check_names([first, second])
    message = str(caught.value)
    assert str(first) in message
    assert str(second) in message
    assert "\n" not in message


def test_an_error_before_finish_leaves_out_as_it_was(scored: Scored, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / MARKER).write_text("{}")  # a previous run's: replaceable, but not by a failed one
    (out / "scores.json").write_text("{}")

    def interrupted() -> None:
        with OutputFolder(out) as folder:
            folder.add(scored.run.scores[0])
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        interrupted()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "scores.json"]
    assert (out / "scores.json").read_text() == "{}"
