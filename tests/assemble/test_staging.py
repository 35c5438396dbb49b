"""stacgen.assemble.staging: where a build writes, and reusing an unchanged item folder."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from stacgen import constants
from stacgen.assemble import staging
from stacgen.layout.catalog import STATE_FILE


def test_staging_sits_beside_out_and_is_made_afresh(tmp_path: Path) -> None:
    out = tmp_path / "catalog"
    left = staging.staging_dir(out) / "left-by-a-killed-build"
    left.mkdir(parents=True)
    staging.make_staging_dir(out)
    assert staging.staging_root(out).parent == tmp_path
    assert staging.staging_dir(out).is_dir()
    assert not left.exists()
    staging.remove_staging(out)
    assert not staging.staging_root(out).exists()


def _item_id(catalog: Path) -> str:
    folder = catalog / constants.COLLECTION_ID
    return next(p.name for p in sorted(folder.iterdir()) if (p / f"{p.name}.json").is_file())


def test_reuse_links_an_intact_item_folder(built_catalog: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(built_catalog, out)
    files = json.loads((out / STATE_FILE).read_text())["files"]
    item_id = _item_id(out)
    new = tmp_path / "new"
    item = staging.reuse_item(out, new, item_id, files)
    assert item is not None
    assert item.id == item_id
    assert {link.rel for link in item.links}.isdisjoint(staging.STRUCTURAL_RELS)
    source = out / constants.COLLECTION_ID / item_id / "classification.tif"
    target = new / constants.COLLECTION_ID / item_id / "classification.tif"
    assert os.path.samefile(source, target)  # a hard link, not a copy
    assert not (new / constants.COLLECTION_ID / item_id / f"{item_id}.json").exists()


def test_reuse_refuses_a_changed_item_folder(built_catalog: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(built_catalog, out)
    files = json.loads((out / STATE_FILE).read_text())["files"]
    item_id = _item_id(out)
    with (out / constants.COLLECTION_ID / item_id / "classification.tif").open("ab") as fh:
        fh.write(b"x")
    assert staging.reuse_item(out, tmp_path / "new", item_id, files) is None
    assert not (tmp_path / "new" / constants.COLLECTION_ID / item_id).exists()
