"""Run a command as the terminal's foreground job, so that Ctrl-C stops it and nothing else.

Ctrl-C sends SIGINT to every process of the terminal's foreground process group: under `make`,
to make itself, which then reports "Interrupt" and exits with an error whatever its recipe
does. `make serve-pgstac` runs its server through this module instead: the server gets a
process group of its own and the terminal's foreground, so Ctrl-C reaches only the server,
which stops cleanly; this process then takes the terminal back (and cleans up: the throw-away
cluster) and exits 0, and so does make. Without a terminal (tests, CI, a pipe) the command runs
in this process's group, as any child does.

Usage: python -m stacgen.testing.foreground -- COMMAND [ARGS...]
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence

STOP_GRACE = 10.0  # seconds a command has to stop after each signal, before the next


def _terminal() -> int | None:
    """The terminal's descriptor when this process runs in its foreground group, else None."""
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
                return fd
    return None


@contextlib.contextmanager
def _foreground(tty: int, pgid: int) -> Iterator[None]:
    """The terminal's foreground is group `pgid` inside, this process's group again after."""
    # A background group that sets the foreground gets SIGTTOU (it would stop us): ignored.
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(tty, pgid)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(tty, os.getpgrp())
        signal.signal(signal.SIGTTOU, previous)


def stop(child: subprocess.Popen[bytes]) -> int:
    """Ask a command to stop (SIGINT, then SIGTERM), kill it if it will not."""
    for ask in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(ask)
        with contextlib.suppress(subprocess.TimeoutExpired):
            return child.wait(timeout=STOP_GRACE)
    return child.wait()


def run(command: Sequence[str], env: Mapping[str, str] | None = None) -> int:
    """Run `command` until it ends; its exit status, 0 when Ctrl-C (SIGINT) stopped it."""
    tty = _terminal()
    environ = dict(env) if env is not None else None
    group = None if tty is None else 0  # 0: a new process group, led by the command
    with subprocess.Popen(list(command), env=environ, process_group=group) as child:
        try:
            if tty is None:
                code = child.wait()
            else:
                with _foreground(tty, child.pid):
                    code = child.wait()
        except KeyboardInterrupt:  # Ctrl-C before the command had the terminal, or no terminal
            code = stop(child)
    return 0 if code in (-signal.SIGINT, 128 + signal.SIGINT) else code


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("usage: python -m stacgen.testing.foreground -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
