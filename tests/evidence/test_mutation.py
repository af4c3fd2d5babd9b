"""Mutation-checked gates through the real `pv check`: tests that cannot fail do not discharge a gate.

The fixture project's ``test_a`` evaluates INV-DEMO-001 from the contract, so it kills the invariant's
one mutant (``not (isfinite(loss))``); each test here takes that away in a different way.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest

A = "tests/test_demo.py::test_a"
B = "tests/test_demo.py::test_b"
F = "tests/test_falsify.py::test_property"

# test_a in forms that pass against the contract and against its mutant alike
ASSERTS_NOTHING = '''\
@pytest.mark.discharges(gate="GATE-DEMO-001")
def test_a():
    pass
'''
LOADS_BUT_IGNORES = '''\
@pytest.mark.discharges(gate="GATE-DEMO-001")
def test_a():
    inv = finite_loss()
    assert inv.id == "INV-DEMO-001"  # true of the mutant too: nothing here reads the verdict
'''
FLAKY = '''\
COUNTER = Path(__file__).with_name("runs.txt")


@pytest.mark.discharges(gate="GATE-DEMO-001")
def test_a():
    finite_loss()
    runs = int(COUNTER.read_text()) + 1 if COUNTER.exists() else 1
    COUNTER.write_text(str(runs))
    assert runs == 1  # passes once, then fails whatever the contract says
'''


def _replace_a(evproject, body: str) -> None:
    path = evproject.root / "tests" / "test_demo.py"
    text = path.read_text()
    start = text.index('@pytest.mark.discharges(gate="GATE-DEMO-001")\ndef test_a')
    end = text.index('@pytest.mark.discharges(gate="GATE-DEMO-001")\ndef test_b')
    path.write_text(text[:start] + body + "\n\n" + text[end:])


def test_a_gate_whose_tests_kill_its_mutant_is_discharged_with_its_score(evproject) -> None:
    done = evproject.check("-v")
    assert done.returncode == 0, done.stdout + done.stderr
    gate = evproject.gate(evproject.evidence())
    assert gate["status"] == "discharged"
    m = gate["mutation"]
    assert (m["mutants"], m["killed"], m["score"]) == (1, 1, 1.0)
    assert m["invariants"] == {"INV-DEMO-001": {"mutants": 1, "killed": 1}}
    [result] = m["results"]
    assert result == {"id": "INV-DEMO-001/M1", "invariant": "INV-DEMO-001", "operator": "negate-check",
                      "where": "check", "from": "isfinite(loss)", "to": "not (isfinite(loss))", "outcome": "killed",
                      "killed_by": A}
    assert "and they kill 1 of 1 mutants of its invariants" in gate["reason"]
    assert "mutants killed  GATE-DEMO-001      1/1 100%" in done.stdout


@pytest.mark.parametrize(("body", "warning"), [(ASSERTS_NOTHING, True), (LOADS_BUT_IGNORES, False)],
                         ids=["asserts-nothing", "survives-every-mutant"])
def test_a_gate_whose_tests_cannot_fail_is_vacuous_not_discharged(evproject, body: str, warning: bool) -> None:
    _replace_a(evproject, body)
    done = evproject.check()
    assert done.returncode == 1, done.stdout + done.stderr
    assert ("contracts/demo-v1.yaml:15:5: error[PV615]: GATE-DEMO-001 is vacuous: its tests pass against the one "
            "mutant of its invariants") in done.stdout
    assert ("warning[PV310]: GATE-DEMO-001 rests on tests/test_demo.py::test_a, which contains no assertion"
            in done.stdout) is warning
    assert "0 of 1 ship-blocking gate discharged (1 gate: 0 discharged, 0 failed, 0 incomplete, 0 missing, " \
           "1 vacuous)" in done.stdout
    doc = evproject.evidence()
    gate = evproject.gate(doc)
    assert gate["status"] == "vacuous" and gate["mutation"]["killed"] == 0
    outcome = gate["mutation"]["results"][0]["outcome"]
    assert outcome == ("unreached" if body is ASSERTS_NOTHING else "survived")  # test_a never loads the contract
    assert doc["summary"]["vacuous"] == 1 and doc["summary"]["ok"] is False
    status = evproject.pv("status")
    assert status.stdout.splitlines()[1].split()[:2] == ["vacuous", "GATE-DEMO-001"]
    assert evproject.pv("verify", "out/evidence.json").returncode == 0  # the record is consistent: just vacuous


def test_a_test_that_fails_without_the_mutant_too_kills_nothing(evproject) -> None:
    _replace_a(evproject, FLAKY)
    done = evproject.check()
    assert done.returncode == 1, done.stdout + done.stderr
    gate = evproject.gate(evproject.evidence())
    assert gate["status"] == "vacuous"
    assert gate["mutation"]["results"][0]["outcome"] == "unstable"
    assert "only failed tests that fail without a mutation too" in gate["reason"]


def test_no_mutate_discharges_on_passing_tests_with_a_warning(evproject) -> None:
    _replace_a(evproject, LOADS_BUT_IGNORES)
    done = evproject.check("--no-mutate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning[PV619]: the gates' tests were not run against mutants of their invariants (--no-mutate)" \
        in done.stdout
    assert "not mutation-checked" in done.stdout
    doc = evproject.evidence()
    assert evproject.gate(doc)["status"] == "discharged" and evproject.gate(doc)["mutation"] is None
    assert doc["run"]["mutation"] == {"enabled": False, "per_invariant": None, "reason": "--no-mutate"}


def test_mutants_run_on_xdist_workers_too(evproject) -> None:
    pytest.importorskip("xdist")
    done = evproject.check("-n", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    gate = evproject.gate(evproject.evidence())
    assert gate["mutation"]["killed"] == 1 and gate["mutation"]["results"][0]["killed_by"] == A


def test_a_failing_gate_is_not_mutated(evproject) -> None:
    evproject.tests(b_body="    assert 1 == 2")
    done = evproject.check()
    assert done.returncode == 1
    gate = evproject.gate(evproject.evidence())
    assert gate["status"] == "failed" and gate["mutation"] is None


def test_a_mutant_that_hangs_a_test_is_stopped_and_counts_as_killed() -> None:
    from pvcontracts.evidence.mutation import MutantTimeout, _time_limit

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        pytest.skip("the time limit uses SIGALRM, which only the main thread receives")
    started = time.monotonic()
    with pytest.raises(MutantTimeout):
        with _time_limit(0.2):
            while True:
                time.sleep(0.01)
    assert time.monotonic() - started < 5
    with _time_limit(5):  # the alarm is cancelled when the block ends
        pass
    time.sleep(0.05)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
