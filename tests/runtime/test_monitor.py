"""The Monitor through the real shipped contracts: the seed case, missing inputs, levels, counts, ledger."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from pvcontracts.runtime import (
    ContractViolation,
    ContractWarning,
    Ledger,
    MissingMetricError,
    MissingParamError,
    Monitor,
    Regime,
    read_ledger,
)

SEED = "training-loop-pretrain-v1"
SEED_MESSAGE_25 = (
    "INV-TRAIN-005 (training-loop-pretrain-v1 1.3.0) at epoch_end, epoch 0: val_loss <= cap failed: "
    "val_loss = 25.0, cap = 21.65 (2.0 * ln(vocab_size), vocab_size = 50257, regime from_scratch)"
)


def seed_monitor(shipped: Path, regime: Regime | None = None, **kwargs) -> Monitor:
    # A language model's loop: its loss is cross-entropy over a vocabulary, so the epoch-zero caps apply.
    kwargs.setdefault("params", {"loss_kind": "cross_entropy"})
    return Monitor.from_contracts(shipped, regime=regime, select=[SEED], **kwargs)


# --------------------------------------------------------------------------- the seed case


class TestSeedCase:
    def test_from_scratch_permits_near_random_baseline(self, shipped: Path) -> None:
        monitor = seed_monitor(shipped, Regime.from_scratch(vocab_size=50257))
        monitor.epoch_end(val_loss=18.0)  # near ln(50257) = 10.82, under 2 * ln(vocab)
        assert monitor.stats()["INV-TRAIN-005"] == {"evaluated": 1, "applicable": 1, "violated": 0, "unevaluable": 0, "not_supplied": 0, "enforced": True, "reason": None}
        assert monitor.epoch == 1

    def test_from_scratch_aborts_above_twice_ln_vocab(self, shipped: Path) -> None:
        monitor = seed_monitor(shipped, Regime.from_scratch(vocab_size=50257))
        with pytest.raises(ContractViolation) as info:
            monitor.epoch_end(val_loss=25.0)
        assert str(info.value) == SEED_MESSAGE_25
        err = info.value
        assert (err.invariant_id, err.contract_id, err.contract_version) == ("INV-TRAIN-005", SEED, "1.3.0")
        assert (err.boundary, err.epoch, err.expression) == ("epoch_end", 0, "val_loss <= cap")
        assert err.values["val_loss"] == 25.0
        assert err.values["cap"] == pytest.approx(21.6498, abs=1e-4)

    def test_tensor_val_loss_gives_the_same_message(self, shipped: Path) -> None:
        monitor = seed_monitor(shipped, Regime.from_scratch(vocab_size=50257))
        with pytest.raises(ContractViolation) as info:
            monitor.epoch_end(val_loss=torch.tensor(25.0))
        assert str(info.value) == SEED_MESSAGE_25

    @pytest.mark.parametrize("val_loss", [9.9, 10.0])
    def test_finetune_passes_under_the_literal_cap(self, shipped: Path, val_loss: float) -> None:
        monitor = seed_monitor(shipped, Regime.finetune())
        monitor.epoch_end(val_loss=val_loss)

    def test_finetune_aborts_at_10_5(self, shipped: Path) -> None:
        monitor = seed_monitor(shipped)  # finetune is the default
        with pytest.raises(ContractViolation) as info:
            monitor.epoch_end(val_loss=10.5)
        assert str(info.value) == ("INV-TRAIN-005 (training-loop-pretrain-v1 1.3.0) at epoch_end, epoch 0: "
                                   "val_loss <= cap failed: val_loss = 10.5, cap = 10.0 (regime finetune)")

    def test_from_scratch_cap_does_not_apply_after_epoch_zero(self, shipped: Path) -> None:
        monitor = seed_monitor(shipped)
        monitor.epoch_end(val_loss=9.0)
        monitor.epoch_end(val_loss=12.0)  # above 10, but INV-TRAIN-005 is epoch 0 only; 12 < 1.5 * 9

    def test_a_later_epoch_that_doubles_val_loss_aborts(self, shipped: Path) -> None:
        monitor = seed_monitor(shipped, Regime.from_scratch(vocab_size=50257))
        monitor.epoch_end(val_loss=18.0)
        monitor.epoch_end(val_loss=12.0)
        with pytest.raises(ContractViolation) as info:
            monitor.epoch_end(val_loss=24.0)
        err = info.value
        assert err.invariant_id == "INV-TRAIN-006"
        assert err.epoch == 2
        assert str(err) == ("INV-TRAIN-006 (training-loop-pretrain-v1 1.3.0) at epoch_end, epoch 2: "
                            "val_loss < growth_limit * prev(val_loss) failed: val_loss = 24.0, "
                            "growth_limit = 1.5, prev(val_loss) = 12.0")

    def test_non_finite_val_loss_aborts(self, shipped: Path) -> None:
        monitor = seed_monitor(shipped)
        with pytest.raises(ContractViolation) as info:
            monitor.epoch_end(val_loss=float("nan"))
        assert info.value.invariant_id == "INV-TRAIN-003"


# --------------------------------------------------------------------------- missing inputs


class TestMissingInputs:
    # Strict mode: every selected invariant must get its metrics (supplied mode, the default, counts them instead).

    def test_missing_epoch_metric_names_it(self, shipped: Path) -> None:
        monitor = seed_monitor(shipped, mode="strict")
        with pytest.raises(MissingMetricError) as info:
            monitor.epoch_end(train_loss=1.0)
        assert info.value.names == ("val_loss",)
        assert "'val_loss'" in str(info.value) and "epoch_end" in str(info.value)

    @pytest.mark.parametrize("loss", [1.0, torch.tensor(1.0)], ids=["host", "tensor"])
    def test_missing_step_metric_is_an_error_at_the_step_not_at_the_sync(self, shipped: Path, loss) -> None:
        monitor = seed_monitor(shipped, sync_every=1000, mode="strict")
        with pytest.raises(MissingMetricError) as info:
            monitor.step_end(loss=loss, optimizer_stepped=True)  # grad_norm missing on a real step
        assert info.value.names == ("grad_norm",)
        assert "monitor.watch" in str(info.value)

    def test_metric_none_counts_as_not_given(self, shipped: Path) -> None:
        monitor = seed_monitor(shipped, mode="strict")
        with pytest.raises(MissingMetricError, match="'loss'"):
            monitor.step_end(loss=None, grad_norm=1.0, optimizer_stepped=True)

    def test_a_guarded_metric_is_not_needed_when_the_guard_is_false(self, shipped: Path) -> None:
        monitor = seed_monitor(shipped)  # supplied mode
        monitor.step_end(loss=torch.tensor(1.0), optimizer_stepped=False)  # no grad_norm on a skipped step
        monitor.sync()
        assert monitor.stats()["INV-TRAIN-002"]["evaluated"] == 1 and monitor.violations == []

    def test_strict_asks_for_a_guarded_metric_at_the_first_call_anyway(self, shipped: Path) -> None:
        monitor = seed_monitor(shipped, mode="strict")
        with pytest.raises(MissingMetricError, match="grad_norm"):
            monitor.step_end(loss=torch.tensor(1.0), optimizer_stepped=False)

    def test_missing_params_fail_at_construction(self, shipped: Path) -> None:
        with pytest.raises(MissingParamError) as info:
            Monitor.from_contracts(shipped, select=["lr-schedule-v1"], mode="strict")
        assert info.value.names == ("peak_lr",)
        assert "INV-LR-003" in str(info.value)

    def test_regime_supplies_its_params(self, shipped: Path) -> None:
        Monitor.from_contracts(shipped, select=[SEED], regime=Regime.from_scratch(vocab_size=2))

    def test_sync_every_must_be_positive(self, shipped: Path) -> None:
        with pytest.raises(ValueError, match="sync_every=0"):
            seed_monitor(shipped, sync_every=0)


# --------------------------------------------------------------------------- levels, counts, ledger


class TestLevelsAndCounts:
    def test_warn_emits_a_warning_and_goes_on(self, make_contracts, tmp_path: Path) -> None:
        root = make_contracts({"check": "val_loss < 5", "at": "epoch_end", "on_violation": "warn"})
        monitor = Monitor.from_contracts(root, ledger=tmp_path / "l.jsonl")
        with pytest.warns(ContractWarning, match=r"INV-T-001 \(t-v1 1.0.0\) at epoch_end, epoch 0"):
            monitor.epoch_end(val_loss=7.0)
        monitor.epoch_end(val_loss=1.0)
        assert monitor.stats()["INV-T-001"]["violated"] == 1
        monitor.close()
        kinds = [r["kind"] for r in read_ledger(tmp_path / "l.jsonl")]
        assert kinds.count("violation") == 1

    def test_record_only_records(self, make_contracts, tmp_path: Path) -> None:
        root = make_contracts({"check": "loss < 5", "on_violation": "record"})
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with Monitor.from_contracts(root, ledger=tmp_path / "l.jsonl", sync_every=4) as monitor:
                for i in range(10):
                    monitor.step_end(loss=float(i))
        assert monitor.stats()["INV-T-001"] == {"evaluated": 10, "applicable": 10, "violated": 5, "unevaluable": 0, "not_supplied": 0, "enforced": True, "reason": None}
        records = [r for r in read_ledger(tmp_path / "l.jsonl") if r["kind"] == "violation"]
        assert [r["step"] for r in records] == [5, 6, 7, 8, 9]
        assert all(r["on_violation"] == "record" for r in records)

    def test_a_folded_multi_line_let_prints_on_one_line(self, shipped: Path) -> None:
        monitor = Monitor.from_contracts(shipped, select=["lr-schedule-v1"], params={"total_steps": 100, "peak_lr": 0.01})
        with pytest.raises(ContractViolation) as info:
            monitor.step_end(lr=0.5, optimizer_steps=1, scheduler_steps=1, optimizer_stepped=True)
        message = str(info.value)
        assert "\n" not in message
        assert "expected_lr = 0.01 (where(idx < warm, peak_lr * (warmup_start + (1 - warmup_start) * warm_curve), " \
               "min_lr + (peak_lr - min_lr) * decay), min_lr = 0.0, peak_lr = 0.01, warmup_start = 0.0)" in message
        assert "warm_u" not in message  # lets the check does not read directly stay out of the message

    def test_every_evaluation_is_counted(self, shipped: Path) -> None:
        monitor = seed_monitor(shipped, sync_every=3)
        for i in range(10):
            monitor.step_end(loss=torch.tensor(1.0), grad_norm=torch.tensor(2.0), optimizer_stepped=i % 2 == 0)
        monitor.sync()
        stats = monitor.stats()
        assert stats["INV-TRAIN-001"] == {"evaluated": 10, "applicable": 10, "violated": 0, "unevaluable": 0, "not_supplied": 0, "enforced": True, "reason": None}
        assert stats["INV-TRAIN-002"] == {"evaluated": 10, "applicable": 5, "violated": 0, "unevaluable": 0, "not_supplied": 0, "enforced": True, "reason": None}
        assert stats["INV-TRAIN-003"]["evaluated"] == 0

    def test_history_not_yet_available_is_counted_unevaluable(self, make_contracts) -> None:
        root = make_contracts({"check": "loss <= prev(loss)"})  # no guard: the first step has no prev
        monitor = Monitor.from_contracts(root)
        monitor.step_end(loss=3.0)
        monitor.step_end(loss=2.0)
        assert monitor.stats()["INV-T-001"] == {"evaluated": 2, "applicable": 1, "violated": 0, "unevaluable": 1, "not_supplied": 0, "enforced": True, "reason": None}

    def test_the_ledger_records_the_run(self, shipped: Path, tmp_path: Path) -> None:
        path = tmp_path / "run" / "ledger.jsonl"
        monitor = seed_monitor(shipped, Regime.from_scratch(vocab_size=50257), ledger=path)
        monitor.step_end(loss=1.0, grad_norm=1.0, optimizer_stepped=True)
        with pytest.raises(ContractViolation):
            monitor.epoch_end(val_loss=25.0)
        monitor.close()
        lines = path.read_bytes().splitlines()
        records = [json.loads(line) for line in lines]  # whole JSON, every line
        kinds = [r["kind"] for r in records]
        assert kinds[0] == "run_start" and kinds[-1] == "counts"
        assert records[0]["regime"] == {"kind": "from_scratch", "vocab_size": 50257}
        assert records[0]["contracts"] == [{"id": SEED, "version": "1.3.0"}]
        (violation,) = [r for r in records if r["kind"] == "violation"]
        assert violation["invariant"] == "INV-TRAIN-005" and violation["message"] == SEED_MESSAGE_25
        assert violation["values"]["val_loss"] == 25.0
        assert records[-1]["invariants"]["INV-TRAIN-005"]["violated"] == 1
        assert records[-1]["invariants"]["INV-TRAIN-001"]["evaluated"] == 1

    def test_ledger_can_be_passed_open(self, shipped: Path, tmp_path: Path) -> None:
        ledger = Ledger(tmp_path / "l.jsonl")
        monitor = seed_monitor(shipped, ledger=ledger)
        monitor.run_end()
        monitor.close()
        assert [r["kind"] for r in read_ledger(ledger.path)] == ["run_start", "counts", "run_end", "counts"]


class TestCountersAndSyncPoints:
    def test_host_abort_at_step_end_raises_at_that_step(self, shipped: Path) -> None:
        monitor = seed_monitor(shipped, sync_every=100)
        monitor.step_end(loss=1.0, grad_norm=1.0, optimizer_stepped=True)
        with pytest.raises(ContractViolation) as info:
            monitor.step_end(loss=float("inf"), grad_norm=1.0, optimizer_stepped=True)
        assert (info.value.invariant_id, info.value.step) == ("INV-TRAIN-001", 1)

    def test_sync_every_counts_calls_even_when_steps_jump(self, shipped: Path) -> None:
        # A loop passing its own step numbers (3 per call here) still syncs every sync_every calls,
        # so pending steps, and the tensors they hold, stay bounded.
        monitor = seed_monitor(shipped, sync_every=10)
        for i in range(95):
            monitor.step_end(step=3 * i, loss=torch.tensor(1.0), grad_norm=torch.tensor(1.0), optimizer_stepped=True)
            assert len(monitor._eval.pending) <= 2 * 10
        assert monitor.step == 3 * 94 + 1

    def test_resume_resets_the_counters(self, shipped: Path) -> None:
        monitor = seed_monitor(shipped)
        monitor.resume(step=500, epoch=3)
        assert (monitor.step, monitor.epoch) == (500, 3)
        with pytest.raises(ContractViolation) as info:
            monitor.step_end(loss=float("nan"), grad_norm=1.0, optimizer_stepped=True)
        assert (info.value.step, info.value.epoch) == (500, 3)

    def test_epoch_end_settles_pending_steps_first(self, shipped: Path) -> None:
        monitor = seed_monitor(shipped, sync_every=1000)
        monitor.step_end(loss=torch.tensor(float("nan")), grad_norm=torch.tensor(1.0), optimizer_stepped=True)
        with pytest.raises(ContractViolation) as info:
            monitor.epoch_end(val_loss=30.0)  # also a violation, but later than step 0
        assert (info.value.invariant_id, info.value.step, info.value.boundary) == ("INV-TRAIN-001", 0, "step_end")

    def test_state_dict_is_plain_json(self, shipped: Path) -> None:
        monitor = seed_monitor(shipped)
        monitor.epoch_end(val_loss=torch.tensor(3.0))
        state = json.loads(json.dumps(monitor.state_dict()))
        assert state["epoch"] == 1
        assert state["history"]["epoch_end"]["values"]["val_loss"] == [3.0]


def test_importing_the_runtime_does_not_import_torch() -> None:
    code = "import sys, pvcontracts.runtime; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
