"""The ML-AOI extension (v0.2.0), which pystac 1.15 does not implement: the fields we write.

`ml-aoi:split` on an item says which part of a train / validate / test split it belongs to;
`ml-aoi:role` and `ml-aoi:reference-grid` on an asset say it is the label on the grid that
other inputs are resampled to. Written in pystac's own extension pattern, so it reads like the
other extensions and declares its schema URI on the object it is applied to.
"""

from __future__ import annotations

from typing import Any, Final, Literal, get_args

import pystac
from pystac.extensions.base import ExtensionManagementMixin, PropertiesExtension

SCHEMA_URI: Final = "https://stac-extensions.github.io/ml-aoi/v0.2.0/schema.json"
SPLIT_PROP: Final = "ml-aoi:split"
ROLE_PROP: Final = "ml-aoi:role"
REFERENCE_GRID_PROP: Final = "ml-aoi:reference-grid"

Split = Literal["train", "validate", "test"]
SPLITS: Final[tuple[Split, ...]] = get_args(Split)
Role = Literal["label", "feature"]


class MlAoiExtension(PropertiesExtension, ExtensionManagementMixin[pystac.Item]):
    """`ml-aoi:split` of an item."""

    name: Literal["ml-aoi"] = "ml-aoi"

    def __init__(self, item: pystac.Item) -> None:
        self.item = item
        self.properties = item.properties

    @classmethod
    def get_schema_uri(cls) -> str:
        return SCHEMA_URI

    @classmethod
    def ext(cls, item: pystac.Item, add_if_missing: bool = False) -> MlAoiExtension:
        cls.ensure_has_extension(item, add_if_missing)
        return cls(item)

    @property
    def split(self) -> Split | None:
        value = self._get_property(SPLIT_PROP, str)
        for split in SPLITS:
            if value == split:
                return split
        return None

    @split.setter
    def split(self, value: Split | None) -> None:
        if value is not None and value not in SPLITS:
            raise ValueError(f"{SPLIT_PROP} must be one of {', '.join(SPLITS)}, not {value!r}")
        self._set_property(SPLIT_PROP, value)


class MlAoiAssetExtension(PropertiesExtension):
    """`ml-aoi:role` and `ml-aoi:reference-grid` of an asset (its owner declares the schema)."""

    def __init__(self, asset: pystac.Asset) -> None:
        self.asset = asset
        self.properties: dict[str, Any] = asset.extra_fields

    @classmethod
    def ext(cls, asset: pystac.Asset, add_if_missing: bool = False) -> MlAoiAssetExtension:
        if isinstance(asset.owner, pystac.Item):
            MlAoiExtension.ensure_has_extension(asset.owner, add_if_missing)
        return cls(asset)

    def apply(self, role: Role, reference_grid: bool | None = None) -> None:
        self._set_property(ROLE_PROP, role)
        self._set_property(REFERENCE_GRID_PROP, reference_grid)
