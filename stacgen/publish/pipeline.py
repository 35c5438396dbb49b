"""One publish: stage the absolute catalog, validate it, compare with the store, send in order."""

from __future__ import annotations

import glob
import hashlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from stacgen import config
from stacgen.fileutil import JsonFileError, read_json_object
from stacgen.layout.catalog import LICENSE_STATE, STATE_FILE
from stacgen.publish.absolute import StagingError, stage_absolute, validate_staged
from stacgen.publish.plan import (
    JSON_MAX_AGE,
    LocalFile,
    Plan,
    RemoteObject,
    catalog_files,
    deletion_order,
    make_plan,
)
from stacgen.publish.state import (
    DELETE_MARGIN,
    STATE_KEY,
    Deletions,
    PublishedState,
    after_root,
    before_sending,
    decide,
    unmatched,
    without,
)
from stacgen.publish.store import (
    Store,
    StoreError,
    Target,
    Timeouts,
    check_endpoints,
    read_seen,
    write_seen,
)
from stacgen.stac.links import check_root_href
from stacgen.stac.schemas import SchemaSource

log = logging.getLogger(__name__)

PublishError = StoreError  # everything a publish reports in one line
STATE_CACHE = "no-store"  # the published state is read by publishes only, always afresh
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
    timeouts: Timeouts = field(default_factory=Timeouts)  # every request to the store: bounded
    # Objects under the prefix that stacgen did not write, deleted all the same (glob patterns
    # of keys relative to the prefix).
    also_delete: tuple[str, ...] = ()
    # How long after the root replaced the last JSON linking an object it may be deleted.
    delete_grace: float = JSON_MAX_AGE + DELETE_MARGIN
    # Publish a catalog whose licence was never read from the Zenodo record (`other`).
    allow_unread_license: bool = False
    on_wait: Callable[[float, int], None] | None = None  # (seconds, objects) before a wait
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class PublishReport:
    target: Target
    plan: Plan
    dry_run: bool
    seconds: float
    deletions: Deletions = field(default_factory=Deletions)


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
    check_root_href(options.root_href)
    check_endpoints(options.endpoint_url)  # before the staging, which takes a while
    with _staging_folder(options.source) as staging:
        log.info("staging the absolute catalog for %s", options.root_href)
        stage_absolute(options.source, options.root_href, staging, options.memo_dir)
        _check_license(options.source, staging, options)
        local = catalog_files(staging)
        store = Store(
            target,
            endpoint_url=options.endpoint_url,
            region=options.region,
            workers=options.workers,
            timeouts=options.timeouts,
        )
        memo = _seen_file(options, target)
        seen = read_seen(memo) if memo else {}
        log.info("listing %s at %s", target, store.endpoint)
        remote = store.inventory(local, seen)
        plan = make_plan(local, remote)
        published = _read_state(store, remote)
        deletions = _deletions(plan, published, options)
        plan.delete = deletions.all_deleted
        log.info(
            "%d files to send, %d already there, %d to delete",
            len(plan.send),
            len(plan.keep),
            len(plan.delete),
        )
        if plan.send or plan.delete:
            # Before anything changes on the store; a publish that changes nothing cannot
            # make the published catalog worse, and skips reading every asset again.
            validate_staged(staging, options.root_href, options.schemas, options.workers)
        _warn(plan, deletions, target)
        if not options.dry_run:
            run = _Run(store, options, published, set(remote))
            run.send(plan, on_progress)
            run.delete(deletions)
            if memo is not None:
                write_seen(memo, store.seen_now(local))
    return PublishReport(target, plan, options.dry_run, time.perf_counter() - start, deletions)


def _check_license(source: Path, staging: Path, options: PublishOptions) -> None:
    """Refuse a catalog whose licence was never read from the Zenodo record, unless allowed:
    published, `other` tells readers nothing of the terms the dataset comes under."""
    if options.allow_unread_license:
        return
    unread = _unread_license(source, staging)
    if unread is not None:
        raise StagingError(
            f"{unread}: the collection's licence was never read from the Zenodo record (it "
            "says 'other'); build it with the record (online, or `stacgen build --record-json "
            "FILE`, `make catalog RECORD_JSON=FILE`), or publish with --allow-unread-license"
        )


def _unread_license(source: Path, staging: Path) -> Path | None:
    """The file (relative to the catalog folder) that shows the licence unread: the build
    state's word, else a collection's `license`."""
    try:
        said = read_json_object(source / STATE_FILE).get(LICENSE_STATE)
    except JsonFileError:
        said = None
    if isinstance(said, dict) and isinstance(said.get("from_record"), bool):
        return None if said["from_record"] else Path(STATE_FILE)
    for path in sorted(staging.rglob("collection.json")):
        try:
            if read_json_object(path).get("license") in (None, "other"):
                return path.relative_to(staging)
        except JsonFileError:
            continue  # not a collection to judge; the validation reports it
    return None


