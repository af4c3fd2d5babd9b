"""``on_violation: skip_step``: the violating step's update is withheld, exactly, without a read per step.

Every test compares with the same loop run by hand: the step skipped by not calling
``optimizer.step()`` (nor ``scheduler.step()``). The two-process version (rank 1 alone
sees the NaN) is tests/runtime/test_skip_step_distributed.py.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from pvcontracts.contract.contractset import load_contracts
from pvcontracts.runtime import Monitor, read_ledger
from pvcontracts.runtime.violation import ContractViolation, SkipLimitExceeded

SYNC_EVERY = 4
STEPS = 12


@pytest.fixture
def skip_loss(make_contracts) -> Path:
    return make_contracts({"check": "isfinite(loss)", "on_violation": "skip_step"})


def _batch(gen: torch.Generator, bad: bool) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(16, 4, generator=gen)
    y = x.sum(dim=1, keepdim=True)
    if bad:
        x[0, 0] = math.nan  # a poisoned sample: NaN loss and NaN gradients
    return x, y


def train(monitor: Monitor | None, bad_steps: set[int], *, by_hand: bool = False, scheduler: bool = False,
          optimizer: str = "adamw", steps: int = STEPS, before: Callable[[Any], None] | None = None,
          fatal: bool = False) -> tuple[list[torch.Tensor], Any, Any]:
    """A small regression loop; ``by_hand`` skips the bad steps itself (no optimizer or scheduler step)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = (torch.optim.AdamW(model.parameters(), lr=0.05) if optimizer == "adamw"
           else torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 / (1.0 + 0.1 * k)) if scheduler else None
    if monitor is not None:
        monitor.watch(model, opt, sched, fatal_before_step=fatal)
    gen = torch.Generator().manual_seed(1)
    for step in range(steps):
        x, y = _batch(gen, step in bad_steps)
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        if before is not None:
            before(loss)
        if by_hand and step in bad_steps:
            continue
        if monitor is not None and fatal:
            monitor.observe(loss=loss)
        opt.step()
        if sched is not None:
            sched.step()
        if monitor is not None:
            monitor.step_end() if fatal else monitor.step_end(loss=loss.detach())
    if monitor is not None:
        monitor.close()
    return [p.detach().clone() for p in model.parameters()], opt, sched


