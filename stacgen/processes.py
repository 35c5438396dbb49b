"""Worker processes that never outlive the process that started them: the one helper every
pool of stacgen's uses (the builder's scene workers, score's mask workers)."""

from __future__ import annotations

import ctypes
import os
import select
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context


def forkserver_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of `workers` forkserver processes, each ending when this process does.

    forkserver rather than fork: workers must not inherit GDAL state (or threads) from here.
    """
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context("forkserver"),
        initializer=die_with,
        initargs=(os.getpid(),),
    )


def die_with(parent_pid: int) -> None:
    """Make this worker end when the process that started it does, however that ends (even
    SIGKILL): a pool's `initializer`, with the parent's pid as its argument.

    A worker's parent is the forkserver, not the process that asked for the pool: the
    parent-death signal covers the forkserver, and a thread waiting on that process covers it.
    Without them a killed build or score leaves its workers (and the memory they hold) running
    for ever.
    """
    _parent_death_signal(signal.SIGKILL)
    watch = threading.Thread(target=_exit_when_gone, args=(parent_pid,), daemon=True)
    watch.start()


def _parent_death_signal(signum: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the watch thread alone
        pass


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _exit_when_gone(pid: int) -> None:
    """Return never while `pid` lives; end this process at once when it is gone."""
    try:
        fd = os.pidfd_open(pid)
    except (OSError, AttributeError):
        fd = None
    if fd is not None:
        select.select([fd], [], [])  # a pidfd becomes readable when its process exits
    else:
        while _alive(pid):
            time.sleep(0.5)
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
