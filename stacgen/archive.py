"""Open the ALCD archive: a .tgz as Zenodo serves it, or a folder where it was extracted.

A tgz is extracted once into the cache, in a folder named after its sha256, so a rebuild
finds it again without unpacking. Extraction refuses anything that could write outside the
target (absolute or `..` paths, links, devices) before Python's `data` filter sees it.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from stacgen import constants
from stacgen.fileutil import CHUNK, memo_get, memo_put

log = logging.getLogger(__name__)

COMPLETE_MARKER = ".stacgen-complete"


class ArchiveError(Exception):
    """The archive is missing, unreadable or hostile."""


class _HashingReader:
    """Hashes the compressed bytes while tarfile streams them, so the archive is read once."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.sha256.update(data)
        return data

    def drain(self) -> str:
        while self.read(CHUNK):
            pass
        return self.sha256.hexdigest()


@dataclass(frozen=True)
class OpenedArchive:
    """The folder holding Reference_dataset/ and Hollstein/; for a tgz, the tgz's sha256."""

    top: Path
    sha256: str | None


def open_archive(archive: Path, cache_dir: Path) -> OpenedArchive:
    """Find the dataset in a folder, or extract a tgz into the cache (once per content)."""
    if archive.is_dir():
        return OpenedArchive(find_top(archive), None)
    if not archive.is_file():
        raise ArchiveError(f"{archive}: no such archive file or folder")
    done = extracted(archive, cache_dir)
    if done is not None:
        log.info("using extracted archive %s", done)
        return OpenedArchive(find_top(done), done.name)
    digest = _extract(archive, cache_dir)
    memo_put(archive, cache_dir / "memo", digest)
    return OpenedArchive(find_top(_extraction_dir(cache_dir, digest)), digest)


def extracted(archive: Path, cache_dir: Path) -> Path | None:
    """The folder (named by its sha256) this tgz was fully extracted into, if it was."""
    digest = memo_get(archive, cache_dir / "memo") if archive.is_file() else None
    if digest is None:
        return None
    target = _extraction_dir(cache_dir, digest)
    return target if (target / COMPLETE_MARKER).exists() else None


def _extraction_dir(cache_dir: Path, digest: str) -> Path:
    return cache_dir / "extracted" / digest


def _extract(archive: Path, cache_dir: Path) -> str:
    """Extract into a temp folder, then rename it to its checksum: never a half-filled target."""
    parent = cache_dir / "extracted"
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=parent))
    try:
        digest = _safe_extract(archive, tmp)
        (tmp / COMPLETE_MARKER).write_text(digest + "\n")
        target = _extraction_dir(cache_dir, digest)
        if target.exists():
            # An earlier run left an incomplete copy (no marker): ours replaces it.
            shutil.rmtree(target)
        tmp.rename(target)
        log.info("extracted %s into %s", archive, target)
        return digest
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _safe_extract(archive: Path, dest: Path) -> str:
    with archive.open("rb") as raw:
        reader = _HashingReader(raw)
        try:
            with tarfile.open(fileobj=reader, mode="r|gz") as tar:  # type: ignore[call-overload]
                for member in tar:
                    check_member(archive, member)
                    tar.extract(member, dest, filter="data")
        except (tarfile.TarError, EOFError, OSError, ValueError) as err:
            raise ArchiveError(f"{archive}: not a readable tgz archive ({err})") from err
        return reader.drain()


def check_member(archive: Path, member: tarfile.TarInfo) -> None:
    """Refuse a member that is not a plain file or folder inside the extraction folder."""
    name = member.name
    problem = None
    if name.startswith("/") or PurePosixPath(name).is_absolute():
        problem = "absolute path"
    elif ".." in PurePosixPath(name).parts:
        problem = "path escapes the archive folder"
    elif member.issym() or member.islnk():
        problem = f"link to {member.linkname!r}"
    elif not (member.isfile() or member.isdir()):
        problem = "device, fifo or other special file"
    if problem:
        raise ArchiveError(f"{archive}: refused member {name!r}: {problem}")


def find_top(folder: Path) -> Path:
    """The folder holding the subsets: `folder` itself or its ALCD top folder."""
    for candidate in (folder / constants.TOP_FOLDER, folder):
        if any((candidate / subset).is_dir() for subset in constants.SUBSETS):
            return candidate
    subsets = " or ".join(constants.SUBSETS)
    raise ArchiveError(f"{folder}: no {constants.TOP_FOLDER}/ and no {subsets}/ folder inside")
