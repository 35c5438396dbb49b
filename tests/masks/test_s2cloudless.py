"""stacgen masks detect s2cloudless: the mask equals s2cloudless's own call on the same arrays."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from stacgen.masks.detect import detect
from stacgen.masks.errors import MasksError
from tests.masks.expected import reflectance

s2cloudless = pytest.importorskip("s2cloudless")

BANDS = ("B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12")


def _package_mask(data: np.ndarray, valid: np.ndarray, **params: object) -> np.ndarray:
    detector = s2cloudless.S2PixelCloudDetector(all_bands=False, **params)
    mask: np.ndarray = detector.get_cloud_masks(data[None])[0].astype(np.uint8)
    mask[~valid] = 255
    return mask


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        values: np.ndarray = src.read(1)
    return values


@pytest.fixture(scope="module")
def label_run(label_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("s2c") / "masks"
    detect("s2cloudless", label_catalog, out)
    return out


def test_label_grid_mask_is_the_packages(label_catalog: Path, label_run: Path) -> None:
    masks = sorted(label_run.glob("*_s2cloudless.tif"))
    assert masks
    for path in masks:
        item_id = path.name.removesuffix("_s2cloudless.tif")
        data, valid = reflectance(label_catalog, item_id, BANDS)
        expected = _package_mask(data, valid)
        got = _read(path)
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
    # the synthetic DN give both classes somewhere: the comparison is not between two blanks
    values = np.unique(np.concatenate([_read(p).ravel() for p in masks]))
    assert {0, 1} <= set(values.tolist())


def test_native_grid_is_averaged_onto_the_label_grid(native_catalog: Path, tmp_path: Path) -> None:
    run = detect("s2cloudless", native_catalog, tmp_path / "m", items=None)
    assert run.masks
    written = run.masks[0]
    data, valid = reflectance(native_catalog, written.item_id, BANDS)
    np.testing.assert_array_equal(_read(written.path), _package_mask(data, valid))


def test_parameters_and_coarser_grid(label_catalog: Path, tmp_path: Path) -> None:
    options = {"threshold": 0.55, "average_over": 2, "dilation_size": 0, "resolution": 120}
    first = sorted(p.parent.name for p in (label_catalog / "alcd-l1c").glob("*/*.json"))[0]
    run = detect("s2cloudless", label_catalog, tmp_path / "m", items=[first], options=options)
    data, valid = reflectance(label_catalog, first, BANDS, coarsen=2)
    expected = _package_mask(data, valid, threshold=0.55, average_over=2, dilation_size=0)
    got = _read(run.masks[0].path)
    np.testing.assert_array_equal(got, expected)
    with rasterio.open(run.masks[0].path) as src:
        tags = src.tags()
        assert src.res[0] == pytest.approx(2 * 600)  # the test catalog's label cells are 600 m
    params = json.loads(tags["DETECTOR_PARAMETERS"])
    assert params == {
        "threshold": 0.55,
        "average_over": 2,
        "dilation_size": 0,
        "all_bands": False,
        "resolution_m": 120,
    }


def test_tags_and_manifest_name_package_model_and_inputs(label_run: Path) -> None:
    manifest = json.loads((label_run / "manifest.json").read_text())
    model = (
        Path(s2cloudless.__file__).parent / "models" / "pixel_s2_cloud_detector_lightGBM_v0.1.txt"
    )
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    det = manifest["detector"]
    assert (det["package"], det["version"], det["model"]) == (
        "s2cloudless",
        "1.7.3",
        "pixel_s2_cloud_detector_lightGBM_v0.1.txt",
    )
    assert det["model_sha256"] == digest
    assert det["parameters"]["threshold"] == 0.4
    assert manifest["items"]
    entry = manifest["items"][0]
    mask = label_run / entry["file"]
    assert entry["sha256"] == hashlib.sha256(mask.read_bytes()).hexdigest()
    assert list(entry["imagery"]["bands"]) == list(BANDS)
    with rasterio.open(mask) as src:
        tags = src.tags()
        assert src.nodata == 255
        assert src.tags(1)["CLASS_1"] == "cloud"
    assert tags["DETECTOR_VERSION"] == "1.7.3"
    assert tags["DETECTOR_MODEL_SHA256"] == digest
    assert tags["STACGEN_ITEM"] == entry["id"]


def test_finer_than_the_label_grid_is_refused(label_catalog: Path, tmp_path: Path) -> None:
    with pytest.raises(MasksError, match="60 m or coarser"):
        detect("s2cloudless", label_catalog, tmp_path / "m", options={"resolution": 30})
    assert not (tmp_path / "m").exists()
