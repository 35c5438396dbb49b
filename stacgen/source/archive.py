"""Open the ALCD archive: a .tgz as Zenodo serves it, or a folder where it was extracted.

A tgz is extracted once into the cache, in a folder named after its sha256, so a rebuild
finds it again without unpacking. Extraction refuses anything that could write outside the
target (absolute or `..` paths, links, devices) before Python's `data` filter sees it.
"""

from __future__ import annotations

import errno
import fcntl
import gzip
import logging
import shutil
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, cast

from isal import igzip, isal_zlib

from stacgen import constants
from stacgen.errors import StacgenError
from stacgen.fileutil import CHUNK, memo_get, memo_put, stream_digests

log = logging.getLogger(__name__)

COMPLETE_MARKER = ".stacgen-complete"


class ArchiveError(StacgenError):
    """The archive is missing, unreadable or hostile."""


@dataclass(frozen=True)
class OpenedArchive:
    """The folder holding Reference_dataset/ and Hollstein/; for a tgz, the tgz's sha256."""

    top: Path
    sha256: str | None
    root: Path | None = None  # for a tgz, the cache folder it was extracted into


class Unpacking:
    """A tgz being extracted into the cache, under its sha256 (known before the first member).

    Iterating `scene_folders()` extracts every member and gives each scene folder as soon as
    the stream has moved past it, so its scene can be processed while the rest is unpacked.
    The extraction is marked complete (and its lock released) when the stream ends.
    """

    def __init__(
        self,
        archive: Path,
        stream: IO[bytes],
        root: Path,
        sha256: str,
        on_complete: Callable[[], None],
    ) -> None:
        self.archive = archive
        self.root = root
        self.sha256 = sha256
        self._stream = stream
        self._on_complete = on_complete
        self.complete = False

    def scene_folders(self) -> Iterator[Path]:
        """Each scene folder, once all its members are written (again if members come back)."""
        started = time.perf_counter()
        current: PurePosixPath | None = None
        try:
            # ISA-L's gunzip: the extraction competes for the cores with the scenes it feeds,
            # and costs 0.8 s instead of 1.3 s with zlib on the full archive.
            with (
                _gunzip(self._stream) as gunzipped,
                tarfile.open(fileobj=gunzipped, mode="r|") as tar,
            ):
                for member in tar:
                    check_member(self.archive, member)
                    folder = scene_folder_of(member.name)
                    if current is not None and folder != current:
                        yield self.root / current
                    current = folder
                    tar.extract(member, self.root, filter="data")
                self._check_end(gunzipped)
            (self.root / COMPLETE_MARKER).write_text(self.sha256 + "\n")
        except OSError as err:
            if err.errno in _CACHE_ERRNOS:
                # The disk being written is at fault, not the archive being read.
                cache = self.root.parent.parent
                raise ArchiveError(
                    f"{self.archive}: cannot unpack it into the cache {cache}: {err.strerror}"
                ) from err
            raise ArchiveError(f"{self.archive}: not a readable tgz archive ({err})") from err
        except _UNREADABLE as err:
            raise ArchiveError(f"{self.archive}: not a readable tgz archive ({err})") from err
        self.complete = True
        self._on_complete()
        log.info(
            "extracted %s into %s in %.2f s", self.archive, self.root, time.perf_counter() - started
        )
        if current is not None:
            yield self.root / current

    def _check_end(self, gunzipped: gzip.GzipFile) -> None:
        """Read to the end of the gzip stream, so that its CRC is checked: tarfile stops quietly
        at a damaged member header, which would leave the scenes after it unread."""
        while chunk := gunzipped.read(CHUNK):
            if chunk.strip(b"\0"):
                raise ArchiveError(f"{self.archive}: damaged: data after the tar archive's end")

    @property
    def top(self) -> Path:
        return find_top(self.root, self.archive)


def _gunzip(stream: IO[bytes]) -> gzip.GzipFile:
    return igzip.IGzipFile(fileobj=stream, mode="rb")  # type: ignore[no-untyped-call]  # no hints


# isal's stub declares its `error` as an instance of Exception: it is the class of its errors.
_INFLATE_ERROR = cast(type[Exception], isal_zlib.error)
# What writing the extraction can fail with (reading a damaged archive gives other errors).
_CACHE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}
)
NAME_MAX = 255  # bytes of one file name component on Linux file systems (ext4, xfs, btrfs)
_UNREADABLE = (tarfile.TarError, EOFError, OSError, ValueError, _INFLATE_ERROR)


