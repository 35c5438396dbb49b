"""The error of `stacgen masks`: its message is the CLI's one line."""

from __future__ import annotations

from stacgen.errors import StacgenError


class MasksError(StacgenError):
    """An item, a band, a parameter or an output folder that cannot be used, named in one line."""
