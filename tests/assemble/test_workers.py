"""stacgen.assemble.workers: the pool and the inline executor behave as executors."""

from __future__ import annotations

import os

import pytest

from stacgen.assemble import workers


def _pid_and_square(x: int) -> tuple[int, int]:
    return os.getpid(), x * x


def _fail(x: int) -> int:
    raise ValueError(f"bad {x}")


def test_one_worker_runs_in_this_process() -> None:
    with workers.pool(1) as executor:
        future = executor.submit(_pid_and_square, 3)
        assert future.result() == (os.getpid(), 9)
        with pytest.raises(ValueError, match="bad 4"):
            executor.submit(_fail, 4).result()


def test_two_workers_run_in_other_processes() -> None:
    with workers.pool(2) as executor:
        results = [executor.submit(_pid_and_square, x).result() for x in range(4)]
    assert [square for _, square in results] == [0, 1, 4, 9]
    assert os.getpid() not in {pid for pid, _ in results}
