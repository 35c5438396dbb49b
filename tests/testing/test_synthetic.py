from __future__ import annotations

import gzip
import json
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pyogrio
import pyogrio.raw
import pytest
import rasterio
import rasterio.warp
import shapely
from rasterio.errors import NotGeoreferencedWarning

from stacgen import constants
from stacgen.constants import SceneFolder
from stacgen.testing import synthetic

SMALL = 183
TINY = 32
SIDECARS = (".shp", ".shx", ".dbf", ".prj")
SCENE_FILES = {
    *constants.REQUIRED_FILES,
    *(
        f"{constants.SAMPLES_DIR}/{layer}{ext}"
        for layer in constants.SAMPLE_LAYERS
        for ext in SIDECARS
    ),
}


@pytest.fixture(scope="module")
def small_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The representative folders at 183 px."""
    root = tmp_path_factory.mktemp("small")
    return synthetic.make_tree(root, size=SMALL, folders=synthetic.default_folders(6))


@pytest.fixture(scope="module")
def full_tgz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All 38 folders, at 32 px so that it is quick."""
    return synthetic.make_archive(tmp_path_factory.mktemp("full") / "a.tgz", size=TINY)


def _folders() -> tuple[SceneFolder, ...]:
    return synthetic.default_folders(6)


def _scene(top: Path, folder: SceneFolder) -> Path:
    return top / folder.subset / folder.product


def _members(tgz: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(tgz, "r:gz") as tar:
        return tar.getmembers()


# --- the grid ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tile", "lon", "lat"),
    [
        ("31TFJ", (4.0, 5.5), (43.0, 44.5)),  # Arles
        ("11SPC", (-116.0, -114.8), (38.0, 39.0)),  # Railroad Valley, Nevada
        ("49JGL", (112.0, 116.0), (-28.5, -26.0)),  # Western Australia
        ("35JPM", (27.5, 29.0), (-26.5, -25.0)),  # Pretoria
        ("37PGQ", (40.0, 42.0), (13.0, 14.0)),  # Ethiopia / Eritrea
        ("35VLJ", (22.5, 25.5), (61.0, 62.5)),  # southern Finland (band V: 56-64 N)
    ],
)
def test_tile_centre_lands_where_the_tile_is(
    tile: str, lon: tuple[float, float], lat: tuple[float, float]
) -> None:
    grid = synthetic.tile_grid(tile)
    half = synthetic.TILE_EXTENT_M / 2
    xs, ys = rasterio.warp.transform(grid.crs, "EPSG:4326", [grid.west + half], [grid.north - half])
    assert lon[0] < xs[0] < lon[1]
    assert lat[0] < ys[0] < lat[1]


@pytest.mark.parametrize(
    ("tile", "epsg", "west", "north"),
    [
        # Upper-left corners of real S2 L1C tiles (gdalinfo of the products): the synthetic
        # grid leaves out only the 20-40 m easting offsets of the real one.
        ("30TYN", 32630, 699960, 4800000),
        ("49SBB", 32649, 199980, 4200000),
    ],
)
def test_tile_grid_matches_real_s2_tiles(tile: str, epsg: int, west: float, north: float) -> None:
    grid = synthetic.tile_grid(tile)
    assert grid.epsg == epsg
    assert abs(grid.west - west) <= 40
    assert grid.north == north


def test_southern_bands_use_the_south_utm_crs() -> None:
    assert synthetic.tile_grid("35JPM").epsg == 32735
    assert synthetic.tile_grid("31TFJ").epsg == 32631


@pytest.mark.parametrize("tile", ["31T", "31TFJX", "31TSJ", "31IFJ", "31TFW"])
def test_bad_tile_ids_are_refused(tile: str) -> None:
    with pytest.raises(ValueError, match="not an MGRS tile id"):
        synthetic.tile_grid(tile)


# --- folder choice ----------------------------------------------------------------------------
def test_default_folders_none_is_all_38() -> None:
    assert synthetic.default_folders() == constants.SCENE_FOLDERS


