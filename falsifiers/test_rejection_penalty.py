"""Falsifiers for rejection-penalty-v1: the multiplier's floor, its warmup, and the coverage gap closing.

The multiplier is driven against a synthetic model whose coverage rises with the
penalty on rejecting (a logistic response), the shape the dual update assumes. The
reference update is the trainer's own (``pvcontracts.train.policies.RejectionPenalty``);
the broken ones are written out here. Every verdict comes from the contract text.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from _contracts import CI, Boundary, invariant, params, violated
from pvcontracts.train.policies import RejectionPenalty

C = "rejection-penalty-v1"
EPOCH = ("INV-REJ-002", "INV-REJ-003", "INV-REJ-004")


@st.composite
def setups(draw: Any) -> dict[str, Any]:
    """A logistic coverage response and a penalty whose target it can reach above the floor."""
    slope = draw(st.floats(min_value=0.5, max_value=4.0))
    centre = draw(st.floats(min_value=0.0, max_value=4.0))
    floor = draw(st.floats(min_value=0.0, max_value=1.0))
    init = floor + draw(st.floats(min_value=0.0, max_value=4.0))
    low = _logistic(floor, slope, centre)
    target = draw(st.floats(min_value=min(low + 0.05, 0.95), max_value=0.95))
    assume(target > low + 0.01)
    return {"slope": slope, "centre": centre, "floor": floor, "init": init, "target": target,
            "lr": draw(st.floats(min_value=0.1, max_value=1.0)) / slope,  # lr * max slope <= 1/4: no overshoot
            "warmup": draw(st.integers(min_value=0, max_value=3)),
            "tolerance": draw(st.sampled_from([0.0, 0.01, 0.02, 0.05]))}


def _logistic(lam: float, slope: float, centre: float) -> float:
    return 1.0 / (1.0 + math.exp(-slope * (lam - centre)))


def drive(s: dict[str, Any], epochs: int, update: Callable[[RejectionPenalty, int, float], float] | None = None
          ) -> list[set[str]]:
    """Train ``epochs`` synthetic epochs; returns the invariants violated at each epoch_end."""
    penalty = RejectionPenalty(target=s["target"], lr=s["lr"], warmup_epochs=s["warmup"], floor=s["floor"],
                               init=s["init"], gap_tolerance=s["tolerance"])
    boundary = Boundary(C, EPOCH, params(C, **penalty.contract_params()))
    out = []
    for epoch in range(epochs):
        used = penalty.value
        coverage = _logistic(used, s["slope"], s["centre"])
        out.append(violated(boundary.observe({"epoch": epoch, "rejection_lambda": used, "coverage": coverage})))
        (update or RejectionPenalty.update)(penalty, epoch, coverage)
    return out


@pytest.mark.discharges(gate="GATE-REJ-001")
@CI
@given(s=setups())
def test_reference_update_satisfies_the_contract(s: dict[str, Any]) -> None:
    """Dual ascent with a step the response cannot overshoot: floor, warmup and a shrinking gap all hold."""
    assert drive(s, 25) == [set()] * 25


@pytest.mark.discharges(gate="GATE-REJ-001")
@CI
@given(floor=st.floats(min_value=0.0, max_value=10.0), below=st.floats(min_value=1e-9, max_value=10.0),
       coverages=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=20),
       momentum=st.floats(min_value=0.0, max_value=0.9), lr=st.floats(min_value=0.01, max_value=100.0))
def test_lambda_below_floor_is_flagged(floor: float, below: float, coverages: list[float], momentum: float,
                                       lr: float) -> None:
    """Below the floor or NaN is flagged at step_end and epoch_end; the reference update never gets there."""
    run = params(C, lambda_floor=floor)
    for inv in ("INV-REJ-001", "INV-REJ-002"):
        compiled = invariant(C, inv)
        assert compiled.evaluate({"rejection_lambda": floor, "epoch": 0}, run).holds is True
        assert compiled.evaluate({"rejection_lambda": floor - below, "epoch": 0}, run).holds is False
        assert compiled.evaluate({"rejection_lambda": math.nan, "epoch": 0}, run).holds is False
    penalty = RejectionPenalty(target=0.9, lr=lr, momentum=momentum, warmup_epochs=0, floor=floor, init=floor)
    for epoch, c in enumerate(coverages):
        assert penalty.update(epoch, c) >= floor


@pytest.mark.discharges(gate="GATE-REJ-001")
@CI
@given(s=setups())
def test_sign_flipped_update_is_flagged(s: dict[str, Any]) -> None:
    """lambda <- lambda - lr * (target - coverage) drives coverage away: flagged at the first epoch it trains."""
    assume(abs(s["target"] - _logistic(s["init"], s["slope"], s["centre"])) > s["tolerance"])

    def flipped(p: RejectionPenalty, epoch: int, coverage: float) -> float:
        if epoch >= p.warmup_epochs:
            p.value = max(p.floor, p.value - p.lr * (p.target - coverage))
        return p.value

    seen = drive(s, s["warmup"] + 2, flipped)
    assert all(not v for v in seen[: s["warmup"] + 1])
    assert "INV-REJ-004" in seen[s["warmup"] + 1]


@pytest.mark.discharges(gate="GATE-REJ-001")
@CI
@given(s=setups())
def test_update_during_warmup_is_flagged(s: dict[str, Any]) -> None:
    """An update one epoch early changes the multiplier an epoch inside warmup trains with."""
    assume(s["warmup"] >= 1)
    assume(s["target"] > _logistic(s["init"], s["slope"], s["centre"]) + 1e-6)  # the update moves lambda up

    def early(p: RejectionPenalty, epoch: int, coverage: float) -> float:
        p.value = max(p.floor, p.value + p.lr * (p.target - coverage))
        return p.value

    seen = drive(s, s["warmup"] + 1, early)
    assert not seen[0]
    assert "INV-REJ-003" in seen[1]
