"""stacgen masks detect ukis-csmask: the mask equals ukis-csmask's own call on the whole array,
though stacgen calls it on windows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from stacgen.masks import ukis_csmask as ours
from stacgen.masks.detect import detect
from stacgen.masks.errors import MasksError
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


def test_windowed_mask_is_the_whole_image_call(native_catalog: Path, tmp_path: Path) -> None:
    item_id = _first(native_catalog)
    # 20 m (the label grid refined by 3: 549 px) in cores of 204 px: 9 windows, cut inside
    # the image before and after their cores, so the margins matter
    options = {"resolution": 20, "tile_size": 204}
    run = detect("ukis-csmask", native_catalog, tmp_path / "m", items=[item_id], options=options)
    data, valid = reflectance(native_catalog, item_id, BANDS, per_label_cell=3)
    expected = _package(data, valid)
    with rasterio.open(run.masks[0].path) as src:
        got = src.read(1)
        tags = src.tags()
    assert got.shape == expected.shape == (549, 549)
    assert {0, 1} <= set(np.unique(expected).tolist())
    np.testing.assert_array_equal(got, expected)
    params = json.loads(tags["DETECTOR_PARAMETERS"])
    assert (params["product_level"], params["band_order"]) == ("l1c", ORDER)
    assert tags["DETECTOR_MODEL"] == "model_6b_l1c.onnx"
    assert tags["DETECTOR_VERSION"] == "1.0.0"


def test_default_grid_is_30_m(label_catalog: Path, tmp_path: Path) -> None:
    item_id = _first(label_catalog)
    run = detect("ukis-csmask", label_catalog, tmp_path / "m", items=[item_id])
    data, valid = reflectance(label_catalog, item_id, BANDS, per_label_cell=2)
    with rasterio.open(run.masks[0].path) as src:
        got = src.read(1)
        assert src.res[0] == pytest.approx(300)  # the test catalog's 600 m cells halved
    np.testing.assert_array_equal(got, _package(data, valid))


def test_a_grid_under_256_px_is_refused(label_catalog: Path, tmp_path: Path) -> None:
    with pytest.raises(MasksError, match="under the 256 x 256 px"):
        detect("ukis-csmask", label_catalog, tmp_path / "m", options={"resolution": 60})
    with pytest.raises(MasksError, match="multiple of 204"):
        detect("ukis-csmask", label_catalog, tmp_path / "m", options={"tile_size": 300})
