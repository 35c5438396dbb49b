"""Running the site on uvicorn: `serve` (in a background thread, for tests and benchmarks) and
`run_forever` (for `stacgen serve`, until Ctrl-C or SIGTERM).

The listening socket is bound here before uvicorn starts, so a taken port is a ServeError at
once and port 0 picks a free one. A backend that connects somewhere (pgstac) does it in the
server's event loop before uvicorn starts, so that a refusal is the ServeError's one line, not
uvicorn's lifespan traceback. Everything runs in this process: stopping the server stops all of
it; except with `workers` > 1 (--pgstac only), where `run_forever` checks the database, binds
the socket, then starts that many server processes on it and stops them all when it stops or
when one of them ends.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import queue
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import uvicorn
from fastapi import FastAPI

from stacgen import config
from stacgen.errors import StacgenError
from stacgen.processes import die_with
from stacgen.serve.app import BROWSER_HINT, Site, find_browser, make_site
from stacgen.serve.catalog import LiveIndex, read_json
from stacgen.serve.protocol import BoundedHttpToolsProtocol
from stacgen.stac.links import published_root

log = logging.getLogger(__name__)

DEFAULT_HOST: Final = config.HOST
DEFAULT_PORT: Final = config.PORT
BACKLOG: Final = 2048
_WILDCARDS: Final = {"", "0.0.0.0", "::"}
WORKER_START: Final = 60.0  # s: every server process listens within this, or none stays
WORKER_STOP: Final = 15.0  # s: a process still running this long after SIGTERM is killed


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


def _config(app: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
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
    config = _config(make_site(site, backend.app, shown))
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
    workers: int = 1,
) -> None:
    """Serve until Ctrl-C (SIGINT) or SIGTERM, then stop; for `stacgen serve`.

    `on_ready` is called once with the URLs when the server listens. `workers` > 1 (with
    `pgstac` only) runs that many server processes on the one listening socket.
    """
    stopping = threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: stopping.set()) if in_main else None
    try:
        if workers > 1:
            _run_workers(directory, host, port, browser_dir, pgstac, on_ready, workers, stopping)
            return
        with serve(directory, host, port, browser_dir=browser_dir, pgstac=pgstac) as server:
            if on_ready is not None:
                on_ready(server.urls)
            _wait(stopping)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _wait(stopping: threading.Event, alive: Callable[[], bool] = lambda: True) -> None:
    try:
        while not stopping.wait(0.5) and alive():
            pass
    except KeyboardInterrupt:
        log.info("interrupted")


# --- several server processes (--workers) ---------------------------------------------------------
def _run_workers(
    directory: Path,
    host: str,
    port: int,
    browser_dir: Path | None,
    pgstac: str | None,
    on_ready: Callable[[ServeUrls], None] | None,
    workers: int,
    stopping: threading.Event,
) -> None:
    """`workers` processes, each its own event loop and pgstac connections, accepting on one
    socket bound here: one Python process answers about 400 searches a second, and a database
    on another machine can take more. The DSN and the database are checked here first, so a
    refusal is one line and no process is started."""
    if not pgstac:
        raise ServeError(
            "--workers: more than one server process needs --pgstac (the embedded backend "
            "would hold the whole catalog in each process)"
        )
    directory = Path(directory).resolve()
    try:
        backend, _ = _pgstac(directory, pgstac)
    except StacgenError as err:
        raise ServeError(str(err)) from err
    try:
        asyncio.run(_check(backend))
    except StacgenError as err:
        raise ServeError(str(err)) from err
    browser = find_browser(browser_dir)
    if browser is None:
        log.warning(BROWSER_HINT)
    sock = _bind(host, port)
    shown = f"{_display_host(host)}:{sock.getsockname()[1]}"
    root = f"http://{shown}/"
    urls = ServeUrls(
        root, f"{root}catalog.json", f"{root}api/", f"{root}browser/" if browser else None
    )
    # spawn, not fork: each process imports afresh (no event loop or pool copied from here).
    context = multiprocessing.get_context("spawn")
    ready: multiprocessing.Queue[int] = context.Queue()
    args = (directory, browser, pgstac, sock, shown, ready, log.getEffectiveLevel(), os.getpid())
    procs = [
        context.Process(target=_worker, args=args, name=f"stacgen-serve-{k}")
        for k in range(workers)
    ]
    try:
        for proc in procs:
            proc.start()
        try:
            _await_workers(procs, ready, urls)
        except KeyboardInterrupt:
            log.info("interrupted")
            return
        log.info("serving %s at %s (API %s), %d processes", directory, root, urls.api, workers)
        if on_ready is not None:
            on_ready(urls)
        _wait(stopping, lambda: all(p.is_alive() for p in procs))
        if not all(p.is_alive() for p in procs):
            raise ServeError(
                f"a server process at {urls.root} ended (exit status {_exits(procs)}): "
                "stopped them all"
            )
    finally:
        _stop_workers(procs)
        sock.close()


async def _check(backend: Backend) -> None:
    """The backend's start-up checks (the DSN connects, the database holds pgstac)."""
    await backend.start()
    await backend.stop()


def _await_workers(
    procs: Sequence[multiprocessing.process.BaseProcess], ready: Any, urls: ServeUrls
) -> None:
    deadline = time.monotonic() + WORKER_START
    waiting = len(procs)
    while waiting:
        if not all(p.is_alive() for p in procs):
            raise ServeError(
                f"the server at {urls.root} did not start: a server process ended "
                f"(exit status {_exits(procs)}; see the log)"
            )
        if time.monotonic() > deadline:
            raise ServeError(f"the server at {urls.root} did not start in {WORKER_START:g} s")
        try:
            ready.get(timeout=0.2)
            waiting -= 1
        except queue.Empty:
            pass


def _exits(procs: Sequence[multiprocessing.process.BaseProcess]) -> str:
    return ", ".join(str(p.exitcode) for p in procs if p.exitcode is not None)


def _stop_workers(procs: Sequence[multiprocessing.process.BaseProcess]) -> None:
    """SIGTERM to each process still running (each closes its connections), then SIGKILL
    to any still there after WORKER_STOP seconds."""
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    deadline = time.monotonic() + WORKER_STOP
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join(5)


def _worker(
    directory: Path,
    browser: Path | None,
    pgstac: str,
    sock: socket.socket,
    shown: str,
    ready: Any,
    level: int,
    parent_pid: int,
) -> None:
    """One server process: the site and the pgstac API on the shared socket until SIGTERM or
    SIGINT (uvicorn's own handlers: it finishes the requests under way), or until the command
    that started it ends, however it ends (processes.die_with: a killed command leaves no
    server process holding its port)."""
    die_with(parent_pid)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    logging.getLogger("stacgen").setLevel(level)
    backend, site = _pgstac(directory, pgstac)
    site = Site(directory, browser, site.title, site.published)
    server = uvicorn.Server(_config(make_site(site, backend.app, shown)))

    async def main() -> None:
        await backend.start()
        try:
            serving = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started and not serving.done():
                await asyncio.sleep(0.02)
            if server.started:
                ready.put(os.getpid())
            await serving
        finally:
            await backend.stop()

    asyncio.run(main())
