"""Deferred step checks: what is settled at a sync point, in which order, and with which values."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from pvcontracts.contract.loading import load_contract_file
from pvcontracts.errors import ContractLoadError
from pvcontracts.runtime import ContractViolation, ContractWarning, Monitor, read_ledger

SEED = "training-loop-pretrain-v1"
NAN = float("nan")


def t(x: float) -> torch.Tensor:
    return torch.tensor(x)


def seed(shipped: Path, **kwargs) -> Monitor:
    return Monitor.from_contracts(shipped, select=[SEED], **kwargs)


def violations(path: Path) -> list[dict]:
    return [r for r in read_ledger(path) if r["kind"] == "violation"]


class TestFirstViolatingStep:
    def test_exact_first_step_is_reported_at_the_sync_point(self, shipped: Path) -> None:
        monitor = seed(shipped, sync_every=50)
        for i in range(49):  # steps 0..48: nothing is read yet, whatever the values
            loss = NAN if i in (37, 41) else 1.0
            monitor.step_end(loss=t(loss), grad_norm=t(1.0), optimizer_stepped=True)
        with pytest.raises(ContractViolation) as info:
            monitor.step_end(loss=t(1.0), grad_norm=t(1.0), optimizer_stepped=True)  # step 49: the sync point
        err = info.value
        assert (err.invariant_id, err.step, err.epoch) == ("INV-TRAIN-001", 37, 0)
        assert str(err) == ("INV-TRAIN-001 (training-loop-pretrain-v1 1.3.0) at step_end, step 37, epoch 0: "
                            "isfinite(loss) failed: loss = nan")
        assert monitor.stats()["INV-TRAIN-001"]["violated"] == 2  # steps 37 and 41, both recorded

    def test_a_host_violation_while_tensor_steps_are_pending_reports_the_earliest(self, shipped: Path,
                                                                                 tmp_path: Path) -> None:
        monitor = seed(shipped, sync_every=100, ledger=tmp_path / "l.jsonl")
        monitor.step_end(loss=t(1.0), grad_norm=1.0, optimizer_stepped=True)
        monitor.step_end(loss=t(NAN), grad_norm=1.0, optimizer_stepped=True)   # step 1: deferred
        monitor.step_end(loss=t(1.0), grad_norm=1.0, optimizer_stepped=True)
        with pytest.raises(ContractViolation) as info:
            monitor.step_end(loss=t(1.0), grad_norm=NAN, optimizer_stepped=True)  # step 3: host, at once
        assert (info.value.invariant_id, info.value.step) == ("INV-TRAIN-001", 1)
        monitor.close()
        assert [(r["invariant"], r["step"]) for r in violations(tmp_path / "l.jsonl")] == [
            ("INV-TRAIN-001", 1), ("INV-TRAIN-002", 3)]

    def test_several_invariants_in_one_window_all_recorded_earliest_abort_raised(
            self, make_contracts, tmp_path: Path) -> None:
        root = make_contracts(
            {"id": "INV-T-001", "check": "loss < 10", "on_violation": "warn"},
            {"id": "INV-T-002", "check": "isfinite(grad_norm)", "on_violation": "abort"},
            {"id": "INV-T-003", "check": "loss > 0", "on_violation": "abort"},
            {"id": "INV-T-004", "check": "grad_norm < 100", "on_violation": "record"},
        )
        ledger = tmp_path / "l.jsonl"
        monitor = Monitor.from_contracts(root, sync_every=10, ledger=ledger)
        rows = {2: (20.0, 1.0), 4: (1.0, 500.0), 6: (-1.0, 1.0), 8: (1.0, NAN)}
        for i in range(9):
            loss, grad = rows.get(i, (1.0, 1.0))
            monitor.step_end(loss=t(loss), grad_norm=t(grad))
        with pytest.warns(ContractWarning, match="INV-T-001.*step 2"), pytest.raises(ContractViolation) as info:
            monitor.step_end(loss=t(1.0), grad_norm=t(1.0))
        assert (info.value.invariant_id, info.value.step) == ("INV-T-003", 6)
        found = [(r["invariant"], r["step"], r["on_violation"]) for r in violations(ledger)]
        assert found == [("INV-T-001", 2, "warn"), ("INV-T-004", 4, "record"), ("INV-T-003", 6, "abort"),
                         ("INV-T-002", 8, "abort"), ("INV-T-004", 8, "record")]  # NaN < 100 fails too

    def test_warn_at_step_end_waits_for_the_sync_point(self, make_contracts) -> None:
        root = make_contracts({"check": "loss < 10", "on_violation": "warn"})
        monitor = Monitor.from_contracts(root, sync_every=3)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            monitor.step_end(loss=20.0)  # a host value, but a warning must not force a sync per step
            monitor.step_end(loss=1.0)
            assert caught == []
            monitor.step_end(loss=1.0)
        assert [str(w.message).split(":")[0] for w in caught] == ["INV-T-001 (t-v1 1.0.0) at step_end, step 0, epoch 0"]


class TestValueKinds:
    def test_mixed_host_and_tensor_metrics_in_one_check(self, make_contracts) -> None:
        root = make_contracts({"check": "loss <= limit + grad_norm"})
        monitor = Monitor.from_contracts(root, sync_every=4)
        monitor.step_end(loss=t(1.0), limit=1.0, grad_norm=0.5)
        monitor.step_end(loss=2.0, limit=t(1.0), grad_norm=t(1.0))     # host and tensor swap places
        monitor.step_end(loss=t(2.0), limit=t(1.0), grad_norm=1.0)
        with pytest.raises(ContractViolation) as info:
            monitor.step_end(loss=torch.tensor(3.0, dtype=torch.float16), limit=1.0, grad_norm=t(1.0))
        assert info.value.step == 3
        assert info.value.values == {"loss": 3.0, "limit": 1.0, "grad_norm": 1.0}

    def test_host_floats_keep_double_precision_in_a_deferred_check(self, make_contracts) -> None:
        # lr is a host float next to a tensor loss, so the check is deferred and lr stacked as a
        # column: it must stay a double, or 0.1 - 1e-12 rounds up past 0.1 and fails.
        root = make_contracts({"check": "lr < 0.1 and isfinite(loss)"})
        monitor = Monitor.from_contracts(root, sync_every=2)
        monitor.step_end(loss=t(1.0), lr=0.1 - 1e-12)
        monitor.step_end(loss=t(1.0), lr=0.1 - 1e-12)
        assert monitor.stats()["INV-T-001"] == {"evaluated": 2, "applicable": 2, "violated": 0, "unevaluable": 0, "not_supplied": 0, "enforced": True, "reason": None}

    def test_bool_tensor_guard(self, shipped: Path) -> None:
        monitor = seed(shipped, sync_every=3)
        monitor.step_end(loss=t(1.0), grad_norm=t(NAN), optimizer_stepped=torch.tensor(False))  # skipped: fine
        monitor.step_end(loss=t(1.0), grad_norm=t(1.0), optimizer_stepped=torch.tensor(True))
        with pytest.raises(ContractViolation) as info:
            monitor.step_end(loss=t(1.0), grad_norm=t(NAN), optimizer_stepped=torch.tensor(True))
        assert (info.value.invariant_id, info.value.step) == ("INV-TRAIN-002", 2)
        assert info.value.values["grad_norm"] != info.value.values["grad_norm"]  # nan, as a host float
        assert monitor.stats()["INV-TRAIN-002"]["applicable"] == 2

    def test_bool_tensor_check(self, make_contracts) -> None:
        root = make_contracts({"check": "grads_cleared"})
        monitor = Monitor.from_contracts(root, sync_every=2)
        monitor.step_end(grads_cleared=torch.tensor(True))
        with pytest.raises(ContractViolation) as info:
            monitor.step_end(grads_cleared=torch.tensor(False))
        assert str(info.value).endswith("grads_cleared failed: grads_cleared = false")

    def test_int_counters_host_and_tensor(self, make_contracts) -> None:
        root = make_contracts({"check": "scheduler_steps == optimizer_steps", "when": "optimizer_steps % 2 == 0"})
        monitor = Monitor.from_contracts(root, sync_every=5)
        monitor.step_end(optimizer_steps=torch.tensor(1), scheduler_steps=torch.tensor(0))  # guard false
        monitor.step_end(optimizer_steps=torch.tensor(2), scheduler_steps=2)
        monitor.step_end(optimizer_steps=3, scheduler_steps=torch.tensor(9, dtype=torch.int32))  # guard false
        monitor.step_end(optimizer_steps=torch.tensor(2**40), scheduler_steps=torch.tensor(2**40))
        with pytest.raises(ContractViolation) as info:
            monitor.step_end(optimizer_steps=torch.tensor(2**40 + 2), scheduler_steps=2**40 + 1)
        assert info.value.step == 4
        assert info.value.values == {"scheduler_steps": 2**40 + 1, "optimizer_steps": 2**40 + 2}
        assert monitor.stats()["INV-T-001"]["applicable"] == 3

    def test_a_numeric_check_is_refused_for_enforcement(self, make_contracts) -> None:
        root = make_contracts({"check": "loss * 0"})
        with pytest.raises(ContractLoadError, match="needs a condition"):  # PV411, as pv validate says
            Monitor.from_contracts(root)

    def test_a_numeric_check_result_is_read_as_truth(self, make_contracts) -> None:
        # Monitor() takes the contracts it is given as they are: a number is still read as truth, on the device
        root = make_contracts({"check": "loss * 0"})  # 0 is false, as on the host
        monitor = Monitor([load_contract_file(next(root.glob("*.yaml"))).contract], sync_every=2)
        monitor.step_end(loss=t(1.0))
        with pytest.raises(ContractViolation) as info:
            monitor.step_end(loss=t(1.0))
        assert info.value.step == 0

    def test_non_scalar_tensor_metric_takes_the_slow_path(self, make_contracts) -> None:
        root = make_contracts({"check": "isfinite(per_layer_norm)"})
        monitor = Monitor.from_contracts(root, sync_every=3)
        monitor.step_end(per_layer_norm=torch.ones(4))
        monitor.step_end(per_layer_norm=torch.tensor([1.0, NAN, 2.0]))
        with pytest.raises(ContractViolation) as info:
            monitor.step_end(per_layer_norm=torch.ones(2))
        assert info.value.step == 1
        assert "tensor(shape=(3,), dtype=float32, min=1.0, max=2.0, nan=1)" in str(info.value)

    def test_a_metric_given_at_some_steps_falls_back_to_the_param_at_others(self, make_contracts) -> None:
        root = make_contracts({"check": "loss <= loss_cap"}, params={"loss_cap": {"type": "float", "default": 5.0}})
        monitor = Monitor.from_contracts(root, sync_every=3)
        monitor.step_end(loss=t(4.0))                # loss_cap from the param: 5
        monitor.step_end(loss=t(4.0), loss_cap=t(3.0))  # this step passes its own
        with pytest.raises(ContractViolation) as info:
            monitor.step_end(loss=t(4.5))
        assert info.value.step == 1

    def test_autograd_graphs_are_not_kept_alive_by_pending_steps(self, make_contracts) -> None:
        root = make_contracts({"check": "isfinite(loss)"})
        monitor = Monitor.from_contracts(root, sync_every=100)
        w = torch.ones(3, requires_grad=True)
        monitor.step_end(loss=(w * 2).sum())
        assert not monitor._eval.pending[0].env["loss"].requires_grad


class TestHistoryOnTensors:
    def test_prev_on_tensors_reports_the_step_and_the_value_it_read(self, make_contracts) -> None:
        root = make_contracts({"check": "loss < 2 * prev(loss)", "when": "step > 0"})
        monitor = Monitor.from_contracts(root, sync_every=10)
        for loss in (4.0, 3.0, 2.0, 1.0, 3.0, 0.5, 0.1, 0.3, 0.2):
            monitor.step_end(loss=t(loss))
        with pytest.raises(ContractViolation) as info:
            monitor.step_end(loss=t(0.1))
        err = info.value
        assert err.step == 4
        assert str(err).endswith("loss < 2 * prev(loss) failed: loss = 3.0, prev(loss) = 1.0")
        assert monitor.stats()["INV-T-001"] == {"evaluated": 10, "applicable": 9, "violated": 2, "unevaluable": 0, "not_supplied": 0, "enforced": True, "reason": None}

    def test_window_on_tensors(self, make_contracts) -> None:
        root = make_contracts({"check": "loss <= 1.5 * window_mean(loss, 3)", "when": "step >= 2"})
        monitor = Monitor.from_contracts(root, sync_every=6)
        for loss in (1.0, 1.0, 1.0, 1.0, 1.0):
            monitor.step_end(loss=t(loss))
        with pytest.raises(ContractViolation) as info:
            monitor.step_end(loss=t(4.0))  # mean of (1, 1, 4) = 2, and 4 > 3
        assert info.value.step == 5
        assert info.value.values["window_mean(loss, 3)"] == pytest.approx(2.0)

    def test_unguarded_prev_is_unevaluable_at_first(self, make_contracts) -> None:
        root = make_contracts({"check": "loss <= prev(loss)"})
        monitor = Monitor.from_contracts(root, sync_every=10)
        monitor.step_end(loss=t(1.0))
        monitor.step_end(loss=t(0.5))
        monitor.sync()
        assert monitor.stats()["INV-T-001"] == {"evaluated": 2, "applicable": 1, "violated": 0, "unevaluable": 1, "not_supplied": 0, "enforced": True, "reason": None}


class TestClosing:
    def test_close_flushes_pending_steps(self, shipped: Path) -> None:
        monitor = seed(shipped, sync_every=1000)
        monitor.step_end(loss=t(NAN), grad_norm=t(1.0), optimizer_stepped=True)
        with pytest.raises(ContractViolation):
            monitor.close()
        monitor.close()  # closing twice is harmless

    def test_context_manager_flushes_on_a_clean_exit(self, shipped: Path) -> None:
        with pytest.raises(ContractViolation) as info:
            with seed(shipped, sync_every=1000) as monitor:
                monitor.step_end(loss=t(1.0), grad_norm=t(1.0), optimizer_stepped=True)
                monitor.step_end(loss=t(NAN), grad_norm=t(1.0), optimizer_stepped=True)
        assert info.value.step == 1

    def test_an_exception_in_the_loop_is_not_masked_and_pending_findings_are_recorded(
            self, shipped: Path, tmp_path: Path) -> None:
        ledger = tmp_path / "l.jsonl"
        with pytest.raises(KeyError, match="data loader broke"):
            with seed(shipped, sync_every=1000, ledger=ledger) as monitor:
                monitor.step_end(loss=t(NAN), grad_norm=t(1.0), optimizer_stepped=True)
                raise KeyError("data loader broke")
        assert [(r["invariant"], r["step"]) for r in violations(ledger)] == [("INV-TRAIN-001", 0)]
        assert [r["kind"] for r in read_ledger(ledger)][-1] == "counts"

    def test_a_violation_raised_inside_the_block_is_the_one_that_propagates(self, shipped: Path) -> None:
        with pytest.raises(ContractViolation) as info:
            with seed(shipped, sync_every=1000) as monitor:
                monitor.step_end(loss=t(NAN), grad_norm=t(1.0), optimizer_stepped=True)  # pending, step 0
                monitor.epoch_end(val_loss=1.0)  # settles it: raises for step 0
        assert info.value.step == 0
