"""The one ASGI application `stacgen serve` runs on uvicorn:

    /           the catalog folder (static.py), with a landing page when it has no index.html
    /api/       the STAC API (api.py) over the embedded or the pgstac backend
    /browser/   STAC Browser, once built with `make browser`, configured on the API

everything behind `guard.Guard` (CORS, methods, hostile paths and bodies).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from stacgen import config
from stacgen.serve import static
from stacgen.serve.api import PREFIX as API_PREFIX
from stacgen.serve.guard import Guard, Receive, Scope, Send

BROWSER_DIST: Final = Path("browser") / "dist"
BROWSER_HINT: Final = (
    "STAC Browser is not built: run `make browser` (tools/build-browser.sh, needs npm) "
    "and restart `stacgen serve`"
)


def find_browser(explicit: Path | None = None) -> Path | None:
    """The built STAC Browser (a folder with index.html), or None.

    Looked for in `explicit`, else $STACGEN_BROWSER_DIR, ./browser/dist, and browser/dist beside
    the stacgen package (a checkout).
    """
    if explicit is not None:
        candidates = [explicit]
    else:
        env = config.browser_dir()
        here = Path(__file__).resolve().parents[2] / BROWSER_DIST
        candidates = [env] if env else [Path.cwd() / BROWSER_DIST, here]
    return next((c.resolve() for c in candidates if (c / "index.html").is_file()), None)


@dataclass(frozen=True)
class Site:
    """What the site serves besides the API."""

    directory: Path
    browser: Path | None
    title: Callable[[], str]
    published: Callable[[], str | None]  # the catalog's published root (rebased to here)


def browser_config(request: Request, title: str) -> bytes:
    """STAC Browser's settings for this server's URL: it opens on the API, so its search page
    searches the API (item search, filter by date, bbox and CQL2)."""
    base = str(request.base_url)
    config = {
        "catalogUrl": f"{base}api/",
        "catalogTitle": title,
        "allowExternalAccess": True,
        "searchResultsPerPage": 12,
    }
    return f"window.STAC_BROWSER_CONFIG = {json.dumps(config, indent=1)};\n".encode()


def landing_page(site: Site) -> str:
    title = site.title()
    browser = (
        '<a href="browser/">STAC Browser</a>' if site.browser else f"STAC Browser: {BROWSER_HINT}"
    )
    return (
        f"<!doctype html><meta charset=utf-8><title>{title}</title><h1>{title}</h1>"
        '<ul><li><a href="catalog.json">The static catalog</a>'
        '<li><a href="api/">The STAC API</a>'
        f"<li>{browser}</ul>"
    )


def _raw_path(request: Request) -> str:
    raw: bytes = request.scope.get("raw_path") or request.url.path.encode()
    return raw.decode("latin-1").split("?", 1)[0]


async def _favicon(request: Request, site: Site) -> Response:
    """Browsers ask the origin for an icon: STAC Browser's own, or nothing (not a 404)."""
    if site.browser is not None and (site.browser / "favicon.ico").is_file():
        return await static.file_response(request, site.browser, "/favicon.ico")
    return Response(status_code=204)


async def _catalog_file(request: Request, site: Site) -> Response:
    path = _raw_path(request)
    if path == "/" and not (site.directory / "index.html").is_file():
        return HTMLResponse(landing_page(site))
    if path == "/favicon.ico" and not (site.directory / "favicon.ico").is_file():
        return await _favicon(request, site)
    return await static.file_response(request, site.directory, path, site.published())


def make_site(site: Site, api: FastAPI, default_host: str) -> Guard:
    async def catalog_file(request: Request) -> Response:
        return await _catalog_file(request, site)

    async def browser_file(request: Request) -> Response:
        if site.browser is None:
            html = f"<!doctype html><meta charset=utf-8><p>{BROWSER_HINT}.</p>"
            return HTMLResponse(html, 404)
        path = _raw_path(request).removeprefix("/browser")
        return await static.file_response(request, site.browser, path)

    async def config_js(request: Request) -> Response:
        if site.browser is None:
            return await browser_file(request)
        body = browser_config(request, site.title())
        return static.bytes_response(request, body, static.MEDIA_TYPES[".js"], False)

    def redirect(to: str) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return RedirectResponse(to, 301)

        return endpoint

    read = ["GET", "HEAD"]
    files = Starlette(
        routes=[
            Route(API_PREFIX, redirect(f"{API_PREFIX}/"), methods=read),
            Route("/browser", redirect("/browser/"), methods=read),
            Route("/browser/config.js", config_js, methods=read),
            Route("/browser/{path:path}", browser_file, methods=read),
            Route("/{path:path}", catalog_file, methods=read),
        ]
    )

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        to_api = scope.get("path", "").startswith(f"{API_PREFIX}/")
        await (api if to_api else files)(scope, receive, send)

    return Guard(dispatch, default_host)
