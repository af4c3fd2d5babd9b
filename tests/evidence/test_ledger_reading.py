"""Ledgers read strictly (the format agreed with the runtime): each case and the diagnostic it must produce."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pvcontracts.contract.loading import load_contract_bytes
from pvcontracts.evidence.runtime import ledger_evidence, unenforced

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
  - id: INV-DEMO-002
    title: LR is positive
    at: step_end
    check: "lr > 0"
gates:
  - id: GATE-DEMO-001
    invariants: [INV-DEMO-001]
    ship_blocking: true
    evidence_discharged_by: [tests/test_x.py::test_ok]
  - id: GATE-DEMO-002
    invariants: [INV-DEMO-002]
    ship_blocking: false
    evidence_discharged_by: [tests/test_x.py::test_ok]
"""


def _start(run: str | None = "r1", **extra):
    rec = {"kind": "run_start", "time": 0.0, "regime": {"kind": "finetune"}, "params": {},
           "contracts": [{"id": "demo-v1", "version": "1.0.0"}], "sync_every": 1, "rank": 0, "world_size": 1,
           "pid": 1, "mode": "strict", "invariants": ["INV-DEMO-001", "INV-DEMO-002"], **extra}
    if run is not None:
        rec["run"] = run
    return rec


def _counts(run: str | None = "r1", violated: int = 0, enforced: bool | None = True, inv: str = "INV-DEMO-001"):
    entry = {"evaluated": 3, "applicable": 3, "violated": violated, "unevaluable": 0}
    if enforced is not None:
        entry.update(enforced=enforced, reason=None if enforced else "metric loss never supplied")
    rec = {"kind": "counts", "step": 3, "epoch": 1, "invariants": {inv: entry}}
    if run is not None:
        rec["run"] = run
    return rec


def _violation(run: str | None = "r1", inv: str = "INV-DEMO-001"):
    rec = {"kind": "violation", "invariant": inv, "contract": "demo-v1", "contract_version": "1.0.0",
           "boundary": "step_end", "step": 1, "epoch": 0, "on_violation": "record", "message": f"{inv} failed"}
    if run is not None:
        rec["run"] = run
    return rec


def _end(run: str | None = "r1"):
    rec = {"kind": "run_end", "time": 1.0, "step": 3, "epoch": 1}
    if run is not None:
        rec["run"] = run
    return rec


def _curve(run: str | None = "r1", **changes):
    rec = {"kind": "curve", "steps": [0, 9], "n": 10, "epochs": [0, 0],
           "metrics": {"loss": [2.0, 1.0, 2.5, "nan"], "lr": [0.1, 0.1, 0.1, 0.1]}, "nonfinite": {"loss": 1},
           "expected": {"lr": [0.1, 0.1, 0.1, 0.1]}, "expected_by": {"lr": "INV-LR-003"}, **changes}
    for key in [k for k, v in rec.items() if v is None]:
        del rec[key]
    if run is not None:
        rec["run"] = run
    return rec


def _j(rec) -> str:
    return json.dumps(rec)


CLEAN = [_j(_start()), _j(_counts()), _j(_end())]

