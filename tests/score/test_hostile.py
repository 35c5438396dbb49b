"""`stacgen score` against hostile input (issue 18): every case is made at test time, and each
ends in exit status 1 and one line naming the file or parameter (or in a score), with the bytes
of everything that existed before unchanged and every wait under its stated bound."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
import rasterio
from click.testing import CliRunner, Result
from rasterio.crs import CRS

from stacgen.cli import main
from stacgen.score import ScoreError, ScoreOptions, bounded, score_mask
from stacgen.score import reference as reference_mod
from stacgen.score.outputs import MARKER
from tests.bounded import finishes_within
from tests.score.helpers import (
    ITEM,
    alcd_groups,
    encode,
    item_json,
    read_reference,
    write_mask,
)


def _snapshot(*folders: Path) -> dict[str, bytes]:
    return {
        str(p): p.read_bytes()
        for folder in folders
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _cli(*args: object) -> Result:
    return CliRunner().invoke(main, ["score", *map(str, args)])


def _one_line(result: Result, *needles: str) -> str:
    """The one line of a refused run (exit 1, nothing else on stdout or stderr)."""
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    (line,) = lines
    assert line.startswith("Error: "), line
    for needle in needles:
        assert needle in line, line
    return line


@pytest.fixture(name="mask")
def mask_fixture(built_catalog: Path, tmp_path: Path) -> Path:
    """A good 20 m Sen2Cor mask of ITEM, in a folder of its own."""
    ref = read_reference(built_catalog)
    folder = tmp_path / "masks"
    folder.mkdir()
    return write_mask(
        folder / f"{ITEM}_SCL.tif", encode(alcd_groups(ref.values), "sen2cor"), ref, 3
    )


# --- 1. --out: missing, empty or score's own; anything else refused, nothing touched -------------
def _out_cases(tmp_path: Path, mask: Path, catalog: Path) -> Iterator[tuple[str, Path, str]]:
    users = tmp_path / "mine"
    (users / "notes").mkdir(parents=True)
    (users / "notes" / "todo.txt").write_text("keep me")
    yield "a folder of the user's files", users, "not empty and not a folder stacgen score wrote"
    yield "the mask folder", mask.parent, "holds the mask"
    yield "inside the mask folder", mask.parent / "scores", "inside the mask folder"
    a_file = tmp_path / "results.txt"
    a_file.write_text("keep me too")
    yield "a file", a_file, "exists and is not a folder"
    yield "a catalog", catalog, "not empty and not a folder stacgen score wrote"
    link = tmp_path / "link"
    link.symlink_to(users)
    yield "a link to a folder", link, "is a symbolic link"
    yield "under a file", a_file / "scores", "cannot write in"


@pytest.mark.parametrize(
    "case",
    [
        "a folder of the user's files",
        "the mask folder",
        "inside the mask folder",
        "a file",
        "a catalog",
        "a link to a folder",
        "under a file",
    ],
)
def test_out_that_is_not_ours_is_refused_and_untouched(
    built_catalog: Path, tmp_path: Path, mask: Path, case: str
) -> None:
    cases = {
        name: (out, message) for name, out, message in _out_cases(tmp_path, mask, built_catalog)
    }
    out, message = cases[case]
    before = _snapshot(tmp_path, built_catalog)
    listing = sorted(p.name for p in tmp_path.iterdir())
    masks = mask.parent if case == "inside the mask folder" else mask
    result = _cli(masks, "--codes", "sen2cor", "--catalog", built_catalog, "--out", out)
    _one_line(result, f"--out {out.absolute()}", message)
    assert _snapshot(tmp_path, built_catalog) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # no temp folder left


def test_out_of_a_previous_run_is_replaced_and_an_empty_one_filled(
    built_catalog: Path, tmp_path: Path, mask: Path
) -> None:
    out = tmp_path / "scores"
    out.mkdir()
    args = [mask, "--codes", "sen2cor", "--catalog", built_catalog, "--out", out]
    assert _cli(*args).exit_code == 0
    assert json.loads((out / MARKER).read_text())["written_by"] == "stacgen score"
    (out / "old.txt").write_text("from the first run's folder")
    assert _cli(*args).exit_code == 0
    assert not (out / "old.txt").exists()
    assert (out / "scores.json").is_file()


# --- 2. inputs that used to end in a traceback ---------------------------------------------------
def test_a_truncated_mask_is_one_line(built_catalog: Path, tmp_path: Path, mask: Path) -> None:
    with rasterio.open(mask, "r+") as ds:
        ds.update_tags(note="tiles at the end")
    cut = tmp_path / f"{ITEM}_cut.tif"
    data = mask.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    result = _cli(cut, "--codes", "sen2cor", "--catalog", built_catalog)
    _one_line(result, f"mask {cut}")


def test_a_mask_in_an_engineering_crs_is_one_line(built_catalog: Path, tmp_path: Path) -> None:
    ref = read_reference(built_catalog)
    local = CRS.from_wkt(
        'LOCAL_CS["lab",UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]'
    )
    path = tmp_path / f"{ITEM}_local.tif"
    profile = dict(driver="GTiff", width=8, height=8, count=1, dtype="uint8", crs=local)
    with rasterio.open(path, "w", transform=ref.transform, **profile) as dst:
        dst.write(np.full((8, 8), 4, np.uint8), 1)
    result = _cli(path, "--codes", "sen2cor", "--catalog", built_catalog)
    _one_line(result, f"mask {path}", "neither geographic nor projected")


def test_a_huge_dilation_is_bounded_by_the_grid(built_catalog: Path, mask: Path) -> None:
    item = str(item_json(built_catalog))
    huge = finishes_within(
        120, lambda: score_mask(mask, "sen2cor", item, ScoreOptions(dilate_cloud=100_000))
    )
    ref = read_reference(built_catalog)
    whole = max(ref.values.shape)
    grid = score_mask(mask, "sen2cor", item, ScoreOptions(dilate_cloud=whole))
    assert huge.joint == grid.joint
    # Every clear or shadow cell of the mask became cloud: the tile holds cloud somewhere.
    assert sum(row[1] + row[3] for row in huge.joint) == 0


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"cloud": ' + _deep(100_000) + "}", "nested too deep"),
        ('{"cloud": [1], "clear": [' + "1" + "0" * 30 + "]}", "has 31 digits"),
        ('{"cloud": [4, 4]}', "value 4 is twice in 'cloud'"),
        ('{"cloud": 5}', "'cloud' must be a list of integers"),
        ("[1, 2]", "expected an object"),
    ],
)
def test_hostile_code_files_are_one_line(
    built_catalog: Path, tmp_path: Path, mask: Path, text: str, message: str
) -> None:
    codes = tmp_path / "codes.json"
    codes.write_text(text)
    result = finishes_within(60, lambda: _cli(mask, "--codes", codes, "--catalog", built_catalog))
    _one_line(result, str(codes), message)


@pytest.mark.parametrize(
    ("dtype", "bad", "message"),
    [
        ("float32", 1.5, "not s2cloudless probabilities (0-1): values outside it: 1.5 ("),
        ("float32", -0.25, "values outside it: -0.25 ("),
        ("uint8", 200, "not s2cloudless probabilities (0-100): values outside it: 200 ("),
    ],
)
def test_probabilities_outside_their_range_are_refused(
    built_catalog: Path, tmp_path: Path, dtype: str, bad: float, message: str
) -> None:
    ref = read_reference(built_catalog)
    scale = 1.0 if dtype == "float32" else 100.0
    values = np.full(ref.values.shape, 0.3 * scale, dtype=dtype)
    values[5:9, 5:9] = bad  # 16 cells, 4 x 4 pixels each at 15 m
    path = write_mask(tmp_path / f"{ITEM}_prob.tif", values, ref, 4)
    result = _cli(path, "--codes", "s2cloudless", "--threshold", "0.4", "--catalog", built_catalog)
    line = _one_line(result, f"mask {path}", message)
    assert f"{bad} (256 px)" in line, "counted over the whole mask"


def test_unlisted_values_are_counted_over_the_whole_mask(
    built_catalog: Path, tmp_path: Path
) -> None:
    ref = read_reference(built_catalog)
    values = encode(alcd_groups(ref.values), "sen2cor")
    values[values == 4] = 77  # every clear land cell, all over the tile
    want = int((values == 77).sum()) * 9
    path = write_mask(tmp_path / f"{ITEM}_77.tif", values, ref, 3)
    result = _cli(path, "--codes", "sen2cor", "--catalog", built_catalog)
    _one_line(result, f"values not in the sen2cor table: 77 ({want} px)")


# --- 3. waits: a reference server that accepts and never answers ---------------------------------
@pytest.fixture(name="silent_url")
def silent_url_fixture() -> Iterator[str]:
    """A server that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


