"""The scene-level train / validate / test split (`ml-aoi:split`): by site, so nothing leaks.

A random split of patches puts neighbouring pixels of one scene in both train and test; a
split by scene still puts the same place, seen on other dates, on both sides. So whole sites
go to one split, and sites whose footprints overlap (neighbouring MGRS tiles share a 9.8 km
strip) go together. Which split a site goes to is decided by a fixed greedy rule (RULE) that
balances the pixels of each class against the target shares: deterministic, no random draw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import pystac
import shapely.geometry

from stacgen import constants
from stacgen.layout.labels import LABEL_ASSET, pixel_counts
from stacgen.stac.mlaoi import SPLITS, MlAoiExtension, Split

TARGETS: Final[dict[Split, float]] = {"train": 0.70, "validate": 0.15, "test": 0.15}
# The classes balanced: every class a pixel can have (no data and the unused class left out).
BALANCED: Final = tuple(c for c in constants.CLASSES if c.value not in (0, 1))

RULE: Final = (
    "Each item's split is its site's (`alcd:site`); sites whose footprints overlap are one "
    "group. Groups are taken largest first (valid pixels; ties by name) and each goes to the "
    "split that then leaves the smallest sum, over the classes low_clouds to snow and the three "
    "splits, of the squared differences between a split's share of a class's pixels and its "
    "target share (train 70 %, validate 15 %, test 15 %); ties go to train, then validate. "
    "Once there are only as many groups left as splits without any, each goes to the first "
    "empty split, so that no split is empty (with three groups or more)."
)


@dataclass(frozen=True)
class Group:
    """Sites that go to one split together, and their pixel counts by class value."""

    name: str
    item_ids: tuple[str, ...]
    counts: Mapping[int, int]

    @property
    def size(self) -> int:
        return sum(self.counts[c.value] for c in BALANCED)


def class_counts(item: pystac.Item) -> dict[int, int]:
    """Pixels of each class value, from the counts of the item's classification classes."""
    asset = item.assets.get(LABEL_ASSET)
    fields = {LABEL_ASSET: asset.extra_fields} if asset is not None else {}
    by_name = pixel_counts({"assets": fields, "properties": item.properties})
    return {c.value: by_name.get(c.name, 0) for c in constants.CLASSES}


def site_groups(items: Sequence[pystac.Item]) -> list[Group]:
    """The items by site, sites with overlapping footprints merged."""
    sites: dict[str, list[pystac.Item]] = {}
    for item in items:
        sites.setdefault(str(item.properties.get("alcd:site", item.id)), []).append(item)
    names = sorted(sites)
    shapes = {
        name: shapely.union_all([shapely.geometry.shape(i.geometry) for i in sites[name]])
        for name in names
    }
    parent = {name: name for name in names}

    def root(name: str) -> str:
        while parent[name] != name:
            name = parent[name]
        return name

    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if shapes[a].intersects(shapes[b]):
                parent[max(root(a), root(b))] = min(root(a), root(b))
    members: dict[str, list[str]] = {}
    for name in names:
        members.setdefault(root(name), []).append(name)
    groups = []
    for sites_in in members.values():
        group_items = [i for s in sites_in for i in sites[s]]
        counts = {
            c.value: sum(class_counts(i)[c.value] for i in group_items) for c in constants.CLASSES
        }
        groups.append(Group(" + ".join(sites_in), tuple(i.id for i in group_items), counts))
    return groups


def assign(groups: Sequence[Group]) -> dict[str, Split]:
    """The split of each group (by name), by RULE."""
    totals = {c.value: sum(g.counts[c.value] for g in groups) for c in BALANCED}
    shares: dict[Split, dict[int, float]] = {s: dict.fromkeys(totals, 0.0) for s in SPLITS}
    used: set[Split] = set()
    chosen: dict[str, Split] = {}
    ordered = sorted(groups, key=lambda g: (-g.size, g.name))
    for left, group in zip(range(len(ordered), 0, -1), ordered, strict=True):
        add = {v: group.counts[v] / total for v, total in totals.items() if total}
        empty = [s for s in SPLITS if s not in used]
        if len(groups) >= len(SPLITS) and len(empty) == left:
            split = empty[0]
        else:
            split = min(SPLITS, key=lambda s: _cost_of_adding(shares[s], add, TARGETS[s]))
        for value, share in add.items():
            shares[split][value] += share
        used.add(split)
        chosen[group.name] = split
    return chosen


def _cost_of_adding(current: dict[int, float], add: dict[int, float], target: float) -> float:
    return sum((current[v] + x - target) ** 2 - (current[v] - target) ** 2 for v, x in add.items())


def apply_splits(items: Sequence[pystac.Item]) -> None:
    """Set `ml-aoi:split` on every item, by RULE."""
    groups = site_groups(items)
    chosen = assign(groups)
    by_id = {item.id: item for item in items}
    for group in groups:
        for item_id in group.item_ids:
            MlAoiExtension.ext(by_id[item_id], add_if_missing=True).split = chosen[group.name]


def class_shares(items: Sequence[pystac.Item]) -> dict[Split, dict[str, float]]:
    """Each split's share (percent) of every balanced class's pixels, from the items' splits."""
    counts: dict[Split, dict[int, int]] = {s: {c.value: 0 for c in BALANCED} for s in SPLITS}
    for item in items:
        split = MlAoiExtension(item).split
        if split is None:
            continue
        for value, count in class_counts(item).items():
            if value in counts[split]:
                counts[split][value] += count
    totals = {c.value: sum(counts[s][c.value] for s in SPLITS) for c in BALANCED}
    return {
        s: {
            c.name: round(100.0 * counts[s][c.value] / totals[c.value], 1)
            if totals[c.value]
            else 0.0
            for c in BALANCED
        }
        for s in SPLITS
    }


def split_sites(items: Sequence[pystac.Item]) -> dict[Split, list[str]]:
    """The sites of each split, sorted."""
    found: dict[Split, set[str]] = {s: set() for s in SPLITS}
    for item in items:
        split = MlAoiExtension(item).split
        if split is not None:
            found[split].add(str(item.properties.get("alcd:site", item.id)))
    return {s: sorted(found[s]) for s in SPLITS}