def _bit_equal(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


def _quiet(fn: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
@pytest.mark.parametrize("bad", [{5}, {0}, {2, 9}])
def test_skipped_steps_leave_the_weights_bit_equal_to_a_run_that_skipped_them_by_hand(
        skip_loss: Path, optimizer: str, bad: set[int]) -> None:
    # Step 0 is the step that creates Adam's state (and SGD's momentum): undone on the host, exactly.
    monitor = Monitor.from_contracts(skip_loss, sync_every=SYNC_EVERY)
    weights, opt, _ = _quiet(lambda: train(monitor, bad, optimizer=optimizer))
    by_hand, opt_hand, _ = train(None, bad, by_hand=True, optimizer=optimizer)
    assert _bit_equal(weights, by_hand)
    assert all(torch.isfinite(w).all() for w in weights)
    assert str(opt.state_dict()["state"]) == str(opt_hand.state_dict()["state"])  # the optimizer state too
    assert monitor.skipped_steps == sorted(bad)
    assert monitor._watchers[0].optimizer_steps == STEPS - len(bad)


def test_the_guard_can_fail_a_run_that_applied_the_step(skip_loss: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The comparison must be able to fail: with the restore switched off, the NaN step poisons the weights.
    from pvcontracts.runtime import skipping

    monkeypatch.setattr(skipping.UpdateGuard, "finish", lambda self, skip: skip)
    monitor = Monitor.from_contracts(skip_loss, sync_every=SYNC_EVERY, max_consecutive_skips=100)
    weights, _, _ = _quiet(lambda: train(monitor, {5}))
    by_hand, _, _ = train(None, {5}, by_hand=True)
    assert not _bit_equal(weights, by_hand)
    assert monitor.skipped_steps == list(range(5, STEPS))  # NaN weights: every later loss is NaN too


def test_no_tensor_read_per_step_on_the_quiet_path(skip_loss: Path, reads: Counter) -> None:
    monitor = Monitor.from_contracts(skip_loss, sync_every=SYNC_EVERY)
    per_step: list[int] = []
    last = [0]

    def count(_loss: Any) -> None:  # called before each step's optimizer.step: reads of the previous step
        total = sum(reads.values())
        per_step.append(total - last[0])
        last[0] = total

    _quiet(lambda: train(monitor, {6}, before=count, steps=3 * SYNC_EVERY))
    # per_step[i] holds step i-1's reads. Step 0 creates the optimizer state (undone on the host if skipped:
    # read once); each sync point reads its flags once per device (.cpu(), .tolist()); the skipped step 6
    # is withheld on the device, never read.
    sync_steps = {i + 1 for i in range(3 * SYNC_EVERY) if (i + 1) % SYNC_EVERY == 0}
    quiet = [n for i, n in enumerate(per_step) if i not in sync_steps and i > 1]
    assert quiet == [0] * len(quiet), per_step
    assert per_step[1] == 1, per_step  # the first step's state creation: one read, once per run
    assert monitor.skipped_steps == [6]


def test_the_read_count_catches_a_flag_read_per_step(skip_loss: Path, reads: Counter,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # The harness must be able to fail: a guard that reads its flag every step is counted at every step.
    from pvcontracts.runtime import skipping

    original = skipping.UpdateGuard.finish
    monkeypatch.setattr(skipping.UpdateGuard, "finish",
                        lambda self, skip: original(self, bool(skip) if isinstance(skip, torch.Tensor) else skip))
    monitor = Monitor.from_contracts(skip_loss, sync_every=100)
    before = sum(reads.values())
    _quiet(lambda: train(monitor, set(), steps=6))
    assert sum(reads.values()) - before >= 6


def test_the_counters_and_the_scheduler_are_those_of_a_run_that_never_took_the_step(skip_loss: Path) -> None:
    monitor = Monitor.from_contracts(skip_loss, sync_every=SYNC_EVERY)
    weights, opt, sched = _quiet(lambda: train(monitor, {5}, scheduler=True))
    by_hand, opt_hand, sched_hand = train(None, {5}, by_hand=True, scheduler=True)
    assert sched.last_epoch == sched_hand.last_epoch == STEPS - 1
    assert opt.param_groups[0]["lr"] == opt_hand.param_groups[0]["lr"]
    assert monitor._watchers[0].optimizer_steps == STEPS - 1
    # The price of deciding on the device: steps 6 and 7 (before the sync point after step 7 learnt of the
    # skip) ran at the schedule's next position, so the weights differ from the hand run's.
    assert not _bit_equal(weights, by_hand)


def test_before_the_update_a_skip_is_exact_with_a_scheduler(skip_loss: Path, reads: Counter) -> None:
    # fatal_before_step reads the decision before the update (a sync per step, its documented price):
    # the scheduler step of the skipped step is undone at once, so every later step has the hand run's LR.
    monitor = Monitor.from_contracts(skip_loss, sync_every=SYNC_EVERY)
    weights, opt, sched = _quiet(lambda: train(monitor, {5}, scheduler=True, fatal=True))
    by_hand, _, sched_hand = train(None, {5}, by_hand=True, scheduler=True)
    assert _bit_equal(weights, by_hand)
    assert sched.last_epoch == sched_hand.last_epoch
    assert monitor.skipped_steps == [5]


def test_other_invariants_see_a_skipped_step_as_not_taken(shipped: Path, skip_loss: Path) -> None:
    # INV-TRAIN-002 (abort: finite grad norm, when optimizer_stepped) would stop the run on the NaN step;
    # the step was withheld, so like a GradScaler's skipped step it is exempt. The epoch's train_loss leaves
    # the skipped step out (else NaN, and the epoch-zero cap INV-TRAIN-007 would abort).
    contracts = load_contracts(shipped, ["training-loop-pretrain-v1"]) + load_contracts(skip_loss)
    contracts = [c for c in contracts]
    monitor = Monitor(contracts, params={"loss_kind": "cross_entropy"}, sync_every=SYNC_EVERY)
    checks = {c.id for c in monitor._eval.active["step_end"]}
    assert {"INV-TRAIN-001", "INV-TRAIN-002"} <= checks
    # INV-TRAIN-001 aborts on a NaN loss: select it out, keep INV-TRAIN-002 (grad norm).
    contracts[0] = _without(contracts[0], "INV-TRAIN-001")
    monitor = Monitor(contracts, params={"loss_kind": "cross_entropy"}, sync_every=SYNC_EVERY)

    def loop() -> None:
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        monitor.watch(model, opt)
        gen = torch.Generator().manual_seed(1)
        for step in range(8):
            x, y = _batch(gen, step == 3)
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            monitor.step_end(loss=loss.detach())
        monitor.epoch_end(val_loss=1.0)
        monitor.close()

    _quiet(loop)
    assert [v.invariant_id for v in monitor.violations] == ["INV-T-001"]
    stats = monitor.stats()
    assert stats["INV-TRAIN-002"]["applicable"] == 7 and stats["INV-TRAIN-002"]["violated"] == 0
    assert stats["INV-TRAIN-007"]["violated"] == 0 and stats["INV-TRAIN-007"]["applicable"] == 1


def _without(contract: Any, ident: str) -> Any:
    import dataclasses

    return dataclasses.replace(contract, invariants=tuple(i for i in contract.invariants if i.id != ident))


def test_a_skipped_step_is_not_in_the_history_a_spike_check_reads(make_contracts) -> None:
    # A spike check over a window: a NaN step kept in the window would fail every later step too.
    path = make_contracts({"check": "loss <= 3 * window_max(loss, 3)", "when": "step >= 3",
                           "on_violation": "skip_step"}, {"check": "isfinite(loss)", "on_violation": "skip_step"})
    monitor = Monitor.from_contracts(path, sync_every=SYNC_EVERY)
    _quiet(lambda: train(monitor, {5}))
    assert monitor.skipped_steps == [5]


def test_consecutive_skips_beyond_the_bound_end_the_run(skip_loss: Path) -> None:
    monitor = Monitor.from_contracts(skip_loss, sync_every=SYNC_EVERY, max_consecutive_skips=2)
    with pytest.raises(SkipLimitExceeded) as info:
        _quiet(lambda: train(monitor, {3, 5, 6, 7, 8}))
    assert (info.value.streak, info.value.first_step, info.value.step) == (3, 5, 7)
    assert isinstance(info.value, ContractViolation) and "max_consecutive_skips=2" in str(info.value)
    monitor = Monitor.from_contracts(skip_loss, sync_every=SYNC_EVERY, max_consecutive_skips=3)
    _quiet(lambda: train(monitor, {3, 5, 6, 7}))  # three in a row: within the bound
    assert monitor.skipped_steps == [3, 5, 6, 7]
    with pytest.raises(ValueError, match="max_consecutive_skips=0"):
        Monitor.from_contracts(skip_loss, max_consecutive_skips=0)


def test_the_streak_survives_a_sync_point(skip_loss: Path) -> None:
    # Steps 3 and 4 straddle the sync point after step 3 (sync_every 4): one streak of two.
    monitor = Monitor.from_contracts(skip_loss, sync_every=SYNC_EVERY, max_consecutive_skips=1)
    with pytest.raises(SkipLimitExceeded) as info:
        _quiet(lambda: train(monitor, {3, 4}))
    assert (info.value.streak, info.value.first_step) == (2, 3)


def test_the_skipped_step_is_in_the_ledger_with_its_values(skip_loss: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    monitor = Monitor.from_contracts(skip_loss, sync_every=SYNC_EVERY, ledger=ledger)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        train(monitor, {5})
    records = [r for r in read_ledger(ledger) if r["kind"] == "violation"]
    assert [(r["invariant"], r["step"], r["on_violation"], r["values"]) for r in records] == [
        ("INV-T-001", 5, "skip_step", {"loss": "nan"})]
    assert [str(w.message) for w in seen if type(w.message).__name__ == "ContractWarning"] == [
        records[0]["message"]]
    counts = [r for r in read_ledger(ledger) if r["kind"] == "counts"][-1]["invariants"]["INV-T-001"]
    assert counts["violated"] == 1 and counts["applicable"] == STEPS


def test_a_gradscaler_skip_and_a_skip_step_compose(skip_loss: Path) -> None:
    # A GradScaler that finds inf gradients does not call optimizer.step(): nothing to withhold, and the
    # step counts as not taken. A skip_step on another step is withheld as usual; the weights and the
    # counters equal a hand run that skipped both.
    def scaled(monitor: Monitor | None, by_hand: bool) -> tuple[list[torch.Tensor], int]:
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 1)
        opt = torch.optim.AdamW(model.parameters(), lr=0.05)
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**4)
        if monitor is not None:
            monitor.watch(model, opt)
        gen = torch.Generator().manual_seed(1)
        stepped = 0
        for step in range(10):
            x, y = _batch(gen, step == 6)
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            scaler.scale(loss).backward()
            if step == 3:
                model.weight.grad[0, 0] = math.inf  # an overflow: the scaler skips this step
            if not (by_hand and step == 6):
                before = model.weight.detach().clone()
                scaler.step(opt)
                scaler.update()
                stepped += int(not torch.equal(before, model.weight))
            if monitor is not None:
                monitor.step_end(loss=loss.detach())
        if monitor is not None:
            monitor.close()
        return [p.detach().clone() for p in model.parameters()], stepped

    monitor = Monitor.from_contracts(skip_loss, sync_every=SYNC_EVERY)
    weights, _ = _quiet(lambda: scaled(monitor, False))
    by_hand, stepped = scaled(None, True)
    assert _bit_equal(weights, by_hand)
    assert monitor.skipped_steps == [6]
    assert monitor._watchers[0].optimizer_steps == stepped == 8