def test_a_reference_server_that_never_answers_is_cut_by_the_gdal_timeouts(
    built_catalog: Path, tmp_path: Path, mask: Path, silent_url: str, monkeypatch: Any
) -> None:
    monkeypatch.setattr(reference_mod, "CONNECT_TIMEOUT", 1)
    monkeypatch.setattr(reference_mod, "READ_TIMEOUT", 1)
    monkeypatch.setattr(reference_mod, "RETRY_DELAY", 0.1)
    doc = json.loads(item_json(built_catalog).read_text())
    doc["assets"]["classification"]["href"] = f"{silent_url}/classification.tif"
    item = tmp_path / "item.json"
    item.write_text(json.dumps(doc))
    with pytest.raises(
        ScoreError, match=rf"^reference {silent_url}/classification.tif: cannot be read"
    ):
        finishes_within(60, lambda: score_mask(mask, "sen2cor", str(item)))


# --- 4. hostile catalogs: each is one line, every wait bounded ----------------------------------
def _catalog_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hostile" / "catalog.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def _root(**fields: Any) -> dict[str, Any]:
    return {"type": "Catalog", "stac_version": "1.0.0", "id": "c", "description": "d", **fields}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"links": ' + _deep(100_000) + "}", "malformed JSON (nested too deep)"),
        (json.dumps(_root(links=5)), "'links' is not a list"),
        (json.dumps(_root(links=["./a/catalog.json", "b"])), "a link is not an object"),
        (json.dumps(_root(links=[{"rel": 5, "href": "x.json"}])), "'rel' is not a string"),
        (
            json.dumps(
                _root(
                    links=[{"rel": "child", "href": f"./d{k}/catalog.json"} for k in range(100_000)]
                )
            ),
            "100000 links, more than 10000: not followed",
        ),
        (
            json.dumps(_root(links=[{"rel": "child", "href": "./dead/catalog.json"}])),
            "dead/catalog.json: cannot be read",
        ),
        ("[]", "malformed JSON (expected an object)"),
    ],
)
def test_hostile_static_catalogs_are_one_line(
    tmp_path: Path, mask: Path, text: str, message: str
) -> None:
    catalog = _catalog_file(tmp_path, text)
    before = _snapshot(tmp_path)
    result = finishes_within(60, lambda: _cli(mask, "--codes", "sen2cor", "--catalog", catalog))
    _one_line(result, message)
    assert _snapshot(tmp_path) == before