def scene_folder_of(member: str) -> PurePosixPath | None:
    """The scene folder (`[top/]subset/name`) a member belongs to, or None for any other."""
    parts = PurePosixPath(member).parts
    prefix = parts[:1] if parts[:1] == (constants.TOP_FOLDER,) else ()
    rest = parts[len(prefix) :]
    if len(rest) >= 2 and rest[0] in constants.SUBSETS:
        return PurePosixPath(*prefix, *rest[:2])
    return None


@contextmanager
def unpacking(archive: Path, cache_dir: Path) -> Iterator[OpenedArchive | Unpacking]:
    """The dataset ready to read (a folder, or a tgz extracted before), or its extraction to run.

    An extraction that does not reach its end is removed; one process at a time extracts a
    given archive (the others wait, then find it complete).
    """
    if archive.is_dir():
        yield OpenedArchive(find_top(archive), None)
        return
    if not archive.is_file():
        raise ArchiveError(f"{archive}: no such archive file or folder")
    with archive.open("rb") as stream:
        # The sha256 names the folder before extraction starts; hashing the open file (not
        # the path again) keeps the name and the extracted bytes from the same file.
        digest = memo_get(archive, cache_dir / "memo")
        if digest is None:
            digest = stream_digests(stream)["sha256"]
            stream.seek(0)
            memo_put(archive, cache_dir / "memo", digest)
        root = _extraction_dir(cache_dir, digest)
        with _locked(cache_dir / "locks" / f"{digest}.lock") as unlock:
            if (root / COMPLETE_MARKER).exists():
                log.info("using extracted archive %s", root)
                yield OpenedArchive(find_top(root, archive), digest, root)
                return
            if root.exists():
                shutil.rmtree(root)  # left by an extraction that was interrupted
            root.mkdir(parents=True)
            # Unlocked once complete: another build need not wait for this one's scenes.
            job = Unpacking(archive, stream, root, digest, on_complete=unlock)
            try:
                yield job
            finally:
                if not job.complete:
                    shutil.rmtree(root, ignore_errors=True)


def open_archive(archive: Path, cache_dir: Path) -> OpenedArchive:
    """Find the dataset in a folder, or extract a tgz into the cache (once per content)."""
    with unpacking(archive, cache_dir) as source:
        if isinstance(source, OpenedArchive):
            return source
        for _ in source.scene_folders():
            pass
        return OpenedArchive(source.top, source.sha256, source.root)


def extracted(archive: Path, cache_dir: Path) -> Path | None:
    """The folder (named by its sha256) this tgz was fully extracted into, if it was."""
    digest = memo_get(archive, cache_dir / "memo") if archive.is_file() else None
    if digest is None:
        return None
    target = _extraction_dir(cache_dir, digest)
    return target if (target / COMPLETE_MARKER).exists() else None


def _extraction_dir(cache_dir: Path, digest: str) -> Path:
    return cache_dir / "extracted" / digest


@contextmanager
def _locked(path: Path) -> Iterator[Callable[[], None]]:
    """An exclusive lock on `path` until the block ends or the function it gives is called."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:

        def unlock() -> None:
            fcntl.flock(fh, fcntl.LOCK_UN)

        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield unlock
        finally:
            unlock()


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
    elif (longest := _longest_part(name)) > NAME_MAX:
        problem = f"a name of {longest} bytes (file systems take {NAME_MAX})"
    if problem:
        shown = name if len(name) <= 120 else f"{name[:100]}...({len(name)} characters)"
        raise ArchiveError(f"{archive}: refused member {shown!r}: {problem}")


def _longest_part(name: str) -> int:
    return max((len(part.encode()) for part in PurePosixPath(name).parts), default=0)


def find_top(folder: Path, archive: Path | None = None) -> Path:
    """The folder holding the subsets: `folder` itself or its ALCD top folder. The error names
    `archive` (the tgz `folder` was extracted from) when there is one, not the cache."""
    for candidate in (folder / constants.TOP_FOLDER, folder):
        if any((candidate / subset).is_dir() for subset in constants.SUBSETS):
            return candidate
    subsets = " or ".join(constants.SUBSETS)
    held = (
        sorted(
            p.name + ("/" if p.is_dir() else "")
            for p in folder.iterdir()
            if p.name != COMPLETE_MARKER
        )
        if folder.is_dir()
        else []
    )
    holds = (
        f"it holds {', '.join(held[:5])}{' ...' if len(held) > 5 else ''}"
        if held
        else "it is empty"
    )
    raise ArchiveError(
        f"{archive or folder}: not the ALCD dataset: no {constants.TOP_FOLDER}/ and no "
        f"{subsets}/ folder inside ({holds})"
    )
