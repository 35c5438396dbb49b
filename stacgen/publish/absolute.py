"""The absolute variant of a self-contained catalog, for one public root URL.

The catalog folder stays self-contained (it can be moved, zipped, served from anywhere); what is
published carries absolute hrefs, as STAC's "absolute published" catalogs do, so that a reader
given any one file (an item from a search, a COG link) finds the rest. The variant is made in a
staging folder: JSON rewritten, every other file hard-linked (no copy of the COGs), the
collection's items.parquet written again from the rewritten items, then validated offline.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from stacgen import constants
from stacgen.errors import Problem, StacgenError
from stacgen.fileutil import (
    JsonFileError,
    atomic_write_bytes,
    digests,
    read_json_object,
    sha256_multihash,
)
from stacgen.stac.links import map_hrefs
from stacgen.stac.schemas import SchemaSource

log = logging.getLogger(__name__)

ROOT_FILE = "catalog.json"
PARQUET_ROLE = "stac-items"


class StagingError(StacgenError):
    """The catalog folder cannot be published as it is; the message names the file."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []
        self.details = tuple(str(p) for p in self.problems)


def public_files(folder: Path) -> list[Path]:
    """The files of a catalog folder that are published: all but hidden ones (build state)."""
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and not any(p.startswith(".") for p in path.relative_to(folder).parts)
    )


def stage_absolute(
    source: Path, root_href: str, staging: Path, memo_dir: Path | None = None
) -> None:
    """Write the variant of catalog folder `source` published under `root_href` into `staging`.

    `memo_dir` keeps each items.parquet written, named by the digest of the items it holds:
    stac-geoparquet writes the same bytes for the same items, and importing it takes longer
    than the rest of a publish that has nothing to send.
    """
    if not (source / ROOT_FILE).is_file():
        raise StagingError(f"{source}: no {ROOT_FILE}: not a catalog folder")
    base = root_href.rstrip("/") + "/"
    stac: dict[Path, dict[str, Any]] = {}
    for path in public_files(source):
        relative = path.relative_to(source)
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        obj = _stac_object(path) if path.suffix == ".json" else None
        if obj is None:
            _link_or_copy(path, target)
        else:
            stac[relative] = _absolute(obj, urljoin(base, relative.as_posix()))
    for relative, obj in stac.items():  # items first: the parquet is made from them
        if obj.get("type") != "Collection":
            _write_json(staging / relative, obj)
    for relative, obj in stac.items():
        if obj.get("type") == "Collection":
            _rewrite_parquet(obj, staging, relative, stac, memo_dir)
            _write_json(staging / relative, obj)


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    """As the build writes JSON; no fsync: the staging folder is thrown away after the publish."""
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _stac_object(path: Path) -> dict[str, Any] | None:
    """The STAC object in a .json file; None for other JSON (an asset: copied as it is)."""
    try:
        obj = read_json_object(path)
    except JsonFileError as err:
        if err.reason.startswith("malformed JSON (expected an object)"):
            return None
        raise StagingError(str(err)) from err
    return obj if "stac_version" in obj else None


def _absolute(obj: dict[str, Any], url: str) -> dict[str, Any]:
    """The object with every relative href resolved against its own public URL, and a self link."""
    result: dict[str, Any] = map_hrefs(obj, lambda href: urljoin(url, href))
    links = [link for link in result.get("links", []) if link.get("rel") != "self"]
    media = "application/geo+json" if obj.get("type") == "Feature" else "application/json"
    result["links"] = [*links, {"rel": "self", "href": url, "type": media}]
    return result


def _rewrite_parquet(
    collection: dict[str, Any],
    staging: Path,
    where: Path,
    stac: dict[Path, dict[str, Any]],
    memo_dir: Path | None,
) -> None:
    """items.parquet holds copies of the items: write it again from the absolute ones."""
    for asset in collection.get("assets", {}).values():
        if PARQUET_ROLE not in asset.get("roles", []):
            continue
        name = urlsplit(asset["href"]).path.rsplit("/", 1)[-1]
        if name != constants.ITEMS_PARQUET:
            raise StagingError(
                f"{where}: items asset {asset['href']} is not ./{constants.ITEMS_PARQUET}"
            )
        # The staged file is a hard link to the catalog's own: never write through it.
        (staging / where.parent / name).unlink(missing_ok=True)
        ids = [
            relative.stem
            for relative, obj in sorted(stac.items())
            if obj.get("type") == "Feature" and relative.parent.parent == where.parent
        ]
        target = staging / where.parent / constants.ITEMS_PARQUET
        _write_parquet(staging / where.parent, ids, target, memo_dir)
        asset["file:size"] = target.stat().st_size
        asset["file:checksum"] = sha256_multihash(digests(target)["sha256"])


def _write_parquet(folder: Path, ids: list[str], target: Path, memo_dir: Path | None) -> None:
    inputs = hashlib.sha256()
    for item_id in ids:
        inputs.update((folder / item_id / f"{item_id}.json").read_bytes())
    memo = memo_dir / f"items-{inputs.hexdigest()}.parquet" if memo_dir else None
    if memo is not None and memo.is_file():
        _link_or_copy(memo, target)
        return
    from stacgen.stac.parquet import write_items_parquet

    write_items_parquet(folder, ids)  # writes folder/items.parquet, that is `target`
    if memo is not None:
        memo.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(memo, target.read_bytes())


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def validate_staged(
    staging: Path, root_href: str, schemas: SchemaSource | Path, workers: int
) -> None:
    """Validate the staged variant offline; StagingError with the problems if it is not valid.

    COGs are not opened again: every one was validated by the build that wrote it, and the
    checksums verified here prove the bytes are still those.
    """
    from stacgen.stac.validate import validate_catalog

    problems = validate_catalog(
        staging, schemas, root_href=root_href, workers=workers, check_cogs=False
    )
    if problems:
        raise StagingError(f"the absolute catalog has {len(problems)} problem(s)", problems)
