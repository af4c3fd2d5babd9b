"""lr-schedule-v1 2.0.0 against the ecosystem's real schedulers (transformers and torch), and the four faults.

Each scheduler is built by its own library from its own arguments, stepped by a real loop under a
Monitor, and declared in the contract's terms (tests/zoo/pvzoo.py): zero violations. Each schedule
fault is caught by an lr-schedule or training-health invariant, and its clean twin is not.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "zoo"))

import pvzoo  # noqa: E402

REAL = {**pvzoo.schedulers(), **pvzoo.per_epoch_schedulers()}
FAULTS = {c.name: c for c in pvzoo.cases() if c.kind == "buggy" and c.bug_class in {
    "per-step schedule stepped per epoch", "T_max counted in epochs, stepped per batch",
    "scheduler advancing on a skipped step", "warmup restarting after a resume (scheduler state not restored)"}}


@pytest.mark.discharges(gate="GATE-LR-002")
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_scheduler_runs_clean(name: str) -> None:
    make, declared = REAL[name]
    monitor = pvzoo.scheduled(make, declared)()
    assert monitor.violations == []
    stats = monitor.stats()
    assert stats["INV-LR-003"]["enforced"] and stats["INV-LR-003"]["applicable"] >= pvzoo.T - 1, stats["INV-LR-003"]
    assert stats["INV-LR-002"]["enforced"]


@pytest.mark.discharges(gate="GATE-LR-002")
@pytest.mark.parametrize("name", sorted(FAULTS))
def test_schedule_fault_is_caught(name: str) -> None:
    case = FAULTS[name]
    outcome = pvzoo.run_case(case)  # its clean twin runs in tests/zoo/test_zoo.py
    assert outcome.caught and set(outcome.violations) & set(case.expect), outcome


def test_the_lr_check_would_catch_a_scheduler_one_step_off() -> None:
    """The declarations are exact, not loose: HF cosine declared one_based instead of zero_based is aborted."""
    make, declared = REAL["hf_cosine"]
    outcome = pvzoo.run_case(pvzoo.Case("off-by-one", "buggy", "x", pvzoo.scheduled(make, {
        **declared, "step_indexing": "one_based"})))
    assert outcome.violations[:1] == ["INV-LR-003"]


def test_a_constant_lr_without_a_scheduler_is_checked_and_needs_no_scheduler_steps() -> None:
    monitor = pvzoo.plain()()
    stats = monitor.stats()
    assert stats["INV-LR-003"]["enforced"] and not monitor.violations
    assert stats["INV-LR-002"]["enforced"] is False
    assert stats["INV-LR-002"]["reason"].startswith("out of scope: lr_interval != \"none\"")
