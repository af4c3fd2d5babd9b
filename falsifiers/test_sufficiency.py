"""Falsifiers for early-stop-sufficiency-v1: the gate is the strict conjunction of two thresholds, it stops
the run, and every run ends with its evidence.

The thresholds are never restated here except in the lock on their shipped
defaults; every other property reads them from the contract's params.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _contracts import CI, Boundary, invariant, param, params, violated

C = "early-stop-sufficiency-v1"
EVAL = ("INV-SUFF-001", "INV-SUFF-002")
RUN_END = ("INV-SUFF-003", "INV-SUFF-004")

fraction = st.floats(min_value=0.0, max_value=1.0)


@st.composite
def thresholds(draw: Any) -> dict[str, Any]:
    e, r = param(C, "edge_compliance_min"), param(C, "rule_compliance_min")
    return params(C, edge_compliance_min=draw(st.floats(min_value=e.min, max_value=e.max)),
                  rule_compliance_min=draw(st.floats(min_value=r.min, max_value=r.max)))


@st.composite
def compliance(draw: Any, run: dict[str, Any]) -> tuple[float, float]:
    """Compliance values, often exactly at a threshold, where the strictness of > matters."""
    edge = draw(st.one_of(fraction, st.just(run["edge_compliance_min"])))
    rule = draw(st.one_of(fraction, st.just(run["rule_compliance_min"])))
    return edge, rule


def evaluate(run: dict[str, Any], edge: float, rule: float, passed: bool, stop: bool) -> set[str]:
    metrics = {"edge_compliance": edge, "rule_compliance": rule, "gate_passed": passed, "stop_requested": stop}
    return violated({i: invariant(C, i).evaluate(metrics, run) for i in EVAL})


@pytest.mark.discharges(gate="GATE-SUFF-001")
def test_default_thresholds_are_strict_095_and_080() -> None:
    """The shipped rule: edge_compliance > 0.95 and rule_compliance > 0.80; exactly at either is not a pass."""
    run = params(C)
    assert (run["edge_compliance_min"], run["rule_compliance_min"]) == (0.95, 0.80)
    assert evaluate(run, 0.951, 0.801, passed=True, stop=True) == set()
    assert evaluate(run, 0.95, 0.99, passed=False, stop=False) == set()
    assert evaluate(run, 0.99, 0.80, passed=False, stop=False) == set()
    assert evaluate(run, 0.95, 0.99, passed=True, stop=True) == {"INV-SUFF-001"}
    assert evaluate(run, 0.96, 0.81, passed=False, stop=False) == {"INV-SUFF-001", "INV-SUFF-002"}


@pytest.mark.discharges(gate="GATE-SUFF-001")
@CI
@given(data=st.data(), run=thresholds())
def test_gate_passes_exactly_above_both_thresholds(data: Any, run: dict[str, Any]) -> None:
    """A trainer with the declared rule is never flagged; '>=' or 'or' is flagged exactly where it disagrees."""
    edge, rule = data.draw(compliance(run))
    te, tr = run["edge_compliance_min"], run["rule_compliance_min"]
    right = edge > te and rule > tr
    assert evaluate(run, edge, rule, passed=right, stop=right) == set()
    for wrong in (edge >= te and rule >= tr, edge > te or rule > tr):
        flagged = evaluate(run, edge, rule, passed=wrong, stop=wrong)
        assert ("INV-SUFF-001" in flagged) is (wrong != right)


@pytest.mark.discharges(gate="GATE-SUFF-001")
@CI
@given(data=st.data(), run=thresholds(), stop=st.booleans())
def test_pass_without_stop_is_flagged(data: Any, run: dict[str, Any], stop: bool) -> None:
    """INV-SUFF-002 flags a sufficient evaluation that does not stop; another stop reason is always allowed."""
    edge, rule = data.draw(compliance(run))
    sufficient = edge > run["edge_compliance_min"] and rule > run["rule_compliance_min"]
    flagged = evaluate(run, edge, rule, passed=sufficient, stop=stop)
    assert ("INV-SUFF-002" in flagged) is (sufficient and not stop)
    for nan_case in ((math.nan, rule), (edge, math.nan)):  # NaN never passes, so it never has to stop
        assert "INV-SUFF-002" not in evaluate(run, *nan_case, passed=False, stop=False)
        assert "INV-SUFF-001" in evaluate(run, *nan_case, passed=True, stop=True)


@pytest.mark.discharges(gate="GATE-SUFF-002")
@CI
@given(passed=st.booleans(), retained=st.booleans(), recorded=st.booleans())
def test_run_end_verdict_truth_table(passed: bool, retained: bool, recorded: bool) -> None:
    """At run_end a pass needs its checkpoint, a non-pass needs its failure record; nothing else is demanded."""
    metrics = {"gate_passed": passed, "gate_pass_retained": retained, "failure_recorded": recorded}
    results = {i: invariant(C, i).evaluate(metrics, params(C)) for i in RUN_END}
    assert results["INV-SUFF-003"].holds is (not passed or retained)
    assert results["INV-SUFF-004"].holds is (passed or recorded)


@pytest.mark.discharges(gate="GATE-SUFF-002")
@CI
@given(run=thresholds(), evals=st.lists(st.tuples(fraction, fraction), min_size=1, max_size=30),
       forget_failure=st.booleans())
def test_reference_trainer_satisfies_the_contract(run: dict[str, Any], evals: list[tuple[float, float]],
                                                  forget_failure: bool) -> None:
    """A trainer that stops on the first pass, keeps that checkpoint and records failures passes every boundary.

    The same trainer with its failure record removed is flagged at run_end exactly when the run never passed.
    """
    eval_end = Boundary(C, EVAL, run)
    passed = False
    for edge, rule in evals:
        passed = edge > run["edge_compliance_min"] and rule > run["rule_compliance_min"]
        assert not violated(eval_end.observe(
            {"edge_compliance": edge, "rule_compliance": rule, "gate_passed": passed, "stop_requested": passed}))
        if passed:
            break
    end = {"gate_passed": passed, "gate_pass_retained": passed, "failure_recorded": not passed and not forget_failure}
    flagged = violated({i: invariant(C, i).evaluate(end, run) for i in RUN_END})
    assert flagged == ({"INV-SUFF-004"} if forget_failure and not passed else set())
