"""What a benchmark compares: the processors (NAME=CODES:MASKDIR) and the items chosen.

`--subset` names a part of the dataset: `Reference_dataset` and `Hollstein` are the archive's
two folders (an item's `alcd:subsets`); `paper` is the paper's validation set. Which scenes the
paper's Sen2Cor and FMask figures used is in no stored copy of the paper; its MAJA validation
left out the scenes only the Hollstein folder has, so `paper` is taken as the Reference_dataset
items (an inference, recorded in the report).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from stacgen import constants
from stacgen.benchmark.errors import BenchmarkError

NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
SUBSETS: Final = (*constants.SUBSETS, "paper")
SPLITS: Final = ("train", "validate", "test")
PAPER_SUBSET_NOTE: Final = (
    "the paper's validation set, taken as the Reference_dataset items (inferred: the paper's "
    "MAJA validation left out the scenes only the Hollstein folder has; which scenes its "
    "Sen2Cor and FMask comparisons used is unknown)"
)


@dataclass(frozen=True)
class Processor:
    """One processor's masks: its name in the report, its code table, its folder of masks."""

    name: str
    codes: str
    masks: Path

    @property
    def spec(self) -> str:
        return f"{self.name}={self.codes}:{self.masks}"


def parse_processor(spec: str) -> Processor:
    """`NAME=CODES:MASKDIR` (CODES a built-in table's name or a JSON code file)."""
    name, eq, rest = spec.partition("=")
    codes, colon, masks = rest.partition(":")
    if not eq or not colon or not codes or not masks:
        raise BenchmarkError(f"processor {spec!r}: expected NAME=CODES:MASKDIR")
    if not NAME_PATTERN.fullmatch(name):
        raise BenchmarkError(
            f"processor {spec!r}: the name must be 1-40 letters, digits, '_', '.' or '-'"
        )
    return Processor(name, codes, Path(masks))


def check_processors(processors: Sequence[Processor]) -> None:
    if not processors:
        raise BenchmarkError("no processor given (NAME=CODES:MASKDIR)")
    seen: set[str] = set()
    for p in processors:
        if p.name in seen:
            raise BenchmarkError(f"processor {p.name}: named twice")
        seen.add(p.name)
        if not p.masks.is_dir():
            raise BenchmarkError(f"processor {p.name}: {p.masks} is not a folder of masks")


@dataclass(frozen=True)
class Selection:
    """Which items take part: all, those listed in a file, a subset or a split."""

    items_file: Path | None = None
    subset: str | None = None
    split: str | None = None

    def __post_init__(self) -> None:
        given = [o for o, v in self.options.items() if v is not None]
        if len(given) > 1:
            raise BenchmarkError(f"{' and '.join(given)}: give at most one of them")
        if self.subset is not None and self.subset not in SUBSETS:
            raise BenchmarkError(f"--subset {self.subset}: one of {', '.join(SUBSETS)}")
        if self.split is not None and self.split not in SPLITS:
            raise BenchmarkError(f"--split {self.split}: one of {', '.join(SPLITS)}")

    @property
    def options(self) -> dict[str, str | None]:
        return {
            "--items": None if self.items_file is None else str(self.items_file),
            "--subset": self.subset,
            "--split": self.split,
        }

    def listed(self) -> list[str] | None:
        """The ids in --items (one a line; blank lines and # comments skipped)."""
        if self.items_file is None:
            return None
        try:
            text = self.items_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise BenchmarkError(f"--items {self.items_file}: cannot be read ({err})") from err
        ids = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
        ids = [i for i in ids if i]
        if not ids:
            raise BenchmarkError(f"--items {self.items_file}: lists no item id")
        return ids

    def keeps(self, doc: Mapping[str, Any], listed: list[str] | None) -> bool:
        props = doc.get("properties", {})
        if listed is not None:
            return doc.get("id") in listed
        if self.subset is not None:
            subset = "Reference_dataset" if self.subset == "paper" else self.subset
            return subset in props.get("alcd:subsets", [])
        if self.split is not None:
            return bool(props.get("ml-aoi:split") == self.split)
        return True

    def describe(self) -> str:
        if self.items_file is not None:
            return f"the items listed in {self.items_file}"
        if self.subset == "paper":
            return PAPER_SUBSET_NOTE
        if self.subset is not None:
            return f"the items of the archive's {self.subset} folder"
        if self.split is not None:
            return f"the items of the {self.split!r} split (ml-aoi:split)"
        return "every item some mask of every processor matches"
