"""Curve records: the step metrics' summaries per window, in the ledger, riding in the sync point's transfer."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import pvcontracts.runtime.curves as curves_module
from pvcontracts.contract.contractset import load_contracts
from pvcontracts.runtime import ContractViolation, Monitor
from pvcontracts.runtime.evaluation import Evaluator
from pvcontracts.util.summary import merge_records

LR = {"lr_schedule": "linear", "warmup_steps": 10, "peak_lr": 0.1, "min_lr": 0.0, "total_steps": 120,
      "step_indexing": "one_based", "warmup_start": 0.0}


def records(path: Path, kind: str) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["kind"] == kind]


def lr_factor(k: int) -> float:
    """LambdaLR multiplier for scheduler step k, one-based, as lr-schedule-v1 declares the linear shape above."""
    idx = k + 1
    return idx / 10 if idx < 10 else max(0.0, 1 - (idx - 10) / 110)


class Loop:
    """A tiny real loop (Linear, SGD, LambdaLR) under the shipped loop and schedule contracts."""

    def __init__(self, shipped: Path, ledger: Path | None, *, sync_every: int = 25, factor=lr_factor,
                 **kwargs: Any) -> None:
        torch.manual_seed(0)
        self.model = nn.Linear(4, 1)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        contracts = load_contracts(shipped, ["training-loop-pretrain-v1", "lr-schedule-v1"])
        self.monitor = Monitor(contracts, params=LR, sync_every=sync_every, ledger=ledger, **kwargs)
        self.monitor.watch(self.model, self.optimizer, self.scheduler)
        self.seen: dict[str, list[float]] = {"loss": [], "lr": [], "grad_norm": []}

    def step(self, i: int, *, poison: bool = False) -> None:
        g = torch.Generator().manual_seed(i)
        x = torch.randn(8, 4, generator=g)
        loss = self.model(x).pow(2).mean()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), 10.0)
        self.monitor.observe(grad_norm=grad_norm)
        self.seen["lr"].append(self.optimizer.param_groups[0]["lr"])
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad()
        if poison:
            loss = loss * float("nan")
        self.seen["loss"].append(float(loss.detach()))
        self.seen["grad_norm"].append(float(grad_norm))
        self.monitor.step_end(loss=loss.detach())


def close(value: Any, expected: float) -> bool:
    if expected is None or value is None:
        return value is expected
    return math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-12)


def test_each_window_is_summarised_in_the_ledger(shipped: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    loop = Loop(shipped, ledger)
    for i in range(100):
        loop.step(i)
    loop.monitor.run_end()
    loop.monitor.close()
    curves = records(ledger, "curve")
    assert [c["steps"] for c in curves] == [[0, 24], [25, 49], [50, 74], [75, 99]]
    assert all(c["n"] == 25 and c["epochs"] == [0, 0] and c["run"] == loop.monitor.run_id for c in curves)
    assert {"loss", "lr", "grad_norm", "optimizer_steps", "scheduler_steps"} <= set(curves[0]["metrics"])
    for c in curves:
        lo, hi = c["steps"]
        for name, seen in loop.seen.items():
            window = seen[lo:hi + 1]
            first, low, high, last = c["metrics"][name]
            assert close(first, window[0]) and close(last, window[-1]), (name, c["steps"])
            assert close(low, min(window)) and close(high, max(window)), (name, c["steps"])
        # The scheduled LR lr-schedule-v1 computes (INV-LR-003's expected_lr) is the LR the loop applied.
        assert c["expected_by"] == {"lr": "INV-LR-003"}
        assert all(close(e, m) for e, m in zip(c["expected"]["lr"], c["metrics"]["lr"]))
    # Curves come before the counts and run_end they lead up to.
    kinds = [json.loads(line)["kind"] for line in ledger.read_text().splitlines()]
    assert kinds.index("run_end") > max(i for i, k in enumerate(kinds) if k == "curve")


def test_expected_lr_shows_a_schedule_that_is_off(shipped: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    loop = Loop(shipped, ledger, factor=lambda k: 0.5 * lr_factor(k))
    with pytest.raises(ContractViolation) as info:
        for i in range(30):
            loop.step(i)
    assert info.value.invariant_id == "INV-LR-003"
    loop.monitor.close()
    [curve] = records(ledger, "curve")  # the window up to the violation, written on close
    assert curve["steps"][0] == 0 and curve["steps"][1] >= info.value.step
    applied, expected = curve["metrics"]["lr"], curve["expected"]["lr"]
    assert close(applied[0], 0.5 * expected[0]) and close(applied[3], 0.5 * expected[3])


def test_non_finite_values_are_counted_not_hidden(shipped: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    loop = Loop(shipped, ledger)
    with pytest.raises(ContractViolation):
        for i in range(25):
            loop.step(i, poison=i in (3, 24))
    loop.monitor.close()
    [curve] = records(ledger, "curve")
    first, low, high, last = curve["metrics"]["loss"]
    finite = [v for v in loop.seen["loss"] if math.isfinite(v)]
    assert curve["nonfinite"] == {"loss": 2}
    assert last == "nan"  # written as the ledger writes NaN: a string, so every JSON reader takes it
    assert close(low, min(finite)) and close(high, max(finite)) and close(first, loop.seen["loss"][0])


def test_a_run_of_many_windows_stays_bounded_and_covers_every_step(make_contracts, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(curves_module, "RECORDS_PER_LEVEL", 4)
    ledger = tmp_path / "ledger.jsonl"
    monitor = Monitor.from_contracts(make_contracts({"check": "loss < 1000"}), ledger=ledger, sync_every=1)
    losses = [float((i * 37) % 101) for i in range(100)]
    for loss in losses:
        monitor.step_end(loss=loss)
    monitor.run_end()
    monitor.close()
    curves = records(ledger, "curve")
    # Four records at each width, 1, 2, 4, 8, then 16 steps: 4 + 8 + 16 + 32 = 60 steps, then 40 more.
    assert [c["n"] for c in curves] == [1] * 4 + [2] * 4 + [4] * 4 + [8] * 4 + [16, 16, 8]
    assert curves[0]["steps"] == [0, 0] and curves[-1]["steps"] == [92, 99]
    assert all(a["steps"][1] + 1 == b["steps"][0] for a, b in zip(curves, curves[1:]))
    for c in curves:
        window = losses[c["steps"][0]:c["steps"][1] + 1]
        assert c["metrics"]["loss"] == [window[0], min(window), max(window), window[-1]]


def test_the_resolution_reached_survives_a_resume(make_contracts, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(curves_module, "RECORDS_PER_LEVEL", 2)
    contracts = make_contracts({"check": "loss < 1000"})
    monitor = Monitor.from_contracts(contracts, ledger=tmp_path / "a.jsonl", sync_every=1)
    for i in range(6):  # 2 records of 1 step, 2 of 2: width 4 now
        monitor.step_end(loss=float(i))
    state = monitor.state_dict()
    monitor.close()
    assert state["curves"] == {"width": 4, "written": 0}
    resumed = Monitor.from_contracts(contracts, ledger=tmp_path / "b.jsonl", sync_every=1)
    resumed.load_state_dict(state)
    for i in range(6, 14):
        resumed.step_end(loss=float(i))
    resumed.close()
    assert [c["n"] for c in records(tmp_path / "b.jsonl", "curve")] == [4, 4]


def test_without_a_ledger_or_with_curves_off_nothing_is_kept(shipped: Path, tmp_path: Path) -> None:
    loop = Loop(shipped, None)
    loop.step(0)
    assert loop.monitor._curves is None
    ledger = tmp_path / "off.jsonl"
    loop = Loop(shipped, ledger, curves=False)
    for i in range(30):
        loop.step(i)
    loop.monitor.close()
    assert records(ledger, "curve") == [] and records(ledger, "counts")


def test_fatal_before_step_still_summarises_per_window_not_per_step(shipped: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    loop = Loop(shipped, ledger, sync_every=10, fatal_before_step=True)
    for i in range(30):
        loop.step(i)
    loop.monitor.close()
    assert [c["steps"] for c in records(ledger, "curve")] == [[0, 9], [10, 19], [20, 29]]


def test_a_metric_that_is_not_a_scalar_gets_no_curve(make_contracts, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    monitor = Monitor.from_contracts(make_contracts({"check": "isfinite(loss)"}), ledger=ledger, sync_every=5)
    for i in range(5):
        monitor.step_end(loss=torch.full((3,), float(i)))
    monitor.close()
    [curve] = records(ledger, "curve")
    assert curve["metrics"] == {} and curve["n"] == 5


def test_merging_two_records_is_one_record_over_both_windows() -> None:
    a = {"kind": "curve", "steps": [0, 9], "n": 10, "epochs": [0, 0], "metrics": {"loss": [3.0, 1.0, 4.0, 2.0]},
         "nonfinite": {"loss": 1}}
    b = {"kind": "curve", "steps": [10, 14], "n": 5, "epochs": [0, 1],
         "metrics": {"loss": [2.5, None, None, "nan"], "lr": [0.1, 0.1, 0.2, 0.2]},
         "expected": {"lr": [0.1, 0.1, 0.2, 0.2]}, "expected_by": {"lr": "INV-LR-003"}, "missing": {"lr": 1}}
    merged = merge_records(a, b)
    assert merged == {"kind": "curve", "steps": [0, 14], "n": 15, "epochs": [0, 1],
                      "metrics": {"loss": [3.0, 1.0, 4.0, "nan"], "lr": [0.1, 0.1, 0.2, 0.2]},
                      "expected": {"lr": [0.1, 0.1, 0.2, 0.2]}, "expected_by": {"lr": "INV-LR-003"},
                      "nonfinite": {"loss": 1}, "missing": {"lr": 11}}


# --------------------------------------------------------------------------- no extra host reads


def _reads_per_step(shipped: Path, ledger: Path, reads: Counter, *, curves: bool) -> list[int]:
    loop = Loop(shipped, ledger, sync_every=10, curves=curves)
    per_step = []
    for i in range(30):
        before = sum(reads.values())
        loop.step(i)
        per_step.append(sum(reads.values()) - before)
    loop.monitor.close()
    return per_step


def test_curves_add_no_host_read_between_or_at_sync_points(shipped: Path, tmp_path: Path, reads: Counter) -> None:
    off = _reads_per_step(shipped, tmp_path / "off.jsonl", reads, curves=False)
    on = _reads_per_step(shipped, tmp_path / "on.jsonl", reads, curves=True)
    assert len(records(tmp_path / "on.jsonl", "curve")) == 3 and not records(tmp_path / "off.jsonl", "curve")
    sync_steps = {9, 19, 29}
    assert [n for i, n in enumerate(on) if i not in sync_steps] == [0] * 27
    # The summaries ride in the flag vector's transfer: a sync point reads exactly as often as without them.
    assert on == off
    assert all(1 <= on[i] <= 2 for i in sync_steps), on


def test_the_read_count_would_catch_curves_reading_on_their_own(shipped: Path, tmp_path: Path, reads: Counter,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # Break the rider: the window's summaries no longer travel with the flags, so the window reads them itself.
    settle = Evaluator.settle
    monkeypatch.setattr(Evaluator, "settle", lambda self, rider=None: settle(self))
    off = _reads_per_step(shipped, tmp_path / "off.jsonl", reads, curves=False)
    on = _reads_per_step(shipped, tmp_path / "on.jsonl", reads, curves=True)
    assert on != off and len(records(tmp_path / "on.jsonl", "curve")) == 3


def test_a_value_no_number_can_be_made_of_costs_its_curve_not_the_run(make_contracts, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    # The check never applies, so nothing reads lr as a number but the curve.
    contracts = make_contracts({"check": "lr > 0", "when": "step < 0"}, {"check": "isfinite(loss)"})
    monitor = Monitor.from_contracts(contracts, ledger=ledger, sync_every=3)
    for _ in range(3):
        monitor.step_end(lr="not a number", loss=1.0)
    monitor.close()
    [curve] = records(ledger, "curve")
    assert set(curve["metrics"]) == {"loss"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_curves_never_synchronise_between_sync_points(shipped: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = nn.Linear(4, 1).cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    contracts = load_contracts(shipped, ["training-loop-pretrain-v1", "lr-schedule-v1"])
    ledger = tmp_path / "ledger.jsonl"
    monitor = Monitor(contracts, params=LR, sync_every=10, ledger=ledger)
    monitor.watch(model, optimizer, scheduler)
    try:
        for step in range(30):
            loss = model(torch.randn(8, 4, device="cuda")).pow(2).mean()
            loss.backward()
            torch.cuda.synchronize()  # start each step with an idle queue, so only our own work counts
            if (step + 1) % 10:
                torch.cuda.set_sync_debug_mode("error")  # any synchronisation from here raises
            try:
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                monitor.step_end(loss=loss.detach())
            finally:
                torch.cuda.set_sync_debug_mode("default")
        monitor.close()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert [c["steps"] for c in records(ledger, "curve")] == [[0, 9], [10, 19], [20, 29]]
