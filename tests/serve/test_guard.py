"""The middleware in front of the site (stacgen.serve.guard): CORS, methods, path lengths and
bodies, checked through a running server and on the ASGI callable itself."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from stacgen.serve import Server
from stacgen.serve.guard import MAX_BODY, MAX_BODY_DEPTH, Guard, json_nesting

pytestmark = pytest.mark.timeout(120)
TIMEOUT = 10  # seconds, for every HTTP call


def get(url: str, **headers: str) -> requests.Response:
    return requests.get(url, headers=headers, timeout=TIMEOUT)


def test_cors_header_on_every_kind_of_answer(server: Server) -> None:
    for url in (server.urls.catalog, server.urls.api, f"{server.urls.root}missing.json"):
        assert get(url).headers["Access-Control-Allow-Origin"] == "*"
    preflight = requests.options(
        server.urls.catalog,
        headers={"Origin": "http://elsewhere", "Access-Control-Request-Headers": "range"},
        timeout=TIMEOUT,
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "range" in preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "Content-Range" in get(server.urls.catalog).headers["Access-Control-Expose-Headers"]


# --- the ASGI callable itself, in front of an app that echoes what reached it ------------------
@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    reached: list[dict[str, Any]]  # the scopes (and bodies) the wrapped app saw

    def description(self) -> str:
        text = str(json.loads(self.body)["description"])
        assert "\n" not in text  # one line
        return text


def call(
    method: str,
    path: str,
    body: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    chunk: int | None = None,
) -> Answer:
    """One request through Guard: the body in chunks of `chunk` bytes (all at once if None)."""
    reached: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen = b""
        while True:
            message = await receive()
            seen += message.get("body", b"")
            if not message.get("more_body"):
                break
        reached.append({**scope, "body": seen})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": seen})

    size = chunk or max(len(body), 1)
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    messages = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "headers": headers if headers is not None else [(b"host", b"example.org")],
    }
    asyncio.run(Guard(app)(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    raw = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
    data = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Answer(start["status"], raw, data, reached)


def nested_object(depth: int) -> bytes:
    """A JSON object nested exactly `depth` levels deep: {"a": {"a": ... 1}}."""
    return (b'{"a":' * depth) + b"1" + (b"}" * depth)


def test_nested_object_helper_has_the_depth_it_says() -> None:
    # The helper checked on its own, by Python's parser walking it down.
    value: Any = json.loads(nested_object(5))
    depth = 0
    while isinstance(value, dict):
        value, depth = value["a"], depth + 1
    assert depth == 5


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"{}", 1),
        (b"[[1], [[2]]]", 3),
        (b'{"a": "[[[[{{{{"}', 1),  # brackets inside strings do not count
        (b'{"a": "\\"[[["}', 1),  # nor after an escaped quote
        (b"1", 0),
    ],
)
def test_json_nesting(text: bytes, depth: int) -> None:
    assert json_nesting(text) == depth


def test_a_body_at_the_depth_limit_passes_one_deeper_is_400() -> None:
    ok = call("POST", "/api/search", nested_object(MAX_BODY_DEPTH))
    assert ok.status == 200
    assert len(ok.reached) == 1
    deep = call("POST", "/api/search", nested_object(MAX_BODY_DEPTH + 1))
    assert deep.status == 400
    assert deep.reached == []
    assert str(MAX_BODY_DEPTH) in deep.description()


def test_a_path_component_longer_than_a_file_name_is_400() -> None:
    # The bound is a file name's: NAME_MAX of the file system, 255 bytes on Linux.
    longest = os.pathconf("/", "PC_NAME_MAX")
    ok = call("GET", f"/collection/{'a' * longest}")
    assert ok.status == 200
    long = call("GET", f"/collection/{'a' * (longest + 1)}")
    assert long.status == 400
    assert long.reached == []
    assert str(longest) in long.description()


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/catalog.json", "GET, HEAD, OPTIONS"),
        ("POST", "/catalog.json", "GET, HEAD, OPTIONS"),
        ("PUT", "/api/search", "GET, HEAD, OPTIONS, POST"),
        ("PATCH", "/api/collections", "GET, HEAD, OPTIONS"),
    ],
)
def test_other_methods_are_405_with_allow(method: str, path: str, allow: str) -> None:
    answer = call(method, path)
    assert answer.status == 405
    assert answer.reached == []
    assert answer.headers["allow"] == allow
    assert answer.headers["access-control-allow-origin"] == "*"
    assert method in answer.description()


def test_post_search_reaches_the_app_as_json_whatever_its_label() -> None:
    body = json.dumps({"limit": 3}).encode()
    headers = [(b"host", b"example.org"), (b"content-type", b"application/x-www-form-urlencoded")]
    answer = call("POST", "/api/search", body, headers, chunk=4)  # a body sent in pieces
    assert answer.status == 200
    [scope] = answer.reached
    assert scope["body"] == body
    seen = dict(scope["headers"])
    assert seen[b"content-type"] == b"application/json"
    assert seen[b"content-length"] == str(len(body)).encode()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"[1, 2]", 400),  # JSON, not an object
        (b"{'limit': 3}", 400),  # not JSON
        (b" " * (MAX_BODY + 1), 413),
    ],
)
def test_bad_bodies_are_refused_before_the_app(body: bytes, status: int) -> None:
    answer = call("POST", "/api/search", body, chunk=64 * 1024)
    assert answer.status == status
    assert answer.reached == []
    assert answer.description()


def test_an_empty_post_body_is_the_empty_search() -> None:
    answer = call("POST", "/api/search")
    assert answer.status == 200
    assert json.loads(answer.reached[0]["body"]) == {}


@pytest.mark.parametrize(
    ("host", "seen"),
    [
        (b"localhost:8000", b"localhost:8000"),
        (b"[::1]:8000", b"[::1]:8000"),
        (b"evil.org/<script>", b"127.0.0.1"),
        (b"", b"127.0.0.1"),
    ],
)
def test_a_host_header_that_is_not_a_host_name_is_replaced(host: bytes, seen: bytes) -> None:
    answer = call("GET", "/catalog.json", headers=[(b"host", host)])
    assert dict(answer.reached[0]["headers"])[b"host"] == seen


def test_answers_of_the_app_get_cors_headers() -> None:
    answer = call("GET", "/catalog.json")
    assert answer.status == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    exposed = {h.strip() for h in answer.headers["access-control-expose-headers"].split(",")}
    # What a browser needs to read to fetch a COG by ranges.
    assert {"Accept-Ranges", "Content-Range", "Content-Length"} <= exposed


def test_preflight_is_answered_without_the_app() -> None:
    asked = [(b"host", b"x"), (b"access-control-request-headers", b"range, content-type")]
    answer = call("OPTIONS", "/api/search", headers=asked)
    assert answer.status == 204
    assert answer.reached == []
    assert answer.headers["access-control-allow-headers"] == "range, content-type"
    assert "POST" in answer.headers["access-control-allow-methods"]
