"""The resampling rules (stacgen.score.rules.choose) on shares worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from stacgen.score.rules import choose

ND, CLEAR, CLOUD, SHADOW = 0, 1, 2, 3  # the test's own codes (the groups)

# Shares of (cloud, shadow, clear, no data) in four cells, and the group each rule gives.
SHARES = [
    (0.2, 0.0, 0.8, 0.0),  # clear wins the majority; any cloud is cloud
    (0.4, 0.4, 0.2, 0.0),  # a tie: cloud before shadow
    (0.0, 0.1, 0.3, 0.6),  # mostly no data; clear does not outnumber no data
    (0.0, 0.0, 0.0, 0.0),  # nothing at all (outside the mask)
    (0.0, 0.3, 0.3, 0.4),  # no data has the most
    (0.0, 0.0, 0.5, 0.5),  # clear ties with no data: majority takes clear, so does any
]
WANT = {
    "majority": [CLEAR, CLOUD, ND, ND, ND, CLEAR],
    "any": [CLOUD, CLOUD, SHADOW, ND, SHADOW, CLEAR],
}


@pytest.mark.parametrize("method", sorted(WANT))
def test_choose_by_hand(method: str) -> None:
    shares = np.array(SHARES, np.float32).T  # (4, cells), the order above
    assert choose(shares, method).tolist() == WANT[method]  # type: ignore[arg-type]
