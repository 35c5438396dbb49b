"""Scoring every processor on every item they all have a mask for, with `stacgen score`.

`plan` matches each processor's masks to their reference items (score's own matching) and
keeps the chosen items that every processor covers, before any scoring; `run` scores each
processor's masks with `score_masks` (the same call as `stacgen score`) and reads the counts
under the chosen protocol.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import rasterio

from stacgen.benchmark.errors import BenchmarkError
from stacgen.benchmark.inputs import Processor, Selection, check_processors
from stacgen.benchmark.protocols import Evaluated, Protocol
from stacgen.fileutil import digests
from stacgen.score import MaskScore, ScoreOptions, load_codes, match_masks, score_masks
from stacgen.score.codes import warn_fmask5
from stacgen.score.reference import iter_masks

log = logging.getLogger(__name__)

OnMask = Callable[[Processor, MaskScore], None]
# Tags GDAL writes of the raster's structure, not of what made it.
GDAL_TAGS: Final = frozenset({"AREA_OR_POINT"})


@dataclass(frozen=True)
class Scene:
    """An item taking part: what the report shows of it."""

    id: str
    site: str
    datetime: str
    cloud_cover: float | None
    snow_cover: float | None
    subsets: list[str]
    split: str | None
    href: str
    asset_href: str
    asset_checksum: str | None

    @classmethod
    def from_doc(cls, doc: dict[str, Any], href: str, asset_href: str) -> Scene:
        props = doc.get("properties", {})
        asset = doc.get("assets", {}).get("classification", {})

        def number(key: str) -> float | None:
            value = props.get(key)
            return float(value) if isinstance(value, int | float) else None

        return cls(
            id=str(doc.get("id")),
            site=str(props.get("alcd:site", "?")),
            datetime=str(props.get("datetime", "")),
            cloud_cover=number("eo:cloud_cover"),
            snow_cover=number("eo:snow_cover"),
            subsets=list(props.get("alcd:subsets", [])),
            split=props.get("ml-aoi:split"),
            href=href,
            asset_href=asset_href,
            asset_checksum=asset.get("file:checksum"),
        )


@dataclass(frozen=True)
class Excluded:
    """A chosen item that some processors have no mask for: left out for all of them."""

    item: str
    missing: list[str]


@dataclass(frozen=True)
class Plan:
    """The masks to score, matched and checked, before any scoring."""

    processors: list[Processor]
    catalog: str
    selection: Selection
    scenes: list[Scene]
    masks: dict[str, dict[str, str]]  # processor -> item id -> mask path
    matched_by: dict[str, dict[str, str]]
    excluded: list[Excluded]
    outside: dict[str, int]  # processor -> masks whose item is not chosen
    # Masks named or tagged as FMask 5 (score.codes.warn_fmask5): not an independent validation.
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.scenes) * len(self.processors)


def plan(
    processors: Sequence[Processor], catalog: str | Path, selection: Selection | None = None
) -> Plan:
    """Each processor's masks matched to their items; the chosen items all processors cover."""
    selection = selection or Selection()
    check_processors(processors)
    listed = selection.listed()
    masks: dict[str, dict[str, str]] = {}
    matched_by: dict[str, dict[str, str]] = {}
    docs: dict[str, Scene] = {}
    outside: dict[str, int] = {}
    warnings: list[str] = []
    for p in processors:
        load_codes(p.codes)  # a bad table fails before any matching
        paths = list(iter_masks([p.masks]))
        if not paths:
            raise BenchmarkError(f"processor {p.name}: no *.tif mask in {p.masks}")
        warnings += warn_fmask5(paths, p.name)
        masks[p.name], matched_by[p.name], outside[p.name] = {}, {}, 0
        for path, match in zip(paths, match_masks(paths, catalog), strict=True):
            item = match.item
            if not selection.keeps(item.doc, listed):
                outside[p.name] += 1
                continue
            if item.id in masks[p.name]:
                raise BenchmarkError(
                    f"processor {p.name}: masks {masks[p.name][item.id]} and {path} are both "
                    f"for item {item.id}"
                )
            masks[p.name][item.id] = path
            matched_by[p.name][item.id] = match.matched_by
            docs.setdefault(item.id, Scene.from_doc(item.doc, item.href, item.asset_href))
    if listed is not None and (unknown := sorted(set(listed) - set(docs))):
        log.warning("--items: no mask matches %s", ", ".join(unknown))
    common = set.intersection(*(set(m) for m in masks.values()))
    excluded = [
        Excluded(i, [p.name for p in processors if i not in masks[p.name]])
        for i in sorted(set(docs) - common)
    ]
    for e in excluded:
        log.warning("item %s: left out, no mask from %s", e.item, ", ".join(e.missing))
    if not common:
        raise BenchmarkError(
            f"no chosen item has a mask from every processor ({selection.describe()})"
        )
    scenes = sorted((docs[i] for i in common), key=lambda s: (s.site, s.datetime, s.id))
    return Plan(
        list(processors),
        str(catalog),
        selection,
        scenes,
        masks,
        matched_by,
        excluded,
        outside,
        warnings,
    )


