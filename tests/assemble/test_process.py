from __future__ import annotations

import numpy as np
import pytest

from stacgen.assemble.process import band_stats


def test_band_stats_of_the_valid_values_equal_numpy() -> None:
    values = np.random.default_rng(7).integers(0, 256, (300, 200)).astype(np.uint8)
    values[:50] = 0
    stats = band_stats(values)
    valid = values[values != 0].astype(np.float64)
    assert stats is not None
    assert (stats.minimum, stats.maximum) == (int(valid.min()), int(valid.max()))
    assert stats.mean == pytest.approx(valid.mean(), abs=1e-4)
    assert stats.stddev == pytest.approx(valid.std(), abs=1e-4)
    assert stats.valid_percent == pytest.approx(100 * valid.size / values.size, abs=1e-4)


def test_band_stats_of_no_valid_value_is_none() -> None:
    assert band_stats(np.zeros((4, 4), dtype=np.uint8)) is None
