"""The embedded backend's columnar index: the items' queryables as numpy arrays, so that a search
over 10,000 items is a few vectorised comparisons, not 10,000 calls into `cql2`.

What the index answers exactly: ids, collections, the datetime interval, the bbox/intersects
area (envelopes first, then shapely on the few whose envelope meets it), and in a CQL2 filter
the comparisons (= <> < <= > >=), `in`, `between` and `isNull` of a property with a literal
(a date-time property with a TIMESTAMP as instants), `and`/`or`/`not` of those, and `sortby`;
S_INTERSECTS and S_DISJOINT where the footprint's envelope is apart from the geometry or in
its interior. The rest of a filter (like, functions, spatial and temporal predicates, arrays,
a property compared with a value of another type) is left to `cql2` (Expr.matches), applied
only to the items whose answer the index does not know.

The index follows `cql2`'s own semantics, which are three-valued: a comparison with a null or
missing property, or with a value of another type, cannot be reduced and is an error, and
`and`/`or`/`not` combine true, false and error as Kleene's logic combines true, false and
unknown (`false and error` is false, `true or error` is true); an item matches when the whole
filter is true. tests/serve/test_index.py compares every answer with Expr.matches.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import cql2
import numpy as np
import numpy.typing as npt
import orjson
import shapely
import shapely.errors

from stacgen.serve.filters import property_name, referenced

Mask = npt.NDArray[np.bool_]
TOP_LEVEL: Final = frozenset({"id", "collection"})
EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
ONE_US: Final = dt.timedelta(microseconds=1)
COMPARE: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "=": np.equal,
    "<>": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}
FLIPPED: Final = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


class _Missing:
    """A property the item does not have (distinct from one it holds as null)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


def compact(raw: bytes) -> bytes:
    """orjson's output copied to its own size: orjson.dumps keeps the buffer it wrote into,
    several times the text (10,000 items of 13 KB took 310 MB, not 130)."""
    return bytes(memoryview(raw))


def microseconds(when: dt.datetime) -> int:
    """An aware datetime as whole microseconds since 1970 (exact: datetimes hold no less)."""
    return (when - EPOCH) // ONE_US


