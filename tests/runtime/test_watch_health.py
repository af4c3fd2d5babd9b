"""The watcher's health metrics: gradient hygiene, the optimizer's parameters, the trainable share, batches."""

from __future__ import annotations

import copy

import torch

from pvcontracts.runtime import Monitor


def _watched(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[Monitor, object]:
    monitor = Monitor([], sync_every=1000)
    return monitor, monitor.watch(model, optimizer)


def _step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, watcher: object,
          micro: int = 1) -> dict:
    for chunk in x.chunk(micro):
        model(chunk).sum().backward()
    optimizer.step()
    return watcher.collect("step_end", True)  # type: ignore[attr-defined]


def test_grads_cleared_by_hand_or_by_zero_grad_is_seen_and_accumulation_is_fine() -> None:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    _, watcher = _watched(model, opt)
    assert _step(model, opt, torch.randn(4, 3), watcher)["grads_cleared"] is True  # the first step
    assert _step(model, opt, torch.randn(4, 3), watcher)["grads_cleared"] is False  # never cleared
    opt.zero_grad()
    assert _step(model, opt, torch.randn(4, 3), watcher, micro=2)["grads_cleared"] is True  # accumulating
    for p in model.parameters():
        p.grad = None  # cleared by hand, not through zero_grad
    assert _step(model, opt, torch.randn(4, 3), watcher)["grads_cleared"] is True


def test_an_optimizer_over_a_copy_holds_none_of_the_model() -> None:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    copied = copy.deepcopy(model)
    _, watcher = _watched(copied, opt)
    metrics = _step(copied, opt, torch.randn(4, 3), watcher)
    assert metrics["trainable_params_optimized"] == 0.0
    assert float(metrics["update_ratio"]) == 0.0  # the model's parameters did not move
    right = torch.optim.SGD(model.parameters(), lr=0.1)
    _, good = _watched(model, right)
    metrics = _step(model, right, torch.randn(4, 3), good)
    assert metrics["trainable_params_optimized"] == 1.0 and float(metrics["update_ratio"]) > 0


def test_the_trainable_share_follows_requires_grad() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 1))
    for p in model[0].parameters():
        p.requires_grad = False
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    _, watcher = _watched(model, opt)
    metrics = _step(model, opt, torch.randn(4, 3), watcher)
    assert metrics["trainable_fraction"] == 4 / 16 and metrics["trainable_params_optimized"] == 1.0


def test_the_batch_fingerprint_comes_from_the_first_training_forward_of_the_step() -> None:
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    _, watcher = _watched(model, opt)
    x = torch.randn(4, 3)
    model.eval()
    model(torch.randn(4, 3))  # evaluation forwards are not the step's batch
    model.train()
    first = _step(model, opt, x, watcher)["batch_fingerprint"]
    assert first.dtype == torch.float64 and float(first) == float(x.reshape(-1).sum(dtype=torch.float64))
    opt.zero_grad()
    again = _step(model, opt, x, watcher)["batch_fingerprint"]
    opt.zero_grad()
    other = _step(model, opt, torch.randn(4, 3), watcher)["batch_fingerprint"]
    assert float(again) == float(first) and float(other) != float(first)
