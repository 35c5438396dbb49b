"""The ASGI middleware in front of everything: CORS, methods, hostile paths and bodies.

It answers before any route or parser runs: an unknown method is a 405 with `Allow`, a path
over 4096 bytes a 414, a path component over 255 bytes or a JSON body nested deeper than
MAX_BODY_DEPTH is a 400 with a JSON reason (a deep body would otherwise exhaust the JSON
parser's recursion), an oversized body a 413. The Host header is used for the URLs in answers
only when it is a host name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_COMPONENT: Final = 255  # bytes, as a file name
MAX_PATH: Final = 4096  # bytes, as PATH_MAX: no file of the folder has a longer path
MAX_BODY: Final = 1024 * 1024
MAX_BODY_DEPTH: Final = 64
READ_METHODS: Final = ("GET", "HEAD", "OPTIONS")
POST_PATHS: Final = frozenset({"/api/search"})
EXPOSED: Final = "Accept-Ranges, Content-Encoding, Content-Length, Content-Range"
_HOST: Final = re.compile(rb"[A-Za-z0-9.-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")
_BRACKETS: Final = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_nesting(body: bytes) -> int:
    """How deeply a JSON text nests, strings skipped, without parsing it."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(body):
        token = match[0]
        if token in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest


async def _send_json(send: Send, status: int, description: str, **headers: str) -> None:
    code = {
        400: "BadRequest",
        405: "MethodNotAllowed",
        413: "PayloadTooLarge",
        414: "URITooLong",
    }[status]
    body = json.dumps({"code": code, "description": description}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw += _cors_headers()
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _cors_headers() -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-origin", b"*"),
        (b"access-control-expose-headers", EXPOSED.encode()),
    ]


def allowed(path: str) -> str:
    return ", ".join((*READ_METHODS, "POST")) if path in POST_PATHS else ", ".join(READ_METHODS)


class Guard:
    """Wraps the site; `default_host` replaces a Host header that is not a host name."""

    def __init__(self, app: ASGIApp, default_host: str = "127.0.0.1") -> None:
        self.app = app
        self.default_host = default_host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        raw_path: bytes = scope.get("raw_path") or path.encode()
        if len(raw_path) > MAX_PATH:
            await _send_json(send, 414, f"the path is over {MAX_PATH} bytes")
            return
        if any(len(part) > MAX_COMPONENT for part in raw_path.split(b"/")):
            await _send_json(send, 400, f"a path component is over {MAX_COMPONENT} bytes")
            return
        if method == "OPTIONS":
            await self._preflight(scope, send)
            return
        if method not in READ_METHODS and not (method == "POST" and path in POST_PATHS):
            await _send_json(
                send, 405, f"{method} is not allowed on {path[:100]}", Allow=allowed(path)
            )
            return
        self._fix_host(scope)
        if method == "POST":
            body = await self._body(receive, send)
            if body is None:
                return
            receive = _replay(body, receive)
            # A search body is JSON whatever the client labelled it (curl -d says a form).
            scope["headers"] = [
                *[
                    (k, v)
                    for k, v in scope["headers"]
                    if k not in (b"content-type", b"content-length")
                ],
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
        await self.app(scope, receive, _with_cors(send))

    def _fix_host(self, scope: Scope) -> None:
        headers = [(k, v) for k, v in scope["headers"] if k != b"host"]
        host = next((v for k, v in scope["headers"] if k == b"host"), b"")
        if not _HOST.fullmatch(host):
            host = self.default_host.encode()
        scope["headers"] = [*headers, (b"host", host)]

    async def _preflight(self, scope: Scope, send: Send) -> None:
        asked = next(
            (v for k, v in scope["headers"] if k == b"access-control-request-headers"), b"*"
        )
        headers = [
            *_cors_headers(),
            (b"access-control-allow-methods", allowed(scope["path"]).encode()),
            (b"access-control-allow-headers", asked),
            (b"access-control-max-age", b"600"),
            (b"allow", allowed(scope["path"]).encode()),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def _body(self, receive: Receive, send: Send) -> bytes | None:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                await _send_json(send, 413, f"the body is over {MAX_BODY} bytes")
                return None
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if json_nesting(body) > MAX_BODY_DEPTH:
            await _send_json(send, 400, f"the JSON body nests more than {MAX_BODY_DEPTH} deep")
            return None
        try:
            is_object = isinstance(json.loads(body or b"{}"), dict)
        except ValueError as err:
            await _send_json(send, 400, f"the body is not JSON: {err}")
            return None
        if not is_object:
            await _send_json(send, 400, "the body is not a JSON object")
            return None
        return body or b"{}"


def _replay(body: bytes, then: Receive) -> Receive:
    """The body read already, then the connection's own messages (its disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await then()

    return receive


def _with_cors(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            names = {k.lower() for k, _ in message.get("headers", [])}
            extra = [h for h in _cors_headers() if h[0] not in names]
            message["headers"] = [*message.get("headers", []), *extra]
        await send(message)

    return wrapped
