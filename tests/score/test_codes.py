"""The code tables against the issue's descriptions, and their one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from stacgen.score import ScoreError, load_codes
from stacgen.score.codes import BUILTIN, CodeTable, fmask5_reason, warn_fmask5
from stacgen.score.decoding import TableDecoder


def decode(values: np.ndarray, table: CodeTable, where: str) -> np.ndarray:
    """A table's groups of `values`, unlisted values an error naming them."""
    return TableDecoder(table, where)(values)


N, C, K, S = 0, 1, 2, 3  # no data, clear, cloud, shadow: the order of stacgen's group codes

# value -> group, written out from the issue text, table by table.
TABLES = {
    "sen2cor": {0: N, 1: N, 3: S, 8: K, 9: K, 10: K, 2: C, 4: C, 5: C, 6: C, 7: C, 11: C},
    "fmask4": {0: C, 1: C, 3: C, 2: S, 4: K, 255: N},
    "python-fmask": {0: N, 1: C, 2: K, 3: S, 4: C, 5: C},
    "s2cloudless": {0: C, 1: K, 255: N},
    "cloudsen12": {0: C, 1: K, 2: K, 3: S},
    "kappamask": {0: N, 1: C, 2: S, 3: K, 4: K, 5: N},
    "ukis-csmask": {0: C, 1: K, 2: S, 255: N},
    "omnicloudmask": {0: C, 1: K, 2: K, 3: S},
    "alcd": {0: N, 1: N, 2: K, 3: K, 4: S, 5: C, 6: C, 7: C},
}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_class_tables(name: str) -> None:
    values = np.array(sorted(TABLES[name]), dtype=np.uint8)
    assert decode(values, load_codes(name), "m").tolist() == [TABLES[name][v] for v in values]


def test_every_builtin_is_tested() -> None:
    assert set(BUILTIN) == {*TABLES, "maja-theia", "maja-native"}


@pytest.mark.parametrize(
    "name",
    ["T31TFJ_20171002_fmask5.tif", "x_Fmask_5.0_20m.tif", "S2A_FMASK-v5.tif", "fmask 5.tif"],
)
def test_fmask5_by_name(name: str) -> None:
    assert fmask5_reason(name) == f"the name {name!r}"


@pytest.mark.parametrize("name", ["T31TFJ_fmask4.tif", "fmask45.tif", "fmask_50m.tif", "s2c.tif"])
def test_not_fmask5(name: str) -> None:
    assert fmask5_reason(name) is None
    assert fmask5_reason(name, {"SOFTWARE": "Fmask", "FMASK_VERSION": "4.6"}) is None


def test_fmask5_by_tags_and_processor_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    profile = dict(driver="GTiff", width=2, height=2, count=1, dtype="uint8", crs="EPSG:32631")
    profile["transform"] = Affine(60, 0, 600000, 0, -60, 4900000)
    tagged, plain = tmp_path / "a.tif", tmp_path / "b.tif"
    for path, tags in ((tagged, {"SOFTWARE": "Fmask", "VERSION": "5.0.1"}), (plain, {})):
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(np.zeros((1, 2, 2), np.uint8))
            dst.update_tags(**tags)
    with caplog.at_level("WARNING", logger="stacgen"):
        warned = warn_fmask5([tagged, plain])
    assert len(warned) == 1
    assert warned[0].startswith(f"{tagged} (the tags naming Fmask and VERSION='5.0.1'): ")
    assert "training set includes these ALCD references" in warned[0]
    assert [r.getMessage() for r in caplog.records] == warned
    assert len(warn_fmask5([plain], processor="fmask5")) == 1


@pytest.mark.parametrize(
    ("name", "cloud_bits", "shadow_bits"),
    [("maja-theia", (1, 4, 7), (5, 6)), ("maja-native", (6, 7), (2, 3))],
)
def test_maja_bit_masks(
    name: str, cloud_bits: tuple[int, ...], shadow_bits: tuple[int, ...]
) -> None:
    table = load_codes(name)
    assert decode(np.array([0], np.uint8), table, "m").tolist() == [C]
    for b in cloud_bits:
        assert decode(np.array([1 | 1 << b], np.uint8), table, "m").tolist() == [K]
    for b in shadow_bits:
        assert decode(np.array([1 | 1 << b], np.uint8), table, "m").tolist() == [S]
    both = 1 | 1 << cloud_bits[0] | 1 << shadow_bits[0]
    assert decode(np.array([both], np.uint8), table, "m").tolist() == [K]  # cloud wins


def test_alcd_class_1_clear() -> None:
    assert decode(np.array([1], np.uint8), load_codes("alcd", "clear"), "m").tolist() == [C]


def test_unlisted_values_named_with_counts() -> None:
    values = np.array([0, 12, 12, 200, 4], np.uint8)
    with pytest.raises(
        ScoreError, match=r"^m\.tif: values not in the sen2cor table: 12 \(2 px\), 200 \(1 px\)$"
    ):
        decode(values, load_codes("sen2cor"), "m.tif")


def test_json_code_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"cloud": [10, 11], "shadow": [20], "clear": [1], "nodata": [-1]}))
    table = load_codes(str(path))
    assert decode(np.array([-1, 1, 10, 11, 20]), table, "m").tolist() == [N, C, K, K, S]
    assert table.has_shadow


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"cloud": [1, 2], "clear": [2]}, r"value 2 is in both 'cloud' and 'clear'"),
        ({"cloud": [1], "haze": [2]}, r"keys must be among"),
        ({"cloud": ["a"]}, r"'cloud' must be a list of integers"),
    ],
)
def test_bad_json_code_files(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ScoreError, match=message) as info:
        load_codes(str(path))
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_unknown_codes_name() -> None:
    with pytest.raises(ScoreError, match=r"^--codes fmask3: neither a built-in table \(sen2cor, "):
        load_codes("fmask3")
