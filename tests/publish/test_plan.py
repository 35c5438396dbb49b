"""The publish plan: phases in reader order, content types and caching, what is kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacgen.publish.absolute import stage_absolute
from stacgen.publish.plan import (
    IMMUTABLE,
    SHA256,
    SHORT,
    LocalFile,
    Phase,
    RemoteObject,
    catalog_files,
    make_plan,
)

ROOT = "https://data.example.org/alcd"
COG = "image/tiff; application=geotiff; profile=cloud-optimized"


@pytest.fixture(scope="module")
def files(built_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, LocalFile]:
    staging = tmp_path_factory.mktemp("plan") / "catalog"
    stage_absolute(built_catalog, ROOT, staging)
    return {f.key: f for f in catalog_files(staging)}


def by_name(files: dict[str, LocalFile], name: str) -> LocalFile:
    """The first file whose name ends so (`used_parameters.json` carries its subset's name)."""
    return next(f for key, f in sorted(files.items()) if key.endswith(name))


@pytest.mark.parametrize(
    ("name", "phase", "media", "cache"),
    [
        ("classification.tif", Phase.ASSETS, COG, IMMUTABLE),
        ("thumbnail.png", Phase.ASSETS, "image/png", IMMUTABLE),
        ("samples.geojson", Phase.ASSETS, "application/geo+json", IMMUTABLE),
        ("samples_shapefile.zip", Phase.ASSETS, "application/zip", IMMUTABLE),
        ("used_parameters.json", Phase.ASSETS, "application/json", IMMUTABLE),
        ("items.parquet", Phase.PARQUET, "application/vnd.apache.parquet", SHORT),
        ("collection.json", Phase.COLLECTIONS, "application/json", SHORT),
        ("catalog.json", Phase.ROOT, "application/json", SHORT),
        ("README.md", Phase.ASSETS, "text/markdown; charset=utf-8", SHORT),
    ],
)
def test_each_file_gets_its_phase_type_and_cache(
    files: dict[str, LocalFile], name: str, phase: Phase, media: str, cache: str
) -> None:
    file = by_name(files, name)
    assert (file.phase, file.content_type, file.cache_control) == (phase, media, cache)


def test_items_are_geojson_sent_after_assets(files: dict[str, LocalFile]) -> None:
    items = [f for f in files.values() if f.phase == Phase.ITEMS]
    assert items
    assert all(f.content_type == "application/geo+json" for f in items)
    assert all(Path(f.key).stem == Path(f.key).parent.name for f in items)


def test_sha256_matches_the_bytes(files: dict[str, LocalFile]) -> None:
    import hashlib

    assert files
    for file in files.values():
        assert file.sha256 == hashlib.sha256(file.path.read_bytes()).hexdigest(), file.key


def test_plan_phases_run_in_reader_order(files: dict[str, LocalFile]) -> None:
    plan = make_plan(list(files.values()), {})
    phases = [batch[0].phase for batch in plan.phases()]
    assert phases == [Phase.ASSETS, Phase.ITEMS, Phase.PARQUET, Phase.COLLECTIONS, Phase.ROOT]
    assert plan.phases()[-1] == [files["catalog.json"]]


def test_kept_only_when_size_digest_and_headers_match(files: dict[str, LocalFile]) -> None:
    a, b, c, d = sorted(files.values(), key=lambda f: f.key)[:4]
    remote = {
        a.key: RemoteObject(a.key, a.size, a.attributes()),
        b.key: RemoteObject(b.key, b.size, {**b.attributes(), SHA256: "0" * 64}),
        c.key: RemoteObject(c.key, c.size, {**c.attributes(), "Cache-Control": "no-store"}),
        d.key: RemoteObject(d.key, d.size + 1, None),
        "old/gone.json": RemoteObject("old/gone.json", 5, None),
        "old/gone.tif": RemoteObject("old/gone.tif", 7, None),
    }
    plan = make_plan([a, b, c, d], remote)
    assert plan.keep == [a]
    assert sorted(f.key for f in plan.send) == sorted([b.key, c.key, d.key])
    assert [o.key for o in plan.stale] == ["old/gone.json", "old/gone.tif"]
    assert plan.delete == [], "what is deleted is decided with the published state"
