"""The build against hostile input, racing builds and a killed build (issue 13, items 1-9).

Every damaged input is made at test time from the synthetic archive; each case ends in a
catalog or in one line per problem, and never loses what was in `--out` before.
"""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import psutil
import pyarrow.parquet as pq
import pytest
import rasterio
import stac_geoparquet.arrow
from affine import Affine
from click.testing import CliRunner

from stacgen import constants
from stacgen.assemble import pipeline, process, staging, workers
from stacgen.assemble.pipeline import BuildError, BuildOptions, build
from stacgen.cli import main
from stacgen.errors import OutputError
from stacgen.layout.catalog import STATE_FILE
from stacgen.source import naming
from stacgen.source.archive import ArchiveError
from stacgen.source.scene import Scene, scene_folders
from stacgen.stac.validate import validate_catalog
from stacgen.testing import synthetic

COLL = constants.COLLECTION_ID
SIZE = 32  # px: the pixels do not matter here, only what is around them


def _tree(tmp_path: Path, size: int = SIZE, count: int = synthetic.REPRESENTATIVE_COUNT) -> Path:
    folders = synthetic.default_folders(count)
    return synthetic.make_tree(tmp_path / "src", size=size, folders=folders)


def _plain(top: Path) -> list[Path]:
    """Scene folders of products found once, compact names first."""
    found = [f for f in scene_folders(top) if f.name != constants.SHARED_PRODUCT]
    return sorted(found, key=lambda f: ("_OPER_" in f.name, f.name))


def _legacy(top: Path) -> Path:
    return next(f for f in _plain(top) if "_OPER_" in f.name)


def _options(archive: Path, out: Path, cache: Path, **kw: Any) -> BuildOptions:
    kw.setdefault("workers", 1)
    return BuildOptions(archive=archive, out=out, cache_dir=cache, **kw)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _rewrite(path: Path, **changes: Any) -> None:
    """Write the raster again with some of its profile changed (crs, transform)."""
    with rasterio.open(path) as src:
        profile, data = src.profile, src.read(1)
    profile.update(changes)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def _edit_json(path: Path, **changes: Any) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def _cli(*args: object) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args])


# --- 1. build --out replaces only what stacgen wrote ----------------------------------------------
def test_a_folder_of_other_files_is_refused_and_kept(tmp_path: Path) -> None:
    top = _tree(tmp_path)
    out = tmp_path / "u"
    (out / "docs").mkdir(parents=True)
    (out / "docs" / "t.txt").write_text("x")
    result = _cli("build", "--archive", top, "--out", out, "--cache-dir", tmp_path / "c",
                  "--no-validate")  # fmt: skip
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith(f"Error: {out}: not empty and not a catalog stacgen wrote")
    assert [ln for ln in result.stderr.splitlines() if not ln.startswith("WARNING")] == [line]
    assert (out / "docs" / "t.txt").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src", "u"], "nothing written beside"


def test_a_file_as_out_is_refused_and_kept(tmp_path: Path) -> None:
    top = _tree(tmp_path)
    out = tmp_path / "file.txt"
    out.write_text("keep me")
    with pytest.raises(OutputError, match=rf"^{out}: not a folder"):
        build(_options(top, out, tmp_path / "c"))
    assert out.read_text() == "keep me"


