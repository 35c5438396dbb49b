"""The decoders (stacgen.score.decoding): s2cloudless probabilities against the package's own
comparison (`probs > threshold`), whatever the threshold's numeric type, and values outside a
probability map's range refused; the table decoder on wide and declared-nodata values."""

from __future__ import annotations

import numpy as np
import pytest

from stacgen.score import ScoreError
from stacgen.score.codes import CodeTable
from stacgen.score.decoding import TableDecoder, ThresholdDecoder

N, C, K, S = 0, 1, 2, 3  # no data, clear, cloud, shadow: the order of stacgen's group codes


def test_probabilities_are_cloud_above_the_threshold_as_s2cloudless_compares() -> None:
    # s2cloudless: get_mask_from_prob is `probs > threshold`; 0.4 itself is clear.
    floats = np.array([0.0, 0.39, 0.4, 0.41, 1.0, np.nan], np.float32)
    assert ThresholdDecoder(0.4, "m")(floats).tolist() == [C, C, C, K, K, N]
    ints = np.array([0, 40, 41, 100, 255], np.uint8)
    assert ThresholdDecoder(0.4, "m", nodata=255)(ints).tolist() == [C, C, K, K, N]
    # 100 is cloud at any threshold below 1, clear at 1 (nothing is > 1).
    assert ThresholdDecoder(1.0, "m")(np.array([100], np.uint8)).tolist() == [C]


@pytest.mark.parametrize("kind", [float, np.float64, np.float32])
def test_the_threshold_compares_exactly_whatever_its_type(kind: type) -> None:
    # A pixel stored as float32 0.4 (0.4000000059604645) is not above a threshold of 0.4,
    # whether 0.4 comes as a Python float, a numpy.float64 (0.4000000000000000222, below the
    # pixel) or a float32; its float32 neighbour above is cloud.
    pixel = np.float32(0.4)
    above = np.nextafter(pixel, np.float32(1))
    got = ThresholdDecoder(kind(0.4), "m")(np.array([pixel, above], np.float32)).tolist()
    assert got == [C, K]
    # 0.29 * 100 is 28.999999999999996 in floats; exactly, 29 / 100 is not above 0.29.
    assert ThresholdDecoder(kind(0.29), "m")(np.array([29, 30], np.uint8)).tolist() == [C, K]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.array([0.2, 1.5, -0.1], np.float32), r"values outside it: -0\.1.* \(1 px\), 1\.5"),
        (np.array([10, 200], np.uint8), r"not s2cloudless probabilities \(0-100\).*200 \(1 px\)"),
    ],
)
def test_probabilities_outside_their_range_are_refused(values: np.ndarray, message: str) -> None:
    with pytest.raises(ScoreError, match=message):
        ThresholdDecoder(0.4, "m")(values)


def test_a_table_of_wide_values_is_searched_not_spread() -> None:
    # 0 and 2**40 in one table: a dense look-up table would need a terabyte.
    table = CodeTable("wide", "test", {"clear": (0,), "cloud": (1 << 40,)})
    values = np.array([0, 1 << 40, 0], np.int64)
    assert TableDecoder(table, "m")(values).tolist() == [C, K, C]
    with pytest.raises(ScoreError, match=r"values not in the wide table: 7 \(1 px\)$"):
        TableDecoder(table, "m")(np.array([0, 7], np.int64))


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "int32"])
def test_the_declared_nodata_value_is_no_data(dtype: str) -> None:
    table = CodeTable("t", "test", {"clear": (0, 1), "cloud": (2,)})
    values = np.array([0, 1, 2], dtype)
    assert TableDecoder(table, "m", nodata=1)(values).tolist() == [C, N, K]
