"""The HuggingFace Trainer adapter with the real Trainer on CPU: a tiny GPT-2 built from config, no download.

A clean run with every shipped contract has zero violations and writes its ledger; a
resume from its own checkpoint continues the run (same run id, counts going on); and
the planted faults are caught through the adapter: a NaN loss at a chosen step, a
scheduler stepped per epoch, accumulation losses summed, a resume without the
scheduler's state.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")
pytest.importorskip("accelerate")
torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import tinylm  # noqa: E402
from transformers import Trainer, TrainerCallback, TrainingArguments  # noqa: E402

from pvcontracts.errors import IntegrationError  # noqa: E402
from pvcontracts.integrations.transformers import ContractsCallback  # noqa: E402
from pvcontracts.runtime import ContractViolation, read_ledger  # noqa: E402

TRAIN, VAL = 32, 8  # windows of 32 tokens


def trainer(out: Path, *, model: Any = None, epochs: int = 2, accumulation: int = 2, callbacks: list[Any] = (),
            save: bool = True, scheduler: str = "cosine", **contracts: Any) -> tuple[Trainer, ContractsCallback]:
    args = TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=4, per_device_eval_batch_size=8, num_train_epochs=epochs,
        learning_rate=3e-3, warmup_steps=2, lr_scheduler_type=scheduler, gradient_accumulation_steps=accumulation,
        eval_strategy="epoch", save_strategy="epoch" if save else "no", logging_strategy="no", report_to=[],
        use_cpu=True, seed=0, disable_tqdm=True, dataloader_num_workers=0)
    contracts.setdefault("regime", "from_scratch")
    cb = ContractsCallback(**contracts)
    t = Trainer(model=model if model is not None else tinylm.gpt2(), args=args, train_dataset=tinylm.LMData(0, TRAIN),
                eval_dataset=tinylm.LMData(TRAIN, VAL), callbacks=[cb, *callbacks])
    return t, cb


def quiet(fn: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


def ledger_records(out: Path) -> list[dict[str, Any]]:
    return list(read_ledger(out / "ledger.jsonl"))


def test_clean_run_has_no_violation_writes_its_ledger_and_resumes_on_its_own_counts(tmp_path: Path) -> None:
    t, cb = trainer(tmp_path)
    quiet(t.train)
    monitor = cb.monitor
    assert monitor.violations == []
    steps = TRAIN // 4 // 2 * 2  # 4 optimizer steps per epoch
    assert monitor.step == steps
    stats = monitor.stats()
    for ident in ("INV-TRAIN-001", "INV-TRAIN-002", "INV-TRAIN-003", "INV-TRAIN-005", "INV-TRAIN-007",
                  "INV-LR-001", "INV-LR-002", "INV-LR-003", "INV-LR-005", "INV-HEALTH-001", "INV-HEALTH-002",
                  "INV-HEALTH-003", "INV-HEALTH-005", "INV-HEALTH-006", "INV-HEALTH-007"):
        assert stats[ident]["enforced"], (ident, stats[ident])
    assert stats["INV-LR-003"]["applicable"] == steps
    records = ledger_records(tmp_path)
    assert [r["kind"] for r in records][:1] == ["run_start"] and records[-2]["kind"] == "run_end"

    # Resume from the first epoch's checkpoint: the same run goes on, and ends at the same step.
    t2, cb2 = trainer(tmp_path)
    quiet(lambda: t2.train(resume_from_checkpoint=str(tmp_path / f"checkpoint-{steps // 2}")))
    assert cb2.monitor.violations == []
    assert cb2.monitor.step == steps
    stats = cb2.monitor.stats()
    assert stats["INV-HEALTH-009"]["enforced"] and stats["INV-HEALTH-010"]["enforced"]
    assert stats["INV-HEALTH-008"]["reason"] == "metric rng_restored never supplied at resume"
    starts = [r for r in ledger_records(tmp_path) if r["kind"] == "run_start"]
    assert len(starts) == 2 and starts[0]["run"] == starts[1]["run"] and starts[1].get("resumed") is True
    # The counts go on from the checkpoint's: the resumed segment adds the second epoch's steps.
    assert stats["INV-LR-003"]["applicable"] == steps


def test_a_nan_loss_at_a_chosen_step_stops_the_run_at_that_step(tmp_path: Path) -> None:
    model = tinylm.gpt2()
    tinylm.NanAt(model.transformer.wte, at=2 * 3)  # the 7th training forward: optimizer step 3 (2 micro-batches)
    t, cb = trainer(tmp_path, model=model, save=False)
    with pytest.raises(ContractViolation) as info:
        quiet(t.train)
    assert (info.value.invariant_id, info.value.step) == ("INV-TRAIN-001", 3)
    assert "isfinite(loss) failed: loss = nan" in str(info.value)
    records = ledger_records(tmp_path)
    assert [(r["invariant"], r["step"]) for r in records if r["kind"] == "violation"][:1] == [("INV-TRAIN-001", 3)]
    assert records[-1]["kind"] == "counts"  # the ledger was closed with its counts, before the error left


class _StepSchedulerPerEpoch(TrainerCallback):
    """The fault: the Trainer's per-step scheduler advances once per epoch instead."""

    def on_train_begin(self, args: Any, state: Any, control: Any, lr_scheduler: Any = None, **kwargs: Any) -> None:
        self.real = lr_scheduler.step
        lr_scheduler.step = lambda *a, **k: None

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.real()


