from __future__ import annotations

import zipfile
from pathlib import Path

import pyogrio.raw
import pytest
import shapely

from stacgen import constants
from stacgen.build import samples
from stacgen.testing import synthetic


@pytest.fixture(scope="module")
def samples_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = synthetic.default_folders(1)[0]
    top = synthetic.make_tree(tmp_path_factory.mktemp("s"), size=64, folders=[folder])
    return top / folder.subset / folder.product / constants.SAMPLES_DIR


def test_class_comes_from_the_layer_name(tmp_path: Path) -> None:
    assert samples.layer_class(tmp_path / "clouds_shadows.shp") == 4
    assert samples.layer_class(tmp_path / "background.shp") == 1
    with pytest.raises(samples.SamplesError, match=r"trees.shp: unknown sample layer 'trees'"):
        samples.layer_class(tmp_path / "trees.shp")


def test_unknown_layer_in_a_scene_is_an_error(samples_dir: Path, tmp_path: Path) -> None:
    odd = tmp_path / "trees.shp"
    odd.write_bytes((samples_dir / "land.shp").read_bytes())
    with pytest.raises(samples.SamplesError, match="unknown sample layer"):
        samples.samples_geojson([*samples_dir.glob("*.shp"), odd], "EPSG:32631")


def test_every_point_once_with_its_class(samples_dir: Path) -> None:
    shapefiles = sorted(samples_dir.glob("*.shp"))
    found = samples.samples_geojson(shapefiles, "EPSG:4326")
    expected = 0
    for shp in shapefiles:
        _, _, wkb, _ = pyogrio.raw.read(shp)
        count = 0 if wkb is None else len(shapely.from_wkb(wkb))
        expected += count
        layer = [f for f in found["features"] if f["properties"]["layer"] == shp.stem]
        assert len(layer) == count  # an empty layer gives no feature and no error
        assert {f["properties"]["class"] for f in layer} <= {constants.SAMPLE_LAYERS[shp.stem]}
    assert len(found["features"]) == expected > 0
    assert len({f["id"] for f in found["features"]}) == expected


def test_zip_holds_the_shapefiles_untouched_and_is_stable(samples_dir: Path) -> None:
    shapefiles = sorted(samples_dir.glob("*.shp"))
    data = samples.zip_shapefiles(shapefiles)
    assert samples.zip_shapefiles(list(reversed(shapefiles))) == data
    zip_path = samples_dir.parent / "check.zip"
    zip_path.write_bytes(data)
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        assert names == sorted(names)
        for name in names:
            assert archive.read(name) == (samples_dir / Path(name).name).read_bytes()
    zip_path.unlink()
    on_disk = {p.name for p in samples_dir.iterdir()}
    assert {Path(n).name for n in names} == on_disk
