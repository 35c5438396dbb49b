"""Media types stacgen writes that pystac.MediaType lacks or names otherwise; the rest are
pystac's own."""

from __future__ import annotations

from typing import Final

import pystac

# The IANA-registered type (2024), which stac-geoparquet uses; not pystac's older x-parquet.
PARQUET: Final = str(pystac.MediaType.VND_APACHE_PARQUET)
# pystac.MediaType has ZIP from 1.16 on; older releases lack it.
ZIP: Final = str(getattr(pystac.MediaType, "ZIP", "application/zip"))
