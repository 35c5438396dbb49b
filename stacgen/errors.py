"""The shapes problems take: a Problem line (build and validation), a SceneError (a worker)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong, reported as `path: message` on a line of its own."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class SceneError(Exception):
    """A scene that cannot be published; the message names the file and the problem.

    Here rather than with the scene processing, so that the process collecting the results
    does not import the raster-writing code.
    """
