"""A `stacgen build` that is not a no-op keeps what `stacgen imagery resolve` and `fetch` added:
the alcd-l1c collection, the label items' `rel=source` links to it and the resolution's
provider links; and a fetch into a catalog built with --root-href writes absolute hrefs under
that root."""

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
from stacgen.imagery.fetch import FetchOptions, fetch
from stacgen.imagery.providers import Settings
from stacgen.imagery.resolve import resolve_catalog
from stacgen.layout import imagery
from stacgen.stac.validate import validate_catalog
from stacgen.testing import synthetic
from stacgen.testing.safe import write_safes_for_catalog
from tests.imagery.conftest import GRANULE, LEGACY, ORIGINAL, SUCCESSOR, TILE
from tests.imagery.fakes import GcsFake, StacSearchFake, cdse_feature, compact_safe

OTHER = "S2A_MSIL1C_20170621T110651_N0205_R137_T29RPQ_20170621T111222"  # Marrakech
BANDS = ("B02", "B05")
IMAGERY_TITLE = "L1C bands of this scene (alcd-l1c)"
ROOT_HREF = "https://example.org/alcd/"


def _folders(*products: str) -> tuple[constants.SceneFolder, ...]:
    return tuple(f for f in constants.SCENE_FOLDERS if f.product in products)


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Three products, then the same archive without OTHER (a rebuild that changes things)."""
    folder = tmp_path_factory.mktemp("carry-archives")
    three = synthetic.make_archive(
        folder / "three" / constants.ARCHIVE_NAME,
        size=61,
        folders=_folders(ORIGINAL, LEGACY, OTHER),
    )
    two = synthetic.make_archive(
        folder / "two" / constants.ARCHIVE_NAME, size=61, folders=_folders(ORIGINAL, LEGACY)
    )
    return three, two


def _json(path: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(path.read_text())
    return value


def _label(root: Path, item_id: str) -> dict[str, Any]:
    return _json(root / constants.COLLECTION_ID / item_id / f"{item_id}.json")


def _fetch(root: Path, safes: Path, items: list[str], schemas: Path) -> None:
    write_safes_for_catalog(root, safes, items=items, bands=BANDS)
    options = FetchOptions(
        root,
        "safe",
        Settings(safe_dir=safes),
        bands=tuple(imagery.band(b) for b in BANDS),
        items=tuple(items),
        schemas=schemas,
    )
    fetch(options)


def test_a_rebuild_keeps_the_imagery_and_the_resolved_links(
    archives: tuple[Path, Path],
    tmp_path: Path,
    schemas: Path,
    settings: Settings,
    gcs: GcsFake,
    cdse: StacSearchFake,
) -> None:
    three, two = archives
    root = tmp_path / "catalog"
    cache = tmp_path / "cache"
    build(BuildOptions(archive=three, out=root, cache_dir=cache, schemas=schemas))
    gcs.add_product(f"tiles/32/T/MR/{ORIGINAL}.SAFE", compact_safe(ORIGINAL, TILE, GRANULE))
    cdse.features = [cdse_feature(SUCCESSOR, TILE, "L1C_T32TMR_A003010_20230301T120000", cdse.base)]
    resolve_catalog(root, ["gcs", "cdse"], settings)
    build(BuildOptions(archive=three, out=root, cache_dir=cache, schemas=schemas))
    _fetch(root, tmp_path / "safes", [ORIGINAL, OTHER], schemas)
    fetched = imagery.band_path(root, ORIGINAL, "B02").read_bytes()

    # Another archive: every scene key changes, so every label item is made again, and OTHER
    # is gone (its imagery with it).
    report = build(BuildOptions(archive=two, out=root, cache_dir=cache, schemas=schemas))
    assert (report.built, report.reused) == (2, 0)

    catalog = _json(root / "catalog.json")
    assert "./alcd-l1c/collection.json" in [link["href"] for link in catalog["links"]]
    collection = _json(root / imagery.COLLECTION_ID / "collection.json")
    assert [link["href"] for link in collection["links"] if link["rel"] == "item"] == [
        f"./{ORIGINAL}/{ORIGINAL}.json"
    ]
    assert not imagery.item_dir(root, OTHER).exists()
    assert imagery.band_path(root, ORIGINAL, "B02").read_bytes() == fetched  # not fetched again
    sources = [link for link in _label(root, ORIGINAL)["links"] if link["rel"] == "source"]
    assert [link["title"].split(":")[0] for link in sources] == [
        IMAGERY_TITLE,
        "Earth Search (Element 84) sentinel-2-l1c",
        "Google Cloud public bucket gcp-public-data-sentinel-2",
        "Copernicus Data Space STAC",
    ]
    assert sources[0]["href"] == f"../../alcd-l1c/{ORIGINAL}/{ORIGINAL}.json"
    assert sources[2]["title"].endswith("original; resolved)")
    assert sources[3]["title"].endswith("reprocessed; resolved)")
    assert IMAGERY_TITLE not in [link.get("title") for link in _label(root, LEGACY)["links"]]
    assert validate_catalog(root, schemas) == []
    result = CliRunner().invoke(main, ["validate", str(root), "--schemas", str(schemas)])
    assert result.exit_code == 0, result.output
    # And a build with nothing to change finds it all up to date.
    again = build(BuildOptions(archive=two, out=root, cache_dir=cache))
    assert again.up_to_date


def test_a_fetch_into_a_catalog_built_with_root_href_writes_absolute_hrefs(
    archives: tuple[Path, Path], tmp_path: Path, schemas: Path
) -> None:
    three, _ = archives
    root = tmp_path / "catalog"
    options = BuildOptions(
        archive=three, out=root, cache_dir=tmp_path / "cache", root_href=ROOT_HREF, schemas=schemas
    )
    build(options)
    _fetch(root, tmp_path / "safes", [ORIGINAL], schemas)
    item = _json(imagery.item_json(root, ORIGINAL))
    here = f"{ROOT_HREF}alcd-l1c/{ORIGINAL}/"
    links = {link["rel"]: link["href"] for link in item["links"] if link["rel"] != "derived_from"}
    assert links == {
        "self": f"{here}{ORIGINAL}.json",
        "root": f"{ROOT_HREF}catalog.json",
        "collection": f"{ROOT_HREF}alcd-l1c/collection.json",
        "parent": f"{ROOT_HREF}alcd-l1c/collection.json",
        "related": f"{ROOT_HREF}{constants.COLLECTION_ID}/{ORIGINAL}/{ORIGINAL}.json",
    }
    assert item["assets"]["B02"]["href"] == f"{here}B02.tif"
    sources = [link for link in _label(root, ORIGINAL)["links"] if link["rel"] == "source"]
    assert sources[0]["href"] == f"{here}{ORIGINAL}.json"
    catalog = _json(root / "catalog.json")
    assert f"{ROOT_HREF}alcd-l1c/collection.json" in [link["href"] for link in catalog["links"]]
    collection = _json(root / imagery.COLLECTION_ID / "collection.json")
    assert collection["assets"]["items"]["href"] == f"{ROOT_HREF}alcd-l1c/items.parquet"
    # validate resolves every href under the root to the file it names, and checks it.
    assert validate_catalog(root, schemas) == []
    # A rebuild under the same root carries it over unchanged in form.
    shutil.rmtree(tmp_path / "safes")
    build(BuildOptions(**{**options.__dict__, "force": True}))
    assert _json(imagery.item_json(root, ORIGINAL))["links"] == item["links"]
    assert validate_catalog(root, schemas) == []
