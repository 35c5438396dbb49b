"""The absolute variant of a catalog folder: every href under the root URL, the folder intact."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from stacgen.publish.absolute import StagingError, stage_absolute, validate_staged

ROOT = "https://data.example.org/alcd/v1"


def fingerprint(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def hrefs(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [v for k, v in value.items() if k == "href"] + [
            h for v in value.values() for h in hrefs(v)
        ]
    if isinstance(value, list):
        return [h for v in value for h in hrefs(v)]
    return []


@pytest.fixture(scope="module")
def staged(built_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    before = fingerprint(built_catalog)
    staging = tmp_path_factory.mktemp("staged") / "catalog"
    stage_absolute(built_catalog, ROOT, staging)
    assert fingerprint(built_catalog) == before, "the catalog folder stays self-contained"
    return staging


def test_every_stac_href_is_absolute_and_names_the_staged_file(staged: Path) -> None:
    paths = sorted(staged.rglob("*.json"))
    assert paths
    for path in paths:
        obj = json.loads(path.read_text())
        if "stac_version" not in obj:
            continue  # an asset that happens to be JSON
        url = f"{ROOT}/{path.relative_to(staged).as_posix()}"
        assert {"rel": "self", "href": url} in [
            {"rel": link["rel"], "href": link["href"]} for link in obj["links"]
        ]
        for href in hrefs(obj):
            assert href.startswith(("https://", "http://")), (path, href)
            if href.startswith(ROOT + "/"):
                assert (staged / href.removeprefix(ROOT + "/")).is_file(), href


def test_items_parquet_holds_the_absolute_items(staged: Path) -> None:
    collection_dir = staged / "alcd-reference-cloud-masks"
    table = pq.read_table(collection_dir / "items.parquet").to_pylist()
    items = sorted(collection_dir.glob("*/S2*.json"))
    assert sorted(row["id"] for row in table) == sorted(p.stem for p in items)
    for row in table:
        for asset in row["assets"].values():
            if asset is not None:
                assert asset["href"].startswith(f"{ROOT}/alcd-reference-cloud-masks/{row['id']}/")
    asset = json.loads((collection_dir / "collection.json").read_text())["assets"]["items"]
    data = (collection_dir / "items.parquet").read_bytes()
    assert asset["file:size"] == len(data)
    assert asset["file:checksum"] == "1220" + hashlib.sha256(data).hexdigest()


def test_the_staged_catalog_validates_offline(staged: Path, schemas: Path) -> None:
    validate_staged(staged, ROOT, schemas, workers=2)


def test_a_broken_staged_catalog_is_refused_with_its_problems(
    staged: Path, schemas: Path, tmp_path: Path
) -> None:
    import shutil

    broken = tmp_path / "catalog"
    shutil.copytree(staged, broken)
    victim = next(broken.glob("alcd-reference-cloud-masks/*/thumbnail.png"))
    victim.write_bytes(b"not the thumbnail")
    with pytest.raises(StagingError) as caught:
        validate_staged(broken, ROOT, schemas, workers=2)
    assert any("thumbnail" in str(p) for p in caught.value.problems)


def test_a_folder_without_catalog_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StagingError, match=r"no catalog\.json"):
        stage_absolute(tmp_path, ROOT, tmp_path / "out")
