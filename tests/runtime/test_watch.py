"""watch(): step metrics collected through the optimizer's own hooks, on a real model; fatal_before_step."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from pvcontracts.runtime import ContractViolation, Monitor, read_ledger

SEED = "training-loop-pretrain-v1"
NAN = float("nan")


@pytest.fixture
def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))


def batch_loss(model: nn.Module, step: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(step)
    x, y = torch.randn(32, 8, generator=g), torch.randn(32, 4, generator=g)
    return nn.functional.mse_loss(model(x), y)


def snapshot(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


def ledger_violations(path: Path) -> list[dict]:
    return [r for r in read_ledger(path) if r["kind"] == "violation"]


# --------------------------------------------------------------------------- collected metrics


def test_grad_norm_is_clip_grad_norms_total_norm(model: nn.Module, make_contracts) -> None:
    # The contract compares the collected grad_norm with the value passed as clip_total, exactly:
    # a difference in the last bit aborts.
    root = make_contracts({"check": "grad_norm == clip_total", "when": "optimizer_stepped"})
    monitor = Monitor.from_contracts(root, sync_every=4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    watcher = monitor.watch(model, optimizer)
    for step in range(10):
        optimizer.zero_grad()
        batch_loss(model, step).backward()
        # max_norm=inf never clips (the coefficient clamps to 1), so the gradients stay as they were.
        total = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=math.inf)
        optimizer.step()
        assert torch.equal(watcher.collect(consume=False)["grad_norm"], total)
        monitor.step_end(clip_total=total)
    monitor.close()
    assert monitor.stats()["INV-T-001"] == {"evaluated": 10, "applicable": 10, "violated": 0, "unevaluable": 0, "not_supplied": 0, "enforced": True, "reason": None}


def test_with_clipping_the_watcher_sees_the_clipped_norm_and_explicit_grad_norm_overrides(
        model: nn.Module, make_contracts) -> None:
    root = make_contracts({"check": "grad_norm <= 0.05", "on_violation": "record"})
    monitor = Monitor.from_contracts(root, sync_every=1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    watcher = monitor.watch(model, optimizer)
    optimizer.zero_grad()
    batch_loss(model, 0).backward()
    total = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.01)
    optimizer.step()
    assert total > 0.05  # the norm before clipping, which the contract's grad_norm means
    assert watcher.collect(consume=False)["grad_norm"] == pytest.approx(0.01, rel=1e-4)
    monitor.step_end()  # the clipped norm passes
    assert monitor.stats()["INV-T-001"]["violated"] == 0
    optimizer.zero_grad()
    batch_loss(model, 1).backward()
    total = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.01)
    optimizer.step()
    monitor.step_end(grad_norm=total)  # the loop passes the pre-clip norm: it wins over the collected one
    assert monitor.stats()["INV-T-001"]["violated"] == 1


def contract_cosine_lambda(peak_lr: float, total: int, warmup: int, min_lr: float = 0.0):
    """The schedule as lr-schedule-v1 writes it, for LambdaLR (k = scheduler steps taken = optimizer step s)."""
    def factor(s: int) -> float:
        if s + 1 <= warmup:
            return (s + 1) / max(warmup, 1)
        p = min(max((s + 1 - warmup) / (total - warmup), 0.0), 1.0)
        return (min_lr + (peak_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * p))) / peak_lr
    return factor


# The 1.x convention (s + 1) / W, which lr-schedule-v1 2.0.0 calls one_based.
LR_PARAMS = {"total_steps": 40, "peak_lr": 0.05, "warmup_fraction": 0.1, "step_indexing": "one_based"}


def test_lr_is_the_one_the_step_applied(model: nn.Module, shipped: Path) -> None:
    # Plain SGD applies p -= lr * grad, so the LR the step used can be read off the update itself.
    monitor = Monitor.from_contracts(shipped, select=["lr-schedule-v1", SEED], params=LR_PARAMS, sync_every=7)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, contract_cosine_lambda(0.05, 40, 4))
    watcher = monitor.watch(model, optimizer, scheduler)
    weight = model[0].weight
    for step in range(40):
        optimizer.zero_grad()
        loss = batch_loss(model, step)
        loss.backward()
        before, grad = weight.detach().clone(), weight.grad.detach().clone()
        optimizer.step()
        scheduler.step()  # moves param_groups' lr on to the next step's: the watcher must not read it now
        applied = ((before - weight.detach()) / grad)[grad.abs() > 1e-3].to(torch.float64).median().item()
        collected = watcher.collect(consume=False)
        assert collected["lr"] == pytest.approx(applied, rel=1e-3)
        assert collected["lr"] == pytest.approx(0.05 * contract_cosine_lambda(0.05, 40, 4)(step), rel=1e-12)
        assert (collected["optimizer_steps"], collected["scheduler_steps"]) == (step + 1, step + 1)
        assert collected["lr"] != optimizer.param_groups[0]["lr"] or step in (3, 39)
        monitor.step_end(loss=loss)
    monitor.epoch_end(val_loss=1.0)
    # The whole lr-schedule contract held, through the real Monitor: LR-003 checked the exact cosine.
    stats = monitor.stats()
    assert all(stats[f"INV-LR-00{i}"]["applicable"] == 40 for i in (1, 2, 3, 5))
    assert sum(s["violated"] for s in stats.values()) == 0


def test_a_tensor_lr_is_copied_before_the_scheduler_moves_it(model: nn.Module) -> None:
    # Capturable and fused optimizers keep the LR as a tensor, which scheduler.step() fills in place.
    optimizer = torch.optim.SGD(model.parameters(), lr=torch.tensor(0.1))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: 1.0 / (k + 1))
    watcher = Monitor.from_contracts(select=[SEED]).watch(model, optimizer, scheduler)
    for step in range(3):
        optimizer.zero_grad()
        batch_loss(model, step).backward()
        optimizer.step()
        scheduler.step()
        assert watcher.collect()["lr"].item() == pytest.approx(0.1 / (step + 1))


def test_a_scheduler_stepped_per_epoch_is_caught_by_inv_lr_002(model: nn.Module, shipped: Path,
                                                                tmp_path: Path) -> None:
    monitor = Monitor.from_contracts(shipped, select=["lr-schedule-v1"], params=LR_PARAMS,
                                     ledger=tmp_path / "l.jsonl")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, contract_cosine_lambda(0.05, 40, 4))
    monitor.watch(model, optimizer, scheduler)
    optimizer.zero_grad()
    batch_loss(model, 0).backward()
    optimizer.step()  # the scheduler would step at the end of the epoch
    with pytest.raises(ContractViolation) as info:
        monitor.step_end()
    err = info.value
    assert (err.invariant_id, err.step) == ("INV-LR-002", 0)
    assert str(err).endswith('scheduler_steps == where(lr_interval == "epoch", epoch, optimizer_steps * '
                             "scheduler_steps_per_step) failed: scheduler_steps = 0, lr_interval = 'step', epoch = 0, "
                             "optimizer_steps = 1, scheduler_steps_per_step = 1")


def test_a_resumed_watch_counts_optimizer_steps_from_the_scheduler(model: nn.Module) -> None:
    monitor = Monitor.from_contracts(select=[SEED])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "scheduler.step() before optimizer.step()": a resumed run's past
        for _ in range(17):
            scheduler.step()
    watcher = monitor.watch(model, optimizer, scheduler)
    assert watcher.collect(consume=False)["optimizer_steps"] == 17
    other = Monitor.from_contracts(select=[SEED]).watch(model, optimizer, initial_optimizer_steps=5)
    assert other.collect()["optimizer_steps"] == 5


def test_grads_cleared_is_false_when_the_loop_forgets_zero_grad(model: nn.Module, make_contracts,
                                                                tmp_path: Path) -> None:
    root = make_contracts({"check": "grads_cleared", "when": "optimizer_stepped", "on_violation": "record"})
    monitor = Monitor.from_contracts(root, ledger=tmp_path / "l.jsonl", sync_every=3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    monitor.watch(model, optimizer)
    for step in range(6):
        if step in (0, 1):
            optimizer.zero_grad()
        elif step == 4:
            model.zero_grad()  # the model's zero_grad counts as much as the optimizer's
        batch_loss(model, step).backward()  # steps 2, 3 and 5 accumulate onto stale gradients
        optimizer.step()
        monitor.step_end()
    monitor.close()
    assert [r["step"] for r in ledger_violations(tmp_path / "l.jsonl")] == [2, 3, 5]


def test_a_skipped_step_is_not_an_optimizer_step(model: nn.Module, shipped: Path) -> None:
    monitor = Monitor.from_contracts(shipped, select=[SEED], sync_every=2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    watcher = monitor.watch(model, optimizer)
    optimizer.zero_grad()
    loss = batch_loss(model, 0)
    loss.backward()
    # No optimizer.step(): a loss scaler that found inf skips it, and so does this loop.
    collected = watcher.collect(consume=False)
    assert collected["optimizer_stepped"] is False and collected["optimizer_steps"] == 0
    assert "grad_norm" not in collected and "grads_cleared" not in collected
    monitor.step_end(loss=loss)  # INV-TRAIN-002 needs grad_norm only on a real step
    optimizer.step()
    monitor.step_end(loss=batch_loss(model, 1))
    assert monitor.stats()["INV-TRAIN-002"] == {"evaluated": 2, "applicable": 1, "violated": 0, "unevaluable": 0, "not_supplied": 0, "enforced": True, "reason": None}
    assert watcher.collect()["optimizer_steps"] == 1


def test_explicit_metrics_override_collected_ones(model: nn.Module, shipped: Path) -> None:
    monitor = Monitor.from_contracts(shipped, select=[SEED], sync_every=10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor.watch(model, optimizer)
    optimizer.zero_grad()
    loss = batch_loss(model, 0)
    loss.backward()
    optimizer.step()
    monitor.step_end(loss=loss, grad_norm=torch.tensor(NAN))  # the watcher's grad_norm is finite
    with pytest.raises(ContractViolation) as info:
        monitor.sync()
    assert info.value.invariant_id == "INV-TRAIN-002"
    assert math.isnan(info.value.values["grad_norm"])


def test_epoch_boundaries_do_not_steal_a_steps_metrics(model: nn.Module, shipped: Path) -> None:
    monitor = Monitor.from_contracts(shipped, select=[SEED])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    watcher = monitor.watch(model, optimizer)
    optimizer.zero_grad()
    batch_loss(model, 0).backward()
    optimizer.step()
    monitor.eval_end(val_loss=1.0)  # between the optimizer step and its step_end
    assert watcher.collect(consume=False)["optimizer_stepped"] is True


def test_update_ratio_on_its_schedule(model: nn.Module) -> None:
    monitor = Monitor.from_contracts(select=[SEED])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    watcher = monitor.watch(model, optimizer, update_ratio_every=3)
    seen = []
    for step in range(7):
        optimizer.zero_grad()
        batch_loss(model, step).backward()
        before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
        optimizer.step()
        after = torch.cat([p.detach().flatten() for p in model.parameters()])
        collected = watcher.collect()
        if "update_ratio" in collected:
            seen.append(step)
            expected = (after - before).norm() / before.norm()
            assert collected["update_ratio"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert seen == [0, 3, 6]
    with pytest.raises(ValueError, match="update_ratio_every=-1"):
        monitor.watch(model, optimizer, update_ratio_every=-1)


def test_close_removes_the_hooks_and_restores_zero_grad(model: nn.Module) -> None:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = Monitor.from_contracts(select=[SEED])
    monitor.watch(model, optimizer)
    assert "zero_grad" in vars(optimizer) and "zero_grad" in vars(model)
    monitor.close()
    assert "zero_grad" not in vars(optimizer) and "zero_grad" not in vars(model)
    assert not optimizer._optimizer_step_pre_hooks and not optimizer._optimizer_step_post_hooks


# --------------------------------------------------------------------------- fatal before the optimizer step


def fatal_monitor(shipped: Path, model: nn.Module, **kwargs):
    monitor = Monitor.from_contracts(shipped, select=[SEED], sync_every=100, **kwargs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    monitor.watch(model, optimizer, fatal_before_step=True)
    return monitor, optimizer


def test_fatal_before_step_nan_loss_aborts_with_the_weights_unchanged(model: nn.Module, shipped: Path) -> None:
    monitor, optimizer = fatal_monitor(shipped, model)
    for step in range(3):
        optimizer.zero_grad()
        loss = batch_loss(model, step)
        loss.backward()
        monitor.observe(loss=loss)
        optimizer.step()
        monitor.step_end()
    weights, state = snapshot(model), {k: v["step"].item() for k, v in optimizer.state.items()}
    optimizer.zero_grad()
    loss = batch_loss(model, 3) * NAN
    loss.backward()
    monitor.observe(loss=loss)
    with pytest.raises(ContractViolation) as info:
        optimizer.step()
    assert (info.value.invariant_id, info.value.step) == ("INV-TRAIN-001", 3)
    assert same(snapshot(model), weights)
    assert {k: v["step"].item() for k, v in optimizer.state.items()} == state  # Adam's moments untouched too


def test_fatal_before_step_nan_grad_aborts_with_the_weights_unchanged(model: nn.Module, shipped: Path) -> None:
    monitor, optimizer = fatal_monitor(shipped, model)
    optimizer.zero_grad()
    batch_loss(model, 0).backward()
    model[2].weight.grad[0, 0] = NAN  # a poisoned gradient with a finite loss
    weights = snapshot(model)
    with pytest.raises(ContractViolation) as info:
        optimizer.step()
    assert info.value.invariant_id == "INV-TRAIN-002"
    assert math.isnan(info.value.values["grad_norm"])
    assert same(snapshot(model), weights)


def test_without_fatal_before_step_the_poisoned_update_happens_first(model: nn.Module, shipped: Path) -> None:
    monitor = Monitor.from_contracts(shipped, select=[SEED], sync_every=100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    monitor.watch(model, optimizer)
    optimizer.zero_grad()
    loss = batch_loss(model, 0)
    loss.backward()
    model[2].weight.grad[0, 0] = NAN
    optimizer.step()  # the deferred check reads nothing yet: the weights are already NaN
    monitor.step_end(loss=loss)
    assert torch.isnan(model[2].weight).any()
    with pytest.raises(ContractViolation, match="INV-TRAIN-002"):
        monitor.sync()


def test_fatal_before_step_checks_once_and_leaves_the_rest_to_step_end(model: nn.Module, shipped: Path) -> None:
    # lr-schedule-v1 too: INV-LR-002 needs scheduler_steps, which only exists after scheduler.step(),
    # so it is checked at step_end, not (wrongly, one step behind) before the optimizer step.
    monitor = Monitor.from_contracts(shipped, select=[SEED, "lr-schedule-v1"], params=LR_PARAMS,
                                     fatal_before_step=True, sync_every=100)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, contract_cosine_lambda(0.05, 40, 4))
    monitor.watch(model, optimizer, scheduler)  # fatal_before_step from the Monitor's default
    for step in range(12):
        optimizer.zero_grad()
        loss = batch_loss(model, step)
        loss.backward()
        if step % 2 == 0:
            monitor.observe(loss=loss)  # odd steps: the loss arrives only at step_end
        optimizer.step()
        scheduler.step()
        monitor.step_end(**({} if step % 2 == 0 else {"loss": loss}))
    monitor.close()
    stats = monitor.stats()
    assert all(s["evaluated"] == 12 and s["violated"] == 0 for s in stats.values() if s["evaluated"])
    assert stats["INV-TRAIN-001"]["applicable"] == 12


def test_fatal_before_step_settles_earlier_steps_first(model: nn.Module, shipped: Path) -> None:
    monitor, optimizer = fatal_monitor(shipped, model)
    optimizer.zero_grad()
    batch_loss(model, 0).backward()
    optimizer.step()
    monitor.step_end(loss=torch.tensor(NAN))  # not observed before the step: deferred as usual
    optimizer.zero_grad()
    batch_loss(model, 1).backward()
    weights = snapshot(model)
    with pytest.raises(ContractViolation) as info:
        optimizer.step()  # the pre-step sync finds step 0's NaN before step 1 changes anything
    assert (info.value.invariant_id, info.value.step) == ("INV-TRAIN-001", 0)
    assert same(snapshot(model), weights)


def test_observed_grad_norm_is_reused_not_recomputed(monkeypatch) -> None:
    """The loop's own clip_grad_norm_ result replaces the watcher's norm kernels."""
    import torch

    from pvcontracts.runtime import Monitor

    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = Monitor([], sync_every=10)
    monitor.watch(model, optimizer)
    calls = []
    real = torch._foreach_norm
    monkeypatch.setattr(torch, "_foreach_norm", lambda *a, **k: calls.append(1) or real(*a, **k))
    model(torch.randn(3, 4)).sum().backward()
    optimizer.step()  # the first step also measures update_ratio (its own norms): leave it out of the count
    monitor.step_end()
    model(torch.randn(3, 4)).sum().backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1e9)
    calls.clear()
    monitor.observe(grad_norm=norm)
    optimizer.step()
    assert calls == []
    collected = monitor._watchers[0].collect()
    assert torch.equal(collected["grad_norm"], norm)
