"""What to send, keep and delete, in the order that keeps the published catalog whole.

Readers follow links down from catalog.json. Each phase is sent only once the one before it is
complete, so a file appears only after everything it links to: assets, then item JSON, then
items.parquet, then collection.json, and catalog.json last. Objects the new catalog no longer has
are deleted (state.py decides which, and when) only after the new root is in place, JSON before
the assets it names.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from stacgen.fileutil import JsonFileError, digests, read_json_object, sha256_of_multihash
from stacgen.publish.absolute import PARQUET_ROLE, ROOT_FILE, public_files
from stacgen.stac.links import links_of

# Assets never change under their name: the ALCD record is a fixed Zenodo version and the build
# is deterministic, so a browser or CDN may keep them for a year without asking again.
IMMUTABLE = "public, max-age=31536000, immutable"
# STAC JSON and the items.parquet index change with every publish that changes anything; a
# reader may hold a copy this long, so what it links is deleted only after (state.py).
JSON_MAX_AGE = 60  # s
SHORT = f"public, max-age={JSON_MAX_AGE}, must-revalidate"
FALLBACK_TYPES = {
    ".tif": "image/tiff; application=geotiff",
    ".geojson": "application/geo+json",
    ".json": "application/json",
    ".parquet": "application/vnd.apache.parquet",
    ".md": "text/markdown; charset=utf-8",
    ".png": "image/png",
    ".zip": "application/zip",
}
SHA256 = "sha256"  # the object metadata key (x-amz-meta-sha256) holding the content's digest


class Phase(IntEnum):
    """The upload order; deletes run in the reverse order, after the root."""

    ASSETS = 0
    ITEMS = 1
    PARQUET = 2
    COLLECTIONS = 3
    ROOT = 4


@dataclass(frozen=True)
class LocalFile:
    """One file of the absolute catalog as it must be on the store."""

    key: str  # relative to the prefix, with forward slashes
    path: Path
    size: int
    sha256: str
    content_type: str
    cache_control: str
    phase: Phase

    def attributes(self) -> dict[str, str]:
        """Headers and metadata stored with the object; all are compared before skipping it."""
        return {
            "Content-Type": self.content_type,
            "Cache-Control": self.cache_control,
            SHA256: self.sha256,
        }


@dataclass(frozen=True)
class RemoteObject:
    key: str
    size: int
    attributes: Mapping[str, str] | None = None  # None: not read (its size differs anyway)


@dataclass
class Plan:
    send: list[LocalFile] = field(default_factory=list)
    keep: list[LocalFile] = field(default_factory=list)
    stale: list[RemoteObject] = field(default_factory=list)  # not in the catalog, in deletion order
    delete: list[RemoteObject] = field(default_factory=list)  # of those, what is deleted
    replaced_assets: list[str] = field(default_factory=list)  # assets whose bytes change

    def phases(self) -> list[list[LocalFile]]:
        """The files to send, one batch per phase, in upload order (empty phases left out)."""
        batches = [[f for f in self.send if f.phase == phase] for phase in Phase]
        return [batch for batch in batches if batch]

    @property
    def send_bytes(self) -> int:
        return sum(f.size for f in self.send)

    @property
    def keep_bytes(self) -> int:
        return sum(f.size for f in self.keep)

    @property
    def delete_bytes(self) -> int:
        return sum(o.size for o in self.delete)


def catalog_files(staging: Path) -> list[LocalFile]:
    """Every file of a staged absolute catalog with its key, phase, type, cache and sha256."""
    known = _described_files(staging)
    files = []
    for path in public_files(staging):
        key = path.relative_to(staging).as_posix()
        phase, content_type, checksum = known.get(key, (Phase.ASSETS, None, None))
        size = path.stat().st_size
        # An asset's sha256 is its file:checksum: the validation that runs before anything is
        # sent checks it against the file (a publish that sends nothing reads no asset).
        sha256 = checksum or digests(path)["sha256"]
        cache = IMMUTABLE if phase == Phase.ASSETS and key in known else SHORT
        content_type = content_type or _guess_type(path)
        files.append(LocalFile(key, path, size, sha256, content_type, cache, phase))
    return files


def _guess_type(path: Path) -> str:
    return FALLBACK_TYPES.get(path.suffix.lower()) or (
        mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )


def _described_files(staging: Path) -> dict[str, tuple[Phase, str | None, str | None]]:
    """Key -> (phase, media type, sha256) for the STAC JSON and every asset they describe."""
    known: dict[str, tuple[Phase, str | None, str | None]] = {}
    for path in sorted(staging.rglob("*.json")):
        obj = _read(path)
        if obj is None:
            continue
        key = path.relative_to(staging).as_posix()
        kind = obj.get("type")
        if kind == "Feature":
            known[key] = (Phase.ITEMS, "application/geo+json", None)
        else:
            phase = Phase.ROOT if key == ROOT_FILE else Phase.COLLECTIONS
            known[key] = (phase, "application/json", None)
        base = _base_url(obj)
        for asset in _assets(obj):
            asset_key = _key_of(asset["href"], base, PurePosixPath(key).parent)
            if asset_key is not None:
                phase = Phase.PARQUET if PARQUET_ROLE in asset.get("roles", []) else Phase.ASSETS
                known[asset_key] = (phase, asset.get("type"), _sha256_of(asset))
    return known


def _read(path: Path) -> dict[str, Any] | None:
    try:
        obj = read_json_object(path)
    except JsonFileError:
        return None
    return obj if "stac_version" in obj else None


def _assets(obj: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    assets = obj.get("assets")
    if isinstance(assets, dict):
        yield from (a for a in assets.values() if isinstance(a, dict) and "href" in a)


def _base_url(obj: Mapping[str, Any]) -> str | None:
    """The folder URL of a staged STAC object: its absolute self link without the file name."""
    for link in links_of(obj):
        if link.get("rel") == "self" and isinstance(link.get("href"), str):
            return str(link["href"]).rsplit("/", 1)[0] + "/"
    return None


def _key_of(href: str, base: str | None, folder: PurePosixPath) -> str | None:
    """The key of an asset beside or below the JSON naming it; None for one elsewhere."""
    if base is None or not href.startswith(base):
        return None
    name = unquote(urlsplit(href[len(base) :]).path)
    return name if str(folder) == "." else str(folder / name)


def _sha256_of(asset: Mapping[str, Any]) -> str | None:
    return sha256_of_multihash(asset.get("file:checksum"))


def make_plan(local: list[LocalFile], remote: Mapping[str, RemoteObject]) -> Plan:
    """Send what differs (size, sha256, headers), keep the rest; note what the catalog lacks.

    What is deleted of the stale objects is decided with the published state (state.py).
    """
    plan = Plan()
    for file in sorted(local, key=lambda f: (f.phase, f.key)):
        there = remote.get(file.key)
        if there is not None and _same(there, file):
            plan.keep.append(file)
            continue
        if there is not None and file.phase == Phase.ASSETS and _other_bytes(there, file):
            plan.replaced_assets.append(file.key)
        plan.send.append(file)
    wanted = {f.key for f in local}
    plan.stale = sorted((o for key, o in remote.items() if key not in wanted), key=deletion_order)
    return plan


def _other_bytes(there: RemoteObject, file: LocalFile) -> bool:
    return there.size != file.size or (there.attributes or {}).get(SHA256) != file.sha256


def _same(there: RemoteObject, file: LocalFile) -> bool:
    """Same size, sha256 and headers: the object already holds exactly this file."""
    if there.size != file.size or there.attributes is None:
        return False
    lowered = {k.lower(): v for k, v in there.attributes.items()}
    return all(lowered.get(k.lower()) == v for k, v in file.attributes().items())


def deletion_order(obj: RemoteObject) -> tuple[int, str]:
    """The root's stale siblings first, assets last: no remaining JSON names a deleted file."""
    if obj.key.endswith(".json"):
        return (-obj.key.count("/"), obj.key)
    return (1, obj.key)
