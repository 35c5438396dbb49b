"""The STAC API (mounted at /api/): stac-fastapi's StacApi over one backend's client.

The extensions are declared once (`search_extensions`), and the request models of /search and of
/collections/{id}/items are made from that same list, so conformance classes, parameters and
OpenAPI always agree. Both backends get the same application, the same error answers (a 400
with its reason in one line, never a traceback in the log) and the same checks. The OpenAPI
page (/api/docs) is Swagger UI from the swagger-ui-bundle package, served from here: it works
offline.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, cast

import orjson
import swagger_ui_bundle
from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse
from stac_fastapi.api.app import StacApi
from stac_fastapi.api.errors import DEFAULT_STATUS_CODES
from stac_fastapi.api.models import (
    ItemCollectionUri,
    create_get_request_model,
    create_post_request_model,
    create_request_model,
)
from stac_fastapi.extensions import (
    FieldsExtension,
    FilterExtension,
    QueryExtension,
    SortExtension,
    TokenPaginationExtension,
)
from stac_fastapi.types.config import ApiSettings
from stac_fastapi.types.core import AsyncBaseCoreClient
from stac_fastapi.types.errors import StacApiError
from stac_fastapi.types.extension import ApiExtension
from stac_fastapi.types.search import APIRequest
from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from stacgen.serve.search import lenient_post_model
from stacgen.stac.links import rebase_json

log = logging.getLogger(__name__)

TITLE: Final = "stacgen STAC API"
PREFIX: Final = "/api"  # the API's routes; everything else is the static site
GZIP_MIN_BYTES: Final = 1024
SWAGGER: Final = Path(swagger_ui_bundle.swagger_ui_path)
STAC_API: Final = "https://api.stacspec.org/v1.0.0"
OGC_FILTER: Final = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf"
CQL2: Final = "http://www.opengis.net/spec/cql2/1.0/conf"
# The conformance classes of each extension, in the URIs clients look for (pystac-client and
# stac-api-validator match https://api.stacspec.org/v1.0.*/...): for /search and for
# /collections/{id}/items, which take the same parameters. The CQL2 classes are those both
# backends answer alike (tests/serve/test_parity.py runs a filter of each).
SORT_CLASSES: Final = [f"{STAC_API}/item-search#sort", f"{STAC_API}/ogcapi-features#sort"]
FIELDS_CLASSES: Final = [f"{STAC_API}/item-search#fields", f"{STAC_API}/ogcapi-features#fields"]
FILTER_CLASSES: Final = [
    f"{OGC_FILTER}/filter",
    f"{OGC_FILTER}/features-filter",
    "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
    f"{CQL2}/cql2-text",
    f"{CQL2}/cql2-json",
    f"{CQL2}/basic-cql2",
    f"{CQL2}/advanced-comparison-operators",
    f"{CQL2}/basic-spatial-functions",
    f"{CQL2}/spatial-functions",
    f"{CQL2}/temporal-functions",
    f"{CQL2}/array-functions",
]
ERROR_CODES: Final = {400: "BadRequest", 404: "NotFound", 405: "MethodNotAllowed"}


def search_extensions(filters_client: Any) -> list[ApiExtension]:
    """The extensions of /search and /collections/{id}/items, for either backend: filter
    (with /queryables and /collections/{id}/queryables), query, sort, fields, paging."""
    return [
        FilterExtension(client=filters_client, conformance_classes=list(FILTER_CLASSES)),
        QueryExtension(),
        SortExtension(conformance_classes=list(SORT_CLASSES)),
        FieldsExtension(conformance_classes=list(FIELDS_CLASSES)),
        TokenPaginationExtension(),
    ]


def answer(
    value: Any, request: Request, olds: Sequence[str], media_type: str = "application/geo+json"
) -> Response:
    """A ready JSON response with the hrefs under `olds` moved under this server's URL as the
    client reached it. A Response (not a dict) spares FastAPI's jsonable_encoder, which walks
    every value in Python."""
    body = rebase_json(orjson.dumps(value), olds, str(request.base_url))
    return Response(body, media_type=media_type)


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _error(status: int, description: str, code: str | None = None) -> JSONResponse:
    body = {"code": code or ERROR_CODES.get(status, "Error"), "description": _one_line(description)}
    return JSONResponse(body, status_code=status)


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """A request the models refuse: 400 with a one-line reason (FastAPI's default is 422)."""
    assert isinstance(exc, RequestValidationError)
    reasons = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query"))
        reasons.append(f"{where or 'request'}: {error.get('msg', 'invalid')}")
    return _error(400, "; ".join(reasons) or "invalid request")


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Errors raised as HTTPException (stac-fastapi's datetime checks) in the STAC API's form."""
    assert isinstance(exc, HTTPException)
    answer = _error(exc.status_code, str(exc.detail))
    if exc.headers:
        answer.headers.update(exc.headers)
    return answer


def _stac_error(request: Request, exc: Exception) -> JSONResponse:
    """stac-fastapi's own errors with their status; its handler also logs each one with a
    traceback (`NoneType: None` outside an exception), which a refused search does not need."""
    for kind, status in DEFAULT_STATUS_CODES.items():
        if isinstance(exc, kind):
            if status >= 500:
                log.error("%s: %s", type(exc).__name__, exc)
            return _error(status, str(exc), type(exc).__name__)
    log.error("%s: %s", type(exc).__name__, exc)
    return _error(500, str(exc), type(exc).__name__)


def _docs(app: FastAPI) -> None:
    """/api/docs: Swagger UI and its assets from this server, not from a CDN."""
    assets = f"{PREFIX}/docs/assets"
    app.mount(assets, StaticFiles(directory=SWAGGER), name="swagger_ui_assets")

    async def swagger_ui_html(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{PREFIX}/openapi.json",
            title=f"{TITLE} - docs",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon-32x32.png",
        )

    app.add_api_route(f"{PREFIX}/docs", swagger_ui_html, methods=["GET"], include_in_schema=False)


def make_api(
    client: AsyncBaseCoreClient,
    extensions: Sequence[ApiExtension],
    settings_class: type[ApiSettings] = ApiSettings,
    **app_options: Any,
) -> FastAPI:
    """The STAC API application for `client` (which must hold the same extensions);
    `settings_class` is the backend's settings (pgstac's client reads its own from the app)."""
    settings = settings_class(
        stac_fastapi_title=TITLE,
        stac_fastapi_description="Search the catalog's items",
        stac_fastapi_landing_id="stacgen",
        stac_fastapi_version="1.0.0",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
    )
    listed = list(extensions)
    app = FastAPI(
        openapi_url=settings.openapi_url, docs_url=None, redoc_url=None, title=TITLE, **app_options
    )
    _docs(app)
    api = StacApi(
        settings=settings,
        client=client,
        extensions=listed,
        app=app,
        search_get_request_model=create_get_request_model(listed),
        search_post_request_model=lenient_post_model(create_post_request_model(listed)),
        items_get_request_model=cast(
            type[APIRequest],
            create_request_model("ItemCollectionUri", ItemCollectionUri, extensions=listed),
        ),
        router=APIRouter(prefix=PREFIX),
        response_class=JSONResponse,
        middlewares=[],  # CORS is the site's (app.py), for the static files and the API alike
    )
    app = api.app
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(StacApiError, _stac_error)
    for kind in DEFAULT_STATUS_CODES:
        app.add_exception_handler(kind, _stac_error)
    # Level 5: level 9 (Starlette's default) costs several times the CPU for a few % smaller.
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES, compresslevel=5)
    return app
