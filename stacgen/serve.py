"""`stacgen serve`: the static catalog, a STAC API and STAC Browser on one origin.

    http://HOST:PORT/          the catalog folder, read-only: CORS, byte ranges, COG media types
    http://HOST:PORT/api/      a STAC API (item search) over the same items (stacgen.api)
    http://HOST:PORT/browser/  STAC Browser, once built with `make browser`

One threaded HTTP server in this process answers all three. It starts no other process, so
stopping it (Ctrl-C, SIGTERM, `Server.stop`) leaves nothing behind. `python -m http.server` is
not enough: it ignores Range (COG readers need 206) and sends no CORS header.

A catalog built with --root-href holds absolute hrefs under that URL: JSON files are sent with
those hrefs moved under this server's URL, so the catalog works here as it will once published.
Absolute URLs in responses follow the request's Host header, so the server can be reached by any
name (127.0.0.1, localhost, a LAN address when bound to 0.0.0.0).
"""

from __future__ import annotations

import contextlib
import json
import logging
import mimetypes
import os
import re
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from stacgen.api import CatalogError, StacApi, load_index
from stacgen.stac.links import rebase

log = logging.getLogger(__name__)

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8000
BROWSER_ENV: Final = "STACGEN_BROWSER_DIR"
BROWSER_DIST: Final = Path("browser") / "dist"
BROWSER_HINT: Final = (
    "STAC Browser is not built: run `make browser` (tools/build-browser.sh, needs npm) "
    "and restart `stacgen serve`"
)
COG: Final = "image/tiff; application=geotiff; profile=cloud-optimized"
MEDIA_TYPES: Final = {
    ".json": "application/json",
    ".geojson": "application/geo+json",
    ".tif": COG,
    ".tiff": COG,
    ".png": "image/png",
    ".parquet": "application/vnd.apache.parquet",
    ".zip": "application/zip",
    ".md": "text/markdown; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}
CHUNK: Final = 256 * 1024
MAX_BODY: Final = 1024 * 1024
_HOST_HEADER: Final = re.compile(r"[A-Za-z0-9.-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")
_WILDCARDS: Final = {"", "0.0.0.0", "::"}


class ServeError(Exception):
    """The server cannot start: one line naming the file or address and the problem."""


@dataclass(frozen=True)
class ServeUrls:
    root: str  # the catalog folder
    catalog: str  # its catalog.json
    api: str  # the STAC API landing page
    browser: str | None  # STAC Browser, None when it is not built (see BROWSER_HINT)


def media_type(path: Path) -> str:
    known = MEDIA_TYPES.get(path.suffix.lower())
    return known or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def safe_path(root: Path, url_path: str) -> Path | None:
    """The path a URL path names under `root` (resolved), or None if it would leave it.

    Segments are decoded one by one, so an encoded slash (`%2f`) or dot segment (`%2e%2e`)
    cannot build a path the raw URL does not show; `..` is refused outright, not resolved.
    """
    parts = []
    for segment in url_path.split("/"):
        try:
            part = unquote(segment, errors="strict")
        except UnicodeDecodeError:
            return None
        if part in ("", "."):
            continue
        if part == ".." or any(c in part for c in "/\\\0"):
            return None
        parts.append(part)
    target = root.joinpath(*parts).resolve()
    return target if target.is_relative_to(root) else None


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class Unsatisfiable(Exception):
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


def find_browser(explicit: Path | None = None) -> Path | None:
    """The built STAC Browser (a folder with index.html), or None.

    Looked for in `explicit`, else $STACGEN_BROWSER_DIR, ./browser/dist, and browser/dist beside
    the stacgen package (a checkout).
    """
    if explicit is not None:
        candidates = [explicit]
    else:
        env = os.environ.get(BROWSER_ENV)
        here = Path(__file__).resolve().parents[1] / BROWSER_DIST
        candidates = [Path(env)] if env else [Path.cwd() / BROWSER_DIST, here]
    return next((c.resolve() for c in candidates if (c / "index.html").is_file()), None)


@dataclass(frozen=True)
class _Site:
    """What the request handler serves; shared by every connection thread (read-only)."""

    directory: Path
    api: StacApi
    browser: Path | None
    title: str
    published: str | None
    default_host: str

    def browser_config(self, base: str) -> bytes:
        config = {"catalogUrl": f"{base}catalog.json", "catalogTitle": self.title}
        return f"window.STAC_BROWSER_CONFIG = {json.dumps(config, indent=1)};\n".encode()

    def landing_page(self) -> bytes:
        browser = (
            '<a href="browser/">STAC Browser</a>'
            if self.browser
            else f"STAC Browser: {BROWSER_HINT}"
        )
        return (
            f"<!doctype html><meta charset=utf-8><title>{self.title}</title><h1>{self.title}</h1>"
            '<ul><li><a href="catalog.json">The static catalog</a>'
            '<li><a href="api/">The STAC API</a>'
            f"<li>{browser}</ul>"
        ).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a COG read is many small range requests
    server_version = "stacgen"
    timeout = 60  # an idle keep-alive connection is closed after this many seconds
    server: _HTTPServer

    @property
    def site(self) -> _Site:
        return self.server.site

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header(
            "Access-Control-Expose-Headers",
            "Accept-Ranges, Content-Encoding, Content-Length, Content-Range",
        )
        super().end_headers()

    def base_url(self) -> str:
        host = self.headers.get("Host", "")
        if not _HOST_HEADER.fullmatch(host):
            host = self.site.default_host
        return f"http://{host}/"

    # --- methods ------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if not path.startswith("/api/"):
            self._send_text(HTTPStatus.METHOD_NOT_ALLOWED, "POST is only allowed on /api/search")
            return
        body = self._read_body()
        if body is not None:
            self._api("POST", body)

    def do_OPTIONS(self) -> None:
        """CORS preflight: any origin may GET, HEAD and POST with any header (Range included)."""
        self.send_response(HTTPStatus.NO_CONTENT)
        self.send_header("Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS")
        asked = self.headers.get("Access-Control-Request-Headers")
        self.send_header("Access-Control-Allow-Headers", asked or "*")
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        head = method == "HEAD"
        if path in ("/api", "/browser"):
            self._redirect(path + "/")
        elif path.startswith("/api/"):
            self._api(method, b"")
        elif path == "/browser/config.js" and self.site.browser:
            base = self.base_url()
            self._send_bytes(self.site.browser_config(base), MEDIA_TYPES[".js"], head)
        elif path.startswith("/browser/"):
            self._browser(path.removeprefix("/browser"), head)
        else:
            self._static(path, head)

    # --- the three sites ----------------------------------------------------------------------
    def _api(self, method: str, body: bytes) -> None:
        url = urlsplit(self.path)
        rest = url.path.removeprefix("/api/")
        answer = self.site.api.handle(method, rest, url.query, body, self.base_url())
        self._send_bytes(answer.body(), answer.media_type, method == "HEAD", answer.status)

    def _browser(self, path: str, head: bool) -> None:
        if self.site.browser is None:
            html = f"<!doctype html><meta charset=utf-8><p>{BROWSER_HINT}.</p>".encode()
            self._send_bytes(html, MEDIA_TYPES[".html"], head, HTTPStatus.NOT_FOUND)
            return
        self._file(self.site.browser, path, head)

    def _static(self, path: str, head: bool) -> None:
        if path == "/" and not (self.site.directory / "index.html").is_file():
            self._send_bytes(self.site.landing_page(), MEDIA_TYPES[".html"], head)
            return
        self._file(self.site.directory, path, head)

    def _file(self, root: Path, path: str, head: bool) -> None:
        target = safe_path(root, path)
        if target is None:
            self._send_text(HTTPStatus.FORBIDDEN, "forbidden path")
            return
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            self._send_text(HTTPStatus.NOT_FOUND, "not found")
            return
        if self.site.published and target.suffix == ".json" and root == self.site.directory:
            self._send_bytes(self._rewritten(target), media_type(target), head)
            return
        self._send_file(target, head)

    def _rewritten(self, path: Path) -> bytes:
        """A JSON file with the published root's hrefs moved under this server's URL."""
        raw = path.read_bytes()
        try:
            doc = json.loads(raw)
        except ValueError:
            return raw
        assert self.site.published is not None
        moved = rebase(doc, self.site.published, self.base_url())
        return json.dumps(moved, indent=2, ensure_ascii=False).encode("utf-8")

    # --- responses ----------------------------------------------------------------------------
    def _send_file(self, path: Path, head: bool) -> None:
        size = path.stat().st_size
        try:
            chosen = parse_range(self.headers.get("Range"), size)
        except Unsatisfiable:
            self._send_unsatisfiable(size)
            return
        modified = formatdate(path.stat().st_mtime, usegmt=True)
        self._start(media_type(path), size, chosen, {"Last-Modified": modified})
        if head:
            return
        with path.open("rb") as src:
            start, left = (chosen.start, chosen.length) if chosen else (0, size)
            src.seek(start)
            while left > 0 and (chunk := src.read(min(CHUNK, left))):
                self.wfile.write(chunk)
                left -= len(chunk)

    def _send_bytes(
        self, body: bytes, content_type: str, head: bool, status: int = HTTPStatus.OK
    ) -> None:
        try:
            chosen = parse_range(self.headers.get("Range"), len(body)) if status == 200 else None
        except Unsatisfiable:
            self._send_unsatisfiable(len(body))
            return
        self._start(content_type, len(body), chosen, {}, status)
        if not head:
            self.wfile.write(body[chosen.start : chosen.end + 1] if chosen else body)

    def _send_unsatisfiable(self, size: int) -> None:
        self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
        self.send_header("Content-Range", f"bytes */{size}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _start(
        self,
        content_type: str,
        size: int,
        chosen: ByteRange | None,
        headers: dict[str, str],
        status: int = HTTPStatus.OK,
    ) -> None:
        self.send_response(HTTPStatus.PARTIAL_CONTENT if chosen else status)
        self.send_header("Content-Type", content_type)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Cache-Control", "no-cache")
        if chosen:
            self.send_header("Content-Range", f"bytes {chosen.start}-{chosen.end}/{size}")
        self.send_header("Content-Length", str(chosen.length if chosen else size))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _send_text(self, status: int, message: str) -> None:
        body = f"{message}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", MEDIA_TYPES[".txt"])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(HTTPStatus.MOVED_PERMANENTLY)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            self._send_text(HTTPStatus.LENGTH_REQUIRED, "send the search with a Content-Length")
            return None
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._send_text(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {MAX_BODY} bytes")
            return None
        return self.rfile.read(length)


class _HTTPServer(ThreadingHTTPServer):
    """Tracks its open connections so that stopping closes the kept-alive ones too."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], site: _Site) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.site = site
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback to stderr; a client hanging up is routine.
        log.debug("connection from %s failed", client_address, exc_info=True)

    def close_connections(self) -> None:
        with self._lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


class Server:
    """A running `serve`: its URLs, and `stop()` (also on leaving a `with` block)."""

    def __init__(self, httpd: _HTTPServer, urls: ServeUrls) -> None:
        self._httpd = httpd
        self.urls = urls
        self._thread = threading.Thread(target=httpd.serve_forever, name="stacgen-serve")
        self._thread.daemon = True
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def stop(self) -> None:
        """Stop listening, close every open connection, and wait for the server thread."""
        if not self._thread.is_alive():
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_connections()
        self._thread.join(timeout=10)
        log.info("stopped serving %s", self.urls.root)

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _display_host(host: str) -> str:
    if host in _WILDCARDS:
        return DEFAULT_HOST
    return f"[{host}]" if ":" in host else host


def _bind(host: str, port: int, site: _Site) -> _HTTPServer:
    try:
        return _HTTPServer((host, port), site)
    except OSError as err:
        raise ServeError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err


def serve(
    directory: Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    browser_dir: Path | None = None,
) -> Server:
    """Start serving DIR, its STAC API and STAC Browser in a background thread.

    `port=0` picks a free port (see `Server.urls`). `browser_dir` is the built STAC Browser;
    None looks in the usual places (`find_browser`). Raises ServeError if DIR holds no
    readable catalog or the address is taken.
    """
    directory = Path(directory).resolve()
    try:
        index = load_index(directory)
    except CatalogError as err:
        raise ServeError(str(err)) from err
    browser = find_browser(browser_dir)
    if browser is None:
        log.warning(BROWSER_HINT)
    title = str(index.catalog.get("title") or index.catalog.get("id") or "stacgen")
    site = _Site(directory, StacApi(index), browser, title, index.published, "")
    httpd = _bind(host, port, site)
    shown = f"{_display_host(host)}:{httpd.server_address[1]}"
    httpd.site = replace(site, default_host=shown)
    root = f"http://{shown}/"
    urls = ServeUrls(
        root, f"{root}catalog.json", f"{root}api/", f"{root}browser/" if browser else None
    )
    log.info("serving %s at %s (API %s)", directory, root, urls.api)
    return Server(httpd, urls)


def run_forever(
    directory: Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    browser_dir: Path | None = None,
    on_ready: Callable[[ServeUrls], None] | None = None,
) -> None:
    """Serve until Ctrl-C (SIGINT) or SIGTERM, then stop; for `stacgen serve`.

    `on_ready` is called once with the URLs when the server listens. Everything runs in this
    process (no child processes), so stopping the server stops all of it.
    """
    stopping = threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: stopping.set()) if in_main else None
    try:
        with serve(directory, host, port, browser_dir=browser_dir) as server:
            if on_ready is not None:
                on_ready(server.urls)
            try:
                while not stopping.wait(0.5):
                    pass
            except KeyboardInterrupt:
                log.info("interrupted")
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
