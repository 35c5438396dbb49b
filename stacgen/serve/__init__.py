"""`stacgen serve`: the static catalog, a STAC API and STAC Browser on one origin, one ASGI
application on uvicorn.

    app.py       the site: / (static.py), /api/ (api.py), /browser/, behind guard.py
    api.py       stac-fastapi's StacApi, its extensions declared once, for either backend
    embedded.py  the default backend: the items in memory, searched by index.py
    pgstac.py    the --pgstac backend: stac-fastapi-pgstac over PostgreSQL
    catalog.py   the catalog read into memory, reloaded (whole) after a rebuild
    index.py     the embedded backend's columnar index of the queryables (numpy, then cql2)
    search.py    GET, POST and /collections/{id}/items as one checked search (both backends)
    filters.py   CQL2 filters bounded and checked against the queryables, literals too
    query.py     the query extension as CQL2
    fields.py    the fields extension
    guard.py     CORS, methods, hostile paths and bodies
    protocol.py  uvicorn's HTTP protocol with the request head bounded (431)
    static.py    the files, with ranges, gzip and one open handle each
    server.py    uvicorn in a thread (`serve`) or until Ctrl-C (`run_forever`)
"""

import logging


def _not_default_values(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("Using default values for")


# stac-fastapi warns when its module-level settings are made (on import) that they hold its
# default title: the API's own settings, in api.py, hold stacgen's. Before the first import.
logging.getLogger("stac_fastapi.types.config").addFilter(_not_default_values)

from stacgen.serve.app import BROWSER_HINT, find_browser  # noqa: E402
from stacgen.serve.server import (  # noqa: E402
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
