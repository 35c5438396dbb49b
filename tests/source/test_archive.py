from __future__ import annotations

import gzip
import hashlib
import tarfile
import threading
from pathlib import Path

import pytest

from stacgen import constants
from stacgen.source import archive
from stacgen.source.archive import (
    COMPLETE_MARKER,
    ArchiveError,
    OpenedArchive,
    Unpacking,
    extracted,
    find_top,
    open_archive,
    unpacking,
)
from stacgen.testing import synthetic


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("escape", "path escapes"),
        ("absolute", "absolute path"),
        ("symlink", "link to"),
        ("hardlink", "link to"),
        ("device", "device"),
    ],
)
def test_hostile_members_are_refused_by_name(tmp_path: Path, kind: str, reason: str) -> None:
    tgz = synthetic.make_hostile_archive(tmp_path / f"{kind}.tgz", kind)  # type: ignore[arg-type]
    cache = tmp_path / "cache"
    with pytest.raises(ArchiveError, match=rf"{tgz}: refused member '.*': {reason}"):
        open_archive(tgz, cache)
    # Nothing half-extracted is left to be mistaken for a good extraction.
    assert not list((cache / "extracted").glob("*"))
    assert not (tmp_path / "evil").exists()


def test_extracts_once_then_reuses(tmp_path: Path, archive_tgz: Path) -> None:
    cache = tmp_path / "cache"
    first = open_archive(archive_tgz, cache)
    assert first.top.name == constants.TOP_FOLDER
    assert first.sha256 is not None
    assert first.top.parent.name == first.sha256
    assert (first.top.parent / COMPLETE_MARKER).exists()
    marker = first.top / "Reference_dataset" / "marker"
    marker.write_text("kept")  # a second open must not extract again
    second = open_archive(archive_tgz, cache)
    assert second == first
    assert marker.exists()


def test_incomplete_extraction_is_redone(tmp_path: Path, archive_tgz: Path) -> None:
    cache = tmp_path / "cache"
    first = open_archive(archive_tgz, cache)
    (first.top.parent / COMPLETE_MARKER).unlink()
    (first.top / "Reference_dataset" / "leftover").write_text("x")
    again = open_archive(archive_tgz, cache)
    assert again == first
    assert not (again.top / "Reference_dataset" / "leftover").exists()


def test_folder_input_at_either_level(tmp_path: Path) -> None:
    top = synthetic.make_tree(tmp_path, size=16, folders=synthetic.default_folders()[:1])
    assert open_archive(tmp_path, tmp_path / "c").top == top
    assert open_archive(top, tmp_path / "c") == open_archive(tmp_path, tmp_path / "c")
    assert find_top(top) == top


def test_missing_and_unreadable_archives(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="no such archive"):
        open_archive(tmp_path / "nope.tgz", tmp_path)
    junk = tmp_path / "junk.tgz"
    junk.write_bytes(b"not a tarball at all")
    with pytest.raises(ArchiveError, match=f"{junk}: not a readable tgz"):
        open_archive(junk, tmp_path / "cache")
    with pytest.raises(ArchiveError, match="no Reference_dataset"):
        find_top(tmp_path)


def _damaged(archive_tgz: Path, dest: Path, cut: bool) -> Path:
    """The archive cut in half, or with a run of its bytes zeroed in the middle."""
    data = bytearray(archive_tgz.read_bytes())
    middle = len(data) // 2
    if cut:
        del data[middle:]
    else:
        data[middle : middle + 64] = bytes(64)
    dest.write_bytes(bytes(data))
    return dest


@pytest.mark.parametrize("cut", [True, False], ids=["truncated", "zeroed"])
def test_a_damaged_archive_is_an_error_naming_it(
    tmp_path: Path, archive_tgz: Path, cut: bool
) -> None:
    bad = _damaged(archive_tgz, tmp_path / "damaged.tgz", cut)
    cache = tmp_path / "cache"
    with pytest.raises(ArchiveError, match=rf"^{bad}: (not a readable tgz archive|damaged)"):
        open_archive(bad, cache)
    assert not list((cache / "extracted").iterdir()), "nothing half-extracted is kept"


