"""The catalog folder and STAC Browser as static files: byte ranges, media types, gzip for JSON,
no way out of the folder, and the build's private files never served.

Each file is answered from one open handle (size and bytes from the same file), so a rebuild
swapping the folder mid-request cannot produce a truncated answer.
"""

from __future__ import annotations

import gzip
import mimetypes
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import IO, Final
from urllib.parse import unquote

import anyio
import pystac
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from stacgen.errors import StacgenError
from stacgen.layout.media import PARQUET, ZIP
from stacgen.stac.links import rebase_json

COG: Final = str(pystac.MediaType.COG)
MEDIA_TYPES: Final = {
    ".json": str(pystac.MediaType.JSON),
    ".geojson": str(pystac.MediaType.GEOJSON),
    ".tif": COG,
    ".tiff": COG,
    ".png": str(pystac.MediaType.PNG),
    ".parquet": PARQUET,
    ".zip": ZIP,
    ".md": "text/markdown; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}
COMPRESSIBLE: Final = frozenset({".json", ".geojson", ".html", ".js", ".css", ".svg", ".md"})
CHUNK: Final = 256 * 1024
SMALL: Final = 1024 * 1024  # files up to this size are read whole from the handle
GZIP_MIN_BYTES: Final = 1024


def media_type(path: Path) -> str:
    known = MEDIA_TYPES.get(path.suffix.lower())
    return known or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def safe_path(root: Path, url_path: str) -> Path | None:
    """The path a raw URL path names under `root` (resolved), or None if it would leave it or
    name a private file.

    Segments are decoded one by one, so an encoded slash (`%2f`) or dot segment (`%2e%2e`)
    cannot build a path the raw URL does not show; `..` is refused outright, not resolved. A
    segment starting with a dot (`.stacgen-state.json`, the build's staging folders) is private.
    """
    parts = []
    for segment in url_path.split("/"):
        try:
            part = unquote(segment, errors="strict")
        except UnicodeDecodeError:
            return None
        if part == "":
            continue
        if part.startswith(".") or any(c in part for c in "/\\\0"):
            return None
        parts.append(part)
    target = root.joinpath(*parts)
    try:
        target = target.resolve()
    except (OSError, RuntimeError):  # a symbolic link loop (RuntimeError before Python 3.13):
        return target  # no file to open there, a 404
    return target if target.is_relative_to(root) else None


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class Unsatisfiable(StacgenError):
    """A byte range that starts past the end of the file (416)."""


_RANGE: Final = re.compile(r"bytes=(\d*)-(\d*)")


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single byte range asked for, or None to send the whole file.

    Several ranges, or a malformed header, are answered with the whole file, as RFC 9110 allows.
    """
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None or match[0] == "bytes=-":
        return None
    first, last = match[1], match[2]
    if not first:  # the last N bytes
        if int(last) == 0 or size == 0:
            raise Unsatisfiable
        return ByteRange(max(size - int(last), 0), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise Unsatisfiable
    return ByteRange(start, min(end, size - 1))


def text_response(status: int, message: str) -> Response:
    return Response(f"{message}\n", status, media_type=MEDIA_TYPES[".txt"])


def _accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


def bytes_response(request: Request, body: bytes, content_type: str, compress: bool) -> Response:
    """A whole body, gzipped when the client takes it; a Range is answered from it too."""
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "no-cache"}
    try:
        chosen = parse_range(request.headers.get("range"), len(body))
    except Unsatisfiable:
        return _unsatisfiable(len(body))
    if chosen is not None:
        headers["Content-Range"] = f"bytes {chosen.start}-{chosen.end}/{len(body)}"
        return Response(body[chosen.start : chosen.end + 1], 206, headers, content_type)
    if compress and len(body) >= GZIP_MIN_BYTES and _accepts_gzip(request):
        body = gzip.compress(body, compresslevel=5)
        headers["Content-Encoding"] = "gzip"
        headers["Vary"] = "Accept-Encoding"
    return Response(body, 200, headers, content_type)


def _unsatisfiable(size: int) -> Response:
    return Response(b"", 416, {"Content-Range": f"bytes */{size}"})


def _open(target: Path) -> tuple[IO[bytes], Path] | None:
    """The file opened once (a folder's index.html), or None if there is none."""
    for path in (target, target / "index.html"):
        try:
            handle = path.open("rb")
        except OSError:  # missing, a folder, not readable, a link loop, a name too long
            continue
        if os.path.isdir(path):  # pragma: no cover - open() refuses folders on Linux
            handle.close()
            continue
        return handle, path
    return None


async def file_response(
    request: Request, root: Path, url_path: str, published: str | None = None
) -> Response:
    """The file `url_path` names under `root`; JSON rebased from `published` to this server."""
    target = safe_path(root, url_path)
    if target is None:
        return text_response(403, "forbidden path")
    opened = _open(target)
    if opened is None:
        return text_response(404, "not found")
    handle, path = opened
    stat = os.fstat(handle.fileno())
    kind = media_type(path)
    compress = path.suffix.lower() in COMPRESSIBLE
    if stat.st_size <= SMALL or (published and path.suffix == ".json"):
        with handle:
            body = handle.read()
        if published and path.suffix == ".json":
            body = rebase_json(body, [published], str(request.base_url))
        return bytes_response(request, body, kind, compress)
    return _streamed(request, handle, stat.st_size, stat.st_mtime, kind)


def _streamed(request: Request, handle: IO[bytes], size: int, mtime: float, kind: str) -> Response:
    headers = {
        "Accept-Ranges": "bytes",
        "Cache-Control": "no-cache",
        "Last-Modified": formatdate(mtime, usegmt=True),
    }
    try:
        chosen = parse_range(request.headers.get("range"), size)
    except Unsatisfiable:
        handle.close()
        return _unsatisfiable(size)
    start, length = (chosen.start, chosen.length) if chosen else (0, size)
    headers["Content-Length"] = str(length)
    if chosen:
        headers["Content-Range"] = f"bytes {chosen.start}-{chosen.end}/{size}"
    if request.method == "HEAD":
        handle.close()
        return Response(None, 206 if chosen else 200, headers, kind)
    return StreamingResponse(_chunks(handle, start, length), 206 if chosen else 200, headers, kind)


async def _chunks(handle: IO[bytes], start: int, length: int) -> AsyncIterator[bytes]:
    try:
        handle.seek(start)
        while length > 0:
            chunk = await anyio.to_thread.run_sync(handle.read, min(CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk
    finally:
        handle.close()
