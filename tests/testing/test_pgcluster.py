"""stacgen.testing.pgcluster: a throw-away PostgreSQL + PostGIS cluster leaving nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import psycopg
import pytest

from stacgen.testing.pgcluster import PgClusterUnavailable, check_available, temporary_cluster
from tests.testing.test_foreground import make_in_a_terminal


def cluster_processes(folder: Path) -> list[psutil.Process]:
    """Running processes whose command line names the cluster's folder (the postmaster)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["status"] != psutil.STATUS_ZOMBIE and any(str(folder) in a for a in cmdline):
            found.append(proc)
    return found


def folder_of(dsn: str) -> Path:
    """The cluster's folder, read from the server itself."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT current_setting('data_directory')").fetchone()
    assert row is not None
    return Path(row[0]).parent


def assert_gone(dsn: str, folder: Path) -> None:
    assert not folder.exists()
    assert cluster_processes(folder) == []
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=2)


def test_cluster_has_postgis_and_is_removed(postgres_programs: Path) -> None:
    with temporary_cluster() as dsn:
        folder = folder_of(dsn)
        assert folder.parent == Path(tempfile.gettempdir())
        assert len(cluster_processes(folder)) >= 1
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
            row = conn.execute("SELECT ST_AsText(ST_MakePoint(1, 2)), version()").fetchone()
        assert row is not None
        assert row[0] == "POINT(1 2)"
        assert row[1].startswith("PostgreSQL 15")
    assert_gone(dsn, folder)


def test_cluster_is_removed_after_an_error(postgres_programs: Path) -> None:
    seen: list[tuple[str, Path]] = []

    def fail_inside() -> None:
        with temporary_cluster() as dsn:
            seen.append((dsn, folder_of(dsn)))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_inside()
    [(dsn, folder)] = seen
    assert_gone(dsn, folder)


def test_missing_postgres_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACGEN_PG_BINDIR", str(tmp_path))
    with pytest.raises(PgClusterUnavailable, match="initdb missing") as missing:
        check_available()
    assert "\n" not in str(missing.value)


def test_module_prints_dsn_and_cleans_up_on_ctrl_c(postgres_programs: Path) -> None:
    command = [sys.executable, "-m", "stacgen.testing.pgcluster"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            dsn = proc.stdout.readline().strip()
            folder = folder_of(dsn)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=60) == 130
        finally:
            if proc.poll() is None:
                proc.kill()
    assert_gone(dsn, folder)


def test_module_runs_a_command_then_stops(postgres_programs: Path, tmp_path: Path) -> None:
    out = tmp_path / "folder.txt"
    script = (
        "import os, psycopg, sys; c = psycopg.connect(os.environ['STACGEN_DSN']);"
        "d = c.execute(\"SELECT current_setting('data_directory')\").fetchone()[0];"
        "open(sys.argv[1], 'w').write(os.environ['STACGEN_DSN'] + ' ' + d); sys.exit(3)"
    )
    command = [sys.executable, "-m", "stacgen.testing.pgcluster", "--", sys.executable]
    done = subprocess.run([*command, "-c", script, str(out)], timeout=120, check=False)
    assert done.returncode == 3  # the command's own exit status
    dsn, data = out.read_text().split()
    assert_gone(dsn, Path(data).parent)


def test_module_reports_missing_postgres(tmp_path: Path) -> None:
    env = {**os.environ, "STACGEN_PG_BINDIR": str(tmp_path)}
    command = [sys.executable, "-m", "stacgen.testing.pgcluster"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("error: no PostgreSQL:")
    assert done.stdout == ""


def test_ctrl_c_under_make_stops_the_command_removes_the_cluster_and_exits_0(
    postgres_programs: Path, tmp_path: Path
) -> None:
    """`make serve-pgstac`'s shape: make runs pgcluster, which runs the server; Ctrl-C."""
    (tmp_path / "note.py").write_text(
        "import os, sys, time, psycopg\n"
        "dsn = os.environ['STACGEN_DSN']\n"
        "with psycopg.connect(dsn) as c:\n"
        "    d = c.execute(\"SELECT current_setting('data_directory')\").fetchone()[0]\n"
        "open(sys.argv[1], 'w').write(dsn + ' ' + d)\n"
        "print('ready', flush=True)\n"
        "time.sleep(120)\n"
    )
    note = tmp_path / "dsn.txt"
    recipe = f"{sys.executable} -m stacgen.testing.pgcluster -- {sys.executable} note.py {note}"
    code, shown = make_in_a_terminal(tmp_path, recipe)
    assert "make: ***" not in shown
    assert code == 0
    dsn, data = note.read_text().split()
    assert_gone(dsn, Path(data).parent)
