"""Fetch the archive from Zenodo: streamed to disk, verified, resumable and cached.

Cache layout, under ``<cache dir>/zenodo/<record id>/``:

- ``record.json``: the record JSON as Zenodo gave it (the metadata step reads license, title,
  creators and version from it); when Zenodo listed the files separately, the listing is stored
  in its ``files`` member so that the file alone describes the record;
- ``<file key>``: the archive, only ever written by renaming a verified ``<file key>.part``;
- ``<file key>.part``: an unfinished download, resumed with a Range request;
- ``.memo/``: the archive's md5, remembered while its size, mtime and inode are unchanged, so a
  cached archive is not hashed again on every run;
- ``resolves_to.json``, in the folder of an id Zenodo answered with another record (a concept
  record answers with its latest version): the id it resolved to, for offline runs;
- ``local_copy.json``: where an archive given to a build lies whose size and md5 are the
  record's (its verified copy): a later run without an archive uses it, without the network.

The library never prints: it logs, and reports progress through ``on_progress(done, total)``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import requests

from stacgen import config, constants, fileutil
from stacgen.source.transfer import (
    DEADLINE,
    MEMO_DIR,
    PART_SUFFIX,
    TIMEOUT,
    Client,
    DownloadError,
    NotFound,
    ProgressCallback,
    Retrier,
    Sleep,
    Unreachable,
    download,
    is_verified,
)

log = logging.getLogger(__name__)


RECORD_FILE = "record.json"
ALIAS_FILE = "resolves_to.json"
LOCAL_COPY_FILE = "local_copy.json"

_MD5_HEX = re.compile(r"[0-9a-f]{32}")
# Without Zenodo: `make catalog` is how the README has users build.
OFFLINE_HINT = (
    f"to build from a copy of the archive: make catalog ARCHIVE=path/to/{constants.ARCHIVE_NAME}"
)


@dataclass(frozen=True)
class RecordFile:
    """One file of a Zenodo record, as the record JSON describes it; `sha256` is stacgen's pin
    (record 1460961's archive only: Zenodo gives no sha256)."""

    key: str
    size: int
    md5: str
    url: str
    sha256: str | None = None


@dataclass(frozen=True)
class Record:
    """A Zenodo record version: its files and the JSON it came from."""

    id: int
    concept_id: int | None
    files: tuple[RecordFile, ...]
    raw: dict[str, Any] = field(compare=False, repr=False)


# --- parsing the record JSON --------------------------------------------------------------------
def parse_record(raw: Mapping[str, Any], zenodo_url: str) -> Record:
    """A Record from any shape of record JSON Zenodo has served (see ../shared/ALCD.md).

    Relative links are resolved against ``zenodo_url``. Files not embedded in the record (an
    InvenioRDM record lists them at ``/api/records/<id>/files``) give an empty ``files``.
    """
    if not isinstance(raw, Mapping):
        raise DownloadError("Zenodo record JSON is not an object")
    record_id = _as_int(raw.get("id", raw.get("recid")), "Zenodo record JSON: id")
    parent = raw.get("parent")
    concept = raw.get("conceptrecid") or (parent.get("id") if isinstance(parent, Mapping) else None)
    concept_id = (
        None if concept is None else _as_int(concept, f"Zenodo record {record_id}: concept")
    )
    files = parse_files(raw.get("files"), zenodo_url, record_id)
    return Record(record_id, concept_id, files, dict(raw))


def parse_files(files: Any, zenodo_url: str, record_id: int) -> tuple[RecordFile, ...]:
    """The files of a record: a ``files`` list, or a ``{"entries": [...] or {key: {...}}}``."""
    entries = _entries(files, record_id)
    return tuple(_parse_file(e, zenodo_url, record_id, i) for i, e in enumerate(entries))


def files_embedded(raw: Mapping[str, Any]) -> bool:
    """Whether the record JSON lists its files (else they are at /api/records/<id>/files)."""
    files = raw.get("files")
    return isinstance(files, list) or (isinstance(files, Mapping) and "entries" in files)


def _entries(files: Any, record_id: int) -> list[Any]:
    if isinstance(files, Mapping):
        files = files.get("entries")
        if isinstance(files, Mapping):
            # InvenioRDM may key the entries by file name and leave "key" out of each entry.
            return [
                {"key": key, **entry} if isinstance(entry, Mapping) else entry
                for key, entry in files.items()
            ]
    if files is None:
        return []
    if not isinstance(files, list):
        raise DownloadError(f"Zenodo record {record_id}: 'files' is neither a list nor entries")
    return files


def _parse_file(entry: Any, zenodo_url: str, record_id: int, index: int) -> RecordFile:
    where = f"Zenodo record {record_id}"
    if not isinstance(entry, Mapping):
        raise DownloadError(f"{where}: file entry {index} is not an object")
    key = entry.get("key") or entry.get("filename")
    if not isinstance(key, str) or not key:
        raise DownloadError(f"{where}: file entry {index} has no name")
    size = _as_int(entry.get("size", entry.get("filesize")), f"{where}: size of {key}")
    md5 = _md5(entry.get("checksum"), f"{where}: {key}")
    links = entry.get("links")
    link = _first_link(links) if isinstance(links, Mapping) else None
    base = zenodo_url.rstrip("/")
    try:
        url = (
            urljoin(base + "/", link)
            if link
            else f"{base}/api/records/{record_id}/files/{quote(key)}/content"
        )
    except ValueError as err:  # urllib's words: "Invalid IPv6 URL" and the like
        raise DownloadError(f"{where}: malformed link {link!r} for {key} ({err})") from None
    return RecordFile(key, size, md5, url)


def _first_link(links: Mapping[str, Any]) -> str | None:
    # "content" first: in an InvenioRDM files listing "self" is the entry's JSON, not its bytes.
    for name in ("content", "download", "self"):
        value = links.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise DownloadError(f"{what} is missing or not a whole number: {value!r}")


def _md5(checksum: Any, what: str) -> str:
    if isinstance(checksum, str):
        text = checksum.strip().lower()
        text = text.removeprefix("md5:")
        if _MD5_HEX.fullmatch(text):
            return text
    raise DownloadError(f"{what} has no md5 checksum (got {checksum!r})")


# --- the record -----------------------------------------------------------------------------------
def _fetch_record(client: Client, base: str, record_id: int) -> Record:
    raw = client.get_json(f"{base}/api/records/{record_id}", f"Zenodo record {record_id}")
    record = parse_record(raw, base)
    if record.id != record_id:
        log.info("Zenodo record %d resolves to record %d", record_id, record.id)
    if not files_embedded(raw):
        url = f"{base}/api/records/{record.id}/files"
        listing = client.get_json(url, f"the file list of Zenodo record {record.id}")
        record = parse_record({**raw, "files": listing}, base)
    return record


def _pick_file(record: Record) -> RecordFile:
    by_key = {f.key: f for f in record.files}
    if constants.ARCHIVE_NAME in by_key:
        return by_key[constants.ARCHIVE_NAME]
    if len(record.files) == 1:
        return record.files[0]
    if not record.files:
        raise DownloadError(f"Zenodo record {record.id} has no files")
    keys = ", ".join(sorted(by_key))
    raise DownloadError(
        f"Zenodo record {record.id} has {len(by_key)} files ({keys}), none named "
        f"{constants.ARCHIVE_NAME}"
    )


def _pinned(record: Record, file: RecordFile) -> RecordFile:
    """Record 1460961 must still describe the archive this project was built from; its file
    then carries the pinned sha256, which the bytes must have too."""
    if record.id != constants.RECORD_ID:
        return file
    pinned = (constants.ARCHIVE_NAME, constants.ARCHIVE_SIZE, constants.ARCHIVE_MD5)
    if (file.key, file.size, file.md5) != pinned:
        raise DownloadError(
            f"Zenodo record {record.id} describes {file.key} ({file.size} bytes, md5 {file.md5}) "
            f"but stacgen pins {pinned[0]} ({pinned[1]} bytes, md5 {pinned[2]}): refusing it"
        )
    return replace(file, sha256=constants.ARCHIVE_SHA256)


def _target(root: Path, record: Record) -> tuple[RecordFile, Path]:
    """The archive's entry in the record, checked against the pins, and its cache path."""
    file = _pinned(record, _pick_file(record))
    key = file.key
    reserved = (RECORD_FILE, ALIAS_FILE, LOCAL_COPY_FILE)
    unsafe = key in reserved or key.startswith(".") or key.endswith(PART_SUFFIX)
    if unsafe or any(c in key for c in "/\\\0"):
        raise DownloadError(f"Zenodo record {record.id}: unsafe file name {key!r}")
    return file, root / str(record.id) / key


# --- the cache ------------------------------------------------------------------------------------
def _zenodo_root(cache_dir: Path | None) -> Path:
    return (cache_dir if cache_dir is not None else config.cache_dir()) / "zenodo"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return fileutil.read_json_object(path)
    except fileutil.JsonFileError as err:
        if not err.missing:
            log.warning("ignoring %s", err)
        return None


def _resolved_id(root: Path, record_id: int) -> int:
    alias = _read_json(root / str(record_id) / ALIAS_FILE)
    target = alias.get("record_id") if alias else None
    return target if isinstance(target, int) else record_id


def record_license(record: Mapping[str, Any] | None) -> str | None:
    """The license the record names, as an SPDX id ("cc-by-4.0" -> "CC-BY-4.0"); None if none."""
    metadata = (record or {}).get("metadata") or {}
    license_field = metadata.get("license")
    raw = license_field.get("id") if isinstance(license_field, dict) else license_field
    if not raw:
        return None
    return str(raw).upper() if str(raw).lower().startswith("cc") else str(raw)


def read_record_json(path: Path, record_id: int = constants.RECORD_ID) -> dict[str, Any]:
    """The record JSON a user saved with the archive (`build --record-json`): a Zenodo record
    of `record_id` (its version, or its concept); DownloadError in one line naming the file."""
    try:
        raw = fileutil.read_json_object(path)
    except fileutil.JsonFileError as err:
        raise DownloadError(f"{path}: {err.reason} (--record-json)") from None
    try:
        record = parse_record(raw, constants.ZENODO_URL)
    except DownloadError as err:
        raise DownloadError(f"{path}: not a Zenodo record JSON: {err} (--record-json)") from None
    if record_id not in (record.id, record.concept_id):
        raise DownloadError(
            f"{path}: Zenodo record {record.id}, not record {record_id} (--record-json)"
        )
    return record.raw


def cached_record_json(
    record_id: int = constants.RECORD_ID, cache_dir: Path | None = None
) -> dict[str, Any] | None:
    """The record JSON saved by an earlier download (a concept id follows its saved version)."""
    root = _zenodo_root(cache_dir)
    return _read_json(root / str(_resolved_id(root, record_id)) / RECORD_FILE)


def _cached_record(root: Path, record_id: int, base: str) -> Record | None:
    resolved = _resolved_id(root, record_id)
    path = root / str(resolved) / RECORD_FILE
    raw = _read_json(path)
    if raw is None:
        return None
    try:
        record = parse_record(raw, base)
    except DownloadError as exc:
        log.warning("ignoring the cached %s: %s", path, exc)
        return None
    return record if record.id == resolved else None


def _save_record(root: Path, requested: int, record: Record) -> None:
    fileutil.atomic_write_json(root / str(record.id) / RECORD_FILE, record.raw)
    alias = root / str(requested) / ALIAS_FILE
    if record.id != requested:
        fileutil.atomic_write_json(alias, {"requested": requested, "record_id": record.id})
    else:
        alias.unlink(missing_ok=True)


# --- the download ---------------------------------------------------------------------------------
def download_archive(
    record_id: int = constants.RECORD_ID,
    *,
    zenodo_url: str | None = None,
    cache_dir: Path | None = None,
    on_progress: ProgressCallback | None = None,
    session: requests.Session | None = None,
    retries: int = 5,
    backoff: float = 1.0,
    sleep: Sleep = time.sleep,
    timeout: tuple[float, float] = TIMEOUT,
    refresh: bool = False,
    deadline: float = DEADLINE,
) -> Path:
    """The verified archive of a record in the cache, downloading what is missing.

    With the record JSON and a verified archive both cached, no network call is made; `refresh`
    asks Zenodo for the record again (a concept id may then resolve to a newer version).
    """
    base = (zenodo_url or config.zenodo_url()).rstrip("/")
    root = _zenodo_root(cache_dir)
    cached = None if refresh else _cached_record(root, record_id, base)
    if cached is not None:
        file, path = _target(root, cached)
        if is_verified(path, file):
            log.info("using the cached %s", path)
            return path
    local = None if refresh else _local_copy(root, record_id, cached)
    if local is not None:
        log.info("using %s, the verified copy of Zenodo record %d", local, record_id)
        return local
    http = session if session is not None else requests.Session()

    def client() -> Client:
        return Client(http, Retrier(retries, backoff, sleep, deadline=deadline), timeout)

    try:
        if cached is not None:
            try:
                return _fetch_file(client(), root, cached, on_progress)
            except NotFound as exc:
                # Zenodo has changed its download links before: the saved ones may be stale.
                log.warning("%s; asking Zenodo for the record again", exc)
        record = _fetch_record(client(), base, record_id)
        _target(root, record)  # refuse a record that breaks the pins before saving it
        _save_record(root, record_id, record)
        return _fetch_file(client(), root, record, on_progress)
    except Unreachable as err:
        raise Unreachable(f"{err}; {OFFLINE_HINT}") from err
    finally:
        if session is None:
            http.close()


# --- a copy the user gave -------------------------------------------------------------------------
Expected = tuple[int, str, str | None]  # size, md5, pinned sha256


def _expected(root: Path, record_id: int, cached: Record | None) -> Expected | None:
    """The size, md5 (and pinned sha256) of the record's archive, from its saved JSON or
    stacgen's pins."""
    if cached is not None:
        file, _ = _target(root, cached)
        return file.size, file.md5, file.sha256
    if _resolved_id(root, record_id) == constants.RECORD_ID:
        return constants.ARCHIVE_SIZE, constants.ARCHIVE_MD5, constants.ARCHIVE_SHA256
    return None


def _matches(path: Path, root: Path, expected: Expected) -> bool:
    size, md5, sha256 = expected
    try:
        if not path.is_file() or path.stat().st_size != size:
            return False
        if fileutil.memo_digest(path, root / MEMO_DIR, "md5") != md5:
            return False
        return sha256 is None or fileutil.memo_digest(path, root / MEMO_DIR, "sha256") == sha256
    except OSError:
        return False


def remember_local_copy(
    archive: Path, record_id: int = constants.RECORD_ID, cache_dir: Path | None = None
) -> bool:
    """Note `archive` as the record's verified copy if its size and md5 are the record's."""
    root = _zenodo_root(cache_dir)
    try:
        expected = _expected(root, record_id, _cached_record(root, record_id, ""))
    except DownloadError:
        return False
    if expected is None or not _matches(archive, root, expected):
        return False
    note = {"path": str(archive.resolve()), "size": expected[0], "md5": expected[1]}
    fileutil.atomic_write_json(root / str(_resolved_id(root, record_id)) / LOCAL_COPY_FILE, note)
    return True


def _local_copy(root: Path, record_id: int, cached: Record | None) -> Path | None:
    note = _read_json(root / str(_resolved_id(root, record_id)) / LOCAL_COPY_FILE)
    path = note.get("path") if note else None
    try:
        expected = _expected(root, record_id, cached)
    except DownloadError:
        return None
    if not isinstance(path, str) or expected is None:
        return None
    return Path(path) if _matches(Path(path), root, expected) else None


def _fetch_file(
    client: Client, root: Path, record: Record, progress: ProgressCallback | None
) -> Path:
    file, path = _target(root, record)
    if not is_verified(path, file):
        download(client, file, path, f"{file.key} of Zenodo record {record.id}", progress)
    return path
