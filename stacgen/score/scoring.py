"""Scoring masks: the typed results and the functions the CLI and Python users call.

`score_mask` scores one mask against one reference item; `score_masks` finds each mask's
reference in a catalog first (so that a bad input fails before any work), then scores them,
in parallel when asked (a pool whose workers end with this process); a mask that cannot be
scored gets its row with the reason, and the others are scored.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeAlias

import pystac
import rasterio
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning, RasterioError, RasterioIOError
from rasterio.windows import Window

from stacgen.processes import forkserver_pool
from stacgen.raster.grid import Grid
from stacgen.score.bounded import first_line
from stacgen.score.codes import Class1, CodeTable, Groups, alcd_table, load_codes
from stacgen.score.decoding import (
    Decoder,
    TableDecoder,
    ThresholdDecoder,
    Unlisted,
    unlisted_counts,
)
from stacgen.score.errors import ScoreError
from stacgen.score.metrics import Comparison, Pooled, Tally, compare, pool
from stacgen.score.presets import preset
from stacgen.score.reference import (
    Match,
    StacItem,
    find_reference,
    load_json,
    mask_facts,
    open_catalog,
    read_window,
)
from stacgen.score.resample import dilate, to_reference
from stacgen.score.rules import Method

log = logging.getLogger(__name__)
# A path, or an open rasterio dataset (rasterio is untyped: Any).
MaskInput: TypeAlias = str | Path | Any


@dataclass(frozen=True)
class ScoreOptions:
    """Every rule that changes a score; all of them are recorded in scores.json."""

    resampling: Method = "majority"
    class_1: Class1 = "ignore"
    dilate_cloud: int = 0
    dilate_shadow: int = 0
    band: int | None = None
    threshold: float | None = None
    # A processor's assessment dilation by name (presets.PRESETS): sets the two above.
    dilate_preset: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def resolved(self) -> ScoreOptions:
        """These options with a preset's dilation in cells; a preset beside an explicit
        dilation is one line."""
        if self.dilate_preset is None:
            return self
        chosen = preset(self.dilate_preset)
        cloud, shadow = chosen.cells()
        if (self.dilate_cloud, self.dilate_shadow) == (cloud, shadow):
            return self  # resolved already
        if self.dilate_cloud or self.dilate_shadow:
            raise ScoreError(
                f"--dilate-preset {chosen.name} sets the dilation: "
                "give it or --dilate-cloud/--dilate-shadow, not both"
            )
        return replace(self, dilate_cloud=cloud, dilate_shadow=shadow)


@dataclass(frozen=True)
class ItemRef:
    """The reference a mask was scored against."""

    id: str
    href: str
    asset_href: str
    matched_by: str


@dataclass(frozen=True)
class MaskScore:
    """One mask's result: its reference, the joint counts and the three comparisons."""

    mask: str
    codes: str
    item: ItemRef
    joint: list[list[int]]
    comparisons: dict[str, Comparison]
    # The reference window the scores were computed on, and its (row, col) in the reference.
    grid: Grid
    offset: tuple[int, int]
    # Per reference pixel, reference group * 4 + mask group (metrics.Tally.pairs): any
    # comparison's agreement picture (metrics.agreement); None once written out.
    pairs: Groups | None = field(default=None, repr=False)


def _open(mask: MaskInput) -> Any:
    if isinstance(mask, rasterio.io.DatasetReader):

        @contextmanager
        def given() -> Iterator[rasterio.io.DatasetReader]:
            yield mask

        return given()
    try:
        with warnings.catch_warnings():
            # check_mask reports a mask without georeferencing as a one-line error.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(mask)
    except RasterioIOError as err:
        raise ScoreError(f"mask {mask}: not a readable raster ({first_line(err)})") from None


