"""The exception a benchmark raises: its message is the one line the CLI prints."""

from __future__ import annotations

from stacgen.errors import StacgenError


class BenchmarkError(StacgenError):
    """Bad input to `stacgen benchmark`; the message names the file or parameter and the problem."""
