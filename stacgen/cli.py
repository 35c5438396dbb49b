"""The `stacgen` command: thin click commands that parse, call one library function, report."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from tqdm import tqdm

from stacgen import __version__, config, constants
from stacgen.errors import StacgenError, printable
from stacgen.layout.imagery import LINK_PROVIDERS

if TYPE_CHECKING:
    from stacgen.publish.pipeline import PublishReport
    from stacgen.score.codes import Class1
    from stacgen.score.rules import Method
    from stacgen.score.scoring import MaskScore

log = logging.getLogger("stacgen")
PathArg = click.Path(path_type=Path)


def _show_progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


class _Main(click.Group):
    """The one handler of stacgen's errors: the lines of its details, then its message, on
    stderr (control characters escaped), exit status 1; never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StacgenError as err:
            for line in err.details:
                click.echo(printable(line), err=True)
            _fail(printable(str(err)))


@click.group(cls=_Main)
@click.version_option(__version__, prog_name="stacgen")
@click.option("-v", "--verbose", count=True, help="More log lines (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Publish the ALCD Sentinel-2 reference cloud masks as a STAC catalog."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    # -v speaks for stacgen only: the libraries' INFO lines (memory logs...) are not for users.
    log.setLevel(max(logging.DEBUG, logging.WARNING - 10 * verbose))


def _fail(message: str) -> NoReturn:
    raise click.ClickException(message)


@contextmanager
def _byte_progress(
    quiet: bool, desc: str = "download"
) -> Iterator[Callable[[int, int], None] | None]:
    if not _show_progress(quiet):
        yield None
        return
    bar = tqdm(unit="B", unit_scale=True, unit_divisor=1024, desc=desc, leave=False)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()


def _fetch(
    record: int, zenodo_url: str | None, cache_dir: Path, quiet: bool, refresh: bool
) -> Path:
    from stacgen.source import zenodo

    with _byte_progress(quiet) as on_progress:
        return zenodo.download_archive(
            record,
            zenodo_url=zenodo_url,
            cache_dir=cache_dir,
            on_progress=on_progress,
            refresh=refresh,
        )


record_option = click.option(
    "--record",
    type=int,
    default=constants.RECORD_ID,
    show_default=True,
    help="Zenodo record id (the concept record 1460960 resolves to its latest version).",
)
zenodo_option = click.option(
    "--zenodo-url", help="Zenodo base URL [env STACGEN_ZENODO_URL; default https://zenodo.org]."
)
refresh_option = click.option(
    "--refresh",
    is_flag=True,
    help="Ask Zenodo for the record again instead of trusting the saved copy.",
)
schemas_option = click.option(
    "--schemas",
    type=PathArg,
    help="A local mirror of the STAC JSON Schemas [env STACGEN_SCHEMAS; default: the schemas "
    "pinned in stacgen, fetched once into the cache].",
)
cache_option = click.option(
    "--cache-dir",
    type=PathArg,
    help="Downloads and extracted archives [env STACGEN_CACHE_DIR; default: user cache].",
)


@main.command()
@record_option
@zenodo_option
@cache_option
@refresh_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def download(
    record: int, zenodo_url: str | None, cache_dir: Path | None, refresh: bool, quiet: bool
) -> None:
    """Download and verify the archive; print its path."""
    path = _fetch(record, zenodo_url, cache_dir or config.cache_dir(), quiet, refresh)
    click.echo(str(path))


@main.command()
@click.option(
    "--archive",
    type=PathArg,
    help="The .tgz as Zenodo serves it, or the folder it was extracted into. "
    "Without it the archive is downloaded (or taken from the cache).",
)
@record_option
@click.option(
    "--record-json",
    type=PathArg,
    help="The Zenodo record JSON saved with the archive (zenodo.org/api/records/ID): the "
    "collection's license, title and version come from it. Default: the one saved by a download.",
)
@zenodo_option
@cache_option
@refresh_option
@click.option("--out", type=PathArg, default=config.CATALOG_DIR, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=config.workers())
@click.option("--force", is_flag=True, help="Rebuild every scene, even unchanged ones.")
@click.option(
    "--skip-bad-scenes", is_flag=True, help="Publish the good scenes, warn about the rest."
)
@click.option("--root-href", help="Write an absolute catalog published under this URL.")
@schemas_option
@click.option("--no-validate", is_flag=True, help="Do not validate before swapping in.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def build(
    archive: Path | None,
    record: int,
    record_json: Path | None,
    zenodo_url: str | None,
    cache_dir: Path | None,
    refresh: bool,
    out: Path,
    workers: int,
    force: bool,
    skip_bad_scenes: bool,
    root_href: str | None,
    schemas: Path | None,
    no_validate: bool,
    quiet: bool,
) -> None:
    """Build the STAC catalog into --out (atomically: all or nothing)."""
    from stacgen.assemble.pipeline import BuildOptions
    from stacgen.assemble.pipeline import build as run_build
    from stacgen.source.zenodo import read_record_json
    from stacgen.stac.schemas import schema_source

    cache = cache_dir or config.cache_dir()
    schema_files = None if no_validate else schema_source(schemas)  # a bad --schemas: at once
    given_record = read_record_json(record_json, record) if record_json else None
    source = archive or _fetch(record, zenodo_url, cache, quiet, refresh)
    options = BuildOptions(
        archive=source,
        out=out,
        cache_dir=cache,
        workers=workers,
        force=force,
        skip_bad_scenes=skip_bad_scenes,
        root_href=root_href,
        record=given_record or _saved_record(record, cache),
        schemas=schema_files,
    )
    with tqdm(desc="scenes", unit="scene", disable=not _show_progress(quiet)) as bar:
        report = run_build(options, on_scene=lambda _: _tick(bar))
    if archive:
        _remember(source, record, cache)
    state = "up to date" if report.up_to_date else f"{report.built} built, {report.reused} reused"
    click.echo(
        f"{out}: {report.folders} scene folders, {report.items} items ({state}), "
        f"{len(report.skipped)} skipped, {report.seconds:.1f} s"
    )


def _remember(archive: Path, record: int, cache_dir: Path) -> None:
    """An archive that is the record's: later builds without --archive use it, offline."""
    from stacgen.source import zenodo

    try:
        if zenodo.remember_local_copy(archive, record, cache_dir):
            log.info("%s is the verified copy of Zenodo record %s", archive, record)
    except OSError as err:  # the catalog is built: a cache that cannot take a note is no failure
        log.warning("could not note %s as the record's copy: %s", archive, err)


class _OnFirstUse(types.ModuleType):
    """Stands for a module not imported yet: the first attribute asked for imports it, and
    every lookup then goes to the real module (patches made on it included)."""

    _lock = threading.RLock()  # a lookup nested in the import must not deadlock

    def __getattr__(self, name: str) -> Any:
        with self._lock:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]  # let the import below find the real one
            real = importlib.import_module(self.__name__)
        return getattr(real, name)


