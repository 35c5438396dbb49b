"""`stacgen chips export`: the files against the catalog's COGs read by rasterio, the index as
GeoParquet readers take it, TorchGeo's way of reading the tif folders, the --out rule, the
no-op second run and the missing imagery's one line."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
import rasterio.merge
import shapely
from affine import Affine
from click.testing import CliRunner
from rasterio.crs import CRS
from rasterio.warp import transform as warp_points

from stacgen.cli import main
from stacgen.ml import export
from stacgen.ml.export import ExportOptions, export_chips
from tests.ml.helpers import alcd_index, band_path, label_item, label_path, read_at

BANDS = ("B01", "B05")


def _invoke(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback is a bug: show it
    return result.exit_code, result.output


def _rows(out: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pq.read_table(out / "index.parquet").to_pylist()
    return rows


@pytest.fixture(scope="module")
def tif_export(label_grid_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("chips") / "tif"
    code, output = _invoke(
        "chips", "export", label_grid_catalog, "--split", "train", "--grid", "60",
        "--size", "64", "--stride", "48", "--bands", ",".join(BANDS), "--min-valid", "0",
        "--out", out, "--quiet",
    )  # fmt: skip
    assert code == 0, output
    return out


def _sample(row: dict[str, Any]) -> dict[str, Any]:
    """What the chip reading helpers take: the chip's CRS, transform and window."""
    window = (row["row"], row["col"], row["height"], row["width"])
    return {"crs": row["crs"], "transform": row["transform"], "window": window}


def test_tif_chips_equal_the_cogs_at_the_same_coordinates(
    tif_export: Path, label_grid_catalog: Path
) -> None:
    rows = _rows(tif_export)
    assert len(rows) > 4
    for row in rows:
        sample = _sample(row)
        with rasterio.open(tif_export / row["image_path"]) as src:
            assert src.count == len(BANDS)
            assert src.dtypes == ("float32",) * len(BANDS)
            assert src.descriptions == BANDS
            assert src.nodata is None
            assert src.crs == CRS.from_user_input(row["crs"])
            assert src.transform == Affine(*row["transform"])
            image = src.read()
        for b, band in enumerate(BANDS):
            expected = read_at(band_path(label_grid_catalog, row["item"], band), sample) / 10000
            np.testing.assert_allclose(image[b], expected, rtol=1e-6, atol=0)
        with rasterio.open(tif_export / row["label_path"]) as src:
            assert src.dtypes == ("int16",)
            assert src.nodata is None  # -100 stays -100 for readers that mask nodata
            labels = src.read(1)
        expected_labels = alcd_index(read_at(label_path(label_grid_catalog, row["item"]), sample))
        np.testing.assert_array_equal(labels, expected_labels)


def test_the_index_row_says_where_the_chip_is_and_what_it_holds(
    tif_export: Path, label_grid_catalog: Path
) -> None:
    rows = _rows(tif_export)
    assert rows
    names = json.loads((tif_export / ".stacgen-chips.json").read_text())["classes"]
    assert len(names) == 7
    for row in rows:
        item = label_item(label_grid_catalog, row["item"])
        props = item["properties"]
        assert row["split"] == props["ml-aoi:split"] == "train"
        assert row["crs"] == props["proj:code"]
        t = Affine(*props["proj:transform"][:6])
        assert Affine(*row["transform"]) == t * Affine.translation(row["col"], row["row"])
        assert row["datetime"] == datetime.fromisoformat(props["datetime"]).astimezone(UTC)
        labels = read_at(label_path(label_grid_catalog, row["item"]), _sample(row))
        counts = np.bincount(labels.ravel(), minlength=8)
        assert row["share_ignored"] == pytest.approx((counts[0] + counts[1]) / labels.size)
        for value, name in enumerate(names, start=1):  # alcd: index = value - 1
            assert row[f"share_{name}"] == pytest.approx(counts[value] / labels.size)


def test_the_index_is_geoparquet_with_wgs84_footprints(tif_export: Path) -> None:
    table = pq.read_table(tif_export / "index.parquet")
    geo = json.loads(table.schema.metadata[b"geo"])
    assert geo["version"] == "1.1.0"
    assert geo["primary_column"] == "geometry"
    column = geo["columns"]["geometry"]
    assert column["encoding"] == "WKB"
    assert "crs" not in column  # GeoParquet: none given means OGC:CRS84 (lon, lat)
    rows = table.to_pylist()
    assert rows
    shapes = shapely.from_wkb([r["geometry"] for r in rows])
    assert column["bbox"] == pytest.approx(list(shapely.total_bounds(shapes)))
    for row, shape in zip(rows, shapes, strict=True):
        t = Affine(*row["transform"])
        corners = [t * (0, 0), t * (row["width"], 0), t * (0, row["height"])]
        corners.append(t * (row["width"], row["height"]))
        centre = t * (row["width"] / 2, row["height"] / 2)
        xs, ys = (list(c) for c in zip(*corners, centre, strict=True))
        lons, lats = warp_points(row["crs"], "EPSG:4326", xs, ys)
        assert shape.geom_type == "Polygon"
        assert shape.contains(shapely.Point(lons[-1], lats[-1]))
        for lon, lat in zip(lons[:4], lats[:4], strict=True):
            assert shape.exterior.distance(shapely.Point(lon, lat)) < 1e-9