def check_mask(ds: rasterio.io.DatasetReader, options: ScoreOptions) -> int:
    """The band to read; a mask that cannot be placed on a map is a ScoreError."""
    where = f"mask {ds.name}"
    if ds.crs is None:
        raise ScoreError(f"{where}: has no CRS")
    if not (ds.crs.is_geographic or ds.crs.is_projected):
        # An engineering (local) CRS names no place on Earth: no reference can be found for it.
        raise ScoreError(f"{where}: its CRS is neither geographic nor projected (a local one)")
    if ds.transform == Affine.identity():
        raise ScoreError(f"{where}: has no geotransform")
    if options.band is None:
        if ds.count > 1:
            raise ScoreError(f"{where}: has {ds.count} bands; choose one with --band")
        return 1
    if not 1 <= options.band <= ds.count:
        raise ScoreError(f"{where}: --band {options.band} but the mask has {ds.count} band(s)")
    return options.band


def decoder(
    table: CodeTable, options: ScoreOptions, where: str, nodata: float | None = None
) -> Decoder:
    """The mask's decoder: its code table, or s2cloudless probabilities over `--threshold`."""
    if options.threshold is not None:
        if not table.probability:
            raise ScoreError(f"--threshold applies to s2cloudless probabilities, not {table.name}")
        return ThresholdDecoder(options.threshold, where, nodata)
    return TableDecoder(table, where, nodata)


def _unlisted_line(ds: rasterio.io.DatasetReader, band: int, decode: Decoder) -> str:
    """The values `decode` cannot place, counted over the whole mask (not the first block)."""

    def rows(start: int, stop: int) -> Any:
        return ds.read(band, window=Window(0, start, ds.width, stop - start))

    found, counts = unlisted_counts(decode, rows, ds.height)
    return decode.problem(found, counts)


def _item_ref(item: pystac.Item | StacItem | str, matched_by: str) -> ItemRef:
    if isinstance(item, pystac.Item):
        asset = item.assets.get("classification")
        if asset is None:
            raise ScoreError(f"item {item.id} has no 'classification' asset")
        return ItemRef(
            item.id, item.get_self_href() or "", asset.get_absolute_href() or "", matched_by
        )
    if isinstance(item, str):
        item = StacItem(load_json(item), item)
    return ItemRef(item.id, item.href, item.asset_href, matched_by)


def score_mask(
    mask: MaskInput,
    codes: CodeTable | str | Path,
    item: pystac.Item | StacItem | str,
    options: ScoreOptions | None = None,
    *,
    matched_by: str = "given",
) -> MaskScore:
    """Score one mask (a path or an open rasterio dataset) against one reference item.

    `codes` is a CodeTable, a built-in table's name or a JSON code file; `item` a pystac Item,
    or the href (path or URL) of an item JSON.
    """
    options = (options or ScoreOptions()).resolved()
    table = codes if isinstance(codes, CodeTable) else load_codes(codes, options.class_1)
    ref_item = _item_ref(item, matched_by)
    with _open(mask) as ds:
        name = str(mask if not isinstance(mask, rasterio.io.DatasetReader) else ds.name)
        where = f"mask {name}"
        band = check_mask(ds, options)
        decode = decoder(table, options, where, ds.nodatavals[band - 1])
        window = read_window(ref_item.asset_href, ds.crs, tuple(ds.bounds), where)
        decode_reference = TableDecoder(alcd_table(options.class_1), f"reference {ref_item.id}")
        dilating = bool(options.dilate_cloud or options.dilate_shadow)
        # Without dilation, each band of rows is tallied as soon as it is resampled.
        counted = Tally(window.values, decode_reference)
        on_rows = None if dilating else counted.add
        try:
            user = to_reference(ds, band, decode, window.grid, options.resampling, on_rows)
        except Unlisted:
            raise ScoreError(_unlisted_line(ds, band, decode)) from None
        except RasterioError as err:
            raise ScoreError(f"{where}: cannot be read ({first_line(err)})") from None
    if dilating:
        counted.add(0, user.shape[0], dilate(user, options.dilate_cloud, options.dilate_shadow))
    comparisons = compare(counted.joint, table.has_shadow)
    if comparisons["invalid"].confusion.n == 0:
        raise ScoreError(
            f"{where}: no pixel left to compare with {ref_item.id} once no data is removed"
        )
    joint = counted.joint.tolist()
    return MaskScore(
        name,
        table.name,
        ref_item,
        joint,
        comparisons,
        window.grid,
        window.offset,
        counted.pairs,
    )


