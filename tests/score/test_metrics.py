"""Metrics from confusion matrices, checked against numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from stacgen.score.metrics import (
    Confusion,
    Joint,
    Tally,
    compare,
    confusion,
    metrics,
    pool,
)


def joint_counts(reference: np.ndarray, mask: np.ndarray) -> Joint:
    """The 4 x 4 joint counts of two rows of group codes, as score_mask tallies them."""
    tally = Tally(reference[None, :], lambda groups: groups)
    tally.add(0, 1, mask[None, :])
    return tally.joint


def test_metrics_by_hand() -> None:
    # tp 40, fp 10, fn 20, tn 30: n 100
    m = metrics(Confusion(tp=40, fp=10, fn=20, tn=30)).values
    assert m["overall_accuracy"] == pytest.approx(0.70)
    assert m["precision"] == pytest.approx(0.80)
    assert m["recall"] == pytest.approx(40 / 60)
    assert m["f1"] == pytest.approx(80 / 110)
    assert m["specificity"] == pytest.approx(0.75)
    assert m["balanced_accuracy"] == pytest.approx((40 / 60 + 0.75) / 2)
    # pe = (50*60 + 50*40) / 100^2 = 0.5; kappa = (0.7 - 0.5) / 0.5
    assert m["kappa"] == pytest.approx(0.4)


def test_zero_denominators_are_null_with_a_reason() -> None:
    result = metrics(Confusion(tp=0, fp=0, fn=0, tn=25))
    v, why = result.values, result.undefined
    assert v["overall_accuracy"] == 1.0
    assert v["specificity"] == 1.0
    for name in ("precision", "recall", "f1", "balanced_accuracy", "kappa"):
        assert v[name] is None
        assert why[name]
    assert "tp + fn = 0" in why["recall"]


def test_joint_counts_and_comparisons() -> None:
    ref = np.array([[1, 2, 3, 0], [2, 2, 1, 3]], np.uint8)
    user = np.array([[1, 3, 3, 2], [1, 2, 2, 0]], np.uint8)
    joint = joint_counts(ref, user)
    assert joint.sum() == 8
    assert joint[2, 3] == 1
    assert joint[0, 2] == 1
    # invalid: pairs (1,1) tn, (2,3) tp, (3,3) tp, (2,1) fn, (2,2) tp, (1,2) fp; (0,2), (3,0) out
    assert confusion(joint, "invalid") == Confusion(tp=3, fp=1, fn=1, tn=1)
    # cloud: ref in {clear, cloud}: (1,1) tn, (2,3) fn, (2,1) fn, (2,2) tp, (1,2) fp
    assert confusion(joint, "cloud") == Confusion(tp=1, fp=1, fn=2, tn=1)
    # shadow: ref in {clear, shadow}: (1,1) tn, (3,3) tp, (1,2) tn
    assert confusion(joint, "shadow") == Confusion(tp=1, fp=0, fn=0, tn=2)
    assert not compare(joint, has_shadow=False)["shadow"].applicable


def test_pool_sums_matrices_and_averages_metrics() -> None:
    u8 = np.uint8
    a = compare(joint_counts(np.array([2, 2, 1], u8), np.array([2, 1, 1], u8)), True)
    b = compare(joint_counts(np.array([2, 1, 1], u8), np.array([2, 2, 1], u8)), True)
    pooled = pool([a, b])
    assert pooled.summed["invalid"].confusion == Confusion(tp=2, fp=1, fn=1, tn=2)
    assert pooled.mean["invalid"]["recall"] == pytest.approx((0.5 + 1.0) / 2)
    assert pooled.counted["shadow"]["recall"] == 0  # no shadow anywhere: never defined


def test_tally_by_bands_of_rows_equals_a_count_of_each_pixel() -> None:
    """Bands added in any order, an odd number of pixels; the reference decoded band by band."""
    rng = np.random.default_rng(2)
    ref_values = rng.integers(0, 8, (37, 41)).astype(np.uint8)  # ALCD-like classes 0-7
    user = rng.integers(0, 4, (37, 41)).astype(np.uint8)
    group_of = np.array([0, 0, 2, 2, 3, 1, 1, 1], np.uint8)  # no data, cloud, shadow, clear
    counted = Tally(ref_values, lambda values: group_of[values])
    for start, stop in [(30, 37), (0, 11), (11, 30)]:
        counted.add(start, stop, user[start:stop])
    ref, mask = group_of[ref_values].ravel().tolist(), user.ravel().tolist()
    want = np.zeros((4, 4), np.int64)
    for r, u in zip(ref, mask, strict=True):
        want[r, u] += 1
    assert counted.joint.tolist() == want.tolist()
    positive = {1: False, 2: True, 3: True}  # clear, cloud, shadow: cloud or shadow?
    code = {(True, True): 1, (False, False): 2, (False, True): 3, (True, False): 4}
    for r, u, a in zip(ref, mask, counted.agreement.ravel().tolist(), strict=True):
        assert a == (0 if r == 0 or u == 0 else code[(positive[r], positive[u])])
