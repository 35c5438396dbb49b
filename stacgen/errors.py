"""The shapes problems take: the one exception base, a Problem line, a SceneError (a worker)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class StacgenError(Exception):
    """The base of every error stacgen reports to a user: its message is the one line the CLI
    prints (naming the file or parameter and the problem), never a traceback. `details` are the
    lines printed before it when one error stands for several problems (one line each)."""

    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class Problem:
    """One thing wrong, reported as `path: message` on a line of its own."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class SceneError(StacgenError):
    """A scene that cannot be published; the message names the file and the problem.

    Here rather than with the scene processing, so that the process collecting the results
    does not import the raster-writing code.
    """


# C0 and C1 control characters and DEL: a file name in an archive may hold any of them, and
# printed raw they move the cursor, clear the line or change the terminal's colours.
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}


def printable(text: str) -> str:
    """`text` with every control character written as \\xNN: safe on one terminal line."""
    return text.translate(_CONTROL)


class OutputError(StacgenError):
    """The build may not write where it was asked to: the message is one line naming the path."""
