"""`stacgen imagery resolve` and `check` on a built catalog, against the providers' fakes; the
next build folds the resolution into the label items."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stacgen import constants
from stacgen.assemble.pipeline import BuildOptions, build
from stacgen.cli import main
from stacgen.imagery.located import ImageryError
from stacgen.imagery.providers import Settings
from stacgen.imagery.resolve import check_catalog, resolve_catalog
from stacgen.layout.imagery import RESOLUTION_FILE
from stacgen.testing import synthetic
from tests.imagery.conftest import (
    GRANULE,
    LEGACY,
    LEGACY_TILE,
    ORIGINAL,
    SUCCESSOR,
    TILE,
)
from tests.imagery.fakes import (
    GcsFake,
    StacSearchFake,
    cdse_feature,
    compact_safe,
    es_feature,
    old_safe,
)

ABSENT = "S2A_MSIL1C_20170621T110651_N0205_R137_T29RPQ_20170621T111222"  # Marrakech: nowhere
FOLDERS = tuple(f for f in constants.SCENE_FOLDERS if f.product in (ORIGINAL, LEGACY, ABSENT))


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert len(FOLDERS) == 3
    path = tmp_path_factory.mktemp("resolve-archive") / constants.ARCHIVE_NAME
    return synthetic.make_archive(path, size=61, folders=FOLDERS)


@pytest.fixture(scope="module")
def first_build(archive: Path, tmp_path_factory: pytest.TempPathFactory, schemas: Path) -> Path:
    out = tmp_path_factory.mktemp("resolve-built") / "catalog"
    build(BuildOptions(archive=archive, out=out, cache_dir=out.parent / "cache", schemas=schemas))
    return out


@pytest.fixture
def catalog(first_build: Path, tmp_path: Path) -> Path:
    """A copy of the built catalog that a test may resolve into and rebuild."""
    out = tmp_path / "catalog"
    shutil.copytree(first_build, out, symlinks=True)
    return out


@pytest.fixture
def providers(gcs: GcsFake, earth_search: StacSearchFake, cdse: StacSearchFake) -> None:
    """ORIGINAL at all three (CDSE: its successor), LEGACY in Google's bucket only."""
    gcs.page_size = 1000
    gcs.add_product(f"tiles/32/T/MR/{ORIGINAL}.SAFE", compact_safe(ORIGINAL, TILE, GRANULE))
    gcs.add_product(f"tiles/32/T/NR/{LEGACY}.SAFE", old_safe(LEGACY_TILE))
    earth_search.features = [
        es_feature(ORIGINAL, TILE, "tiles/32/T/MR/2017/10/9/0", earth_search.base)
    ]
    cdse.features = [cdse_feature(SUCCESSOR, TILE, "L1C_T32TMR_A003010_20230301T120000", cdse.base)]


def _entries(catalog: Path) -> dict[str, list[dict[str, Any]]]:
    data = json.loads((catalog / RESOLUTION_FILE).read_text())
    assert data["format"] == 1
    items: dict[str, list[dict[str, Any]]] = data["items"]
    return items


def _item(catalog: Path, item_id: str) -> dict[str, Any]:
    path = catalog / constants.COLLECTION_ID / item_id / f"{item_id}.json"
    value: dict[str, Any] = json.loads(path.read_text())
    return value


def test_resolve_records_each_provider_original_first(
    catalog: Path, settings: Settings, providers: None
) -> None:
    report = resolve_catalog(catalog, ["gcs", "earth-search", "cdse"], settings)
    entries = _entries(catalog)
    assert sorted(entries) == sorted([ORIGINAL, LEGACY])
    assert [(e["provider"], e["kind"], e["product"], e["baseline"]) for e in entries[ORIGINAL]] == [
        ("earth-search", "original", ORIGINAL, "02.05"),
        ("gcs", "original", ORIGINAL, "02.05"),
        ("cdse", "reprocessed", SUCCESSOR, "05.00"),
    ]
    root = settings.endpoints["gcs"]
    assert entries[ORIGINAL][1]["ref"] == (
        f"{root}/gcp-public-data-sentinel-2/tiles/32/T/MR/{ORIGINAL}.SAFE/manifest.safe"
    )
    assert entries[ORIGINAL][0]["datatake_id"] == "GS2B_20171009T102009_003010_N02.05"
    assert all(e["resolved_at"].endswith("Z") for e in entries[ORIGINAL])
    assert [e["provider"] for e in entries[LEGACY]] == ["gcs"]
    assert report.problems == [
        f"{ABSENT}: not found at any provider (tried gcs, earth-search, cdse)"
    ]
    # Written atomically: no temporary file left beside it.
    assert [p.name for p in catalog.iterdir() if p.name.startswith(f".{RESOLUTION_FILE}")] == []


