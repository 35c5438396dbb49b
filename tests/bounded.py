"""A wait in a test has a bound: a call that hangs fails the test instead of stalling CI.

The bound is a ceiling for a hang, not a speed claim (speed belongs in `make bench`)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as WaitTimeout
from typing import TypeVar

import pytest

T = TypeVar("T")


def finishes_within(seconds: float, call: Callable[[], T]) -> T:
    """`call()`'s result (or its exception); the test fails if it has not returned in `seconds`."""
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(call)
    try:
        return future.result(timeout=seconds)
    except WaitTimeout:
        pytest.fail(f"still waiting after {seconds} s")
    finally:
        pool.shutdown(wait=False)
