"""A copy of the session's built catalog with imagery fetched (safe provider, synthetic SAFEs):
what the serve, pgstac and publish tests of the second collection run on."""

from __future__ import annotations

import shutil
from pathlib import Path

from stacgen import constants
from stacgen.imagery.fetch import FetchOptions, fetch
from stacgen.imagery.providers import Settings
from stacgen.layout import imagery
from stacgen.testing.safe import write_safes_for_catalog

BANDS = ("B02", "B03", "B04")


def fetched_copy(
    built: Path, folder: Path, schemas: Path, count: int = 2
) -> tuple[Path, list[str]]:
    """`built` copied into `folder/catalog` with the imagery of its first `count` items."""
    root = folder / "catalog"
    shutil.copytree(built, root)
    labels = root / constants.COLLECTION_ID
    ids = sorted(p.name for p in labels.iterdir() if (p / f"{p.name}.json").is_file())[:count]
    write_safes_for_catalog(root, folder / "safes", items=ids, bands=BANDS)
    options = FetchOptions(
        root,
        "safe",
        Settings(safe_dir=folder / "safes"),
        bands=tuple(imagery.band(b) for b in BANDS),
        items=tuple(ids),
        workers=2,
        schemas=schemas,
    )
    fetch(options)
    return root, ids
