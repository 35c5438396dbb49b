"""Fetching one imagery item into the work folder: its bands (in parallel) and its manifest.

An item is written into `<work>/<id>.partial/` and renamed to `<work>/<id>/` once whole, so a
fetch killed midway leaves only complete items behind (kept for the next run) and partial ones
(removed by it). The manifest records where every byte came from and what was made of it; it
never holds a credential (URLs lose their user info and query).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from rasterio._env import del_gdal_config, get_gdal_config, set_gdal_config

import stacgen
from stacgen.fileutil import atomic_write_json, digests
from stacgen.imagery import pixels
from stacgen.imagery.identity import gdal_http_options
from stacgen.imagery.located import ImageryError
from stacgen.imagery.plan import FORMAT, Plan, shown_path
from stacgen.imagery.sources import Readable, prepare
from stacgen.layout import imagery

log = logging.getLogger(__name__)

# Threads that download (or hash) band files for the decoders, and how many band files beyond
# one per decoder may wait prepared.
READERS: Final = 2
AHEAD: Final = 2
# GDAL's block cache per decoder: a strip of whole label rows straddles two rows of a JP2's
# 1024 px tiles, so a band being decoded keeps at most two tile rows (2 x 11 tiles of 2 MiB
# at 10 m) for its next strip. GDAL's default (5% of RAM) let a fetch's peak reach 0.8-0.95 GiB.
CACHE_PER_DECODER: Final = 96 << 20

RESAMPLING = {
    "label": "mean of the valid (non-zero) full-resolution pixels of each label cell, "
    "rounded half up; 0 where none (read with OVERVIEW_LEVEL=NONE)",
    "native": "none: each band on its own grid over the label grid's extent",
}


@dataclass(frozen=True)
class BandDone:
    band: str
    source: dict[str, Any]
    output: dict[str, Any]


def partial_dir(work: Path, item_id: str) -> Path:
    return work / f"{item_id}.partial"


def done_dir(work: Path, item_id: str) -> Path:
    return work / item_id


def fetch_item(
    plan: Plan,
    work: Path,
    executor: Executor,
    timeout: float,
    on_band: Callable[[str], None] | None = None,
    workers: int = 1,
) -> Path:
    """The imagery item of `plan` fetched into `<work>/<id>/`, its bands decoded on
    `executor` (of `workers` threads); its folder."""
    partial = partial_dir(work, plan.item_id)
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    options = {**gdal_http_options(timeout), **plan.located.gdal_options}
    futures: list[Future[BandDone]] = []
    ahead = Ahead(workers + AHEAD)
    try:
        with global_config(options), decode_cache(workers), ThreadPoolExecutor(READERS) as readers:
            try:
                readable = [
                    readers.submit(ahead.prepare, i, plan, b.name, partial, timeout)
                    for i, b in enumerate(plan.bands)
                ]
                futures = [
                    executor.submit(_band, plan, b.name, partial, timeout, r, ahead)
                    for b, r in zip(plan.bands, readable, strict=True)
                ]
                done = []
                for future in futures:
                    done.append(future.result())
                    if on_band:
                        on_band(done[-1].band)
            finally:
                ahead.stop.set()  # a reader still waiting for room gives up
        atomic_write_json(partial / imagery.MANIFEST, manifest(plan, done))
        target = done_dir(work, plan.item_id)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    except BaseException:
        for future in futures:
            future.cancel()
        wait(futures)
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target


class _Stopped(ImageryError):
    """A band not read because the item failed meanwhile."""


@dataclass
class Ahead:
    """Band files made readable (an HTTP(S) file downloaded, a local one hashed) by their own
    threads, ahead of their decoding: a download waits on the network, not on a decoder, so
    the next bands' bytes arrive while the current ones are decoded. The band of index i is
    prepared once more than i - `room` bands are decoded: at most `room` files wait on disk
    (a downloaded 10 m band is 100-200 MB), and the bands start in their order, so the one a
    decoder waits for is never held back by later ones (a semaphore taken by two readers in
    either order can be: a deadlock)."""

    room: int
    decoded: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def prepare(self, index: int, plan: Plan, band: str, folder: Path, timeout: float) -> Readable:
        with self.changed:
            while index >= self.decoded + self.room:
                if self.stop.is_set():
                    raise _Stopped(f"{band}: not read (the item failed)")
                self.changed.wait(0.2)
        located = plan.located
        return prepare(located.bands[band], folder, band, timeout, bool(located.gdal_options))

    def done(self) -> None:
        with self.changed:
            self.decoded += 1
            self.changed.notify_all()


@contextmanager
def decode_cache(decoders: int) -> Iterator[None]:
    """GDAL's block cache held to CACHE_PER_DECODER for each of `decoders` (at least two; in
    bytes: rasterio sets it with GDALSetCacheMax), unless the user set GDAL_CACHEMAX; restored
    after."""
    if "GDAL_CACHEMAX" in os.environ:
        yield
        return
    saved = get_gdal_config("GDAL_CACHEMAX")
    set_gdal_config("GDAL_CACHEMAX", max(2, decoders) * CACHE_PER_DECODER)
    try:
        yield
    finally:
        if isinstance(saved, int):
            set_gdal_config("GDAL_CACHEMAX", saved)


@contextmanager
def global_config(options: dict[str, str]) -> Iterator[None]:
    """GDAL config options for every thread, GDAL's own included (a JPEG 2000 is decoded, and
    its bytes fetched, by GDAL's worker threads, which do not see a thread's rasterio.Env):
    the network bounds and the provider's settings hold for every request. Restored after."""
    saved = {key: get_gdal_config(key) for key in options}
    for key, value in options.items():
        set_gdal_config(key, value)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                del_gdal_config(key)
            else:
                set_gdal_config(key, value)