def test_an_empty_folder_and_a_catalog_of_ours_are_replaced(tmp_path: Path) -> None:
    top = _tree(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    build(_options(top, out, tmp_path / "c"))
    assert (out / STATE_FILE).is_file()
    report = build(_options(top, out, tmp_path / "c", force=True))
    assert report.built == report.items
    # The repository's catalog/ folder holds only the README a build writes there.
    readme_only = tmp_path / "catalog"
    readme_only.mkdir()
    (readme_only / "README.md").write_text(pipeline.catalog_readme())
    build(_options(top, readme_only, tmp_path / "c"))
    assert (readme_only / STATE_FILE).is_file()


def test_out_a_link_to_a_catalog_is_followed_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 18: the link stays a link, the catalog it points to is the one rebuilt, and the
    warning says so; before, the link was replaced and the message said "untouched"."""
    top = _tree(tmp_path)
    real = tmp_path / "data" / "catalog"
    build(_options(top, real, tmp_path / "c"))
    link = tmp_path / "catalog-link"
    link.symlink_to(real)
    with caplog.at_level("WARNING"):
        report = build(_options(top, link, tmp_path / "c", force=True))
    assert report.built == report.items > 0
    assert link.is_symlink()
    assert os.readlink(link) == str(real)
    assert (real / STATE_FILE).is_file()
    assert any(
        str(link) in r.getMessage() and str(real) in r.getMessage() and "link" in r.getMessage()
        for r in caplog.records
    ), [r.getMessage() for r in caplog.records]


def test_out_a_link_to_a_folder_of_other_files_is_refused_naming_the_target(
    tmp_path: Path,
) -> None:
    top = _tree(tmp_path)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("keep me")
    link = tmp_path / "link"
    link.symlink_to(theirs)
    with pytest.raises(OutputError, match=rf"^{theirs}: not empty and not a catalog"):
        build(_options(top, link, tmp_path / "c"))
    assert link.is_symlink()
    assert _snapshot(theirs) == {"notes.txt": b"keep me"}


def test_out_a_link_loop_is_one_line(tmp_path: Path) -> None:
    top = _tree(tmp_path)
    a, b = tmp_path / "a", tmp_path / "b"
    a.symlink_to(b)
    b.symlink_to(a)
    result = _cli("build", "--archive", top, "--out", a, "--cache-dir", tmp_path / "c",
                  "--no-validate", "--quiet")  # fmt: skip
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: --out {a}: a symbolic link that loops: refusing to follow it"
    )
    assert a.is_symlink()
    assert b.is_symlink()


def test_out_the_file_system_root_is_one_line(tmp_path: Path) -> None:
    top = _tree(tmp_path)
    result = _cli("build", "--archive", top, "--out", "/", "--cache-dir", tmp_path / "c",
                  "--no-validate", "--quiet")  # fmt: skip
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.strip().splitlines()[-1] == (
        "Error: --out /: the root of the file system cannot be a catalog folder"
    )


def _tgz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize(
    ("members", "holds"),
    [({}, "(it is empty)"), ({"notes/readme.txt": b"hello"}, "(it holds notes/)")],
)
def test_an_empty_or_unrelated_tgz_is_named_not_its_cache_folder(
    tmp_path: Path, members: dict[str, bytes], holds: str
) -> None:
    """Issue 18: the line named the cache's extraction folder instead of the archive."""
    tgz = _tgz(tmp_path / "mine.tgz", members)

    def last_line() -> str:
        result = _cli("build", "--archive", tgz, "--out", tmp_path / "out", "--cache-dir",
                      tmp_path / "c", "--no-validate", "--quiet")  # fmt: skip
        assert result.exit_code == 1
        return str(result.output.strip().splitlines()[-1])

    extracted, cached = last_line(), last_line()  # then found extracted in the cache
    assert cached == extracted
    assert extracted.startswith(f"Error: {tgz}: not the ALCD dataset: no "), extracted
    assert holds in extracted
    assert str(tmp_path / "c") not in extracted


def test_a_member_name_too_long_for_any_file_system_is_named(tmp_path: Path) -> None:
    """Issue 18: "not a readable tgz archive" for a member whose name has 5,000 bytes."""
    name = f"{constants.TOP_FOLDER}/" + "x" * 5000
    tgz = _tgz(tmp_path / "long.tgz", {name: b"x"})
    result = _cli("build", "--archive", tgz, "--out", tmp_path / "out", "--cache-dir",
                  tmp_path / "c", "--no-validate", "--quiet")  # fmt: skip
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(f"Error: {tgz}: refused member '{constants.TOP_FOLDER}/xxx"), last
    assert "a name of 5000 bytes (file systems take 255)" in last
    assert len(last) < 600, "the name is shortened"


@pytest.mark.parametrize("root_href", ["http://[::1/x", "https://example.org/a?b", "ftp://x y"])
def test_a_root_href_readers_could_not_resolve_is_one_line(tmp_path: Path, root_href: str) -> None:
    top = _tree(tmp_path)
    result = _cli("build", "--archive", top, "--out", tmp_path / "out", "--cache-dir",
                  tmp_path / "c", "--root-href", root_href, "--quiet")  # fmt: skip
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    (line,) = [ln for ln in result.output.splitlines() if not ln.startswith("WARNING")]
    assert line.startswith(f"Error: --root-href {root_href!r}: expected an http(s)://")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "deep", ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000]
)
def test_json_nested_100000_deep_in_a_scene_file_is_one_problem(tmp_path: Path, deep: str) -> None:
    top = _tree(tmp_path)
    first = _plain(top)[0]
    (first / constants.PARAMETERS).write_text(deep)
    result = _cli("build", "--archive", top, "--out", tmp_path / "out", "--cache-dir",
                  tmp_path / "c", "--no-validate", "--quiet")  # fmt: skip
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert f"{first / constants.PARAMETERS}: malformed JSON (nested too deep)" in lines
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", [[1, 2], {"x": 1}])
def test_a_list_or_object_valued_parameter_builds(tmp_path: Path, value: Any) -> None:
    """Issue 18 (ArrowInvalid): a parameter another scene holds as a number or a string."""
    top = _tree(tmp_path)
    first = _plain(top)[0]
    params = json.loads((first / constants.PARAMETERS).read_text())
    assert params, "the synthetic scene has parameters"
    name = next(iter(params))
    _edit_json(first / constants.PARAMETERS, **{name: value})
    out = tmp_path / "out"
    build(_options(top, out, tmp_path / "c"))
    rows = pq.read_table(out / COLL / "items.parquet").to_pylist()
    (row,) = [r for r in rows if r["id"] == first.name]
    (key,) = [k for k in row["assets"] if k.startswith("parameters_") and row["assets"][k]]
    written = out / COLL / row["assets"][key]["href"]
    assert json.loads(written.read_text())[name] == value


