"""stacgen.testing.foreground: under make in a terminal, Ctrl-C stops the server and make exits 0.

Each test runs `make` in a pseudo-terminal and types Ctrl-C into it, as a person does: the
terminal, not the test, decides which processes get SIGINT.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import sys
from pathlib import Path

import pytest

from tests.bounded import finishes_within

# A server stand-in: says it is ready, stops cleanly (exit 0) on SIGINT.
SERVER = (
    "import signal, sys, time\n"
    "def stop(*_):\n"
    "    print('stopped', flush=True); sys.exit(0)\n"
    "signal.signal(signal.SIGINT, stop)\n"
    "print('ready', flush=True)\n"
    "time.sleep(120)\n"
)


def make_in_a_terminal(tmp_path: Path, recipe: str, ctrl_c: bool = True) -> tuple[int, str]:
    """Run `make` on a one-recipe Makefile in a pty, type Ctrl-C once the recipe is ready (if
    `ctrl_c`); make's exit status and everything the terminal showed."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is missing")
    (tmp_path / "server.py").write_text(SERVER)
    (tmp_path / "Makefile").write_text(f"t:\n\t{recipe}\n")
    pid, fd = pty.fork()
    if pid == 0:  # the child: make, in the new terminal
        # A terminal session starts with SIGINT at its default, unblocked, whatever the test
        # process has done with it (dispositions and the mask are inherited across exec).
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.chdir(tmp_path)
        os.execv(make, [make, "--no-print-directory", "t"])
    shown = b""

    def read_until(needle: bytes | None) -> None:
        nonlocal shown
        while needle is None or needle not in shown:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the terminal closed, every process of it has ended
                return
            if not chunk:
                return
            shown += chunk

    try:
        finishes_within(60, lambda: read_until(b"ready"))
        if ctrl_c:
            os.write(fd, b"\x03")
        finishes_within(60, lambda: read_until(None))
        _, status = finishes_within(60, lambda: os.waitpid(pid, 0))
    finally:
        os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def test_without_it_ctrl_c_interrupts_make(tmp_path: Path) -> None:
    code, shown = make_in_a_terminal(tmp_path, f"{sys.executable} server.py")
    assert "stopped" in shown  # the server stopped cleanly, and still:
    assert code != 0  # make died of the SIGINT the terminal sent it too


def test_ctrl_c_stops_the_command_and_make_exits_0(tmp_path: Path) -> None:
    wrapped = f"{sys.executable} -m stacgen.testing.foreground -- {sys.executable} server.py"
    code, shown = make_in_a_terminal(tmp_path, wrapped)
    assert "stopped" in shown
    assert "make: ***" not in shown
    assert code == 0


def test_a_command_killed_by_ctrl_c_counts_as_stopped(tmp_path: Path) -> None:
    (tmp_path / "plain.py").write_text("import time; print('ready', flush=True); time.sleep(120)")
    wrapped = f"{sys.executable} -m stacgen.testing.foreground -- {sys.executable} plain.py"
    code, shown = make_in_a_terminal(tmp_path, wrapped)
    assert "make: ***" not in shown
    assert code == 0


def test_the_command_s_own_failure_is_make_s(tmp_path: Path) -> None:
    (tmp_path / "fails.py").write_text("import sys; print('ready', flush=True); sys.exit(3)")
    wrapped = f"{sys.executable} -m stacgen.testing.foreground -- {sys.executable} fails.py"
    code, shown = make_in_a_terminal(tmp_path, wrapped, ctrl_c=False)
    assert code == 2  # make's status for a failed recipe
    assert "Error 3" in shown