def test_an_unreachable_provider_is_one_line_and_the_others_still_answer(
    catalog: Path, settings: Settings, providers: None, closed_port_url: str
) -> None:
    cut = Settings(endpoints={**settings.endpoints, "cdse": closed_port_url}, timeout=2)
    report = resolve_catalog(catalog, ["gcs", "earth-search", "cdse"], cut)
    cdse_lines = [p for p in report.problems if p.startswith("cdse:")]
    assert len(cdse_lines) == 1
    assert "unreachable" in cdse_lines[0]
    assert [e["provider"] for e in _entries(catalog)[ORIGINAL]] == ["earth-search", "gcs"]


def test_a_second_resolve_of_one_provider_keeps_the_others(
    catalog: Path, settings: Settings, providers: None, gcs: GcsFake
) -> None:
    resolve_catalog(catalog, ["gcs", "earth-search"], settings)
    gcs.objects.clear()  # Google's copy is gone
    report = resolve_catalog(catalog, ["gcs"], settings)
    assert [e["provider"] for e in _entries(catalog)[ORIGINAL]] == ["earth-search"]
    assert LEGACY not in _entries(catalog)
    assert f"{LEGACY}: not found at any provider (tried gcs)" in report.problems


def test_the_next_build_links_each_provider_and_check_asks_them(
    catalog: Path, archive: Path, settings: Settings, providers: None, schemas: Path
) -> None:
    resolve_catalog(catalog, ["gcs", "earth-search", "cdse"], settings)
    report = build(
        BuildOptions(archive=archive, out=catalog, cache_dir=catalog.parent / "c", schemas=schemas)
    )
    assert (report.up_to_date, report.reused, report.built) == (False, 3, 0)  # links only
    item = _item(catalog, ORIGINAL)
    source = [link for link in item["links"] if link["rel"] == "source"]
    assert [link["title"].split(":")[0] for link in source] == [
        "Earth Search (Element 84) sentinel-2-l1c",
        "Google Cloud public bucket gcp-public-data-sentinel-2",
        "Copernicus Data Space STAC",
    ]
    assert "baseline 05.00, reprocessed; resolved" in source[2]["title"]
    assert (
        source[2]["href"]
        == f"{settings.endpoints['cdse']}/collections/sentinel-2-l1c/items/{SUCCESSOR}"
    )
    assert item["properties"]["s2:datatake_id"] == "GS2B_20171009T102009_003010_N02.05"
    # The resolution file survives the swap, and a build again has nothing to do.
    assert (catalog / RESOLUTION_FILE).is_file()
    again = build(BuildOptions(archive=archive, out=catalog, cache_dir=catalog.parent / "c"))
    assert again.up_to_date
    # Unresolved items keep the links their names give.
    absent = [link for link in _item(catalog, ABSENT)["links"] if link["rel"] == "source"]
    assert [link["href"].split("/")[2] for link in absent] == [
        "earth-search.aws.element84.com",
        "storage.googleapis.com",
    ]
    checks = check_catalog(catalog, timeout=2)
    answers = {(c.item_id, c.provider): c.answer for c in checks if c.item_id == ORIGINAL}
    # The fakes serve Google's manifest.safe, not the STAC item pages (pytest-httpserver: 500).
    assert answers == {
        (ORIGINAL, "earth-search"): "HTTP 500",
        (ORIGINAL, "gcs"): "ok",
        (ORIGINAL, "cdse"): "HTTP 500",
    }


def test_resolve_of_a_folder_that_is_no_catalog_is_one_line(
    tmp_path: Path, settings: Settings
) -> None:
    with pytest.raises(ImageryError, match="not a catalog stacgen built"):
        resolve_catalog(tmp_path, ["gcs"], settings)


def test_the_commands(
    catalog: Path, archive: Path, providers: None, settings: Settings, schemas: Path
) -> None:
    runner = CliRunner()
    args = [f"--endpoint={name}={url}" for name, url in settings.endpoints.items()]
    result = runner.invoke(main, ["imagery", "resolve", str(catalog), "--quiet", *args])
    assert result.exit_code == 1
    assert f"{ABSENT}: not found at any provider (tried earth-search, gcs, cdse)" in result.stderr
    assert "2 of 3 items resolved (3 original, 1 reprocessed)" in result.stdout
    assert "Traceback" not in result.output
    bad = runner.invoke(main, ["imagery", "resolve", str(catalog), "--endpoint", "gcs"])
    assert bad.exit_code != 0
    assert "--endpoint: 'gcs' is not NAME=URL" in bad.stderr
    build(BuildOptions(archive=archive, out=catalog, cache_dir=catalog.parent / "c"))
    check = runner.invoke(main, ["imagery", "check", str(catalog), "--timeout", "2"])
    assert check.exit_code == 1  # the fakes serve no STAC item pages
    lines = sorted(line for line in check.stdout.splitlines() if line.startswith(ORIGINAL))
    assert [line.split(" (")[0] for line in lines] == [
        f"{ORIGINAL} cdse: HTTP 500",
        f"{ORIGINAL} earth-search: HTTP 500",
        f"{ORIGINAL} gcs: ok",
    ]
    assert "provider links do not answer" in check.stderr