def test_the_index_reads_with_geopandas(tif_export: Path) -> None:
    import geopandas  # type: ignore[import-untyped]  # stac-geoparquet's dependency

    frame = geopandas.read_parquet(tif_export / "index.parquet")
    assert len(frame) == len(_rows(tif_export)) > 0
    assert frame.crs.to_string() == "OGC:CRS84"
    assert frame.geometry.is_valid.all()


# --- TorchGeo: RasterDataset(paths=images) and RasterDataset(paths=labels), as it reads them ---
def _torchgeo_files(root: Path) -> list[Path]:
    """RasterDataset's file list: glob `**/<filename_glob>` under `paths` (recursive)."""
    return sorted(root.glob("**/*.tif"))


def test_torchgeo_finds_image_and_label_files_with_their_dates(tif_export: Path) -> None:
    rows = _rows(tif_export)
    images = _torchgeo_files(tif_export / "images")
    labels = _torchgeo_files(tif_export / "labels")
    assert len(images) == len(labels) == len(rows) > 0
    regex = re.compile(export.FILENAME_REGEX)
    by_path = {r["image_path"]: r for r in rows}
    for path in images:
        match = regex.match(path.name)
        assert match is not None, path.name
        row = by_path[path.relative_to(tif_export).as_posix()]
        when = datetime.strptime(match["date"], export.DATE_FORMAT).replace(tzinfo=UTC)
        assert when == row["datetime"].replace(microsecond=0)
        assert (tif_export / row["label_path"]).name == path.name
        for file in (path, tif_export / row["label_path"]):
            with rasterio.open(file) as src:  # RasterDataset: CRS, res and bounds of each file
                assert src.crs == CRS.from_user_input(row["crs"])
                assert src.res == (abs(row["transform"][0]), abs(row["transform"][4]))
                assert tuple(src.bounds) == pytest.approx(_bounds(row))


