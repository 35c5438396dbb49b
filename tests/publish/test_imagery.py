"""`stacgen publish` of a catalog holding the second collection (`alcd-l1c`): its JSON made
absolute, its parquet rewritten, its COGs sent, and a reader walks from a label to its image."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pystac
import rasterio
import requests

from tests.imagery.fetched import fetched_copy
from tests.publish.s3 import Bucket, run_publish

TIMEOUT = 30


def test_published_imagery_is_reachable_from_its_label(
    built_catalog: Path, tmp_path: Path, bucket: Bucket, schemas: Path
) -> None:
    root, ids = fetched_copy(built_catalog, tmp_path, schemas, count=1)
    run_publish(root, bucket, schemas)
    keys = bucket.objects()
    assert f"alcd/alcd-l1c/{ids[0]}/B04.tif" in keys
    assert "alcd/alcd-l1c/items.parquet" in keys
    base = bucket.root_href
    label = pystac.Item.from_file(f"{base}/alcd-reference-cloud-masks/{ids[0]}/{ids[0]}.json")
    source = next(link for link in label.links if link.rel == "source")
    image_href = source.get_absolute_href()
    assert image_href == f"{base}/alcd-l1c/{ids[0]}/{ids[0]}.json"
    image = pystac.Item.from_file(image_href)
    href = image.assets["B04"].href
    assert href == f"{base}/alcd-l1c/{ids[0]}/B04.tif"
    cog = requests.get(href, timeout=TIMEOUT).content
    assert len(cog) == image.assets["B04"].extra_fields["file:size"]
    with rasterio.MemoryFile(cog) as mem, mem.open() as src:
        assert src.dtypes == ("uint16",)
    catalog = requests.get(f"{base}/catalog.json", timeout=TIMEOUT).json()
    assert f"{base}/alcd-l1c/collection.json" in [link["href"] for link in catalog["links"]]
    parquet = tmp_path / "items.parquet"
    parquet.write_bytes(requests.get(f"{base}/alcd-l1c/items.parquet", timeout=TIMEOUT).content)
    rows = pq.read_table(parquet).to_pylist()
    assert [r["id"] for r in rows] == ids
    assert rows[0]["assets"]["B04"]["href"] == href
