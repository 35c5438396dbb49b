"""The media types pystac lacks (stacgen.layout.media), against the IANA registry's names, and where
the build writes them: on files that are what the type says (zip and Parquet magic numbers)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pystac

from stacgen import constants
from stacgen.layout.media import PARQUET, ZIP

# IANA media types registry: application/zip (2012); application/vnd.apache.parquet (2024).
IANA_ZIP = "application/zip"
IANA_PARQUET = "application/vnd.apache.parquet"
PARQUET_MAGIC = b"PAR1"  # Apache Parquet file format: at the start and at the end of a file


def test_the_types_are_the_registered_names() -> None:
    assert ZIP == IANA_ZIP
    assert PARQUET == IANA_PARQUET


def test_zip_is_pystacs_where_pystac_has_one() -> None:
    # pystac gained MediaType.ZIP in 1.16: media.py takes it there, its own literal before.
    if IANA_ZIP in {str(m) for m in pystac.MediaType}:
        assert str(pystac.MediaType(IANA_ZIP)) == ZIP
    else:
        assert not hasattr(pystac.MediaType, "ZIP")


def items_of(catalog: Path) -> list[dict[str, Any]]:
    folder = catalog / constants.COLLECTION_ID
    paths = sorted(p for p in folder.glob("*/*.json") if p.stem == p.parent.name)
    assert paths
    return [json.loads(p.read_text()) for p in paths]


def test_zip_assets_are_zip_files(built_catalog: Path) -> None:
    zips = 0
    for item in items_of(built_catalog):
        folder = built_catalog / constants.COLLECTION_ID / item["id"]
        for asset in item["assets"].values():
            if asset["type"] == IANA_ZIP:
                zips += 1
                assert zipfile.is_zipfile(folder / asset["href"]), asset["href"]
            else:
                assert not asset["href"].endswith(".zip"), asset["href"]
    assert zips > 0


def test_parquet_asset_is_a_parquet_file(built_catalog: Path) -> None:
    folder = built_catalog / constants.COLLECTION_ID
    collection = json.loads((folder / "collection.json").read_text())
    refs = [*collection["links"], *collection.get("assets", {}).values()]
    parquet = [r for r in refs if r.get("type") == IANA_PARQUET]
    assert len(parquet) == 1
    data = (folder / parquet[0]["href"]).read_bytes()
    assert data[:4] == data[-4:] == PARQUET_MAGIC


def test_every_other_asset_type_is_pystacs(built_catalog: Path) -> None:
    known = {str(m) for m in pystac.MediaType} | {IANA_ZIP}
    types = {a["type"] for item in items_of(built_catalog) for a in item["assets"].values()}
    assert types <= known, types - known
