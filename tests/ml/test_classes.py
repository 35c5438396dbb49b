"""stacgen.ml.classes: each scheme against the ALCD classes of ../shared/ALCD.md."""

from __future__ import annotations

import re

import numpy as np
import pytest

from stacgen.ml.classes import IGNORE_INDEX, SCHEMES, scheme
from tests.paths import REPO

# ALCD.md: 0 no_data, 1 not_used, 2 low_clouds, 3 high_clouds, 4 cloud_shadows, 5 land,
# 6 water, 7 snow. Expected index of each value 0-7, per scheme (-100: ignored).
EXPECTED = {
    "alcd": [-100, -100, 1, 2, 3, 4, 5, 6],
    "binary": [-100, -100, 1, 1, 1, 0, 0, 0],
    "cloud-shadow-clear": [-100, -100, 1, 1, 2, 0, 0, 0],
    "cloudsen12": [-100, -100, 1, 2, 3, 0, 0, 0],
}
WITH_NOT_USED = {"alcd": 0, "binary": 0, "cloud-shadow-clear": 0, "cloudsen12": 0}


def test_ignore_index_is_pytorchs_default() -> None:
    assert IGNORE_INDEX == -100


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_scheme_maps_the_alcd_values(name: str) -> None:
    lut = scheme(name).lookup()
    assert lut.dtype == np.int64
    assert lut[:8].tolist() == EXPECTED[name]
    assert set(lut[8:].tolist()) == {IGNORE_INDEX}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_not_used_when_asked(name: str) -> None:
    lut = scheme(name).lookup(not_used=True)
    assert lut[1] == WITH_NOT_USED[name]
    assert lut[0] == IGNORE_INDEX
    assert lut[2:8].tolist() == EXPECTED[name][2:]


def test_the_table_names_its_classes() -> None:
    assert set(SCHEMES) == set(EXPECTED)
    assert scheme("cloudsen12").names == ("clear", "thick_cloud", "thin_cloud", "cloud_shadow")
    assert scheme("alcd").names[1:] == (
        "low_clouds",
        "high_clouds",
        "cloud_shadows",
        "land",
        "water",
        "snow",
    )
    assert len(scheme("alcd").names) == 7


def test_counts_by_class_name() -> None:
    counts = {
        "no_data": 9,
        "not_used": 0,
        "low_clouds": 1,
        "high_clouds": 2,
        "cloud_shadows": 3,
        "land": 4,
        "water": 5,
        "snow": 6,
    }
    assert scheme("binary").counts(counts) == [15, 6]
    assert scheme("cloudsen12").counts(counts) == [15, 1, 2, 3]


def test_an_unknown_scheme_names_the_choices() -> None:
    with pytest.raises(ValueError, match="alcd, binary, cloud-shadow-clear, cloudsen12"):
        scheme("four")


def test_the_readme_table_is_the_schemes() -> None:
    """README.md's class table (the one documentation of the schemes) says what SCHEMES do."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    text = readme[readme.index("| scheme | index: name (ALCD values) |") :].split("\n\n")[0]
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| (.+) \|$", text, flags=re.MULTILINE)
    table = {name: cells for name, cells in rows if name in SCHEMES}
    assert sorted(table) == sorted(SCHEMES)
    for name, cells in table.items():
        documented = [
            (int(i), n, tuple(int(v) for v in values.split(", ")))
            for i, n, values in re.findall(r"(\d+): (\w+) \(([\d, ]+)\)", cells)
        ]
        values = SCHEMES[name].values(not_used=name == "alcd")
        actual = [(i, n, values[n]) for i, n in enumerate(SCHEMES[name].names)]
        assert documented == actual, name
