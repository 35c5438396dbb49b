"""The report's agreement thumbnails read back as codes, from the README's colours and the PNG
specification (tests/png_decoder.py), not from the code that drew them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.png_decoder import png_pixels

# The agreement picture's colours as the README's table gives them: TP, TN, FP, FN.
COLOURS = {1: (0, 114, 178), 2: (204, 204, 204), 3: (230, 159, 0), 4: (0, 0, 0)}


def thumbnail_codes(png: Path) -> np.ndarray:
    """The agreement codes a thumbnail shows, read back from its colours (alpha 0: none)."""
    rgba = png_pixels(png.read_bytes()).transpose(1, 2, 0)  # (rows, cols, RGBA)
    codes = np.zeros(rgba.shape[:2], np.uint8)
    for code, rgb in COLOURS.items():
        codes[(rgba[..., :3] == rgb).all(axis=-1) & (rgba[..., 3] == 255)] = code
    assert ((codes > 0) | (rgba[..., 3] == 0)).all(), "a colour outside the legend"
    return codes
