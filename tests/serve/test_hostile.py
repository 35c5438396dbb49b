"""`stacgen serve` against hostile input (issue 18): every case made here, at test time, and each
answered as the README promises: a 4xx with a one-line reason naming the parameter (never a
500), oversized request heads refused before they are held in memory (431), no way out of the
folder or into a loop, and one catalog per answer while a rebuild swaps the folder every few
milliseconds. (The pgstac backend's own cases: test_pgstac_hostile.py.)"""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import pytest
import requests

from stacgen import constants
from stacgen.serve import Server, serve
from stacgen.serve.guard import MAX_PATH
from stacgen.serve.protocol import MAX_HEAD, MAX_HEADERS
from tests.catalogs import FixtureCatalog

pytestmark = pytest.mark.timeout(300)
TIMEOUT = 10
DEEP = 1000


def one_line_400(answer: requests.Response, *words: str) -> str:
    assert answer.status_code == 400, answer.text[:300]
    description = answer.json()["description"]
    assert isinstance(description, str)
    assert "\n" not in description
    for word in words:
        assert word in description, (word, description)
    return description


# --- the 500s of the hostile round: now 400s naming the parameter --------------------------------
@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("token=next:%C2%B2", ["token", "not a token this API gave"]),
        ("token=" + "9" * 5000, ["token", "5000 characters"]),
        ("intersects=" + quote('{"type":"Foo"}'), ["intersects", "'Foo'"]),
        ("intersects=" + quote("[" * DEEP + "]" * DEEP), ["intersects", "nested"]),
        ("query=" + quote('{"a":' * DEEP + "1" + "}" * DEEP), ["query", "nested"]),
        ("filter=" + quote("(" * DEEP + "id = 'x'" + ")" * DEEP), ["filter", "nested"]),
        ("sortby=alcd:subsets", ["sortby", "'alcd:subsets' is an array"]),
        ("intersects=" + quote('{"type":"Point","coordinates":[NaN,1]}'), ["intersects", "NaN"]),
        ("bbox=0,0,1,1000", ["bbox", "latitude 1000"]),
    ],
)
def test_what_answered_500_is_a_400_naming_the_parameter(
    api_server: Server, query: str, words: list[str]
) -> None:
    one_line_400(requests.get(f"{api_server.urls.api}search?{query}", timeout=TIMEOUT), *words)


@pytest.mark.parametrize(
    ("cql2", "words"),
    [
        ("datetime > TIMESTAMP('2017-13-45T00:00:00Z')", ["TIMESTAMP", "2017-13-45"]),
        ("datetime < DATE('2018-02-30')", ["DATE", "2018-02-30"]),
        ("T_DURING(datetime, INTERVAL('2018-01-01', 'soon'))", ["INTERVAL", "'soon'"]),
        ("T_DURING(datetime, INTERVAL('2019-01-01', '2018-01-01'))", ["ends before it starts"]),
        ("A_CONTAINS(\"alcd:site\", ('Arles'))", ["a_contains", "'alcd:site' is a string"]),
        ("S_INTERSECTS(geometry, POLYGON((0 0, 1 1)))", ["Polygon", "4 coordinates"]),
        ("S_INTERSECTS(geometry, POLYGON((0 0, 2 2, 2 0, 0 2, 0 0)))", ["Self-intersection"]),
        ("S_INTERSECTS(geometry, POINT(200 0))", ["longitude -180..180"]),
        ("eo:cloud_cover = 'high'", ["'eo:cloud_cover' is a number", "string"]),
        ("datetime > 'yesterday'", ["'yesterday' is not an RFC 3339 date-time"]),
    ],
)
def test_invalid_filters_are_400_not_empty_answers(
    api_server: Server, cql2: str, words: list[str]
) -> None:
    answer = requests.get(f"{api_server.urls.api}search", params={"filter": cql2}, timeout=TIMEOUT)
    assert one_line_400(answer, *words).startswith("filter: ")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"query": {"alcd:site": {"in": "Arles"}}}, ["query", "'in' on 'alcd:site' takes a list"]),
        ({"query": {"eo:cloud_cover": {"lt": "abc"}}}, ["query", "is a number"]),
        ({"intersects": {"type": "Point", "coordinates": [0, 1000]}}, ["latitude -90..90"]),
        ({"bbox": [0, 0, 1, 1000]}, ["bbox"]),
        (
            {
                "filter": {
                    "op": "s_intersects",
                    "args": [{"property": "geometry"}, {"bbox": [0, 5, 1, 1]}],
                }
            },
            ["BBOX", "south is north of its north"],
        ),
    ],
)
def test_invalid_post_searches_are_400(
    api_server: Server, body: dict[str, Any], words: list[str]
) -> None:
    answer = requests.post(f"{api_server.urls.api}search", json=body, timeout=TIMEOUT)
    one_line_400(answer, *words)


def test_get_refuses_the_latitude_post_refuses(api_server: Server) -> None:
    bbox = [0, 0, 1, 1000]
    got = requests.get(f"{api_server.urls.api}search?bbox=0,0,1,1000", timeout=TIMEOUT)
    posted = requests.post(f"{api_server.urls.api}search", json={"bbox": bbox}, timeout=TIMEOUT)
    assert (got.status_code, posted.status_code) == (400, 400)


def test_the_split_filter_says_how_to_quote_it(api_server: Server) -> None:
    answer = requests.get(
        f"{api_server.urls.api}search", params={"filter": "ml-aoi:split = 'test'"}, timeout=TIMEOUT
    )
    one_line_400(answer, "unknown property", "needs double quotes", '"ml-aoi:split"')


