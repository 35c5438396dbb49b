"""The one exception scoring raises: its message is the whole one-line error the CLI prints."""

from __future__ import annotations

from stacgen.errors import StacgenError


class ScoreError(StacgenError):
    """Bad input to `stacgen score`; the message names the file or parameter and the problem."""
