from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from stacgen import fileutil


def test_atomic_open_leaves_no_file_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("previous")

    def interrupted_write() -> None:
        with fileutil.atomic_open(target) as fh:
            fh.write(b"half")
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        interrupted_write()
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_digests_and_multihash(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc" * 1000)
    found = fileutil.digests(path, ("sha256", "md5"))
    assert found["sha256"] == hashlib.sha256(b"abc" * 1000).hexdigest()
    assert found["md5"] == hashlib.md5(b"abc" * 1000).hexdigest()
    # multihash: varint code of sha2-256 (0x12, the multicodec table), varint digest length.
    expected = bytes([0x12, 32]) + hashlib.sha256(b"abc" * 1000).digest()
    assert fileutil.sha256_multihash(found["sha256"]) == expected.hex()


def test_memo_digest_is_remembered_until_the_file_changes(tmp_path: Path) -> None:
    path, memo = tmp_path / "f", tmp_path / "memo"
    path.write_bytes(b"one")
    assert fileutil.memo_get(path, memo) is None
    first = fileutil.memo_digest(path, memo)
    assert fileutil.memo_get(path, memo) == first == hashlib.sha256(b"one").hexdigest()
    path.write_bytes(b"two!")
    assert fileutil.memo_get(path, memo) is None
    assert fileutil.memo_digest(path, memo) == hashlib.sha256(b"two!").hexdigest()


def _folder(path: Path, text: str) -> Path:
    path.mkdir()
    (path / "catalog.json").write_text(text)
    return path


def test_swap_in_replaces_the_folder_and_removes_the_old_one(tmp_path: Path) -> None:
    target = _folder(tmp_path / "catalog", "old")
    new = _folder(tmp_path / ".catalog.new", "new")
    fileutil.swap_in(new, target)
    assert (target / "catalog.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalog"]


def test_swap_in_without_exchange_support_still_swaps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fileutil, "_exchange", lambda a, b: False)
    target = _folder(tmp_path / "catalog", "old")
    fileutil.swap_in(_folder(tmp_path / "new", "new"), target)
    assert (target / "catalog.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalog"]


def test_recover_swap_brings_back_the_old_folder_after_a_crash(tmp_path: Path) -> None:
    # The fallback swap was killed after moving the old catalog aside, before the new arrived.
    old = _folder(tmp_path / "catalog.stacgen-old", "old")
    fileutil.recover_swap(tmp_path / "catalog")
    assert (tmp_path / "catalog" / "catalog.json").read_text() == "old"
    assert not old.exists()


def test_sha256_of_multihash_reads_only_sha256_multihashes() -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    assert fileutil.sha256_of_multihash(bytes([0x12, 32]).hex() + digest.upper()) == digest
    assert fileutil.sha256_of_multihash(bytes([0x13, 64]).hex() + "0" * 128) is None  # sha512
    assert fileutil.sha256_of_multihash("1220" + digest[:-2]) is None
    assert fileutil.sha256_of_multihash(None) is None
