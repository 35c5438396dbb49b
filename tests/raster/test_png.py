"""stacgen.raster.png against a PNG decoder written from the specification."""

from __future__ import annotations

import numpy as np
import pytest

from stacgen.raster.png import png_bytes
from tests.png_decoder import png_pixels


@pytest.mark.parametrize("count", [1, 3, 4])
def test_png_bytes_holds_the_pixels(count: int) -> None:
    bands = np.random.default_rng(count).integers(0, 256, size=(count, 5, 7), dtype=np.uint8)
    assert np.array_equal(png_pixels(png_bytes(bands)), bands)
