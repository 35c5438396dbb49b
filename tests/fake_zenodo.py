"""A fake Zenodo on 127.0.0.1 for tests: the record API in every JSON shape Zenodo has served,
file bytes honouring Range, concept records, and injected faults.

conftest.py loads this module as a pytest plugin, so its fixtures reach every test by name::

    def test_x(zenodo: FakeZenodo, tmp_path: Path) -> None:
        served = zenodo.add_record(4242, payload)           # bytes or a Path (e.g. a synthetic tgz)
        path = download_archive(4242, zenodo_url=zenodo.url, cache_dir=tmp_path)

Record 1460961 is pinned in stacgen.constants: serve other bytes under it only after
``pin_payload(monkeypatch, payload)``.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from stacgen import constants

Shape = Literal["current", "legacy", "oct2023", "rdm_list", "rdm_dict", "rdm_embedded"]
SHAPES: tuple[Shape, ...] = ("current", "legacy", "oct2023", "rdm_list", "rdm_dict", "rdm_embedded")
"""current; before Oct 2023 (bucket links); Oct 2023 (filename/filesize/bare md5/download);
InvenioRDM native with the files at /files as a list or a dict, or embedded as a dict."""

FaultKind = Literal[
    "status", "drop", "truncate", "ignore_range", "stall", "overstate", "redirect_loop"
]
Target = Literal["record", "file"]

TEST_RECORD_ID = 4242
"""An id that stacgen does not pin: any payload may be served under it."""
TEST_LICENSE = "cc-by-4.0"


@dataclass(frozen=True)
class Fault:
    """What goes wrong with the next matching request.

    status: answer `status` (with Retry-After if given); drop: promise the whole answer but
    close after `keep` of it (or after `keep_bytes` bytes); truncate: send only `keep` of the
    answer with a matching Content-Length; ignore_range: answer 200 with the whole file; stall:
    wait `seconds` first; overstate: send the whole answer but promise `extra` bytes more;
    redirect_loop: redirect the request to itself.
    """

    kind: FaultKind
    target: Target = "file"
    status: int = 500
    retry_after: str | None = None
    keep: float = 0.5
    seconds: float = 0.0
    persistent: bool = False
    ignore_range: bool = False  # also answer 200 with the whole file, whatever the kind
    keep_bytes: int | None = None
    extra: int = 0


@dataclass(frozen=True)
class Served:
    """A record the fake serves; `md5` and `size` are what the metadata claims."""

    id: int
    key: str
    payload: bytes
    shape: Shape
    concept_id: int | None
    md5: str
    size: int
    metadata: dict[str, Any]
    link: str | None = None  # the file link the record JSON gives, if not this server's

    @property
    def bucket(self) -> str:
        return str(uuid.UUID(int=self.id))


@dataclass(frozen=True)
class Seen:
    """One request the fake received."""

    path: str
    query: str
    range: str | None


@dataclass
class FakeZenodo:
    """The request handler installed on an HTTPServer; one per test."""

    server: HTTPServer
    records: dict[int, Served] = field(default_factory=dict)
    concepts: dict[int, tuple[int, str]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server.clear()
        self.server.expect_request(re.compile("^/")).respond_with_handler(self._handle)

    @property
    def url(self) -> str:
        return self.server.url_for("/").rstrip("/")

    # --- setup ----------------------------------------------------------------------------------
    def add_record(
        self,
        record_id: int,
        payload: bytes | Path,
        *,
        key: str = constants.ARCHIVE_NAME,
        shape: Shape = "current",
        concept_id: int | None = None,
        md5: str | None = None,
        size: int | None = None,
        metadata: dict[str, Any] | None = None,
        link: str | None = None,
    ) -> Served:
        """Serve `payload` as the one file of record `record_id`; md5/size override the metadata,
        `link` the file's link in the record JSON."""
        data = payload.read_bytes() if isinstance(payload, Path) else payload
        served = Served(
            id=record_id,
            key=key,
            payload=data,
            shape=shape,
            concept_id=concept_id,
            md5=md5 if md5 is not None else hashlib.md5(data).hexdigest(),
            size=size if size is not None else len(data),
            metadata=metadata if metadata is not None else default_metadata(record_id),
            link=link,
        )
        self.records[record_id] = served
        return served

    def add_concept(
        self, concept_id: int, latest_id: int, *, mode: Literal["redirect", "json"] = "redirect"
    ) -> None:
        """Answer the concept id with a redirect to `latest_id`, or with that record's JSON."""
        self.concepts[concept_id] = (latest_id, mode)

    def fail(self, kind: FaultKind, *, times: int = 1, **options: Any) -> None:
        """Queue `times` faults of `kind` (see Fault for the options)."""
        self.faults.extend([Fault(kind, **options)] * times)

    # --- what happened -------------------------------------------------------------------------
    def file_requests(self) -> list[Seen]:
        return [s for s in self.seen if self._route(s.path)[0] == "file"]

    def record_requests(self) -> list[Seen]:
        return [s for s in self.seen if self._route(s.path)[0] in ("record", "files")]

    def file_path(self, record_id: int) -> str:
        """The URL path the record's JSON gives for its file."""
        served = self.records[record_id]
        key = quote(served.key)
        if served.shape == "legacy":
            return f"/api/files/{served.bucket}/{key}"
        if served.shape == "oct2023":
            return f"/records/{served.id}/files/{key}"
        return f"/api/records/{served.id}/files/{key}/content"

    def file_link(self, record_id: int, base: str | None = None) -> str:
        """The file's URL as the record JSON gives it (against `base`, by default this server)."""
        query = "?download=1" if self.records[record_id].shape == "oct2023" else ""
        return (base or self.url) + self.file_path(record_id) + query

    # --- serving -------------------------------------------------------------------------------
    def _handle(self, request: Request) -> Response:
        self.seen.append(
            Seen(request.path, request.query_string.decode(), request.headers.get("Range"))
        )
        kind, record_id = self._route(request.path)
        fault = self._take_fault("file" if kind == "file" else "record") if kind else None
        if fault is not None and fault.kind == "stall":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "redirect_loop":
            return Response("", 302, {"Location": self.url + request.full_path.rstrip("?")})
        if fault is not None and fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return Response(f"fault {fault.status}", fault.status, headers)
        if kind == "record":
            return self._record(record_id)
        if kind == "files" and record_id in self.records:
            return _json(files_listing(self.records[record_id], self.url))
        if kind == "file" and record_id in self.records:
            return self._file(self.records[record_id], request, fault)
        return _json({"status": 404, "message": "not found"}, 404)

    def _route(self, path: str) -> tuple[str | None, int]:
        patterns = (
            ("record", r"/api/records/(\d+)"),
            ("files", r"/api/records/(\d+)/files"),
            ("file", r"/api/records/(\d+)/files/[^/]+/content"),
            ("file", r"/records/(\d+)/files/[^/]+"),
            ("file", r"/api/files/([0-9a-f-]+)/[^/]+"),
        )
        for kind, pattern in patterns:
            match = re.fullmatch(pattern, path)
            if match:
                value = match.group(1)
                record_id = int(value) if value.isdigit() else uuid.UUID(value).int
                return kind, record_id
        return None, 0

    def _take_fault(self, target: Target) -> Fault | None:
        for index, fault in enumerate(self.faults):
            if fault.target == target:
                return fault if fault.persistent else self.faults.pop(index)
        return None

    def _record(self, record_id: int) -> Response:
        if record_id in self.concepts:
            latest, mode = self.concepts[record_id]
            if mode == "redirect":
                return Response("", 302, {"Location": f"{self.url}/api/records/{latest}"})
            record_id = latest
        if record_id not in self.records:
            return _json({"status": 404, "message": "PID does not exist."}, 404)
        return _json(record_json(self.records[record_id], self.url))

    def _file(self, served: Served, request: Request, fault: Fault | None) -> Response:
        data = served.payload
        wanted = request.headers.get("Range")
        ignore = fault is not None and (fault.kind == "ignore_range" or fault.ignore_range)
        span = None if ignore or wanted is None else _parse_range(wanted, len(data))
        if span == (-1, -1):
            return Response("", 416, {"Content-Range": f"bytes */{len(data)}"})
        start, end = span if span else (0, len(data) - 1)
        body = data[start : end + 1]
        headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        if span:
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        length = len(body)
        if fault is not None and fault.kind in ("drop", "truncate"):
            kept = fault.keep_bytes if fault.keep_bytes is not None else int(len(body) * fault.keep)
            body = body[:kept]
            if fault.kind == "truncate":
                length = len(body)
        if fault is not None and fault.kind == "overstate":
            length += fault.extra
        response = Response(body, 206 if span else 200, headers)
        # A "drop" promises more bytes than it sends; werkzeug then closes the connection.
        response.headers["Content-Length"] = str(length)
        return response


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    """(first, last) of a single `bytes=a-b` range; (-1, -1) if unsatisfiable; None if ignored."""
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", value.strip())
    if not match:
        return None
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else size - 1
    if first >= size or last < first:
        return (-1, -1)
    return first, min(last, size - 1)


