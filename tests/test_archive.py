from __future__ import annotations

from pathlib import Path

import pytest

from stacgen import constants, synthetic
from stacgen.archive import COMPLETE_MARKER, ArchiveError, find_top, open_archive


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
