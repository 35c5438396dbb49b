"""A PostgreSQL + PostGIS cluster for the pgstac tests, one per session, in a temp folder.

Where PostgreSQL or PostGIS is not installed the tests that need it skip, naming what is
missing, except where they must run (tests/must_run.py: CI, STACGEN_REQUIRE_PGSTAC=1). conftest.py
loads this module as a pytest plugin.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from stacgen.testing.pgcluster import PgClusterUnavailable, check_available, temporary_cluster
from tests.must_run import missing

_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_programs() -> Path:
    """The folder of PostgreSQL's programs, with PostGIS installed beside them."""
    try:
        return check_available()
    except PgClusterUnavailable as err:
        missing("pgstac", str(err))


@pytest.fixture(scope="session")
def pgstac_dsn(postgres_programs: Path) -> Iterator[str]:
    """The DSN of an empty database in a throw-away cluster started for this session."""
    with temporary_cluster() as dsn:
        yield dsn


@pytest.fixture
def fresh_dsn(pgstac_dsn: str) -> str:
    """The DSN of a new, empty database in the session's cluster: one test's own."""
    name = f"test_{os.getpid()}_{next(_names)}"
    with psycopg.connect(pgstac_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(pgstac_dsn, dbname=name)
