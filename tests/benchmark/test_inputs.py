"""Processor specs and the choice of items: one clear line per bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacgen.benchmark import BenchmarkError, Selection, parse_processor
from stacgen.benchmark.inputs import PAPER_SUBSET_NOTE


def test_processor_spec() -> None:
    p = parse_processor("fmask=fmask4:masks/fmask")
    assert (p.name, p.codes, p.masks) == ("fmask", "fmask4", Path("masks/fmask"))
    # the folder may itself hold a colon: only the first one after CODES splits
    assert parse_processor("x=codes.json:a:b").masks == Path("a:b")


@pytest.mark.parametrize("spec", ["fmask", "=fmask4:m", "f=:m", "f=fmask4:", "f/x=fmask4:m"])
def test_bad_processor_spec(spec: str) -> None:
    with pytest.raises(BenchmarkError, match="processor"):
        parse_processor(spec)


def _doc(subsets: list[str], split: str) -> dict[str, object]:
    return {"id": "A", "properties": {"alcd:subsets": subsets, "ml-aoi:split": split}}


def test_selection_by_subset_and_split() -> None:
    both, hollstein = _doc(["Reference_dataset", "Hollstein"], "train"), _doc(["Hollstein"], "test")
    assert Selection(subset="Hollstein").keeps(both, None)
    assert not Selection(subset="Reference_dataset").keeps(hollstein, None)
    # the paper's validation set: the Reference_dataset items, and the report says it is inferred
    assert Selection(subset="paper").keeps(both, None)
    assert not Selection(subset="paper").keeps(hollstein, None)
    assert Selection(subset="paper").describe() == PAPER_SUBSET_NOTE
    assert "inferred" in PAPER_SUBSET_NOTE
    assert Selection(split="test").keeps(hollstein, None)
    assert not Selection(split="test").keeps(both, None)
    assert Selection().keeps(both, None)


def test_selection_refuses_two_choices_and_empty_lists(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match="--subset and --split: give at most one"):
        Selection(subset="Hollstein", split="test")
    with pytest.raises(BenchmarkError, match="--split nope"):
        Selection(split="nope")
    empty = tmp_path / "ids.txt"
    empty.write_text("# nothing\n\n")
    with pytest.raises(BenchmarkError, match="lists no item id"):
        Selection(items_file=empty).listed()
    with pytest.raises(BenchmarkError, match="cannot be read"):
        Selection(items_file=tmp_path / "missing.txt").listed()
