"""Where a build writes its new catalog, and reusing the previous catalog's unchanged items.

The staging folder sits beside `out` (same filesystem, so the swap is a rename) and is removed
after every build; fileutil.swap_in puts the finished catalog in place in one step.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from stacgen import constants
from stacgen.assemble.state import intact
from stacgen.errors import OutputError

if TYPE_CHECKING:
    import pystac

log = logging.getLogger(__name__)

# Links pystac rewrites when the item is added to the new catalog.
STRUCTURAL_RELS = frozenset({"self", "root", "parent", "collection"})


def lock_path(out: Path) -> Path:
    """Beside `out` (not in it: the swap replaces `out`); removed when the build ends."""
    return out.with_name(f".{out.name}.stacgen-lock")


@contextmanager
def output_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on `out` for a whole build, or refuse at once in one line.

    Two builds into one `out` would share its staging folder and delete each other's files.
    The lock is flock on a file that its holder removes: a lock taken on a file removed in the
    meantime is not the lock, so it is taken again on the file now at the path.
    """
    path = lock_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise OutputError(
                f"{out}: another stacgen build{who} is writing this catalog (lock {path}); "
                "run this one again once it has finished"
            ) from None
        try:
            taken = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            taken = False
        if taken:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        path.unlink(missing_ok=True)  # while still locked: see above
        os.close(fd)


def staging_root(out: Path) -> Path:
    """Beside `out`; removed after every build."""
    return out.with_name(f".{out.name}.stacgen-build")


def staging_dir(out: Path) -> Path:
    """Where the new catalog is written."""
    # A fixed name without a dot inside: pystac takes a root href with an extension for a file.
    return staging_root(out) / "catalog"


def make_staging_dir(out: Path) -> None:
    root = staging_root(out)
    if root.exists():
        shutil.rmtree(root)  # left by a build that was killed
    staging_dir(out).mkdir(parents=True)


def remove_staging(out: Path) -> None:
    shutil.rmtree(staging_root(out), ignore_errors=True)


def item_dir(catalog: Path, item_id: str) -> Path:
    return catalog / constants.COLLECTION_ID / item_id


def reuse_item(out: Path, staging: Path, item_id: str, files: dict[str, int]) -> pystac.Item | None:
    """Link an unchanged, intact item folder of the previous catalog into the new one."""
    source, target = item_dir(out, item_id), item_dir(staging, item_id)
    prefix = f"{constants.COLLECTION_ID}/{item_id}/"
    own = {name: size for name, size in files.items() if name.startswith(prefix)}
    if not own or not intact(out, own):
        log.info("rebuilding %s: files of the previous build are missing or changed", item_id)
        return None
    try:
        data = json.loads((source / f"{item_id}.json").read_text())
        target.mkdir(parents=True)
        for path in source.iterdir():
            if path.name != f"{item_id}.json":
                _link_or_copy(path, target / path.name)
    except (OSError, ValueError) as err:
        log.info("rebuilding %s: previous item unusable (%s)", item_id, err)
        shutil.rmtree(target, ignore_errors=True)
        return None
    import pystac

    data["links"] = [link for link in data["links"] if link["rel"] not in STRUCTURAL_RELS]
    return pystac.Item.from_dict(data, preserve_dict=False)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
