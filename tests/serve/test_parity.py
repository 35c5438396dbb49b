"""Both backends answer alike (issue 21): the same odd but valid searches (tests/serve/probes.py:
antimeridian, zero-area and 3-D bboxes, query operators beyond eq..gte, each CQL2 function)
give the same status and the same ids in the same order from the embedded backend and from
pgstac, and those refused are refused by both; the ids of a few are also computed here from the
items on disk. Each CQL2 class the API declares is exercised by probes that both answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from stacgen.publish.pgstac import load
from stacgen.serve import Server, serve
from stacgen.serve.catalog import INTERNAL
from tests.catalogs import FixtureCatalog
from tests.serve.probes import CQL2_CLASSES, Probe, probes

pytestmark = pytest.mark.timeout(300)
TIMEOUT = 30
CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/"


@pytest.fixture(scope="module", name="pgstac_server")
def pgstac_server_fixture(
    pgstac_dsn: str, serve_catalog: FixtureCatalog, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    load(pgstac_dsn, serve_catalog.root, INTERNAL)
    browser = tmp_path_factory.mktemp("nb")
    with serve(serve_catalog.root, "127.0.0.1", 0, browser_dir=browser, pgstac=pgstac_dsn) as s:
        yield s


def answer(server: Server, probe: Probe) -> tuple[int, list[str] | str]:
    """The status, and the ids of every match in order (or the reason of a refusal)."""
    url = f"{server.urls.api}search"
    if probe.method == "GET":
        got = requests.get(url, params={**probe.params, "limit": "100"}, timeout=TIMEOUT)
    else:
        got = requests.post(url, json={**probe.params, "limit": 100}, timeout=TIMEOUT)
    body: dict[str, Any] = got.json()
    if got.status_code != 200:
        return got.status_code, str(body.get("description"))
    assert body["numberMatched"] == len(body["features"]), probe.name
    return 200, [f["id"] for f in body["features"]]


@pytest.fixture(scope="module", name="answers")
def answers_fixture(
    server: Server, pgstac_server: Server, serve_catalog: FixtureCatalog
) -> list[tuple[Probe, tuple[int, Any], tuple[int, Any]]]:
    items = [serve_catalog.item(i) for i in serve_catalog.item_ids()]
    found = probes(items)
    assert len(found) >= 64
    return [(p, answer(server, p), answer(pgstac_server, p)) for p in found]


def test_both_backends_give_the_same_ids(
    answers: list[tuple[Probe, tuple[int, Any], tuple[int, Any]]], serve_catalog: FixtureCatalog
) -> None:
    differ = [
        (p.name, embedded, pgstac)
        for p, embedded, pgstac in answers
        if embedded[0] != pgstac[0] or (embedded[0] == 200 and embedded[1] != pgstac[1])
    ]
    assert differ == []
    wrong = [(p.name, p.status, got[0], got[1]) for p, got, _ in answers if got[0] != p.status]
    assert wrong == []
    # Not a comparison of two empty answers: most probes find something, and not everything.
    sizes = [len(got[1]) for p, got, _ in answers if got[0] == 200]
    everything = len(serve_catalog.item_ids())
    assert sum(0 < n < everything for n in sizes) > len(sizes) // 2


def test_ids_computed_from_the_items_on_disk(
    answers: list[tuple[Probe, tuple[int, Any], tuple[int, Any]]],
) -> None:
    known = [(p, got) for p, got, _ in answers if p.expected is not None]
    assert len(known) >= 3
    for probe, got in known:
        assert got == (200, probe.expected), probe.name


def test_every_declared_cql2_class_is_answered_by_both(
    server: Server, pgstac_server: Server, answers: list[tuple[Probe, Any, Any]]
) -> None:
    assert answers
    for api in (server, pgstac_server):
        declared = requests.get(f"{api.urls.api}conformance", timeout=TIMEOUT).json()
        classes = {c.removeprefix(CQL2) for c in declared["conformsTo"] if c.startswith(CQL2)}
        assert classes >= CQL2_CLASSES
    for name in CQL2_CLASSES:
        of_class = [(e, p) for probe, e, p in answers if probe.cql2_class == name]
        assert of_class, name
        assert all(e[0] == p[0] == 200 for e, p in of_class), name
        assert any(e[1] for e, _ in of_class), f"{name}: every probe found nothing"
