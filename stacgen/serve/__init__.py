"""`stacgen serve`: the static catalog, a STAC API and STAC Browser on one origin, one ASGI
application on uvicorn.

    app.py       the site: / (static.py), /api/ (api.py), /browser/, behind guard.py
    api.py       stac-fastapi's StacApi, its extensions declared once, for either backend
    embedded.py  the default backend: the items in memory, CQL2 by `cql2`
    pgstac.py    the --pgstac backend: stac-fastapi-pgstac over PostgreSQL
    catalog.py   the catalog read into memory, hrefs rebased, reloaded after a rebuild
    filters.py   CQL2 filters bounded and checked against the queryables (both backends)
    search.py    GET and POST searches as one plain form
    server.py    uvicorn in a thread (`serve`) or until Ctrl-C (`run_forever`)
"""

from stacgen.serve.app import BROWSER_HINT, find_browser
from stacgen.serve.server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    ServeError,
    Server,
    ServeUrls,
    run_forever,
    serve,
)

__all__ = [
    "BROWSER_HINT",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "ServeError",
    "ServeUrls",
    "Server",
    "find_browser",
    "run_forever",
    "serve",
]