def test_a_path_longer_than_path_max_is_414(server: Server) -> None:
    path = "/".join(["a" * 200] * (MAX_PATH // 200 + 2))
    answer = requests.get(f"{server.urls.root}{path}", timeout=TIMEOUT)
    assert answer.status_code == 414
    assert str(MAX_PATH) in answer.json()["description"]


# --- the static files -----------------------------------------------------------------------------
@pytest.fixture(scope="module", name="looped")
def looped_fixture(
    serve_catalog: FixtureCatalog, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A copy of the catalog with symbolic link loops inside it, served."""
    folder = tmp_path_factory.mktemp("looped") / "catalog"
    shutil.copytree(serve_catalog.root, folder)
    (folder / "loop-a").symlink_to("loop-b")
    (folder / "loop-b").symlink_to("loop-a")
    (folder / "self").symlink_to("self")
    (folder / "outside").symlink_to("/etc")
    with serve(folder, "127.0.0.1", 0, browser_dir=tmp_path_factory.mktemp("nb")) as s:
        yield s


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("loop-a", 404),
        ("loop-b/x.json", 404),
        ("self/self/catalog.json", 404),
        ("outside/passwd", 403),
    ],
)
def test_links_loops_and_ways_out_are_refused(looped: Server, path: str, status: int) -> None:
    answer = requests.get(f"{looped.urls.root}{path}", timeout=TIMEOUT)
    assert answer.status_code == status
    assert requests.get(looped.urls.catalog, timeout=TIMEOUT).status_code == 200


# --- request heads: refused before they are held --------------------------------------------------
def raw_exchange(server: Server, head: Iterator[bytes]) -> bytes:
    """Send the head in pieces, stop as soon as the server answers; what it answered."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as conn:
        for piece in head:
            if select.select([conn], [], [], 0)[0]:
                break
            try:
                conn.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
        data = b""
        try:
            while chunk := conn.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    return data


def huge_headers(count: int, size: int) -> Iterator[bytes]:
    yield b"GET /api/ HTTP/1.1\r\nHost: x\r\n"
    for n in range(count):
        yield f"X-Big-{n}: ".encode()
        for _ in range(size // 16384):
            yield b"a" * 16384
        yield b"\r\n"
    yield b"\r\n"


def test_twenty_headers_of_10_mb_are_431_and_not_held(server: Server) -> None:
    me = psutil.Process(os.getpid())  # the server runs in this process
    before = me.memory_info().rss
    answer = raw_exchange(server, huge_headers(20, 10 * 2**20))
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert body["description"] == f"the request's line and headers are over {MAX_HEAD} bytes"
    assert me.memory_info().rss - before < 64 * 2**20  # not the 200 MB sent at it
    assert requests.get(server.urls.catalog, timeout=TIMEOUT).status_code == 200


def test_too_many_headers_are_431(server: Server) -> None:
    headers = {f"X-H-{n}": "1" for n in range(MAX_HEADERS + 1)}
    answer = requests.get(server.urls.catalog, headers=headers, timeout=TIMEOUT)
    assert answer.status_code == 431
    assert answer.json()["description"] == f"the request has more than {MAX_HEADERS} headers"
    assert requests.get(server.urls.catalog, headers=dict(list(headers.items())[:50]),
                        timeout=TIMEOUT).status_code == 200  # fmt: skip


def test_a_long_but_allowed_filter_fits_in_a_get(server: Server) -> None:
    cql2 = " OR ".join(f"id = 'item-{n:05d}'" for n in range(900))  # about 18,000 characters
    answer = requests.get(f"{server.urls.api}search", params={"filter": cql2}, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text[:200]


# --- one catalog per answer while a rebuild swaps the folder -------------------------------------
def retitled(source: Path, target: Path, mark: str) -> None:
    """A copy of the catalog whose every item's title ends with `mark`."""
    shutil.copytree(source, target)
    for path in (target / constants.COLLECTION_ID).glob("*/*.json"):
        if path.stem != path.parent.name:
            continue
        item = json.loads(path.read_text())
        item["properties"]["title"] += mark
        path.write_text(json.dumps(item))


def test_answers_never_mix_two_catalogs_under_swaps(
    serve_catalog: FixtureCatalog, tmp_path: Path
) -> None:
    served, spare, away = tmp_path / "catalog", tmp_path / "spare", tmp_path / "away"
    retitled(serve_catalog.root, served, " [A]")
    retitled(serve_catalog.root, spare, " [B]")
    stop, swaps = threading.Event(), [0]

    def swap() -> None:  # as a build does: a whole folder renamed into place
        while not stop.wait(0.002):
            os.rename(served, away)
            os.rename(spare, served)
            os.rename(away, spare)
            swaps[0] += 1

    marks: list[set[str]] = []
    with serve(served, "127.0.0.1", 0, browser_dir=tmp_path / "nb") as server:
        swapper = threading.Thread(target=swap)
        swapper.start()
        try:
            for _ in range(150):
                marks.append(search_marks(server))
        finally:
            stop.set()
            swapper.join()
        last = "[B]" if swaps[0] % 2 else "[A]"
        settled = search_marks(server, until=last)
    assert swaps[0] > 100
    assert all(len(m) == 1 for m in marks), [m for m in marks if len(m) != 1][:3]
    assert settled == {last}  # and once the swaps stop, the API answers from the catalog there


def search_marks(server: Server, until: str | None = None) -> set[str]:
    """The marks of the titles of one answer (of every item); with `until`, asked again (for a
    bounded number of times) until the answer is of that catalog."""
    for _ in range(200):
        answer = requests.get(f"{server.urls.api}search?limit=100", timeout=TIMEOUT)
        assert answer.status_code == 200, answer.text[:200]
        marks = {f["properties"]["title"][-3:] for f in answer.json()["features"]}
        if until is None or marks == {until}:
            return marks
        threading.Event().wait(0.05)
    return marks