def test_default_folders_small_subset_is_representative() -> None:
    folders = _folders()
    assert len(folders) == 6
    assert [f for f in constants.SCENE_FOLDERS if f in folders] == list(folders)
    shared = {f.subset for f in folders if f.product == constants.SHARED_PRODUCT}
    assert shared == set(constants.SUBSETS)
    compact = [f for f in folders if "_MSIL1C_" in f.product and "_OPER_" not in f.product]
    assert 2 <= len(compact) <= 4
    styles = [synthetic.scene_style(f.product) for f in folders]
    for attribute in ("nodata_tag", "lzw", "confidence_garbage", "class_field", "has_k"):
        assert {getattr(s, attribute) for s in styles} == {True, False}, attribute
    assert {s.has_snow for s in styles} == {True, False}
    assert {s.has_shadows for s in styles} == {True, False}
    assert {s.nodata_region for s in styles} == {"none", "left", "right", "wedge"}


@pytest.mark.parametrize("n", [0, 39])
def test_default_folders_refuses_impossible_counts(n: int) -> None:
    with pytest.raises(ValueError, match="between 1 and 38"):
        synthetic.default_folders(n)


# --- the tree ---------------------------------------------------------------------------------
def test_small_tree_has_exactly_the_scene_files(small_tree: Path) -> None:
    assert small_tree.name == constants.TOP_FOLDER
    for folder in _folders():
        scene = _scene(small_tree, folder)
        files = {p.relative_to(scene).as_posix() for p in scene.rglob("*") if p.is_file()}
        assert files == SCENE_FILES
    stray = sorted(p.name for p in small_tree.iterdir() if p.is_file())
    assert stray == ["README.txt", "list_of_products.txt"]


def test_rasters_are_uint8_on_the_tile_grid(small_tree: Path) -> None:
    folders = _folders()
    assert len(folders) == 6
    for folder in folders:
        grid = synthetic.tile_grid(folder.tile)
        for name in (constants.CLASSIFICATION_MAP, constants.CONFIDENCE_MAP):
            with rasterio.open(_scene(small_tree, folder) / name) as ds:
                assert (ds.count, ds.width, ds.height) == (1, SMALL, SMALL)
                assert ds.dtypes == ("uint8",)
                assert ds.crs.to_epsg() == grid.epsg
                assert ds.transform.a == pytest.approx(109_800 / SMALL)
                assert (ds.bounds.left, ds.bounds.top) == (grid.west, grid.north)
                assert ds.bounds.bottom == pytest.approx(grid.north - 109_800)


def test_full_size_pixel_is_60_m() -> None:
    assert synthetic.tile_grid("31TFJ").transform(constants.TILE_SIZE_PX).a == pytest.approx(
        constants.PIXEL_SIZE_M
    )


def _read(path: Path) -> tuple[np.ndarray, rasterio.profiles.Profile]:
    with rasterio.open(path) as ds:
        return ds.read(1), ds.profile


def test_labels_follow_each_scene_style(small_tree: Path) -> None:
    folders = _folders()
    assert len(folders) == 6
    for folder in folders:
        style = synthetic.scene_style(folder.product)
        labels, profile = _read(_scene(small_tree, folder) / constants.CLASSIFICATION_MAP)
        values = set(np.unique(labels).tolist())
        assert 1 not in values
        assert {2, 3, 5, 6} <= values
        assert (4 in values) == style.has_shadows
        assert (7 in values) == style.has_snow
        assert (0 in values) == (style.nodata_region != "none")
        assert profile["nodata"] == (0 if style.nodata_tag else None)
        assert profile.get("compress") == ("lzw" if style.lzw else None)


def test_exactly_two_products_lack_shadows_in_the_full_archive() -> None:
    lacking = {
        f.product
        for f in constants.SCENE_FOLDERS
        if not synthetic.scene_style(f.product).has_shadows
    }
    assert lacking == set(synthetic.NO_SHADOW_PRODUCTS)
    assert len(lacking) == 2