def test_torchgeo_merge_of_a_query_gives_the_chip(
    tif_export: Path, label_grid_catalog: Path
) -> None:
    """RasterDataset.__getitem__: the files whose bounds and date meet the query, merged by
    rasterio.merge.merge at the dataset's res (the first file's): here one chip's bounds and
    date, which must give that chip's label and image exactly."""
    rows = _rows(tif_export)
    assert rows
    for row in rows[:: max(1, len(rows) // 6)]:
        t = Affine(*row["transform"])
        left, top = t * (0, 0)
        right, bottom = t * (row["width"], row["height"])
        same_time = [r for r in rows if r["datetime"] == row["datetime"]]
        meeting = [
            r
            for r in same_time
            if _bounds(r)[0] < right and _bounds(r)[2] > left
            and _bounds(r)[1] < top and _bounds(r)[3] > bottom
        ]  # fmt: skip
        for kind in ("label_path", "image_path"):
            sources = [rasterio.open(tif_export / r[kind]) for r in meeting]
            try:
                merged, _ = rasterio.merge.merge(sources, bounds=(left, bottom, right, top))
            finally:
                for s in sources:
                    s.close()
            with rasterio.open(tif_export / row[kind]) as own:
                np.testing.assert_array_equal(merged, own.read())
        expected = alcd_index(read_at(label_path(label_grid_catalog, row["item"]), _sample(row)))
        with rasterio.open(tif_export / row["label_path"]) as own:
            np.testing.assert_array_equal(own.read(1), expected)


def _bounds(row: dict[str, Any]) -> tuple[float, float, float, float]:
    t = Affine(*row["transform"])
    left, top = t * (0, 0)
    right, bottom = t * (row["width"], row["height"])
    return (left, bottom, right, top)


# --- npz ---------------------------------------------------------------------------------------
def test_npz_chips_hold_image_and_mask(label_grid_catalog: Path, tmp_path: Path) -> None:
    options = ExportOptions("validate", 60, 50, format="npz", bands=("B02",), classes="binary")
    result = export_chips(label_grid_catalog, tmp_path / "npz", options)
    rows = _rows(result.out)
    assert result.written
    assert len(rows) == result.chips > 0
    for row in rows:
        assert row["image_path"] == row["label_path"]
        with np.load(result.out / row["image_path"]) as chip:
            image, mask = chip["image"], chip["mask"]
        sample = _sample(row)
        dn = read_at(band_path(label_grid_catalog, row["item"], "B02"), sample)
        np.testing.assert_allclose(image[0], dn / 10000, rtol=1e-6)
        values = read_at(label_path(label_grid_catalog, row["item"]), sample)
        binary = np.select([np.isin(values, (5, 6, 7)), np.isin(values, (2, 3, 4))], [0, 1], -100)
        np.testing.assert_array_equal(mask, binary)


# --- runs and folders ----------------------------------------------------------------------------
def _state(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
    }


def test_a_second_run_with_the_same_options_writes_nothing(
    label_grid_catalog: Path, tmp_path: Path
) -> None:
    out = tmp_path / "again"
    args: list[str | Path] = ["chips", "export", label_grid_catalog, "--split", "test"]
    args += ["--grid", "60"]
    args += ["--size", "60", "--out", out]
    code, output = _invoke(*args)
    assert code == 0, output
    assert "written" in output
    before = _state(out)
    assert before
    folder_inode = out.stat().st_ino
    code, output = _invoke(*args)
    assert code == 0, output
    assert "up to date, nothing written" in output
    assert _state(out) == before
    assert out.stat().st_ino == folder_inode
    code, output = _invoke(*args[:-2], "--stride", "30", "--out", out)  # other options: rewritten
    assert code == 0, output
    assert "(written)" in output
    assert len(_rows(out)) > len([k for k in before if k.endswith(".tif")]) // 2


def test_out_must_be_missing_empty_or_an_export(label_grid_catalog: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me too")
    for out, text in ((foreign, "not a chips export"), (a_file, "not a folder")):
        code, output = _invoke(
            "chips", "export", label_grid_catalog, "--split", "test", "--grid", "60",
            "--size", "60", "--out", out,
        )  # fmt: skip
        assert code == 1
        assert text in output
        assert len(output.strip().splitlines()) == 1
    assert (foreign / "notes.txt").read_text() == "keep me"
    assert a_file.read_text() == "keep me too"
    empty = tmp_path / "empty"
    empty.mkdir()
    result = export_chips(label_grid_catalog, empty, ExportOptions("test", 60, 60))
    assert result.written
    assert (empty / "index.parquet").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "empty", "mine"]


def test_a_failed_export_leaves_the_folder_as_it_was(
    label_grid_catalog: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    export_chips(label_grid_catalog, out, ExportOptions("test", 60, 60))
    before = _state(out)
    calls = []

    def failing(*args: Any) -> None:
        calls.append(args)
        if len(calls) > 3:
            raise OSError(28, "No space left on device")
        real(*args)

    real = export._write_tif
    monkeypatch.setattr(export, "_write_tif", failing)
    with pytest.raises(OSError, match="No space"):
        export_chips(label_grid_catalog, out, ExportOptions("test", 60, 40))
    assert len(calls) == 4
    assert _state(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temp folder left


def test_missing_imagery_is_one_line_with_the_fetch_command(
    bare_catalog: Path, tmp_path: Path
) -> None:
    out = tmp_path / "chips"
    code, output = _invoke(
        "chips", "export", bare_catalog, "--split", "train", "--grid", "20", "--size", "64",
        "--out", out,
    )  # fmt: skip
    assert code == 1
    lines = output.strip().splitlines()
    assert len(lines) == 1
    assert "no imagery for" in lines[0]
    expected = f"stacgen imagery fetch {bare_catalog} --provider NAME --split train --grid native"
    assert expected in lines[0]
    assert not out.exists()
    train = [
        p.name
        for p in (bare_catalog / "alcd-reference-cloud-masks").iterdir()
        if (p / f"{p.name}.json").is_file()
        and label_item(bare_catalog, p.name)["properties"]["ml-aoi:split"] == "train"
    ]
    assert train
    for item_id in train:
        assert item_id in lines[0]


def test_file_modes_follow_the_umask(tif_export: Path) -> None:
    files = [p for p in tif_export.rglob("*") if p.is_file()]
    assert files
    mask = os.umask(0)
    os.umask(mask)
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_chips_larger_than_every_item_give_an_empty_index(
    label_grid_catalog: Path, tmp_path: Path
) -> None:
    result = export_chips(label_grid_catalog, tmp_path / "none", ExportOptions("test", 60, 500))
    assert result.written
    assert result.chips == 0
    table = pq.read_table(result.index)
    assert table.num_rows == 0
    assert "geometry" in table.column_names
