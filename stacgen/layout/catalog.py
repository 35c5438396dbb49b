"""The files at the top of a catalog folder that are the builder's own, not STAC's."""

from __future__ import annotations

from typing import Final

# What a build remembers in its catalog (assemble/state.py writes it); the marker that a folder
# is a catalog stacgen wrote, and the file a server watches to see that a rebuild has landed.
STATE_FILE: Final = ".stacgen-state.json"
# The state's word on where the collection's licence came from, for `publish` to refuse one
# never read from the Zenodo record: {"id": "CC-BY-4.0", "from_record": true}, or
# {"id": "other", "from_record": false} when the build had no record JSON naming a licence.
LICENSE_STATE: Final = "license"
