"""The files at the top of a catalog folder that are the builder's own, not STAC's."""

from __future__ import annotations

from typing import Final

# What a build remembers in its catalog (assemble/state.py writes it); the marker that a folder
# is a catalog stacgen wrote, and the file a server watches to see that a rebuild has landed.
STATE_FILE: Final = ".stacgen-state.json"
