"""What every `make bench` module measures with: the best time of a few runs, and a command's
seconds and peak memory (its process and children, sampled while it runs)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil


def best(fn: Callable[[], object], runs: int) -> float:
    """The shortest of `runs` timed calls of `fn` (seconds): the figure least hit by the load."""
    shortest = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        shortest = min(shortest, time.perf_counter() - start)
    return shortest


class PeakRSS:
    """Highest summed RSS of a process and its children, sampled every 20 ms."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak = 0
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while True:
            try:
                if self.root.status() == psutil.STATUS_ZOMBIE:
                    return
                procs = [self.root, *self.root.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except psutil.NoSuchProcess:
                return  # the process ended between two samples
            except psutil.Error:
                pass  # a child ended while being sampled
            time.sleep(0.02)

    def join(self) -> None:
        self._thread.join()


def measure(command: Sequence[str | Path]) -> tuple[float, int, str]:
    """(seconds, peak summed RSS, stdout) of one command, which must succeed."""
    argv = [str(c) for c in command]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    watch = PeakRSS(proc.pid)
    output, _ = proc.communicate()
    seconds = time.perf_counter() - start
    watch.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed: {proc.returncode}")
    return seconds, watch.peak, output