# name -> (ledger text, [(code, severity, line, text in the message)])
CASES = {
    "clean": ("\n".join(CLEAN) + "\n", []),
    "not-an-object": ("\n".join([CLEAN[0], "[1, 2]", *CLEAN[1:]]) + "\n",
                      [("PV645", "error", 2, "line 2: not an object but list")]),
    "run-start-contracts-malformed": ("\n".join([_j(_start(contracts="demo-v1")), *CLEAN]) + "\n",
                                      [("PV645", "error", 1, "contracts is not a list of {id, version}")]),
    "too-deep": ("\n".join([CLEAN[0], '{"kind": "counts", "x": ' + "[" * 5000 + "]" * 5000 + "}", *CLEAN[1:]])
                 + "\n", [("PV645", "error", 2, "nests deeper than 32 levels")]),
    "unparseable-in-the-middle": ("\n".join([CLEAN[0], '{"kind": "violation", "invar', *CLEAN[1:]]) + "\n",
                                  [("PV645", "error", 2, "line 2: unparseable")]),
    "torn-last-line": ("\n".join([*CLEAN, '{"kind": "counts", "ste']),
                       [("PV646", "note", 4, "the last line was cut off mid-write")]),
    "torn-before-a-resume": ("\n".join([CLEAN[0], '{"kind": "counts", "ste', _j(_start(resumed=True)), *CLEAN[1:]])
                             + "\n", [("PV646", "note", 2, "before the run_start that resumed it")]),
    "violation-record-deleted": ("\n".join([_j(_start()), _j(_counts(violated=1)), _j(_end())]) + "\n",
                                 [("PV647", "error", 0, "the counts say INV-DEMO-001 was violated 1 times, but the "
                                                        "ledger has 0 violation records")]),
    "record-before-any-run": ("\n".join([_j(_counts()), *CLEAN]) + "\n",
                              [("PV645", "error", 1, "a counts record of no run that started before it")]),
    "other-contracts": ("\n".join([_j(_start(contracts=[{"id": "other-v1", "version": "2.0.0"}])), _j(_end())])
                        + "\n", [("PV648", "warning", 0, "enforced none of the checked contracts (they enforced "
                                                          "other-v1)")]),
    "blocking-violation": ("\n".join([_j(_start()), _j(_violation()), _j(_counts(violated=1)), _j(_end())]) + "\n",
                           [("PV641", "error", 0, "run r1 violated INV-DEMO-001 1 time")]),
    "non-blocking-violation": ("\n".join([_j(_start()), _j(_violation(inv="INV-DEMO-002")), _j(_end())]) + "\n",
                               [("PV644", "warning", 0, "run r1 violated INV-DEMO-002 1 time")]),
    "unknown-kind": ("\n".join([*CLEAN, '{"kind": "heartbeat", "run": "r1"}']) + "\n",
                     [("PV645", "note", 4, "an unknown kind 'heartbeat'")]),
    "incomplete": ("\n".join(CLEAN[:2]) + "\n", [("PV643", "warning", 0, "run r1 never reached run_end")]),
    "curve": ("\n".join([CLEAN[0], _j(_curve()), *CLEAN[1:]]) + "\n", []),
    "curve-steps-backwards": ("\n".join([CLEAN[0], _j(_curve(steps=[9, 0])), *CLEAN[1:]]) + "\n",
                              [("PV645", "error", 2, "a curve record whose steps is not [first, last]")]),
    "curve-without-steps": ("\n".join([CLEAN[0], _j(_curve(steps=None)), *CLEAN[1:]]) + "\n",
                            [("PV645", "error", 2, "a curve record whose steps is not [first, last]")]),
    "curve-summary-of-three": ("\n".join([CLEAN[0], _j(_curve(metrics={"loss": [1, 2, 3]})), *CLEAN[1:]]) + "\n",
                               [("PV645", "error", 2, "metrics is not an object of [first, min, max, last]")]),
    "curve-summary-with-text": ("\n".join([CLEAN[0], _j(_curve(expected={"lr": [1, "<b>", 2, 3]})), *CLEAN[1:]])
                                + "\n", [("PV645", "error", 2, "expected is not an object of [first, min, max")]),
    "curve-zero-steps": ("\n".join([CLEAN[0], _j(_curve(n=0)), *CLEAN[1:]]) + "\n",
                         [("PV645", "error", 2, "n is not a positive count of steps")]),
    "curve-negative-count": ("\n".join([CLEAN[0], _j(_curve(nonfinite={"loss": -1})), *CLEAN[1:]]) + "\n",
                             [("PV645", "error", 2, "nonfinite is not an object of counts")]),
    "curve-expected-by-number": ("\n".join([CLEAN[0], _j(_curve(expected_by={"lr": 3})), *CLEAN[1:]]) + "\n",
                                 [("PV645", "error", 2, "expected_by is not an object of invariant ids")]),
    "curve-before-any-run": ("\n".join([_j(_curve()), *CLEAN]) + "\n",
                             [("PV645", "error", 1, "a curve record of no run that started before it")]),
}


def _contracts():
    return [load_contract_bytes(CONTRACT.encode(), "contracts/demo-v1.yaml").contract]


@pytest.mark.parametrize(("text", "expected"), CASES.values(), ids=CASES.keys())
def test_each_ledger_case_gives_its_finding(tmp_path: Path, text: str, expected) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text(text)
    record, found = ledger_evidence(path, tmp_path, _contracts())
    got = [(d.code, d.severity.value, d.line, d.message) for d in found if d.code != "PV640"]
    assert [(c, s, line) for c, s, line, _ in got] == [(c, s, line) for c, s, line, _ in expected], got
    for (_, _, _, message), (_, _, _, needle) in zip(got, expected):
        assert needle in message
    if record is not None:
        assert [p["code"] for p in record["problems"]] == [c for c, _, line, _ in expected if line]


