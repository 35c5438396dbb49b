"""A throw-away PostgreSQL 15 + PostGIS cluster in a temporary folder, for pgstac.

For the tests, `make serve-pgstac` and the scale benchmark: nothing to install beyond Debian's
`postgresql-15` and `postgresql-15-postgis-3`, nothing left behind. The cluster listens on
127.0.0.1 (a free port) and on a unix socket inside its own folder, trusts every local
connection, and runs without fsync: it holds nothing worth keeping. PostgreSQL refuses to run
as root, so when we are root its programs run as the `postgres` user.

    python -m stacgen.testing.pgcluster               # print the DSN, wait for Ctrl-C
    python -m stacgen.testing.pgcluster -- CMD ARGS   # run CMD with $STACGEN_DSN, then stop
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, Final

from stacgen.errors import StacgenError
from stacgen.testing import foreground

BINDIR: Final = Path("/usr/lib/postgresql/15/bin")  # Debian's PostgreSQL 15
DATABASE: Final = "stacgen"
SUPERUSER: Final = "postgres"
DSN_ENV: Final = "STACGEN_DSN"  # what `-- CMD` finds the cluster's DSN in
INSTALL_HINT: Final = "apt-get install postgresql-15 postgresql-15-postgis-3"
# Durability is worthless in a throw-away cluster, and turning it off makes loads faster.
SETTINGS: Final = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}
START_ATTEMPTS: Final = 3  # another process may take the free port before the server does


class PgClusterUnavailable(StacgenError):
    """PostgreSQL or PostGIS is not installed here (a one-line reason)."""


class PgClusterError(StacgenError):
    """The cluster could not be set up although PostgreSQL is installed."""


def bindir() -> Path:
    """Where PostgreSQL's programs are: env STACGEN_PG_BINDIR, else Debian's PostgreSQL 15."""
    return Path(os.environ.get("STACGEN_PG_BINDIR") or BINDIR)


def check_available(programs: Path | None = None) -> Path:
    """The folder of PostgreSQL's programs, once initdb, pg_ctl and PostGIS are all there."""
    programs = programs or bindir()
    for name in ("initdb", "pg_ctl", "postgres", "pg_config"):
        if not os.access(programs / name, os.X_OK):
            raise PgClusterUnavailable(f"no PostgreSQL: {programs / name} missing ({INSTALL_HINT})")
    share = subprocess.run(
        [programs / "pg_config", "--sharedir"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if not (Path(share) / "extension" / "postgis.control").is_file():
        raise PgClusterUnavailable(f"no PostGIS extension in {share} ({INSTALL_HINT})")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise PgClusterUnavailable(
                f"running as root and there is no {SUPERUSER!r} user to run PostgreSQL as"
            ) from None
    return programs


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Cluster:
    """The data folder, socket and log of one cluster, and the programs run on it."""

    def __init__(self, folder: Path, programs: Path) -> None:
        self.folder = folder
        self.programs = programs
        self.data = folder / "data"
        self.log = folder / "server.log"
        self.port = 0

    def _run(self, program: str, *args: str | Path, timeout: float = 120) -> None:
        as_user: dict[str, Any] = {}
        if os.geteuid() == 0:
            as_user = {"user": SUPERUSER, "group": SUPERUSER, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
        done = subprocess.run(
            [self.programs / program, *args],
            cwd=self.folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **as_user,
        )
        if done.returncode != 0:
            reason = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
            raise PgClusterError(f"{program} failed: {reason[-1]} (log: {self.log})")

    def init(self) -> None:
        if os.geteuid() == 0:
            os.chown(self.folder, pwd.getpwnam(SUPERUSER).pw_uid, -1)
        self.folder.chmod(0o700)
        self._run(
            "initdb", "-D", self.data, "-U", SUPERUSER, "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions",
        )  # fmt: skip

    def start(self) -> None:
        for attempt in range(START_ATTEMPTS):
            self.port = free_port()
            options = [f"-c {k}={v}" for k, v in SETTINGS.items()]
            options += [f"-p {self.port}", f"-k {self.folder}"]
            try:
                self._run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60",
                          "-o", " ".join(options), "start")  # fmt: skip
                return
            except PgClusterError:
                if attempt == START_ATTEMPTS - 1 or "already in use" not in self._log_tail():
                    raise

    def create_database(self) -> None:
        self._run("createdb", "-h", self.folder, "-p", str(self.port), "-U", SUPERUSER, DATABASE)

    def stop(self) -> None:
        """Stop the server if it runs; kill it if it will not stop."""
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return
        with contextlib.suppress(PgClusterError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "-t", "30", "stop")
        if pid_file.exists():  # pg_ctl could not stop it: end the postmaster itself
            with contextlib.suppress(ValueError, IndexError, OSError):
                pid = int(pid_file.read_text().split()[0])
                os.kill(pid, signal.SIGKILL)
                _wait_gone(pid)

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    @property
    def dsn(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"


def _wait_gone(pid: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


@contextlib.contextmanager
def temporary_cluster(base_dir: Path | None = None) -> Iterator[str]:
    """Start a cluster in a new folder under `base_dir` (the system temp folder by default).

    Yields the DSN of its empty `stacgen` database; on exit (also an exception or Ctrl-C) the
    server is stopped and the folder removed. `base_dir` must be reachable by the `postgres`
    user when running as root (pytest's 0700 temp folders are not), and short: the unix
    socket's path must fit in 107 bytes.
    """
    programs = check_available()
    folder = Path(tempfile.mkdtemp(prefix="stacgen-pg-", dir=base_dir))
    cluster = _Cluster(folder, programs)
    try:
        cluster.init()
        cluster.start()
        cluster.create_database()
        yield cluster.dsn
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _run_command(command: Sequence[str], dsn: str) -> int:
    """Run `command` with the DSN in its environment, as the terminal's foreground job: Ctrl-C
    stops it (exit 0), then the cluster it used goes away (stacgen.testing.foreground)."""
    return foreground.run(command, {**os.environ, DSN_ENV: dsn})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stacgen.testing.pgcluster",
        description="Start a throw-away PostgreSQL + PostGIS cluster; stop and remove it on "
        f"Ctrl-C, or when COMMAND (run with the DSN in ${DSN_ENV}) ends.",
    )
    parser.add_argument("--base-dir", type=Path, help="where its temporary folder goes")
    parser.add_argument("command", nargs="*", help="a command to run while the cluster is up")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)  # `kill PID` cleans up like Ctrl-C does
    try:
        with temporary_cluster(args.base_dir) as dsn:
            if args.command:
                return _run_command(args.command, dsn)
            print(dsn, flush=True)
            print("Ctrl-C stops and removes the cluster.", file=sys.stderr, flush=True)
            while True:
                time.sleep(3600)
    except (PgClusterUnavailable, PgClusterError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
