"""What stacgen wrote under a prefix, kept there on the store, and what `--delete` may remove.

The published state (`.stacgen-published.json` under the prefix) names every object a publish
wrote there, and each object a later catalog dropped with the time it was dropped: the time
the new root replaced the JSON that linked it. Only those objects are ever deleted, and only
once no reader can still hold a JSON that links them: a JSON is served with max-age
`plan.JSON_MAX_AGE` (plan.SHORT), so a copy fetched before the new root went up has expired
everywhere that many seconds later; a margin covers clocks and caches that count from
the end of a slow transfer. An object under the prefix that stacgen never wrote (another
dataset, the user's notes, a catalog published before the state existed) is listed, never
deleted, unless the user names it.

The state is written before the first upload (the objects about to be sent are then ours even
if the publish is interrupted), after the root (the new catalog, the objects it dropped) and
after each deletion, so an interrupted publish loses no record of what is ours.
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from stacgen.publish.plan import RemoteObject

log = logging.getLogger(__name__)

STATE_KEY: Final = ".stacgen-published.json"
STATE_FORMAT: Final = "stacgen-published/1"
DELETE_MARGIN: Final = 30.0  # s: clocks that differ, a cache that counts from a slow transfer


@dataclass
class PublishedState:
    """The objects stacgen wrote under one prefix; `retired`: dropped ones -> when (epoch s)."""

    written: set[str] = field(default_factory=set)
    retired: dict[str, float] = field(default_factory=dict)

    def ours(self) -> set[str]:
        return self.written | set(self.retired)

    def to_bytes(self) -> bytes:
        data = {
            "format": STATE_FORMAT,
            "written": sorted(self.written),
            "retired": dict(sorted(self.retired.items())),
        }
        return (json.dumps(data, indent=1) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> PublishedState:
        """The state in `data`; an unreadable one counts as empty (nothing is ours), said once."""
        try:
            raw = json.loads(data)
            state = cls._parse(raw)
        except (ValueError, TypeError, RecursionError) as err:
            log.warning("%s: unreadable (%s): no object counts as published by stacgen", where, err)
            return cls()
        return state

    @classmethod
    def _parse(cls, raw: Any) -> PublishedState:
        if not isinstance(raw, dict) or raw.get("format") != STATE_FORMAT:
            raise ValueError(f"not {STATE_FORMAT}")
        written, retired = raw.get("written"), raw.get("retired")
        if not isinstance(written, list) or not all(isinstance(k, str) for k in written):
            raise ValueError("'written' is not a list of keys")
        if not isinstance(retired, dict) or not all(
            isinstance(t, int | float) and not isinstance(t, bool) for t in retired.values()
        ):
            raise ValueError("'retired' is not an object of times")
        return cls(set(written), {str(k): float(t) for k, t in retired.items()})


@dataclass
class Deletions:
    """What a publish does with the objects under the prefix that the new catalog lacks."""

    due: list[RemoteObject] = field(default_factory=list)  # delete now: expired long enough
    waiting: list[RemoteObject] = field(default_factory=list)  # delete once the grace is over
    kept: list[RemoteObject] = field(default_factory=list)  # ours, stale, no --delete
    foreign: list[RemoteObject] = field(default_factory=list)  # never written by stacgen
    named: list[RemoteObject] = field(default_factory=list)  # foreign, named for deletion

    @property
    def all_deleted(self) -> list[RemoteObject]:
        return [*self.named, *self.due, *self.waiting]


def decide(
    stale: Iterable[RemoteObject],
    state: PublishedState,
    *,
    delete: bool,
    named: Iterable[str],
    now: float,
    grace: float,
) -> Deletions:
    """Sort the stale objects: ours expired (due), ours just dropped (waiting), ours kept
    without --delete, theirs (foreign), and theirs the user named (glob patterns)."""
    patterns = list(named)
    ours = state.ours()
    out = Deletions()
    for obj in stale:
        if obj.key == STATE_KEY:
            continue
        if obj.key not in ours:
            matched = any(fnmatch.fnmatchcase(obj.key, p) for p in patterns)
            (out.named if matched else out.foreign).append(obj)
        elif not delete:
            out.kept.append(obj)
        elif obj.key in state.retired and state.retired[obj.key] + grace <= now:
            out.due.append(obj)
        else:
            out.waiting.append(obj)
    return out


def unmatched(patterns: Iterable[str], objects: Iterable[RemoteObject]) -> list[str]:
    keys = [o.key for o in objects]
    return [p for p in patterns if not any(fnmatch.fnmatchcase(k, p) for k in keys)]


def before_sending(state: PublishedState, sending: Iterable[str]) -> PublishedState:
    """The objects about to be sent are ours from now on, even if the publish stops midway."""
    keys = set(sending)
    retired = {k: t for k, t in state.retired.items() if k not in keys}
    return PublishedState(state.written | keys, retired)


def after_root(
    state: PublishedState, catalog: Iterable[str], listed: Container[str], now: float
) -> PublishedState:
    """The new root is up: the catalog's keys are written, every other object of ours still
    listed is retired now (or since it was retired before)."""
    keys = set(catalog)
    retired = {k: state.retired.get(k, now) for k in state.ours() if k not in keys and k in listed}
    return PublishedState(keys, retired)


def without(state: PublishedState, deleted: Iterable[str]) -> PublishedState:
    gone = set(deleted)
    return PublishedState(
        state.written - gone, {k: t for k, t in state.retired.items() if k not in gone}
    )