def _rasterio_without_boto3() -> None:
    """Import rasterio with boto3 imported only if a session needs it.

    rasterio.session imports boto3 (for S3 credentials) when it is imported, which is most of
    rasterio's own import time; `stacgen score` on local or HTTP masks never uses it, and the
    command is asked to answer in under 0.5 s. rasterio tests `boto3 is not None`, then calls
    `boto3.Session(...)` for an s3:// or amazonaws.com path: a stand-in passes the test and
    imports boto3 at that call. It sits in sys.modules only while rasterio is imported, so any
    later `import boto3` gets the real module.
    """
    if "rasterio" in sys.modules or "boto3" in sys.modules:
        return
    spec = importlib.util.find_spec("boto3")
    if spec is None:
        return  # not installed: rasterio does without it, as it would anyway
    stand_in = _OnFirstUse("boto3")
    stand_in.__spec__ = spec  # an import that meets it sees a module done initialising
    sys.modules["boto3"] = stand_in
    try:
        import rasterio.session  # noqa: F401  (keeps the stand-in as its `boto3`)
    finally:
        if sys.modules.get("boto3") is stand_in:
            del sys.modules["boto3"]


def _tick(bar: tqdm[Any]) -> None:
    bar.update()


def _saved_record(record: int, cache_dir: Path) -> dict[str, Any] | None:
    from stacgen.source import zenodo

    saved = zenodo.cached_record_json(record, cache_dir)
    if saved is None:
        log.warning(
            "no Zenodo record JSON for record %s: the collection carries license 'other' with a "
            "license link to %s, and the default title; to take them from the record, pass "
            "--record-json FILE (make RECORD_JSON=FILE), the record JSON saved with the archive",
            record,
            constants.RECORD_PAGE,
        )
    return saved


