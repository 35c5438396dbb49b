"""Starting and stopping the server (stacgen.serve.server): a folder without catalog, a port
taken, stop() closing kept-alive connections, Ctrl-C and SIGTERM."""

from __future__ import annotations

import asyncio
import http.client
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from stacgen.serve import ServeError, Server, serve
from stacgen.serve.server import _bind
from tests.catalogs import (
    FixtureCatalog,
)

pytestmark = pytest.mark.timeout(120)
TIMEOUT = 10  # seconds, for every HTTP call


def get(url: str, **headers: str) -> requests.Response:
    return requests.get(url, headers=headers, timeout=TIMEOUT)


def test_serve_refuses_a_folder_without_catalog(tmp_path: Path) -> None:
    with pytest.raises(ServeError, match=r"catalog\.json"):
        serve(tmp_path, "127.0.0.1", 0)


def test_serve_refuses_a_taken_port(server: Server, serve_catalog: FixtureCatalog) -> None:
    with pytest.raises(ServeError, match="cannot listen"):
        serve(serve_catalog.root, "127.0.0.1", server.port)


def test_the_servers_connections_send_small_answers_at_once() -> None:
    # Without TCP_NODELAY a small answer's last segment waits for the client's delayed ACK
    # (40 ms on Linux) on a kept-alive connection. asyncio sets it on each accepted connection
    # of a listening socket made as the server makes it: read the option on the server's side.
    async def accepted_nodelay() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        listening = _bind("127.0.0.1", 0)
        port = listening.getsockname()[1]
        server = await asyncio.get_running_loop().create_server(Probe, sock=listening)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            value = await asyncio.wait_for(seen, TIMEOUT)
            writer.close()
        return value

    assert asyncio.run(accepted_nodelay()) != 0


def test_stop_closes_the_port_and_kept_alive_connections(serve_catalog: FixtureCatalog) -> None:
    server = serve(serve_catalog.root, "127.0.0.1", 0)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    conn.request("GET", "/catalog.json")
    assert conn.getresponse().read()
    server.stop()
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        refused(conn)
    conn.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


def refused(conn: http.client.HTTPConnection) -> None:
    conn.request("GET", "/catalog.json")
    conn.getresponse().read()


RUNNER = """
import sys
import time
from pathlib import Path
from stacgen.serve import run_forever

run_forever(Path(sys.argv[1]), "127.0.0.1", 0, browser_dir=Path(sys.argv[2]),
            on_ready=lambda urls: print(urls.root, flush=True))
print("stopped", flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_run_forever_stops_on_ctrl_c_and_sigterm(
    serve_catalog: FixtureCatalog, tmp_path: Path, sig: signal.Signals
) -> None:
    import psutil

    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(serve_catalog.root), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    try:
        assert proc.stdout is not None
        root = proc.stdout.readline().strip()
        assert root.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.stderr else ""
        assert get(root + "catalog.json").status_code == 200
        assert psutil.Process(proc.pid).children(recursive=True) == []
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.strip() == "stopped"
    port = int(root.rstrip("/").rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
