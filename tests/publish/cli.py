"""What the publish tests ask of a command's failure: one `Error:` line, exit 1, no traceback."""

from __future__ import annotations

from typing import Any


def one_error_line(result: Any) -> str:
    """The one line a CliRunner result printed; fails unless it is exactly one `Error:` line."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: "), lines[0]
    return str(lines[0])
