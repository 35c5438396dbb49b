"""`stacgen publish` against hostile input and faulty servers (issue 18): bad destinations and
endpoints refused in one line before anything is read or sent, and every wait on a server that
accepts and never answers, or cuts its answer midway, bounded and said in one line.

The faulty servers are sockets on 127.0.0.1 made at test time; the answer cut midway is the
one moto (a peer S3 implementation) gave for the same listing, sent in part.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import pytest
import requests
from click.testing import CliRunner

from stacgen.cli import main
from stacgen.layout.catalog import LICENSE_STATE, STATE_FILE
from stacgen.publish.pipeline import PublishOptions, publish
from stacgen.publish.store import StoreError, Timeouts
from tests.bounded import finishes_within
from tests.publish.cli import one_error_line
from tests.publish.s3 import Bucket, S3Server

pytestmark = pytest.mark.timeout(180)

# Small bounds, so that a hang shows in seconds; the defaults are in seconds too (below).
QUICK = Timeouts(connect=1, read=1, request=5, retries=1, retry_within=2)
Fault = Literal["silent", "cut-stall", "cut-close"]
COLLECTION = "alcd-reference-cloud-masks"


def cli(*args: object) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# --- destinations and endpoints, refused before anything is read ----------------------------------
@pytest.mark.parametrize(
    "to",
    [
        "s3://stacgen-b/x/../d",
        "s3://stacgen-b/../d",
        "s3://stacgen-b/x/./d",
        "s3://stacgen-b/x//d",
        "s3://stacgen-b/x/\x01/d",
        "s3://b/alcd",  # one letter: no S3 store takes it
        "s3://Bad Bucket/alcd",
        "s3://stacgen-b/alcd?versionId=1",
    ],
)
def test_a_destination_readers_would_not_find_is_refused(
    to: str, built_catalog: Path, schemas: Path
) -> None:
    before = snapshot(built_catalog)
    result = cli(
        "publish", built_catalog, "--to", to, "--root-href", "https://example.org/alcd",
        "--endpoint-url", "http://127.0.0.1:9", "--schemas", schemas, "--quiet",
    )  # fmt: skip
    line = one_error_line(result)
    assert "--to" in line
    assert snapshot(built_catalog) == before


BAD_ENDPOINTS = [
    "not a url",
    "http://",
    "127.0.0.1:5000",
    "ftp://127.0.0.1:21",
    "http://[::1",
    "http://127.0.0.1:99999",
    "http://exa mple.org",
    "http://127.0.0.1:1?x=1",
]


@pytest.mark.parametrize("endpoint", BAD_ENDPOINTS)
def test_an_endpoint_that_is_no_url_is_one_line_not_a_panic(
    endpoint: str, built_catalog: Path, schemas: Path
) -> None:
    result = cli(
        "publish", built_catalog, "--to", "s3://stacgen-bucket/alcd",
        "--root-href", "https://example.org/alcd", "--endpoint-url", endpoint,
        "--schemas", schemas, "--quiet",
    )  # fmt: skip
    line = one_error_line(result)
    assert "--endpoint-url" in line
    assert repr(endpoint) in line


def test_a_bad_aws_endpoint_url_in_the_environment_is_named(
    built_catalog: Path, schemas: Path, aws_env: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "not a url")
    result = cli(
        "publish", built_catalog, "--to", "s3://stacgen-bucket/alcd",
        "--root-href", "https://example.org/alcd", "--schemas", schemas, "--quiet",
    )  # fmt: skip
    assert "AWS_ENDPOINT_URL 'not a url'" in one_error_line(result)


BAD_ROOT_HREFS = [
    "http://",
    "http://[::1/x",
    "http://exa mple.org/alcd",
    "https://example.org/alcd?v=1",
    "https://example.org/alcd#top",
    "https://example.org/x/../alcd",
    "https://example.org/alcd/..",
    "ftp://example.org/alcd",
]


@pytest.mark.parametrize("root_href", BAD_ROOT_HREFS)
def test_a_root_href_readers_could_not_resolve_is_one_line(
    root_href: str, built_catalog: Path, schemas: Path
) -> None:
    result = cli(
        "publish", built_catalog, "--to", "s3://stacgen-bucket/alcd", "--root-href", root_href,
        "--endpoint-url", "http://127.0.0.1:9", "--schemas", schemas, "--quiet",
    )  # fmt: skip
    assert f"--root-href {root_href!r}: expected an http(s)://HOST[:PORT]/PATH URL" in (
        one_error_line(result)
    )


@pytest.mark.parametrize("root_href", BAD_ROOT_HREFS[:3])
def test_pgstac_load_refuses_such_a_root_href_before_connecting(
    root_href: str, built_catalog: Path
) -> None:
    result = cli("pgstac", "load", "postgresql://nobody@127.0.0.1:9/x", built_catalog,
                 "--root-href", root_href)  # fmt: skip
    assert f"--root-href {root_href!r}" in one_error_line(result)


# --- servers that hang --------------------------------------------------------------------------
@contextmanager
def faulty_server(fault: Fault, answer: bytes = b"") -> Iterator[str]:
    """An endpoint on 127.0.0.1 that accepts every connection, reads the request, then:
    `silent` answers nothing; `cut-stall` sends the first half of `answer` and nothing more;
    `cut-close` sends that half and closes the connection."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def run() -> None:
        server.settimeout(0.1)  # accept() wakes to see `stop`: close() alone does not wake it
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)
            conn.recv(1 << 16)
            if fault != "silent":
                conn.sendall(answer[: len(answer) // 2])
            if fault == "cut-close":
                conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        server.close()
        for conn in held:
            conn.close()
        thread.join(timeout=10)


def moto_listing(bucket: Bucket) -> bytes:
    """The bytes of moto's answer to a ListObjectsV2 of the bucket: status, headers, XML."""
    client = bucket.server.client()
    client.put_object(Bucket=bucket.name, Key="alcd/catalog.json", Body=b"{}")
    url = f"{bucket.server.endpoint}/{bucket.name}?list-type=2&prefix=alcd/"
    got = requests.get(url, timeout=10)
    assert got.status_code == 200
    assert b"<ListBucketResult" in got.content
    head = "HTTP/1.1 200 OK\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in got.headers.items() if k.lower() != "content-length"
    )
    head += f"Content-Length: {len(got.content)}\r\n\r\n"
    return head.encode() + got.content


def publish_to(endpoint: str, catalog: Path, schemas: Path, tmp_path: Path) -> Any:
    options = PublishOptions(
        source=catalog,
        to="s3://stacgen-bucket/alcd",
        root_href="https://example.org/alcd",
        schemas=schemas,
        endpoint_url=endpoint,
        timeouts=QUICK,
        memo_dir=tmp_path / "memo",
        allow_unread_license=True,  # the session catalog is built without a Zenodo record
    )
    return publish(options)


@pytest.mark.parametrize("fault", ["silent", "cut-stall", "cut-close"])
def test_a_server_that_hangs_or_cuts_its_answer_is_one_line_within_the_bound(
    fault: Fault,
    built_catalog: Path,
    schemas: Path,
    bucket: Bucket,
    tmp_path: Path,
) -> None:
    answer = moto_listing(bucket)
    with faulty_server(fault, answer) as endpoint, pytest.raises(StoreError) as caught:
        # The bound: the staging, plus one call to the store at its longest.
        finishes_within(
            30 + QUICK.bound(), lambda: publish_to(endpoint, built_catalog, schemas, tmp_path)
        )
    message = str(caught.value)
    assert "\n" not in message
    assert endpoint in message
    if fault == "cut-close":
        assert "broke off its answer midway" in message
    else:
        assert "did not answer in time" in message
        assert f"within {QUICK.read:g} s" in message


def test_the_default_waits_are_seconds_and_bounded() -> None:
    """What a user gets without asking: no wait on the store is unbounded or in minutes."""
    default = Timeouts()
    assert 0 < default.connect <= 30
    assert 0 < default.read <= 60
    assert default.retries <= 3
    assert default.bound() <= 600


# --- a licence never read from the Zenodo record ------------------------------------------------
def publish_cli(catalog: Path, bucket: Bucket, schemas: Path, *extra: str) -> Any:
    return cli(
        "publish", catalog, "--to", f"s3://{bucket.name}/alcd", "--root-href", bucket.root_href,
        "--endpoint-url", bucket.server.endpoint, "--schemas", schemas, "--quiet", *extra,
    )  # fmt: skip


def test_a_catalog_whose_licence_says_other_is_refused_unless_allowed(
    built_catalog: Path, bucket: Bucket, schemas: Path
) -> None:
    """The session catalog is built without a record: its collection says `other`."""
    collection = json.loads((built_catalog / COLLECTION / "collection.json").read_text())
    assert collection["license"] == "other"
    line = one_error_line(publish_cli(built_catalog, bucket, schemas))
    assert "licence was never read from the Zenodo record" in line
    assert "--allow-unread-license" in line
    assert f"{built_catalog}: {STATE_FILE}: " in line, "the build state says so"
    assert bucket.objects(with_state=True) == {}, "nothing was sent"
    allowed = publish_cli(built_catalog, bucket, schemas, "--allow-unread-license")
    assert allowed.exit_code == 0, allowed.output
    assert bucket.objects()


def test_the_build_states_word_on_the_licence_decides(
    licensed_catalog: Path, bucket: Bucket, schemas: Path, tmp_path: Path
) -> None:
    """The build state's `license` entry (written by the build) is what publish believes."""
    collection = json.loads((licensed_catalog / COLLECTION / "collection.json").read_text())
    assert collection["license"] == "CC-BY-4.0"
    good = publish_cli(licensed_catalog, bucket, schemas)
    assert good.exit_code == 0, good.output

    unread = tmp_path / "catalog"
    shutil.copytree(licensed_catalog, unread)
    state = json.loads((unread / STATE_FILE).read_text())
    state[LICENSE_STATE] = {"id": "other", "from_record": False}
    (unread / STATE_FILE).write_text(json.dumps(state))
    line = one_error_line(publish_cli(unread, bucket, schemas))
    assert f"{unread}: {STATE_FILE}: the collection's licence was never read" in line


def test_a_build_state_without_a_word_on_the_licence_leaves_it_to_the_collection(
    built_catalog: Path, bucket: Bucket, schemas: Path, tmp_path: Path
) -> None:
    """A catalog built before the state kept the licence's origin: its collection decides."""
    older = tmp_path / "catalog"
    shutil.copytree(built_catalog, older)
    state = json.loads((older / STATE_FILE).read_text())
    state.pop(LICENSE_STATE, None)
    (older / STATE_FILE).write_text(json.dumps(state))
    line = one_error_line(publish_cli(older, bucket, schemas))
    assert f"{older}: {COLLECTION}/collection.json: the collection's licence was never read" in line


def test_progress_shows_with_v(built_catalog: Path, bucket: Bucket, schemas: Path) -> None:
    """`stacgen -v publish` says each step on stderr: what a user watches when a store is slow."""
    command = [sys.executable, "-m", "stacgen", "-v", "publish", str(built_catalog)]
    command += ["--to", f"s3://{bucket.name}/alcd", "--root-href", bucket.root_href]
    command += ["--endpoint-url", bucket.server.endpoint, "--schemas", str(schemas)]
    command += ["--quiet", "--allow-unread-license"]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": bucket.server.key_id}
    env["AWS_SECRET_ACCESS_KEY"] = bucket.server.secret
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    info = [line for line in done.stderr.splitlines() if line.startswith("INFO: ")]
    assert any(line.startswith("INFO: staging the absolute catalog") for line in info), info
    assert any(line.startswith(f"INFO: listing s3://{bucket.name}/alcd") for line in info), info
    phases = [line for line in info if line.startswith("INFO: sending ")]
    assert [p.split()[3] for p in phases] == ["assets", "items", "parquet", "collections", "root"]
