"""Runtime evidence: `pv check --ledger` reads what a real Monitor wrote during a run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pvcontracts.runtime import ContractViolation, Monitor


def _ledger(project_root: Path, name: str, losses: list[float], *, finish: bool = True) -> Path:
    """A ledger written by a real Monitor enforcing the fixture project's demo contract."""
    path = project_root / "runs" / name / "ledger.jsonl"
    monitor = Monitor.from_contracts(project_root / "contracts", ledger=path, sync_every=1)
    try:
        for loss in losses:
            monitor.step_end(loss=loss)
    except ContractViolation:
        pass
    if finish:
        monitor.run_end()
        monitor.close()
    return path


def test_a_clean_run_is_recorded_with_its_counts(evproject) -> None:
    evproject.contract()
    evproject.tests()
    evproject.falsifier()
    ledger = _ledger(evproject.root, "clean", [1.0, 0.5, 0.25])
    result = evproject.check("--ledger", str(ledger))
    assert result.returncode == 0, result.stdout + result.stderr
    runtime = evproject.evidence()["runtime"]
    assert [r["path"] for r in runtime] == ["runs/clean/ledger.jsonl"]
    assert runtime[0]["problems"] == []
    [run] = runtime[0]["runs"]
    assert run["complete"] is True and run["segments"] == 1
    assert run["invariants"]["INV-DEMO-001"]["applicable"] == 3
    assert run["violation_count"] == 0
    assert run["contracts"] == [{"id": "demo-v1", "version": "1.0.0", "current_version": "1.0.0"}]


def test_a_run_that_violated_a_ship_blocking_invariant_fails_the_check(evproject) -> None:
    evproject.contract()
    evproject.tests()
    evproject.falsifier()
    ledger = _ledger(evproject.root, "bad", [1.0, float("nan")])
    result = evproject.check("--ledger", str(ledger))
    assert result.returncode == 1
    assert "error[PV641]" in result.stdout and "violated INV-DEMO-001 1 time (first at step_end, step 1" in result.stdout
    [run] = evproject.evidence()["runtime"][0]["runs"]
    assert run["violation_count"] == 1 and run["violations"][0]["step"] == 1


def test_a_killed_run_and_a_missing_ledger_are_reported(evproject) -> None:
    evproject.contract()
    evproject.tests()
    evproject.falsifier()
    ledger = _ledger(evproject.root, "killed", [1.0], finish=False)
    result = evproject.check("--ledger", str(ledger), "--ledger", str(evproject.root / "nope.jsonl"))
    assert "PV643" in result.stdout  # no run_end: a warning
    assert "PV640" in result.stdout  # unreadable: an error
    assert result.returncode == 1


def test_evidence_with_runtime_records_matches_its_schema(evproject, evidence_schema) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    evproject.contract()
    evproject.tests()
    evproject.falsifier()
    ledger = _ledger(evproject.root, "clean", [1.0])
    evproject.check("--ledger", str(ledger))
    doc = evproject.evidence()
    jsonschema.validate(doc, evidence_schema)
    assert json.loads(json.dumps(doc)) == doc
