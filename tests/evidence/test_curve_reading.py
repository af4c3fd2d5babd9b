"""A run's curve records as the evidence reads them: in step order, a resume's records winning, bounded, charted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pvcontracts.contract.loading import load_contract_bytes
from pvcontracts.evidence import curves as curves_module
from pvcontracts.evidence.curves import CurveReader
from pvcontracts.evidence.runtime import ledger_evidence

CONTRACT = """\
schema_version: 1
id: demo-v1
version: 1.0.0
status: active
title: Demo
changelog:
  - {version: 1.0.0, date: 2026-01-01, summary: First}
invariants:
  - id: INV-DEMO-001
    title: Loss is finite
    at: step_end
    check: "isfinite(loss)"
gates:
  - id: GATE-DEMO-001
    invariants: [INV-DEMO-001]
    ship_blocking: true
    evidence_discharged_by: [tests/test_x.py::test_ok]
"""


def curve(lo: int, hi: int, loss: float, **extra) -> dict:
    return {"kind": "curve", "run": "r1", "steps": [lo, hi], "n": hi - lo + 1, "epochs": [0, 0],
            "metrics": {"loss": [loss, loss - 1, loss + 1, loss], "batch_fingerprint": [1.0, 1.0, 1.0, 1.0]},
            **extra}


def ledger(tmp_path: Path, records: list[dict]) -> Path:
    start = {"kind": "run_start", "run": "r1", "time": 1767225600.5, "regime": {"kind": "finetune"},
             "contracts": [{"id": "demo-v1", "version": "1.0.0"}], "mode": "supplied", "invariants": ["INV-DEMO-001"]}
    end = {"kind": "run_end", "run": "r1", "time": 1767229200.0, "step": 40, "epoch": 1}
    path = tmp_path / "ledger.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [start, *records, end]) + "\n")
    return path


def contracts():
    return [load_contract_bytes(CONTRACT.encode(), "contracts/demo-v1.yaml").contract]


def test_the_evidence_keeps_the_runs_times_steps_violation_values_and_charted_curves(tmp_path: Path) -> None:
    violation = {"kind": "violation", "run": "r1", "invariant": "INV-DEMO-001", "contract": "demo-v1",
                 "contract_version": "1.0.0", "boundary": "step_end", "step": 12, "epoch": 0,
                 "expression": "isfinite(loss)", "values": {"loss": "nan"}, "on_violation": "record",
                 "message": "INV-DEMO-001 failed"}
    counts = {"kind": "counts", "run": "r1", "step": 40, "epoch": 1,
              "invariants": {"INV-DEMO-001": {"evaluated": 40, "applicable": 40, "violated": 1, "unevaluable": 0,
                                              "enforced": True, "reason": None}}}
    path = ledger(tmp_path, [curve(0, 9, 3.0), curve(10, 19, 2.0, nonfinite={"loss": 1}), violation,
                             curve(20, 39, 1.0), counts])
    record, _ = ledger_evidence(path, tmp_path, contracts())
    [run] = record["runs"]
    assert (run["started"], run["ended"], run["last_step"]) == ("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", 40)
    assert run["violations"][0]["expression"] == "isfinite(loss)"
    assert run["violations"][0]["values"] == {"loss": "nan"}
    curves = run["curves"]
    assert curves["records"] == 3 and curves["expected_by"] == {}
    # batch_fingerprint is tracked but not charted: no chart shows it and no violated invariant reads it.
    assert [p["steps"] for p in curves["points"]] == [[0, 9], [10, 19], [20, 39]]
    assert all(set(p["metrics"]) == {"loss"} for p in curves["points"])
    assert curves["points"][1]["nonfinite"] == {"loss": 1}


def test_a_violated_invariants_metrics_are_charted_too(tmp_path: Path) -> None:
    violation = {"kind": "violation", "run": "r1", "invariant": "INV-DEMO-001", "step": 3,
                 "values": {"batch_fingerprint": 1.0}}
    record, _ = ledger_evidence(ledger(tmp_path, [curve(0, 9, 3.0), violation]), tmp_path, contracts())
    assert set(record["runs"][0]["curves"]["points"][0]["metrics"]) == {"loss", "batch_fingerprint"}


def test_a_ledger_without_curve_records_has_no_curves(tmp_path: Path) -> None:
    record, found = ledger_evidence(ledger(tmp_path, []), tmp_path, contracts())
    assert record["runs"][0]["curves"] is None and found == []


def test_a_resumed_segment_replaces_the_records_it_redid() -> None:
    reader = CurveReader()
    for rec in (curve(0, 9, 5.0), curve(10, 19, 4.0), curve(20, 29, 3.0),  # killed after step 29
                curve(10, 19, 4.5), curve(20, 29, 3.5), curve(30, 39, 2.5)):  # resumed from the step-10 checkpoint
        reader.add(rec)
    assert [(r["steps"], r["metrics"]["loss"][0]) for r in reader.records] == [
        ([0, 9], 5.0), ([10, 19], 4.5), ([20, 29], 3.5), ([30, 39], 2.5)]
    assert reader.read == 6


def test_reading_stays_bounded_and_the_chart_covers_every_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(curves_module, "MAX_KEPT", 16)
    reader = CurveReader()
    for i in range(1000):
        reader.add(curve(10 * i, 10 * i + 9, float(i % 7)))
    assert len(reader.records) <= 16
    assert reader.records[0]["steps"][0] == 0 and reader.records[-1]["steps"][1] == 9999
    assert sum(r["n"] for r in reader.records) == 10_000
    chart = reader.chart(["loss"], points=5)
    points = chart["points"]
    assert len(points) <= 5 and chart["records"] == 1000
    assert points[0]["steps"][0] == 0 and points[-1]["steps"][1] == 9999
    assert all(a["steps"][1] + 1 == b["steps"][0] for a, b in zip(points, points[1:]))
    assert all(p["metrics"]["loss"][1] == -1.0 and p["metrics"]["loss"][2] == 7.0 for p in points)


def test_the_chart_spreads_points_evenly_over_the_steps() -> None:
    reader = CurveReader()
    for i in range(50):  # narrow records first, wide ones later: as a long run's ledger holds them
        reader.add(curve(i, i, 1.0))
    for k in range(50):
        reader.add(curve(50 + 19 * k, 50 + 19 * k + 18, 1.0))
    points = reader.chart(["loss"], points=10)["points"]
    spans = [p["steps"][1] - p["steps"][0] + 1 for p in points]
    assert len(points) <= 10 and sum(spans) == 1000
    assert all(100 - 19 <= s <= 100 + 19 for s in spans[:-1]), spans
