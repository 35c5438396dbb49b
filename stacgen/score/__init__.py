"""Score a cloud mask against the ALCD references (issue 10): `stacgen score`'s library.

from stacgen.score import score_mask
result = score_mask("my_mask.tif", "sen2cor", "catalog/<collection>/<item>/<item>.json")
result.comparisons["invalid"].metrics.values["f1"]
"""

from __future__ import annotations

from stacgen.score.codes import BUILTIN, CodeTable, load_codes
from stacgen.score.errors import ScoreError
from stacgen.score.metrics import Comparison, Confusion, Metrics, Pooled, pool
from stacgen.score.scoring import (
    ItemRef,
    MaskScore,
    ScoreOptions,
    ScoreRun,
    Unscored,
    match_masks,
    score_mask,
    score_masks,
)

__all__ = [
    "BUILTIN",
    "CodeTable",
    "Comparison",
    "Confusion",
    "ItemRef",
    "MaskScore",
    "Metrics",
    "Pooled",
    "ScoreError",
    "ScoreOptions",
    "ScoreRun",
    "Unscored",
    "load_codes",
    "match_masks",
    "pool",
    "score_mask",
    "score_masks",
]
