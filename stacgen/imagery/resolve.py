"""`stacgen imagery resolve` and `check`: which L1C product each provider holds for each label
item, recorded in the catalog's resolution file; whether the items' provider links answer.

Resolve asks each provider for each label item of a built catalog (stacgen.imagery.providers),
keeps what was found (original or reprocessed, its name and baseline, when) and writes the
resolution file atomically beside the catalog (`layout.imagery.RESOLUTION_FILE`), under the
build's lock. Entries of providers not asked this time are kept. The next `stacgen build`
folds the file into the label items (one `rel=source` link per provider).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from stacgen import constants
from stacgen.fileutil import JsonFileError, atomic_write_json, read_json_object
from stacgen.imagery.http import Unreachable, request
from stacgen.imagery.identity import NotFound
from stacgen.imagery.located import ImageryError, Located, Provider
from stacgen.imagery.providers import Settings, provider
from stacgen.layout.catalog import STATE_FILE
from stacgen.layout.imagery import (
    LINK_PROVIDERS,
    PROVIDER_TITLES,
    RESOLUTION_FILE,
    Resolved,
    read_resolution,
    resolution_json,
)
from stacgen.source.naming import ProductName, parse_product_name

log = logging.getLogger(__name__)

NETWORK_PROVIDERS = LINK_PROVIDERS  # what resolve asks when no --provider is given


@dataclass
class ResolveReport:
    path: Path  # the resolution file written
    items: int = 0
    resolved: dict[str, list[Resolved]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # one line each


def label_items(catalog: Path) -> list[tuple[str, ProductName]]:
    """The label items of a catalog stacgen built: (id, product) in id order."""
    if not (catalog / STATE_FILE).is_file():
        raise ImageryError(f"{catalog}: not a catalog stacgen built (no {STATE_FILE})")
    found = []
    folder = catalog / constants.COLLECTION_ID
    for path in sorted(folder.glob("*/*.json")):
        if path.stem != path.parent.name:
            continue
        try:
            found.append((path.stem, parse_product_name(path.stem)))
        except ValueError:
            log.warning("%s: not an item of an L1C product, skipped", path)
    if not found:
        raise ImageryError(f"{folder}: no label items")
    return found


def resolve_catalog(
    catalog: Path,
    names: Sequence[str],
    settings: Settings,
    on_item: Callable[[str], None] | None = None,
) -> ResolveReport:
    """Ask each provider of `names` for each label item; write the resolution file."""
    from stacgen.assemble.staging import output_lock  # the build's lock: one writer at a time

    items = label_items(catalog)
    providers = [provider(name, settings) for name in dict.fromkeys(names)]
    report = ResolveReport(catalog / RESOLUTION_FILE, items=len(items))
    dead: set[str] = set()
    for item_id, product in items:
        found = _resolve_item(item_id, product, providers, dead, report.problems)
        if found:
            report.resolved[item_id] = found
        if on_item:
            on_item(item_id)
    with output_lock(catalog):
        merged = _merge(read_resolution(catalog), report.resolved, {p.name for p in providers})
        atomic_write_json(report.path, resolution_json(merged))
    return report


def _resolve_item(
    item_id: str,
    product: ProductName,
    providers: list[Provider],
    dead: set[str],
    problems: list[str],
) -> list[Resolved]:
    found, tried = [], []
    for source in providers:
        if source.name in dead:
            continue
        tried.append(source.name)
        try:
            found.append(resolved(source.locate(item_id, product)))
        except Unreachable as err:
            dead.add(source.name)  # one line, not one per item
            problems.append(f"{err} (not asked again for the other items)")
        except NotFound:
            continue
        except ImageryError as err:
            problems.append(f"{item_id}: {err}")
    if not found and tried:
        problems.append(f"{item_id}: not found at any provider (tried {', '.join(tried)})")
    return order(found)


def resolved(located: Located, now: datetime | None = None) -> Resolved:
    """The resolution file's entry for what a provider located."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return Resolved(
        provider=located.provider,
        ref=located.provider_ref,
        product=located.product.name,
        baseline=located.baseline,
        kind=located.kind,
        resolved_at=moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        datatake_id=located.datatake_id,
    )


def order(entries: list[Resolved]) -> list[Resolved]:
    """Originals first, then the providers in LINK_PROVIDERS order."""
    rank = {name: i for i, name in enumerate(LINK_PROVIDERS)}
    return sorted(entries, key=lambda r: (r.kind != "original", rank.get(r.provider, 99)))


def _merge(
    previous: dict[str, list[Resolved]], new: dict[str, list[Resolved]], asked: set[str]
) -> dict[str, list[Resolved]]:
    """The previous file's entries of providers not asked this time, and this run's."""
    merged = {}
    for item_id in set(previous) | set(new):
        kept = [r for r in previous.get(item_id, []) if r.provider not in asked]
        entries = order(kept + new.get(item_id, []))
        if entries:
            merged[item_id] = entries
    return merged


# --- check -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinkCheck:
    item_id: str
    provider: str
    href: str
    answer: str  # "ok", "HTTP 404", "unreachable (...)"

    @property
    def ok(self) -> bool:
        return self.answer == "ok"

    def __str__(self) -> str:
        return f"{self.item_id} {self.provider}: {self.answer} ({self.href})"


def check_catalog(catalog: Path, timeout: float, workers: int = 8) -> list[LinkCheck]:
    """Per label item and provider, whether its `rel=source` link answers (a bounded HEAD,
    `workers` at a time), in item and link order."""
    links = source_links(catalog)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        answers = list(pool.map(lambda link: _answer(link[2], timeout), links))
    pairs = zip(links, answers, strict=True)
    return [LinkCheck(i, name, href, answer) for (i, name, href), answer in pairs]


def source_links(catalog: Path) -> list[tuple[str, str, str]]:
    """(item id, provider, href) of every provider `rel=source` link of the label items."""
    found = []
    for item_id, _ in label_items(catalog):
        path = catalog / constants.COLLECTION_ID / item_id / f"{item_id}.json"
        try:
            links = read_json_object(path).get("links", [])
        except JsonFileError as err:
            raise ImageryError(str(err)) from None
        for link in links if isinstance(links, list) else []:
            name = provider_of(link)
            if name is not None and link.get("rel") == "source":
                found.append((item_id, name, str(link["href"])))
    return found


def provider_of(link: object) -> str | None:
    """The provider whose link this is (by its title), or None."""
    if not isinstance(link, dict) or not isinstance(link.get("title"), str):
        return None
    for name, title in PROVIDER_TITLES.items():
        if link["title"].startswith(title):
            return name
    return None


def _answer(href: str, timeout: float) -> str:
    if not href.startswith(("http://", "https://")):
        return "not an http(s) link"
    try:
        response = request("check", "HEAD", href, timeout)
        if response.status_code == 405:  # a server that takes only GET
            response = request("check", "GET", href, timeout, headers={"Range": "bytes=0-0"})
    except Unreachable as err:
        return str(err).removeprefix(f"check: {href} ")
    return "ok" if response.status_code < 400 else f"HTTP {response.status_code}"
