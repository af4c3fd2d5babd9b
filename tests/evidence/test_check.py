"""`pv check` through the real program on fixture projects: each gate status, the exit code, the summary.

Every test here runs ``pv`` as a subprocess, which runs pytest as another: the
whole path a user takes, plugin entry point included.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

A = "tests/test_demo.py::test_a"
B = "tests/test_demo.py::test_b"
F = "tests/test_falsify.py::test_property"


def test_all_bound_tests_pass_discharges_the_gate(evproject, evidence_schema) -> None:
    done = evproject.check()
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("pv check: 1 of 1 ship-blocking gate discharged (1 gate: 1 discharged, 0 failed, 0 incomplete, "
            "0 missing, 0 vacuous); 3 bound tests, 3 executed, 3 passed; 1 falsifier, 0 counterexamples; "
            "1 of 1 mutant killed; 0 errors, 0 warnings") in done.stdout
    assert "evidence: out/evidence.json" in done.stdout
    doc = evproject.evidence()
    jsonschema.validate(doc, evidence_schema)
    gate = evproject.gate(doc)
    assert gate["status"] == "discharged" and gate["blocking"] is True
    assert [(t["ref"], t["roles"], t["outcome"]) for t in gate["tests"]] == [
        (A, ["bound"], "passed"), (B, ["bound"], "passed"), (F, ["falsifier"], "passed")]
    assert gate["counts"] == {"tests": 3, "executed": 3, "passed": 3}
    assert all(t["duration_s"] >= 0 and t["file_digest"].startswith("sha256:") for t in gate["tests"])
    # the unbound test in the same file never ran
    assert not any("test_unbound" in i["node_id"] for t in gate["tests"] for i in t["instances"])
    stats = evproject.falsifier_record(doc)["statistics"]
    assert stats["profile"] == "ci" and stats["derandomize"] is True and stats["database"] is False
    assert stats["examples"] == 50 and stats["max_examples"] == 50 and stats["counterexample"] is None
    assert doc["summary"]["ok"] is True and doc["findings"] == []
    contract = doc["contracts"][0]
    assert contract["changelog_entry"] == {"version": "1.0.0", "date": "2026-01-01", "summary": "First version"}
    assert contract["invariants"][0]["check"] == "isfinite(loss)"
    assert doc["tool"]["name"] == "pv-contracts" and doc["environment"]["python"]
    assert "created_at" in doc and doc["run"]["mode"] == "session"


@pytest.mark.parametrize(("variant", "outcome", "status"), [
    ({"b_body": "    assert 1 == 2, 'boom'"}, "failed", "failed"),
    ({"b_args": "broken", "b_body": "    pass"}, "error", "failed"),
    ({"b_body": "    pytest.skip('not today')"}, "skipped", "incomplete"),
    ({"b_decorators": "@pytest.mark.xfail(reason='known bug')\n", "b_body": "    assert False"}, "xfailed",
     "incomplete"),
], ids=["failed", "errored", "skipped", "xfailed"])
def test_status_follows_the_worst_bound_test(evproject, variant, outcome, status) -> None:
    evproject.tests(**variant)
    done = evproject.check()
    assert done.returncode == 1, done.stdout + done.stderr
    gate = evproject.gate(evproject.evidence())
    assert evproject.test(gate, B)["outcome"] == outcome
    assert evproject.test(gate, A)["outcome"] == "passed"
    assert gate["status"] == status
    code = {"failed": "PV610", "incomplete": "PV611"}[status]
    assert f"contracts/demo-v1.yaml:15:5: error[{code}]: GATE-DEMO-001 is {status}: {B}" in done.stdout


def test_a_deselected_bound_test_leaves_the_gate_incomplete(evproject) -> None:
    evproject.write("pyproject.toml", '[project]\nname = "scratch"\n\n[tool.pytest.ini_options]\n'
                    'markers = ["slow: a slow test"]\naddopts = "-m \'not slow\'"\n')
    evproject.tests(b_decorators="@pytest.mark.slow\n")
    done = evproject.check()
    assert done.returncode == 1
    gate = evproject.gate(evproject.evidence())
    assert evproject.test(gate, B)["outcome"] == "deselected"
    assert gate["status"] == "incomplete"
    assert "deselected" in done.stdout and "hint: a -k/-m option" in done.stdout


def test_a_bound_test_pytest_does_not_collect_leaves_the_gate_incomplete(evproject) -> None:
    evproject.contract(refs=(A, "tests/test_demo.py::check_b"))
    evproject.tests(b_name="check_b")
    done = evproject.check()
    assert done.returncode == 1
    gate = evproject.gate(evproject.evidence())
    entry = evproject.test(gate, "tests/test_demo.py::check_b")
    assert entry["outcome"] == "not_collected" and entry["instances"] == []
    assert gate["status"] == "incomplete"


def test_a_named_test_that_does_not_exist_is_missing(evproject) -> None:
    evproject.contract(refs=(A, "tests/test_demo.py::test_nope"))
    done = evproject.check()
    assert done.returncode == 1
    gate = evproject.gate(evproject.evidence())
    entry = evproject.test(gate, "tests/test_demo.py::test_nope")
    assert entry["outcome"] == "missing" and entry["problem"]["code"] == "PV304"
    assert gate["status"] == "missing"
    assert "error[PV612]: GATE-DEMO-001 is missing" in done.stdout


def test_a_bound_test_file_that_does_not_import_errors_its_tests(evproject) -> None:
    evproject.write("tests/test_demo.py", (evproject.root / "tests" / "test_demo.py").read_text() + "\ndef (:\n")
    done = evproject.check()
    assert done.returncode == 1
    gate = evproject.gate(evproject.evidence())
    entry = evproject.test(gate, A)
    assert entry["outcome"] == "error" and entry["message"].startswith("collecting tests/test_demo.py failed")
    assert gate["status"] == "failed"
    assert evproject.test(gate, F)["outcome"] == "passed"  # the other file still ran


def test_failed_outranks_missing_and_incomplete(evproject) -> None:
    evproject.contract(refs=(A, B, "tests/test_demo.py::test_nope"))
    evproject.tests(b_body="    assert False")
    evproject.check()
    assert evproject.gate(evproject.evidence())["status"] == "failed"


def test_one_failing_instance_fails_a_parametrized_reference(evproject) -> None:
    evproject.tests(b_decorators="@pytest.mark.parametrize('n', [1, 2, 3])\n", b_args="n",
                    b_body="    assert n != 2")
    done = evproject.check()
    assert done.returncode == 1
    entry = evproject.test(evproject.gate(evproject.evidence()), B)
    assert entry["outcome"] == "failed"
    assert [(i["node_id"], i["outcome"]) for i in entry["instances"]] == [
        (B + "[1]", "passed"), (B + "[2]", "failed"), (B + "[3]", "passed")]


def test_a_falsifier_counterexample_fails_its_gate_with_the_minimal_example(evproject) -> None:
    evproject.falsifier(limit=500)
    done = evproject.check()
    assert done.returncode == 1
    doc = evproject.evidence()
    assert evproject.gate(doc)["status"] == "failed"
    record = evproject.falsifier_record(doc)
    assert record["outcome"] == "failed"
    assert record["counterexample"]["arguments"] == {"x": 500}  # shrunk to the boundary
    assert "x=500" in record["counterexample"]["representation"]
    assert record["counterexample"]["location"].startswith("tests/test_falsify.py:")
    assert record["statistics"]["failing_examples"] >= 1
    assert doc["summary"]["counterexamples"] == 1
    assert "error[PV613]: FALSIFY-DEMO-001 found a counterexample to INV-DEMO-001" in done.stdout
    assert f"error[PV610]: GATE-DEMO-001 is failed: {F} failed" in done.stdout


def test_only_blocking_gates_of_active_contracts_decide_the_exit_code(evproject) -> None:
    evproject.tests(b_body="    assert False")
    evproject.contract(ship_blocking=False)
    done = evproject.check()
    assert done.returncode == 0, done.stdout
    assert "warning[PV610]" in done.stdout
    evproject.contract(status="draft")
    done = evproject.check()
    assert done.returncode == 0, done.stdout
    assert "note[PV610]" in done.stdout
    assert "0 of 0 ship-blocking gates discharged" in done.stdout


def test_no_contracts_is_a_usage_error(evproject) -> None:
    (evproject.root / "contracts" / "demo-v1.yaml").unlink()
    done = evproject.check()
    assert done.returncode == 2
    assert not (evproject.root / "out" / "evidence.json").exists()


def test_contracts_that_do_not_validate_are_not_checked(evproject) -> None:
    text = (evproject.root / "contracts" / "demo-v1.yaml").read_text()
    evproject.write("contracts/demo-v1.yaml", text.replace('check: "isfinite(loss)"', 'check: "isfinite(los)"'))
    done = evproject.check()
    assert done.returncode == 1
    assert "PV405" in done.stdout and "do not validate" in done.stderr
    assert not (evproject.root / "out" / "evidence.json").exists()


def test_reproducible_runs_are_byte_identical(evproject) -> None:
    first = evproject.check("--reproducible", "-o", "out/one.json")
    second = evproject.check("--reproducible", "-o", "out/two.json")
    assert first.returncode == second.returncode == 0
    one = (evproject.root / "out" / "one.json").read_bytes()
    assert one == (evproject.root / "out" / "two.json").read_bytes()
    doc = json.loads(one)
    assert "created_at" not in doc and "duration_s" not in doc["run"]
    assert '"duration_s"' not in one.decode()
    assert one.decode().endswith("}\n") and json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n" \
        == one.decode()


def test_in_toto_statement_names_the_contract_files(evproject, evidence_schema) -> None:
    done = evproject.check("--in-toto", "-o", "out/statement.json")
    assert done.returncode == 0
    statement = evproject.evidence("out/statement.json")
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    # the predicate type is the published schema: its $id, and the repository path in it is the schema file
    assert statement["predicateType"] == evidence_schema["$id"]
    from pvcontracts.evidence.evidence import schema_path

    assert statement["predicateType"].endswith("/blob/main/src/pvcontracts/evidence/schemas/" + schema_path().name)
    repo_file = Path(__file__).resolve().parents[2] / statement["predicateType"].split("/blob/main/", 1)[1]
    assert repo_file.read_bytes() == schema_path().read_bytes()
    import hashlib

    digest = hashlib.sha256((evproject.root / "contracts" / "demo-v1.yaml").read_bytes()).hexdigest()
    assert statement["subject"] == [{"name": "contracts/demo-v1.yaml", "digest": {"sha256": digest}}]
    jsonschema.validate(statement["predicate"], evidence_schema)
    verified = evproject.pv("verify", "out/statement.json")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_git_commit_and_dirty_flag_are_recorded(evproject) -> None:
    def git(*args: str) -> None:
        import subprocess

        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=evproject.root,
                       check=True, capture_output=True)

    git("init", "-q")
    (evproject.root / ".gitignore").write_text("out/\n.pv_cache/\n__pycache__/\n.hypothesis/\n")
    git("add", "-A")
    git("commit", "-q", "-m", "fixture")
    evproject.check()
    source = evproject.evidence()["source"]["git"]
    assert len(source["commit"]) == 40 and source["dirty"] is False
    evproject.tests(b_body="    assert True")
    evproject.check()
    assert evproject.evidence()["source"]["git"]["dirty"] is True


def test_workers_give_the_same_statuses(evproject) -> None:
    pytest.importorskip("xdist")
    evproject.tests(b_body="    pytest.skip('later')")
    done = evproject.check("-n", "2", "--reproducible", "-o", "out/xdist.json")
    assert done.returncode == 1, done.stdout + done.stderr
    doc = evproject.evidence("out/xdist.json")
    gate = evproject.gate(doc)
    assert [t["outcome"] for t in gate["tests"]] == ["passed", "skipped", "passed"]
    assert doc["run"]["workers"] == 2
    assert evproject.falsifier_record(doc)["statistics"]["examples"] == 50  # stats cross from the worker


def test_unwritable_output_is_a_usage_error(evproject) -> None:
    (evproject.root / "blocker").write_text("a file, not a directory")
    done = evproject.check("-o", "blocker/evidence.json")
    assert done.returncode == 2
    assert "cannot write blocker/evidence.json" in done.stderr


# --------------------------------------------------------------------------- smaller truths

OTHER = """\
schema_version: 1
id: other-v1
version: 1.0.0
status: active
title: Another contract
changelog:
  - {version: 1.0.0, date: 2026-01-01, summary: First}
