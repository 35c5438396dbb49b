"""The build end to end: layout, COG pixels, reproducibility, incremental, atomic, bad input."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from stacgen import constants
from stacgen.assemble import pipeline, workers
from stacgen.assemble.pipeline import BuildError, BuildOptions, build
from stacgen.layout.catalog import STATE_FILE
from stacgen.source.archive import ArchiveError, extracted
from stacgen.source.scene import Scene, scene_folders
from stacgen.testing import synthetic
from tests.paths import REPO

COLL = constants.COLLECTION_ID
TEST_SIZE = 183
# The authors' class colours, from the class table of ../shared/ALCD.md (value: RGB).
ALCD_COLOURS = {
    0: (195, 255, 42),
    1: (187, 83, 58),
    2: (210, 210, 210),
    3: (255, 123, 184),
    4: (10, 10, 10),
    5: (0, 151, 56),
    6: (0, 142, 208),
    # ALCD.md: the maps' dark grey (77,77,77); the catalog paints snow in the contour
    # pictures' purple, which the shadows' near-black does not sit next to.
    7: (196, 86, 199),
}


def _visual(classes: np.ndarray) -> np.ndarray:
    """The RGBA bands visual.tif must hold: the class colours, transparent on no data."""
    rgba = np.zeros((4, *classes.shape), dtype=np.uint8)
    for value, rgb in ALCD_COLOURS.items():
        where = classes == value
        for band, level in enumerate(rgb):
            rgba[band][where] = level
        rgba[3][where] = 0 if value == 0 else 255
    return rgba


def _tree(tmp_path: Path, folders: tuple[constants.SceneFolder, ...] | None = None) -> Path:
    """An extracted synthetic archive that a test may damage."""
    chosen = folders or synthetic.default_folders(synthetic.REPRESENTATIVE_COUNT + 2)
    return synthetic.make_tree(tmp_path / "src", size=TEST_SIZE, folders=chosen)


def _plain_folders(top: Path) -> list[Path]:
    """Scene folders of products found once (damaging the shared one's copy is another test)."""
    return [f for f in scene_folders(top) if f.name != constants.SHARED_PRODUCT]


def _options(archive: Path, out: Path, cache: Path, **kw: object) -> BuildOptions:
    kw.setdefault("workers", 1)
    return BuildOptions(archive=archive, out=out, cache_dir=cache, **kw)  # type: ignore[arg-type]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _published(folder: Path) -> dict[str, bytes]:
    """The snapshot without the build's own state file (it names the archive's checksum)."""
    files = _snapshot(folder)
    del files[STATE_FILE]
    return files


def test_layout_one_item_per_product(
    built_catalog: Path, archive_folders: tuple[constants.SceneFolder, ...]
) -> None:
    products = {f.product for f in archive_folders}
    root = json.loads((built_catalog / "catalog.json").read_text())
    assert [link["href"] for link in root["links"] if link["rel"] == "child"] == [
        f"./{COLL}/collection.json"
    ]
    items = sorted(p.name for p in (built_catalog / COLL).iterdir() if p.is_dir())
    assert items == sorted(products)
    for item_id in items:
        data = json.loads((built_catalog / COLL / item_id / f"{item_id}.json").read_text())
        assert data["id"] == item_id
        for asset in data["assets"].values():
            assert not asset["href"].startswith("/"), "self-contained: relative hrefs only"
            assert (built_catalog / COLL / item_id / asset["href"]).is_file()
    assert (built_catalog / "README.md").read_text() == pipeline.catalog_readme()


def test_committed_catalog_readme_is_what_the_build_writes() -> None:
    committed = REPO / "catalog" / "README.md"
    assert committed.read_text() == pipeline.catalog_readme()


def test_every_cog_is_valid_and_keeps_the_source_pixels(
    built_catalog: Path, archive_top: Path
) -> None:
    folders = scene_folders(archive_top)
    assert folders
    for folder in folders:
        item_dir = built_catalog / COLL / folder.name
        with rasterio.open(folder / constants.CLASSIFICATION_MAP) as src:
            classes = src.read(1)
        with rasterio.open(folder / constants.CONFIDENCE_MAP) as src:
            confidence = np.where(classes == 0, 0, src.read(1))
        expected = {
            "classification.tif": classes[np.newaxis],
            "confidence.tif": confidence[np.newaxis],
            "visual.tif": _visual(classes),
        }
        for name, pixels in expected.items():
            valid, errors, warnings = cog_validate(item_dir / name, quiet=True)
            assert (valid, errors, warnings) == (True, [], []), name
            with rasterio.open(item_dir / name) as cog:
                assert np.array_equal(cog.read(), pixels), f"{folder.name}/{name}"
                # COGs under one 512 px block need no overviews (the tests' rasters are small).
                assert bool(cog.overviews(1)) == (cog.width > 512), name
        with rasterio.open(item_dir / "classification.tif") as cog:
            assert cog.nodata == 0
            assert cog.colormap(1)[3][:3] == constants.CLASS_BY_VALUE[3].rgb
            assert cog.tags()["OVERVIEW_RESAMPLING"] == "MODE"


def test_same_archive_gives_a_byte_identical_catalog(
    archive_tgz: Path, built_catalog: Path, tmp_path: Path, schemas: Path
) -> None:
    cache = tmp_path / "cache"
    # Cold (a fresh cache): each scene is processed while the rest of the archive is unpacked.
    build(_options(archive_tgz, tmp_path / "cold", cache, schemas=schemas, workers=2))
    # Warm: the extraction is found in the cache and read whole before any scene starts.
    build(_options(archive_tgz, tmp_path / "warm", cache, schemas=schemas))
    assert _snapshot(tmp_path / "cold") == _snapshot(built_catalog)
    assert _snapshot(tmp_path / "warm") == _snapshot(built_catalog)


def _count_processing(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the scenes processed from now on (one worker: in this process)."""
    processed: list[str] = []
    real = workers._attempt

    def counting(scene: Scene, item_dir: Path) -> object:
        processed.append(scene.id)
        return real(scene, item_dir)

    monkeypatch.setattr(workers, "_attempt", counting)
    return processed


def _late(pattern: str) -> Callable[[list[str]], list[str]]:
    """Hollstein's folders first, and the members matching `pattern` last."""

    def order(names: list[str]) -> list[str]:
        late = [name for name in names if fnmatch(name, pattern)]
        early = sorted(set(names) - set(late), key=lambda n: ("/Hollstein/" not in n, n))
        return early + late

    return order


@pytest.mark.parametrize(
    ("late", "redone"),
    [
        (None, False),  # the archive's own order: each scene is processed once
        (f"*/{constants.SAMPLES_DIR}/*", True),  # a scene started early is made again
        (f"*/{constants.STATISTICS}", False),  # every folder incomplete at first: held back
    ],
    ids=["as-packed", "samples-last", "statistics-last"],
)
def test_member_order_does_not_change_the_catalog(
    archive_tgz: Path,
    built_catalog: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    late: str | None,
    redone: bool,
) -> None:
    tgz = synthetic.repack(archive_tgz, tmp_path / "a.tgz", _late(late)) if late else archive_tgz
    processed = _count_processing(monkeypatch)
    report = build(_options(tgz, tmp_path / "out", tmp_path / "cache"))
    assert _published(tmp_path / "out") == _published(built_catalog)
    assert sorted(set(processed)) == sorted(p.name for p in (built_catalog / COLL).glob("S2*"))
    assert (len(processed) > report.items) == redone, processed


def test_bad_input_in_a_tgz_is_reported_as_in_a_folder(tmp_path: Path) -> None:
    top = _tree(tmp_path)
    _damage(top)
    with pytest.raises(BuildError) as from_folder:
        build(_options(top, tmp_path / "out", tmp_path / "cache"))
    tgz = synthetic.pack(top, tmp_path / "damaged.tgz")
    with pytest.raises(BuildError) as from_tgz:
        build(_options(tgz, tmp_path / "out", tmp_path / "cache", workers=2))
    root = extracted(tgz, tmp_path / "cache")
    assert root is not None, "the extraction itself is complete, and kept"

    def relative(problems: list[str], top: Path) -> list[str]:
        return sorted(problem.replace(str(top), "<top>") for problem in problems)

    # The tgz's problems name the archive and the member, never the cache's extraction.
    assert not any(str(root) in problem for problem in from_tgz.value.problems)
    member = f"{tgz} member {constants.TOP_FOLDER}"
    assert relative(from_tgz.value.problems, Path(member)) == relative(
        from_folder.value.problems, top
    )
    assert not (tmp_path / "out").exists()


def test_a_hostile_member_after_the_scenes_fails_the_build_and_keeps_nothing(
    archive_tgz: Path, built_catalog: Path, tmp_path: Path
) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    shutil.copytree(built_catalog, out)
    before = _snapshot(out)
    tgz = synthetic.repack(archive_tgz, tmp_path / "hostile.tgz", list, then="symlink")
    with pytest.raises(ArchiveError, match=rf"^{tgz}: refused member .*: link to"):
        build(_options(tgz, out, cache, workers=2))  # scenes are running when it is found
    assert _snapshot(out) == before
    assert not list((cache / "extracted").iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "hostile.tgz", "out"]


def test_rebuild_skips_unchanged_scenes_and_force_redoes_them(tmp_path: Path) -> None:
    top = _tree(tmp_path)
    out, cache = tmp_path / "out", tmp_path / "cache"
    first = build(_options(top, out, cache))
    assert first.built == first.items > 0
    again = build(_options(top, out, cache))
    assert again.up_to_date
    assert again.built == 0
    # Change one scene: only its item is rebuilt.
    params = _plain_folders(top)[0] / constants.PARAMETERS
    data = json.loads(params.read_text())
    data["location"] = "Somewhere else"
    params.write_text(json.dumps(data))
    partial = build(_options(top, out, cache))
    assert (partial.built, partial.reused) == (1, first.items - 1)
    item_id = _plain_folders(top)[0].name
    item = json.loads((out / COLL / item_id / f"{item_id}.json").read_text())
    (key,) = [k for k in item["assets"] if k.startswith("parameters_")]
    written = out / COLL / item_id / item["assets"][key]["href"]
    assert json.loads(written.read_text())["location"] == "Somewhere else"
    # A published file deleted or changed by hand: that item is made again, the rest reused.
    other = _plain_folders(top)[1].name
    (out / COLL / other / "thumbnail.png").unlink()
    repaired = build(_options(top, out, cache))
    assert (repaired.built, repaired.reused) == (1, first.items - 1)
    assert (out / COLL / other / "thumbnail.png").is_file()
    forced = build(_options(top, out, cache, force=True))
    assert forced.built == first.items


def _damage(top: Path) -> list[str]:
    """Break five scene folders in five ways; return the file each problem must name."""
    folders = _plain_folders(top)
    (folders[0] / constants.CONFIDENCE_MAP).unlink()
    (folders[1] / constants.STATISTICS).write_text("{not json")
    with rasterio.open(folders[2] / constants.CLASSIFICATION_MAP) as src:
        profile, data = src.profile, src.read(1)
    profile.update(dtype="uint16")
    with rasterio.open(folders[2] / constants.CLASSIFICATION_MAP, "w", **profile) as dst:
        dst.write(data.astype("uint16"), 1)
    with rasterio.open(folders[3] / constants.CONFIDENCE_MAP) as src:
        profile, data = src.profile, src.read(1)
    profile.pop("crs")
    with rasterio.open(folders[3] / constants.CONFIDENCE_MAP, "w", **profile) as dst:
        dst.write(data, 1)
    bad_name = folders[4].with_name("S2B_NOT_A_PRODUCT")
    folders[4].rename(bad_name)
    return [
        str(folders[0] / constants.CONFIDENCE_MAP),
        str(folders[1] / constants.STATISTICS),
        str(folders[2] / constants.CLASSIFICATION_MAP),
        str(folders[3] / constants.CONFIDENCE_MAP),
        str(bad_name),
    ]


def test_bad_input_reports_every_problem_and_keeps_the_previous_catalog(tmp_path: Path) -> None:
    top = _tree(tmp_path)
    out, cache = tmp_path / "out", tmp_path / "cache"
    build(_options(top, out, cache))
    before = _snapshot(out)
    expected = _damage(top)
    with pytest.raises(BuildError) as caught:
        build(_options(top, out, cache))
    problems = caught.value.problems
    for path in expected:
        assert sum(p.startswith(path + ":") for p in problems) >= 1, (path, problems)
    assert any("expected 8-bit" in p for p in problems)
    assert any("no CRS" in p for p in problems)
    assert any("malformed JSON" in p for p in problems)
    assert any("required file is missing" in p for p in problems)
    assert any("neither a compact nor a legacy" in p for p in problems)
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"], "no staging left"


def test_skip_bad_scenes_publishes_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    top = _tree(tmp_path)
    damaged = _damage(top)
    report = build(_options(top, tmp_path / "out", tmp_path / "cache", skip_bad_scenes=True))
    assert len(report.skipped) == len(damaged)
    warnings = [
        r for r in caplog.records if r.levelname == "WARNING" and "skipped scene" in r.message
    ]
    assert len(warnings) == len(damaged)
    good = {f.name for f in scene_folders(top)} - {Path(p).parts[-3] for p in damaged[:4]}
    good.discard("S2B_NOT_A_PRODUCT")
    built = {p.name for p in (tmp_path / "out" / COLL).iterdir() if p.is_dir()}
    assert built == good


def test_a_failure_before_the_swap_leaves_the_previous_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = _tree(tmp_path)
    out, cache = tmp_path / "out", tmp_path / "cache"
    build(_options(top, out, cache))
    before = _snapshot(out)

    def killed(*args: object, **kw: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "save_catalog", killed)
    with pytest.raises(KeyboardInterrupt):
        build(_options(top, out, cache, force=True))
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"], "no staging left"


def test_shared_product_with_different_rasters_is_an_error(tmp_path: Path) -> None:
    top = _tree(tmp_path)
    copy = top / "Hollstein" / constants.SHARED_PRODUCT / constants.CONFIDENCE_MAP
    with rasterio.open(copy) as src:
        profile, data = src.profile, src.read(1)
    with rasterio.open(copy, "w", **profile) as dst:
        dst.write(255 - data, 1)
    with pytest.raises(BuildError, match=r"build failed with 1 problem\(s\)") as caught:
        build(_options(top, tmp_path / "out", tmp_path / "cache"))
    (problem,) = caught.value.problems
    assert re.search(r"differs from .*\(same product\)", problem)


def test_value_outside_the_class_table_is_reported(tmp_path: Path) -> None:
    top = _tree(tmp_path)
    target = _plain_folders(top)[0] / constants.CLASSIFICATION_MAP
    with rasterio.open(target) as src:
        profile, data = src.profile, src.read(1)
    data[0, 0] = 9
    with rasterio.open(target, "w", **profile) as dst:
        dst.write(data, 1)
    with pytest.raises(BuildError) as caught:
        build(_options(top, tmp_path / "out", tmp_path / "cache"))
    (problem,) = caught.value.problems
    assert "values [9] are not in the ALCD class table" in problem


def test_a_build_killed_mid_way_leaves_the_previous_catalog_and_the_next_recovers(
    tmp_path: Path,
) -> None:
    top = _tree(tmp_path)
    out, cache = tmp_path / "out", tmp_path / "cache"
    build(_options(top, out, cache))
    before = _snapshot(out)
    staging = tmp_path / ".out.stacgen-build"
    command = [sys.executable, "-m", "stacgen", "build", "--archive", str(top), "--out"]
    command += [str(out), "--cache-dir", str(cache), "--force", "--workers", "1", "--no-validate"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list(staging.glob("catalog/*/*/*.tif")) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert staging.exists(), "killed while writing the new catalog"
    assert _snapshot(out) == before
    report = build(_options(top, out, cache, force=True))
    assert report.built == report.items
    assert not staging.exists()
    assert _snapshot(out) == before