def _band(
    plan: Plan, band: str, folder: Path, timeout: float, prepared: Future[Readable], ahead: Ahead
) -> BandDone:
    located = plan.located
    options = {**gdal_http_options(timeout), **located.gdal_options}  # this thread's too
    target = folder / imagery.band(band).file_name
    offset = plan.offset(band)
    try:
        readable = prepared.result()
        try:
            write = pixels.label_band if plan.grid == "label" else pixels.native_band
            result = write(readable.gdal_path, plan.label.grid, offset, target, options)
        finally:
            if readable.downloaded is not None:
                readable.downloaded.unlink(missing_ok=True)
    finally:
        ahead.done()
    if readable.size is not None and band in located.sizes and located.sizes[band] != readable.size:
        raise ImageryError(
            f"{readable.source}: {readable.size} bytes, not the {located.sizes[band]} the "
            f"provider lists (truncated?)"
        )
    size = target.stat().st_size
    source = {
        "band": band,
        "file": readable.source,
        "size": readable.size,
        "sha256": readable.sha256,
        "radio_add_offset": offset,
    }
    if readable.sha256 is None:
        source["note"] = "read through GDAL by range requests: digest not computed"
    output = {
        "band": band,
        "file": target.name,
        "size": size,
        "sha256": digests(target)["sha256"],
        "shape": list(result.grid.shape),
        "transform": result.grid.proj_transform,
        "valid_pixels": result.valid_pixels,
        "clipped_by_offset": result.clipped,
    }
    return BandDone(band, source, output)


def manifest(plan: Plan, done: list[BandDone]) -> dict[str, Any]:
    located = plan.located
    offsets = {d.band: d.source["radio_add_offset"] for d in done}
    return {
        "format": FORMAT,
        "key": plan.key,
        "item": plan.item_id,
        "stacgen": stacgen.__version__,
        "fetched": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "provider": located.provider,
        "provider_ref": shown_path(located.provider_ref),
        "product": located.product.name,
        "baseline": located.baseline,
        "kind": located.kind,
        "grid": plan.grid,
        "resampling": RESAMPLING[plan.grid],
        "radio_add_offset_applied": offsets,
        "metadata": shown_path(located.metadata) if located.metadata else None,
        "sources": [d.source for d in done],
        "outputs": [d.output for d in done],
    }