invariants:
  - id: INV-OTH-001
    title: LR is positive
    at: step_end
    check: "lr > 0"
gates:
  - id: GATE-OTH-001
    invariants: [INV-OTH-001]
    ship_blocking: true
    evidence_discharged_by: [tests/test_other.py::test_positive]
"""

OTHER_TESTS = """\
import pytest


@pytest.mark.discharges(gate="GATE-OTH-001")
def test_positive():
    assert 1e-3 > 0


@pytest.mark.discharges(gate="GATE-NOPE-001")
def test_typo():
    assert True is not False
"""


def test_checking_some_contracts_notes_the_claims_of_the_others(evproject) -> None:
    evproject.write("contracts/other-v1.yaml", OTHER)
    evproject.write("tests/test_other.py", OTHER_TESTS)
    done = evproject.pv("check", "contracts/demo-v1.yaml")
    assert ("tests/test_other.py:4:1: note[PV605]: tests/test_other.py::test_positive claims GATE-OTH-001 of "
            "contracts/other-v1.yaml, which this run does not check") in done.stdout
    # a gate no contract anywhere declares is still an error, subset or not
    assert "error[PV601]: tests/test_other.py::test_typo claims GATE-NOPE-001" in done.stdout
    evproject.write("tests/test_other.py", OTHER_TESTS.split("\n\n\n@pytest.mark.discharges(gate=\"GATE-NOPE")[0])
    done = evproject.pv("check", "contracts/demo-v1.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 of 1 ship-blocking gate discharged" in done.stdout
    assert [g["id"] for c in evproject.evidence()["contracts"] for g in c["gates"]] == ["GATE-DEMO-001"]


def test_the_summary_counts_every_error_it_printed(evproject) -> None:
    evproject.tests(b_body="    assert 1 == 2")
    done = evproject.check()
    assert done.returncode == 1
    printed = done.stdout.count(": error[")
    assert printed == 1 and "error[PV610]: GATE-DEMO-001 is failed" in done.stdout
    assert f"; {printed} error, 0 warnings" in done.stdout
    doc = evproject.evidence()
    assert doc["summary"]["errors"] == printed == sum(1 for f in doc["findings"] if f["severity"] == "error")


def test_a_falsifier_that_is_not_a_property_test_is_a_finding(evproject) -> None:
    evproject.write("tests/test_falsify.py", "def test_property():\n    assert 2 < 3\n")
    done = evproject.check()
    assert done.returncode == 1
    assert ("error[PV616]: FALSIFY-DEMO-001: tests/test_falsify.py::test_property passed but is not a Hypothesis "
            "test") in done.stdout
    # a property run that tried nothing (Hypothesis itself skips most such runs; statistics can still say so)
    from pvcontracts.evidence.check import _property_test_finding

    contract = type("C", (), {"diag": lambda self, code, path, message, hint=None: (code, message)})()
    model = type("F", (), {"path": ("falsifiers", 0)})()
    record = {"id": "FALSIFY-DEMO-001", "test": "t.py::test_p", "statistics": {"examples": 0,
                                                                               "stopped_because": None}}
    assert _property_test_finding(contract, model, record, {"mode": "session"}) == (
        "PV617", "FALSIFY-DEMO-001: t.py::test_p ran no example (stopped because it never generated one)")
    record["statistics"]["examples"] = 12
    assert _property_test_finding(contract, model, record, {"mode": "session"}) is None


def test_non_finite_params_never_crash_writing_evidence(tmp_path) -> None:
    from pvcontracts.contract.loading import load_contract_bytes
    from pvcontracts.evidence import fingerprint as fp
    from pvcontracts.evidence.evidence import dumps

    text = CONTRACT_WITH_INF
    contract = load_contract_bytes(text.encode(), "contracts/inf-v1.yaml").contract
    assert contract is not None
    digest = fp.context_fingerprint(contract)  # Out of range float values are not JSON compliant, before
    assert digest.startswith("sha256:")
    assert json.loads(dumps({"params": contract.data["params"]})) == {
        "params": {"cap": {"type": "float", "max": "inf"}, "floor": {"type": "float", "min": "-inf"}}}


CONTRACT_WITH_INF = """\
schema_version: 1
id: inf-v1
version: 1.0.0
status: active
title: Unbounded
changelog:
  - {version: 1.0.0, date: 2026-01-01, summary: First}
params:
  cap: {type: float, max: .inf}
  floor: {type: float, min: -.inf}
invariants:
  - id: INV-INF-001
    title: Loss under the cap
    at: step_end
    check: "loss <= cap"
gates:
  - id: GATE-INF-001
    invariants: [INV-INF-001]
    ship_blocking: true
    evidence_discharged_by: [tests/test_x.py::test_ok]
"""
