"""Build the catalog: the one place that reads the archive, runs the scenes and saves.

The new catalog is written beside `out`, validated, and swapped in whole; an unchanged scene
(same inputs, same settings) is not processed again but linked from the previous catalog.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from multiprocessing import forkserver, get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import stacgen
from stacgen import constants
from stacgen.archive import OpenedArchive, Unpacking, extracted, unpacking
from stacgen.errors import Problem, SceneError
from stacgen.fileutil import atomic_write_json, digests, recover_swap, sha256_multihash, swap_in
from stacgen.scene import FolderRead, Scene, combine, discover, read_folder, scene_folders

if TYPE_CHECKING:
    import pystac

    from stacgen.stac import SceneOutputs

# The raster, STAC and parquet libraries take about a second to import: a build that finds
# the catalog up to date must not pay for them, so they are imported where they are used.

log = logging.getLogger(__name__)

FORMAT = 1  # bump whenever an unchanged scene would now give different files
STATE_FILE = ".stacgen-state.json"
README_FILE = "README.md"
ITEMS_PARQUET = "items.parquet"
STRUCTURAL_RELS = {"self", "root", "parent", "collection"}
_T = TypeVar("_T")


class BuildError(Exception):
    """The build found problems; nothing was swapped in. One line per problem."""

    def __init__(self, problems: Sequence[object]) -> None:
        self.problems = [str(p) for p in problems]
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class BuildOptions:
    archive: Path
    out: Path
    cache_dir: Path
    workers: int = 1
    force: bool = False
    skip_bad_scenes: bool = False
    root_href: str | None = None
    record: dict[str, Any] | None = None
    schemas: Path | None = None  # None: the catalog is not validated before the swap


@dataclass
class BuildReport:
    folders: int = 0
    items: int = 0
    built: int = 0
    reused: int = 0
    skipped: list[str] = field(default_factory=list)
    up_to_date: bool = False
    seconds: float = 0.0


def build(options: BuildOptions, on_scene: Callable[[str], None] | None = None) -> BuildReport:
    """Build (or bring up to date) the catalog at options.out; raises BuildError on problems."""
    started = time.perf_counter()
    out = options.out.absolute()
    recover_swap(out)
    if (
        options.workers > 1
        and not options.archive.is_dir()
        and extracted(options.archive, options.cache_dir) is None
    ):
        # A cold build: the workers' imports overlap the hashing and the unpacking.
        _start_forkserver()
    previous = {} if options.force else read_state(out)
    with unpacking(options.archive, options.cache_dir) as source:
        log.info("archive opened after %.2f s", time.perf_counter() - started)
        run = _Run(out, previous, options, source.sha256, BuildReport(), on_scene)
        if isinstance(source, OpenedArchive):
            _build_extracted(run, source.top)
        else:
            _build_streaming(run, source)
    run.report.seconds = time.perf_counter() - started
    return run.report


def _build_extracted(run: _Run, top: Path) -> None:
    """All scene folders are on disk: read them, stop if nothing changed, else build."""
    scenes, problems = discover(top)
    run.report.folders = len(scene_folders(top))
    run.report.skipped = _accept_problems(problems, run.options, top)
    run.set_scenes(scenes)
    if run.previous and is_up_to_date(run.out, run.previous, run.state):
        run.report.up_to_date, run.report.reused = True, len(scenes)
        return

    def feed(producer: _Producer) -> None:
        for scene in scenes:
            producer.add(scene)

    _build_into(run, feed)


def _build_streaming(run: _Run, job: Unpacking) -> None:
    """Start each scene as soon as its folder is unpacked: extraction overlaps processing."""

    def feed(producer: _Producer) -> None:
        reads = _stream_scenes(job, producer, halt_on_problem=not run.options.skip_bad_scenes)
        # The finished extraction decides, exactly as for one extracted before: a folder read
        # while streaming stands for itself, a product in several folders is merged now.
        top = job.top
        folders = scene_folders(top)
        final = {f: reads[f] if f in reads else read_folder(f) for f in folders}
        scenes, problems = combine(top, final)
        run.report.folders = len(folders)
        run.report.skipped = _accept_problems(problems, run.options, top)
        producer.settle(scenes)
        run.set_scenes(scenes)

    _build_into(run, feed)


def _stream_scenes(
    job: Unpacking, producer: _Producer, halt_on_problem: bool
) -> dict[Path, FolderRead]:
    """Read each scene folder as it is unpacked and start its scene, unless its product has
    other copies to wait for (ALCD.md lists them): those are merged once all is unpacked."""
    reads: dict[Path, FolderRead] = {}
    for folder in job.scene_folders():
        scene, found = reads[folder] = read_folder(folder)
        if found and halt_on_problem:
            # The build is likely to fail: hold back the scenes until the whole archive is
            # read (a folder whose members come back later may yet be complete).
            producer.halt()
        if scene is not None and constants.FOLDERS_PER_PRODUCT.get(scene.id, 1) == 1:
            producer.add(scene)
        producer.poll()
    return reads


def _accept_problems(problems: list[Problem], options: BuildOptions, top: Path) -> list[str]:
    """Fail on any problem, or with --skip-bad-scenes warn once per scene folder left out."""
    if problems and not options.skip_bad_scenes:
        raise BuildError(problems)
    skipped = sorted({_scene_folder_of(p.path, top) for p in problems})
    for folder in skipped:
        reasons = "; ".join(str(p) for p in problems if _scene_folder_of(p.path, top) == folder)
        log.warning("skipped scene %s: %s", folder, reasons)
    return skipped


def _scene_folder_of(path: Path, top: Path) -> str:
    try:
        return "/".join(path.relative_to(top).parts[:2])
    except ValueError:
        return str(path)


def scene_key(scene: Scene, archive_sha256: str | None, options: BuildOptions) -> str:
    """Changes whenever anything that shapes the scene's item folder changes."""
    h = hashlib.sha256()
    settings = {
        "format": FORMAT,
        "version": stacgen.__version__,
        "root_href": options.root_href,
        "archive": archive_sha256,
        "folders": [f"{f.parent.name}/{f.name}" for f in scene.folders],  # subset/name
    }
    h.update(json.dumps(settings, sort_keys=True).encode())
    if archive_sha256 is None:
        # A plain folder has no checksum of its own: its files' sizes and times stand in.
        for folder in scene.folders:
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                st = path.stat()
                h.update(f"{path.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()


def collection_key(options: BuildOptions) -> str:
    metadata = (options.record or {}).get("metadata") or {}
    text = json.dumps([options.root_href, metadata], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def read_state(out: Path) -> dict[str, Any]:
    try:
        value = json.loads((out / STATE_FILE).read_text())
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        return {}


def manifest(folder: Path) -> dict[str, int]:
    """Every file the build wrote, with its size: what a no-op rebuild checks is still there."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != STATE_FILE:
            found[path.relative_to(folder).as_posix()] = path.stat().st_size
    return found


def is_up_to_date(out: Path, previous: dict[str, Any], state: dict[str, Any]) -> bool:
    """Same inputs and settings as the catalog in place, and every file it wrote is intact."""
    files = previous.get("files")
    settings = {key: value for key, value in previous.items() if key != "files"}
    return settings == state and isinstance(files, dict) and _intact(out, files)


def _intact(out: Path, files: dict[str, int]) -> bool:
    """Each file is there with the size the manifest gives."""
    try:
        return all((out / name).stat().st_size == size for name, size in files.items())
    except OSError:
        return False


def _staging_root(out: Path) -> Path:
    """Beside `out` (same filesystem, so the swap is a rename); removed after every build."""
    return out.with_name(f".{out.name}.stacgen-build")


def _staging_dir(out: Path) -> Path:
    """Where the new catalog is written."""
    # A fixed name without a dot inside: pystac takes a root href with an extension for a file.
    return _staging_root(out) / "catalog"


def _make_staging_dir(out: Path) -> None:
    root = _staging_root(out)
    if root.exists():
        shutil.rmtree(root)  # left by a build that was killed
    _staging_dir(out).mkdir(parents=True)


@contextmanager
def _timed(what: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    log.info("%s in %.2f s", what, time.perf_counter() - start)


@dataclass
class _Run:
    """One build under way: where it writes, what it must make, what it has done."""

    out: Path
    previous: dict[str, Any]  # the state of the catalog in place ({} with --force)
    options: BuildOptions
    archive_sha256: str | None
    report: BuildReport
    on_scene: Callable[[str], None] | None
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def staging(self) -> Path:
        return _staging_dir(self.out)

    def key(self, scene: Scene) -> str:
        return scene_key(scene, self.archive_sha256, self.options)

    def set_scenes(self, scenes: list[Scene]) -> None:
        """The scenes the new catalog publishes: its state and item count follow."""
        keys = {s.id: self.key(s) for s in scenes}
        collection = collection_key(self.options)
        self.state = {"format": FORMAT, "collection": collection, "items": keys}
        self.report.items = len(scenes)

    def done(self, scene_id: str) -> None:
        if self.on_scene:
            self.on_scene(scene_id)


def _build_into(run: _Run, feed: Callable[[_Producer], None]) -> None:
    """Have `feed` give the scenes to a producer, then save, validate and swap in the result."""
    _make_staging_dir(run.out)
    try:
        with _timed("scenes processed"), _pool(run.options.workers) as pool:
            producer = _Producer(run, pool)
            feed(producer)
            items = producer.finish()
        _accept_scene_errors(producer, run.options, run.report)
        with _timed("catalog saved"):
            save_catalog(items, run.staging, run.options)
            files = manifest(run.staging)
            atomic_write_json(run.staging / STATE_FILE, {**run.state, "files": files})
        with _timed("catalog validated"):
            _check(run.staging, run.options)
        swap_in(run.staging, run.out)
    finally:
        shutil.rmtree(_staging_root(run.out), ignore_errors=True)


class _Producer:
    """Makes the item of each scene given: linked from the previous catalog when unchanged,
    processed in the pool otherwise.

    A scene id given again stands for a newer read of the scene: it replaces the first (whose
    result is thrown away when it ends, if it is still running).
    """

    def __init__(self, run: _Run, pool: Executor) -> None:
        self.run = run
        self.pool = pool
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

    def _item_dir(self, scene_id: str) -> Path:
        return self.run.staging / constants.COLLECTION_ID / scene_id

    def _forget(self, scene_id: str) -> None:
        self.items.pop(scene_id, None)
        self.errors.pop(scene_id, None)
        self.reused.discard(scene_id)
        shutil.rmtree(self._item_dir(scene_id), ignore_errors=True)

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
        self._running[self.pool.submit(_attempt, scene, self._item_dir(scene.id))] = scene

    def _collect(self, future: Future[SceneOutputs | SceneError]) -> None:
        from stacgen.stac import create_item

        scene = self._running.pop(future)
        latest = self._latest.get(scene.id)
        if latest is not scene:  # replaced or dropped while it ran
            shutil.rmtree(self._item_dir(scene.id), ignore_errors=True)
            if latest is not None:
                self._start(latest)
            return
        result = future.result()
        if isinstance(result, SceneError):
            self.errors[scene.id] = str(result)
        else:
            hrefs = asset_hrefs(result, self.run.options.root_href)
            self.items[scene.id] = create_item(result, hrefs)
        self.run.done(scene.id)


def _accept_scene_errors(producer: _Producer, options: BuildOptions, report: BuildReport) -> None:
    errors = [producer.errors[key] for key in sorted(producer.errors)]
    if errors and not options.skip_bad_scenes:
        raise BuildError(errors)
    for error in errors:
        log.warning("skipped scene: %s", error)
    report.skipped += errors
    report.items = len(producer.items)
    report.reused = len(producer.reused)
    report.built = report.items - report.reused
    if not producer.items:
        raise BuildError(["no scene could be published"])


def asset_hrefs(outputs: SceneOutputs, root_href: str | None) -> dict[str, str]:
    """Relative to the item JSON, or absolute under the published root."""
    base = "."
    if root_href:
        base = f"{root_href.rstrip('/')}/{constants.COLLECTION_ID}/{outputs.scene.id}"
    return {key: f"{base}/{info.name}" for key, info in outputs.files.items()}


def reuse_item(out: Path, staging: Path, item_id: str, files: dict[str, int]) -> pystac.Item | None:
    """Link an unchanged, intact item folder of the previous catalog into the new one."""
    source = out / constants.COLLECTION_ID / item_id
    target = staging / constants.COLLECTION_ID / item_id
    prefix = f"{constants.COLLECTION_ID}/{item_id}/"
    own = {name: size for name, size in files.items() if name.startswith(prefix)}
    if not own or not _intact(out, own):
        log.info("rebuilding %s: files of the previous build are missing or changed", item_id)
        return None
    try:
        data = json.loads((source / f"{item_id}.json").read_text())
        target.mkdir(parents=True)
        for path in source.iterdir():
            if path.name != f"{item_id}.json":
                _link_or_copy(path, target / path.name)
    except (OSError, ValueError) as err:
        log.info("rebuilding %s: previous item unusable (%s)", item_id, err)
        shutil.rmtree(target, ignore_errors=True)
        return None
    import pystac

    data["links"] = [link for link in data["links"] if link["rel"] not in STRUCTURAL_RELS]
    return pystac.Item.from_dict(data, preserve_dict=False)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _start_forkserver() -> None:
    """Start the process the workers fork from, importing the raster code, in the background.

    It imports while this process reads the archive, so the workers start ready when the
    scenes are (about 0.7 s of a cold build); workers must not inherit GDAL state (or threads)
    from this process, hence forkserver rather than fork.
    """
    context = get_context("forkserver")
    context.set_forkserver_preload(["stacgen.process"])
    forkserver.ensure_running()


@contextmanager
def _pool(workers: int) -> Iterator[Executor]:
    """Worker processes, or this process alone for one worker."""
    if workers <= 1:
        yield _Inline()
        return
    _start_forkserver()  # a no-op when build() started it already
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("forkserver"))
    try:
        yield pool
    finally:
        # On a failed build nothing queued is started and the staging folder is removed only
        # once no worker still writes into it.
        pool.shutdown(wait=True, cancel_futures=True)


class _Inline(Executor):
    """Runs each task as it is submitted, in this process."""

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        future: Future[_T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:
            future.set_exception(err)
        return future


def _attempt(scene: Scene, item_dir: Path) -> SceneOutputs | SceneError:
    from stacgen.process import process_scene

    try:
        return process_scene(scene, item_dir)
    except SceneError as err:
        return err


def save_catalog(items: list[pystac.Item], staging: Path, options: BuildOptions) -> None:
    """Write catalog.json, the collection (with its items.parquet) and the items."""
    import pystac

    from stacgen.stac import create_collection

    catalog = pystac.Catalog(
        id="alcd",
        title="ALCD reference cloud masks",
        description="The ALCD Sentinel-2 reference cloud masks (Baetens & Hagolle, "
        f"Zenodo record {constants.RECORD_ID}) as Cloud-Optimized GeoTIFFs, built by stacgen.",
    )
    collection = create_collection(items, options.record)
    catalog.add_child(collection)
    collection.add_items(items)
    if options.root_href:
        catalog.normalize_hrefs(options.root_href, skip_unresolved=True)
        catalog.save(pystac.CatalogType.ABSOLUTE_PUBLISHED, dest_href=str(staging))
    else:
        catalog.normalize_hrefs(str(staging), skip_unresolved=True)
        catalog.save(pystac.CatalogType.SELF_CONTAINED)
    _add_items_parquet(collection, items, staging, options.root_href)
    (staging / README_FILE).write_text(catalog_readme(), encoding="utf-8")


def _add_items_parquet(
    collection: pystac.Collection, items: list[pystac.Item], staging: Path, root: str | None
) -> None:
    """A stac-geoparquet copy of every item JSON as written, as the collection's `items`."""
    import pystac
    import stac_geoparquet.arrow

    from stacgen.stac import PARQUET

    coll_dir = staging / constants.COLLECTION_ID
    dicts = [json.loads((coll_dir / i.id / f"{i.id}.json").read_text()) for i in items]
    target = coll_dir / ITEMS_PARQUET
    stac_geoparquet.arrow.parse_stac_items_to_parquet(dicts, output_path=target)
    href = f"{root.rstrip('/')}/{constants.COLLECTION_ID}/{ITEMS_PARQUET}" if root else None
    asset = pystac.Asset(
        href=href or f"./{ITEMS_PARQUET}",
        title="All items as stac-geoparquet",
        media_type=PARQUET,
        roles=["stac-items"],
    )
    asset.extra_fields["file:size"] = target.stat().st_size
    asset.extra_fields["file:checksum"] = sha256_multihash(digests(target)["sha256"])
    collection.add_asset("items", asset)
    dest = coll_dir / "collection.json"
    collection.save_object(include_self_link=bool(root), dest_href=str(dest))


def catalog_readme() -> str:
    return resources.files("stacgen").joinpath("catalog_README.md").read_text(encoding="utf-8")


def _check(staging: Path, options: BuildOptions) -> None:
    if options.schemas is None:
        return
    from stacgen.validate import validate_catalog  # the validator loads schemas: only when used

    # check_cogs=False: each COG was validated by the worker that wrote it (process.check_cogs);
    # a reused item's COGs are links to files validated by the build that made them.
    problems = validate_catalog(
        staging,
        options.schemas,
        root_href=options.root_href,
        workers=options.workers,
        check_cogs=False,
    )
    if problems:
        raise BuildError([f"validation: {p}" for p in problems])