# --- 2. --skip-bad-scenes leaves nothing of a skipped scene --------------------------------------
def test_a_skipped_scene_leaves_nothing_and_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, schemas: Path
) -> None:
    top = _tree(tmp_path)
    bad = _plain(top)[0]
    shp = bad / constants.SAMPLES_DIR / "land.shp"
    assert shp.is_file()
    shp.write_bytes(b"\0" * 100)  # a shapefile header that no reader accepts
    out, cache = tmp_path / "out", tmp_path / "c"
    report = build(_options(top, out, cache, skip_bad_scenes=True))
    assert len(report.skipped) == 1
    assert str(shp) in report.skipped[0]
    assert not (out / COLL / bad.name).exists(), "no folder of the skipped scene"
    saved = json.loads((out / STATE_FILE).read_text())
    assert bad.name not in saved["items"]
    assert not any(name.startswith(f"{COLL}/{bad.name}/") for name in saved["files"])
    assert validate_catalog(out, schemas) == []
    # The next run is not "up to date": it tries the skipped scene again, and only that one.
    processed: list[str] = []
    real = workers._attempt

    def counting(scene: Scene, folder: Path) -> object:
        processed.append(scene.id)
        return real(scene, folder)

    monkeypatch.setattr(workers, "_attempt", counting)
    again = build(_options(top, out, cache, skip_bad_scenes=True))
    assert not again.up_to_date
    assert processed == [bad.name]


