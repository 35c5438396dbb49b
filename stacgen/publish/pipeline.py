"""One publish: stage the absolute catalog, validate it, compare with the store, send in order."""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from stacgen import config
from stacgen.publish.absolute import StagingError, stage_absolute, validate_staged
from stacgen.publish.plan import LocalFile, Plan, catalog_files, make_plan
from stacgen.publish.store import Store, StoreError, Target, read_seen, write_seen
from stacgen.stac.schemas import SchemaSource

log = logging.getLogger(__name__)

PublishError = StoreError  # everything a publish reports in one line
__all__ = ["PublishError", "PublishOptions", "PublishReport", "StagingError", "publish"]


@dataclass(frozen=True)
class PublishOptions:
    source: Path
    to: str  # s3://BUCKET/PREFIX
    root_href: str  # the public URL that PREFIX is served under
    schemas: SchemaSource | Path  # where validation reads the STAC schemas
    endpoint_url: str | None = None
    region: str | None = None
    dry_run: bool = False
    delete: bool = False
    workers: int = config.PUBLISH_WORKERS
    # What earlier publishes from here wrote: items.parquet by its items' digest, and the
    # objects published with their headers (to skip a HEAD per unchanged object).
    memo_dir: Path | None = None


@dataclass(frozen=True)
class PublishReport:
    target: Target
    plan: Plan
    dry_run: bool
    seconds: float


def publish(
    options: PublishOptions, on_progress: Callable[[int, int], None] | None = None
) -> PublishReport:
    """Put the absolute variant of `options.source` at `options.to`, root last.

    `on_progress(done, total)` is called in bytes as files complete. Raises StagingError when
    the catalog cannot be published as it is (before anything is sent), StoreError when the
    store refuses or is down; either way the previously published catalog stays whole, and
    running again completes.
    """
    try:
        return _publish(options, on_progress)
    except StagingError as err:
        raise StagingError(f"{options.source}: {err}; nothing was sent", err.problems) from err


def _publish(
    options: PublishOptions, on_progress: Callable[[int, int], None] | None
) -> PublishReport:
    start = time.perf_counter()
    target = Target.parse(options.to)
    if urlsplit(options.root_href).scheme not in ("http", "https"):
        raise StagingError(f"--root-href {options.root_href}: expected an http(s) URL")
    with _staging_folder(options.source) as staging:
        stage_absolute(options.source, options.root_href, staging, options.memo_dir)
        local = catalog_files(staging)
        store = Store(
            target,
            endpoint_url=options.endpoint_url,
            region=options.region,
            workers=options.workers,
        )
        memo = _seen_file(options, target)
        seen = read_seen(memo) if memo else {}
        plan = make_plan(local, store.inventory(local, seen), options.delete)
        if plan.send or plan.delete:
            # Before anything changes on the store; a publish that changes nothing cannot
            # make the published catalog worse, and skips reading every asset again.
            validate_staged(staging, options.root_href, options.schemas, options.workers)
        for key in plan.replaced_assets:
            log.warning("%s changes under the same name: caches may serve the old one", key)
        if not options.dry_run:
            _send(store, plan, on_progress)
            if memo is not None:
                write_seen(memo, store.seen_now(local))
    return PublishReport(target, plan, options.dry_run, time.perf_counter() - start)


def _send(store: Store, plan: Plan, on_progress: Callable[[int, int], None] | None) -> None:
    done, total = 0, plan.send_bytes

    def sent(file: LocalFile) -> None:
        nonlocal done
        done += file.size
        log.debug("sent %s (%d bytes)", file.key, file.size)
        if on_progress is not None:
            on_progress(done, total)

    for batch in plan.phases():
        store.put_all(batch, sent)  # each phase complete before the next one starts
    # Only now, with the new root in place, does nothing published link to the stale objects.
    json_keys = [o.key for o in plan.delete if o.key.endswith(".json")]
    store.delete(json_keys)
    store.delete([o.key for o in plan.delete if not o.key.endswith(".json")])


def _seen_file(options: PublishOptions, target: Target) -> Path | None:
    """Where this machine remembers the objects it published to one endpoint/bucket/prefix."""
    if options.memo_dir is None:
        return None
    place = f"{options.endpoint_url or ''}|{target}"
    return options.memo_dir / f"objects-{hashlib.sha256(place.encode()).hexdigest()[:16]}.json"


@contextmanager
def _staging_folder(source: Path) -> Iterator[Path]:
    """A temporary folder beside the catalog (hard links need the same file system)."""
    try:
        tmp = Path(tempfile.mkdtemp(prefix=".stacgen-publish-", dir=source.absolute().parent))
    except OSError:
        tmp = Path(tempfile.mkdtemp(prefix="stacgen-publish-"))
    try:
        yield tmp / "catalog"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
