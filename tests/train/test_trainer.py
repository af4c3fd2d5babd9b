"""The loop: the classic mistakes caught, accumulation equal to the large batch, AMP, the regime, the evidence."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from _tinytask import build, config, fit
from pvcontracts.train.schedules import Schedule
from pvcontracts.train.trainer import Trainer

# ---------------------------------------------------------------------- the classic mistakes, each caught


def test_scheduler_stepped_per_epoch_is_caught(tmp_path: Path) -> None:
    """scheduler.step() in the epoch loop: INV-LR-002 stops the run at its very first step."""

    class PerEpoch(Trainer):
        def step_scheduler(self) -> None:
            pass

        def end_epoch(self, epoch: int, train_loss: float) -> Any:
            self.scheduler.step()
            return super().end_epoch(epoch, train_loss)

    result = fit(tmp_path, trainer=PerEpoch)
    assert result.status == "violation"
    v = result.data["violation"]
    assert (v["invariant"], v["step"], v["values"]) == ("INV-LR-002", 0, {"optimizer_steps": 1, "scheduler_steps": 0,
                                                                           "epoch": 0, "lr_interval": "step",
                                                                           "scheduler_steps_per_step": 1})
    assert result.exit_code == 1


def test_warmup_counted_in_epochs_is_caught(tmp_path: Path) -> None:
    """W = warmup_fraction * epochs instead of * optimizer steps: the first step's LR is off, INV-LR-003 aborts."""

    class EpochWarmup(Schedule):
        @property
        def warmup_steps(self) -> int:
            return int(self.warmup_fraction * 3)  # 3 epochs: W = 0 instead of int(0.1 * 12) = 1

    class Mistaken(Trainer):
        def make_schedule(self, total_steps: int) -> Schedule:
            s = super().make_schedule(total_steps)
            return EpochWarmup(s.kind, s.total_steps, s.warmup_fraction, s.peak_lr, s.min_lr, s.decay_fraction)

    result = fit(tmp_path, trainer=Mistaken, warmup_fraction=0.25)
    assert result.status == "violation"
    assert (result.data["violation"]["invariant"], result.data["violation"]["step"]) == ("INV-LR-003", 0)


class _GradsAtFirstStep(Trainer):
    """Records the gradients the first optimizer step applies, and the loss it reports."""

    grads: list[torch.Tensor] | None = None

    def train_step(self, micro: Any, weights: Any, epoch: int, policy: Any) -> torch.Tensor:
        if self.grads is None:
            def record(optimizer: Any, args: Any, kwargs: Any) -> None:
                if self.grads is None:
                    self.grads = [p.grad.clone() for g in optimizer.param_groups for p in g["params"]]
            self.optimizer.register_step_pre_hook(record)
        loss = super().train_step(micro, weights, epoch, policy)
        if not hasattr(self, "first_loss"):
            self.first_loss = float(loss)
        return loss


def _first_step(tmp_path: Path, name: str, trainer: type = _GradsAtFirstStep, **overrides: Any) -> _GradsAtFirstStep:
    t = trainer(config({"dropout": 0.0}, max_epochs=1, grad_clip=0.0, **overrides), build, tmp_path / name)
    t.fit()
    return t