def _json(data: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(data), status, {"Content-Type": "application/json"})


# --- the JSON shapes ----------------------------------------------------------------------------
def default_metadata(record_id: int) -> dict[str, Any]:
    return {
        "title": f"Test record {record_id}",
        "creators": [{"name": "Baetens, Louis"}, {"name": "Hagolle, Olivier"}],
        "publication_date": "2018-10-11",
        "license": {"id": TEST_LICENSE},
        "version": "1.0",
        "description": "fake",
    }


def _file_entry(served: Served, base: str) -> dict[str, Any]:
    """One file as the record JSON of `served.shape` describes it."""
    key = quote(served.key)
    link = f"{base}/api/records/{served.id}/files/{key}"
    if served.link is not None:
        return {
            "key": served.key,
            "size": served.size,
            "checksum": f"md5:{served.md5}",
            "links": {"self": served.link},
        }
    if served.shape == "legacy":
        return {
            "bucket": served.bucket,
            "key": served.key,
            "size": served.size,
            "checksum": f"md5:{served.md5}",
            "links": {"self": f"{base}/api/files/{served.bucket}/{key}"},
            "type": served.key.rsplit(".", 1)[-1],
        }
    if served.shape == "oct2023":
        return {
            "id": str(uuid.UUID(int=served.id + 1)),
            "filename": served.key,
            "filesize": served.size,
            "checksum": served.md5,
            "links": {"download": f"{base}/records/{served.id}/files/{key}?download=1"},
        }
    entry: dict[str, Any] = {
        "key": served.key,
        "size": served.size,
        "checksum": f"md5:{served.md5}",
    }
    if served.shape == "current":
        file_id = str(uuid.UUID(int=served.id + 1))
        return {"id": file_id, **entry, "links": {"self": f"{link}/content"}}
    return {**entry, "links": {"self": link, "content": f"{link}/content"}}