def test_confidence_is_valid_where_labelled_and_sometimes_garbage_elsewhere(
    small_tree: Path,
) -> None:
    garbage_seen = zero_seen = False
    for folder in _folders():
        labels, _ = _read(_scene(small_tree, folder) / constants.CLASSIFICATION_MAP)
        confidence, _ = _read(_scene(small_tree, folder) / constants.CONFIDENCE_MAP)
        assert confidence[labels > 0].min() >= 40
        outside = confidence[labels == 0]
        if outside.size:
            garbage_seen |= bool((outside > 0).all())
            zero_seen |= bool((outside == 0).all())
    assert garbage_seen
    assert zero_seen


def test_contours_png_is_rgb_on_the_same_pixels_and_not_georeferenced(small_tree: Path) -> None:
    folders = _folders()
    assert len(folders) == 6
    for folder in folders:
        png = _scene(small_tree, folder) / constants.CONTOURS
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        with pytest.warns(NotGeoreferencedWarning):
            ds = rasterio.open(png)
        with ds:
            assert ds.driver == "PNG"
            assert (ds.count, ds.width, ds.height) == (3, SMALL, SMALL)
            rgb = ds.read()
        labels, _ = _read(_scene(small_tree, folder) / constants.CLASSIFICATION_MAP)
        painted = (rgb == np.array([0, 201, 13])[:, None, None]).all(axis=0)
        assert painted.any()  # cloud outlines
        assert np.isin(labels[painted], constants.CLOUD_VALUES).all()


def _shared_copies(top: Path) -> tuple[Path, Path]:
    a, b = (_scene(top, f) for f in _folders() if f.product == constants.SHARED_PRODUCT)
    return a, b


def test_shared_product_copies_differ_in_samples_statistics_and_parameters(
    small_tree: Path,
) -> None:
    a, b = _shared_copies(small_tree)
    assert (a.parent.name, b.parent.name) == constants.SUBSETS
    rasters = (constants.CLASSIFICATION_MAP, constants.CONFIDENCE_MAP, constants.CONTOURS)
    for name in rasters:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / constants.STATISTICS).read_bytes() != (b / constants.STATISTICS).read_bytes()
    pa = json.loads((a / constants.PARAMETERS).read_text())
    pb = json.loads((b / constants.PARAMETERS).read_text())
    assert {k for k in pa if pa[k] != pb[k]} == {"nb_samples"}
    layers = [f"{constants.SAMPLES_DIR}/{layer}.shp" for layer in constants.SAMPLE_LAYERS]
    same = [n for n in layers if (a / n).read_bytes() == (b / n).read_bytes()]
    assert 0 < len(same) < len(layers)  # some points in both copies, some in one only


def test_identical_copies_on_request(tmp_path: Path) -> None:
    folders = [f for f in constants.SCENE_FOLDERS if f.product == constants.SHARED_PRODUCT]
    top = synthetic.make_tree(tmp_path, size=TINY, folders=folders, identical_copies=True)
    assert len(folders) == 2  # the shared product's two copies
    a, b = (top / f.subset / f.product for f in folders)
    for name in SCENE_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def _sensing_day(product: str) -> str:
    if "_OPER_" in product:
        return product.split("_V")[1][:8]
    return product.split("_")[2][:8]


def test_used_parameters(small_tree: Path) -> None:
    folders = _folders()
    assert len(folders) == 6
    for folder in folders:
        params = json.loads((_scene(small_tree, folder) / constants.PARAMETERS).read_text())
        assert params["cloudy_product_name"] == folder.product
        assert params["tile"] == folder.tile
        assert params["cloudy_date"] == _sensing_day(folder.product)
        assert params["clear_date"] < params["cloudy_date"]
        assert _sensing_day(params["clear_product_name"]) == params["clear_date"]
        assert params["location"].startswith(folder.site)
        assert {"user_function", "resolution", "nb_samples"} <= params.keys()
        assert all(not isinstance(v, dict | list) for v in params.values())  # flat


