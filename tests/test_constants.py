"""stacgen.constants against ../shared/ALCD.md, the project's record of the dataset's facts.

The tables of the dataset (folders, classes, legacy names, the record) are written twice: once
in ALCD.md from the public sources, once in constants.py for the code. These tests read the
Markdown and compare, so a typo in either shows.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

import pytest

from stacgen import constants
from stacgen.source.naming import parse_product_name, parse_tile
from tests.paths import SHARED


def _alcd_md() -> str:
    mirror = os.environ.get("STACGEN_SCHEMAS")
    shared = Path(mirror).parent if mirror else SHARED
    path = shared / "ALCD.md"
    if not path.is_file():
        pytest.fail(f"{path} is missing: the tests need ../shared beside the checkout")
    return path.read_text(encoding="utf-8")


def _table(heading: str) -> list[list[str]]:
    """The rows of the first Markdown table after `heading`, cells stripped of backticks."""
    text = _alcd_md()
    start = text.index(heading)
    rows: list[list[str]] = []
    for line in text[start:].splitlines()[1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip().strip("`").strip("*") for c in line.strip().strip("|").split("|")]
        if not set("".join(cells)) <= set("-: "):
            rows.append(cells)
    return rows[1:]  # the header row


def test_scene_folders_are_the_table_of_alcd_md() -> None:
    rows = _table("## The 38 scene folders")
    assert len(rows) == len(constants.SCENE_FOLDERS)
    for row, folder in zip(rows, constants.SCENE_FOLDERS, strict=True):
        _, subset, _, product, platform, start, orbit, _, tile, epsg = row
        assert (folder.subset, folder.product, folder.tile) == (subset, product, tile)
        name = parse_product_name(product)
        assert name.datetime == datetime.fromisoformat(start)
        assert name.platform == f"sentinel-2{platform[-1].lower()}"
        assert f"R{name.relative_orbit:03d}" == orbit
        assert parse_tile(tile).epsg == int(epsg)


def test_shared_product_is_the_one_in_both_subsets() -> None:
    rows = _table("## The 38 scene folders")
    subsets: dict[str, set[str]] = {}
    for row in rows:
        subsets.setdefault(row[3], set()).add(row[1])
    shared = [product for product, found in subsets.items() if len(found) == 2]
    assert shared == [constants.SHARED_PRODUCT]
    assert constants.FOLDERS_PER_PRODUCT[constants.SHARED_PRODUCT] == 2
    assert len(subsets) == 37


def test_legacy_names_map_as_the_hub_answered() -> None:
    rows = _table("The 8 legacy products have compact names")
    assert dict((legacy, compact) for legacy, compact in rows) == constants.LEGACY_TO_COMPACT


def test_classes_are_the_table_of_alcd_md() -> None:
    rows = _table("### Classes of `classification_map.tif`")
    assert len(rows) == len(constants.CLASSES)
    for (value, name, _, colour), cls in zip(rows, constants.CLASSES, strict=True):
        assert (int(value), name) == (cls.value, cls.name)
        assert tuple(int(c) for c in colour.split(",")) == cls.rgb


def test_class_groups_are_the_k_fold_summarys() -> None:
    # ALCD.md: the cross-validation scores "cloud or shadow (2, 3, 4)" against "clear (1, 5, 6, 7)".
    text = " ".join(_alcd_md().split())
    found = re.search(r"cloud or shadow \(([\d, ]+)\)\S* against \S*clear \(([\d, ]+)\)", text)
    assert found is not None
    cloudy, clear = ({int(v) for v in group.split(",")} for group in found.groups())
    assert set(constants.CLOUD_VALUES) | set(constants.SHADOW_VALUES) == cloudy
    assert set(constants.CLEAR_VALUES) | {constants.NOT_USED_VALUE} == clear
    by_name = {c.name: c.value for c in constants.CLASSES}
    assert (by_name["cloud_shadows"],) == constants.SHADOW_VALUES
    assert (by_name["low_clouds"], by_name["high_clouds"]) == constants.CLOUD_VALUES
    assert (by_name["no_data"], by_name["not_used"]) == (constants.NODATA, constants.NOT_USED_VALUE)


def test_sample_layers_are_named_after_the_classes() -> None:
    text = _alcd_md()
    paragraph = text[text.index("### `Samples/`") :].split("###")[1]
    named = re.findall(r"`([a-z_]+)`", paragraph.split("[seen in the writing code]")[0])
    by_name = {c.name: c.value for c in constants.CLASSES}
    # ALCD.md: `clouds_shadows` is the authors' spelling of cloud_shadows; `background` is the
    # class the table calls not_used ("ALCD's background class").
    aliases = {"clouds_shadows": "cloud_shadows", "background": "not_used"}
    expected = {layer: by_name[aliases.get(layer, layer)] for layer in named}
    assert expected == constants.SAMPLE_LAYERS


def test_record_facts() -> None:
    rows = {row[0]: row[1] for row in _table("## The Zenodo record")}
    assert str(constants.RECORD_ID) in rows["version record, cited DOI"]
    assert constants.DOI in rows["version record, cited DOI"]
    assert constants.ARCHIVE_NAME in rows["files in the record"]
    assert rows["size"].startswith(f"{constants.ARCHIVE_SIZE:,}")
    assert constants.ARCHIVE_MD5 in rows["md5"]
    assert constants.PAPER_DOI in rows["paper"]