def test_a_scheduler_stepped_per_epoch_is_caught(tmp_path: Path) -> None:
    t, _ = trainer(tmp_path, callbacks=[_StepSchedulerPerEpoch()], save=False)
    with pytest.raises(ContractViolation) as info:
        quiet(t.train)
    assert info.value.invariant_id in {"INV-LR-002", "INV-LR-003"} and info.value.step == 0


class _IgnoresItemCount(torch.nn.Module):
    """The fault (transformers #34191 and its followers): a model whose forward takes **kwargs, so the Trainer
    passes num_items_in_batch and does not divide, but whose loss ignores it: each micro-batch's mean loss is
    backpropagated whole, and the window's gradients are their sum."""

    accepts_loss_kwargs = True

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.config = inner.config

    def forward(self, input_ids: Any = None, labels: Any = None, **kwargs: Any) -> Any:
        kwargs.pop("num_items_in_batch", None)
        return self.inner(input_ids=input_ids, labels=labels)


@pytest.mark.parametrize("summed", [True, False])
def test_accumulation_losses_summed_are_caught(tmp_path: Path, summed: bool) -> None:
    model = _IgnoresItemCount(tinylm.gpt2()) if summed else tinylm.gpt2()
    t, cb = trainer(tmp_path, model=model, epochs=1, accumulation=4, save=False)
    if not summed:  # the clean twin: the model divides by the window's token count itself
        quiet(t.train)
        assert cb.monitor.violations == [] and cb.monitor.stats()["INV-TRAIN-007"]["applicable"] == 1
        return
    with pytest.raises(ContractViolation) as info:
        quiet(t.train)
    assert info.value.invariant_id == "INV-TRAIN-007" and info.value.epoch == 0
    assert info.value.values["train_loss"] > 3 * tinylm.CAP / 2  # about four times ln(vocab): summed, not averaged


def test_a_resume_without_the_scheduler_state_is_caught(tmp_path: Path) -> None:
    t, _ = trainer(tmp_path, epochs=2)
    quiet(t.train)
    checkpoint = tmp_path / "checkpoint-4"  # after the first epoch (4 optimizer steps)
    # The fault: the scheduler's state is missing from the checkpoint. The Trainer then restores neither the
    # scheduler nor, silently, the optimizer (it loads them only together): both are caught at resume.
    (checkpoint / "scheduler.pt").unlink()
    t2, _ = trainer(tmp_path, epochs=2)
    with pytest.raises(ContractViolation) as info:
        quiet(lambda: t2.train(resume_from_checkpoint=str(checkpoint)))
    assert info.value.boundary == "resume"
    resumed = [r["invariant"] for r in ledger_records(tmp_path) if r["kind"] == "violation"]
    assert resumed == ["INV-HEALTH-009", "INV-HEALTH-010"]


def test_a_schedule_the_adapter_cannot_read_must_be_declared(tmp_path: Path) -> None:
    t, _ = trainer(tmp_path, scheduler="inverse_sqrt", save=False)
    with pytest.raises(IntegrationError, match=r"\[PV720\] cannot read the LR schedule of LambdaLR"):
        quiet(t.train)
    # Declared by the run (inverse square root is no shape of lr-schedule-v1): the schedule contract left out.
    t, cb = trainer(tmp_path, scheduler="inverse_sqrt", save=False, epochs=1,
                    select=["training-loop-pretrain-v1", "training-health-v1"])
    quiet(t.train)
    assert cb.monitor.violations == []


def test_the_run_s_own_params_win_and_a_misspelt_one_fails_at_once(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="warmup_step"):
        ContractsCallback(params={"warmup_step": 2})
    # A declaration that contradicts the Trainer's schedule is the run's word: the contract holds the run to it.
    t, _ = trainer(tmp_path, save=False, params={"warmup_steps": 3})
    with pytest.raises(ContractViolation) as info:
        quiet(t.train)
    assert info.value.invariant_id == "INV-LR-003"
