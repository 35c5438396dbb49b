"""The README's recipe for trying `stacgen publish` against moto runs as pasted (issue 21 §6):
moto's server, a public-read bucket with a valid name, the publish, an anonymous read of the
root, and GDAL reading a COG with CPL_VSIL_CURL_USE_HEAD=NO. Only the port is changed (to a free
one), as a reader whose port 5000 is taken would change it; the recipe's `catalog/` is a catalog
built with its Zenodo record (what `make catalog` builds online)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from stacgen.testing.pgcluster import free_port
from tests import must_run
from tests.paths import REPO

MARK = "<!-- publish recipe:"
pytestmark = pytest.mark.timeout(400)


def recipe() -> str:
    lines = (REPO / "README.md").read_text().splitlines()
    (start,) = [i for i, line in enumerate(lines) if line.startswith(MARK)]
    assert lines[start + 1] == "```sh", lines[start + 1]
    end = lines.index("```", start + 2)
    return "\n".join(lines[start + 2 : end]) + "\n"


def test_the_publish_recipe_runs_as_pasted(licensed_catalog: Path, tmp_path: Path) -> None:
    if shutil.which("gdalinfo") is None:
        must_run.missing(
            "gdal", "gdalinfo (GDAL's command-line tools) is missing: apt-get install gdal-bin"
        )
    assert shutil.which("curl"), "the recipe uses curl"
    work = tmp_path / "repo"
    (work / ".venv").mkdir(parents=True)
    (work / ".venv" / "bin").symlink_to(Path(sys.executable).parent)
    shutil.copytree(licensed_catalog, work / "catalog")
    port = free_port()
    script = recipe()
    assert "127.0.0.1:5000" in script
    script = script.replace("127.0.0.1:5000", f"127.0.0.1:{port}").replace("-p 5000", f"-p {port}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = str(tmp_path / "home")
    env["STACGEN_CACHE_DIR"] = str(tmp_path / "cache")
    done = subprocess.run(
        ["bash", "-e", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert re.search(r"s3://stacgen-demo/alcd: sent \d+ files", out), out
    assert '"type": "Catalog"' in out, out
    assert "Driver: GTiff/GeoTIFF" in out, out
    mine = [
        proc
        for proc in psutil.process_iter(["cmdline"])
        if any("moto_server" in part for part in proc.info["cmdline"] or [])
        and str(port) in (proc.info["cmdline"] or [])
    ]
    # SIGTERM sent by the recipe: moto needs a moment to exit.
    _, alive = psutil.wait_procs(mine, timeout=15)
    assert not alive, "the recipe stops its moto server"