@dataclass(frozen=True)
class Unscored:
    """A mask of a batch that could not be scored (all of it over reference no data, values
    its table does not list...): its row says why, and the other masks are scored."""

    mask: str
    item: ItemRef
    reason: str


@dataclass(frozen=True)
class ScoreRun:
    """A batch: its inputs and options, each mask's score, the pooled figures (over the masks
    scored), and the masks that could not be scored with the reason."""

    catalog: str
    codes: CodeTable
    options: ScoreOptions
    scores: list[MaskScore]
    pooled: Pooled
    unscored: list[Unscored] = field(default_factory=list)


def match_masks(
    masks: Sequence[str],
    catalog: str | Path,
    item_id: str | None = None,
    options: ScoreOptions | None = None,
) -> list[Match]:
    """Each mask checked and its reference item found, all before any scoring starts."""
    source = open_catalog(catalog)
    matches = []
    for mask in masks:
        with _open(mask) as ds:
            check_mask(ds, options or ScoreOptions())
            facts = mask_facts(mask, ds)
        matches.append(find_reference(source, facts, item_id))
    return matches


def _score_task(
    mask: str, table: CodeTable, item: StacItem, options: ScoreOptions, matched_by: str
) -> MaskScore | Unscored:
    """One mask of a batch: its score, or why it has none (the batch goes on)."""
    try:
        return score_mask(mask, table, item, options, matched_by=matched_by)
    except ScoreError as err:
        return Unscored(mask, _item_ref(item, matched_by), str(err))


def _results(args: list[tuple[Any, ...]], workers: int) -> Iterator[MaskScore | Unscored]:
    """Each mask's result in order: here, or in a pool whose workers end with this process."""
    if workers <= 1 or len(args) == 1:
        for a in args:
            yield _score_task(*a)
        return
    with forkserver_pool(workers) as ex:
        yield from ex.map(_score_task, *zip(*args, strict=True))


def _none_scored(unscored: list[Unscored]) -> ScoreError:
    if len(unscored) == 1:
        return ScoreError(unscored[0].reason)
    return ScoreError(
        f"no mask could be scored: {unscored[0].reason} (and {len(unscored) - 1} more)"
    )


def score_masks(
    masks: Sequence[str | Path],
    codes: CodeTable | str | Path,
    catalog: str | Path = "catalog/catalog.json",
    *,
    item_id: str | None = None,
    options: ScoreOptions | None = None,
    workers: int = 1,
    on_done: Callable[[MaskScore], None] | None = None,
    keep_agreement: bool = True,
) -> ScoreRun:
    """Score several masks against the references found in `catalog` (path, URL or API root).

    `on_done` sees each result as it arrives, agreement array included; with
    `keep_agreement=False` the run keeps the scores without it, so memory stays flat however
    many masks there are (the CLI writes each mask's pictures in `on_done`).
    """
    options = (options or ScoreOptions()).resolved()
    if not masks:
        raise ScoreError("no mask given")
    table = codes if isinstance(codes, CodeTable) else load_codes(codes, options.class_1)
    paths = [str(m) for m in masks]
    for path in paths:
        if not Path(path).is_file():
            raise ScoreError(f"mask {path}: no such file")
    decoder(table, options, "")  # a --threshold that does not apply fails here, once
    matches = match_masks(paths, catalog, item_id, options)
    args = [(p, table, m.item, options, m.matched_by) for p, m in zip(paths, matches, strict=True)]
    scores: list[MaskScore] = []
    unscored: list[Unscored] = []

    def done(score: MaskScore | Unscored) -> None:
        if isinstance(score, Unscored):
            unscored.append(score)
            return
        if on_done:
            on_done(score)
        scores.append(score if keep_agreement else replace(score, pairs=None))

    for result in _results(args, workers):
        done(result)
    if not scores:
        raise _none_scored(unscored)
    pooled = pool([s.comparisons for s in scores])
    return ScoreRun(str(catalog), table, options, scores, pooled, unscored)
