"""A test reference's outcome from pytest's phases, and a gate's status from its tests' outcomes."""

from __future__ import annotations

import pytest

from pvcontracts.evidence.binding import TestBinding
from pvcontracts.evidence.results import NodeResult, Phase, RawResults
from pvcontracts.evidence.status import aggregate, gate_status, index_nodes, ref_outcome
from pvcontracts.validate.testrefs import RefProblem


def _node(collected: bool = True, deselected: bool = False, **phases: Phase) -> NodeResult:
    return NodeResult("f.py::t", dict(phases), collected=collected, deselected=deselected)


P, F, S = Phase("passed"), Phase("failed", message="boom"), Phase("skipped", message="later")


@pytest.mark.parametrize(("node", "expected"), [
    (_node(setup=P, call=P, teardown=P), "passed"),
    (_node(setup=P, call=F, teardown=P), "failed"),
    (_node(setup=F), "error"),
    (_node(setup=P, call=P, teardown=F), "error"),
    (_node(setup=P, call=F, teardown=F), "failed"),
    (_node(setup=S), "skipped"),
    (_node(setup=P, call=S, teardown=P), "skipped"),
    (_node(setup=P, call=Phase("skipped", wasxfail="bug"), teardown=P), "xfailed"),
    (_node(setup=Phase("skipped", wasxfail="")), "xfailed"),
    (_node(setup=P, call=Phase("passed", wasxfail="bug"), teardown=P), "xpassed"),
    (_node(deselected=True), "deselected"),
    (_node(), "not_run"),
    (_node(collected=False), "not_collected"),
    (_node(setup=P), "not_run"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_node_outcome_reads_phases_as_pytest_does(node: NodeResult, expected: str) -> None:
    assert node.outcome()[0] == expected


@pytest.mark.parametrize(("outcomes", "status"), [
    ([], "missing"),
    (["passed"], "discharged"),
    (["passed", "passed"], "discharged"),
    (["passed", "failed", "missing", "skipped"], "failed"),
    (["passed", "error"], "failed"),
    (["passed", "missing", "skipped"], "missing"),
    (["passed", "skipped"], "incomplete"),
    (["xfailed"], "incomplete"),
    (["xpassed"], "incomplete"),
    (["deselected"], "incomplete"),
    (["not_collected"], "incomplete"),
    (["not_run"], "incomplete"),
])
def test_gate_status_is_derived_and_never_discharged_without_evidence(outcomes: list[str], status: str) -> None:
    assert gate_status(outcomes) == status


def test_the_most_decisive_instance_outcome_wins() -> None:
    assert aggregate(["passed", "skipped", "passed"]) == "skipped"
    assert aggregate(["skipped", "failed"]) == "failed"
    assert aggregate([]) == "not_collected"


def test_reference_outcome_uses_static_resolution_collection_errors_and_instances() -> None:
    results = RawResults("run", collection_known=True)
    for i, ph in enumerate([P, F]):
        results.node(f"d/f.py::t[{i}]").collected = True
        results.node(f"d/f.py::t[{i}]").phases = {"setup": P, "call": ph, "teardown": P}
    index = index_nodes(results)
    ok = TestBinding("d/f.py::t", "d/f.py", [])
    outcome = ref_outcome(ok, results, index)
    assert outcome.outcome == "failed" and outcome.message == "boom" and len(outcome.instances) == 2
    assert ref_outcome(TestBinding("d/f.py::t[0]", "d/f.py", []), results, index).outcome == "passed"
    gone = TestBinding("d/f.py::u", "d/f.py", [RefProblem("PV304", "test 'u' not found")])
    assert ref_outcome(gone, results, index).outcome == "missing"
    assert ref_outcome(TestBinding("d/f.py::v", "d/f.py", []), results, index).outcome == "not_collected"
    results.collect_errors["d/f.py"] = "ImportError"
    assert ref_outcome(ok, results, index).outcome == "error"
    results.collect_errors = {"d": "conftest broke"}
    assert ref_outcome(ok, results, index).outcome == "error"
