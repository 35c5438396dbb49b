"""Which of a provider's products is a label item's: the original, its Collection-1 successor,
or none (refused). Judged by name and datatake (stacgen.source.naming.identity), never by date."""

from __future__ import annotations

from collections.abc import Iterable

from stacgen.imagery.located import ImageryError
from stacgen.layout.imagery import BANDS, Kind
from stacgen.source.naming import ProductName, identity, product_name_of


class NotFound(ImageryError):
    """The provider holds no product of the item's datatake."""


class Mismatch(ImageryError):
    """The provider holds a product of the datatake, but neither the item's nor its successor."""


def parse_found(names: Iterable[str]) -> list[ProductName]:
    """The L1C product names among a provider's names (folders, ids); others are skipped."""
    found = []
    for name in names:
        try:
            found.append(product_name_of(name))
        except ValueError:
            continue
    return found


def choose(
    provider: str, wanted: ProductName, found: list[ProductName]
) -> tuple[ProductName, Kind]:
    """The original if the provider has it, else the newest Collection-1 successor; NotFound
    when it has neither and no other product of the datatake, Mismatch when it has another."""
    kinds = [(p, identity(wanted, p)) for p in found]
    original = [p for p, kind in kinds if kind == "original"]
    if original:
        return original[0], "original"
    successors = sorted(
        (p for p, kind in kinds if kind == "reprocessed"),
        key=lambda p: (p.baseline or "", p.discriminator or ""),
    )
    if successors:
        return successors[-1], "reprocessed"
    others = [p.name for p in found if _near(wanted, p)]
    if others:
        raise Mismatch(
            f"{provider}: {wanted.name}: the provider holds {others[0]}, which is neither this "
            "product nor its Collection-1 successor (refused)"
        )
    raise NotFound(f"{provider}: {wanted.name}: not found")


def _near(wanted: ProductName, found: ProductName) -> bool:
    """Same platform, tile and sensing start: what a search for the item returns that is not
    it (another baseline of the datatake, or a product with another orbit)."""
    compact = wanted.compact
    return (
        compact is not None
        and found.mission == compact.mission
        and found.tile == compact.tile
        and found.datetime == compact.datetime
    )


def known_offsets(product: ProductName) -> dict[str, int] | None:
    """RADIO_ADD_OFFSET per band when the name settles it: 0 before baseline 04.00 (the offset
    came with 04.00); None (read the metadata) from 04.00 on or when the baseline is unknown."""
    compact = product.compact
    baseline = compact.baseline if compact else None
    if baseline is None or baseline >= "04.00":
        return None
    return {band.name: 0 for band in BANDS}


def gdal_http_options(timeout: float) -> dict[str, str]:
    """GDAL's bounds for every /vsicurl/ and /vsis3/ read: timeouts and a few retries, and no
    directory listing of the remote folders on open."""
    seconds = str(max(1, round(timeout)))
    return {
        "GDAL_HTTP_TIMEOUT": seconds,
        "GDAL_HTTP_CONNECTTIMEOUT": seconds,
        "GDAL_HTTP_MAX_RETRY": "2",
        "GDAL_HTTP_RETRY_DELAY": "1",
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    }