API_CONFORMS = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/item-search",
]


def _landing(base: str, **fields: Any) -> dict[str, Any]:
    search = {
        "rel": "search",
        "href": f"{base}search",
        "type": "application/geo+json",
        "method": "GET",
    }
    return {**_root(conformsTo=API_CONFORMS, links=[search]), **fields}


def test_an_api_whose_conformance_is_not_a_list_is_one_line(httpserver: Any, mask: Path) -> None:
    base = httpserver.url_for("/")
    httpserver.expect_request("/").respond_with_json(_landing(base, conformsTo=5))
    result = finishes_within(60, lambda: _cli(mask, "--codes", "sen2cor", "--catalog", base))
    _one_line(result, base, "'conformsTo' is not a list of strings")


def test_an_api_with_features_that_are_not_objects_is_one_line(httpserver: Any, mask: Path) -> None:
    base = httpserver.url_for("/")
    httpserver.expect_request("/").respond_with_json(_landing(base))
    page = {"type": "FeatureCollection", "features": [5, "x"], "links": []}
    httpserver.expect_request("/search").respond_with_json(page)
    result = finishes_within(60, lambda: _cli(mask, "--codes", "sen2cor", "--catalog", base))
    _one_line(result, "'features' is not a list of objects")


def test_an_api_paging_for_ever_is_cut(httpserver: Any, mask: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(reference_mod, "MAX_ITEMS", 25)
    base = httpserver.url_for("/")
    httpserver.expect_request("/").respond_with_json(_landing(base))
    other: dict[str, Any] = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": "other",
        "geometry": None,
        "properties": {"datetime": "2017-10-02T10:30:00Z"},
        "assets": {},
        "links": [],
    }
    forever = {"rel": "next", "href": f"{base}search?token=again", "type": "application/geo+json"}
    page = {"type": "FeatureCollection", "features": [other], "links": [forever]}
    httpserver.expect_request("/search").respond_with_json(page)
    result = finishes_within(60, lambda: _cli(mask, "--codes", "sen2cor", "--catalog", base))
    _one_line(result, "item other")  # found by product name (the server lies), no asset
    assert len(httpserver.log) <= 1 + 3 * 25  # the landing page, then at most 25 pages a search


