"""The ML-AOI extension fields (stacgen.stac.mlaoi) against the extension's own JSON Schema,
v0.2.0, from the offline mirror (../shared/stac-schemas): what is written validates, the values
allowed are the schema's, and the schema URI is the one the schema names itself by."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import jsonschema
import pystac
import pytest

from stacgen.stac.mlaoi import (
    SCHEMA_URI,
    SPLITS,
    MlAoiAssetExtension,
    MlAoiExtension,
    Role,
)

MIRRORED = "stac-extensions.github.io/ml-aoi/v0.2.0/schema.json"


@pytest.fixture(scope="module", name="schema")
def schema_fixture(schemas: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((schemas / MIRRORED).read_text())
    return value


def validate(schema: dict[str, Any], doc: dict[str, Any]) -> None:
    jsonschema.Draft7Validator(schema).validate(doc)


def fields(schema: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = schema["definitions"]["fields"]["properties"]
    return props


def new_item() -> pystac.Item:
    return pystac.Item(
        "scene",
        {"type": "Point", "coordinates": [1.0, 2.0]},
        [1.0, 2.0, 1.0, 2.0],
        datetime(2018, 1, 1, tzinfo=UTC),
        {},
    )


def test_schema_uri_is_the_schemas_own_id(schema: dict[str, Any]) -> None:
    assert schema["$id"].rstrip("#") == SCHEMA_URI


def test_the_allowed_values_are_the_schemas(schema: dict[str, Any]) -> None:
    assert set(SPLITS) == set(fields(schema)["ml-aoi:split"]["enum"])
    assert set(get_args(Role)) == set(fields(schema)["ml-aoi:role"]["enum"])


@pytest.mark.parametrize("split", SPLITS)
def test_an_item_with_a_split_validates(schema: dict[str, Any], split: str) -> None:
    item = new_item()
    MlAoiExtension.ext(item, add_if_missing=True).split = split  # type: ignore[assignment]
    doc = item.to_dict()
    assert doc["properties"]["ml-aoi:split"] == split
    assert SCHEMA_URI in doc["stac_extensions"]
    validate(schema, doc)
    read_back = pystac.Item.from_dict(doc)
    assert MlAoiExtension.ext(read_back).split == split


def test_the_schema_refuses_what_the_setter_refuses(schema: dict[str, Any]) -> None:
    item = new_item()
    ext = MlAoiExtension.ext(item, add_if_missing=True)
    with pytest.raises(ValueError, match="ml-aoi:split"):
        ext.split = "training"  # type: ignore[assignment]
    doc = item.to_dict()
    doc["properties"]["ml-aoi:split"] = "training"
    with pytest.raises(jsonschema.ValidationError):
        validate(schema, doc)
    assert MlAoiExtension.ext(pystac.Item.from_dict(doc)).split is None


def test_no_split_removes_the_field(schema: dict[str, Any]) -> None:
    item = new_item()
    ext = MlAoiExtension.ext(item, add_if_missing=True)
    ext.split = "test"
    ext.split = None
    assert "ml-aoi:split" not in item.properties
    validate(schema, item.to_dict())


def test_without_the_extension_declared_it_is_refused() -> None:
    with pytest.raises(pystac.ExtensionNotImplemented):
        MlAoiExtension.ext(new_item())


@pytest.mark.parametrize(("role", "grid"), [("label", True), ("feature", None), ("feature", False)])
def test_asset_fields_validate(schema: dict[str, Any], role: Role, grid: bool | None) -> None:
    item = new_item()
    asset = pystac.Asset("./classification.tif", media_type=pystac.MediaType.COG)
    item.add_asset("classification", asset)
    MlAoiAssetExtension.ext(asset, add_if_missing=True).apply(role, grid)
    doc = item.to_dict()
    fields_written = {k: v for k, v in doc["assets"]["classification"].items() if "ml-aoi" in k}
    want = {"ml-aoi:role": role} | ({} if grid is None else {"ml-aoi:reference-grid": grid})
    assert fields_written == want
    assert SCHEMA_URI in doc["stac_extensions"]  # declared on the item that owns the asset
    validate(schema, doc)
