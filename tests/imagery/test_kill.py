"""A fetch killed (SIGKILL) midway: the catalog is as it was, and the next run keeps the items
the killed one finished instead of fetching them again."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from stacgen import constants
from stacgen.imagery.fetch import FetchOptions, fetch, work_root
from stacgen.imagery.providers import Settings
from stacgen.testing.safe import write_safes_for_catalog
from tests.bounded import finishes_within


def _tree(root: Path) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): p.stat().st_size for p in root.rglob("*") if p.is_file()
    }


def _wait_for(path: Path, proc: subprocess.Popen[bytes]) -> None:
    while not path.is_dir() and proc.poll() is None:
        time.sleep(0.02)


def test_killed_fetch_leaves_the_catalog_and_resumes(
    built_catalog: Path, tmp_path: Path, schemas: Path
) -> None:
    root = tmp_path / "catalog"
    shutil.copytree(built_catalog, root)
    labels = root / constants.COLLECTION_ID
    # two items: the first is killed midway and resumed, the second is fetched afresh
    ids = sorted(p.name for p in labels.iterdir() if (p / f"{p.name}.json").is_file())[:2]
    write_safes_for_catalog(root, tmp_path / "safes", items=ids)
    before = _tree(root)
    command = [
        sys.executable,
        "-m",
        "stacgen",
        "imagery",
        "fetch",
        str(root),
        "--provider",
        "safe",
        "--safe-dir",
        str(tmp_path / "safes"),
        "--items",
        ",".join(ids),
        "--workers",
        "1",
        "--quiet",
        "--schemas",
        str(schemas),
    ]
    proc = subprocess.Popen(command, start_new_session=True)
    try:
        finishes_within(300, lambda: _wait_for(work_root(root) / "items" / ids[0], proc))
        assert proc.poll() is None, "the fetch ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(60)
    assert proc.returncode == -signal.SIGKILL
    assert _tree(root) == before  # nothing of the killed run is in the catalog
    options = FetchOptions(
        root, "safe", Settings(safe_dir=tmp_path / "safes"), items=tuple(ids), schemas=schemas
    )
    report = fetch(options)
    assert ids[0] in report.resumed
    assert sorted(report.resumed + report.fetched) == sorted(ids)
    assert not work_root(root).exists()
    assert all((root / "alcd-l1c" / i / f"{i}.json").is_file() for i in ids)