def _read_state(store: Store, remote: Mapping[str, RemoteObject]) -> PublishedState:
    if STATE_KEY not in remote:
        return PublishedState()
    data = store.read_object(STATE_KEY)
    if data is None:
        return PublishedState()
    return PublishedState.from_bytes(data, f"{store.target}/{STATE_KEY}")


def _deletions(plan: Plan, published: PublishedState, options: PublishOptions) -> Deletions:
    deletions = decide(
        plan.stale,
        published,
        delete=options.delete,
        named=options.also_delete,
        now=options.clock(),
        grace=options.delete_grace,
    )
    for pattern in unmatched(options.also_delete, deletions.named):
        log.warning(
            "--also-delete %s: no object under the prefix that stacgen did not write", pattern
        )
    return deletions


def _warn(plan: Plan, deletions: Deletions, target: Target) -> None:
    for key in plan.replaced_assets:
        log.warning("%s changes under the same name: caches may serve the old one", key)
    if deletions.foreign:
        log.warning(
            "%s: %d object(s) that stacgen did not write are kept: they are not in its "
            "published state (%s), as another dataset's are, and those of a publish from a "
            "stacgen older than that state; --dry-run lists them, --also-delete KEY (a glob) "
            "deletes the ones it matches (%s)",
            target,
            len(deletions.foreign),
            STATE_KEY,
            _also_delete_hint([o.key for o in deletions.foreign]),
        )
    if deletions.kept:
        log.warning(
            "%s: %d object(s) the catalog no longer has are kept; publish --delete removes them",
            target,
            len(deletions.kept),
        )


def _also_delete_hint(keys: list[str]) -> str:
    """What --also-delete would take for these keys: a glob per folder when they are in a few
    (a dropped scene's folder), else the first keys. The globs match only objects the catalog
    does not have (state.decide), so a folder's glob never reaches the catalog's own files."""
    folders = sorted({key.rpartition("/")[0] for key in keys if "/" in key})
    globs = [f"{glob.escape(f)}/*" for f in folders] + sorted(
        glob.escape(k) for k in keys if "/" not in k
    )
    if len(globs) <= 3:
        return "here: " + " ".join(f"--also-delete '{g}'" for g in globs)
    more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
    return "such as " + ", ".join(sorted(keys)[:3]) + more


class _Run:
    """One publish's changes to the store, the published state written at each step."""

    def __init__(
        self, store: Store, options: PublishOptions, state: PublishedState, listed: set[str]
    ) -> None:
        self.store, self.options, self.state, self.listed = store, options, state, listed

    def save(self, state: PublishedState) -> None:
        self.state = state
        self.store.put_bytes(STATE_KEY, state.to_bytes(), "application/json", STATE_CACHE)

    def send(self, plan: Plan, on_progress: Callable[[int, int], None] | None) -> None:
        catalog = [f.key for f in (*plan.send, *plan.keep)]
        if plan.send:
            self.save(before_sending(self.state, (f.key for f in plan.send)))
        _send(self.store, plan, on_progress)
        after = after_root(self.state, catalog, self.listed | set(catalog), self.options.clock())
        if after != self.state or not self.listed & {STATE_KEY}:
            self.save(after)

    def delete(self, deletions: Deletions) -> None:
        """The due and named objects now; the just-dropped ones once no reader can hold a
        JSON that links them, that is `delete_grace` seconds after the root replaced it."""
        self._delete([*deletions.named, *deletions.due])
        if not deletions.waiting:
            return
        since = max(self.state.retired.get(o.key, self.options.clock()) for o in deletions.waiting)
        wait = since + self.options.delete_grace - self.options.clock()
        if wait > 0:
            if self.options.on_wait is not None:
                self.options.on_wait(wait, len(deletions.waiting))
            log.info("waiting %.0f s before deleting %d object(s)", wait, len(deletions.waiting))
            self.options.sleep(wait)
        self._delete(deletions.waiting)

    def _delete(self, objects: list[RemoteObject]) -> None:
        if not objects:
            return
        ordered = sorted(objects, key=deletion_order)
        # JSON first: no object still published names a deleted one.
        json_keys = [o.key for o in ordered if o.key.endswith(".json")]
        self.store.delete(json_keys)
        self.store.delete([o.key for o in ordered if not o.key.endswith(".json")])
        log.info("deleted %d object(s)", len(ordered))
        self.save(without(self.state, (o.key for o in ordered)))


def _send(store: Store, plan: Plan, on_progress: Callable[[int, int], None] | None) -> None:
    done, total = 0, plan.send_bytes

    def sent(file: LocalFile) -> None:
        nonlocal done
        done += file.size
        log.debug("sent %s (%d bytes)", file.key, file.size)
        if on_progress is not None:
            on_progress(done, total)

    for batch in plan.phases():
        log.info(
            "sending %d %s file(s), %d bytes", len(batch), batch[0].phase.name.lower(), _size(batch)
        )
        store.put_all(batch, sent)  # each phase complete before the next one starts


def _size(files: list[LocalFile]) -> int:
    return sum(f.size for f in files)


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
