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
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from multiprocessing import forkserver, get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

import stacgen
from stacgen import constants
from stacgen.archive import OpenedArchive, extracted, open_archive
from stacgen.errors import Problem
from stacgen.fileutil import atomic_write_json, digests, recover_swap, sha256_multihash, swap_in
from stacgen.scene import Scene, discover, scene_folders

if TYPE_CHECKING:
    import pystac

    from stacgen.process import SceneError
    from stacgen.stac import SceneOutputs

# The raster, STAC and parquet libraries take about a second to import: a build that finds
# the catalog up to date must not pay for them, so they are imported where they are used.

log = logging.getLogger(__name__)

FORMAT = 1  # bump whenever an unchanged scene would now give different files
STATE_FILE = ".stacgen-state.json"
README_FILE = "README.md"
ITEMS_PARQUET = "items.parquet"
STRUCTURAL_RELS = {"self", "root", "parent", "collection"}


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
        # A cold build: the workers' imports can overlap the unpacking.
        _start_forkserver()
    opened = open_archive(options.archive, options.cache_dir)
    log.info("archive ready after %.2f s", time.perf_counter() - started)
    scenes, problems = discover(opened.top)
    log.info("%d scenes read after %.2f s", len(scenes), time.perf_counter() - started)
    report = BuildReport(folders=len(scene_folders(opened.top)))
    report.skipped = _accept_problems(problems, options, opened.top)
    keys = {s.id: scene_key(s, opened, options) for s in scenes}
    state = {"format": FORMAT, "collection": collection_key(options), "items": keys}
    report.items = len(scenes)
    previous = {} if options.force else read_state(out)
    if previous and is_up_to_date(out, previous, state):
        report.up_to_date, report.reused = True, len(scenes)
    else:
        _build_into(out, scenes, state, previous, options, report, on_scene)
    report.seconds = time.perf_counter() - started
    return report


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


def scene_key(scene: Scene, opened: OpenedArchive, options: BuildOptions) -> str:
    """Changes whenever anything that shapes the scene's item folder changes."""
    h = hashlib.sha256()
    settings = {
        "format": FORMAT,
        "version": stacgen.__version__,
        "root_href": options.root_href,
        "archive": opened.sha256,
        "folders": [str(f.relative_to(opened.top)) for f in scene.folders],
    }
    h.update(json.dumps(settings, sort_keys=True).encode())
    if opened.sha256 is None:
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
    root = _staging_root(out)
    if root.exists():
        shutil.rmtree(root)  # left by a build that was killed
    # A fixed name without a dot inside: pystac takes a root href with an extension for a file.
    staging = root / "catalog"
    staging.mkdir(parents=True)
    return staging


@contextmanager
def _timed(what: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    log.info("%s in %.2f s", what, time.perf_counter() - start)


@dataclass
class _Run:
    """One build under way: where it writes, what it must make, what it has done."""

    out: Path
    staging: Path
    state: dict[str, Any]
    previous: dict[str, Any]  # the state of the catalog in place ({} with --force)
    options: BuildOptions
    report: BuildReport
    on_scene: Callable[[str], None] | None

    def done(self, scene_id: str) -> None:
        if self.on_scene:
            self.on_scene(scene_id)


def _build_into(
    out: Path,
    scenes: list[Scene],
    state: dict[str, Any],
    previous: dict[str, Any],
    options: BuildOptions,
    report: BuildReport,
    on_scene: Callable[[str], None] | None,
) -> None:
    run = _Run(out, _staging_dir(out), state, previous, options, report, on_scene)
    try:
        with _timed("scenes processed"):
            items = _collect_items(run, scenes)
        with _timed("catalog saved"):
            save_catalog(items, run.staging, options)
            files = manifest(run.staging)
            atomic_write_json(run.staging / STATE_FILE, {**state, "files": files})
        with _timed("catalog validated"):
            _check(run.staging, options)
        swap_in(run.staging, out)
    finally:
        shutil.rmtree(_staging_root(out), ignore_errors=True)


def _collect_items(run: _Run, scenes: list[Scene]) -> list[pystac.Item]:
    """Reuse the unchanged items, process the others; in id order."""
    from stacgen.process import SceneError
    from stacgen.stac import create_item

    previous, files = run.previous.get("items", {}), run.previous.get("files", {})
    items: dict[str, pystac.Item] = {}
    todo = []
    for scene in scenes:
        reused = None
        if previous.get(scene.id) == run.state["items"][scene.id]:
            reused = reuse_item(run.out, run.staging, scene.id, files)
        if reused is None:
            todo.append(scene)
            continue
        items[scene.id] = reused
        run.report.reused += 1
        run.done(scene.id)
    errors: list[str] = []
    collection_dir = run.staging / constants.COLLECTION_ID
    for scene, result in run_scenes(todo, collection_dir, run.options.workers):
        if isinstance(result, SceneError):
            errors.append(str(result))
        else:
            items[scene.id] = create_item(result, asset_hrefs(result, run.options.root_href))
            run.report.built += 1
        run.done(scene.id)
    _accept_scene_errors(errors, run.options, run.report, items)
    return [items[key] for key in sorted(items)]


def _accept_scene_errors(
    errors: list[str], options: BuildOptions, report: BuildReport, items: dict[str, pystac.Item]
) -> None:
    if errors and not options.skip_bad_scenes:
        raise BuildError(errors)
    for error in errors:
        log.warning("skipped scene: %s", error)
    report.skipped += errors
    report.items = len(items)
    if not items:
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


def run_scenes(
    scenes: Sequence[Scene], collection_dir: Path, workers: int
) -> Iterator[tuple[Scene, SceneOutputs | SceneError]]:
    """Process scenes, in worker processes when there are several; yields as each finishes."""
    if workers <= 1 or len(scenes) <= 1:
        for scene in scenes:
            yield scene, _attempt(scene, collection_dir / scene.id)
        return
    _start_forkserver()  # a no-op when build() started it already
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("forkserver")) as pool:
        futures = {pool.submit(_attempt, s, collection_dir / s.id): s for s in scenes}
        for future in as_completed(futures):
            yield futures[future], future.result()


def _attempt(scene: Scene, item_dir: Path) -> SceneOutputs | SceneError:
    from stacgen.process import SceneError, process_scene

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
