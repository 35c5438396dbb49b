"""The benchmark tests' inputs: three processors' masks made from the session catalog's label
rasters (stacgen.testing.masks: the labels perturbed with numpy), in three code tables and at
two resolutions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from stacgen.testing.masks import write_masks


@dataclass(frozen=True)
class MaskSet:
    name: str
    codes: str
    folder: Path

    @property
    def spec(self) -> str:
        return f"{self.name}={self.codes}:{self.folder}"


@pytest.fixture(scope="session")
def mask_sets(built_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> list[MaskSet]:
    root = tmp_path_factory.mktemp("benchmark-masks")
    sets = [
        MaskSet("fmask", "fmask4", root / "fmask"),
        MaskSet("s2cloudless", "s2cloudless", root / "s2c"),
        MaskSet("sen2cor", "sen2cor", root / "scl"),
    ]
    write_masks(built_catalog, sets[0].folder, "fmask4", share=0.04, seed=1, factor=3)
    write_masks(built_catalog, sets[1].folder, "s2cloudless", share=0.08, seed=2)
    write_masks(built_catalog, sets[2].folder, "sen2cor", share=0.12, seed=3, factor=3)
    return sets