def test_an_api_answering_empty_pages_with_next_links_stops(httpserver: Any, mask: Path) -> None:
    base = httpserver.url_for("/")
    httpserver.expect_request("/").respond_with_json(_landing(base))
    forever = {"rel": "next", "href": f"{base}search?token=again", "type": "application/geo+json"}
    empty = {"type": "FeatureCollection", "features": [], "links": [forever]}
    httpserver.expect_request("/search").respond_with_json(empty)
    result = finishes_within(60, lambda: _cli(mask, "--codes", "sen2cor", "--catalog", base))
    _one_line(result, "no reference item found")
    assert len(httpserver.log) <= 4  # the landing page, then one empty page per search


@contextmanager
def _raw_server(answer: Callable[[socket.socket, threading.Event], None]) -> Iterator[str]:
    """A TCP server on 127.0.0.1 that reads each request's head, then lets `answer` misbehave."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.1)
    stop = threading.Event()

    def one(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            head = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in head:
                    head += conn.recv(4096) or b"\r\n\r\n"
                answer(conn, stop)

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            threading.Thread(target=one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}/catalog.json"
    finally:
        stop.set()
        thread.join(5)
        srv.close()


def _drip(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
    conn.sendall(b'{"type": "Catalog", "description": "')
    while not stop.wait(0.05):
        conn.sendall(b"x")


def _silence(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait(30)


def test_a_catalog_that_drips_bytes_is_cut(mask: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(bounded, "DOCUMENT_SECONDS", 1.0)
    with _raw_server(_drip) as url:
        result = finishes_within(60, lambda: _cli(mask, "--codes", "sen2cor", "--catalog", url))
    _one_line(result, f"{url}: the answer took over 1 s: cut")


def _half(conn: socket.socket, stop: threading.Event) -> None:
    """The head of an answer and 9 of its 500 bytes, then the connection closed."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    conn.sendall(b'Content-Length: 500\r\n\r\n{"type": ')


def _half_then_silence(conn: socket.socket, stop: threading.Event) -> None:
    _half(conn, stop)
    stop.wait(30)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (_silence, "connected, but no answer in 1 s"),
        (_half, "broke off its answer midway (Connection broken: IncompleteRead(9 bytes read"),
        (_half_then_silence, "stopped answering midway (no byte in 1 s)"),
    ],
    ids=["silent", "cut", "cut-then-silent"],
)
def test_a_catalog_that_never_answers_or_cuts_its_answer_is_cut_with_its_bound_said(
    answer: Callable[[socket.socket, threading.Event], None],
    words: str,
    mask: Path,
    monkeypatch: Any,
) -> None:
    """The read bound holds (pystac-client's Client.open resets StacApiIO's timeout to None:
    the silent server used to be waited on until it hung up) and the line says which bound."""
    monkeypatch.setattr(bounded, "READ_SECONDS", 1.0)
    with _raw_server(answer) as url:
        result = finishes_within(15, lambda: _cli(mask, "--codes", "sen2cor", "--catalog", url))
    _one_line(result, f"{url}: {words}")


