"""The providers' HTTP requests: every one bounded (connect and read timeouts, a few retries).

A provider that cannot be reached is one line naming it and the URL; a 404 is an answer
(`None`), not an error: "not there" is what a provider says about a product it does not hold.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

import requests

from stacgen.fileutil import json_object
from stacgen.imagery.located import ImageryError

log = logging.getLogger(__name__)

# Connection failures and these statuses are tried again, at most RETRIES more times.
RETRIES: Final = 2
RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
BACKOFF_S: Final = 0.5


class Unreachable(ImageryError):
    """A provider that did not answer (or answered only errors) within its bounds."""


def get_json(
    provider: str,
    url: str,
    timeout: float,
    params: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The JSON object at `url` (POSTed `body` if given), None on 404; Unreachable otherwise."""
    response = request(provider, "POST" if body is not None else "GET", url, timeout, params, body)
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise Unreachable(f"{provider}: {url} answered HTTP {response.status_code}")
    try:
        return json_object(response.content)
    except ValueError as err:
        raise Unreachable(f"{provider}: {url} answered {err}") from None


def request(
    provider: str,
    method: str,
    url: str,
    timeout: float,
    params: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """One request with bounded retries; the last status is returned as it is."""
    for attempt in range(RETRIES + 1):
        try:
            response = requests.request(
                method,
                url,
                params=params,
                json=body,
                headers=headers,
                timeout=(timeout, timeout),
                allow_redirects=True,
            )
        except requests.RequestException as err:
            if attempt == RETRIES:
                raise Unreachable(f"{provider}: {url} unreachable ({_reason(err)})") from None
        else:
            if response.status_code not in RETRY_STATUSES or attempt == RETRIES:
                return response
        log.debug("%s: trying %s again", provider, url)
        time.sleep(BACKOFF_S * (attempt + 1))
    raise AssertionError("unreachable")  # the loop returns or raises


def _reason(err: requests.RequestException) -> str:
    if isinstance(err, requests.Timeout):
        return "no answer within the timeout"
    if isinstance(err, requests.ConnectionError):
        return "connection failed"
    return type(err).__name__