def test_k_fold_summary_is_consistent(small_tree: Path) -> None:
    has_k = []
    for folder in _folders():
        summary = json.loads((_scene(small_tree, folder) / constants.STATISTICS).read_text())
        assert summary["metrics_names"] == list(constants.METRIC_NAMES)
        metrics = np.array(summary["all_metrics"])
        assert metrics.shape == (10, 5)
        assert ((metrics >= 0.8) & (metrics <= 1.0)).all()
        assert np.allclose(summary["means"], metrics.mean(axis=0), rtol=0, atol=1e-12)
        assert np.allclose(summary["stds"], metrics.std(axis=0, ddof=0), rtol=0, atol=1e-12)
        has_k.append("K" in summary)
        if "K" in summary:
            assert summary["K"] == len(metrics)
    assert set(has_k) == {True, False}


def test_samples_are_point_shapefiles_on_their_class(small_tree: Path) -> None:
    fields_seen: set[tuple[str, ...]] = set()
    for folder in _folders():
        scene = _scene(small_tree, folder)
        labels, profile = _read(scene / constants.CLASSIFICATION_MAP)
        inverse = ~profile["transform"]
        for layer, value in constants.SAMPLE_LAYERS.items():
            shp = scene / constants.SAMPLES_DIR / f"{layer}.shp"
            info = pyogrio.read_info(shp)
            assert info["crs"] == f"EPSG:{synthetic.tile_grid(folder.tile).epsg}"
            assert info["geometry_type"] == "Point"
            assert shp.with_suffix(".prj").read_text().startswith('PROJCS["WGS_1984_UTM_Zone_')
            fields_seen.add(tuple(info["fields"]))
            _, _, wkb, _ = pyogrio.raw.read(shp)
            xy = shapely.get_coordinates(shapely.from_wkb(wkb))
            assert (len(xy) > 0) == (value in labels)
            if len(xy):
                assert 20 <= len(xy) < 90
                cols, rows = inverse @ (xy[:, 0], xy[:, 1])
                assert (labels[rows.astype(int), cols.astype(int)] == value).all()
    assert fields_seen == {("id",), ("id", "class")}


def test_class_field_is_mostly_null(small_tree: Path) -> None:
    folder = next(f for f in _folders() if synthetic.scene_style(f.product).class_field)
    shp = _scene(small_tree, folder) / constants.SAMPLES_DIR / "low_clouds.shp"
    _, _, _, (ids, classes) = pyogrio.raw.read(shp)
    assert len(ids) > 0
    assert np.isnan(classes).sum() > len(ids) / 3
    assert set(classes[~np.isnan(classes)].tolist()) <= {2.0}


def test_make_tree_refuses_an_existing_top_folder(small_tree: Path) -> None:
    with pytest.raises(FileExistsError, match="already exists"):
        synthetic.make_tree(small_tree.parent, size=16, folders=_folders()[:1])


def test_make_tree_refuses_a_duplicate_folder(tmp_path: Path) -> None:
    folder = constants.SCENE_FOLDERS[0]
    with pytest.raises(ValueError, match="listed twice"):
        synthetic.make_tree(tmp_path, size=16, folders=[folder, folder])
    assert list(tmp_path.iterdir()) == []


# --- the archive ------------------------------------------------------------------------------
def test_full_archive_layout_and_file_count(full_tgz: Path) -> None:
    members = _members(full_tgz)
    top = constants.TOP_FOLDER
    assert all(m.name == top or m.name.startswith(top + "/") for m in members)
    dirs = {m.name for m in members if m.isdir()}
    assert {top, *(f"{top}/{s}" for s in constants.SUBSETS)} <= dirs
    files = [m.name for m in members if m.isfile()]
    assert len(files) == len(members) - len(dirs)
    assert len(files) == 1256
    per_folder = Counter("/".join(n.split("/")[1:3]) for n in files if n.count("/") > 2)
    expected = {f"{f.subset}/{f.product}" for f in constants.SCENE_FOLDERS}
    assert set(per_folder) == expected
    assert set(per_folder.values()) == {33}
    shared = [k for k in per_folder if k.endswith(constants.SHARED_PRODUCT)]
    assert sorted(shared) == [
        f"{s}/{constants.SHARED_PRODUCT}" for s in ("Hollstein", "Reference_dataset")
    ]


