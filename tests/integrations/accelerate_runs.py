"""Accelerate loops for the adapter's tests (one process here, two in accelerate_ranks.py): a tiny Llama.

Not a test module: imported by name from tests/integrations on sys.path.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

import tinylm

from accelerate import Accelerator  # noqa: E402

from pvcontracts.integrations.accelerate import AcceleratorContracts  # noqa: E402

TRAIN, BATCH = 32, 4


def train(out: Path, *, epochs: int = 2, accumulation: int = 2, save_after: int | None = None,
          resume: Path | None = None, per_epoch_scheduler: bool = False, summed: bool = False,
          nan: Callable[[int], bool] | None = None, scheduler: bool = True,
          accelerator: Any = None, **contracts: Any) -> AcceleratorContracts:
    """The standard loop: accumulate, backward through the accelerator, step, scheduler, step_end.

    ``summed``: the fault, four micro-batches' losses summed by hand and backpropagated once (accumulation 1).
    ``nan(step)``: whether this process's loss is NaN at that optimizer step (a poisoned batch).
    """
    torch.manual_seed(0)
    acc = accelerator or Accelerator(cpu=True, gradient_accumulation_steps=1 if summed else accumulation)
    model = tinylm.llama()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    loader = torch.utils.data.DataLoader(tinylm.LMData(0, TRAIN), batch_size=1 if summed else BATCH, shuffle=True)
    steps = len(loader) * epochs // (4 if summed else accumulation)
    sched = None
    if scheduler:
        from transformers import get_linear_schedule_with_warmup

        sched = get_linear_schedule_with_warmup(optimizer, 2, steps)
    contracts.setdefault("regime", "from_scratch")
    hooks = AcceleratorContracts(acc, output_dir=out, **contracts)
    if sched is not None:
        model, optimizer, loader, sched = acc.prepare(model, optimizer, loader, sched)
    else:
        model, optimizer, loader = acc.prepare(model, optimizer, loader)
    hooks.watch(model, optimizer, sched, total_steps=steps)
    first = 0
    if resume is not None:
        acc.load_state(str(resume))
        first = save_after + 1 if save_after is not None else 1
    step = first * len(loader) // (4 if summed else accumulation)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in range(first, epochs):
            pending: list[torch.Tensor] = []
            for batch in loader:
                with acc.accumulate(model):
                    loss = model(**batch).loss
                    if nan is not None and nan(step):
                        loss = loss * math.nan
                    if summed:  # the fault: four micro-batches' losses added up, not averaged, stepped once
                        pending.append(loss)
                        if len(pending) < 4:
                            continue
                        loss, pending = sum(pending), []
                    acc.backward(loss)
                    optimizer.step()
                    if sched is not None and not per_epoch_scheduler:
                        sched.step()
                    optimizer.zero_grad()
                if acc.sync_gradients and not (summed and pending):
                    step += 1
                if not (summed and pending):
                    hooks.step_end()
            if sched is not None and per_epoch_scheduler:
                sched.step()
            hooks.epoch_end(val_loss=evaluate(model, acc))
            if save_after == epoch:
                acc.save_state(str(out / "checkpoint"))
    hooks.run_end()
    return hooks


@torch.no_grad()
def evaluate(model: Any, acc: Any) -> float:
    model.eval()
    data = tinylm.LMData(TRAIN, 8)
    batch = {k: torch.stack([data[i][k] for i in range(len(data))]) for k in ("input_ids", "labels")}
    loss = model(**batch).loss
    model.train()
    return float(acc.reduce(loss, reduction="mean"))
