"""The Accelerate adapter with a real Accelerator loop on CPU (one process; two in test_accelerate_ranks.py).

A clean run with every shipped contract has zero violations and writes its ledger; a
resume through ``accelerator.load_state`` continues the run; and the planted faults are
caught: a NaN loss at a chosen step, a per-step scheduler stepped per epoch,
accumulation losses summed, a resume without the scheduler's state.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("accelerate")
pytest.importorskip("transformers")
torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import accelerate_runs as runs  # noqa: E402
import tinylm  # noqa: E402

from pvcontracts.runtime import ContractViolation, read_ledger  # noqa: E402

STEPS_PER_EPOCH = runs.TRAIN // runs.BATCH // 2  # accumulation 2


def records(out: Path, kind: str) -> list[dict[str, Any]]:
    return [r for r in read_ledger(out / "ledger.jsonl") if r["kind"] == kind]


def test_clean_run_has_no_violation_writes_its_ledger_and_resumes_on_its_own_counts(tmp_path: Path) -> None:
    hooks = runs.train(tmp_path, save_after=0)
    monitor = hooks.monitor
    assert monitor.violations == [] and monitor.step == 2 * STEPS_PER_EPOCH
    stats = monitor.stats()
    for ident in ("INV-TRAIN-001", "INV-TRAIN-002", "INV-TRAIN-003", "INV-TRAIN-005", "INV-TRAIN-007",
                  "INV-LR-002", "INV-LR-003", "INV-HEALTH-001", "INV-HEALTH-005", "INV-HEALTH-006"):
        assert stats[ident]["enforced"], (ident, stats[ident])
    assert stats["INV-LR-003"]["applicable"] == 2 * STEPS_PER_EPOCH
    # The accelerator's own backward is back once the run ended.
    assert "backward" not in vars(hooks.accelerator)

    resumed = runs.train(tmp_path, save_after=0, resume=tmp_path / "checkpoint")
    assert resumed.monitor.violations == [] and resumed.monitor.step == 2 * STEPS_PER_EPOCH
    stats = resumed.monitor.stats()
    for ident in ("INV-HEALTH-008", "INV-HEALTH-009", "INV-HEALTH-010"):
        assert stats[ident]["enforced"] and stats[ident]["violated"] == 0, (ident, stats[ident])
    starts = records(tmp_path, "run_start")
    assert len(starts) == 2 and starts[0]["run"] == starts[1]["run"] and starts[1].get("resumed") is True


def test_a_nan_loss_at_a_chosen_step_stops_the_run_at_that_step(tmp_path: Path) -> None:
    with pytest.raises(ContractViolation) as info:
        runs.train(tmp_path, nan=lambda step: step == 3)
    assert (info.value.invariant_id, info.value.step) == ("INV-TRAIN-001", 3)
    assert [(r["invariant"], r["step"]) for r in records(tmp_path, "violation")][:1] == [("INV-TRAIN-001", 3)]
    assert records(tmp_path, "counts"), "the ledger was closed with its counts"


def test_a_per_step_scheduler_stepped_per_epoch_is_caught(tmp_path: Path) -> None:
    with pytest.raises(ContractViolation) as info:
        runs.train(tmp_path, per_epoch_scheduler=True)
    assert info.value.invariant_id in {"INV-LR-002", "INV-LR-003"} and info.value.step == 0


def test_accumulation_losses_summed_are_caught(tmp_path: Path) -> None:
    with pytest.raises(ContractViolation) as info:
        runs.train(tmp_path, summed=True, epochs=1)
    assert info.value.invariant_id == "INV-TRAIN-007" and info.value.epoch == 0
    assert info.value.values["train_loss"] > tinylm.CAP


def _unprepared_scheduler(accumulation: int) -> Any:
    """An Accelerator whose prepare() is handed the scheduler but leaves it out, as a loop that never passed it."""
    from accelerate import Accelerator

    acc = Accelerator(cpu=True, gradient_accumulation_steps=accumulation)
    original = acc.prepare

    def prepare(*objects: Any) -> Any:
        *rest, sched = objects
        return (*original(*rest), sched)

    acc.prepare = prepare
    return acc


def test_an_unprepared_scheduler_under_accumulation_is_caught(tmp_path: Path) -> None:
    # accelerate #963's kind: a scheduler not given to prepare() is stepped at every micro-batch (only the
    # AcceleratedScheduler waits for the optimizer), so the schedule runs twice as fast.
    with pytest.raises(ContractViolation) as info:
        runs.train(tmp_path, accelerator=_unprepared_scheduler(2))
    assert (info.value.invariant_id, info.value.step) == ("INV-LR-002", 0)
    assert info.value.values["scheduler_steps"] == 2


def test_a_resume_without_the_scheduler_state_is_caught(tmp_path: Path) -> None:
    # Without accumulation the unprepared scheduler steps right, but save_state does not save it and
    # load_state does not restore it: the resume boundary sees it start over.
    runs.train(tmp_path, save_after=0, accumulation=1, accelerator=_unprepared_scheduler(1))
    with pytest.raises(ContractViolation) as info:
        runs.train(tmp_path, save_after=0, accumulation=1, resume=tmp_path / "checkpoint",
                   accelerator=_unprepared_scheduler(1))
    assert (info.value.invariant_id, info.value.boundary) == ("INV-HEALTH-010", "resume")
