"""stacgen masks detect ukis-csmask: the mask equals ukis-csmask's own call on the whole array,
though stacgen calls it on windows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import rasterio

from stacgen.masks import scenes
from stacgen.masks import ukis_csmask as ours
from stacgen.masks.detect import detect
from stacgen.masks.errors import MasksError
from stacgen.masks.reflectance import Reader
from tests.masks.expected import reflectance

mask_module = pytest.importorskip("ukis_csmask.mask")

BANDS = ("B02", "B03", "B04", "B08", "B11", "B12")
ORDER = ["blue", "green", "red", "nir", "swir16", "swir22"]


def _first(catalog: Path) -> str:
    return sorted(p.parent.name for p in (catalog / "alcd-l1c").glob("*/*.json"))[0]


def _package(data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    csm = mask_module.CSmask(img=data, band_order=ORDER, product_level="l1c")
    mask: np.ndarray = csm.csm[..., 0].astype(np.uint8)
    mask[~valid] = 255
    return mask


def test_windows_cover_each_pixel_once_with_their_margins() -> None:
    spans = ours.spans(549, 204)
    assert [(a, b) for a, b, _, _ in spans] == [(0, 204), (204, 408), (408, 549)]
    assert [(a, b) for _, _, a, b in spans] == [(0, 409), (0, 549), (204, 549)]
    short = ours.spans(1030, 1020)  # a 10 px last core: its window reaches back 408 px
    assert [(a, b) for _, _, a, b in short] == [(0, 1030), (612, 1030)]


@dataclass(frozen=True)
class _Shape:
    height: int
    width: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)


class _Part:
    """stacgen's own Reader, seen through a part of its grid: the windows stacgen reads stay
    its own reads of the native bands, on an image small enough for a few package tiles."""

    def __init__(self, reader: Reader, rows: tuple[int, int], cols: tuple[int, int]) -> None:
        self.reader, self.rows, self.cols = reader, rows, cols
        self.grid = _Shape(rows[1] - rows[0], cols[1] - cols[0])

    def read(self, rows: tuple[int, int], cols: tuple[int, int]) -> tuple[Any, Any]:
        r, c = self.rows[0], self.cols[0]
        return self.reader.read((rows[0] + r, rows[1] + r), (cols[0] + c, cols[1] + c))


def test_windowed_mask_is_the_whole_image_call(native_catalog: Path) -> None:
    item_id = _first(native_catalog)
    # 20 m (the label grid refined by 3: 549 px), a part of 460 x 256 px from row 40, col 150,
    # in cores of 204 px: rows in 3 windows, (0, 409), (0, 460), (204, 460), cut inside the
    # image after and before their cores, so the margins matter; columns in 2 whole-width
    # windows; not square, so rows and columns cannot be swapped unseen
    rows, cols = (40, 500), (150, 406)
    assert [s[2:] for s in ours.spans(460, 204)] == [(0, 409), (0, 460), (204, 460)]
    scene = scenes.select(native_catalog, [item_id], None)[0]
    det = ours.make({"resolution": 20, "tile_size": 204})
    with Reader(scene.require(BANDS, ours.NAME), scene.label_grid, det.target) as reader:
        assert reader.grid.shape == (549, 549)
        got = det.run(cast(Any, _Part(reader, rows, cols)))
    data, valid = reflectance(native_catalog, item_id, BANDS, per_label_cell=3)
    part = np.s_[rows[0] : rows[1], cols[0] : cols[1]]
    expected = _package(np.ascontiguousarray(data[part]), valid[part])
    assert got.shape == expected.shape == (460, 256)
    assert {0, 1} <= set(np.unique(expected).tolist())
    np.testing.assert_array_equal(got, expected)


def test_default_grid_is_30_m(label_catalog: Path, tmp_path: Path) -> None:
    item_id = _first(label_catalog)
    run = detect("ukis-csmask", label_catalog, tmp_path / "m", items=[item_id])
    data, valid = reflectance(label_catalog, item_id, BANDS, per_label_cell=2)
    with rasterio.open(run.masks[0].path) as src:
        got = src.read(1)
        assert src.res[0] == pytest.approx(300)  # the test catalog's 600 m cells halved
        tags = src.tags()
    np.testing.assert_array_equal(got, _package(data, valid))
    params = json.loads(tags["DETECTOR_PARAMETERS"])
    assert (params["product_level"], params["band_order"]) == ("l1c", ORDER)
    assert tags["DETECTOR_MODEL"] == "model_6b_l1c.onnx"
    assert tags["DETECTOR_VERSION"] == "1.0.0"


def test_a_grid_under_256_px_is_refused(label_catalog: Path, tmp_path: Path) -> None:
    with pytest.raises(MasksError, match="under the 256 x 256 px"):
        detect("ukis-csmask", label_catalog, tmp_path / "m", options={"resolution": 60})
    with pytest.raises(MasksError, match="multiple of 204"):
        detect("ukis-csmask", label_catalog, tmp_path / "m", options={"tile_size": 300})
