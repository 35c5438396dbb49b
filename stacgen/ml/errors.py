"""The one error of stacgen.ml: what cannot be made into chips, in one line."""

from __future__ import annotations

from stacgen.errors import StacgenError


class ChipsError(StacgenError, ValueError):
    """Chips that cannot be cut as asked: the message names the parameter or file and the fix."""
