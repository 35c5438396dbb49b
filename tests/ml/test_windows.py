"""stacgen.ml.windows: window starts and valid shares against counting pixels with numpy."""

from __future__ import annotations

import numpy as np

from stacgen.ml.windows import starts, valid_shares


def test_starts_cover_the_axis_and_end_flush() -> None:
    assert starts(183, 64, 64) == [0, 64, 119]
    assert starts(128, 64, 64) == [0, 64]
    assert starts(100, 40, 30) == [0, 30, 60]
    assert starts(63, 64, 64) == []


def test_valid_shares_equal_the_share_of_valid_fine_pixels() -> None:
    rng = np.random.default_rng(3)
    valid = rng.random((20, 17)) > 0.4
    factor, size = 3, 10
    rows, cols = starts(60, size, 7), starts(51, size, 7)
    assert rows
    assert cols
    shares = valid_shares(valid, rows, cols, size, factor)
    fine = np.repeat(np.repeat(valid, factor, axis=0), factor, axis=1)
    expected = np.array([[fine[r : r + size, c : c + size].mean() for c in cols] for r in rows])
    np.testing.assert_allclose(shares, expected)