# --- one property's values -----------------------------------------------------------------------
def _kind(value: Any) -> str | None:
    """The kind a column compares a value as: number, string, boolean; None for the rest
    (null, arrays, objects, and values numpy would compare otherwise than cql2)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) and abs(value) > 2**53:
        return None  # no exact float: Python sorts it apart from its neighbours, a float not
    if isinstance(value, int | float):
        return "number" if math.isfinite(value) else None
    if isinstance(value, str):
        # numpy's fixed-width strings drop trailing NULs: such a value is cql2's to compare.
        return None if value.endswith("\x00") else "string"
    return None


# The date-times read here as cql2 reads them; any other string (a date, no offset, more than
# microseconds) is cql2's to compare.
_RFC3339: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)


def _instant(value: Any) -> int | None:
    """An RFC 3339 date-time string as microseconds since 1970, else None."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        return None
    try:
        return microseconds(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:  # a month 13
        return None


class Column:
    """One property over the items (index order): the JSON values as held (MISSING where the
    item lacks it), and, made once when first asked, each kind's values as a numpy array."""

    def __init__(self, values: npt.NDArray[np.object_]) -> None:
        self.values = values
        self._typed: dict[str, tuple[Mask, npt.NDArray[Any]]] = {}
        self._null: Mask | None = None
        self._rank: tuple[npt.NDArray[np.float64], Mask] | None = None

    def __len__(self) -> int:
        return len(self.values)

    @property
    def null(self) -> Mask:
        """Null or missing: what isNull is true of and every comparison errs on."""
        if self._null is None:
            self._null = np.fromiter(
                (v is None or v is MISSING for v in self.values), bool, len(self.values)
            )
        return self._null

    def typed(self, kind: str) -> tuple[Mask, npt.NDArray[Any]]:
        """(the items holding a value of `kind`, their values as numbers/strings/booleans;
        the others' entries are placeholders)."""
        if kind not in self._typed:
            self._typed[kind] = self._make(kind)
        return self._typed[kind]

    def _make(self, kind: str) -> tuple[Mask, npt.NDArray[Any]]:
        values = self.values
        mask = np.fromiter((_kind(v) == kind for v in values), bool, len(values))
        if kind == "number":
            typed: npt.NDArray[Any] = np.fromiter(
                (float(v) if m else 0.0 for v, m in zip(values, mask, strict=True)),
                np.float64,
                len(values),
            )
        elif kind == "boolean":
            typed = np.fromiter(
                (bool(v) if m else False for v, m in zip(values, mask, strict=True)),
                bool,
                len(values),
            )
        else:
            typed = np.array([v if m else "" for v, m in zip(values, mask, strict=True)], str)
        return mask, typed

    def timestamps(self) -> tuple[Mask, npt.NDArray[np.int64]]:
        """(the items holding an RFC 3339 date-time string, its instant in microseconds)."""
        if "timestamp" not in self._typed:
            instants = [_instant(v) for v in self.values]
            held = np.fromiter((i is not None for i in instants), bool, len(instants))
            values = np.fromiter((i or 0 for i in instants), np.int64, len(instants))
            self._typed["timestamp"] = (held, values)
        held, values = self._typed["timestamp"]
        return held, values

    def ranks(self) -> tuple[npt.NDArray[np.float64], Mask] | None:
        """For sorting: (a sort key per item, the items holding a value), when every
        value held is of one kind; None when they mix (then Python sorts, as before)."""
        if self._rank is None:
            present = ~self.null
            kinds = {_kind(v) for v in self.values[present]}
            kind = kinds.pop() if len(kinds) == 1 else "number" if not kinds else None
            if kind is None:
                return None
            _, typed = self.typed(kind)
            if kind == "string":  # ranks, so that a descending sort can negate them
                _, inverse = np.unique(typed, return_inverse=True)
                typed = inverse.astype(np.int64)
            self._rank = (typed.astype(np.float64), present)
        return self._rank


# --- the index ----------------------------------------------------------------------------------
@dataclass
class Columns:
    """The items' searchable parts, one entry per item in index order (newest first, by id)."""

    ids: npt.NDArray[np.object_]
    collections: npt.NDArray[np.object_]
    start: npt.NDArray[np.int64]  # microseconds since 1970
    end: npt.NDArray[np.int64]
    envelope: npt.NDArray[np.float64]  # (n, 4): the geometry's minx, miny, maxx, maxy
    shapes: npt.NDArray[np.object_]  # shapely geometries
    geometry: list[bytes]  # the GeoJSON geometry as JSON, for cql2
    bbox: list[Any]
    properties: dict[str, Column]
    _top: dict[str, Column] = field(default_factory=dict, repr=False)
    _id_rank: npt.NDArray[np.int64] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def column(self, name: str) -> Column | None:
        """The column a CQL2 property reads: id and collection are the item's, the rest its
        properties' (cql2 reads `id` from the item even where a property has that name)."""
        if name in TOP_LEVEL:
            if name not in self._top:
                self._top[name] = Column(self.ids if name == "id" else self.collections)
            return self._top[name]
        return self.properties.get(name)

    @property
    def id_rank(self) -> npt.NDArray[np.int64]:
        if self._id_rank is None:
            _, inverse = np.unique(self.ids.astype(str), return_inverse=True)
            self._id_rank = inverse.astype(np.int64)
        return self._id_rank

    def value(self, name: str, position: int) -> Any:
        column = self.column(name)
        value = MISSING if column is None else column.values[position]
        return None if value is MISSING else value


_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


class ColumnsBuilder:
    """Columns filled one item at a time (the item's JSON is dropped after), then ordered."""

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._collections: list[str] = []
        self._start: list[int] = []
        self._end: list[int] = []
        self._geometry: list[bytes] = []
        self._bbox: list[Any] = []
        self._props: dict[str, list[Any]] = {}
        self._values: dict[str | bytes, Any] = {}

    def add(
        self,
        item: Mapping[str, Any],
        collection: str,
        span: tuple[dt.datetime, dt.datetime],
    ) -> None:
        count = len(self._ids)
        self._ids.append(str(item["id"]))
        self._collections.append(collection)
        self._start.append(microseconds(span[0]))
        self._end.append(microseconds(span[1]))
        self._geometry.append(compact(orjson.dumps(item.get("geometry"))))
        self._bbox.append(item.get("bbox"))
        columns, shared = self._props, self._values
        for name, value in (item.get("properties") or {}).items():
            values = columns.get(name)
            if values is None:
                values = columns[name] = []
            if len(values) < count:  # the items before without it
                values.extend([MISSING] * (count - len(values)))
            # One object for equal strings and arrays: items repeat them (a site, a platform,
            # the publications), and each item's own copies took 80 MB at 10,000 items.
            if type(value) is str:
                value = shared.setdefault(value, value)
            elif type(value) is list:
                value = shared.setdefault(orjson.dumps(value), value)
            values.append(value)

    def _padded(self) -> dict[str, list[Any]]:
        """Each property's values, MISSING for the items without it."""
        count = len(self._ids)
        for values in self._props.values():
            values.extend([MISSING] * (count - len(values)))
        return self._props

    def property_rows(self) -> Iterator[dict[str, Any]]:
        """Each property's distinct values, one {name: value} at a time: what the items'
        properties hold without their repetitions (stacgen.stac.queryables.PropertyTypes
        gathers sets of what it sees, so each distinct value once is the same to it)."""
        scalar = _SCALARS
        for name, values in self._padded().items():
            # a scalar by its type and value (True is not 1), an array or object by the object
            # (equal arrays are one object: see add)
            distinct = {
                (type(v), v if type(v) in scalar else id(v)): v for v in values if v is not MISSING
            }
            for value in distinct.values():
                yield {name: value}

    def order(self) -> list[int]:
        """Newest first (by start), then by id: the order of answers without sortby."""
        return sorted(range(len(self._ids)), key=lambda i: (-self._start[i], self._ids[i]))

    def build(self, order: Sequence[int], keep: frozenset[str]) -> Columns:
        """The columns in `order`, of the properties in `keep`; a geometry GEOS cannot read
        is None in `shapes`."""
        take = np.asarray(order, dtype=np.int64)

        def objects(values: list[Any]) -> npt.NDArray[np.object_]:
            array = np.empty(len(values), dtype=object)
            array[:] = values
            return array[take] if len(take) else array

        geometry = [self._geometry[i] for i in order]
        # GEOS reads the GeoJSON text in C: shapely.geometry.shape took a second at 10,000.
        shapes = shapely.from_geojson(np.array(geometry, dtype=object), on_invalid="ignore")
        envelope = shapely.bounds(shapes) if len(shapes) else np.empty((0, 4))
        return Columns(
            ids=objects(self._ids),
            collections=objects(self._collections),
            start=np.asarray(self._start, dtype=np.int64)[take],
            end=np.asarray(self._end, dtype=np.int64)[take],
            envelope=np.asarray(envelope, dtype=np.float64),
            shapes=np.asarray(shapes, dtype=object),
            geometry=geometry,
            bbox=[self._bbox[i] for i in order],
            properties={n: Column(objects(v)) for n, v in self._padded().items() if n in keep},
        )


# --- three-valued answers ---------------------------------------------------------------------
@dataclass(frozen=True)
class Truth:
    """A filter's value per item as far as the index knows it: true, false, and known (known
    and neither true nor false: the error cql2 raises, which matches nothing)."""

    true: Mask
    false: Mask
    known: Mask

    @staticmethod
    def unknown(n: int) -> Truth:
        nothing = np.zeros(n, bool)
        return Truth(nothing, nothing, nothing)

    @staticmethod
    def constant(value: bool, n: int) -> Truth:
        yes, no = np.full(n, value), np.full(n, not value)
        return Truth(yes, no, np.ones(n, bool))


def _and(parts: list[Truth]) -> Truth:
    true = np.logical_and.reduce([p.true for p in parts])
    false = np.logical_or.reduce([p.false for p in parts])
    return Truth(true, false, false | np.logical_and.reduce([p.known for p in parts]))


def _or(parts: list[Truth]) -> Truth:
    true = np.logical_or.reduce([p.true for p in parts])
    false = np.logical_and.reduce([p.false for p in parts])
    return Truth(true, false, true | np.logical_and.reduce([p.known for p in parts]))


def _is_property(node: Any) -> bool:
    return isinstance(node, dict) and set(node) == {"property"}


def _literal_kind(values: Iterable[Any]) -> str | None:
    """The one kind of these literals (number, string, boolean), or None."""
    kinds = {_kind(v) if not isinstance(v, dict | list) else None for v in values}
    return kinds.pop() if len(kinds) == 1 else None


class Evaluator:
    """A CQL2 JSON filter over the columns, as far as the index can answer it."""

    def __init__(self, columns: Columns) -> None:
        self.columns = columns
        self.n = len(columns)

    def truth(self, node: Any) -> Truth:
        if isinstance(node, bool):
            return Truth.constant(node, self.n)
        if not isinstance(node, dict) or "op" not in node:
            return Truth.unknown(self.n)
        op, args = node["op"], node.get("args", [])
        if not isinstance(args, list) or not args:
            return Truth.unknown(self.n)
        if op == "and":
            return _and([self.truth(a) for a in args])
        if op == "or":
            return _or([self.truth(a) for a in args])
        if op == "not" and len(args) == 1:
            inner = self.truth(args[0])
            return Truth(inner.false, inner.true, inner.known)
        return self._predicate(op, args) or Truth.unknown(self.n)

    def _predicate(self, op: str, args: list[Any]) -> Truth | None:
        if op == "isNull" and len(args) == 1 and _is_property(args[0]):
            column = self._column(args[0])
            if column is None:
                return None
            null = column.null
            return Truth(null, ~null, np.ones(self.n, bool))
        if op in COMPARE and len(args) == 2:
            if _is_property(args[1]) and not _is_property(args[0]):
                return self._compare(FLIPPED[op], args[1], [args[0]])
            return self._compare(op, args[0], [args[1]])
        if op == "in" and len(args) == 2 and isinstance(args[1], list) and args[1]:
            return self._compare("in", args[0], args[1])
        if op == "between" and len(args) == 3:
            return self._compare("between", args[0], args[1:])
        if op in ("s_intersects", "s_disjoint") and len(args) == 2:
            return self._apart(op, args)
        return None

    def _apart(self, op: str, args: list[Any]) -> Truth | None:
        """S_INTERSECTS and S_DISJOINT of the footprint and a geometry: known where their
        envelopes are apart (no geometry meets one outside its envelope), cql2's elsewhere."""
        prop, literal = args if _is_property(args[0]) else args[::-1]
        if not (_is_property(prop) and prop["property"] == "geometry"):
            return None
        if not (isinstance(literal, dict) and "type" in literal):
            return None
        try:
            area = shapely.from_geojson(orjson.dumps(literal))
        except (shapely.errors.GEOSException, ValueError, TypeError):
            return None
        west, south, east, north = area.bounds
        env = self.columns.envelope
        apart = (env[:, 2] < west) | (env[:, 0] > east) | (env[:, 3] < south) | (env[:, 1] > north)
        within = self._within(area, env, ~apart)
        if op == "s_intersects":
            return Truth(within, apart, apart | within)
        return Truth(apart, within, apart | within)

    def _within(self, area: shapely.Geometry, env: npt.NDArray[np.float64], among: Mask) -> Mask:
        """The footprints whose envelope lies in the area's interior: they meet it, whatever
        the library (a footprint lies in its envelope)."""
        wide = among & (env[:, 2] > env[:, 0]) & (env[:, 3] > env[:, 1])
        result = np.zeros(self.n, bool)
        candidates = np.flatnonzero(wide)
        if len(candidates):
            boxes = shapely.box(*env[candidates].T)
            shapely.prepare(area)
            result[candidates] = shapely.contains_properly(area, boxes)
        return result

    def _column(self, node: Any) -> Column | None:
        return self.columns.column(property_name(str(node["property"])))

    def _compare(self, op: str, prop: Any, literals: list[Any]) -> Truth | None:
        """A property against literals of one kind: true or false for the items holding a
        value of that kind, an error for null or missing ones; the items holding another
        kind are left to cql2 (it errs on some, answers false on others)."""
        if not _is_property(prop):
            return None
        column = self._column(prop)
        if op in COMPARE and _is_timestamp(literals[0]) and column is not None:
            return self._compare_instants(op, column, literals[0]["timestamp"])
        kind = _literal_kind(literals)
        if column is None or kind is None or (op == "between" and kind != "number"):
            return None
        held, values = column.typed(kind)
        if op == "in":
            wanted = {"number": np.float64, "boolean": bool}.get(kind, str)
            result = np.isin(values, np.asarray(literals, dtype=wanted))
        elif op == "between":
            low, high = float(literals[0]), float(literals[1])
            result = (values >= low) & (values <= high)
        else:
            literal = float(literals[0]) if kind == "number" else literals[0]
            result = COMPARE[op](values, literal)
        return Truth(held & result, held & ~result, held | column.null)

    def _compare_instants(self, op: str, column: Column, text: str) -> Truth | None:
        """A date-time property against a TIMESTAMP: as instants, where both are RFC 3339."""
        literal = _instant(text)
        if literal is None:
            return None
        held, values = column.timestamps()
        result = COMPARE[op](values, literal)
        return Truth(held & result, held & ~result, held | column.null)


def _is_timestamp(node: Any) -> bool:
    return (
        isinstance(node, dict) and set(node) == {"timestamp"} and isinstance(node["timestamp"], str)
    )


# --- a search -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    """What a checked search asks of the index (stacgen.serve.search.Search in index terms)."""

    ids: frozenset[str] | None = None
    collections: frozenset[str] | None = None
    area: shapely.Geometry | None = None
    interval: tuple[dt.datetime | None, dt.datetime | None] | None = None
    filter: dict[str, Any] | bool | None = None
    sort: tuple[tuple[str, bool], ...] = ()  # (name, descending)


def find(columns: Columns, query: Query) -> npt.NDArray[np.int64]:
    """The positions of the items the query matches, in the order of its answer."""
    if query.filter is False or not len(columns):
        return np.empty(0, np.int64)
    mask = np.ones(len(columns), bool)
    if query.ids is not None:
        mask &= np.isin(columns.ids, list(query.ids))
    if query.collections is not None:
        mask &= np.isin(columns.collections, list(query.collections))
    if query.interval is not None:
        mask &= _overlapping(columns, query.interval)
    if query.area is not None:
        mask &= _intersecting(columns, query.area, mask)
    if isinstance(query.filter, dict):
        mask &= _filtered(columns, query.filter, mask)
    return ordered(columns, np.flatnonzero(mask), query.sort)


def _overlapping(columns: Columns, interval: tuple[dt.datetime | None, dt.datetime | None]) -> Mask:
    start, end = interval
    mask = np.ones(len(columns), bool)
    if start is not None:
        mask &= columns.end >= microseconds(start)
    if end is not None:
        mask &= columns.start <= microseconds(end)
    return mask


def _intersecting(columns: Columns, area: shapely.Geometry, among: Mask) -> Mask:
    """Items whose geometry intersects `area`: shapely on those whose envelope meets the
    area's (no geometry meets an area its envelope misses)."""
    west, south, east, north = area.bounds
    env = columns.envelope
    near = among & (env[:, 0] <= east) & (env[:, 2] >= west)
    near &= (env[:, 1] <= north) & (env[:, 3] >= south)
    result = np.zeros(len(columns), bool)
    candidates = np.flatnonzero(near)
    if len(candidates):
        shapely.prepare(area)
        result[candidates] = shapely.intersects(area, columns.shapes[candidates])
    return result


def _filtered(columns: Columns, tree: dict[str, Any], among: Mask) -> Mask:
    truth = Evaluator(columns).truth(tree)
    result = truth.true & among
    rest = np.flatnonzero(among & ~truth.known)
    if len(rest):
        expr = cql2.Expr(tree)
        names = referenced(expr)
        result[rest] = [_matches(expr, names, columns, int(i)) for i in rest]
    return result


def _matches(expr: cql2.Expr, names: frozenset[str], columns: Columns, i: int) -> bool:
    """`cql2` on the part of the item the filter reads (the whole item would cost 0.2 ms in
    conversion alone)."""
    slim: dict[str, Any] = {"id": columns.ids[i], "collection": columns.collections[i]}
    if "geometry" in names:
        slim["geometry"] = orjson.loads(columns.geometry[i])
    if "bbox" in names:
        slim["bbox"] = columns.bbox[i]
    props = {}
    for name in names:
        column = columns.properties.get(name)
        if column is not None and column.values[i] is not MISSING:
            props[name] = column.values[i]
    slim["properties"] = props
    try:
        return bool(expr.matches(slim))
    except Exception:  # cql2 raises where it cannot reduce the filter: the item does not match
        return False


# --- order ----------------------------------------------------------------------------------------
def ordered(
    columns: Columns, found: npt.NDArray[np.int64], keys: tuple[tuple[str, bool], ...]
) -> npt.NDArray[np.int64]:
    """`found` (index order) sorted by the keys, values missing or null last in either
    direction, ties by the next key and at last by id ascending; without keys, index order."""
    if not keys or not len(found):
        return found
    lex: list[npt.NDArray[Any]] = [columns.id_rank[found]]
    for name, descending in reversed(keys):
        column = columns.column(name)
        ranks = None if column is None else column.ranks()
        if ranks is None:
            return _python_order(columns, found, keys)
        values, present = ranks
        lex += [-values[found] if descending else values[found], ~present[found]]
    return found[np.lexsort(lex)]


def _python_order(
    columns: Columns, found: npt.NDArray[np.int64], keys: tuple[tuple[str, bool], ...]
) -> npt.NDArray[np.int64]:
    """The same order by Python's comparisons, for a column whose values mix kinds."""
    order = sorted(found.tolist(), key=lambda i: columns.ids[i])
    for name, descending in reversed(keys):
        present = [i for i in order if columns.value(name, i) is not None]
        missing = [i for i in order if columns.value(name, i) is None]
        present.sort(key=lambda i: columns.value(name, i), reverse=descending)
        order = present + missing
    return np.asarray(order, dtype=np.int64)