def test_each_run_in_a_ledger_is_its_own_record(tmp_path: Path) -> None:
    lines = [_start("r1"), _counts("r1"), _end("r1"),
             _start("r2"), _violation("r2"), _counts("r2", violated=1),  # r2 never ended
             _start("r1", resumed=True), _counts("r1"), _end("r1")]  # r1 was resumed after r2 started
    path = tmp_path / "ledger.jsonl"
    path.write_text("\n".join(_j(r) for r in lines) + "\n")
    record, found = ledger_evidence(path, tmp_path, _contracts())
    runs = {r["run"]: r for r in record["runs"]}
    assert sorted(runs) == ["r1", "r2"]
    assert (runs["r1"]["segments"], runs["r1"]["complete"], runs["r1"]["violation_count"]) == (2, True, 0)
    assert (runs["r2"]["segments"], runs["r2"]["complete"], runs["r2"]["violation_count"]) == (1, False, 1)
    assert sorted((d.code, "r2" in d.message) for d in found) == [("PV641", True), ("PV643", True)]


def test_a_ledger_older_than_run_ids_starts_a_run_at_each_run_start(tmp_path: Path) -> None:
    lines = [_start(None), _counts(None, enforced=None), _end(None), _start(None), _end(None)]
    path = tmp_path / "ledger.jsonl"
    path.write_text("\n".join(_j(r) for r in lines) + "\n")
    record, found = ledger_evidence(path, tmp_path, _contracts())
    assert [r["run"] for r in record["runs"]] == [None, None]
    assert record["runs"][0]["invariants"]["INV-DEMO-001"]["enforced"] is None  # unknown, never counted as held
    assert found == []


def test_a_gate_no_run_enforced_does_not_look_covered(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text("\n".join([_j(_start()), _j(_counts(enforced=False)), _j(_end())]) + "\n")
    record, _ = ledger_evidence(path, tmp_path, _contracts())
    [note] = unenforced([record], _contracts())
    assert (note.code, note.severity.value) == ("PV649", "note")
    assert "GATE-DEMO-001: no run in the given ledgers enforced INV-DEMO-001: its runtime evidence is absent" in note.message
    path.write_text("\n".join(CLEAN) + "\n")
    record, _ = ledger_evidence(path, tmp_path, _contracts())
    assert unenforced([record], _contracts()) == []


def test_a_fifo_ledger_is_unreadable_not_a_hang(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "ledger.jsonl")
    record, [d] = ledger_evidence(tmp_path / "ledger.jsonl", tmp_path, _contracts())
    assert record is None and d.code == "PV640" and "not a regular file" in d.message


def test_a_runtime_violation_shows_in_pv_status_and_fails_pv_verify(evproject) -> None:
    ledger = evproject.root / "runs" / "x" / "ledger.jsonl"
    ledger.parent.mkdir(parents=True)
    ledger.write_text("\n".join([_j(_start()), _j(_violation()), _j(_counts(violated=1)), _j(_end())]) + "\n")
    done = evproject.check("--ledger", str(ledger))
    assert done.returncode == 1 and "error[PV641]" in done.stdout
    status = evproject.pv("status")
    assert status.returncode == 0
    assert "    runtime: INV-DEMO-001 violated 1 time in run r1 (runs/x/ledger.jsonl)" in status.stdout
    assert "runtime: 1 ship-blocking invariant violated in a training run" in status.stdout
    verify = evproject.pv("verify", "out/evidence.json")
    assert verify.returncode == 1
    assert "error[PV641]: runtime evidence: run r1 violated INV-DEMO-001 1 time" in verify.stdout
    page = evproject.pv("report", "out/evidence.json", "--html", "-").stdout
    assert "Not ready: a training run violated 1 ship-blocking invariant" in page


def test_an_overlong_line_is_skipped_without_reading_it_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from pvcontracts.evidence import ledger

    monkeypatch.setattr(ledger, "MAX_LINE_BYTES", 1000)
    path = tmp_path / "ledger.jsonl"
    path.write_text("\n".join([CLEAN[0], '{"kind": "counts", "pad": "' + "x" * 5000 + '"}', *CLEAN[1:]]) + "\n")
    record, found = ledger_evidence(path, tmp_path, _contracts())
    assert [(d.code, d.line) for d in found] == [("PV645", 2)] and "longer than 1000 bytes" in found[0].message
    assert record["digest"] == hashlib.sha256(path.read_bytes()).hexdigest()  # every byte digested all the same
    assert record["runs"][0]["complete"] is True


def test_a_ledger_that_cannot_say_what_was_enforced_is_named_apart(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text("\n".join([_j(_start(None)), _j(_counts(None, enforced=None)), _j(_end(None))]) + "\n")
    record, _ = ledger_evidence(path, tmp_path, _contracts())
    [note] = unenforced([record], _contracts())
    assert "the ledgers cannot say whether INV-DEMO-001 was enforced (they predate the enforced flag)" in note.message
