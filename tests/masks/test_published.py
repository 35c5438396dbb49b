"""The masks of a catalog built with --root-href: its band hrefs are absolute under the published
root, as `stacgen imagery fetch` writes them there, and name the band files in the folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from stacgen.assemble.pipeline import BuildOptions, build
from stacgen.cli import main
from stacgen.layout import imagery
from stacgen.masks import scenes
from stacgen.masks.errors import MasksError
from stacgen.testing.imagery_chips import write_imagery
from tests.catalogs import PUBLISHED_ROOT
from tests.masks.conftest import ALL_BANDS


@pytest.fixture(scope="module")
def published_catalog(
    archive_tgz: Path, cache_dir: Path, schemas: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The session archive built under PUBLISHED_ROOT, with the label catalog's imagery."""
    out = tmp_path_factory.mktemp("masks-published") / "catalog"
    options = BuildOptions(
        archive=archive_tgz, out=out, cache_dir=cache_dir, workers=2, root_href=PUBLISHED_ROOT
    )
    build(options)
    write_imagery(out, grid="label", bands=ALL_BANDS, root_href=PUBLISHED_ROOT)
    return out


def _first_id(catalog: Path) -> str:
    return sorted(p.parent.name for p in (catalog / imagery.COLLECTION_ID).glob("*/*.json"))[0]


def test_band_hrefs_under_the_root_are_the_folders_band_files(published_catalog: Path) -> None:
    item_id = _first_id(published_catalog)
    item = json.loads(imagery.item_json(published_catalog, item_id).read_text())
    # The fixture has the form this test is about.
    assert item["assets"]["B02"]["href"] == f"{PUBLISHED_ROOT}alcd-l1c/{item_id}/B02.tif"
    scene = scenes.select(published_catalog, [item_id])[0]
    want = {n: (published_catalog / "alcd-l1c" / item_id / f"{n}.tif").resolve() for n in ALL_BANDS}
    assert {n: Path(b.path) for n, b in scene.bands.items()} == want


def test_detect_on_a_published_catalog(
    published_catalog: Path, label_catalog: Path, tmp_path: Path
) -> None:
    pytest.importorskip("s2cloudless")
    item_id = _first_id(published_catalog)
    masks = {}
    for name, catalog in (("published", published_catalog), ("relative", label_catalog)):
        out = tmp_path / name
        args = ["masks", "detect", "s2cloudless", str(catalog), "--items", item_id]
        result = CliRunner().invoke(main, [*args, "--out", str(out), "--quiet"])
        assert result.exit_code == 0, result.output
        with rasterio.open(out / f"{item_id}_s2cloudless.tif") as src:
            masks[name] = src.read(1)
        manifest = json.loads((out / "manifest.json").read_text())
        files = manifest["items"][0]["imagery"]["bands"]
        assert files["B02"]["file"] == str((catalog / "alcd-l1c" / item_id / "B02.tif").resolve())
    # The same pixels (same archive, same imagery seed) whatever the hrefs' form.
    assert masks["published"].shape == masks["relative"].shape
    assert np.array_equal(masks["published"], masks["relative"])


def test_unusable_label_grid_and_remote_band_are_one_line(
    label_catalog: Path, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(label_catalog, catalog)
    item_id = _first_id(catalog)
    path = imagery.item_json(catalog, item_id)
    item = json.loads(path.read_text())
    item["assets"]["B02"]["href"] = "https://elsewhere.example/B02.tif"
    path.write_text(json.dumps(item))
    with pytest.raises(MasksError, match=r"band B02 is at https://elsewhere\.example/B02\.tif"):
        scenes.select(catalog, [item_id])
    label = catalog / "alcd-reference-cloud-masks" / item_id / f"{item_id}.json"
    data = json.loads(label.read_text())
    del data["properties"]["proj:shape"]
    label.write_text(json.dumps(data))
    with pytest.raises(MasksError, match=rf"{item_id}\.json: no usable proj:code"):
        scenes.select(catalog, [item_id], need_imagery=False)
