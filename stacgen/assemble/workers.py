"""The worker processes, and the producer that turns scenes into items with them.

Scenes are processed in a pool of forkserver processes (or inline for one worker); the producer
links an unchanged scene's item from the previous catalog instead, and lets the streaming build
hand it scenes as the archive is unpacked, replacing a scene read again before it finishes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import forkserver, get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from stacgen.assemble.staging import item_dir, reuse_item
from stacgen.errors import SceneError
from stacgen.processes import die_with
from stacgen.source.scene import Scene

if TYPE_CHECKING:
    import pystac

    from stacgen.layout.outputs import SceneOutputs

_T = TypeVar("_T")


def start_forkserver() -> None:
    """Start the process the workers fork from, importing the raster code, in the background.

    It imports while this process reads the archive, so the workers start ready when the
    scenes are (about 0.7 s of a cold build); workers must not inherit GDAL state (or threads)
    from this process, hence forkserver rather than fork.
    """
    context = get_context("forkserver")
    context.set_forkserver_preload(["stacgen.assemble.process"])
    forkserver.ensure_running()


@contextmanager
def pool(workers: int) -> Iterator[Executor]:
    """Worker processes, or this process alone for one worker."""
    if workers <= 1:
        yield _Inline()
        return
    start_forkserver()  # a no-op when the build started it already
    executor = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context("forkserver"),
        initializer=die_with,
        initargs=(os.getpid(),),
    )
    try:
        yield executor
    finally:
        # On a failed build nothing queued is started and the staging folder is removed only
        # once no worker still writes into it.
        executor.shutdown(wait=True, cancel_futures=True)


class _Inline(Executor):
    """Runs each task as it is submitted, in this process."""

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        future: Future[_T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:
            future.set_exception(err)
        return future


def _attempt(scene: Scene, folder: Path) -> SceneOutputs | SceneError:
    from stacgen.assemble.process import process_scene

    try:
        return process_scene(scene, folder)
    except SceneError as err:
        return err
    except OSError as err:
        # A full disk, an unreadable file: the scene's one line, not a worker's traceback.
        where = err.filename if err.filename is not None else scene.folder
        return SceneError(f"{where}: {err.strerror or err}")


@dataclass(frozen=True)
class Target:
    """What the producer needs of the build under way; the orchestrator gives it."""

    out: Path  # the catalog in place, whose unchanged items are linked
    staging: Path  # the new catalog being written
    root_href: str | None
    previous: dict[str, Any]  # the state of the catalog in place ({} with --force)
    key: Callable[[Scene], str]  # a scene's key in the new catalog's state
    done: Callable[[str], None]  # told each scene id once its item is made or has failed


class Producer:
    """Makes the item of each scene given: linked from the previous catalog when unchanged,
    processed in the pool otherwise.

    A scene id given again stands for a newer read of the scene: it replaces the first (whose
    result is thrown away when it ends, if it is still running).
    """

    def __init__(self, run: Target, executor: Executor) -> None:
        self.run = run
        self.executor = executor
        self.items: dict[str, pystac.Item] = {}
        self.errors: dict[str, str] = {}
        self.reused: set[str] = set()
        self._latest: dict[str, Scene] = {}
        self._running: dict[Future[SceneOutputs | SceneError], Scene] = {}
        self._halted = False

    def add(self, scene: Scene) -> None:
        self._latest[scene.id] = scene
        if not self._is_running(scene.id):
            self._forget(scene.id)
            self._start(scene)

    def settle(self, scenes: list[Scene]) -> None:
        """Make exactly these scenes: start any not given as such (or held back by `halt`),
        drop any other."""
        self._halted = False
        wanted = {scene.id: scene for scene in scenes}
        for scene_id in list(self._latest):
            if scene_id not in wanted:
                self._latest.pop(scene_id)
                if not self._is_running(scene_id):
                    self._forget(scene_id)
        for scene in scenes:
            if self._latest.get(scene.id) != scene or not self._started(scene.id):
                self.add(scene)

    def halt(self) -> None:
        """Start nothing until `settle` (the scenes already running finish)."""
        self._halted = True

    def poll(self) -> None:
        for future in [f for f in self._running if f.done()]:
            self._collect(future)

    def finish(self) -> list[pystac.Item]:
        """Wait for every scene; the items in id order."""
        while self._running:
            done, _ = wait(self._running, return_when=FIRST_COMPLETED)
            for future in done:
                self._collect(future)
        return [self.items[key] for key in sorted(self.items)]

    def _is_running(self, scene_id: str) -> bool:
        return any(scene.id == scene_id for scene in self._running.values())

    def _started(self, scene_id: str) -> bool:
        return scene_id in self.items or scene_id in self.errors or self._is_running(scene_id)

    def _forget(self, scene_id: str) -> None:
        self.items.pop(scene_id, None)
        self.errors.pop(scene_id, None)
        self.reused.discard(scene_id)
        shutil.rmtree(item_dir(self.run.staging, scene_id), ignore_errors=True)

    def _start(self, scene: Scene) -> None:
        if self._halted:
            return
        previous, files = self.run.previous.get("items", {}), self.run.previous.get("files", {})
        if previous.get(scene.id) == self.run.key(scene):
            reused = reuse_item(self.run.out, self.run.staging, scene.id, files)
            if reused is not None:
                self.items[scene.id] = reused
                self.reused.add(scene.id)
                self.run.done(scene.id)
                return
        folder = item_dir(self.run.staging, scene.id)
        self._running[self.executor.submit(_attempt, scene, folder)] = scene

    def _collect(self, future: Future[SceneOutputs | SceneError]) -> None:
        from stacgen.stac.items import asset_hrefs, create_item

        scene = self._running.pop(future)
        latest = self._latest.get(scene.id)
        if latest is not scene:  # replaced or dropped while it ran
            shutil.rmtree(item_dir(self.run.staging, scene.id), ignore_errors=True)
            if latest is not None:
                self._start(latest)
            return
        result = future.result()
        if isinstance(result, SceneError):
            # Nothing of a scene left out may reach the catalog: not even the files it wrote.
            shutil.rmtree(item_dir(self.run.staging, scene.id), ignore_errors=True)
            self.errors[scene.id] = str(result)
        else:
            hrefs = asset_hrefs(scene.id, result.files, self.run.root_href)
            self.items[scene.id] = create_item(result, hrefs)
        self.run.done(scene.id)
