"""Every ```python block of README.md runs, against a synthetic catalog served by `stacgen serve`.

The blocks of each `##` section run in order in one Python process of their own (a block may
use what an earlier one defined, as a reader pasting them in order into one interpreter would;
a block run alone first runs those before it), in a folder where
`catalog/` is the built catalog; `http://127.0.0.1:8000` (or localhost) becomes the test
server's URL. A block preceded by `<!-- not run: reason -->` is skipped, with the reason.
"""

from __future__ import annotations

import os
import re
import select
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


# The interpreter a reader pastes a section's blocks into: it runs each script it is given in
# one namespace, says "ok" or "failed" on the status pipe, and ends when its stdin closes.
SESSION = """
import os, sys, traceback
status = os.fdopen(int(sys.argv[1]), "w", buffering=1)
scope = {"__name__": "__main__", "__builtins__": __builtins__}
for line in sys.stdin:
    path = line.strip()
    try:
        with open(path, encoding="utf-8") as f:
            exec(compile(f.read(), path, "exec"), scope)
        ok = True
    except BaseException:
        traceback.print_exc()
        ok = False
    sys.stdout.flush()
    sys.stderr.flush()
    status.write("ok\\n" if ok else "failed\\n")
"""


class Session:
    """One Python process for the blocks of one section, run in README order."""

    def __init__(self, workdir: Path, name: str) -> None:
        self.workdir = workdir
        self.log = workdir / f"{name}.log"
        self.ran: set[int] = set()  # lines of the blocks run, each once
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        read, write = os.pipe()
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", SESSION, str(write)],
                cwd=workdir,
                env=env,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                pass_fds=(write,),
                text=True,
            )
        os.close(write)
        self.status = os.fdopen(read, encoding="utf-8")

    def run(self, block: Block, url: str) -> tuple[bool, str]:
        """Run `block` (its URLs rewritten to `url`): whether it raised nothing, its output."""
        self.ran.add(block.line)
        script = self.workdir / f"block_{block.line}.py"
        script.write_text(DOC_URL.sub(url, block.code), encoding="utf-8")
        start = self.log.stat().st_size
        assert self.process.stdin is not None
        self.process.stdin.write(f"{script.name}\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.status], [], [], BLOCK_TIMEOUT)
        answer = self.status.readline() if ready else f"no answer in {BLOCK_TIMEOUT} s\n"
        if not ready:
            self.process.kill()
        with self.log.open("rb") as out:
            out.seek(start)
            output = out.read().decode(errors="replace")
        return answer == "ok\n", f"{answer}{output}"

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()  # the session ends as a script does (coverage saved)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.status.close()


@pytest.fixture(scope="module")
def sessions(served: Served) -> Iterator[dict[str, Session]]:
    """A session per `##` section, started when its first block runs."""
    started: dict[str, Session] = {}
    yield started
    for session in started.values():
        session.close()


@pytest.mark.timeout(BLOCK_TIMEOUT * 2)
@pytest.mark.parametrize("block", BLOCKS, ids=[b.name for b in BLOCKS])
def test_readme_python_block_runs(
    block: Block, served: Served, sessions: dict[str, Session]
) -> None:
    if block.skip is not None:
        pytest.skip(f"marked not run: {block.skip}")
    if block.section not in sessions:
        sessions[block.section] = Session(served.workdir, f"section_{block.line}")
    session = sessions[block.section]
    earlier = [b for b in BLOCKS if b.section == block.section and b.line < block.line]
    for before in earlier:  # when run alone (-k), or after a block was skipped
        if before.skip is None and before.line not in session.ran:
            ok, output = session.run(before, served.url)
            assert ok, f"{before.name}, before {block.name}, failed:\n{output}"
    ok, output = session.run(block, served.url)
    assert ok, f"{block.name} failed:\n{output}"


def test_a_session_keeps_names_and_reports_a_raising_block(tmp_path: Path) -> None:
    session = Session(tmp_path, "session")
    try:
        assert session.run(Block("A", 1, "x = 41\nprint('one')\n", None), "") == (True, "ok\none\n")
        ok, output = session.run(Block("A", 2, "assert x == 42, 'x is 41'\n", None), "")
        assert not ok
        assert "AssertionError: x is 41" in output
        assert session.run(Block("A", 3, "print(x + 1)\n", None), "") == (True, "ok\n42\n")
    finally:
        session.close()
    assert session.process.returncode == 0


def test_readme_has_the_examples_it_promises() -> None:
    code = "\n".join(b.code for b in BLOCKS)
    for needle in ("odc.stac.load", "GDAL_DISABLE_READDIR_ON_OPEN", "proj:epsg", "filter="):
        assert needle in code, needle
    text = README.read_text(encoding="utf-8")
    assert "pip install pystac-client cql2" in text
    assert "--filter" in text
    assert "cql2" in text