def test_accumulation_equals_the_large_batch_and_forgetting_the_scale_is_caught(tmp_path: Path) -> None:
    """Batch 8 in one step, or 4 micro-batches of 2: the same examples (one shuffle), the same gradients and loss.
    Without the loss scale the gradients are 4x: this comparison fails, as it must."""
    large = _first_step(tmp_path, "large", batch_size=8)
    accum = _first_step(tmp_path, "accum", batch_size=2, grad_accum_steps=4)
    assert large.steps_per_epoch == accum.steps_per_epoch == 4
    for a, b in zip(large.grads, accum.grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert math.isclose(large.first_loss, accum.first_loss, rel_tol=1e-6)

    class Unscaled(_GradsAtFirstStep):
        def accumulation_weight(self, targets: int, total: int) -> float:
            return 1.0

    wrong = _first_step(tmp_path, "wrong", Unscaled, batch_size=2, grad_accum_steps=4)
    ratios = [float(w.norm() / g.norm()) for w, g in zip(wrong.grads, large.grads) if g.norm() > 0]
    assert all(math.isclose(r, 4.0, rel_tol=1e-4) for r in ratios)
    with pytest.raises(AssertionError):
        for a, b in zip(large.grads, wrong.grads):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("shape, invariant", [("cosine", "INV-LR-003"), ("wsd", "INV-LR-003")])
def test_both_schedule_shapes_hold_their_contract_at_every_step(tmp_path: Path, shape: str, invariant: str) -> None:
    result = fit(tmp_path, lr_schedule=shape, max_epochs=2, warmup_fraction=0.25, decay_fraction=0.5)
    assert result.status == "passed"
    stats = result.data["ledger"]["invariants"]
    assert stats[invariant]["applicable"] == 8 and stats[invariant]["violated"] == 0
    assert stats["INV-LR-002"]["applicable"] == 8
    lrs = result.data["curves"]["step"]["lr"]
    assert lrs[0] == pytest.approx(0.01 / 2) and lrs[1] == pytest.approx(0.01)  # W = 2: peak/W, then peak
    assert lrs[-1] == pytest.approx(0.001)  # min_lr at the last step


def test_uneven_last_group_is_weighted_by_its_targets(tmp_path: Path) -> None:
    """40 examples, micro-batches of 8, 3 per step: the second step has 2 micro-batches, weighted 1/2 each."""
    t = Trainer(config({"n_train": 40}, batch_size=8, grad_accum_steps=3, max_epochs=1), build, tmp_path)
    assert t.fit().status == "passed"
    assert t.steps_per_epoch == 2 and t.optimizer_steps == 2


# ---------------------------------------------------------------------- regime, divergence, precision


def test_regime_flips_the_epoch_zero_cap_on_a_real_cold_start(tmp_path: Path) -> None:
    """vocab 30000 and an LR too small to move: epoch 0 sits at ln(30000) = 10.3. Fine-tuning aborts it (cap 10);
    from scratch it is a normal start (cap 2 ln V = 20.6), and the regime's defaults are recorded."""
    options = {"vocab": 30000, "width": 4, "n_train": 8, "n_val": 4, "dropout": 0.0}
    finetune = fit(tmp_path / "ft", options, max_epochs=1, lr=1e-9, batch_size=8)
    assert finetune.status == "violation"
    assert finetune.data["violation"]["invariant"] == "INV-TRAIN-005"
    assert 10.0 < finetune.data["violation"]["values"]["val_loss"] < 10.6
    scratch = fit(tmp_path / "fs", options, max_epochs=1, lr=1e-9, batch_size=8, regime="from_scratch",
                  warmup_fraction=None)
    assert scratch.status == "failed"  # it learned nothing, so its target 0.75 ln V is missed: failed, not aborted
    assert scratch.data["regime"] == {"kind": "from_scratch", "vocab_size": 30000}
    assert scratch.data["config"]["warmup_fraction"] == 0.05
    assert scratch.data["gate"]["params"]["target_val_loss"] == pytest.approx(0.75 * math.log(30000))
    assert json.loads((tmp_path / "fs" / "failure.json").read_text())["reason"].startswith("target_val_loss gate")


def test_non_finite_loss_aborts_with_the_invariant_and_its_values(tmp_path: Path) -> None:
    result = fit(tmp_path, {"nan_at_call": 6}, max_epochs=2)
    assert result.status == "violation"
    v = result.data["violation"]
    assert v["invariant"] == "INV-TRAIN-001" and v["step"] == 4 and v["values"]["loss"] == "nan"  # 1st of epoch 1
    assert "isfinite(loss)" in result.reason
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "violation"


def test_fatal_before_step_stops_a_nan_update_before_it_reaches_the_weights(tmp_path: Path) -> None:
    class Keeps(Trainer):
        def fit(self) -> Any:
            self.result = super().fit()
            return self.result

    t = Keeps(config({"nan_at_call": 6}, max_epochs=2, fatal_before_step=True), build, tmp_path)
    t.fit()
    assert t.result.status == "violation" and t.result.data["violation"]["invariant"] == "INV-TRAIN-001"
    assert t.result.data["violation"]["step"] == 4
    assert all(torch.isfinite(p).all() for p in t.model.parameters())  # the NaN gradients were never applied
    assert t.optimizer_steps == 4


def test_amp_bf16_runs_on_cpu_under_autocast(tmp_path: Path) -> None:
    seen: list[torch.dtype] = []

    class Watching(Trainer):
        def setup(self) -> None:
            super().setup()
            self.model.mix.register_forward_hook(lambda m, i, o: seen.append(o.dtype))

    result = fit(tmp_path, trainer=Watching, use_amp=True, amp_dtype="bfloat16", max_epochs=2)
    assert result.status == "passed", result.reason
    assert result.data["config"]["mixed_precision"] is True
    assert seen and set(seen) == {torch.bfloat16}
    assert all(math.isfinite(x) for x in result.data["curves"]["step"]["loss"])
    assert result.data["curves"]["epochs"][-1]["val_loss"] < result.data["curves"]["epochs"][0]["val_loss"] * 1.5


# ---------------------------------------------------------------------- the evidence


def test_log_hook_gets_step_metrics_and_val_metrics_once_per_epoch(tmp_path: Path) -> None:
    logged: list[dict[str, Any]] = []
    result = fit(tmp_path, {"metrics": "sufficiency"}, max_epochs=2, log_hook=logged.append,
                 sufficiency={"edge_compliance_min": 1.0, "rule_compliance_min": 1.0})
    steps = [m for m in logged if "loss" in m]
    vals = [m for m in logged if "val_val_loss" in m]
    assert [m["step"] for m in steps] == list(range(1, 9))
    assert all(set(m) == {"step", "epoch", "loss", "lr"} and math.isfinite(m["loss"]) for m in steps)
    assert [m["epoch"] for m in vals] == [0, 1]
    assert {"val_edge_compliance", "val_rule_compliance", "val_train_loss", "val_stop_requested"} <= set(vals[0])
    assert steps[0]["loss"] == result.data["curves"]["step"]["loss"][0]


def test_result_json_holds_the_evidence(tmp_path: Path) -> None:
    result = fit(tmp_path, {"metrics": "sufficiency"}, max_epochs=3,
                 sufficiency={"edge_compliance_min": 1.0, "rule_compliance_min": 1.0})
    data = json.loads((tmp_path / "result.json").read_text())
    assert data == json.loads(json.dumps(result.data, default=str))
    assert data["status"] == "failed" and "sufficiency gate not passed within 3 epochs" in data["reason"]
    assert data["gate"] == {"kind": "sufficiency", "params": {"edge_compliance_min": 1.0, "rule_compliance_min": 1.0},
                            "passed": False, "epoch": None, "checkpoint": None}
    assert len(data["curves"]["step"]["loss"]) == len(data["curves"]["step"]["lr"]) == 12 == data["optimizer_steps"]
    assert [e["epoch"] for e in data["curves"]["epochs"]] == [0, 1, 2]
    assert {"val_loss", "train_loss", "edge_compliance", "rule_compliance", "gate_passed"} <= set(data["final_metrics"])
    ids = {c["id"]: c["version"] for c in data["contracts"]}
    assert ids["early-stop-sufficiency-v1"] == "1.1.0" and ids["checkpoint-resume-v1"] == "1.0.0"
    assert "early-stop-coverage-v1" not in ids  # not configured, so not enforced
    assert data["ledger"]["path"] == "ledger.jsonl" and data["ledger"]["violations"] == {}
    assert data["ledger"]["invariants"]["INV-SUFF-004"]["applicable"] == 1
    timing = data["timing"]
    assert timing["steps"] == 12 and timing["step_ms_avg"] > 0 and timing["optimizer_ms_avg"] > 0
    assert timing["step_ms_avg"] >= timing["data_ms_avg"] and timing["checkpoint_bytes"] > 0
    assert data["seeds"]["run"] == 0 and data["regime"] == {"kind": "finetune"}
    assert json.loads((tmp_path / "failure.json").read_text())["final_metrics"]["epoch"] == 2
    assert json.loads((tmp_path / "preflight.json").read_text())["ok"] is True


def test_sufficiency_gate_stops_the_run_and_keeps_its_checkpoint(tmp_path: Path) -> None:
    result = fit(tmp_path, {"metrics": "sufficiency"}, max_epochs=10,
                 sufficiency={"edge_compliance_min": 0.5, "rule_compliance_min": 0.5})
    assert result.status == "passed" and result.data["stopped_by"] == "gate"
    epoch = result.data["gate"]["epoch"]
    assert result.data["epochs_run"] == epoch + 1 < 10
    assert (tmp_path / "checkpoints" / "gate-pass.pt").is_file()
    assert result.data["ledger"]["invariants"]["INV-SUFF-002"]["violated"] == 0
    again = fit(tmp_path, {"metrics": "sufficiency"}, max_epochs=10, resume="latest",
                sufficiency={"edge_compliance_min": 0.5, "rule_compliance_min": 0.5})
    assert again.status == "passed" and again.data["epochs_run"] == epoch + 1  # a stopped run stays stopped


def test_metric_names_are_discovered_without_disturbing_the_run(tmp_path: Path) -> None:
    """A task that does not declare its metrics is evaluated once before training, every RNG stream restored."""
    declared = fit(tmp_path / "a", {"metrics": "sufficiency"}, max_epochs=1)
    discovered = fit(tmp_path / "b", {"metrics": "sufficiency", "discover_metrics": True}, max_epochs=1)
    assert discovered.data["task"]["metrics"] == ["edge_compliance", "rule_compliance"]
    assert "early-stop-sufficiency-v1" in {c["id"] for c in discovered.data["contracts"]}
    assert discovered.data["curves"]["step"]["loss"] == declared.data["curves"]["step"]["loss"]


def test_coverage_patience_stops_a_collapsed_run(tmp_path: Path) -> None:
    """A reject-everything model (penalty 0) stays below coverage_min: stopped after exactly patience epochs."""
    result = fit(tmp_path, {"metrics": "coverage"}, max_epochs=8, coverage_stop={"coverage_min": 0.5, "patience": 2},
                 rejection_penalty={"target": 0.9, "lr": 0.001, "init": 0.0, "warmup_epochs": 8})
    assert result.status == "failed" and result.data["stopped_by"] == "coverage"
    assert result.data["epochs_run"] == 2
    assert [e["epochs_below_coverage"] for e in result.data["curves"]["epochs"]] == [1, 2]
    assert result.data["ledger"]["invariants"]["INV-COV-002"]["violated"] == 0
