"""Running the site on uvicorn: `serve` (in a background thread, for tests and benchmarks) and
`run_forever` (for `stacgen serve`, until Ctrl-C or SIGTERM).

The listening socket is bound here before uvicorn starts, so a taken port is a ServeError at
once and port 0 picks a free one. A backend that connects somewhere (pgstac) does it in the
server's event loop before uvicorn starts, so that a refusal is the ServeError's one line, not
uvicorn's lifespan traceback. Everything runs in this process: stopping the server stops all of
it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final

import uvicorn
from fastapi import FastAPI

from stacgen import config
from stacgen.errors import StacgenError
from stacgen.serve.app import BROWSER_HINT, Site, find_browser, make_site
from stacgen.serve.catalog import LiveIndex, read_json
from stacgen.serve.protocol import BoundedHttpToolsProtocol
from stacgen.stac.links import published_root

log = logging.getLogger(__name__)

DEFAULT_HOST: Final = config.HOST
DEFAULT_PORT: Final = config.PORT
BACKLOG: Final = 2048
_WILDCARDS: Final = {"", "0.0.0.0", "::"}


class ServeError(StacgenError):
    """The server cannot start: one line naming the file or address and the problem."""


async def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Backend:
    """The STAC API application, and what opens and closes what it connects to."""

    app: FastAPI
    start: Callable[[], Awaitable[None]] = _nothing
    stop: Callable[[], Awaitable[None]] = _nothing


@dataclass(frozen=True)
class ServeUrls:
    root: str  # the catalog folder
    catalog: str  # its catalog.json
    api: str  # the STAC API landing page
    browser: str | None  # STAC Browser, None when it is not built (see BROWSER_HINT)


class Server:
    """A running `serve`: its URLs, and `stop()` (also on leaving a `with` block)."""

    def __init__(
        self,
        server: uvicorn.Server,
        sock: socket.socket,
        urls: ServeUrls,
        backend: str,
        hooks: Backend | None = None,
    ) -> None:
        self._server = server
        self.backend = backend  # "embedded" or "pgstac"
        self._hooks = hooks or Backend(FastAPI())
        self._sock = sock
        self.port: int = sock.getsockname()[1]
        self.urls = urls
        self._refusal: str | None = None
        self._thread = threading.Thread(target=self._run, name="stacgen-serve", daemon=True)
        self._thread.start()
        while not server.started and self._thread.is_alive():
            self._thread.join(0.02)
        if not server.started:
            sock.close()
            self._thread.join()
            raise ServeError(
                self._refusal or f"the server at {urls.root} did not start (see the log)"
            )

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        try:
            await self._hooks.start()
        except StacgenError as err:
            self._refusal = str(err)
            return
        try:
            await self._server.serve(sockets=[self._sock])
        finally:
            await self._hooks.stop()

    def stop(self) -> None:
        """Stop listening, close every open connection, and wait for the server thread."""
        if not self._thread.is_alive():
            return
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._sock.close()
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


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say so, and without it
    # a small answer on a kept-alive connection waits 40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as err:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err
    return sock


def _embedded(directory: Path) -> tuple[Backend, Site]:
    from stacgen.serve.embedded import embedded_api

    live = LiveIndex(directory)
    site = Site(directory, None, lambda: live.current().title, lambda: live.current().published)
    return Backend(embedded_api(live)), site


def _pgstac(directory: Path, dsn: str) -> tuple[Backend, Site]:
    from stacgen.serve.pgstac import pgstac_backend

    catalog = read_json(directory / "catalog.json")
    published = published_root(catalog)
    title = str(catalog.get("title") or catalog.get("id") or "stacgen")
    site = Site(directory, None, lambda: title, lambda: published)
    backend = pgstac_backend(dsn, published)
    return Backend(backend.app, backend.start, backend.stop), site


def serve(
    directory: Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    browser_dir: Path | None = None,
    pgstac: str | None = None,
) -> Server:
    """Start serving DIR, its STAC API and STAC Browser in a background thread.

    `port=0` picks a free port (see `Server.urls`). `browser_dir` is the built STAC Browser;
    None looks in the usual places (`find_browser`). `pgstac` is a PostgreSQL DSN: the API then
    answers from that pgstac database instead of the items in memory. Raises ServeError if DIR
    holds no readable catalog or the address is taken.
    """
    directory = Path(directory).resolve()
    try:
        backend, site = _pgstac(directory, pgstac) if pgstac else _embedded(directory)
    except StacgenError as err:  # an unreadable catalog, a --pgstac DSN that is not one
        raise ServeError(str(err)) from err
    browser = find_browser(browser_dir)
    if browser is None:
        log.warning(BROWSER_HINT)
    site = Site(directory, browser, site.title, site.published)
    sock = _bind(host, port)
    shown = f"{_display_host(host)}:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        make_site(site, backend.app, shown),
        log_level="warning",
        # httptools: several times h11's speed; a method no HTTP parser knows is a 400. Bounded:
        # a request head over protocol.MAX_HEAD bytes or MAX_HEADERS headers is a 431.
        http=BoundedHttpToolsProtocol,
        ws="none",  # no websockets: and importing them warns (websockets.legacy deprecated)
        access_log=False,
        lifespan="off",  # a backend's connections are opened before uvicorn starts (Server)
        timeout_keep_alive=60,
        timeout_graceful_shutdown=5,
        backlog=BACKLOG,
        server_header=False,
    )
    root = f"http://{shown}/"
    urls = ServeUrls(
        root, f"{root}catalog.json", f"{root}api/", f"{root}browser/" if browser else None
    )
    log.info("serving %s at %s (API %s)", directory, root, urls.api)
    kind = "pgstac" if pgstac else "embedded"
    return Server(uvicorn.Server(config), sock, urls, kind, backend)


def run_forever(
    directory: Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    browser_dir: Path | None = None,
    pgstac: str | None = None,
    on_ready: Callable[[ServeUrls], None] | None = None,
) -> None:
    """Serve until Ctrl-C (SIGINT) or SIGTERM, then stop; for `stacgen serve`.

    `on_ready` is called once with the URLs when the server listens.
    """
    stopping = threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: stopping.set()) if in_main else None
    try:
        with serve(directory, host, port, browser_dir=browser_dir, pgstac=pgstac) as server:
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