def files_listing(served: Served, base: str) -> dict[str, Any]:
    """The InvenioRDM `/api/records/<id>/files` answer (entries as a list, or keyed by name)."""
    entry = _file_entry(replace(served, shape="rdm_list"), base)
    entries: Any = [entry]
    if served.shape in ("rdm_dict", "rdm_embedded"):
        entries = {served.key: {k: v for k, v in entry.items() if k != "key"}}
    return {
        "enabled": True,
        "entries": entries,
        "links": {"self": f"{base}/api/records/{served.id}/files"},
    }


def record_json(served: Served, base: str) -> dict[str, Any]:
    """`GET /api/records/<id>` in the shape `served.shape`."""
    if served.shape.startswith("rdm"):
        files: Any = {"enabled": True, "count": 1, "total_bytes": served.size}
        if served.shape == "rdm_embedded":
            files = files_listing(served, base)
        parent = {"id": str(served.concept_id)} if served.concept_id else {}
        return {
            "id": str(served.id),
            "parent": parent,
            "metadata": served.metadata,
            "files": files,
            "links": {"self": f"{base}/api/records/{served.id}"},
        }
    raw: dict[str, Any] = {
        "id": served.id,
        "recid": str(served.id),
        "doi": f"10.5281/zenodo.{served.id}",
        "metadata": served.metadata,
        "links": {"self": f"{base}/api/records/{served.id}", "html": f"{base}/records/{served.id}"},
        "files": [_file_entry(served, base)],
    }
    if served.concept_id:
        raw["conceptrecid"] = str(served.concept_id)
        raw["conceptdoi"] = f"10.5281/zenodo.{served.concept_id}"
    return raw


# --- helpers and fixtures -------------------------------------------------------------------------
def make_payload(size: int = 300_000, seed: int = 1) -> bytes:
    """Deterministic random bytes: the download code does not look inside the archive."""
    return random.Random(seed).randbytes(size)


def pin_payload(monkeypatch: pytest.MonkeyPatch, payload: bytes) -> None:
    """Make stacgen's pins for record 1460961 describe `payload`."""
    monkeypatch.setattr(constants, "ARCHIVE_SIZE", len(payload))
    monkeypatch.setattr(constants, "ARCHIVE_MD5", hashlib.md5(payload).hexdigest())
    monkeypatch.setattr(constants, "ARCHIVE_SHA256", hashlib.sha256(payload).hexdigest())


@contextmanager
def running_server() -> Iterator[HTTPServer]:
    """An HTTPServer on 127.0.0.1 and a free port, stopped on exit."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


@pytest.fixture(scope="session", name="zenodo_server")
def zenodo_server_fixture() -> Iterator[HTTPServer]:
    # One server for the session: stopping one costs up to half a second.
    with running_server() as server:
        yield server


@pytest.fixture(name="zenodo")
def zenodo_fixture(zenodo_server: HTTPServer) -> Iterator[FakeZenodo]:
    fake = FakeZenodo(zenodo_server)
    yield fake
    zenodo_server.clear()