@main.command()
@click.argument("directory", type=PathArg, default=config.CATALOG_DIR)
@schemas_option
@click.option("--root-href", help="The URL the catalog was published under, if absolute.")
@click.option("--workers", type=click.IntRange(min=1), default=config.workers())
def validate(directory: Path, schemas: Path | None, root_href: str | None, workers: int) -> None:
    """Validate a catalog: schemas, links, asset sizes and checksums, COGs."""
    from stacgen.stac.schemas import schema_source
    from stacgen.stac.validate import validate_catalog

    source = schema_source(schemas)
    problems = validate_catalog(directory, source, root_href=root_href, workers=workers)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        _fail(f"{directory}: {len(problems)} problem(s)")
    click.echo(f"{directory}: valid")


@main.command()
@click.argument("directory", type=PathArg, default=config.CATALOG_DIR)
@click.option("--host", default=config.HOST, show_default=True, help="0.0.0.0 to be reachable.")
@click.option("--port", type=click.IntRange(0, 65535), default=config.PORT, show_default=True)
@click.option("--browser-dir", type=PathArg, help="Built STAC Browser [env STACGEN_BROWSER_DIR].")
@click.option(
    "--pgstac",
    metavar="DSN",
    help="Answer the STAC API from this pgstac database (see `stacgen pgstac load`) "
    "instead of the items in memory.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="With --pgstac: this many server processes on the one port (helps when the "
    "database runs on other cores or machines).",
)
def serve(
    directory: Path,
    host: str,
    port: int,
    browser_dir: Path | None,
    pgstac: str | None,
    workers: int,
) -> None:
    """Serve the catalog, a STAC API and STAC Browser on one origin until Ctrl-C."""
    from stacgen.serve import BROWSER_HINT, ServeUrls, find_browser, run_forever

    def ready(urls: ServeUrls) -> None:
        click.echo(f"catalog      {urls.catalog}")
        click.echo(f"STAC API     {urls.api}")
        click.echo(f"STAC Browser {urls.browser or BROWSER_HINT}")
        click.echo("Ctrl-C stops the server.")

    run_forever(
        directory,
        host,
        port,
        browser_dir=find_browser(browser_dir),
        pgstac=pgstac,
        on_ready=ready,
        workers=workers,
    )


@main.command()
@click.argument("directory", type=PathArg, default=config.CATALOG_DIR)
@click.option("--to", "to", required=True, help="Where: s3://BUCKET/PREFIX.")
@click.option("--root-href", required=True, help="The public URL that PREFIX is served under.")
@click.option("--endpoint-url", help="An S3-compatible endpoint [env AWS_ENDPOINT_URL].")
@click.option("--region", help="The bucket's region [env AWS_REGION; default us-east-1].")
@click.option("--dry-run", is_flag=True, help="Print what would be sent, kept and deleted.")
@click.option(
    "--delete",
    is_flag=True,
    help="Delete the objects stacgen published under PREFIX that the catalog no longer has, "
    "once no reader can hold a JSON linking them (waits up to 90 s).",
)
@click.option(
    "--also-delete",
    "also_delete",
    multiple=True,
    metavar="KEY",
    help="Delete this object under PREFIX that stacgen did not write (a glob; repeatable).",
)
@click.option(
    "--allow-unread-license",
    is_flag=True,
    help="Publish a catalog whose licence was never read from the Zenodo record.",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=config.PUBLISH_WORKERS, show_default=True
)
@schemas_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def publish(
    directory: Path,
    to: str,
    root_href: str,
    endpoint_url: str | None,
    region: str | None,
    dry_run: bool,
    delete: bool,
    also_delete: tuple[str, ...],
    allow_unread_license: bool,
    workers: int,
    schemas: Path | None,
    quiet: bool,
) -> None:
    """Publish the catalog in DIRECTORY to object storage, with absolute hrefs, root last."""
    from stacgen.publish.pipeline import PublishOptions
    from stacgen.publish.pipeline import publish as run_publish
    from stacgen.stac.schemas import schema_source

    options = PublishOptions(
        source=directory,
        to=to,
        root_href=root_href,
        schemas=schema_source(schemas),
        endpoint_url=endpoint_url,
        region=region,
        dry_run=dry_run,
        delete=delete,
        also_delete=also_delete,
        allow_unread_license=allow_unread_license,
        workers=workers,
        memo_dir=config.cache_dir() / "publish",
        on_wait=_waiting,
    )
    with _byte_progress(quiet, "upload") as on_progress:
        report = run_publish(options, on_progress=on_progress)
    for line in _publish_lines(report):
        click.echo(line)


def _waiting(seconds: float, count: int) -> None:
    click.echo(
        f"waiting {seconds:.0f} s before deleting {count} object(s) that readers of the "
        "previous catalog may still be linked to (Ctrl-C: the next publish --delete does it)",
        err=True,
    )


def _publish_lines(report: PublishReport) -> Iterator[str]:
    plan, gone = report.plan, report.deletions
    if report.dry_run:
        yield from (f"send    {f.key} ({f.size} bytes)" for f in plan.send)
        yield from (f"delete  {o.key} ({o.size} bytes)" for o in (*gone.named, *gone.due))
        yield from (f"delete  {o.key} ({o.size} bytes, after the wait)" for o in gone.waiting)
        yield from (f"stale   {o.key} ({o.size} bytes, kept: no --delete)" for o in gone.kept)
        yield from (f"other   {o.key} ({o.size} bytes, not stacgen's: kept)" for o in gone.foreign)
    verbs = (
        ("would send", "would keep", "would delete")
        if report.dry_run
        else ("sent", "kept", "deleted")
    )
    counts = [
        (len(plan.send), plan.send_bytes),
        (len(plan.keep), plan.keep_bytes),
        (len(plan.delete), plan.delete_bytes),
    ]
    summary = ", ".join(
        f"{verb} {n} files ({size} bytes, {_mib(size)})"
        for verb, (n, size) in zip(verbs, counts, strict=True)
    )
    yield f"{report.target}: {summary}; {report.seconds:.1f} s"
    if not plan.send and not plan.delete and not report.dry_run:
        yield f"{report.target}: already up to date, nothing uploaded"


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


@main.group()
def pgstac() -> None:
    """A pgstac database (PostgreSQL + PostGIS) behind `stacgen serve --pgstac`."""


@pgstac.command("load")
@click.argument("dsn")
@click.argument("directory", type=PathArg, default=config.CATALOG_DIR)
@click.option(
    "--root-href",
    help="The URL DIRECTORY is served under (asset hrefs point there) "
    "[default: the one the catalog was built for].",
)
def pgstac_load(dsn: str, directory: Path, root_href: str | None) -> None:
    """Migrate the database at DSN and load (upsert) the catalog's collection and items."""
    from stacgen.publish.pgstac import load

    report = load(dsn, directory, root_href)
    click.echo(
        f"{directory}: {report.items} items into pgstac {report.pgstac_version}: "
        f"{report.inserted} inserted, {report.updated} updated, {report.unchanged} unchanged; "
        f"{len(report.queryables)} queryables, {report.seconds:.1f} s"
    )


@main.command()
@click.argument("masks", nargs=-1, required=True, type=PathArg)
@click.option("--codes", required=True, help="A built-in code table's name or a JSON code file.")
@click.option(
    "--catalog",
    default=str(config.CATALOG_DIR / "catalog.json"),
    show_default=True,
    help="catalog.json path, static catalog URL or STAC API root.",
)
@click.option("--item", "item_id", help="Score every mask against this item id.")
@click.option(
    "--resampling",
    type=click.Choice(["majority", "any", "nearest"]),
    default="majority",
    show_default=True,
)
@click.option(
    "--class-1", type=click.Choice(["ignore", "clear"]), default="ignore", show_default=True
)
@click.option("--dilate-cloud", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--dilate-shadow", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--dilate-preset",
    metavar="NAME",
    help="A processor's own assessment dilation (fmask: shadow 3 of its 20 m pixels), in 60 m "
    "cells; recorded in scores.json.",
)
@click.option("--band", type=click.IntRange(min=1), help="The band of a multi-band mask.")
@click.option(
    "--threshold",
    type=float,
    help="Cloud if s2cloudless probability > this (0-1), as s2cloudless compares.",
)
@click.option("--out", type=PathArg, help="Write scores.json, scores.csv and agreement maps.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def score(
    masks: tuple[Path, ...],
    codes: str,
    catalog: str,
    item_id: str | None,
    resampling: Method,
    class_1: Class1,
    dilate_cloud: int,
    dilate_shadow: int,
    dilate_preset: str | None,
    band: int | None,
    threshold: float | None,
    out: Path | None,
    workers: int,
    quiet: bool,
) -> None:
    """Score cloud masks against the ALCD references (table on stdout, files in --out).

    MASKS are GeoTIFFs, or folders whose *.tif files are all scored.
    """
    _rasterio_without_boto3()
    from stacgen.score import ScoreOptions, score_masks
    from stacgen.score.codes import warn_fmask5
    from stacgen.score.outputs import OutputFolder, check_names, table
    from stacgen.score.reference import iter_masks

    paths = list(iter_masks(masks))
    warn_fmask5(paths)

    options = ScoreOptions(
        resampling=resampling,
        class_1=class_1,
        dilate_cloud=dilate_cloud,
        dilate_shadow=dilate_shadow,
        dilate_preset=dilate_preset,
        band=band,
        threshold=threshold,
    )
    folder = OutputFolder(out, [*masks, *paths]) if out is not None else None
    with tqdm(
        total=len(paths), desc="masks", unit="mask", disable=not _show_progress(quiet)
    ) as bar:

        def done(score: MaskScore) -> None:
            if folder is not None:
                folder.add(score)
            bar.update()

        if folder is not None:
            check_names(paths)
        with folder or nullcontext():
            run = score_masks(
                paths,
                codes,
                catalog,
                item_id=item_id,
                options=options,
                workers=workers,
                on_done=done,
                keep_agreement=False,
            )
            if folder is not None:
                folder.finish(run)
    click.echo(table(run))


@main.command()
@click.argument("processors", nargs=-1, required=True, metavar="NAME=CODES:MASKDIR...")
@click.option(
    "--catalog",
    default=str(config.CATALOG_DIR / "catalog.json"),
    show_default=True,
    help="catalog.json path, static catalog URL or STAC API root.",
)
@click.option(
    "--protocol", type=click.Choice(["paper", "cmix"]), default="paper", show_default=True
)
@click.option("--items", "items_file", type=PathArg, help="A file of item ids, one a line.")
@click.option(
    "--subset",
    type=click.Choice(["Reference_dataset", "Hollstein", "paper"]),
    help="A part of the dataset (paper: the paper's validation set).",
)
@click.option("--split", type=click.Choice(["train", "validate", "test"]), help="An ml-aoi split.")
@click.option("--out", required=True, type=PathArg, help="The report folder to write.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def benchmark(
    processors: tuple[str, ...],
    catalog: str,
    protocol: str,
    items_file: Path | None,
    subset: str | None,
    split: str | None,
    out: Path,
    workers: int,
    quiet: bool,
) -> None:
    """Score every processor's masks on every item they all cover; write a report to --out.

    Each processor is NAME=CODES:MASKDIR, e.g. fmask=fmask4:masks/fmask (CODES as in
    `stacgen score --codes`).
    """
    from stacgen.benchmark import BY_NAME, Selection, parse_processor, plan, write_report
    from stacgen.benchmark.report import check_out

    check_out(out.absolute())
    selection = Selection(items_file, subset, split)
    the_plan = plan([parse_processor(p) for p in processors], catalog, selection)
    with tqdm(
        total=the_plan.total, desc="masks", unit="mask", disable=not _show_progress(quiet)
    ) as bar:
        result = write_report(
            the_plan, BY_NAME[protocol], out, workers=workers, on_mask=lambda *_: _tick(bar)
        )
    headline = result.protocol.headline
    for r in result.processors:
        value = r.pooled[headline.comparison].values.get(headline.metric)
        shown = "n/a" if value is None else f"{value:.3f}"
        click.echo(f"{r.processor.name}: {headline.label} {shown} ({len(r.scenes)} scenes)")
    click.echo(f"report: {out / 'index.html'}")


# --- stacgen imagery ------------------------------------------------------------------------
@main.group()
def imagery() -> None:
    """The L1C product each label was drawn on: resolve it at the providers, check the links,
    fetch its bands into the catalog."""


def _csv(value: str | None) -> tuple[str, ...] | None:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else None


@imagery.command("fetch")
@click.argument("catalog", type=PathArg, default=config.CATALOG_DIR)
@click.option("--provider", "provider_name", required=True, help="safe, gcs, earth-search, cdse.")
@click.option("--safe-dir", type=PathArg, help="Where the SAFE folders or zips are (safe).")
@click.option("--bands", default="all", show_default=True, help="B01,B02,... or all.")
@click.option("--grid", type=click.Choice(["label", "native"]), default="label", show_default=True)
@click.option("--items", "items", help="Only these label items (comma-separated ids).")
@click.option("--split", help="Only the items of this ml-aoi:split (train, validation, test).")
@click.option("--workers", type=click.IntRange(min=1), default=config.workers())
@click.option(
    "--dry-run", is_flag=True, help="Say what would be fetched, from where; fetch nothing."
)
@click.option("--schemas", type=PathArg, help="STAC schema mirror [env STACGEN_SCHEMAS].")
@click.option("--no-validate", is_flag=True, help="Do not validate before swapping in.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def imagery_fetch(
    catalog: Path,
    provider_name: str,
    safe_dir: Path | None,
    bands: str,
    grid: str,
    items: str | None,
    split: str | None,
    workers: int,
    dry_run: bool,
    schemas: Path | None,
    no_validate: bool,
    quiet: bool,
) -> None:
    """Fetch each label item's L1C bands into the catalog's alcd-l1c collection."""
    from stacgen.imagery.fetch import FetchOptions, fetch
    from stacgen.imagery.providers import Settings
    from stacgen.layout.imagery import parse_bands

    if items and split:
        _fail("--items and --split: choose one")
    try:
        chosen = parse_bands(bands)
    except ValueError as err:
        _fail(f"--bands: {err}")
    options = FetchOptions(
        catalog=catalog,
        provider=provider_name,
        settings=Settings(safe_dir=safe_dir),
        bands=chosen,
        grid="native" if grid == "native" else "label",
        items=_csv(items),
        split=split,
        workers=workers,
        dry_run=dry_run,
        schemas=None if no_validate else config.schemas_dir(schemas),
    )
    with tqdm(desc="bands", unit="band", disable=dry_run or not _show_progress(quiet)) as bar:
        report = fetch(options, on_band=lambda *_: _tick(bar))
    for line in report.lines:
        click.echo(line)
    if not dry_run:
        click.echo(
            f"{catalog}: {report.selected} item(s): {len(report.fetched)} fetched, "
            f"{len(report.resumed)} resumed, {len(report.up_to_date)} up to date, "
            f"{report.seconds:.1f} s"
        )


@main.group()
def masks() -> None:
    """Processors' masks for the catalog's items: detectors run here, Sen2Cor's fetched."""


@masks.command("detect")
@click.argument("detector", type=click.Choice(["s2cloudless", "ukis-csmask"]))
@click.argument("catalog", type=PathArg, default=config.CATALOG_DIR)
@click.option("--items", help="Comma-separated item ids (default: every item with imagery).")
@click.option("--split", type=click.Choice(["train", "validate", "test"]), help="An ml-aoi split.")
@click.option("--out", type=PathArg, help="The mask folder [default: masks/DETECTOR].")
@click.option("--resolution", type=int, help="Metres: 60 or coarser (s2cloudless), 30 (ukis).")
@click.option("--threshold", type=float, help="s2cloudless: cloud if probability > this [0.4].")
@click.option("--average-over", type=click.IntRange(min=0), help="s2cloudless: disk radius [1].")
@click.option("--dilation-size", type=click.IntRange(min=0), help="s2cloudless: disk radius [1].")
@click.option("--tile-size", type=click.IntRange(min=1), help="ukis-csmask: core tile, px [1020].")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def masks_detect(
    detector: str,
    catalog: Path,
    items: str | None,
    split: str | None,
    out: Path | None,
    quiet: bool,
    **options: Any,
) -> None:
    """Run DETECTOR on the fetched L1C of each item of CATALOG; one mask COG per item."""
    from stacgen.masks.detect import detect
    from stacgen.masks.scenes import select

    ids = [i.strip() for i in items.split(",") if i.strip()] if items else None
    target = out or Path("masks") / detector
    total = len(select(catalog, ids, split))
    with tqdm(total=total, desc=detector, unit="item", disable=not _show_progress(quiet)) as bar:
        run = detect(
            detector,
            catalog,
            target,
            items=ids,
            split=split,
            options=options,
            on_item=lambda _: _tick(bar),
        )
    for written in run.masks:
        shown = ", ".join(f"{k} {v}" for k, v in written.pixels.items())
        click.echo(f"{written.path}  ({shown})")
    click.echo(
        f"{len(run.masks)} mask(s) in {run.out}; score: stacgen score {target} --codes {run.codes}"
    )


@masks.command("fetch")
@click.argument("processor", type=click.Choice(["sen2cor"]))
@click.argument("catalog", type=PathArg, default=config.CATALOG_DIR)
@click.option(
    "--provider", required=True, type=click.Choice(["earth-search", "planetary-computer"])
)
@click.option("--items", help="Comma-separated item ids (default: every label item).")
@click.option("--split", type=click.Choice(["train", "validate", "test"]), help="An ml-aoi split.")
@click.option("--out", type=PathArg, help="The mask folder [default: masks/sen2cor].")
@click.option("--api", help="Another STAC API root than the provider's (a mirror).")
@click.option("--sas", help="Another SAS token endpoint (planetary-computer).")
@click.option("--timeout", type=click.FloatRange(min=1), default=30.0, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def masks_fetch(
    processor: str,
    catalog: Path,
    provider: str,
    items: str | None,
    split: str | None,
    out: Path | None,
    api: str | None,
    sas: str | None,
    timeout: float,
    quiet: bool,
) -> None:
    """Fetch PROCESSOR's masks (Sen2Cor's SCL) of each item of CATALOG from a provider's L2A."""
    from stacgen.masks.l2a import Settings
    from stacgen.masks.scenes import select
    from stacgen.masks.sen2cor import fetch, summary

    ids = [i.strip() for i in items.split(",") if i.strip()] if items else None
    target = out or Path("masks") / processor
    total = len(select(catalog, ids, split, need_imagery=False))
    settings = Settings(api=api, sas=sas, timeout=timeout)
    with tqdm(total=total, desc=processor, unit="item", disable=not _show_progress(quiet)) as bar:
        run = fetch(
            provider,
            catalog,
            target,
            items=ids,
            split=split,
            settings=settings,
            on_item=lambda _: _tick(bar),
        )
    for line in summary(run):
        click.echo(line)
    click.echo(
        f"{len(run.masks)} mask(s) in {run.out}; score: stacgen score {target} --codes sen2cor"
    )


@main.group()
def chips() -> None:
    """Aligned (image, label) chips of a split, for training (stacgen.ml.Chips)."""


@chips.command("export")
@click.argument("catalog", required=False, default=str(config.CATALOG_DIR), type=PathArg)
@click.option("--split", type=click.Choice(["train", "validate", "test"]), required=True)
@click.option("--grid", type=click.Choice(["60", "20", "10"]), required=True, help="Metres.")
@click.option("--size", type=click.IntRange(min=1), required=True, help="Chip side, pixels.")
@click.option("--stride", type=click.IntRange(min=1), help="Pixels between chips [--size].")
@click.option(
    "--classes",
    type=click.Choice(["alcd", "binary", "cloud-shadow-clear", "cloudsen12"]),
    default="alcd",
    show_default=True,
)
@click.option("--bands", help="Comma-separated bands [those every item of the split has].")
@click.option("--min-valid", type=click.FloatRange(0, 1), default=0.5, show_default=True)
@click.option(
    "--format", "fmt", type=click.Choice(["tif", "npz"]), default="tif", show_default=True
)
@click.option("--out", required=True, type=PathArg, help="The folder to write.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def chips_export(
    catalog: Path,
    split: str,
    grid: str,
    size: int,
    stride: int | None,
    classes: str,
    bands: str | None,
    min_valid: float,
    fmt: str,
    out: Path,
    quiet: bool,
) -> None:
    """Write the chips of a split and their GeoParquet index (index.parquet) to --out."""
    from stacgen.ml.export import ExportOptions, plan_export, write_export

    chosen = tuple(b.strip() for b in bands.split(",") if b.strip()) if bands else None
    options = ExportOptions(
        split=split,
        grid=int(grid),
        size=size,
        stride=stride,
        classes=classes,
        format="npz" if fmt == "npz" else "tif",
        bands=chosen,
        min_valid=min_valid,
    )
    plan = plan_export(catalog, out, options)
    with tqdm(
        total=plan.total, desc="chips", unit="chip", disable=not _show_progress(quiet)
    ) as bar:
        result = write_export(plan, on_chip=lambda _: _tick(bar))
    state = "written" if result.written else "up to date, nothing written"
    click.echo(f"{result.chips} chips in {result.out} ({state}); index: {result.index}")


# --- stacgen imagery resolve / check -----------------------------------------------------------


def _endpoints(pairs: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for pair in pairs:
        name, sep, url = pair.partition("=")
        if not sep or not name or not url.startswith(("http://", "https://")):
            _fail(f"--endpoint: {pair!r} is not NAME=URL (an http(s) URL)")
        found[name] = url.rstrip("/")
    return found


endpoint_option = click.option(
    "--endpoint",
    "endpoints",
    multiple=True,
    metavar="NAME=URL",
    help="Another base URL for a provider (a mirror, a test's fake); `<name>-s3` for an S3 "
    "endpoint (earth-search-s3, cdse-s3). Repeatable.",
)
timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Connect and read bound of every request, in seconds.",
)


@imagery.command("resolve")
@click.argument("catalog", type=PathArg, default=config.CATALOG_DIR)
@click.option(
    "--provider",
    "providers",
    multiple=True,
    type=click.Choice(LINK_PROVIDERS),
    help="Ask this provider (repeatable) [default: all of them].",
)
@endpoint_option
@timeout_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
def imagery_resolve(
    catalog: Path,
    providers: tuple[str, ...],
    endpoints: tuple[str, ...],
    timeout: float,
    quiet: bool,
) -> None:
    """Find each label item's L1C product at each provider; write the resolution file.

    The next `stacgen build` into CATALOG links every item to what was found.
    """
    from stacgen.imagery.providers import Settings
    from stacgen.imagery.resolve import resolve_catalog

    settings = Settings(endpoints=_endpoints(endpoints), timeout=timeout)
    with tqdm(desc="lookups", unit="lookup", disable=not _show_progress(quiet)) as bar:
        report = resolve_catalog(
            catalog, providers or LINK_PROVIDERS, settings, on_lookup=lambda *_: _tick(bar)
        )
    for problem in report.problems:
        click.echo(printable(problem), err=True)
    kinds = [r.kind for entries in report.resolved.values() for r in entries]
    click.echo(
        f"{report.path}: {len(report.resolved)} of {report.items} items resolved "
        f"({kinds.count('original')} original, {kinds.count('reprocessed')} reprocessed)"
    )
    if report.problems:
        _fail(f"{len(report.problems)} problem(s); what was found is in {report.path}")


@imagery.command("check")
@click.argument("catalog", type=PathArg, default=config.CATALOG_DIR)
@timeout_option
def imagery_check(catalog: Path, timeout: float) -> None:
    """Whether each label item's provider links (rel=source) answer, per item and provider."""
    from stacgen.imagery.resolve import check_catalog

    checks = check_catalog(catalog, timeout)
    for check in checks:
        click.echo(printable(str(check)))
    failed = [c for c in checks if not c.ok]
    if failed:
        _fail(f"{len(failed)} of {len(checks)} provider links do not answer")
    click.echo(f"{catalog}: all {len(checks)} provider links answer")
