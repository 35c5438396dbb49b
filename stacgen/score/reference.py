"""Finding a mask's reference item in a catalog, and reading only the window the mask covers.

A catalog is a catalog.json path (or its folder), a static catalog URL, or a STAC API root,
read with pystac-client (a static catalog walked by pystac, an API paged through its /search)
over `bounded.BoundedIO`: every document's size, shape and wait bounded, and the whole lookup
too. The reference is found by `--item`, else by an L1C product name in the mask's file name,
else by its `T<tile>` and date, else by the item whose footprint overlaps the mask on the same
date. Over HTTP the reference COG is read through GDAL's /vsicurl/, that is by byte ranges,
each request bounded in time.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import numpy as np
import pystac
import rasterio
import rasterio.warp
import rasterio.windows
from pystac_client import Client
from pystac_client.conformance import ConformanceClasses
from pystac_client.errors import ClientTypeError
from pystac_client.exceptions import APIError
from pystac_client.warnings import PystacClientWarning
from rasterio.crs import CRS

from stacgen.raster.grid import Grid
from stacgen.score.bounded import MAX_ITEMS, BoundedIO, first_line
from stacgen.score.errors import ScoreError
from stacgen.source import naming

if TYPE_CHECKING:
    import shapely

log = logging.getLogger(__name__)

ASSET_KEY = "classification"
# Tags some processors write with the acquisition date (GDAL metadata domain "").
DATE_TAGS = ("ACQUISITION_DATE", "SENSING_TIME", "DATATAKE_SENSING_START", "DATE_ACQUIRED")
# Every HTTP wait has a bound (seconds): connecting, then each answer whole (GDAL's
# GDAL_HTTP_TIMEOUT is curl's total time per request, so a server dripping bytes is cut too).
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 30
RETRIES = 2
RETRY_DELAY = 1


def gdal_http_env() -> dict[str, Any]:
    """/vsicurl/ reads of the reference: no directory listing, no sidecar probing, and every
    request bounded in time (read when called, so that the tests may lower the bounds)."""
    return {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff",
        "GDAL_HTTP_CONNECTTIMEOUT": CONNECT_TIMEOUT,
        "GDAL_HTTP_TIMEOUT": READ_TIMEOUT,
        "GDAL_HTTP_MAX_RETRY": RETRIES,
        "GDAL_HTTP_RETRY_DELAY": RETRY_DELAY,
    }


def is_url(href: str) -> bool:
    return href.startswith(("http://", "https://"))


def join(base: str, href: str) -> str:
    """`href` resolved against the document at `base` (a URL or a local path)."""
    if is_url(href) or os.path.isabs(href):
        return href
    if is_url(base):
        return urljoin(base, href)
    return os.path.normpath(os.path.join(os.path.dirname(base), href))


@dataclass(frozen=True)
class StacItem:
    """One item JSON and where it was read from."""

    doc: dict[str, Any]
    href: str

    @property
    def id(self) -> str:
        return str(self.doc.get("id"))

    @property
    def _properties(self) -> dict[str, Any]:
        props = self.doc.get("properties")
        return props if isinstance(props, dict) else {}

    @property
    def day(self) -> date | None:
        value = self._properties.get("datetime")
        try:
            return date.fromisoformat(value[:10]) if isinstance(value, str) else None
        except ValueError:
            return None

    @property
    def tile(self) -> str | None:
        props = self._properties
        try:
            if "mgrs:utm_zone" in props:
                zone = int(props["mgrs:utm_zone"])
                return f"{zone:02d}{props['mgrs:latitude_band']}{props['mgrs:grid_square']}"
            tile = props.get("alcd:parameters", {}).get("tile")
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        return str(tile) if tile else None

    @cached_property
    def footprint(self) -> shapely.Geometry:
        # shapely here, not at the top: only matching by footprint needs it (start-up time).
        import shapely.errors
        import shapely.geometry

        try:
            return shapely.geometry.shape(self.doc["geometry"])
        except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.ShapelyError):
            raise ScoreError(f"item {self.id} ({self.href}): malformed geometry") from None

    @property
    def asset_href(self) -> str:
        assets = self.doc.get("assets")
        asset = assets.get(ASSET_KEY) if isinstance(assets, dict) else None
        href = asset.get("href") if isinstance(asset, dict) else None
        if not isinstance(href, str):
            raise ScoreError(f"item {self.id} ({self.href}) has no {ASSET_KEY!r} asset")
        return join(self.href, href)


class Source:
    """Where items come from; subclasses answer by id and by date (and bounding box)."""

    def __init__(self, spec: str, client: Client) -> None:
        self.spec, self.client = spec, client

    def by_ids(self, ids: Sequence[str]) -> list[StacItem]:
        raise NotImplementedError

    def on_day(self, day: date, bbox: tuple[float, float, float, float]) -> list[StacItem]:
        raise NotImplementedError


class StaticCatalog(Source):
    """A static catalog: every item, found by pystac walking child and item links once (within
    the bounds of the catalog's BoundedIO)."""

    @cached_property
    def items(self) -> list[StacItem]:
        found: list[StacItem] = []
        with _stac_errors(self.spec):
            for item in pystac.Catalog.get_items(self.client, recursive=True):
                if len(found) >= MAX_ITEMS:
                    raise ScoreError(f"{self.spec}: more than {MAX_ITEMS} items: not read")
                href = item.get_self_href() or self.spec
                found.append(StacItem(item.to_dict(transform_hrefs=False), href))
        return found

    def by_ids(self, ids: Sequence[str]) -> list[StacItem]:
        return [i for i in self.items if i.id in ids]

    def on_day(self, day: date, bbox: tuple[float, float, float, float]) -> list[StacItem]:
        return [i for i in self.items if i.day == day]


class ApiCatalog(Source):
    """A STAC API: items come from its /search endpoint (pystac-client's paging, GET)."""

    def _search(self, **params: Any) -> list[StacItem]:
        items: list[StacItem] = []
        with _stac_errors(self.spec):
            search = self.client.search(method="GET", max_items=MAX_ITEMS, limit=100, **params)
            for feature in search.items_as_dicts():
                self_href = next(
                    (lk["href"] for lk in feature.get("links", []) if lk.get("rel") == "self"),
                    search.url,
                )
                items.append(StacItem(feature, self_href))
        return items

    def by_ids(self, ids: Sequence[str]) -> list[StacItem]:
        return self._search(ids=list(ids)) if ids else []

    def on_day(self, day: date, bbox: tuple[float, float, float, float]) -> list[StacItem]:
        span = f"{day.isoformat()}T00:00:00Z/{day.isoformat()}T23:59:59.999Z"
        return self._search(datetime=span, bbox=[round(v, 6) for v in bbox])


@contextmanager
def _stac_errors(spec: str) -> Iterator[None]:
    """pystac's and pystac-client's failures on a document they cannot use, as one line.

    BoundedIO has checked each document's shape already; what is left is a STAC object
    pystac cannot build (a wrong type, a missing field).
    """
    try:
        with warnings.catch_warnings():
            # A static catalog has no conformance classes: the fallback to pystac is the plan.
            warnings.simplefilter("ignore", PystacClientWarning)
            yield
    except ScoreError:
        raise
    except pystac.STACError as err:
        # pystac wraps a link it could not resolve; the reader's own line says why.
        raise _cause(err) or _unreadable(spec, err) from None
    except (
        APIError,
        ClientTypeError,
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
    ) as err:
        raise _unreadable(spec, err) from None


def _cause(err: BaseException) -> ScoreError | None:
    seen = err.__cause__ or err.__context__
    while seen is not None and not isinstance(seen, ScoreError):
        seen = seen.__cause__ or seen.__context__
    return seen


def _unreadable(spec: str, err: BaseException) -> ScoreError:
    return ScoreError(
        f"{spec}: not a STAC catalog that can be read ({type(err).__name__}: "
        f"{first_line(err)[:200]})"
    )


def load_json(href: str) -> dict[str, Any]:
    """A JSON object from a path or URL, within BoundedIO's bounds; any failure is one line."""
    return BoundedIO().read_json(href)


def open_catalog(spec: str | Path) -> Source:
    """A catalog.json path or folder, a static catalog URL, or a STAC API root."""
    href = str(spec)
    if not is_url(href):
        path = Path(href)
        path = path / "catalog.json" if path.is_dir() else path
        if not path.is_file():
            raise ScoreError(f"--catalog {spec}: no such catalog.json")
        href = str(path.resolve())
    with _stac_errors(href):
        client = Client.from_file(href, stac_io=BoundedIO())
        api = client.conforms_to(ConformanceClasses.ITEM_SEARCH) and client.get_single_link(
            "search"
        )
    return ApiCatalog(href, client) if api else StaticCatalog(href, client)


# --- matching ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class MaskFacts:
    """What matching needs to know of a mask: its name, footprint and date."""

    name: str
    bounds_lonlat: tuple[float, float, float, float]
    day: date | None


def mask_facts(path: str, ds: rasterio.io.DatasetReader) -> MaskFacts:
    west, south, east, north = rasterio.warp.transform_bounds(
        ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21
    )
    name = Path(path).name
    day = name_date(name) or _tag_date(ds.tags())
    return MaskFacts(name, (west, south, east, north), day)


def name_date(text: str) -> date | None:
    for year, month, day_of_month in naming.dates_in(text):
        try:
            day = date(year, month, day_of_month)
        except ValueError:
            continue
        if 2015 <= day.year <= 2100:
            return day
    return None


def _tag_date(tags: Mapping[str, str]) -> date | None:
    for key in DATE_TAGS:
        if key in tags and (day := name_date(tags[key])):
            return day
    return None


@dataclass(frozen=True)
class Match:
    item: StacItem
    matched_by: str


def find_reference(source: Source, facts: MaskFacts, item_id: str | None = None) -> Match:
    """The one item a mask is scored against; none or several is a one-line ScoreError."""
    where = f"mask {facts.name}"
    if item_id is not None:
        found = source.by_ids([item_id])
        if not found:
            raise ScoreError(f"{where}: --item {item_id} is not in {source.spec}")
        return Match(_one(found, where, f"--item {item_id}"), "--item")
    tried = []
    names = naming.product_names_in(facts.name)
    if names:
        tried.append(f"product name {', '.join(names)}")
        found = source.by_ids(names)
        if found:
            return Match(_one(found, where, "the product name"), "product name")
    tile = naming.tile_in(facts.name)
    if tile and facts.day:
        tried.append(f"tile T{tile} on {facts.day}")
        bbox = facts.bounds_lonlat
        found = [i for i in source.on_day(facts.day, bbox) if i.tile == tile]
        if found:
            return Match(_one(found, where, f"T{tile} on {facts.day}"), "tile and date")
    if facts.day is None:
        tried.append("no acquisition date in the name or tags to search by footprint")
        raise ScoreError(f"{where}: no reference item found in {source.spec} ({'; '.join(tried)})")
    return Match(_by_footprint(source, facts, where, tried), "footprint and date")


def _by_footprint(source: Source, facts: MaskFacts, where: str, tried: list[str]) -> StacItem:
    assert facts.day is not None
    on_day = source.on_day(facts.day, facts.bounds_lonlat)
    if not on_day:
        tried.append(f"no item dated {facts.day}")
        raise ScoreError(f"{where}: no reference item found in {source.spec} ({'; '.join(tried)})")
    import shapely

    box = shapely.box(*facts.bounds_lonlat)
    shares = {i.href: box.intersection(i.footprint).area / box.area for i in on_day}
    overlapping = [i for i in on_day if shares[i.href] > 0]
    if not overlapping:
        ids = ", ".join(i.id for i in on_day)
        raise ScoreError(f"{where}: overlaps no reference item dated {facts.day} (tried {ids})")
    # Neighbouring tiles overlap by ~10 km: an item covering most of the mask wins over those.
    mostly = [i for i in overlapping if shares[i.href] >= 0.5] or overlapping
    return _one(mostly, where, f"footprint on {facts.day}")


def _one(found: list[StacItem], where: str, how: str) -> StacItem:
    unique = {i.id: i for i in found}
    if len(unique) > 1:
        raise ScoreError(f"{where}: several items match {how}: {', '.join(sorted(unique))}")
    return next(iter(unique.values()))


# --- reading the window -----------------------------------------------------------------------
@dataclass(frozen=True)
class RefWindow:
    """The reference's classes inside the mask's footprint, their grid, and where that grid's
    first pixel sits in the reference (row, col)."""

    values: np.ndarray[Any, np.dtype[np.uint8]]
    grid: Grid
    offset: tuple[int, int]


def open_reference(href: str) -> rasterio.io.DatasetReader:
    try:
        return rasterio.open(href)
    except rasterio.errors.RasterioIOError as err:
        raise ScoreError(f"reference {href}: cannot be read ({first_line(err)})") from None


def _outward(w: rasterio.windows.Window) -> rasterio.windows.Window:
    """Whole pixels covering `w` (a hair of float noise does not add a row)."""
    eps = 1e-6
    col0, row0 = math.floor(w.col_off + eps), math.floor(w.row_off + eps)
    col1 = math.ceil(w.col_off + w.width - eps)
    row1 = math.ceil(w.row_off + w.height - eps)
    return rasterio.windows.Window(col0, row0, col1 - col0, row1 - row0)


def read_window(
    href: str, mask_crs: CRS, mask_bounds: tuple[float, float, float, float], where: str
) -> RefWindow:
    """The reference pixels the mask's bounds touch; only those blocks are read."""
    with rasterio.Env(**gdal_http_env()), open_reference(href) as ref:
        bounds = rasterio.warp.transform_bounds(mask_crs, ref.crs, *mask_bounds, densify_pts=21)
        window = _outward(rasterio.windows.from_bounds(*bounds, transform=ref.transform))
        full = rasterio.windows.Window(0, 0, ref.width, ref.height)
        try:
            window = window.intersection(full)
        except rasterio.errors.WindowError:
            window = None
        if window is None or window.width < 1 or window.height < 1:
            raise ScoreError(f"{where}: does not overlap the reference {href}")
        try:
            values = ref.read(1, window=window)
        except rasterio.errors.RasterioError as err:
            raise ScoreError(f"reference {href}: cannot be read ({first_line(err)})") from None
        return RefWindow(
            values, Grid.of(ref).window(window), (int(window.row_off), int(window.col_off))
        )


def iter_masks(paths: Sequence[str | Path]) -> Iterator[str]:
    """Mask paths as given, folders expanded to their *.tif / *.tiff files (sorted)."""
    for p in paths:
        path = Path(p)
        if path.is_dir():
            yield from sorted(
                str(f) for f in path.iterdir() if f.suffix.lower() in (".tif", ".tiff")
            )
        else:
            yield str(p)
