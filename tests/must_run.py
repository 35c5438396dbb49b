"""The one rule for tests that need what a machine may lack (Chromium and a built STAC Browser,
PostgreSQL with PostGIS, GDAL's command-line tools): they skip, naming what is missing, except
where they must run, and there they fail instead, so that they can never pass by not running.

They must run in CI (env CI set, as CI services set it) and wherever their switch is set:
STACGEN_REQUIRE_BROWSER_TEST=1 for the browser tests, STACGEN_REQUIRE_PGSTAC=1 for the pgstac
ones, STACGEN_REQUIRE_GDAL=1 for those that run GDAL's tools (.ci/run sets all three after
installing what they need).
"""

from __future__ import annotations

import os
from typing import Final, Literal, NoReturn

import pytest

Need = Literal["browser", "pgstac", "gdal"]
SWITCHES: Final[dict[Need, str]] = {
    "browser": "STACGEN_REQUIRE_BROWSER_TEST",
    "pgstac": "STACGEN_REQUIRE_PGSTAC",
    "gdal": "STACGEN_REQUIRE_GDAL",
}


def _set(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def why_required(need: Need) -> str | None:
    """What makes the tests that need `need` run here (a variable's name), or None."""
    for name in ("CI", SWITCHES[need]):
        if _set(name):
            return name
    return None


def missing(need: Need, reason: str) -> NoReturn:
    """Skip for `reason`, or fail where the tests must run."""
    why = why_required(need)
    if why is not None:
        pytest.fail(f"{reason} ({why} is set: this test must run here)")
    pytest.skip(reason)