def test_pack_members_are_sorted_with_fixed_metadata(full_tgz: Path) -> None:
    members = _members(full_tgz)
    names = [m.name for m in members]
    assert names[0] == constants.TOP_FOLDER
    for m in members:
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (
            members[0].mtime,
            1000,
            1000,
            "alcd",
            "alcd",
        )
    # depth-first and sorted: every folder comes right before its own entries
    parents = [n.rsplit("/", 1)[0] for n in names[1:]]
    assert all(p in names[: i + 1] for i, p in enumerate(parents))
    with full_tgz.open("rb") as fh:
        header = fh.read(10)
    assert header[:2] == b"\x1f\x8b"
    assert header[4:8] == b"\0\0\0\0"  # gzip mtime 0
    assert header[3] & 0x08 == 0  # no file name in the gzip header


def test_same_arguments_give_byte_identical_archives(tmp_path: Path) -> None:
    folders = _folders()[:2]
    a = synthetic.make_archive(tmp_path / "a.tgz", size=24, folders=folders)
    b = synthetic.make_archive(tmp_path / "sub" / "b.tgz", size=24, folders=folders)
    c = synthetic.make_archive(tmp_path / "c.tgz", size=24, folders=folders, seed=1)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_parallel_workers_give_the_same_archive(tmp_path: Path) -> None:
    folders = _folders()[:3]
    a = synthetic.make_archive(tmp_path / "a.tgz", size=24, folders=folders)
    b = synthetic.make_archive(tmp_path / "b.tgz", size=24, folders=folders, workers=2)
    assert a.read_bytes() == b.read_bytes()


def test_pack_twice_is_identical(small_tree: Path, tmp_path: Path) -> None:
    a = synthetic.pack(small_tree, tmp_path / "one.tgz")
    b = synthetic.pack(small_tree, tmp_path / "two.tgz")
    assert a.read_bytes() == b.read_bytes()
    assert gzip.decompress(a.read_bytes())  # a valid gzip stream


def test_pack_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such folder"):
        synthetic.pack(tmp_path / "nope", tmp_path / "x.tgz")


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("escape", lambda m: m.isfile() and m.name.split("/")[0] == ".."),
        ("absolute", lambda m: m.isfile() and m.name.startswith("/")),
        ("symlink", lambda m: m.issym() and m.linkname.startswith("../../../")),
        ("hardlink", lambda m: m.islnk() and m.linkname.startswith("/")),
        ("device", lambda m: m.ischr()),
    ],
)
def test_hostile_archives_hold_their_bad_member(tmp_path: Path, kind: str, check: object) -> None:
    tgz = synthetic.make_hostile_archive(tmp_path / f"{kind}.tgz", kind)  # type: ignore[arg-type]
    members = _members(tgz)
    assert members[0].name == constants.TOP_FOLDER
    assert members[0].isdir()
    bad = [m for m in members if check(m)]  # type: ignore[operator]
    assert len(bad) == 1
    assert bad[0] is members[-1]
    assert all(m.isdir() or m.isfile() for m in members[:-1])
    assert all(m.name.startswith(constants.TOP_FOLDER) for m in members[:-1])


def test_command_line_writes_the_representative_archive(tmp_path: Path) -> None:
    out = tmp_path / "cli.tgz"
    assert synthetic.main([str(out), "--size", "16", "--workers", "1"]) == 0
    names = {m.name for m in _members(out)}
    for folder in synthetic.default_folders(synthetic.REPRESENTATIVE_COUNT):
        assert f"{constants.TOP_FOLDER}/{folder.subset}/{folder.product}" in names
    assert sum(n.endswith("classification_map.tif") for n in names) == 6
