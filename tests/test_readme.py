"""Every ```python block of README.md runs, against a synthetic catalog served by `stacgen serve`.

Each block runs in a subprocess, after the blocks before it in its `##` section (a block may use
what an earlier one defined, as a reader pasting them in order would), in a folder where
`catalog/` is the built catalog; `http://127.0.0.1:8000` (or localhost) becomes the test
server's URL. A block preceded by `<!-- not run: reason -->` is skipped, with the reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.paths import REPO
from tests.serve_subprocess import stacgen_serve

README = REPO / "README.md"
DOC_URL = re.compile(r"http://(?:127\.0\.0\.1|localhost):8000")
NOT_RUN = re.compile(r"<!--\s*not run:\s*(?P<reason>.*?)\s*-->")
FENCE = re.compile(r"^```(?P<lang>\S*)\s*$")
BLOCK_TIMEOUT = 240  # seconds: odc-stac's first import (dask, xarray) is the slowest


@dataclass(frozen=True)
class Block:
    section: str
    line: int  # 1-based line of the opening fence
    code: str
    skip: str | None  # the reason of a `not run` mark

    @property
    def name(self) -> str:
        first = next((x for x in self.code.splitlines() if x.strip()), "")
        return f"README.md:{self.line} ({first.strip()[:40]})"


def python_blocks(text: str) -> list[Block]:
    """The ```python blocks of a Markdown text, with their section and `not run` mark."""
    blocks: list[Block] = []
    body: list[str] = []
    lang: str | None = None
    section, start, previous, skip = "", 0, "", None
    for number, line in enumerate(text.splitlines(), 1):
        fence = FENCE.match(line)
        if lang is None:
            if line.startswith("## "):
                section = line[3:].strip()
            if fence:
                lang, start, body = fence["lang"], number, []
                mark = NOT_RUN.search(previous)
                skip = mark["reason"] if mark else None
            elif line.strip():
                previous = line
            continue
        if fence and not fence["lang"]:
            if lang == "python":
                blocks.append(Block(section, start, "\n".join(body) + "\n", skip))
            lang, previous = None, ""
        else:
            body.append(line)
    return blocks


def test_python_blocks_are_found_and_marks_honoured() -> None:
    text = "\n".join(
        [
            "## A",
            "```python",
            "x = 1",
            "```",
            "<!-- not run: needs S3 -->",
            "```python",
            "y = 2",
            "```",
            "```sh",
            "echo no",
            "```",
        ]
    )
    found = python_blocks(text)
    assert [(b.section, b.code, b.skip) for b in found] == [
        ("A", "x = 1\n", None),
        ("A", "y = 2\n", "needs S3"),
    ]


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Served:
    url: str  # no trailing slash
    workdir: Path  # holds `catalog` -> the built catalog


@pytest.fixture(scope="module")
def served(built_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`stacgen serve` on a free port of 127.0.0.1, as a subprocess, until the tests end."""
    workdir = tmp_path_factory.mktemp("readme")
    (workdir / "catalog").symlink_to(built_catalog, target_is_directory=True)
    with stacgen_serve(built_catalog, cwd=workdir, log=workdir / "serve.log") as url:
        yield Served(url, workdir)


def _script(block: Block, served: Served) -> str:
    """The block after the earlier blocks of its section, with the documented URLs rewritten."""
    earlier = [b for b in BLOCKS if b.section == block.section and b.line < block.line]
    code = "\n".join(b.code for b in [*earlier, block] if b.skip is None or b is block)
    return DOC_URL.sub(served.url, code)


@pytest.mark.timeout(BLOCK_TIMEOUT * 2)
@pytest.mark.parametrize("block", BLOCKS, ids=[b.name for b in BLOCKS])
def test_readme_python_block_runs(block: Block, served: Served) -> None:
    if block.skip is not None:
        pytest.skip(f"marked not run: {block.skip}")
    script = served.workdir / f"block_{block.line}.py"
    script.write_text(_script(block, served), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    result = subprocess.run(
        [sys.executable, script.name],
        cwd=served.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"{block.name} failed:\n{result.stdout}\n{result.stderr}"


def test_readme_has_the_examples_it_promises() -> None:
    code = "\n".join(b.code for b in BLOCKS)
    for needle in ("odc.stac.load", "GDAL_DISABLE_READDIR_ON_OPEN", "proj:epsg", "filter="):
        assert needle in code, needle
    text = README.read_text(encoding="utf-8")
    assert "pip install pystac-client cql2" in text
    assert "--filter" in text
    assert "cql2" in text