@dataclass(frozen=True)
class MaskInfo:
    path: str
    sha256: str
    size: int
    tags: dict[str, str]


@dataclass(frozen=True)
class SceneScore:
    """One processor on one scene."""

    item: str
    mask: MaskInfo
    matched_by: str
    joint: list[list[int]]
    comparisons: dict[str, Evaluated]


@dataclass(frozen=True)
class Spread:
    """A metric over scenes: mean, population standard deviation, range, scenes counted."""

    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Spread:
        got = [v for v in values if v is not None]
        if not got:
            return cls(None, None, None, None, 0)
        mean = sum(got) / len(got)
        std = math.sqrt(sum((v - mean) ** 2 for v in got) / len(got))
        return cls(mean, std, min(got), max(got), len(got))


@dataclass(frozen=True)
class ProcessorResult:
    processor: Processor
    codes: dict[str, object]
    scenes: list[SceneScore]
    pooled: dict[str, Evaluated]
    spread: dict[str, dict[str, Spread]]
    sites: dict[str, dict[str, Evaluated]]

    @property
    def common_tags(self) -> dict[str, str]:
        """The GeoTIFF tags every mask of this processor carries with the same value: what a
        processor (or `stacgen masks`) wrote of itself (version, model, baseline ...)."""
        if not self.scenes:
            return {}
        first = self.scenes[0].mask.tags
        return {
            k: v
            for k, v in sorted(first.items())
            if k not in GDAL_TAGS and all(s.mask.tags.get(k) == v for s in self.scenes)
        }


@dataclass(frozen=True)
class BenchmarkResult:
    plan: Plan
    protocol: Protocol
    options: ScoreOptions
    processors: list[ProcessorResult] = field(default_factory=list)

    @property
    def scenes(self) -> list[Scene]:
        return self.plan.scenes


def _mask_info(path: str) -> MaskInfo:
    with rasterio.open(path) as ds:
        tags = {str(k): str(v) for k, v in ds.tags().items()}
    return MaskInfo(path, digests(Path(path))["sha256"], Path(path).stat().st_size, tags)


def run(
    the_plan: Plan, protocol: Protocol, *, workers: int = 1, on_mask: OnMask | None = None
) -> BenchmarkResult:
    """Score every processor's masks of the plan's scenes; `on_mask` sees each score (its
    agreement picture included) as it arrives."""
    options = ScoreOptions()
    result = BenchmarkResult(the_plan, protocol, options)
    for p in the_plan.processors:
        paths = [the_plan.masks[p.name][s.id] for s in the_plan.scenes]

        def done(score: MaskScore, p: Processor = p) -> None:
            if on_mask is not None:
                on_mask(p, score)

        scored = score_masks(
            paths,
            p.codes,
            the_plan.catalog,
            options=options,
            workers=workers,
            on_done=done,
            keep_agreement=False,
        )
        codes = scored.codes.describe()
        result.processors.append(_processor_result(the_plan, protocol, p, codes, scored.scores))
    return result


def _processor_result(
    the_plan: Plan,
    protocol: Protocol,
    p: Processor,
    codes: dict[str, object],
    scores: list[MaskScore],
) -> ProcessorResult:
    by_item = {s.item.id: s for s in scores}
    missing = [s.id for s in the_plan.scenes if s.id not in by_item]
    if missing:
        raise BenchmarkError(f"processor {p.name}: masks matched other items than planned")
    ordered = [by_item[s.id] for s in the_plan.scenes]
    scenes = [
        SceneScore(
            s.item.id,
            _mask_info(the_plan.masks[p.name][s.item.id]),
            s.item.matched_by,
            s.joint,
            protocol.scene(s),
        )
        for s in ordered
    ]
    spread = {
        c: {
            m: Spread.of([sc.comparisons[c].values.get(m) for sc in scenes])
            for m in protocol.metrics
        }
        for c in protocol.comparisons
    }
    site_of = {s.id: s.site for s in the_plan.scenes}
    by_site: dict[str, list[MaskScore]] = defaultdict(list)
    for s in ordered:
        by_site[site_of[s.item.id]].append(s)
    sites = {site: protocol.pooled(group) for site, group in sorted(by_site.items())}
    return ProcessorResult(p, codes, scenes, protocol.pooled(ordered), spread, sites)
