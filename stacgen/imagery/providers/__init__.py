"""The imagery providers, one module each, behind `stacgen.imagery.located.Provider`.

Each module defines `make(settings: Settings) -> Provider`; modules are imported only when their
provider is asked for, so a user of one provider never imports another's client libraries.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from stacgen.imagery.located import ImageryError, Provider

MODULES: Final = {
    "safe": "stacgen.imagery.providers.safe",
    "gcs": "stacgen.imagery.providers.gcs",
    "earth-search": "stacgen.imagery.providers.earth_search",
    "cdse": "stacgen.imagery.providers.cdse",
}
NAMES: Final = tuple(MODULES)
# Connect and read bound of every request a provider makes, in seconds.
DEFAULT_TIMEOUT: Final = 30.0


@dataclass(frozen=True)
class Settings:
    """What a provider may be told: a local folder, other endpoints (a mirror, a test's fake)."""

    safe_dir: Path | None = None
    # Provider name -> base URL replacing the public endpoint (an S3 endpoint for earth-search
    # and cdse is `<name>-s3`).
    endpoints: dict[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT


def provider(name: str, settings: Settings) -> Provider:
    """The provider called `name`; an unknown name is one line listing the known ones."""
    if name not in MODULES:
        known = ", ".join(NAMES)
        raise ImageryError(f"--provider: {name!r} is not a provider (known: {known})")
    module = importlib.import_module(MODULES[name])
    made: Provider = module.make(settings)
    return made
