"""The STAC API (mounted at /api/): stac-fastapi's StacApi over one backend's client.

The extensions are declared once (`search_extensions`), and the request models of /search are
made from that same list, so conformance classes, parameters and OpenAPI always agree. Both
backends get the same application, the same error answers and the same filter checks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from stac_fastapi.api.app import StacApi
from stac_fastapi.api.models import create_get_request_model, create_post_request_model
from stac_fastapi.extensions import (
    FieldsExtension,
    QueryExtension,
    SearchFilterExtension,
    TokenPaginationExtension,
)
from stac_fastapi.extensions.sort import SearchSortExtension
from stac_fastapi.types.config import ApiSettings
from stac_fastapi.types.core import AsyncBaseCoreClient
from stac_fastapi.types.extension import ApiExtension
from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request

from stacgen.serve.search import lenient_post_model

log = logging.getLogger(__name__)

TITLE: Final = "stacgen STAC API"
PREFIX: Final = "/api"  # the API's routes; everything else is the static site
GZIP_MIN_BYTES: Final = 1024


def search_extensions(filters_client: Any, query: ApiExtension | None = None) -> list[ApiExtension]:
    """The extensions of /search, for either backend: filter, query, sort, fields, paging."""
    return [
        SearchFilterExtension(client=filters_client),
        query or QueryExtension(),
        SearchSortExtension(),
        FieldsExtension(),
        TokenPaginationExtension(),
    ]


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """A request the models refuse: 400 with a one-line reason (FastAPI's default is 422)."""
    assert isinstance(exc, RequestValidationError)
    reasons = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query"))
        reasons.append(f"{where or 'request'}: {error.get('msg', 'invalid')}")
    return JSONResponse(
        {"code": "BadRequest", "description": "; ".join(reasons) or "invalid request"},
        status_code=400,
    )


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Errors raised as HTTPException (stac-fastapi's datetime checks) in the STAC API's form."""
    assert isinstance(exc, HTTPException)
    code = {400: "BadRequest", 404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code)
    return JSONResponse(
        {"code": code or "Error", "description": str(exc.detail)},
        status_code=exc.status_code,
        headers=exc.headers,
    )


def make_api(
    client: AsyncBaseCoreClient,
    extensions: Sequence[ApiExtension],
    post_model: Any = None,
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
    api = StacApi(
        settings=settings,
        client=client,
        extensions=list(extensions),
        app=FastAPI(
            openapi_url=settings.openapi_url,
            docs_url=settings.docs_url,
            redoc_url=None,
            title=TITLE,
            **app_options,
        ),
        search_get_request_model=create_get_request_model(list(extensions)),
        search_post_request_model=post_model
        or lenient_post_model(create_post_request_model(list(extensions))),
        router=APIRouter(prefix=PREFIX),
        response_class=JSONResponse,
        middlewares=[],  # CORS is the site's (app.py), for the static files and the API alike
    )
    app = api.app
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    # Level 5: level 9 (Starlette's default) costs several times the CPU for a few % smaller.
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES, compresslevel=5)
    return app
