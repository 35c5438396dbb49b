"""The suite's own rules (README, Development), read off the test files' syntax trees: a test
cannot pass by looping over nothing, and none bounds the wall-clock time of what it tests."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.paths import REPO

TESTS = REPO / "tests"
CLOCKS = {"time.monotonic", "time.perf_counter", "time.time"}


def _tests() -> list[tuple[Path, ast.FunctionDef]]:
    found = []
    for path in sorted(TESTS.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                found.append((path, node))
    return found


def _checks(node: ast.AST, in_loop: bool = False) -> list[tuple[ast.AST, bool]]:
    """Every assert and `pytest.raises` block under `node`, with whether it sits in a loop."""
    found: list[tuple[ast.AST, bool]] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue  # a nested function's asserts run when it is called, not here
        loop = in_loop or (isinstance(node, ast.For | ast.While) and child in node.body)
        raises = isinstance(child, ast.With) and any(
            "raises" in ast.unparse(item.context_expr) for item in child.items
        )
        if isinstance(child, ast.Assert) or raises:
            found.append((child, loop))
        found += _checks(child, loop)
    return found


def test_the_scan_finds_the_tests() -> None:
    found = {(path, test.name) for path, test in _tests()}
    assert (Path(__file__).resolve(), "test_the_scan_finds_the_tests") in found
    assert len({path.parent for path, _ in found}) > 5  # the subpackages' folders too


def test_no_test_has_all_its_checks_inside_a_loop() -> None:
    offenders = []
    for path, test in _tests():
        checks = _checks(test)
        if checks and all(in_loop for _, in_loop in checks):
            offenders.append(f"{path.relative_to(TESTS)}::{test.name}")
    assert offenders == [], "assert first that the loop is not empty"


def test_no_assertion_reads_the_clock() -> None:
    offenders = []
    for path, test in _tests():
        for check, _ in _checks(test):
            calls = {ast.unparse(n.func) for n in ast.walk(check) if isinstance(n, ast.Call)}
            if isinstance(check, ast.Assert) and calls & CLOCKS:
                offenders.append(f"{path.relative_to(TESTS)}::{test.name}")
    assert offenders == [], "speed belongs in make bench, not in a test"
