"""The Lightning adapter with the real Lightning Trainer on CPU (one process; two in test_lightning_ranks.py).

A clean run with every shipped contract has zero violations and writes its ledger; a
resume from its own checkpoint continues the run (same run id, the RNG, optimizer and
scheduler compared at the resume boundary); and the planted faults are caught
through the adapter: a NaN loss at a chosen step, a per-step schedule stepped per
epoch (Lightning's default interval), accumulation losses summed, a resume without
the scheduler's state.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("lightning")
pytest.importorskip("transformers")
torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import lightning_runs as runs  # noqa: E402
import lightning.pytorch as pl  # noqa: E402
import tinylm  # noqa: E402

from pvcontracts.runtime import ContractViolation, read_ledger  # noqa: E402

STEPS_PER_EPOCH = runs.TRAIN // runs.BATCH // 2  # accumulation 2


def violations(out: Path) -> list[tuple[str, Any, Any]]:
    return [(r["invariant"], r["step"], r["epoch"]) for r in read_ledger(out / "ledger.jsonl")
            if r["kind"] == "violation"]


def test_clean_run_has_no_violation_writes_its_ledger_and_resumes_on_its_own_counts(tmp_path: Path) -> None:
    callback = runs.fit(tmp_path)
    monitor = callback.monitor
    assert monitor.violations == [] and monitor.step == 2 * STEPS_PER_EPOCH
    stats = monitor.stats()
    for ident in ("INV-TRAIN-001", "INV-TRAIN-002", "INV-TRAIN-003", "INV-TRAIN-005", "INV-TRAIN-006",
                  "INV-TRAIN-007", "INV-LR-002", "INV-LR-003", "INV-HEALTH-001", "INV-HEALTH-003",
                  "INV-HEALTH-005", "INV-HEALTH-006", "INV-HEALTH-007"):
        assert stats[ident]["enforced"], (ident, stats[ident])
    assert stats["INV-LR-003"]["applicable"] == 2 * STEPS_PER_EPOCH

    resumed = runs.fit(tmp_path, ckpt=str(tmp_path / "checkpoints" / "epoch=0.ckpt"))
    assert resumed.monitor.violations == [] and resumed.monitor.step == 2 * STEPS_PER_EPOCH
    stats = resumed.monitor.stats()
    for ident in ("INV-HEALTH-008", "INV-HEALTH-009", "INV-HEALTH-010"):
        assert stats[ident]["enforced"] and stats[ident]["violated"] == 0, (ident, stats[ident])
    starts = [r for r in read_ledger(tmp_path / "ledger.jsonl") if r["kind"] == "run_start"]
    assert len(starts) == 2 and starts[0]["run"] == starts[1]["run"] and starts[1].get("resumed") is True


def test_without_restoring_the_rng_the_resume_says_it_did_not_compare_it(tmp_path: Path) -> None:
    runs.fit(tmp_path, epochs=2, restore_rng=False)  # the same schedule length as the resumed run's
    resumed = runs.fit(tmp_path, epochs=2, ckpt=str(tmp_path / "checkpoints" / "epoch=0.ckpt"), restore_rng=False)
    stats = resumed.monitor.stats()
    assert stats["INV-HEALTH-008"]["reason"] == "metric rng_restored never supplied at resume"
    assert stats["INV-HEALTH-009"]["enforced"] and resumed.monitor.violations == []


def test_a_nan_loss_at_a_chosen_step_stops_the_run_at_that_step(tmp_path: Path) -> None:
    with pytest.raises(ContractViolation) as info:
        runs.fit(tmp_path, runs.TinyLM(nan_at=2 * 3))  # the 7th training forward: optimizer step 3
    assert (info.value.invariant_id, info.value.step) == ("INV-TRAIN-001", 3)
    assert violations(tmp_path)[0] == ("INV-TRAIN-001", 3, 0)


def test_a_per_step_schedule_stepped_per_epoch_is_caught(tmp_path: Path) -> None:
    # Lightning's default interval is "epoch": a per-step warmup schedule configured without interval "step".
    with pytest.raises(ContractViolation) as info:
        runs.fit(tmp_path, runs.TinyLM(interval="epoch"))
    assert info.value.invariant_id in {"INV-LR-002", "INV-LR-003"} and info.value.step == 0


def test_a_per_epoch_schedule_declared_per_epoch_is_clean(tmp_path: Path) -> None:
    # The same epoch stepping, declared as what it is: the contract counts epochs, Lightning's order is respected.
    class StepLR(runs.TinyLM):
        def configure_optimizers(self) -> Any:
            optimizer = torch.optim.AdamW(self.parameters(), lr=3e-3)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": torch.optim.lr_scheduler.StepLR(
                optimizer, step_size=1, gamma=0.5), "interval": "epoch"}}

    callback = runs.fit(tmp_path, StepLR(), params={"lr_interval": "epoch"})
    assert callback.monitor.violations == []
    assert callback.monitor.stats()["INV-LR-002"]["applicable"] == 2 * STEPS_PER_EPOCH


@pytest.mark.parametrize("summed", [True, False])
def test_accumulation_losses_summed_are_caught(tmp_path: Path, summed: bool) -> None:
    module = runs.TinyLM(loss_factor=4.0 if summed else 1.0)
    if not summed:
        callback = runs.fit(tmp_path, module, epochs=1, accumulation=4)
        assert callback.monitor.violations == []
        assert callback.monitor.stats()["INV-TRAIN-007"]["applicable"] == 1
        return
    with pytest.raises(ContractViolation) as info:
        runs.fit(tmp_path, module, epochs=1, accumulation=4)
    assert info.value.invariant_id == "INV-TRAIN-007" and info.value.epoch == 0
    assert info.value.values["train_loss"] > tinylm.CAP


class _ForgetsTheScheduler(pl.Callback):
    """The fault (Lightning #5455 and its kind): the checkpoint carries a fresh scheduler's state, not the run's."""

    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        from transformers import get_cosine_schedule_with_warmup

        fresh = get_cosine_schedule_with_warmup(torch.optim.AdamW(pl_module.parameters(), lr=3e-3), 2,
                                                int(trainer.estimated_stepping_batches))
        checkpoint["lr_schedulers"] = [fresh.state_dict()]


def test_a_resume_without_the_scheduler_state_is_caught(tmp_path: Path) -> None:
    class Forgetful(runs.TinyLM):
        def configure_callbacks(self) -> Any:
            return [_ForgetsTheScheduler()]

    runs.fit(tmp_path, Forgetful(), epochs=2)
    with pytest.raises(ContractViolation) as info:
        runs.fit(tmp_path, epochs=2, ckpt=str(tmp_path / "checkpoints" / "epoch=0.ckpt"))
    assert (info.value.invariant_id, info.value.boundary) == ("INV-HEALTH-010", "resume")
