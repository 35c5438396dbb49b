"""Item and collection metadata: golden files, and values recomputed from the synthetic data."""

from __future__ import annotations

import json
import logging
import re
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pyogrio.raw
import pytest
import rasterio
import rasterio.warp
import shapely
import shapely.geometry
import stac_geoparquet.arrow

from stacgen import constants
from stacgen.assemble.pipeline import BuildOptions, build
from stacgen.layout import labels
from stacgen.source import naming
from stacgen.source.naming import parse_product_name
from stacgen.stac import collection as stac_collection

COLL = constants.COLLECTION_ID
GOLDEN = Path(__file__).parent / "golden"
# Bytes of COGs and zips depend on the GDAL and zlib versions, not on stacgen.
VOLATILE = {"file:size", "file:checksum"}


def _item(catalog: Path, item_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((catalog / COLL / item_id / f"{item_id}.json").read_text())
    return data


def _items(catalog: Path) -> list[dict[str, Any]]:
    return [_item(catalog, p.name) for p in sorted((catalog / COLL).iterdir()) if p.is_dir()]


def _scene_dir(top: Path, item_id: str) -> Path:
    """The folder the item was made from: the first subset's copy for the shared product."""
    for subset in constants.SUBSETS:
        if (top / subset / item_id).is_dir():
            return top / subset / item_id
    raise AssertionError(f"no scene folder for {item_id}")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _drop_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_volatile(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_drop_volatile(v) for v in value]
    return value


def _pick(catalog: Path) -> dict[str, str]:
    ids = [i["id"] for i in _items(catalog)]
    legacy = [i for i in ids if parse_product_name(i).form == "legacy"]
    return {
        "item_compact": next(i for i in ids if parse_product_name(i).form == "compact"),
        "item_legacy": next(i for i in legacy if i != constants.SHARED_PRODUCT),
        "item_shared": constants.SHARED_PRODUCT,
    }


def test_golden_files(built_catalog: Path, request: pytest.FixtureRequest) -> None:
    current = {
        name: _item(built_catalog, item_id) for name, item_id in _pick(built_catalog).items()
    }
    current["collection"] = json.loads((built_catalog / COLL / "collection.json").read_text())
    if request.config.getoption("--update-golden"):
        for name, data in current.items():
            (GOLDEN / f"{name}.json").write_text(json.dumps(_drop_volatile(data), indent=2) + "\n")
        # Files just written from the build would only be compared with themselves.
        pytest.skip(f"golden files rewritten in {GOLDEN}: review the diff, then run without it")
    assert sorted(current) == sorted(p.stem for p in GOLDEN.glob("*.json"))
    for name, data in current.items():
        path = GOLDEN / f"{name}.json"
        assert path.exists(), f"{path} missing: run pytest --update-golden once"
        assert _drop_volatile(data) == json.loads(path.read_text()), name


def test_class_counts_and_covers_equal_the_raster(built_catalog: Path, archive_top: Path) -> None:
    items = _items(built_catalog)
    assert items
    for item in items:
        with rasterio.open(
            _scene_dir(archive_top, item["id"]) / constants.CLASSIFICATION_MAP
        ) as src:
            counts = np.bincount(src.read(1).ravel(), minlength=8)
        total, valid = counts.sum(), counts[1:].sum()
        classes = item["assets"]["classification"]["classification:classes"]
        assert [c["count"] for c in classes] == counts.tolist()
        for c in classes:
            assert c["percentage"] == pytest.approx(100 * counts[c["value"]] / total, abs=1e-4)
        # One copy of the classes and their counts, on the asset: none on its one band.
        (band,) = item["assets"]["classification"]["raster:bands"]
        assert "classification:classes" not in band
        assert "label:overviews" not in item["properties"]  # the asset's are the one copy
        expected = {c.name: int(counts[c.value]) for c in constants.CLASSES}
        assert labels.pixel_counts(item) == expected
        props = item["properties"]
        assert props["eo:cloud_cover"] == pytest.approx(
            100 * (counts[2] + counts[3]) / valid, abs=1e-4
        )
        assert props["eo:snow_cover"] == pytest.approx(100 * counts[7] / valid, abs=1e-4)
        assert props["alcd:shadow_cover"] == pytest.approx(100 * counts[4] / valid, abs=1e-4)
        assert props["alcd:water_cover"] == pytest.approx(100 * counts[6] / valid, abs=1e-4)


def test_footprint_lies_inside_the_tile_and_covers_the_valid_pixels(
    built_catalog: Path, archive_top: Path
) -> None:
    items = _items(built_catalog)
    assert items
    for item in items:
        path = _scene_dir(archive_top, item["id"]) / constants.CLASSIFICATION_MAP
        with rasterio.open(path) as src:
            data, transform, crs = src.read(1), src.transform, src.crs
            # Straight UTM edges are curves in WGS84: densify before transforming.
            tile = shapely.segmentize(shapely.geometry.box(*src.bounds), 1000)
        tile_wgs84 = shapely.geometry.shape(
            rasterio.warp.transform_geom(crs, "EPSG:4326", shapely.geometry.mapping(tile))
        )
        footprint = shapely.geometry.shape(item["geometry"])
        assert footprint.is_valid
        assert tile_wgs84.buffer(1e-3).contains(footprint)
        rows, cols = np.nonzero(data)
        pick = np.linspace(0, len(rows) - 1, 200).astype(int)
        xs, ys = rasterio.transform.xy(transform, rows[pick], cols[pick])
        lons, lats = rasterio.warp.transform(crs, "EPSG:4326", xs, ys)
        inside = footprint.buffer(0.01)  # simplification moves edges by about a pixel
        assert all(inside.contains(shapely.Point(x, y)) for x, y in zip(lons, lats, strict=True))
        assert item["bbox"] == pytest.approx(list(footprint.bounds), abs=1e-7)
        assert item["properties"]["proj:code"] == f"EPSG:{crs.to_epsg()}"


def _copies(top: Path, item_id: str) -> list[tuple[str, Path]]:
    """(subset, scene folder) of every copy of a product, in the archive's subset order."""
    return [(s, top / s / item_id) for s in constants.SUBSETS if (top / s / item_id).is_dir()]


def _expected_samples(top: Path, item_id: str) -> list[tuple[int, float, float, list[str]]]:
    """(class, lon, lat, subsets) of every point of every copy, read with pyogrio; a point of
    a later copy with the same layer, coordinates and attribute values as one of an earlier
    copy is that point."""
    entries: list[tuple[tuple[Any, ...], int, float, float, list[str]]] = []
    for subset, folder in _copies(top, item_id):
        for shp in sorted((folder / constants.SAMPLES_DIR).glob("*.shp")):
            meta, _, wkb, fields = pyogrio.raw.read(shp)
            points = shapely.from_wkb(wkb) if wkb is not None else []
            if not len(points):
                continue
            xs, ys = shapely.get_x(points), shapely.get_y(points)
            lons, lats = rasterio.warp.transform(meta["crs"], "EPSG:4326", xs, ys)
            for i in range(len(points)):
                key = (shp.stem, xs[i], ys[i], tuple(str(f[i]) for f in fields))
                twin = next((e for e in entries if e[0] == key and subset not in e[4]), None)
                if twin is not None:
                    twin[4].append(subset)
                else:
                    value = constants.SAMPLE_LAYERS[shp.stem]
                    entries.append((key, value, lons[i], lats[i], [subset]))
    return [(value, lon, lat, subsets) for _, value, lon, lat, subsets in entries]


def test_samples_geojson_holds_every_copys_points(built_catalog: Path, archive_top: Path) -> None:
    items = _items(built_catalog)
    assert items
    for item in items:
        href = item["assets"]["samples"]["href"]
        features = json.loads((built_catalog / COLL / item["id"] / href).read_text())["features"]
        expected = _expected_samples(archive_top, item["id"])
        assert len(features) == len(expected) == item["assets"]["samples"]["alcd:sample_count"]
        for feature, (value, lon, lat, subsets) in zip(features, expected, strict=True):
            assert feature["properties"]["class"] == value
            assert feature["properties"]["class_name"] == constants.CLASS_BY_VALUE[value].name
            assert feature["properties"]["subsets"] == subsets
            assert feature["properties"]["subset"] == subsets[0]
            assert feature["geometry"]["coordinates"] == pytest.approx([lon, lat], abs=1e-6)
            assert -180 <= lon <= 180
            assert -90 <= lat <= 90


def test_shared_product_keeps_both_copies(built_catalog: Path, archive_top: Path) -> None:
    item = _item(built_catalog, constants.SHARED_PRODUCT)
    folder = built_catalog / COLL / item["id"]
    copies = _copies(archive_top, item["id"])
    assert [s for s, _ in copies] == item["properties"]["alcd:subsets"] == list(constants.SUBSETS)
    for subset, source in copies:
        for kind, relative in (
            ("parameters", constants.PARAMETERS),
            ("statistics", constants.STATISTICS),
        ):
            asset = item["assets"][f"{kind}_{subset.lower()}"]
            assert subset in asset["title"]
            assert (folder / asset["href"]).read_bytes() == (source / relative).read_bytes()
    # the synthetic copies differ, so each copy's data is really there
    (_, ref), (_, hol) = copies
    assert (ref / constants.STATISTICS).read_bytes() != (hol / constants.STATISTICS).read_bytes()
    stats = json.loads((ref / constants.STATISTICS).read_text())
    assert item["properties"]["alcd:accuracy"] == round(stats["means"][0], 4)
    features = json.loads((folder / item["assets"]["samples"]["href"]).read_text())["features"]
    seen = {tuple(f["properties"]["subsets"]) for f in features}
    assert seen == {("Reference_dataset",), ("Hollstein",), ("Reference_dataset", "Hollstein")}
    with zipfile.ZipFile(folder / item["assets"]["samples_shapefile"]["href"]) as archive:
        for subset, source in copies:
            samples = source / constants.SAMPLES_DIR
            for path in samples.iterdir():
                name = f"{subset}/{constants.SAMPLES_DIR}/{path.name}"
                assert archive.read(name) == path.read_bytes()


def test_identity_links_and_parameters(built_catalog: Path, archive_top: Path) -> None:
    for item in _items(built_catalog):
        product = parse_product_name(item["id"])
        props = item["properties"]
        assert props["datetime"] == product.datetime.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert props["platform"] == product.platform
        assert props["sat:relative_orbit"] == product.relative_orbit
        params = json.loads(
            (_scene_dir(archive_top, item["id"]) / constants.PARAMETERS).read_text()
        )
        copies = _copies(archive_top, item["id"])
        # Each copy's parameters are its asset, byte for byte, and not copied into the
        # properties (issue 24); what a search needs of them is promoted.
        assert "alcd:parameters" not in props
        for subset, folder in copies:
            asset = item["assets"][f"parameters_{subset.lower()}"]
            written = built_catalog / COLL / item["id"] / asset["href"]
            assert written.read_bytes() == (folder / constants.PARAMETERS).read_bytes()
        day = params["clear_date"]
        assert props["alcd:clear_date"] == f"{day[:4]}-{day[4:6]}-{day[6:]}"
        assert props["alcd:clear_product_name"] == params["clear_product_name"]
        # ALCD.md's folder table: the place of each Reference_dataset scene; a Hollstein
        # `location` such as 32TMR_20160323 is a code, not a place, kept in its parameters file.
        reference = [f.site for f in constants.SCENE_FOLDERS if f.product == item["id"]]
        if copies[0][0] == "Reference_dataset":
            letters = re.sub("[^a-z]", "", props["alcd:site"].lower())
            assert letters in re.sub("[^a-z]", "", reference[0].lower())
        assert not re.fullmatch(r"\d{2}[A-Z]{3}_\d{8}", props["alcd:site"])
        assert props["alcd:site"] != params["tile"]
        assert (
            f"{props['mgrs:utm_zone']}{props['mgrs:latitude_band']}{props['mgrs:grid_square']}"
            == params["tile"]
        )
        source = [link for link in item["links"] if link["rel"] == "source"]
        compact = (
            item["id"] if product.form == "compact" else constants.LEGACY_TO_COMPACT[item["id"]]
        )
        # Offline, the links the name gives (../shared/imagery/README.md): Earth Search's id
        # `S2B_27VWK_20240206_0_L1C`, Google's `tiles/<zz>/<band>/<square>/<PRODUCT_ID>.SAFE`.
        mission, _, start, _, _, tile = compact.split("_")[:6]
        tile = tile.removeprefix("T")
        assert [link["href"] for link in source] == [
            "https://earth-search.aws.element84.com/v1/collections/sentinel-2-l1c/items/"
            f"{mission}_{tile}_{start[:8]}_0_L1C",
            f"https://storage.googleapis.com/gcp-public-data-sentinel-2/tiles/{tile[:2]}/"
            f"{tile[2]}/{tile[3:]}/{item['id']}.SAFE/manifest.safe",
        ]
        assert [link["type"] for link in source] == ["application/geo+json", "application/xml"]
        baseline = f"{compact.split('_')[3][1:3]}.{compact.split('_')[3][3:]}"
        assert all(f"baseline {baseline}, original" in link["title"] for link in source)
        history = [link for link in item["links"] if link["rel"] == "derived_from"]
        assert [link["href"] for link in history] == [naming.CDSE_ITEM_URL.format(name=compact)]
        assert history[0]["title"].startswith("History: ")
        assert props["s2:product_uri"] == f"{compact}.SAFE"
        assert props["s2:processing_baseline"] == baseline
        assert props["grid:code"] == f"MGRS-{tile}"
        assert props["proj:epsg"] == int(props["proj:code"].removeprefix("EPSG:"))
        assert props["sci:doi"] == constants.DOI
        assert set(item["assets"]) == {
            spec.key for spec in labels.asset_specs(props["alcd:subsets"])
        }
        for asset in item["assets"].values():
            assert asset["title"]
            assert asset["type"]
            assert asset["roles"]
            assert asset["file:checksum"].startswith("1220")
    shared = _item(built_catalog, constants.SHARED_PRODUCT)
    assert shared["properties"]["alcd:subsets"] == list(constants.SUBSETS)


def test_statistics_properties(built_catalog: Path, archive_top: Path) -> None:
    items = _items(built_catalog)
    assert items
    for item in items:
        stats = json.loads((_scene_dir(archive_top, item["id"]) / constants.STATISTICS).read_text())
        for i, name in enumerate(stats["metrics_names"]):
            # Four decimals, as STAC Browser shows them (the file itself is an asset).
            assert item["properties"][f"alcd:{name}"] == round(stats["means"][i], 4)
            assert item["properties"][f"alcd:{name}_std"] == round(stats["stds"][i], 4)
        assert item["properties"]["alcd:k_folds"] == stats.get("K", len(stats["all_metrics"]))


def test_collection_summaries_and_item_assets(built_catalog: Path) -> None:
    coll = json.loads((built_catalog / COLL / "collection.json").read_text())
    items = _items(built_catalog)
    clouds = [i["properties"]["eo:cloud_cover"] for i in items]
    assert coll["summaries"]["eo:cloud_cover"] == {"minimum": min(clouds), "maximum": max(clouds)}
    assert set(coll["item_assets"]) == {spec.key for spec in labels.ALL_ASSETS}
    assert coll["license"] == "other"  # no Zenodo record was saved for this build
    assert coll["assets"]["items"]["roles"] == ["stac-items"]
    start = min(i["properties"]["datetime"] for i in items)
    assert _instant(coll["extent"]["temporal"]["interval"][0][0]) == _instant(start)


def test_geoparquet_snapshot_reads_back(built_catalog: Path) -> None:
    table = pq.read_table(built_catalog / COLL / "items.parquet")
    back = {i["id"]: i for i in stac_geoparquet.arrow.stac_table_to_items(table)}
    for item in _items(built_catalog):
        got = back[item["id"]]
        assert shapely.geometry.shape(got["geometry"]).equals(
            shapely.geometry.shape(item["geometry"])
        )
        assert _instant(got["properties"]["datetime"]) == _instant(item["properties"]["datetime"])
        assert got["properties"]["eo:cloud_cover"] == item["properties"]["eo:cloud_cover"]
    assert len(back) == len(_items(built_catalog))


def test_license_from_the_record(
    archive_tgz: Path, tmp_path: Path, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    record = {"metadata": {"license": {"id": "cc-by-4.0"}, "title": "T", "version": "1.0"}}
    out = tmp_path / "out"
    build(BuildOptions(archive=archive_tgz, out=out, cache_dir=cache_dir, record=record))
    coll = json.loads((out / COLL / "collection.json").read_text())
    assert coll["license"] == "CC-BY-4.0"
    assert coll["version"] == "1.0"
    assert any(link["rel"] == "license" and "CC-BY-4.0" in link["href"] for link in coll["links"])
    with caplog.at_level(logging.WARNING):
        assert stac_collection.spdx_license({"metadata": {}}) == "other"
    assert "names no license" in caplog.text


def test_root_href_makes_every_href_absolute(
    archive_tgz: Path, tmp_path: Path, cache_dir: Path, schemas: Path
) -> None:
    root = "https://example.org/alcd"
    out = tmp_path / "published"
    build(
        BuildOptions(
            archive=archive_tgz, out=out, cache_dir=cache_dir, root_href=root, schemas=schemas
        )
    )
    paths = sorted(out.rglob("*.json"))
    assert paths
    for path in paths:
        data = json.loads(path.read_text())
        if "stac_version" not in data:
            continue
        hrefs = [link["href"] for link in data["links"] if link["rel"] in ("self", "root")]
        hrefs += [a["href"] for a in data.get("assets", {}).values()]
        assert hrefs, path
        assert all(h.startswith(root + "/") for h in hrefs), path
        self_href = next(link["href"] for link in data["links"] if link["rel"] == "self")
        assert self_href == f"{root}/{path.relative_to(out).as_posix()}"


def test_imagery_links_follow_the_resolution_and_replace_their_own(built_catalog: Path) -> None:
    import pystac

    from stacgen.layout.imagery import Resolved
    from stacgen.stac.items import apply_imagery

    product = "S2B_MSIL1C_20171002T103009_N0205_R108_T31TFJ_20171002T103209"
    successor = "S2B_MSIL1C_20171002T103009_N0500_R108_T31TFJ_20230601T101010"
    path = built_catalog / constants.COLLECTION_ID / product / f"{product}.json"
    item = pystac.Item.from_file(str(path))
    others = [
        (link.rel, link.href) for link in item.links if link.rel not in ("source", "derived_from")
    ]
    at = "2026-12-07T15:00:00Z"
    resolved = [
        Resolved("cdse", "https://cdse.example/items/x", successor, "05.00", "reprocessed", at),
        Resolved("gcs", "https://gcs.example/m.safe", product, "02.05", "original", at, "GS2B_x"),
    ]
    for _ in range(2):  # a rebuild applies it again: the same links, not twice as many
        apply_imagery(item, resolved)
    source = [link for link in item.links if link.rel == "source"]
    assert [link.href for link in source] == [
        "https://earth-search.aws.element84.com/v1/collections/sentinel-2-l1c/items/"
        "S2B_31TFJ_20171002_0_L1C",  # not resolved: from the name, an original
        "https://gcs.example/m.safe",
        "https://cdse.example/items/x",  # the reprocessed one last
    ]
    assert "from the product name, not resolved" in (source[0].title or "")
    assert f"{successor} (baseline 05.00, reprocessed; resolved)" in (source[2].title or "")
    assert [link.rel for link in item.links].count("derived_from") == 1
    assert item.properties["s2:datatake_id"] == "GS2B_x"
    assert [
        (link.rel, link.href) for link in item.links if link.rel not in ("source", "derived_from")
    ] == others
    # CDSE still holding the original: its link is a source, no history link beside it.
    apply_imagery(
        item, [Resolved("cdse", "https://cdse.example/o", product, "02.05", "original", at)]
    )
    assert [link.rel for link in item.links].count("derived_from") == 0
    assert "s2:datatake_id" not in item.properties
