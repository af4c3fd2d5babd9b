"""Falsifiers for early-stop-coverage-v1: stop after exactly patience epochs of coverage below the threshold.

A reference trainer keeps the bad-epoch counter the contract describes and is
run over arbitrary coverage histories against the compiled invariants, with a
real history reader behind window_max and prev. Mutant trainers (stopping
late, stopping early, never resetting the counter) must each be caught.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _contracts import CI, Boundary, invariant, param, params, violated

C = "early-stop-coverage-v1"
ALL = ("INV-COV-001", "INV-COV-002", "INV-COV-003", "INV-COV-004", "INV-COV-005")
MAX_PATIENCE = 8  # the contract allows up to 100; small windows keep histories short and interesting


@st.composite
def runs(draw: Any, min_patience: int = 1, stall: bool = False) -> tuple[dict[str, Any], list[float]]:
    """A run's params and a coverage history; with ``stall``, one has patience bad epochs in a row somewhere."""
    p = param(C, "patience")
    patience = draw(st.integers(min_value=max(p.min, min_patience), max_value=min(p.max, MAX_PATIENCE)))
    threshold = draw(st.floats(min_value=0.05, max_value=0.95))
    run = params(C, patience=patience, coverage_min=threshold)
    values = st.one_of(
        st.floats(min_value=0.0, max_value=threshold, exclude_max=True),  # bad
        st.floats(min_value=threshold, max_value=1.0),                    # good (at the threshold counts as good)
        st.just(threshold), st.just(0.0), st.just(1.0),                   # the edges
    )
    history = draw(st.lists(values, min_size=1, max_size=40))
    if stall:
        bad = st.floats(min_value=0.0, max_value=threshold, exclude_max=True)
        at = draw(st.integers(0, len(history)))
        history[at:at] = draw(st.lists(bad, min_size=patience, max_size=patience))
    return run, history


Policy = Callable[[int, int], bool]  # (counter, patience) -> stop?


def train(run: dict[str, Any], coverage: list[float], *, stops: Policy,
          counter_update: Callable[[int, float, float], int] | None = None) -> tuple[list[set[str]], int | None]:
    """Run epochs until the policy stops; returns the violations at each epoch_end and the stopping epoch."""
    boundary = Boundary(C, ALL, run)
    counter = 0
    seen = []
    update = counter_update or (lambda c, cov, thr: 0 if cov >= thr else c + 1)
    for epoch, cov in enumerate(coverage):
        counter = update(counter, cov, run["coverage_min"])
        stop = stops(counter, run["patience"])
        seen.append(violated(boundary.observe({
            "epoch": epoch, "coverage": cov, "epochs_below_coverage": counter,
            "coverage_stop_requested": stop, "stop_requested": stop})))
        if stop:
            return seen, epoch
    return seen, None


def should_stop_at(run: dict[str, Any], coverage: list[float]) -> int | None:
    """The first epoch that ends patience consecutive epochs not at or above the threshold."""
    streak = 0
    for epoch, cov in enumerate(coverage):
        streak = 0 if cov >= run["coverage_min"] else streak + 1
        if streak >= run["patience"]:
            return epoch
    return None


@pytest.mark.discharges(gate="GATE-COV-001")
@CI
@given(case=runs())
def test_reference_stopper_satisfies_the_contract(case: tuple[dict[str, Any], list[float]]) -> None:
    """Stopping when the counter reaches patience is never flagged, and stops where the history says it must."""
    run, coverage = case
    seen, stopped = train(run, coverage, stops=lambda c, p: c >= p)
    assert all(not v for v in seen), seen
    assert stopped == should_stop_at(run, coverage)


@pytest.mark.discharges(gate="GATE-COV-001")
@CI
@given(case=runs(stall=True))
def test_late_stopper_is_caught(case: tuple[dict[str, Any], list[float]]) -> None:
    """Waiting one bad epoch too many is flagged by INV-COV-002 at the epoch the run should have stopped."""
    run, coverage = case
    due = should_stop_at(run, coverage)
    assert due is not None
    seen, _ = train(run, coverage, stops=lambda c, p: c >= p + 1)
    flagged = [e for e, v in enumerate(seen) if "INV-COV-002" in v]
    assert flagged[:1] == [due]


@pytest.mark.discharges(gate="GATE-COV-001")
@CI
@given(case=runs(min_patience=2, stall=True))
def test_early_stopper_is_caught(case: tuple[dict[str, Any], list[float]]) -> None:
    """Stopping after patience - 1 bad epochs is flagged by INV-COV-003 at that epoch."""
    run, coverage = case
    early = should_stop_at(dict(run, patience=run["patience"] - 1), coverage)
    assert early is not None
    seen, stopped = train(run, coverage, stops=lambda c, p: c >= p - 1)
    assert stopped == early
    assert "INV-COV-003" in seen[early]
    assert all(not v for v in seen[:early])


@pytest.mark.discharges(gate="GATE-COV-001")
@CI
@given(case=runs())
def test_window_is_never_read_before_it_is_full(case: tuple[dict[str, Any], list[float]]) -> None:
    """INV-COV-002 is not applicable before epoch patience - 1 (a correct run raises no HistoryUnavailable)."""
    run, coverage = case
    boundary = Boundary(C, ("INV-COV-002",), run)
    for epoch, cov in enumerate(coverage):
        result = boundary.observe({"epoch": epoch, "coverage": cov, "coverage_stop_requested": False,
                                   "stop_requested": False})["INV-COV-002"]
        assert result.applicable is (epoch + 1 >= run["patience"])


@pytest.mark.discharges(gate="GATE-COV-001")
@CI
@given(case=runs())
def test_counter_that_does_not_reset_is_caught(case: tuple[dict[str, Any], list[float]]) -> None:
    """A counter that keeps counting after a good epoch is flagged at the first good epoch that follows a bad one."""
    run, coverage = case
    thr = run["coverage_min"]
    sticky = [e for e in range(1, len(coverage)) if coverage[e] >= thr and not coverage[e - 1] >= thr]
    seen, _ = train(run, coverage, stops=lambda c, p: False, counter_update=lambda c, cov, t: c + (not cov >= t))
    flagged = [e for e, v in enumerate(seen) if "INV-COV-005" in v]
    assert flagged[:1] == sticky[:1]


@pytest.mark.discharges(gate="GATE-COV-001")
@CI
@given(inside=st.floats(min_value=0.0, max_value=1.0),
       outside=st.one_of(st.floats(max_value=0.0, exclude_max=True), st.floats(min_value=1.0, exclude_min=True),
                         st.just(math.nan)),
       epoch=st.integers(0, 1000))
def test_coverage_outside_unit_interval_is_flagged(inside: float, outside: float, epoch: int) -> None:
    """INV-COV-001: every fraction in [0, 1] passes; anything else, NaN and infinities included, aborts."""
    inv = invariant(C, "INV-COV-001")
    assert inv.evaluate({"epoch": epoch, "coverage": inside}, params(C)).holds is True
    assert inv.evaluate({"epoch": epoch, "coverage": outside}, params(C)).holds is False
