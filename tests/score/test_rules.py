"""The resampling rules (stacgen.score.rules.choose) on shares worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from stacgen.score.rules import choose

ND, CLEAR, CLOUD, SHADOW = 0, 1, 2, 3  # the test's own codes (the groups)

# Shares of (cloud, shadow, clear, no data) in four cells, and the group each rule gives.
SHARES = [
    (0.2, 0.0, 0.8, 0.0),  # clear wins the majority; any cloud is cloud
    (0.4, 0.4, 0.2, 0.0),  # a tie: cloud before shadow
    (0.0, 0.1, 0.3, 0.6),  # mostly no data; clear does not outnumber no data
    (0.0, 0.0, 0.0, 0.0),  # nothing at all (outside the mask)
    (0.0, 0.3, 0.3, 0.4),  # no data has the most
    (0.0, 0.0, 0.5, 0.5),  # clear ties with no data: majority takes clear, so does any
]
WANT = {
    "majority": [CLEAR, CLOUD, ND, ND, ND, CLEAR],
    "any": [CLOUD, CLOUD, SHADOW, ND, SHADOW, CLEAR],
}


@pytest.mark.parametrize("method", sorted(WANT))
def test_choose_by_hand(method: str) -> None:
    shares = np.array(SHARES, np.float32).T  # (4, cells), the order above
    assert choose(shares, method).tolist() == WANT[method]  # type: ignore[arg-type]


# Float noise and slivers, as GDAL's float32 averages give them (issue 22 §3).
NOISY = [
    (0.5, 0.0, 0.5 + 3e-7, 0.0),  # clear ahead of cloud by noise: a tie, so cloud
    (0.0, 0.34, 0.34 - 4e-7, 0.32 + 4e-7),  # shadow and clear within noise: shadow
    (6e-7, 0.0, 1 - 6e-7, 0.0),  # a cloud sliver of 6e-7 of the cell: not a sub-pixel
    (2e-5, 0.0, 1 - 2e-5, 0.0),  # 2e-5 of the cell: a cloud sub-pixel overlaps it
    (0.0, 0.0, 0.3, 0.7),  # more no data than clear: no data under both rules
]
WANT_NOISY = {
    "majority": [CLOUD, SHADOW, CLEAR, CLEAR, ND],
    "any": [CLOUD, SHADOW, CLEAR, CLOUD, ND],
}


@pytest.mark.parametrize("method", sorted(WANT_NOISY))
def test_ties_within_the_tolerance_and_slivers_below_the_floor(method: str) -> None:
    shares = np.array(NOISY, np.float32).T
    assert choose(shares, method).tolist() == WANT_NOISY[method]  # type: ignore[arg-type]


@pytest.mark.parametrize("factor", [2, 3, 60, 255])
def test_whole_sub_pixels_are_never_noise(factor: int) -> None:
    """On counts, one sub-pixel of a group is always above the floor and one more always
    breaks a tie, up to 255 x 255 sub-pixels a cell."""
    whole = factor * factor
    one_cloud = np.array([[1], [0], [whole - 1], [0]], np.int64)
    assert choose(one_cloud, "any", whole=whole).tolist() == [CLOUD]
    half = whole // 2
    one_more = np.array([[half - 1], [0], [half], [whole - 2 * half + 1]], np.int64)
    assert one_more.sum() == whole
    assert choose(one_more, "majority", whole=whole).tolist() == [CLEAR]
