"""Falsifiers for distributed-consistency-v1, against the shipped contract text.

Checksums are int64 sums of parameter bits: they run to 2**63, far beyond
float precision, so a comparison that went through floats would call two
replicas one apart identical. These try exactly that, and the guards that keep
single-process runs and unconfigured world sizes out of the checks.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _contracts import CI, invariant, param, params, violated

C = "distributed-consistency-v1"
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
worlds = st.integers(min_value=2, max_value=4096)


@pytest.mark.discharges(gate="GATE-DIST-001")
@CI
@given(low=int64, spread=st.integers(min_value=0, max_value=2**64 - 1), world=worlds,
       small=st.integers(min_value=0, max_value=3))
def test_any_checksum_spread_is_flagged(low: int, spread: int, world: int, small: int) -> None:
    """Equal min and max pass; any difference, 1 included and at any magnitude, is flagged."""
    inv = invariant(C, "INV-DIST-001")
    for gap in (spread, small):  # a wide one and one of at most 3 (half the examples: the tie)
        high = min(low + gap, 2**63 - 1)
        metrics = {"world_size": world, "rank": 0, "param_checksum": low, "param_checksum_min": low,
                   "param_checksum_max": high}
        result = inv.evaluate(metrics, params(C))
        assert result.applicable
        assert result.holds is (high == low), (low, high)


@pytest.mark.discharges(gate="GATE-DIST-001")
@CI
@given(low=int64, high=int64)
def test_single_process_runs_never_need_a_checksum(low: int, high: int) -> None:
    """world_size 1: not applicable, with or without checksums, so no metric is ever demanded."""
    inv = invariant(C, "INV-DIST-001")
    assert inv.evaluate({"world_size": 1, "rank": 0}, params(C)).applicable is False
    assert inv.evaluate({"world_size": 1, "rank": 0, "param_checksum_min": low, "param_checksum_max": high},
                        params(C)).applicable is False


@pytest.mark.discharges(gate="GATE-DIST-002")
@CI
@given(world=st.integers(min_value=1, max_value=4096), expected=st.integers(min_value=0, max_value=4096))
def test_world_size_is_checked_only_when_configured(world: int, expected: int) -> None:
    """Flagged exactly when expected_world_size > 0 and differs; the default 0 checks nothing."""
    assert param(C, "expected_world_size").default == 0
    run = params(C, expected_world_size=expected)
    results = {"INV-DIST-002": invariant(C, "INV-DIST-002").evaluate({"world_size": world, "rank": 0}, run)}
    assert results["INV-DIST-002"].applicable is (expected > 0)
    assert violated(results) == ({"INV-DIST-002"} if expected > 0 and world != expected else set())
    default = invariant(C, "INV-DIST-002").evaluate({"world_size": world, "rank": 0}, params(C))
    assert default.applicable is False
