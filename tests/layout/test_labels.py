"""The label items' asset table, as the field's readers see it in a built catalog."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pystac

from stacgen.layout.labels import ALL_ASSETS
from tests import must_run


def _gdalinfo() -> str:
    found = shutil.which("gdalinfo")
    if found is None:
        must_run.missing(
            "gdal", "gdalinfo (GDAL's STACIT driver) is missing: apt-get install gdal-bin"
        )
    return found


def test_stacit_offers_both_label_rasters(built_catalog: Path, tmp_path: Path) -> None:
    """GDAL's STACIT driver (3.6, Debian 12's) lists an asset as a subdataset unless its roles
    say thumbnail or metadata: the confidence is data and must be among them."""
    catalog = pystac.Catalog.from_file(str(built_catalog / "catalog.json"))
    items = list(catalog.get_items(recursive=True))[:2]
    assert items
    features = []
    for item in items:
        item.make_asset_hrefs_absolute()
        feature = item.to_dict()
        # GDAL 3.6 reads only proj:epsg (the README's STACIT example adds it the same way).
        feature["properties"]["proj:epsg"] = int(feature["properties"]["proj:code"].split(":")[1])
        features.append(feature)
    path = tmp_path / "items.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    result = subprocess.run(
        [_gdalinfo(), str(path)], capture_output=True, text=True, timeout=120, check=True
    )
    offered = {
        line.split("asset=", 1)[1].split(",", 1)[0].strip()  # then `,crs=EPSG_32631` if mixed
        for line in result.stdout.splitlines()
        if "_NAME=STACIT:" in line
    }
    assert {"classification", "confidence"} <= offered
    assert "thumbnail" not in offered  # the rule this test relies on


def test_no_raster_of_values_is_called_metadata() -> None:
    rasters = [a for a in ALL_ASSETS if a.key in ("classification", "confidence")]
    assert len(rasters) == 2
    for spec in rasters:
        assert "data" in spec.roles
        assert "metadata" not in spec.roles
