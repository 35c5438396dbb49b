"""`stacgen serve` as a user starts it: a subprocess on a free port of 127.0.0.1.

Tests that drive the server from outside (the README's snippets, STAC Browser in Chromium) rely
only on the command's promise: the catalog folder at `/`, STAC Browser at `/browser/`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from stacgen.testing.pgcluster import free_port
from tests.paths import REPO


@contextmanager
def stacgen_serve(catalog: Path, cwd: Path = REPO, log: Path | None = None) -> Iterator[str]:
    """Run `stacgen serve CATALOG` until the block ends; yields its base URL (no trailing /).

    From `cwd` (the repository by default, where `make browser` leaves browser/dist).
    """
    port = free_port()
    # The log goes to a temp folder, never into the checkout (`cwd` is the repository).
    log_path = log or Path(tempfile.mkdtemp(prefix="stacgen-serve-")) / "serve.log"
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "stacgen", "serve", str(catalog)]
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/catalog.json", timeout=5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"stacgen serve did not start: {log_path.read_text()}")
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        if log is None:
            log_path.unlink(missing_ok=True)
