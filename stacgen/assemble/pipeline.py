"""Build the catalog: the one place that reads the archive, runs the scenes and saves.

The new catalog is written beside `out`, validated, and swapped in whole; an unchanged scene
(same inputs, same settings) is not processed again but linked from the previous catalog.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stacgen import constants
from stacgen.assemble import staging as stage
from stacgen.assemble.state import (
    FORMAT,
    collection_key,
    is_up_to_date,
    license_state,
    manifest,
    read_state,
    scene_key,
)
from stacgen.assemble.workers import Producer, Target, pool, start_forkserver
from stacgen.errors import OutputError, Problem, StacgenError, printable
from stacgen.fileutil import JsonFileError, atomic_write_json, recover_swap, swap_in
from stacgen.layout.catalog import LICENSE_STATE, STATE_FILE
from stacgen.layout.imagery import RESOLUTION_FILE, Resolved, read_resolution, resolution_json
from stacgen.source.archive import ArchiveError, OpenedArchive, Unpacking, extracted, unpacking
from stacgen.source.scene import FolderRead, Scene, combine, discover, read_folder, scene_folders
from stacgen.stac.links import check_root_href
from stacgen.stac.schemas import SchemaSource, SchemasUnavailable

if TYPE_CHECKING:
    import pystac

# The raster, STAC and parquet libraries take about a second to import: a build that finds
# the catalog up to date must not pay for them, so they are imported where they are used.

log = logging.getLogger(__name__)

README_FILE = "README.md"
IMAGERY_LINKS_FORMAT = 1  # bump when apply_imagery writes other links from the same inputs


class BuildError(StacgenError):
    """The build found problems; nothing was swapped in. One line per problem (`problems`, the
    error's details), and a summary naming the output left untouched, once it is known."""

    def __init__(self, problems: Sequence[object], out: Path | None = None) -> None:
        self.problems = [str(p) for p in problems]
        self.details = tuple(self.problems)
        untouched = f"; {out} is untouched" if out is not None else ""
        super().__init__(f"build failed with {len(self.problems)} problem(s){untouched}")


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
    # Where validation reads the schemas (stacgen.stac.schemas.schema_source); None: the catalog
    # is not validated before the swap (`--no-validate`).
    schemas: SchemaSource | Path | None = None


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
    """Build (or bring up to date) the catalog at options.out; raises BuildError on problems,
    ArchiveError when the archive cannot be read, OutputError when `out` is not ours to replace,
    another build is writing it or it cannot be locked."""
    started = time.perf_counter()
    if options.root_href is not None:
        check_root_href(options.root_href)
    out = resolve_out(options.out)
    try:
        with stage.output_lock(out):
            recover_swap(out)
            check_out(out)
            report = _build_locked(options, out, on_scene)
    except ArchiveError as err:
        raise ArchiveError(f"{err}; {options.out} is untouched") from err
    except OSError as err:  # before the build could start: its lock, its folder
        raise OutputError(f"{err.filename or options.out}: {err.strerror or err}") from err
    report.seconds = time.perf_counter() - started
    return report


def _build_locked(
    options: BuildOptions, out: Path, on_scene: Callable[[str], None] | None
) -> BuildReport:
    started = time.perf_counter()
    if (
        options.workers > 1
        and not options.archive.is_dir()
        and extracted(options.archive, options.cache_dir) is None
    ):
        # A cold build: the workers' imports overlap the hashing and the unpacking.
        start_forkserver()
    previous = {} if options.force else read_state(out)
    shown = Shown(options.archive, None)
    try:
        with unpacking(options.archive, options.cache_dir) as source:
            log.info("archive opened after %.2f s", time.perf_counter() - started)
            shown = Shown(options.archive, source.root)
            run = Run(out, previous, options, source.sha256, BuildReport(), on_scene, shown)
            run.resolution = read_resolution(out)  # `stacgen imagery resolve`'s, if any
            if isinstance(source, OpenedArchive):
                _build_extracted(run, source.top)
            else:
                _build_streaming(run, source)
    except BuildError as err:
        raise BuildError([shown(p) for p in err.problems], options.out) from err
    except OSError as err:
        # A full disk, a folder it may not read: one line naming the file, not a traceback.
        raise BuildError([shown(os_problem(err))], options.out) from err
    return run.report


def os_problem(err: OSError) -> str:
    where = err.filename if err.filename is not None else "stacgen"
    return f"{where}: {err.strerror or err}"


@dataclass(frozen=True)
class Shown:
    """How a problem is shown: paths in the cache's extraction as the archive's members, and
    control characters (a folder name may hold any) escaped."""

    archive: Path
    root: Path | None  # where a tgz was extracted

    def __call__(self, problem: object) -> str:
        text = str(problem)
        if self.root is not None:
            text = text.replace(f"{self.root}/", f"{self.archive} member ")
        return printable(text)


def resolve_out(out: Path) -> Path:
    """The folder a build writes for `--out`: a symbolic link is followed, and said so (the
    link stays, the catalog it points to is replaced); the root of the file system, or a link
    that leads nowhere, is refused."""
    absolute = Path(os.path.abspath(out))
    if absolute.is_symlink():
        real = Path(os.path.realpath(absolute))
        if real.is_symlink():
            raise OutputError(f"--out {out}: a symbolic link that loops: refusing to follow it")
        log.warning(
            "--out %s is a symbolic link: the build writes the folder it points to, %s", out, real
        )
        absolute = real
    if absolute.parent == absolute:
        raise OutputError(f"--out {out}: the root of the file system cannot be a catalog folder")
    return absolute


def check_out(out: Path) -> None:
    """`out` may be replaced only if it is missing, empty, or a catalog that stacgen wrote."""
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir():
        raise OutputError(f"{out}: not a folder: refusing to replace it with a catalog")
    if (out / STATE_FILE).is_file():
        return
    try:
        entries = list(out.iterdir())
    except OSError as err:
        raise OutputError(f"{out}: cannot be read ({err.strerror})") from None
    # The repository's catalog/ holds only the README that every build writes there.
    if all(_is_our_readme(entry) for entry in entries):
        return
    raise OutputError(
        f"{out}: not empty and not a catalog stacgen wrote (no {STATE_FILE}): refusing to "
        "replace it; choose another --out or empty this folder"
    )


def _is_our_readme(path: Path) -> bool:
    try:
        return path.name == README_FILE and path.read_text(encoding="utf-8") == catalog_readme()
    except (OSError, UnicodeDecodeError):
        return False


def _build_extracted(run: Run, top: Path) -> None:
    """All scene folders are on disk: read them, stop if nothing changed, else build."""
    scenes, problems = discover(top)
    run.report.folders = len(scene_folders(top))
    run.report.skipped = _accept_problems(problems, run, top)
    run.set_scenes(scenes)
    if run.previous and is_up_to_date(run.out, run.previous, run.state):
        run.report.up_to_date, run.report.reused = True, len(scenes)
        return

    def feed(producer: Producer) -> None:
        for scene in scenes:
            producer.add(scene)

    _build_into(run, feed)


def _build_streaming(run: Run, job: Unpacking) -> None:
    """Start each scene as soon as its folder is unpacked: extraction overlaps processing."""

    def feed(producer: Producer) -> None:
        reads = _stream_scenes(job, producer, halt_on_problem=not run.options.skip_bad_scenes)
        # The finished extraction decides, exactly as for one extracted before: a folder read
        # while streaming stands for itself, a product in several folders is merged now.
        top = job.top
        folders = scene_folders(top)
        final = {f: reads[f] if f in reads else read_folder(f) for f in folders}
        scenes, problems = combine(top, final)
        run.report.folders = len(folders)
        run.report.skipped = _accept_problems(problems, run, top)
        producer.settle(scenes)
        run.set_scenes(scenes)

    _build_into(run, feed)


def _stream_scenes(
    job: Unpacking, producer: Producer, halt_on_problem: bool
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


def _accept_problems(problems: list[Problem], run: Run, top: Path) -> list[str]:
    """Fail on any problem, or with --skip-bad-scenes warn once per scene folder left out."""
    if problems and not run.options.skip_bad_scenes:
        raise BuildError(problems)
    skipped = sorted({_scene_folder_of(p.path, top) for p in problems})
    for folder in skipped:
        reasons = "; ".join(str(p) for p in problems if _scene_folder_of(p.path, top) == folder)
        log.warning("skipped scene %s: %s", printable(folder), run.shown(reasons))
    return [printable(folder) for folder in skipped]


def _scene_folder_of(path: Path, top: Path) -> str:
    try:
        return "/".join(path.relative_to(top).parts[:2])
    except ValueError:
        return str(path)


@contextmanager
def _timed(what: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    log.info("%s in %.2f s", what, time.perf_counter() - start)


@dataclass
class Run:
    """One build under way: where it writes, what it must make, what it has done."""

    out: Path
    previous: dict[str, Any]  # the state of the catalog in place ({} with --force)
    options: BuildOptions
    archive_sha256: str | None
    report: BuildReport
    on_scene: Callable[[str], None] | None
    shown: Shown
    state: dict[str, Any] = field(default_factory=dict)
    # Per label item, what each provider holds (stacgen imagery resolve); kept across builds.
    resolution: dict[str, list[Resolved]] = field(default_factory=dict)

    @property
    def staging(self) -> Path:
        return stage.staging_dir(self.out)

    def key(self, scene: Scene) -> str:
        return scene_key(scene, self.archive_sha256, self.options.root_href)

    def set_scenes(self, scenes: list[Scene]) -> None:
        """The scenes the new catalog publishes: its state and item count follow."""
        keys = {s.id: self.key(s) for s in scenes}
        collection = collection_key(self.options.root_href, self.options.record)
        self.state = {
            "format": FORMAT,
            "collection": collection,
            "items": keys,
            LICENSE_STATE: license_state(self.options.record),
        }
        # The items' imagery links change with the resolution file: a new one is a rebuild
        # (of the links only: the scenes are reused).
        self.state["imagery"] = imagery_key(self.resolution)
        self.report.items = len(scenes)

    def target(self) -> Target:
        """What the producer needs of this build."""
        root_href = self.options.root_href
        return Target(self.out, self.staging, root_href, self.previous, self.key, self.done)

    def drop(self, scene_ids: Iterable[str]) -> None:
        """Scenes left out of this catalog: not counted in its state, so tried again next time."""
        for scene_id in scene_ids:
            self.state["items"].pop(scene_id, None)

    def done(self, scene_id: str) -> None:
        if self.on_scene:
            self.on_scene(scene_id)


def _build_into(run: Run, feed: Callable[[Producer], None]) -> None:
    """Have `feed` give the scenes to a producer, then save, validate and swap in the result."""
    stage.make_staging_dir(run.out)
    try:
        with _timed("scenes processed"), pool(run.options.workers) as executor:
            producer = Producer(run.target(), executor)
            feed(producer)
            items = producer.finish()
        _accept_scene_errors(producer, run)
        with _timed("catalog saved"):
            save_catalog(items, run.staging, run.options, run.resolution)
            _carry_imagery(run)
            files = manifest(run.staging)
            atomic_write_json(run.staging / STATE_FILE, {**run.state, "files": files})
        with _timed("catalog validated"):
            _check(run.staging, run.options)
        swap_in(run.staging, run.out)
    finally:
        stage.remove_staging(run.out)


def _carry_imagery(run: Run) -> None:
    """The imagery `stacgen imagery fetch` put in the catalog in place, kept in the new one
    (its items written anew for the new label items); a build never fetches it."""
    from stacgen.stac.imagery_files import carry_over

    try:
        kept = carry_over(run.out, run.staging)
    except (JsonFileError, KeyError, TypeError, ValueError) as err:
        raise BuildError([f"{run.out}: the imagery items cannot be carried over ({err})"]) from err
    if kept:
        log.info("kept the %d imagery item(s) of the catalog in place", kept)


def _accept_scene_errors(producer: Producer, run: Run) -> None:
    report = run.report
    errors = [run.shown(producer.errors[key]) for key in sorted(producer.errors)]
    if errors and not run.options.skip_bad_scenes:
        raise BuildError(errors)
    for error in errors:
        log.warning("skipped scene: %s", error)
    run.drop(producer.errors)
    report.skipped += errors
    report.items = len(producer.items)
    report.reused = len(producer.reused)
    report.built = report.items - report.reused
    if not producer.items:
        raise BuildError(["no scene could be published"])


def imagery_key(resolution: dict[str, list[Resolved]]) -> str:
    """Changes whenever the items' imagery links would: the links' form, the resolution."""
    text = json.dumps([IMAGERY_LINKS_FORMAT, resolution_json(resolution)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def save_catalog(
    items: list[pystac.Item],
    staging: Path,
    options: BuildOptions,
    resolution: dict[str, list[Resolved]] | None = None,
) -> None:
    """Write catalog.json, the collection (with its items.parquet) and the items; the
    resolution file, if any, is folded into the items and kept in the new catalog."""
    import pystac

    from stacgen.stac.collection import create_collection
    from stacgen.stac.items import apply_imagery
    from stacgen.stac.splits import apply_splits

    for item in items:  # made now or reused: the links follow the resolution in either case
        apply_imagery(item, (resolution or {}).get(item.id, []))
    if resolution:
        atomic_write_json(staging / RESOLUTION_FILE, resolution_json(resolution))

    catalog = pystac.Catalog(
        id="alcd",
        title="ALCD reference cloud masks",
        description="The ALCD Sentinel-2 reference cloud masks (Baetens & Hagolle, "
        f"Zenodo record {constants.RECORD_ID}) as Cloud-Optimized GeoTIFFs, built by stacgen.",
    )
    apply_splits(items)  # a collection-wide choice: made again whenever the items change
    collection = create_collection(items, options.record)
    catalog.add_child(collection)
    for item in items:  # titled item links: STAC Browser lists them by title, stac-check asks
        collection.add_item(item, title=item.common_metadata.title)
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
    """Write items.parquet from the item JSON as saved, and list it in the collection."""
    from stacgen.stac.parquet import items_parquet_asset, write_items_parquet

    folder = staging / constants.COLLECTION_ID
    target = write_items_parquet(folder, [item.id for item in items])
    collection.add_asset("items", items_parquet_asset(target, root))
    dest = folder / "collection.json"
    collection.save_object(include_self_link=bool(root), dest_href=str(dest))


def catalog_readme() -> str:
    return resources.files("stacgen").joinpath("catalog_README.md").read_text(encoding="utf-8")


def _check(staging: Path, options: BuildOptions) -> None:
    if options.schemas is None:
        return
    # The validator loads schemas: imported only when used.
    from stacgen.stac.validate import validate_catalog

    def problems(schemas: SchemaSource | Path | None) -> list[Problem]:
        # check_cogs=False: each COG was validated by the worker that wrote it
        # (process.check_cogs); a reused item's COGs are links to files validated by the
        # build that made them.
        return validate_catalog(
            staging, schemas, root_href=options.root_href, workers=options.workers, check_cogs=False
        )

    try:
        found = problems(options.schemas)
    except SchemasUnavailable as err:
        # Offline without a mirror: the catalog that passes every other check is published.
        log.warning(
            "schema validation skipped: %s; every other check passed; validate later with "
            "`stacgen validate %s`",
            err,
            options.out,
        )
        found = problems(None)
    if found:
        raise BuildError([f"validation: {p}" for p in found])