def _folder_names(job: Unpacking) -> list[str]:
    return [f"{folder.parent.name}/{folder.name}" for folder in job.scene_folders()]


def test_each_scene_folder_is_given_once_it_is_complete(
    tmp_path: Path, archive_tgz: Path, archive_folders: tuple[constants.SceneFolder, ...]
) -> None:
    with unpacking(archive_tgz, tmp_path / "cache") as job:
        assert isinstance(job, Unpacking)
        given = []
        for folder in job.scene_folders():
            given.append(f"{folder.parent.name}/{folder.name}")
            # Everything the folder holds in the archive is on disk when it is given.
            assert (folder / constants.STATISTICS).is_file()
            assert len(list((folder / constants.SAMPLES_DIR).glob("*.shp"))) > 0
    assert sorted(given) == sorted(f"{f.subset}/{f.product}" for f in archive_folders)
    assert extracted(archive_tgz, tmp_path / "cache") is not None


def test_a_folder_whose_members_come_back_is_given_again(tmp_path: Path, archive_tgz: Path) -> None:
    def samples_last(names: list[str]) -> list[str]:
        late = [n for n in names if f"/{constants.SAMPLES_DIR}/" in n]
        return [n for n in names if n not in late] + late

    tgz = synthetic.repack(archive_tgz, tmp_path / "reordered.tgz", samples_last)
    with unpacking(tgz, tmp_path / "cache") as job:
        assert isinstance(job, Unpacking)
        given = _folder_names(job)
    folders = set(given)
    # Given once when the stream leaves it, again after its samples at the end.
    assert all(given.count(name) == 2 for name in folders), given


def test_one_process_extracts_an_archive_at_a_time(tmp_path: Path, archive_tgz: Path) -> None:
    cache = tmp_path / "cache"
    digest = hashlib.sha256(archive_tgz.read_bytes()).hexdigest()
    opened: list[OpenedArchive] = []
    with archive._locked(cache / "locks" / f"{digest}.lock"):  # another build extracting it
        waiting = threading.Thread(target=lambda: opened.append(open_archive(archive_tgz, cache)))
        waiting.start()
        waiting.join(0.5)
        assert waiting.is_alive(), "a second build waits for the first"
        assert not (cache / "extracted" / digest).exists()
    waiting.join(60)
    assert [o.sha256 for o in opened] == [digest]
    assert (opened[0].top.parent / COMPLETE_MARKER).exists()


def test_a_damaged_member_header_is_not_the_end_of_the_archive(
    tmp_path: Path, archive_tgz: Path
) -> None:
    """tarfile ends its member list quietly at a bad header: the scenes after it must not be
    lost without a word."""
    with gzip.open(archive_tgz) as fh:
        tar = bytearray(fh.read())
    with tarfile.open(archive_tgz) as listing:
        middle = listing.getmembers()[len(listing.getmembers()) // 2].offset
    tar[middle + 148 : middle + 156] = b"00000000"  # the header checksum field
    bad = tmp_path / "bad-header.tgz"
    bad.write_bytes(gzip.compress(bytes(tar), mtime=0))
    with pytest.raises(ArchiveError, match=rf"^{bad}: damaged: data after the tar archive's end"):
        open_archive(bad, tmp_path / "cache")


def test_the_lock_is_released_once_the_extraction_is_complete(
    tmp_path: Path, archive_tgz: Path
) -> None:
    cache = tmp_path / "cache"
    with unpacking(archive_tgz, cache) as job:
        assert isinstance(job, Unpacking)
        for _ in job.scene_folders():
            pass
        # This build is still processing its scenes: another one must not wait for it.
        opened: list[OpenedArchive] = []
        other = threading.Thread(target=lambda: opened.append(open_archive(archive_tgz, cache)))
        other.start()
        other.join(30)
        assert not other.is_alive()
        assert [o.top for o in opened] == [job.top]