# --- 3. two builds into one --out -----------------------------------------------------------------
def _command(top: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    command = [sys.executable, "-m", "stacgen", "build", "--archive", str(top), "--out", str(out)]
    return [*command, "--cache-dir", str(cache), "--no-validate", *extra]


def _wait_for(condition: Any, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_second_build_into_the_same_out_refuses_in_one_line(
    tmp_path: Path, schemas: Path
) -> None:
    top = _tree(tmp_path, size=183)
    out, cache = tmp_path / "out", tmp_path / "c"
    first = subprocess.Popen(
        _command(top, out, cache, "--workers", "1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stage = staging.staging_dir(out.absolute())
        _wait_for(lambda: list(stage.glob("*/*/*.tif")) or first.poll() is not None)
        assert first.poll() is None, "the first build ended before the second started"
        second = _cli("build", *_command(top, out, cache, "--workers", "1")[4:])
        assert second.exit_code == 1
        lines = [ln for ln in second.stderr.splitlines() if not ln.startswith("WARNING")]
        assert lines == [
            f"Error: {out}: another stacgen build (pid {first.pid}) is writing this catalog "
            f"(lock {staging.lock_path(out)}); run this one again once it has finished"
        ]
    finally:
        _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert validate_catalog(out, schemas) == []
    assert not staging.lock_path(out).exists(), "the lock goes with the build"
    assert build(_options(top, out, cache)).up_to_date


# --- 4. parameters whose types differ between scenes ----------------------------------------------
def _compared(props: dict[str, Any]) -> dict[str, Any]:
    """Properties as items.parquet gives them back: `datetime` is spelled otherwise there, and
    a key that other rows have comes back as null (nulls are left out on both sides)."""
    return {k: v for k, v in props.items() if v is not None and k != "datetime"}


def test_parameters_of_other_types_keep_the_build_and_the_parquet(tmp_path: Path) -> None:
    top = _tree(tmp_path)
    first, second = _plain(top)[:2]
    _edit_json(first / constants.PARAMETERS, nb_samples="1831")
    _edit_json(second / constants.PARAMETERS, clear_date=20170902, resolution="60")
    out = tmp_path / "out"
    build(_options(top, out, tmp_path / "c"))
    table = pq.read_table(out / COLL / "items.parquet")
    back = {i["id"]: i for i in stac_geoparquet.arrow.stac_table_to_items(table)}
    for folder in (first, second):
        item = json.loads((out / COLL / folder.name / f"{folder.name}.json").read_text())
        (key,) = [k for k in item["assets"] if k.startswith("parameters_")]
        written = out / COLL / folder.name / item["assets"][key]["href"]
        assert written.read_bytes() == (folder / constants.PARAMETERS).read_bytes()
        assert "alcd:parameters" not in item["properties"]
        assert _compared(back[folder.name]["properties"]) == _compared(item["properties"])
    # A number of eight digits is the date it spells, a string as in every other item.
    second_item = json.loads((out / COLL / second.name / f"{second.name}.json").read_text())
    assert second_item["properties"]["alcd:clear_date"] == "2017-09-02"


def test_folds_given_as_text_are_the_folds_listed(tmp_path: Path) -> None:
    """`"K": "10"` in one scene, 10 in the others: alcd:k_folds stays a number everywhere."""
    top = _tree(tmp_path)
    first = _plain(top)[0]
    stats = json.loads((first / constants.STATISTICS).read_text())
    _edit_json(first / constants.STATISTICS, K="10")
    out = tmp_path / "out"
    build(_options(top, out, tmp_path / "c"))
    item = json.loads((out / COLL / first.name / f"{first.name}.json").read_text())
    assert item["properties"]["alcd:k_folds"] == len(stats["all_metrics"])
    rows = pq.read_table(out / COLL / "items.parquet").to_pylist()
    assert {type(row["alcd:k_folds"]) for row in rows} == {int}


# --- 5. a raster not where its tile is ------------------------------------------------------------
def _problems(top: Path, tmp_path: Path) -> list[str]:
    with pytest.raises(BuildError) as caught:
        build(_options(top, tmp_path / "out", tmp_path / "c"))
    return caught.value.problems


def test_rasters_in_geographic_coordinates_are_a_problem(tmp_path: Path) -> None:
    top = _tree(tmp_path)
    folder = _plain(top)[0]
    for rel in (constants.CLASSIFICATION_MAP, constants.CONFIDENCE_MAP):
        _rewrite(folder / rel, crs="EPSG:4326", transform=Affine(0.01, 0, 3.0, 0, -0.01, 44.0))
    tile = folder.name.split("_T")[-1][:5]
    epsg = naming.Tile(tile).epsg
    assert _problems(top, tmp_path) == [
        f"{folder / rel}: raster is in EPSG:4326, tile {tile} is in EPSG:{epsg}"
        for rel in (constants.CLASSIFICATION_MAP, constants.CONFIDENCE_MAP)
    ]


def test_a_class_map_in_another_utm_zone_is_a_problem(tmp_path: Path) -> None:
    top = _tree(tmp_path)
    folder = _plain(top)[0]
    tile = naming.Tile(folder.name.split("_T")[-1][:5])
    other = tile.epsg + 2 if tile.zone < 59 else tile.epsg - 2
    _rewrite(folder / constants.CLASSIFICATION_MAP, crs=f"EPSG:{other}")
    (problem,) = _problems(top, tmp_path)
    assert problem == (
        f"{folder / constants.CLASSIFICATION_MAP}: raster is in EPSG:{other}, "
        f"tile {tile.id} is in EPSG:{tile.epsg}"
    )


def test_a_legacy_tile_over_a_raster_of_another_zone_is_a_problem(tmp_path: Path) -> None:
    top = _tree(tmp_path)
    folder = _legacy(top)
    stated = json.loads((folder / constants.PARAMETERS).read_text())["tile"]
    wrong = "37SEA" if not stated.startswith("37") else "31TFJ"
    _edit_json(folder / constants.PARAMETERS, tile=wrong)
    problems = _problems(top, tmp_path)
    assert len(problems) == 2
    assert all(f"tile {wrong} is in EPSG:{naming.Tile(wrong).epsg}" in p for p in problems)


def test_a_raster_far_from_its_tile_is_a_problem(tmp_path: Path) -> None:
    top = _tree(tmp_path)
    folder = _plain(top)[0]
    for rel in (constants.CLASSIFICATION_MAP, constants.CONFIDENCE_MAP):
        with rasterio.open(folder / rel) as src:
            moved = Affine.translation(0, 1_500_000) * src.transform  # 1,500 km north
        _rewrite(folder / rel, transform=moved)
    problems = _problems(top, tmp_path)
    assert len(problems) == 2
    assert all("is outside tile" in p and "band" in p for p in problems), problems


# --- 6. NaN scores --------------------------------------------------------------------------------
def test_nan_in_the_k_fold_means_is_a_problem_of_the_file(tmp_path: Path) -> None:
    top = _tree(tmp_path)
    path = _plain(top)[0] / constants.STATISTICS
    text = path.read_text()
    data = json.loads(text)
    data["means"][0] = float("nan")
    path.write_text(json.dumps(data))  # Python writes NaN, as the authors' numpy may have
    assert "NaN" in path.read_text()
    assert _problems(top, tmp_path) == [f"{path}: 'means' holds NaN or an infinity, not a score"]


# --- 7. one line, not a traceback -----------------------------------------------------------------
def test_an_unreadable_scene_folder_is_one_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = _tree(tmp_path)
    folder = _plain(top)[0]
    folder.chmod(0)
    try:
        if os.geteuid() == 0:  # root reads anything: the folder's refusal is simulated
            real = os.listdir

            def refuse(path: Any) -> list[str]:
                if Path(path) == folder:
                    raise PermissionError(errno.EACCES, "Permission denied", str(path))
                return real(path)

            monkeypatch.setattr(os, "listdir", refuse)
        assert _problems(top, tmp_path) == [f"{folder}: cannot be read (Permission denied)"]
    finally:
        folder.chmod(0o755)


def test_an_unreadable_subset_folder_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = _tree(tmp_path)
    subset = top / constants.SUBSETS[0]
    real = Path.iterdir

    def refuse(self: Path) -> Any:
        if self == subset:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "iterdir", refuse)
    assert _problems(top, tmp_path) == [f"{subset}: Permission denied"]


def test_a_full_cache_disk_is_not_a_damaged_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tgz = synthetic.pack(_tree(tmp_path), tmp_path / "a.tgz")
    cache = tmp_path / "c"
    real = tarfile.TarFile.extract
    written: list[str] = []

    def full(self: tarfile.TarFile, member: tarfile.TarInfo, path: str, **kw: Any) -> None:
        if len(written) > 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(member.name)
        real(self, member, path, **kw)

    monkeypatch.setattr(tarfile.TarFile, "extract", full)
    with pytest.raises(ArchiveError) as caught:
        build(_options(tgz, tmp_path / "out", cache))
    assert str(caught.value) == (
        f"{tgz}: cannot unpack it into the cache {cache}: No space left on device; "
        f"{tmp_path / 'out'} is untouched"
    )
    assert not list((cache / "extracted").iterdir()), "the partial extraction is removed"


def test_a_full_disk_while_saving_is_one_line_and_keeps_the_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = _tree(tmp_path)
    out = tmp_path / "out"
    build(_options(top, out, tmp_path / "c"))
    before = _snapshot(out)
    target = staging.staging_dir(out) / COLL / "collection.json"

    def full(*args: Any, **kw: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(target))

    monkeypatch.setattr(pipeline, "save_catalog", full)
    with pytest.raises(BuildError) as caught:
        build(_options(top, out, tmp_path / "c", force=True))
    assert caught.value.problems == [f"{target}: No space left on device"]
    assert _snapshot(out) == before


def test_a_full_disk_in_a_worker_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = _tree(tmp_path)
    folder = _plain(top)[0]

    real = process.process_scene

    def full(scene: Scene, item_dir: Path) -> Any:
        if scene.folder == folder:
            raise OSError(errno.ENOSPC, "No space left on device", str(item_dir / "x.tif"))
        return real(scene, item_dir)

    monkeypatch.setattr(process, "process_scene", full)
    problems = _problems(top, tmp_path)
    assert problems == [f"{staging.item_dir(staging.staging_dir(tmp_path / 'out'), folder.name)}"
                        "/x.tif: No space left on device"]  # fmt: skip


def test_a_truncated_tiff_names_the_file_and_the_cause(tmp_path: Path) -> None:
    top = _tree(tmp_path, size=183)
    path = _plain(top)[0] / constants.CLASSIFICATION_MAP
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    assert _problems(top, tmp_path) == [
        f"{path}: truncated or damaged raster, its pixels cannot be read"
    ]


# --- 8. what the messages name -------------------------------------------------------------------
def test_problems_in_a_tgz_name_the_archive_member_and_escape_control_characters(
    tmp_path: Path,
) -> None:
    top = _tree(tmp_path)
    odd = _plain(top)[0].with_name("S2B_\x1b[31mRED\x07")
    _plain(top)[0].rename(odd)
    statistics = _plain(top)[1] / constants.STATISTICS
    statistics.write_text("{not json")
    tgz = synthetic.pack(top, tmp_path / "a.tgz")
    cache = tmp_path / "c"
    problems = _problems_of(tgz, tmp_path, cache)
    member = f"{tgz} member {constants.TOP_FOLDER}"
    assert all(str(cache) not in p for p in problems), problems
    assert all(ord(c) >= 0x20 for p in problems for c in p), problems
    assert f"{member}/{odd.parent.name}/S2B_\\x1b[31mRED\\x07: " in "\n".join(problems)
    relative = statistics.relative_to(top)
    assert any(p.startswith(f"{member}/{relative}: malformed JSON") for p in problems), problems
    # The command prints the same lines.
    result = _cli("build", "--archive", tgz, "--out", tmp_path / "o", "--cache-dir", cache,
                  "--no-validate")  # fmt: skip
    assert result.exit_code == 1
    assert "\x1b" not in result.stderr
    assert str(cache) not in result.stderr


def _problems_of(tgz: Path, tmp_path: Path, cache: Path) -> list[str]:
    with pytest.raises(BuildError) as caught:
        build(_options(tgz, tmp_path / "out", cache))
    return caught.value.problems


# --- 9. workers die with the build ----------------------------------------------------------------
def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_killing_the_build_leaves_no_worker_alive(tmp_path: Path) -> None:
    top = _tree(tmp_path, size=183, count=synthetic.REPRESENTATIVE_COUNT + 2)
    out, cache = tmp_path / "out", tmp_path / "c"
    proc = subprocess.Popen(
        _command(top, out, cache, "--workers", "2"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stage = staging.staging_dir(out.absolute())
    _wait_for(lambda: list(stage.glob("*/*/*.tif")) or proc.poll() is not None)
    assert proc.poll() is None, "the build ended before it could be killed"
    family = psutil.Process(proc.pid).children(recursive=True)
    assert len(family) >= 2, "the forkserver and the workers at least"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 15
    while not all(_gone(p.pid) for p in family) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = [(p.pid, p.name()) for p in family if not _gone(p.pid)]
    for p in family:
        if not _gone(p.pid):
            p.kill()  # do not leave them to the next test
    assert alive == []
    # The killed build's lock went with it: the next build runs.
    assert build(_options(top, out, cache)).items > 0
