"""Falsifiers for loss-curriculum-v1: weights follow the epoch counter and stay finite and non-negative.

The reference is the trainer's own ``LossCurriculum``; the broken indexings are
written out here. Every verdict comes from the contract text.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _contracts import CI, Boundary, params, violated
from pvcontracts.train.policies import LossCurriculum

C = "loss-curriculum-v1"
STEP = ("INV-CURR-001", "INV-CURR-002")

weight = st.floats(min_value=0.0, max_value=1e6)
entries = st.lists(st.dictionaries(st.sampled_from(["edge", "rule", "lm"]), weight, min_size=1), min_size=1,
                   max_size=6)


def run(curriculum: LossCurriculum, epochs: int, steps_per_epoch: int, index: Any) -> list[tuple[int, set[str]]]:
    """Violations per step when step (epoch e, global step n) is weighted by the entry of ``index(e, n)``."""
    boundary = Boundary(C, STEP, params(C))
    out = []
    n = 0
    for e in range(epochs):
        for _ in range(steps_per_epoch):
            metrics = curriculum.metrics(index(e, n))
            out.append((n, violated(boundary.observe({"epoch": e, "step": n, **metrics}))))
            n += 1
    return out


@pytest.mark.discharges(gate="GATE-CURR-001")
@CI
@given(schedule=entries, epochs=st.integers(2, 6), spe=st.integers(2, 5), mistake=st.sampled_from(
    ["lag", "ahead", "steps"]))
def test_lagging_or_advanced_curriculum_is_flagged(schedule: list[dict[str, float]], epochs: int, spe: int,
                                                   mistake: str) -> None:
    """The epoch's own entry passes every step; one behind, one ahead, or indexed by steps is flagged."""
    c = LossCurriculum(schedule)
    assert all(not v for _, v in run(c, epochs, spe, lambda e, n: e))
    index = {"lag": lambda e, n: max(e - 1, 0), "ahead": lambda e, n: e + 1, "steps": lambda e, n: n}[mistake]
    first_wrong = {"lag": spe, "ahead": 0, "steps": 1}[mistake]
    for n, v in run(c, epochs, spe, index):
        if n == first_wrong:
            assert "INV-CURR-001" in v
            break
        assert not v


@pytest.mark.discharges(gate="GATE-CURR-001")
@CI
@given(good=st.dictionaries(st.sampled_from(["a", "b", "c"]), weight, min_size=1),
       bad=st.one_of(st.floats(max_value=-1e-12), st.just(math.nan), st.just(math.inf)))
def test_negative_or_non_finite_weights_are_flagged(good: dict[str, float], bad: float) -> None:
    """Finite non-negative weights pass; a negative, NaN or infinite one anywhere in the entry is flagged."""
    ok = run(LossCurriculum([good]), 1, 1, lambda e, n: e)
    assert ok == [(0, set())]
    values = list(good.values()) + [bad]
    metrics = {"epoch": 0, "step": 0, "curriculum_epoch": 0, "curriculum_weight_min": min(values),
               "curriculum_weight_max": max(values)}
    if math.isnan(bad):  # min/max of Python floats skip NaN depending on order: the trainer's metric propagates it
        metrics.update(curriculum_weight_min=math.nan, curriculum_weight_max=math.nan)
    boundary = Boundary(C, STEP, params(C))
    assert "INV-CURR-002" in violated(boundary.observe(metrics))
