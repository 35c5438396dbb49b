"""One bucket prefix on an S3-compatible server (stacgen.publish.store), against moto's server
mode (tests/publish/s3.py): the one-line errors for a missing bucket, an endpoint that does not
answer and a refused key; what is uploaded, listed and deleted, checked with boto3."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest

from stacgen.publish.plan import SHA256, LocalFile, Phase
from stacgen.publish.store import Store, StoreError, Target, describe
from tests.publish.s3 import Bucket, S3Server

pytestmark = pytest.mark.timeout(120)


def one_line(err: pytest.ExceptionInfo[StoreError]) -> str:
    message = str(err.value)
    assert message
    assert "\n" not in message, message
    return message


def closed_endpoint() -> str:
    """A port of 127.0.0.1 bound by nobody listening: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def local_file(folder: Path, key: str, data: bytes, content_type: str) -> LocalFile:
    path = folder / key.replace("/", "_")
    path.write_bytes(data)
    return LocalFile(
        key=key,
        path=path,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_type=content_type,
        cache_control="max-age=60",
        phase=Phase.ASSETS,
    )


# --- the one-line errors ------------------------------------------------------------------------
def test_missing_bucket_is_one_line_naming_bucket_and_endpoint(aws_env: S3Server) -> None:
    store = Store(Target("no-such-bucket-here", "alcd"), endpoint_url=aws_env.endpoint)
    with pytest.raises(StoreError) as caught:
        store.inventory([])
    message = one_line(caught)
    assert "no-such-bucket-here" in message
    assert aws_env.endpoint in message
    assert "does not exist" in message


def test_an_endpoint_that_does_not_answer_is_one_line(aws_env: S3Server) -> None:
    endpoint = closed_endpoint()
    store = Store(Target("any-bucket", ""), endpoint_url=endpoint)
    with pytest.raises(StoreError) as caught:
        store.inventory([])
    assert one_line(caught).startswith(f"cannot reach {endpoint}")


def test_an_unknown_key_is_one_line(
    s3_auth_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    s3_auth_server.client().create_bucket(Bucket="store-guarded")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOTAKEY000000000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_auth_server.secret)
    store = Store(Target("store-guarded", ""), endpoint_url=s3_auth_server.endpoint)
    with pytest.raises(StoreError) as caught:
        store.inventory([])
    assert "InvalidAccessKeyId" in one_line(caught)


@pytest.mark.parametrize("url", ["https://bucket/alcd", "s3:///alcd", "bucket/alcd"])
def test_a_destination_that_is_not_s3_is_refused(url: str) -> None:
    with pytest.raises(StoreError) as caught:
        Target.parse(url)
    message = one_line(caught)
    assert url in message
    assert "s3://BUCKET/PREFIX" in message


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [("s3://bkt/alcd/v1/", "bkt", "alcd/v1"), ("s3://bkt", "bkt", ""), ("s3://bkt/", "bkt", "")],
)
def test_targets(url: str, bucket: str, prefix: str) -> None:
    assert Target.parse(url) == Target(bucket, prefix)


# S3's error bodies as its documentation shows them (Error/Code), as obstore quotes them.
@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("AccessDenied", ["access denied to s3://b/p", "AccessDenied"]),
        ("NoSuchBucket", ["bucket b does not exist at http://e"]),
        ("SignatureDoesNotMatch", ["SignatureDoesNotMatch", "AWS_SECRET_ACCESS_KEY"]),
    ],
)
def test_describe_s3_error_codes(code: str, words: list[str]) -> None:
    body = (
        'Generic S3 error: Error performing list request: response error "request error", '
        f'after 0 retries: <?xml version="1.0"?>\n<Error><Code>{code}</Code>'
        "<Message>...</Message></Error>"
    )
    message = describe(RuntimeError(body), Target("b", "p"), "http://e")
    assert "\n" not in message
    for word in words:
        assert word in message


def test_describe_other_errors_keeps_the_first_line_only() -> None:
    err = RuntimeError("something odd\n  with details\n  over lines")
    assert describe(err, Target("b", "p"), "http://e") == "s3://b/p: something odd"


# --- what is sent, listed and deleted -----------------------------------------------------------
def test_put_list_delete_as_boto3_sees_them(bucket: Bucket, tmp_path: Path) -> None:
    files = [
        local_file(tmp_path, "catalog.json", b'{"type": "Catalog"}', "application/json"),
        local_file(tmp_path, "c/x/visual.tif", bytes(range(256)) * 40, "image/tiff"),
    ]
    store = Store(Target(bucket.name, "alcd"), endpoint_url=bucket.server.endpoint, workers=2)
    assert store.inventory(files) == {}
    done: list[str] = []
    store.put_all(files, lambda f: done.append(f.key))
    assert sorted(done) == ["c/x/visual.tif", "catalog.json"]
    client = bucket.server.client()
    assert bucket.objects() == {f"alcd/{f.key}": f.size for f in files}
    for f in files:
        head = client.head_object(Bucket=bucket.name, Key=f"alcd/{f.key}")
        assert head["ContentType"] == f.content_type
        assert head["CacheControl"] == f.cache_control
        body = client.get_object(Bucket=bucket.name, Key=f"alcd/{f.key}")["Body"].read()
        assert body == f.path.read_bytes()
    # A second look lists both, with the headers (sizes match, so they are read) to compare.
    listed = Store(Target(bucket.name, "alcd"), endpoint_url=bucket.server.endpoint).inventory(
        files
    )
    assert {k: o.size for k, o in listed.items()} == {f.key: f.size for f in files}
    for f in files:
        attributes = listed[f.key].attributes
        assert attributes is not None
        assert attributes["Content-Type"] == f.content_type
        assert attributes.get(SHA256) == f.sha256
    store.delete(["catalog.json"])
    assert bucket.objects() == {"alcd/c/x/visual.tif": files[1].size}