def test_a_catalog_server_that_refuses_connections_is_one_line() -> None:
    """A refused connection is not a connect timeout (urllib3 derives the one from the
    other): it says it cannot be reached, at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/catalog.json"  # bound, not listening
        io = bounded.BoundedIO()
        with pytest.raises(ScoreError, match=r"cannot be reached \(ConnectionError\)$"):
            finishes_within(15, lambda: io.request(url))


# --- 5. the worker processes die with `stacgen score` --------------------------------------------
def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _slow_catalog(built_catalog: Path, folder: Path, asset_url: str) -> Path:
    """A catalog of ITEM alone whose reference COG is at `asset_url`."""
    doc = json.loads(item_json(built_catalog).read_text())
    doc["assets"]["classification"]["href"] = asset_url
    doc["links"] = []
    (folder / "item.json").write_text(json.dumps(doc))
    root = _root(links=[{"rel": "item", "href": "./item.json", "type": "application/geo+json"}])
    (folder / "catalog.json").write_text(json.dumps(root))
    return folder / "catalog.json"


def test_killing_score_leaves_no_worker_alive(
    built_catalog: Path, tmp_path: Path, mask: Path
) -> None:
    second = mask.with_name(f"{ITEM}_copy.tif")
    second.write_bytes(mask.read_bytes())
    with _raw_server(_silence) as url:  # the workers wait on the reference: killed meanwhile
        catalog = _slow_catalog(built_catalog, tmp_path, url.replace("catalog.json", "c.tif"))
        command = [sys.executable, "-m", "stacgen", "score", str(mask), str(second)]
        command += ["--codes", "sen2cor", "--catalog", str(catalog), "--workers", "2", "--quiet"]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        family: list[psutil.Process] = []
        while proc.poll() is None and len(family) < 3 and time.monotonic() < deadline:
            family = psutil.Process(proc.pid).children(recursive=True)
            time.sleep(0.05)
        assert proc.poll() is None, "score ended before it could be killed"
        assert len(family) >= 3, "the forkserver and the two workers"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 15
        while not all(_gone(p.pid) for p in family) and time.monotonic() < deadline:
            time.sleep(0.05)
    alive = [(p.pid, p.name()) for p in family if not _gone(p.pid)]
    for p in family:
        if not _gone(p.pid):
            p.kill()  # do not leave them to the next test
    assert alive == []


# --- 6. a batch is not all-or-nothing ------------------------------------------------------------
def test_a_mask_over_reference_no_data_gets_its_row_and_the_rest_are_scored(
    built_catalog: Path, tmp_path: Path, mask: Path
) -> None:
    ref = read_reference(built_catalog)
    empty = write_mask(
        tmp_path / f"{ITEM}_nodata.tif", np.zeros(ref.values.shape, np.uint8), ref, 3
    )  # Sen2Cor 0: no data everywhere
    out = tmp_path / "scores"
    result = _cli(mask, empty, "--codes", "sen2cor", "--catalog", built_catalog, "--out", out)
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert f"not scored: mask {empty}: no pixel left to compare" in rows[empty.name]
    assert rows["pooled"].endswith("1 mask(s)")
    doc = json.loads((out / "scores.json").read_text())
    assert [m["mask"] for m in doc["masks"]] == [str(mask)]
    (unscored,) = doc["unscored"]
    assert unscored["mask"] == str(empty)
    assert "no pixel left to compare" in unscored["reason"]
    assert sorted(p.name for p in out.glob("*.agreement.png")) == [f"{mask.stem}.agreement.png"]


# --- 7. link walks and the whole lookup are bounded ----------------------------------------------
def _endless(request: Any) -> Any:
    """Catalog N links to catalog N + 1, for ever: a walk that never ends by itself."""
    from werkzeug import Response

    n = int(request.path.rsplit("/", 1)[1].split(".")[0])
    doc = _root(links=[{"rel": "child", "href": f"./{n + 1}.json", "type": "application/json"}])
    time.sleep(0.2 if request.path.startswith("/slow/") else 0)
    return Response(json.dumps(doc), content_type="application/json")


def test_an_endless_chain_of_child_links_is_cut(
    httpserver: Any, mask: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr(bounded, "MAX_DOCUMENTS", 20)
    httpserver.expect_request(re.compile(r"/c/\d+\.json")).respond_with_handler(_endless)
    url = httpserver.url_for("/c/0.json")
    result = finishes_within(60, lambda: _cli(mask, "--codes", "sen2cor", "--catalog", url))
    _one_line(result, "more than 20 documents read: lookup stopped")
    assert len(httpserver.log) <= 21


def test_a_lookup_over_its_total_time_is_cut(httpserver: Any, mask: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(bounded, "LOOKUP_SECONDS", 1.0)
    httpserver.expect_request(re.compile(r"/slow/\d+\.json")).respond_with_handler(_endless)
    url = httpserver.url_for("/slow/0.json")
    result = finishes_within(60, lambda: _cli(mask, "--codes", "sen2cor", "--catalog", url))
    _one_line(result, "the catalog lookup took over 1 s")
