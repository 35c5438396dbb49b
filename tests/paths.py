"""Where the tests find the checkout and `../shared` beside it, from any test folder."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
