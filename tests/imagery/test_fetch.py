"""`stacgen imagery fetch` with the safe provider on a built catalog: the alcd-l1c collection,
its pixels against numpy, provenance, incremental runs, errors, nothing half-written."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio

from stacgen import constants
from stacgen.errors import OutputError
from stacgen.imagery.fetch import FetchError, FetchOptions, FetchReport, fetch, work_root
from stacgen.imagery.providers import Settings
from stacgen.layout import imagery
from stacgen.stac.validate import validate_catalog
from stacgen.testing.safe import SafeSpec, band_values, write_safes_for_catalog
from tests.imagery.test_pixels import _expected_mean

BANDS = ("B01", "B02", "B05", "B8A")


def _ids(root: Path) -> list[str]:
    folder = root / constants.COLLECTION_ID
    return sorted(p.name for p in folder.iterdir() if (p / f"{p.name}.json").is_file())


def _pick(root: Path) -> list[str]:
    """A compact and a legacy product."""
    ids = _ids(root)
    compact = next(i for i in ids if "_MSIL1C_" in i and "_OPER_" not in i)
    legacy = next(i for i in ids if "_OPER_" in i)
    return [compact, legacy]


def _json(path: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(path.read_text())
    return value


@pytest.fixture
def catalog(built_catalog: Path, tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(built_catalog, root)
    return root


def _options(
    root: Path, safe_dir: Path, items: list[str], schemas: Path, **kw: Any
) -> FetchOptions:
    chosen = tuple(imagery.band(b) for b in kw.pop("bands", BANDS))
    return FetchOptions(
        root,
        "safe",
        Settings(safe_dir=safe_dir),
        bands=chosen,
        items=tuple(items),
        workers=2,
        schemas=schemas,
        **kw,
    )


@dataclass(frozen=True)
class Fetched:
    catalog: Path  # tests must not modify it
    safes: Path
    items: list[str]
    specs: dict[str, SafeSpec]
    report: FetchReport


@pytest.fixture(scope="module")
def fetched(
    built_catalog: Path, tmp_path_factory: pytest.TempPathFactory, schemas: Path
) -> Fetched:
    """One fetch of a compact and a legacy product into a copy of the session catalog."""
    tmp = tmp_path_factory.mktemp("fetched")
    root = tmp / "catalog"
    shutil.copytree(built_catalog, root)
    items = _pick(root)
    specs = write_safes_for_catalog(root, tmp / "safes", items=items, bands=BANDS)
    report = fetch(_options(root, tmp / "safes", items, schemas))
    return Fetched(root, tmp / "safes", items, specs, report)


def test_fetch_writes_a_valid_second_collection(fetched: Fetched, schemas: Path) -> None:
    catalog, items = fetched.catalog, fetched.items
    assert sorted(fetched.report.fetched) == sorted(items)
    assert validate_catalog(catalog, schemas) == []
    assert not work_root(catalog).exists()
    catalog_json = _json(catalog / "catalog.json")
    assert "./alcd-l1c/collection.json" in [link["href"] for link in catalog_json["links"]]
    for item_id in items:
        _check_item(catalog, item_id, fetched.specs[item_id])


def _check_item(root: Path, item_id: str, spec: SafeSpec) -> None:
    item = _json(imagery.item_json(root, item_id))
    label = _json(root / constants.COLLECTION_ID / item_id / f"{item_id}.json")
    assert item["collection"] == "alcd-l1c"
    assert sorted(k for k in item["assets"] if k != "manifest") == sorted(BANDS)
    props = item["properties"]
    assert (props["alcd:imagery_grid"], props["alcd:imagery_kind"]) == ("label", "original")
    assert props["proj:code"] == label["properties"]["proj:code"]
    height, width = label["properties"]["proj:shape"]
    b02 = item["assets"]["B02"]
    assert b02["eo:bands"][0]["common_name"] == "blue"
    assert b02["raster:bands"][0] == {
        "nodata": 0,
        "data_type": "uint16",
        "scale": 0.0001,
        "offset": 0,
        "spatial_resolution": label["properties"]["proj:transform"][0],
    }
    assert b02["proj:shape"] == [height, width]
    with rasterio.open(imagery.band_path(root, item_id, "B02")) as src:
        got = src.read(1)
    assert got.tolist() == _expected_mean(band_values(spec, "B02"), 6).tolist()
    sources = [link for link in label["links"] if link["rel"] == "source"]
    assert sources[0]["href"] == f"../../alcd-l1c/{item_id}/{item_id}.json"
    derived = [link for link in item["links"] if link["rel"] == "derived_from"]
    assert len(derived) == 1
    assert derived[0]["href"].startswith("file:///")
    assert derived[0]["href"].endswith(".SAFE")
    _check_manifest(root, item_id, item)


def _check_manifest(root: Path, item_id: str, item: dict[str, Any]) -> None:
    manifest = _json(imagery.item_dir(root, item_id) / "manifest.json")
    assert manifest["provider"] == "safe"
    assert manifest["kind"] == "original"
    assert len(manifest["sources"]) == len(BANDS)
    for source in manifest["sources"]:
        data = Path(source["file"]).read_bytes()
        assert (source["size"], source["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    for output in manifest["outputs"]:
        data = (imagery.item_dir(root, item_id) / output["file"]).read_bytes()
        assert output["sha256"] == hashlib.sha256(data).hexdigest()
        checksum = item["assets"][output["band"]]["file:checksum"]
        assert checksum == "1220" + output["sha256"]


def test_items_parquet_rows_carry_the_band_assets(fetched: Fetched) -> None:
    catalog, items = fetched.catalog, fetched.items
    table = pq.read_table(catalog / "alcd-l1c" / "items.parquet")
    rows = table.to_pylist()
    assert sorted(r["id"] for r in rows) == sorted(items)
    assert sorted(k for k, v in rows[0]["assets"].items() if v is not None) == sorted(
        [*BANDS, "manifest"]
    )
    label_rows = pq.read_table(catalog / constants.COLLECTION_ID / "items.parquet").to_pylist()
    with_imagery = [r for r in label_rows if r["id"] in items]
    assert len(with_imagery) == 2
    hrefs = [link["href"] for r in with_imagery for link in r["links"] if link["rel"] == "source"]
    assert any("alcd-l1c" in h for h in hrefs)


def test_a_second_run_fetches_nothing(fetched: Fetched, tmp_path: Path, schemas: Path) -> None:
    catalog = tmp_path / "catalog"  # a copy of the fetched one: this run must not change it
    shutil.copytree(fetched.catalog, catalog)
    items = fetched.items
    before = {p: p.stat().st_ino for p in (catalog / "alcd-l1c").rglob("*.tif")}
    assert before
    report = fetch(_options(catalog, fetched.safes, items, schemas))
    assert (report.fetched, sorted(report.up_to_date)) == ([], sorted(items))
    assert {p: p.stat().st_ino for p in (catalog / "alcd-l1c").rglob("*.tif")} == before


def test_a_changed_source_is_fetched_again(catalog: Path, tmp_path: Path, schemas: Path) -> None:
    items = _pick(catalog)[:1]
    write_safes_for_catalog(catalog, tmp_path / "safes", items=items, bands=BANDS)
    fetch(_options(catalog, tmp_path / "safes", items, schemas))
    write_safes_for_catalog(
        catalog, tmp_path / "safes", items=items, bands=BANDS, radio_add_offset=-1000
    )
    report = fetch(_options(catalog, tmp_path / "safes", items, schemas))
    assert report.fetched == items
    manifest = _json(imagery.item_dir(catalog, items[0]) / "manifest.json")
    assert set(manifest["radio_add_offset_applied"].values()) == {-1000}
    item = _json(imagery.item_json(catalog, items[0]))
    assert item["properties"]["alcd:radio_add_offset_applied"] == -1000


def test_a_failed_item_leaves_the_catalog_untouched_and_the_rest_resumes(
    catalog: Path, tmp_path: Path, schemas: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = _pick(catalog)
    write_safes_for_catalog(catalog, tmp_path / "safes", items=items, bands=BANDS)
    jp2 = next((tmp_path / "safes" / f"{items[1]}.SAFE").rglob("*_B05.jp2"))
    good = jp2.read_bytes()
    jp2.write_bytes(good[: len(good) // 2])  # a truncated band
    before = sorted(p.relative_to(catalog) for p in catalog.rglob("*"))
    with pytest.raises(FetchError) as err:
        fetch(_options(catalog, tmp_path / "safes", items, schemas))
    assert len(err.value.details) == 1
    assert str(jp2) in err.value.details[0]
    assert "\n" not in err.value.details[0]
    assert sorted(p.relative_to(catalog) for p in catalog.rglob("*")) == before
    jp2.write_bytes(good)
    report = fetch(_options(catalog, tmp_path / "safes", items, schemas))
    assert (report.resumed, report.fetched) == ([items[0]], [items[1]])


def test_dry_run_lists_sources_and_sizes_and_writes_nothing(
    catalog: Path, tmp_path: Path, schemas: Path
) -> None:
    items = _pick(catalog)
    write_safes_for_catalog(catalog, tmp_path / "safes", items=items, bands=BANDS)
    before = sorted(p.relative_to(catalog) for p in catalog.rglob("*"))
    report = fetch(_options(catalog, tmp_path / "safes", items, schemas, dry_run=True))
    assert sorted(p.relative_to(catalog) for p in catalog.rglob("*")) == before
    assert not work_root(catalog).exists()
    jp2 = next((tmp_path / "safes" / f"{items[0]}.SAFE").rglob("*_B02.jp2"))
    assert f"  B02 {jp2} ({jp2.stat().st_size:,} bytes)" in report.lines
    assert report.lines[-1].startswith("2 of 2 item(s) to fetch, ")


def test_a_product_not_found_is_one_line_and_nothing_is_written(
    catalog: Path, tmp_path: Path, schemas: Path
) -> None:
    items = _pick(catalog)
    (tmp_path / "safes").mkdir()
    before = sorted(p.relative_to(catalog) for p in catalog.rglob("*"))
    with pytest.raises(FetchError) as err:
        fetch(_options(catalog, tmp_path / "safes", items, schemas))
    assert len(err.value.details) == 2
    assert err.value.details[0].startswith(f"{items[0]}: no SAFE of {items[0]} under ")
    assert sorted(p.relative_to(catalog) for p in catalog.rglob("*")) == before


def test_a_folder_that_is_not_a_catalog_is_refused(tmp_path: Path, schemas: Path) -> None:
    with pytest.raises(OutputError, match="not a catalog stacgen built"):
        fetch(_options(tmp_path, tmp_path, ["x"], schemas))


def test_native_grid_keeps_the_band_resolutions(
    catalog: Path, tmp_path: Path, schemas: Path
) -> None:
    items = _pick(catalog)[:1]
    specs = write_safes_for_catalog(catalog, tmp_path / "safes", items=items, bands=BANDS)
    fetch(_options(catalog, tmp_path / "safes", items, schemas, grid="native"))
    assert validate_catalog(catalog, schemas) == []
    item = _json(imagery.item_json(catalog, items[0]))
    height = item["assets"]["B01"]["proj:shape"][0]
    assert item["assets"]["B02"]["proj:shape"] == [height * 6, height * 6]
    assert item["assets"]["B05"]["proj:shape"] == [height * 3, height * 3]
    with rasterio.open(imagery.band_path(catalog, items[0], "B05")) as src:
        got = src.read(1)
    assert np.array_equal(got, band_values(specs[items[0]], "B05"))
