"""The one shape every reported problem takes, from the build and from validation alike."""

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
