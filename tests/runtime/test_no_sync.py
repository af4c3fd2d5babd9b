"""No host-device synchronisation per step: step_end with tensor metrics reads nothing back.

On CPU a tensor read is not a synchronisation, so the CPU tests count the calls that
would be one on a GPU (``.item()``, ``.cpu()``, ``.tolist()``, ``bool()`` and friends)
made from inside pvcontracts, while the optimizer's own internals are left out. The
CUDA test lets PyTorch itself refuse any synchronisation.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch
from torch import nn

from pvcontracts.contract.contractset import load_contracts
from pvcontracts.runtime import ContractViolation, Monitor
import pvcontracts.runtime.monitor as monitor_module

SYNC_EVERY = 10
LR_PARAMS = {"total_steps": 1000, "peak_lr": 0.01, "warmup_fraction": 0.0, "lr_tolerance": 0.01}


@pytest.fixture
def history_contract(make_contracts) -> Path:
    # A tensor check that reads history: evaluated on the device at the step, verdict deferred.
    return make_contracts({"check": "loss < 100 * prev(loss) + 1", "when": "step > 0"},
                          {"check": "grad_norm <= 10 * window_max(grad_norm, 4)", "when": "step >= 3",
                           "on_violation": "warn"})


def build(shipped: Path, history_contract: Path, device: str = "cpu", **kwargs):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4)).to(device)
    contracts = load_contracts(shipped, ["training-loop-pretrain-v1", "lr-schedule-v1"]) + load_contracts(history_contract)
    monitor = Monitor(contracts, params=LR_PARAMS, sync_every=SYNC_EVERY, **kwargs)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: 1.0)
    monitor.watch(model, optimizer, scheduler, update_ratio_every=3)
    return model, monitor, optimizer, scheduler


def loss_of(model: nn.Module, step: int, device: str = "cpu") -> torch.Tensor:
    g = torch.Generator().manual_seed(step)
    x, y = torch.randn(16, 8, generator=g).to(device), torch.randn(16, 4, generator=g).to(device)
    return nn.functional.mse_loss(model(x), y)


def run_steps(model, monitor, optimizer, scheduler, reads: Counter, steps: int) -> list[int]:
    """Tensor reads attributed to each step's optimizer.step() (the watcher's hooks) and step_end."""
    per_step = []
    for step in range(steps):
        optimizer.zero_grad()
        loss = loss_of(model, step)
        loss.backward()
        before = sum(reads.values())
        optimizer.step()
        scheduler.step()
        monitor.step_end(loss=loss)
        per_step.append(sum(reads.values()) - before)
    return per_step


def test_step_end_reads_no_tensor_between_sync_points(shipped: Path, history_contract: Path, reads: Counter) -> None:
    model, monitor, optimizer, scheduler = build(shipped, history_contract)
    per_step = run_steps(model, monitor, optimizer, scheduler, reads, 3 * SYNC_EVERY)
    sync_steps = {i for i in range(len(per_step)) if (i + 1) % SYNC_EVERY == 0}
    assert [n for i, n in enumerate(per_step) if i not in sync_steps] == [0] * (len(per_step) - len(sync_steps))
    # A sync point reads once per device: one .cpu() and one .tolist() of every check's flags.
    assert all(1 <= per_step[i] <= 2 for i in sync_steps), per_step
    monitor.close()
    assert sum(s["violated"] for s in monitor.stats().values()) == 0
    assert monitor.stats()["INV-TRAIN-001"]["applicable"] == 3 * SYNC_EVERY


def test_the_count_catches_a_read_in_step_end(shipped: Path, history_contract: Path, reads: Counter,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # The harness must be able to fail: a step_end that reads its loss (as `float(loss)` would,
    # or a stray `.item()` for logging) is counted at every step.
    original = monitor_module.detached

    def reading(value):
        if isinstance(value, torch.Tensor):
            value.item()
        return original(value)

    monkeypatch.setattr(monitor_module, "detached", reading)
    model, monitor, optimizer, scheduler = build(shipped, history_contract)
    per_step = run_steps(model, monitor, optimizer, scheduler, reads, 5)
    assert per_step == [1] * 5
    assert reads["item"] == 5


def test_a_violation_is_found_without_reads_until_the_sync_point(shipped: Path, history_contract: Path,
                                                                 reads: Counter) -> None:
    model, monitor, optimizer, scheduler = build(shipped, history_contract)
    def step_end(step: int, loss: float) -> None:
        monitor.step_end(loss=torch.tensor(loss), grad_norm=torch.tensor(1.0), optimizer_stepped=True,
                         optimizer_steps=step + 1, scheduler_steps=step + 1, lr=0.01)

    for step in range(SYNC_EVERY - 1):
        before = sum(reads.values())
        step_end(step, float("nan") if step == 4 else 1.0)
        assert sum(reads.values()) == before
    with pytest.raises(ContractViolation) as info:
        step_end(SYNC_EVERY - 1, 1.0)
    # NaN fails both the finite check and the prev() check at step 4; ties go by invariant id.
    assert (info.value.invariant_id, info.value.step) == ("INV-T-001", 4)
    assert monitor.stats()["INV-TRAIN-001"]["violated"] == 1


def test_fatal_before_step_pays_one_read_per_step(shipped: Path, history_contract: Path, reads: Counter) -> None:
    model, monitor, optimizer, scheduler = build(shipped, history_contract, fatal_before_step=True)
    per_step = []
    for step in range(2 * SYNC_EVERY):
        optimizer.zero_grad()
        loss = loss_of(model, step)
        loss.backward()
        before = sum(reads.values())
        monitor.observe(loss=loss)
        optimizer.step()
        scheduler.step()
        monitor.step_end()
        per_step.append(sum(reads.values()) - before)
    # Before each step: one .tolist() of the scalars the abort checks read (loss, grad_norm); from
    # step 2 on, the history checks' deferred verdicts (not fatal-eligible) are settled there too.
    assert per_step[:2] == [1, 1], per_step
    assert all(1 <= n <= 3 for n in per_step), per_step


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_step_end_never_synchronises(shipped: Path, history_contract: Path) -> None:
    model, monitor, optimizer, scheduler = build(shipped, history_contract, device="cuda")
    try:
        for step in range(3 * SYNC_EVERY):
            optimizer.zero_grad()
            loss = loss_of(model, step, "cuda")
            loss.backward()
            at_sync_point = (step + 1) % SYNC_EVERY == 0
            torch.cuda.synchronize()  # start each step with an idle queue, so only our own work counts
            if not at_sync_point:
                torch.cuda.set_sync_debug_mode("error")  # any synchronisation from here raises
            try:
                optimizer.step()  # the watcher's hooks run inside
                scheduler.step()
                monitor.step_end(loss=loss)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        monitor.close()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert sum(s["violated"] for s in monitor.stats().values()) == 0
    assert monitor.stats()["INV-TRAIN-002"]["applicable"] == 3 * SYNC_EVERY
