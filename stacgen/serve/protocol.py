"""uvicorn's httptools HTTP protocol with the request head bounded: 431, not memory.

httptools buffers a header until its end, and uvicorn keeps every header of a request: without
a bound, twenty headers of 10 MB held 400 MB. A request line plus headers over MAX_HEAD bytes,
or more than MAX_HEADERS headers, is answered 431 (Request Header Fields Too Large) and the
connection closed, before any of it reaches the application.
"""

from __future__ import annotations

import json
from typing import Any, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from stacgen.errors import StacgenError

MAX_HEAD: Final = 256 * 1024  # bytes: a GET with the longest filter allowed fits, URL-encoded
MAX_HEADERS: Final = 100


class HeadTooLarge(StacgenError):
    """Raised in a parser callback; the parser stops and the answer is a 431 with this line."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that answers 431 to a request head over its bounds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._in_head = True  # reading a request line and headers (or waiting for one)
        self._too_large: str | None = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._too_large is None and self._in_head and self.parser is not None:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                self._refuse(f"the request's line and headers are over {MAX_HEAD} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self.headers) >= MAX_HEADERS:
            self._too_large = f"the request has more than {MAX_HEADERS} headers"
            raise HeadTooLarge(self._too_large)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True

    def send_400_response(self, msg: str) -> None:
        """uvicorn answers a parser error with 400; the one raised here is a 431."""
        if self._too_large is not None:
            self._refuse(self._too_large)
        else:
            super().send_400_response(msg)

    def _refuse(self, description: str) -> None:
        self._too_large = description
        if self.transport.is_closing():
            return
        body = json.dumps(
            {"code": "RequestHeaderFieldsTooLarge", "description": description}
        ).encode()
        head = (
            "HTTP/1.1 431 Request Header Fields Too Large\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            "access-control-allow-origin: *\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()
