"""Supplied and strict modes, runtime params, the run's ledger, and the API a user reaches for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pvcontracts.contract.loading import load_contract_file
from pvcontracts.errors import ContractLoadError, ParamError
from pvcontracts.runtime import ContractViolation, MissingMetricError, MissingParamError, Monitor, Regime, read_ledger


def healthy_loop(monitor: Monitor, epochs: int = 3) -> None:
    """A loop that supplies only loss and val_loss, and watches nothing."""
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    for _ in range(epochs):
        for i in range(0, 64, 16):
            loss = torch.nn.functional.mse_loss(net(x[i:i + 16]), y[i:i + 16])
            opt.zero_grad()
            loss.backward()
            opt.step()
            monitor.step_end(loss=loss.detach())
        with torch.no_grad():
            monitor.epoch_end(val_loss=float(torch.nn.functional.mse_loss(net(x), y)))
    monitor.run_end()
    monitor.close()


class TestSuppliedMode:
    def test_a_loop_supplying_only_loss_and_val_loss_runs_to_the_end_and_says_what_it_enforced(
            self, shipped: Path, tmp_path: Path) -> None:
        ledger = tmp_path / "ledger.jsonl"
        monitor = Monitor.from_contracts(shipped, ledger=ledger)  # every shipped contract, the default mode
        healthy_loop(monitor)
        records = list(read_ledger(ledger))
        start = records[0]
        assert start["kind"] == "run_start" and start["mode"] == "supplied"
        assert {"INV-TRAIN-001", "INV-LR-003", "INV-HEALTH-001"} <= set(start["invariants"])
        assert len({r["run"] for r in records}) == 1
        counts = [r for r in records if r["kind"] == "counts"][-1]["invariants"]
        assert set(counts) == set(start["invariants"])
        assert counts["INV-TRAIN-001"]["enforced"] and counts["INV-TRAIN-001"]["evaluated"] == 12
        assert counts["INV-TRAIN-003"]["enforced"] and counts["INV-TRAIN-006"]["enforced"]
        assert not counts["INV-TRAIN-002"]["enforced"]
        assert counts["INV-TRAIN-002"]["reason"] == "metric grad_norm, optimizer_stepped never supplied at step_end"
        assert counts["INV-TRAIN-005"]["reason"].startswith("out of scope: loss_kind == \"cross_entropy\"")
        assert counts["INV-LR-003"]["reason"] == "param peak_lr not given"
        assert counts["INV-HEALTH-005"]["enforced"]  # train_loss: the monitor's own mean of the step losses
        assert counts["INV-CKPT-001"]["reason"] == "checkpoint was never called"
        assert counts["INV-DIST-001"]["reason"].startswith("its when (world_size > 1) is false for this whole run")
        end = next(r for r in records if r["kind"] == "run_end")
        assert "INV-TRAIN-001" in end["enforced"] and end["not_enforced"]["INV-LR-003"] == "param peak_lr not given"
        for inv_id, record in counts.items():
            assert record["enforced"] == (record["reason"] is None), inv_id

    def test_a_metric_that_comes_and_goes_is_counted_not_fatal(self, make_contracts) -> None:
        root = make_contracts({"check": "x >= 0"})
        monitor = Monitor.from_contracts(root)
        monitor.step_end(x=1.0)
        monitor.step_end()
        monitor.step_end(x=-1.0 + 2)
        stats = monitor.stats()["INV-T-001"]
        assert (stats["evaluated"], stats["not_supplied"], stats["enforced"]) == (2, 1, True)


class TestStrictMode:
    def test_a_metric_behind_a_late_when_is_asked_for_at_the_first_call(self, make_contracts) -> None:
        root = make_contracts({"check": "val_loss < 5", "at": "epoch_end", "when": "epoch >= 9"},
                              {"check": "isfinite(val_loss)", "at": "epoch_end"})
        monitor = Monitor.from_contracts(root, mode="strict")
        with pytest.raises(MissingMetricError) as info:
            monitor.epoch_end(loss=1.0)
        assert "the first epoch_end() call lacks" in str(info.value)
        assert info.value.needed_by == {"val_loss": ["INV-T-001", "INV-T-002"]}

    def test_a_param_without_value_fails_at_construction(self, shipped: Path) -> None:
        with pytest.raises(MissingParamError, match="peak_lr"):
            Monitor.from_contracts(shipped, select=["lr-schedule-v1"], mode="strict")

    def test_every_selected_invariant_fed_runs_clean(self, make_contracts) -> None:
        root = make_contracts({"check": "x >= 0"})
        monitor = Monitor.from_contracts(root, mode="strict")
        monitor.step_end(x=1.0)
        assert monitor.stats()["INV-T-001"]["enforced"]

    def test_unknown_mode_is_refused(self, make_contracts) -> None:
        with pytest.raises(ValueError, match="mode='lenient'"):
            Monitor.from_contracts(make_contracts({"check": "x >= 0"}), mode="lenient")


class TestParams:
    def test_every_problem_is_listed_at_once(self, shipped: Path) -> None:
        with pytest.raises(ParamError) as info:
            Monitor.from_contracts(shipped, params={"warmup_fraction": 1.5, "lr_tolerance": 0.5, "min_lr": "x",
                                                    "lr_shedule": "cosine", "step_indexing": "zero-based"})
        problems = info.value.problems
        assert len(problems) == 5, problems
        text = str(info.value)
        assert "warmup_fraction=1.5 must be at most 1" in text
        assert "lr_tolerance=0.5 must be at most 0.01" in text
        assert "min_lr='x' must be a number" in text
        assert "lr_shedule: no loaded contract declares a param of that name (did you mean 'lr_schedule'?)" in text
        assert "step_indexing='zero-based' must be one of zero_based, one_based, endpoints (did you mean 'zero_based'?)" \
            in text

    def test_warmup_steps_given_takes_effect(self, shipped: Path) -> None:
        """The 1.x bug: a param named warmup_steps was shadowed by a let and ignored. Now it is the schedule."""
        monitor = Monitor.from_contracts(shipped, select=["lr-schedule-v1"], params={
            "peak_lr": 1.0, "total_steps": 10_000, "warmup_steps": 24, "lr_schedule": "linear",
            "step_indexing": "one_based", "lr_interval": "none"}, sync_every=1)
        for k in range(30):
            lr = (k + 1) / 24 if k + 1 < 24 else 1 - (k + 1 - 24) / (10_000 - 24)
            monitor.step_end(optimizer_steps=k + 1, optimizer_stepped=True, lr=lr)
        assert monitor.violations == []

    def test_a_let_that_shadows_a_given_param_is_refused(self, make_contracts) -> None:
        root = make_contracts({"check": "x >= w", "let": {"w": "1.0"}},
                              params={"w": {"type": "float", "default": 0.0}})
        with pytest.raises(ContractLoadError, match="let 'w' of INV-T-001 has the name of a param"):
            Monitor.from_contracts(root, params={"w": 2.0})  # refused at load, as pv validate refuses it (PV412)
        contract = load_contract_file(next(root.glob("*.yaml"))).contract  # and by Monitor(), given it anyway
        with pytest.raises(ParamError, match="w: a let of INV-T-001 has that name"):
            Monitor([contract], params={"w": 2.0})


class TestApi:
    def test_top_level_imports_are_lazy(self) -> None:
        code = ("import sys, pvcontracts; from pvcontracts import Monitor, Regime, ContractViolation; "
                "assert Monitor.__name__ == 'Monitor' and Regime.finetune().kind == 'finetune'; "
                "assert issubclass(ContractViolation, Exception); print('torch' in sys.modules)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "False"

    def test_violations_are_kept_in_memory(self, make_contracts) -> None:
        root = make_contracts({"check": "x < 1", "on_violation": "record"}, {"check": "x < 2", "on_violation": "warn"})
        monitor = Monitor.from_contracts(root, sync_every=1)
        monitor.step_end(x=1.5)
        assert [v.invariant_id for v in monitor.violations] == ["INV-T-001"]
        with pytest.warns(Warning, match="INV-T-002"):
            monitor.step_end(x=3.0)
        assert [v.invariant_id for v in monitor.violations] == ["INV-T-001", "INV-T-001", "INV-T-002"]

    def test_messages_show_enough_digits(self, make_contracts) -> None:
        root = make_contracts({"check": "abs(lr - expected) <= 0", "let": {"expected": "0.003"}})
        monitor = Monitor.from_contracts(root)
        with pytest.raises(ContractViolation) as info:
            monitor.step_end(lr=0.0030000001)
        assert "lr = 0.0030000001, expected = 0.003" in str(info.value)

    def test_state_dict_carries_what_watch_counts(self, make_contracts) -> None:
        root = make_contracts({"check": "optimizer_steps >= 1"})
        net = torch.nn.Linear(2, 1)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        monitor = Monitor.from_contracts(root)
        monitor.watch(net, opt)
        for _ in range(3):
            net(torch.ones(1, 2)).sum().backward()
            opt.step()
            opt.zero_grad()
            monitor.step_end()
        state = monitor.state_dict()
        fresh = Monitor.from_contracts(root)
        fresh.load_state_dict(state)
        watcher = fresh.watch(net, torch.optim.SGD(net.parameters(), lr=0.1))  # no scheduler to count from
        assert watcher.optimizer_steps == 3 and fresh.run_id == monitor.run_id

    def test_a_resumed_run_keeps_its_id_in_the_ledger(self, make_contracts, tmp_path: Path) -> None:
        root = make_contracts({"check": "x >= 0"})
        ledger = tmp_path / "l.jsonl"
        first = Monitor.from_contracts(root, ledger=ledger)
        first.step_end(x=1.0)
        state = first.state_dict()
        first.close()
        second = Monitor.from_contracts(root, ledger=ledger)
        second.load_state_dict(state)
        second.resume()
        second.run_end()
        second.close()
        starts = [r for r in read_ledger(ledger) if r["kind"] == "run_start"]
        assert len(starts) == 2 and starts[0]["run"] == starts[1]["run"] and starts[1]["resumed"] is True
        assert all("run" in r for r in read_ledger(ledger))


def test_regime_is_exported(shipped: Path) -> None:
    assert Monitor.from_contracts(shipped, regime=Regime.from_scratch(vocab_size=256)).regime.vocab_size == 256
