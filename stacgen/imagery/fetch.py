"""`stacgen imagery fetch`: the L1C bands of each label item into the catalog's `alcd-l1c`.

The orchestrator: it holds the build's lock on the catalog (no build and no other fetch writes
it meanwhile), asks the provider where each product is, skips the items whose inputs did not
change, fetches the others item by item (bands in parallel) into a work folder beside the
catalog, and swaps in a staged catalog holding them (`swap`). A fetch killed at any point
leaves the catalog as it was; the items it finished stay in the work folder and the next run
takes them instead of fetching them again. Memory is one strip per worker and GDAL's block
cache held to a few tile rows per worker (worker.decode_cache), whatever the number of
products.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from stacgen.assemble.staging import output_lock
from stacgen.errors import OutputError, StacgenError
from stacgen.fileutil import recover_swap
from stacgen.imagery import swap
from stacgen.imagery.located import ImageryError, Provider
from stacgen.imagery.plan import (
    Label,
    Plan,
    dry_run_lines,
    input_key,
    is_intact,
    read_labels,
    select,
)
from stacgen.imagery.providers import Settings, provider
from stacgen.imagery.worker import done_dir, fetch_item
from stacgen.layout import imagery
from stacgen.layout.catalog import STATE_FILE
from stacgen.source.naming import parse_product_name

log = logging.getLogger(__name__)


class FetchError(StacgenError):
    """Items that could not be fetched: one line each (the details), nothing swapped in."""

    def __init__(self, problems: list[str], root: Path) -> None:
        self.details = tuple(problems)
        super().__init__(
            f"fetch failed for {len(problems)} item(s); {root} is untouched "
            "(the items fetched are kept for the next run)"
        )


@dataclass(frozen=True)
class FetchOptions:
    catalog: Path
    provider: str
    settings: Settings = field(default_factory=Settings)
    bands: tuple[imagery.Band, ...] = imagery.BANDS
    grid: imagery.ImageryGrid = "label"
    items: tuple[str, ...] | None = None
    split: str | None = None
    workers: int = 1
    dry_run: bool = False
    schemas: Path | None = None


@dataclass
class FetchReport:
    selected: int = 0
    fetched: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # --dry-run's
    seconds: float = 0.0


Progress = Callable[[str, int], None]  # (what, how many bands done of the item)


def work_root(root: Path) -> Path:
    """Beside the catalog (same filesystem: the swap is a rename); removed after a fetch."""
    return root.with_name(f".{root.name}.stacgen-fetch")


def fetch(options: FetchOptions, on_band: Callable[[str, str], None] | None = None) -> FetchReport:
    """Fetch the imagery of the chosen label items into the catalog (see the module's doc)."""
    started = time.perf_counter()
    root = options.catalog.absolute()
    if not (root / STATE_FILE).is_file():
        raise OutputError(f"{options.catalog}: not a catalog stacgen built (no {STATE_FILE})")
    try:
        with output_lock(root):
            recover_swap(root)
            report = _fetch_locked(options, root, on_band)
    except OSError as err:
        where = err.filename or root
        raise OutputError(f"{where}: {err.strerror or err}; {root} is untouched") from err
    report.seconds = time.perf_counter() - started
    return report


def _fetch_locked(
    options: FetchOptions, root: Path, on_band: Callable[[str, str], None] | None
) -> FetchReport:
    labels = read_labels(root)
    chosen = select(labels, options.items, options.split)
    source = provider(options.provider, options.settings)
    report = FetchReport(selected=len(chosen))
    plans, problems = _plans(source, chosen, options, root)
    if options.dry_run:
        report.lines = dry_run_lines(plans, root) + problems
        return report
    if problems:
        raise FetchError(problems, root)
    work = work_root(root)
    items = work / "items"
    _tidy(items, {p.item_id: p.key for p in plans})
    fetched = _run(plans, items, options, report, on_band)
    if fetched or not _published(root, plans):
        staged = swap.stage(root, work / "catalog", fetched)
        swap.validate(swap.write_collection(staged), options.schemas)
        swap.swap(staged)
    shutil.rmtree(work, ignore_errors=True)
    return report


def _plans(
    source: Provider, chosen: list[Label], options: FetchOptions, root: Path
) -> tuple[list[Plan], list[str]]:
    plans, problems = [], []
    for label in chosen:
        try:
            located = source.locate(label.id, parse_product_name(label.id))
            key = input_key(label, located, options.bands, options.grid)
        except (ImageryError, ValueError) as err:
            problems.append(str(err))
            continue
        up = is_intact(imagery.item_dir(root, label.id), key)
        plans.append(Plan(label, located, options.bands, options.grid, key, up))
    return plans, problems


def _tidy(items: Path, keys: dict[str, str]) -> None:
    """Keep the finished items of a killed run that are still wanted; remove the rest."""
    if not items.is_dir():
        return
    for path in items.iterdir():
        wanted = path.name in keys and is_intact(path, keys[path.name])
        if not wanted:
            shutil.rmtree(path, ignore_errors=True)


def _published(root: Path, plans: list[Plan]) -> bool:
    """Whether the catalog already shows every planned item (nothing to swap in)."""
    return (root / imagery.COLLECTION_ID / "collection.json").is_file() and all(
        imagery.item_json(root, p.item_id).is_file() for p in plans
    )


def _run(
    plans: list[Plan],
    items: Path,
    options: FetchOptions,
    report: FetchReport,
    on_band: Callable[[str, str], None] | None,
) -> dict[str, Path]:
    fetched: dict[str, Path] = {}
    problems = []
    with ThreadPoolExecutor(max_workers=options.workers) as executor:
        for plan in plans:
            if plan.up_to_date:
                report.up_to_date.append(plan.item_id)
                continue
            if is_intact(done_dir(items, plan.item_id), plan.key):
                report.resumed.append(plan.item_id)
                fetched[plan.item_id] = done_dir(items, plan.item_id)
                continue
            tick = (lambda band, i=plan.item_id: on_band(i, band)) if on_band else None
            try:
                fetched[plan.item_id] = fetch_item(
                    plan, items, executor, options.settings.timeout, tick, options.workers
                )
            except ImageryError as err:
                problems.append(str(err))
                continue
            report.fetched.append(plan.item_id)
    if problems:
        raise FetchError(problems, options.catalog)
    return fetched
