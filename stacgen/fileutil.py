"""Atomic writes, JSON reading and file digests shared by every step."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from stacgen.errors import StacgenError

CHUNK = 1 << 20


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files readable by the owner only; published files follow the umask.
FILE_MODE = 0o666 & ~_umask()


@contextmanager
def atomic_open(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Write to a temp file beside `path` and rename it over `path` only on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, FILE_MODE)
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_json(path: Path, obj: Any) -> None:
    """Deterministic JSON (sorted keys are NOT forced: callers keep their own order)."""
    text = json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


class JsonFileError(StacgenError, ValueError):
    """A JSON file that is missing, unreadable, malformed or not an object."""

    def __init__(self, path: Path, reason: str, *, missing: bool = False) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.missing = missing


def parse_json(data: bytes | str) -> Any:
    """`json.loads`, with JSON nested deeper than the parser recurses (a file of 100,000 `[`)
    a ValueError like any other malformed JSON, not a RecursionError."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("nested too deep") from None


def json_object(data: bytes | str) -> dict[str, Any]:
    """The JSON object `data` holds (a file's bytes, an HTTP answer's body); a ValueError saying
    what is wrong otherwise: the one check every reader of JSON objects makes."""
    try:
        value = parse_json(data)
    except ValueError as err:  # UnicodeDecodeError included
        raise ValueError(f"malformed JSON ({err})") from None
    if not isinstance(value, dict):
        raise ValueError("malformed JSON (expected an object)")
    return value


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in `path`; JsonFileError names the file and what is wrong with it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise JsonFileError(path, "does not exist", missing=True) from None
    except OSError as err:
        raise JsonFileError(path, f"cannot be read ({err.strerror or err})") from None
    try:
        return json_object(data)
    except ValueError as err:
        raise JsonFileError(path, str(err)) from None


def digests(path: Path, algorithms: tuple[str, ...] = ("sha256",)) -> dict[str, str]:
    """Hex digests of a file, read once in chunks whatever the number of algorithms."""
    with path.open("rb") as fh:
        return stream_digests(fh, algorithms)


def stream_digests(fh: IO[bytes], algorithms: tuple[str, ...] = ("sha256",)) -> dict[str, str]:
    """Hex digests of what is left to read in an open binary file."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    while chunk := fh.read(CHUNK):
        for h in hashers.values():
            h.update(chunk)
    return {name: h.hexdigest() for name, h in hashers.items()}


def sha256_multihash(hex_digest: str) -> str:
    """The `file:checksum` form: multihash code 0x12 (sha2-256), length 0x20, then the digest."""
    return "1220" + hex_digest


def sha256_of_multihash(checksum: object) -> str | None:
    """The hex sha256 a `sha256_multihash` string holds; None for anything else."""
    if isinstance(checksum, str) and len(checksum) == 68 and checksum.lower().startswith("1220"):
        return checksum[4:].lower()
    return None


def stat_key(path: Path) -> str:
    """Identifies a file's current content cheaply (size, mtime, inode): for memos only."""
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


def _memo_file(path: Path, memo_dir: Path, algorithm: str) -> Path:
    name = hashlib.sha256(f"{algorithm}:{path.resolve()}".encode()).hexdigest()[:32]
    return memo_dir / f"{name}.json"


def memo_get(path: Path, memo_dir: Path, algorithm: str = "sha256") -> str | None:
    """A digest remembered for `path`, if its size, mtime and inode are still the same."""
    try:
        saved = json.loads(_memo_file(path, memo_dir, algorithm).read_text())
        if saved.get("key") == stat_key(path):
            return str(saved["digest"])
    except (OSError, ValueError, KeyError):
        pass
    return None


def memo_put(path: Path, memo_dir: Path, digest: str, algorithm: str = "sha256") -> None:
    record = {"path": str(path.resolve()), "key": stat_key(path), "digest": digest}
    atomic_write_json(_memo_file(path, memo_dir, algorithm), record)


def memo_digest(path: Path, memo_dir: Path, algorithm: str = "sha256") -> str:
    """A file's digest, remembered under memo_dir while its size, mtime and inode are unchanged.

    Hashing the 224 MiB archive costs about a second; a no-op rebuild must not pay it again.
    """
    digest = memo_get(path, memo_dir, algorithm)
    if digest is None:
        digest = digests(path, (algorithm,))[algorithm]
        memo_put(path, memo_dir, digest, algorithm)
    return digest


_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux renameat2(RENAME_EXCHANGE); False if unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: this filesystem cannot exchange
        return False
    raise OSError(errno, os.strerror(errno), str(a))


def swap_in(new: Path, target: Path) -> None:
    """Put folder `new` at `target`. A crash at any point leaves either the old or the new one.

    On Linux the two folders are exchanged in one atomic call; elsewhere `target` is moved to
    `<target>.stacgen-old` first, which `recover_swap` puts back if the rename that follows
    never happened.
    """
    if target.exists() and _exchange(new, target):
        shutil.rmtree(new)  # now holds the previous folder
        return
    old = target.with_name(target.name + ".stacgen-old")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def recover_swap(target: Path) -> None:
    """Finish what an interrupted `swap_in` left: bring back the old folder if none replaced it."""
    old = target.with_name(target.name + ".stacgen-old")
    if old.exists():
        if target.exists():
            shutil.rmtree(old)
        else:
            old.rename(target)
