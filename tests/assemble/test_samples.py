from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pyogrio.raw
import pytest
import shapely

from stacgen import constants
from stacgen.assemble import samples
from stacgen.source.scene import SceneCopy
from stacgen.testing import synthetic


def _copy(
    folder: Path, shapefiles: list[Path] | None = None, subset: str = "Reference_dataset"
) -> SceneCopy:
    found = sorted(folder.glob("*.shp")) if shapefiles is None else shapefiles
    return SceneCopy(subset, folder.parent, {}, {}, tuple(found))


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
        samples.samples_geojson(
            [_copy(samples_dir, [*samples_dir.glob("*.shp"), odd])], "EPSG:32631"
        )


def test_every_point_once_with_its_class(samples_dir: Path) -> None:
    shapefiles = sorted(samples_dir.glob("*.shp"))
    found = samples.samples_geojson([_copy(samples_dir)], "EPSG:4326")
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
    data = samples.zip_shapefiles([_copy(samples_dir)])
    assert samples.zip_shapefiles([_copy(samples_dir, list(reversed(shapefiles)))]) == data
    zip_path = samples_dir.parent / "check.zip"
    zip_path.write_bytes(data)
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        assert names == sorted(names)
        for name in names:
            assert name.startswith(f"Reference_dataset/{constants.SAMPLES_DIR}/")
            assert archive.read(name) == (samples_dir / Path(name).name).read_bytes()
    zip_path.unlink()
    on_disk = {p.name for p in samples_dir.iterdir()}
    assert {Path(n).name for n in names} == on_disk


@pytest.fixture(scope="module")
def two_copies(tmp_path_factory: pytest.TempPathFactory) -> tuple[SceneCopy, SceneCopy]:
    folders = [f for f in constants.SCENE_FOLDERS if f.product == constants.SHARED_PRODUCT]
    top = synthetic.make_tree(tmp_path_factory.mktemp("two"), size=64, folders=folders)
    a, b = (top / f.subset / f.product / constants.SAMPLES_DIR for f in folders)
    return _copy(a), _copy(b, subset="Hollstein")


def _points(folder: Path) -> dict[str, list[tuple[float, float]]]:
    """Each layer's points in the file's own CRS, read with pyogrio (not stacgen)."""
    found = {}
    for shp in sorted(folder.glob("*.shp")):
        _, _, wkb, _ = pyogrio.raw.read(shp)
        points = shapely.from_wkb(wkb) if wkb is not None else []
        found[shp.stem] = [(p.x, p.y) for p in points]
    return found


def test_both_copies_points_kept_identical_ones_once(
    two_copies: tuple[SceneCopy, SceneCopy],
) -> None:
    first, second = two_copies
    found = samples.samples_geojson([first, second], "EPSG:4326")["features"]
    a, b = (
        _points(first.folder / constants.SAMPLES_DIR),
        _points(second.folder / constants.SAMPLES_DIR),
    )
    for layer in constants.SAMPLE_LAYERS:
        here = [f["properties"] for f in found if f["properties"]["layer"] == layer]
        # synthetic copies share a layer whole or not at all (their bytes say which)
        same = (first.folder / constants.SAMPLES_DIR / f"{layer}.dbf").read_bytes() == (
            second.folder / constants.SAMPLES_DIR / f"{layer}.dbf"
        ).read_bytes() and a[layer] == b[layer]
        if same:
            assert len(here) == len(a[layer])
            assert all(p["subsets"] == ["Reference_dataset", "Hollstein"] for p in here)
            assert all(p["subset"] == "Reference_dataset" for p in here)
        else:
            assert len(here) == len(a[layer]) + len(b[layer])
            assert sum(p["subsets"] == ["Hollstein"] for p in here) == len(b[layer])
            assert all(p["subset"] == p["subsets"][0] for p in here)
    assert len({f["id"] for f in found}) == len(found)


def test_zip_keeps_each_copy_under_its_subset(two_copies: tuple[SceneCopy, SceneCopy]) -> None:
    data = samples.zip_shapefiles(list(two_copies))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert names
        for copy in two_copies:
            folder = copy.folder / constants.SAMPLES_DIR
            mine = [n for n in names if n.startswith(f"{copy.subset}/{constants.SAMPLES_DIR}/")]
            assert {Path(n).name for n in mine} == {p.name for p in folder.iterdir()}
            for name in mine:
                assert archive.read(name) == (folder / Path(name).name).read_bytes()
