"""The contracts inside an ``Accelerator`` loop: a few hooks around the loop's own calls.

```python
accelerator = Accelerator(gradient_accumulation_steps=4)
contracts = AcceleratorContracts(accelerator, regime="from_scratch", output_dir="runs/x")
model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
contracts.watch(model, optimizer, scheduler, total_steps=steps)
for epoch in range(epochs):
    for batch in loader:
        with accelerator.accumulate(model):
            loss = model(**batch).loss
            accelerator.backward(loss)          # seen by the contracts: the step's loss, no read
            optimizer.step(); scheduler.step(); optimizer.zero_grad()
        contracts.step_end()                    # acts once per optimizer step (sync_gradients)
    contracts.epoch_end(val_loss=evaluate(model))
contracts.run_end()
```

* ``accelerator.backward`` is wrapped on this accelerator: each call adds
  ``loss / gradient_accumulation_steps`` (what Accelerate backpropagates) to the step's
  loss, on the device.
* ``watch`` unwraps Accelerate's optimizer and scheduler (the hooks go on the real
  ones), builds the Monitor with the run's declarations over what the scheduler object
  says, and starts the run on ``accelerator.process_index``, its ledger in
  ``output_dir``. ``AcceleratedScheduler`` steps the scheduler once per process unless
  ``split_batches`` (the schedule is declared in single-process steps):
  ``scheduler_steps_per_step`` says so to lr-schedule-v1.
* ``step_end`` is a no-op inside an accumulation window (``accelerator.sync_gradients``
  false), so it can sit at the end of every batch.
* The object is registered for checkpointing: ``accelerator.save_state`` saves the
  monitor's state; ``accelerator.load_state`` restores it last, after the models,
  optimizers, schedulers and RNG streams, and the resume boundary compares them there.
  The cross-rank agreement runs on the accelerator's process group (the default one).

grad_norm is the norm as ``optimizer.step()`` finds the gradients: pass
``contracts.observe(grad_norm=accelerator.clip_grad_norm_(...))`` to check it before
clipping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from pvcontracts.contract.regime import Regime
from pvcontracts.integrations.core import AdapterCore, require

_accelerate = require("accelerate", "accelerate", "1.1")

__all__ = ["AcceleratorContracts"]


class AcceleratorContracts:
    """Enforce pv-contracts in an Accelerator loop (module docstring). A context manager: leaving it on an
    exception closes the ledger without hiding the exception."""

    def __init__(self, accelerator: Any, contracts: str | Path | None = None, *, select: Iterable[str] | None = None,
                 include_drafts: bool = True, regime: Regime | str | Mapping[str, Any] | None = None,
                 params: Mapping[str, Any] | None = None, mode: str = "supplied", sync_every: int = 100,
                 fatal_before_step: bool = False, max_consecutive_skips: int = 5, ledger: Any = True,
                 output_dir: str | Path = ".", update_ratio_every: int = 0) -> None:
        self.accelerator = accelerator
        self.core = AdapterCore(contracts=contracts, select=select, include_drafts=include_drafts, regime=regime,
                                params=params, mode=mode, sync_every=sync_every, fatal_before_step=fatal_before_step,
                                max_consecutive_skips=max_consecutive_skips, ledger=ledger,
                                update_ratio_every=update_ratio_every)
        self.output_dir = Path(output_dir)
        self._resume_pending = False
        self._closed = False
        self._backward = accelerator.backward
        accelerator.backward = self._on_backward  # on this accelerator only; put back by close()
        accelerator.register_for_checkpointing(self)

    @property
    def monitor(self) -> Any:
        """The run's Monitor (None before :meth:`watch`)."""
        return self.core.monitor

    def watch(self, model: Any, optimizer: Any, scheduler: Any = None, *, total_steps: int | None = None,
              vocab_size: int | None = None) -> Any:
        """Build and start the monitor for this run: call it after ``accelerator.prepare``. Returns the Monitor."""
        acc = self.accelerator
        raw_optimizer = getattr(optimizer, "optimizer", optimizer)
        raw_scheduler = getattr(scheduler, "scheduler", scheduler)
        wrapped = raw_scheduler is not scheduler
        per_step = 1
        if wrapped and getattr(scheduler, "step_with_optimizer", True) \
                and not getattr(scheduler, "split_batches", False):
            per_step = int(acc.num_processes)  # AcceleratedScheduler.step: one scheduler.step() per process
        model = acc.unwrap_model(model)
        vocab = vocab_size or getattr(getattr(model, "config", None), "vocab_size", None)
        monitor = self.core.build(optimizer=raw_optimizer, scheduler=raw_scheduler, vocab_size=vocab,
                                  config={"total_steps": total_steps, "scheduler_steps_per_step": per_step})
        self.core.watch(model, raw_optimizer, raw_scheduler)
        self.core.start(rank=int(acc.process_index), world_size=int(acc.num_processes), output_dir=self.output_dir)
        if self._resume_pending:
            self._resume_pending = False
            monitor.resume()
        return monitor

    def _on_backward(self, loss: Any, **kwargs: Any) -> Any:
        if self.core.monitor is not None and hasattr(loss, "detach"):
            # What Accelerate backpropagates: the loss divided by the accumulation steps (DeepSpeed divides itself).
            steps = self.accelerator.gradient_accumulation_steps
            deepspeed = str(self.accelerator.distributed_type).endswith("DEEPSPEED")
            self.core.step_loss.add(loss.detach() / steps if steps > 1 and not deepspeed else loss.detach())
        return self._backward(loss, **kwargs)

    # ------------------------------------------------------------------ boundaries

    def observe(self, **metrics: Any) -> None:
        self._monitor().observe(**metrics)

    def step_end(self, **metrics: Any) -> None:
        """End of a batch: the step's boundary once the accumulation window stepped the optimizer."""
        if not self.accelerator.sync_gradients:
            return
        with self:
            self._monitor().step_end(**metrics)

    def epoch_end(self, **metrics: Any) -> None:
        with self:
            self._monitor().epoch_end(**metrics)

    def eval_end(self, **metrics: Any) -> None:
        with self:
            self._monitor().eval_end(**metrics)

    def run_end(self, **metrics: Any) -> None:
        with self:
            self._monitor().run_end(**metrics)
        self.close()

    def close(self, error: BaseException | None = None) -> None:
        """Close the ledger (recording, without raising, what the pending steps found when ``error`` is given)."""
        if self._closed:
            return
        self._closed = True
        vars(self.accelerator).pop("backward", None)  # the class's method shows through again
        if self.core.monitor is not None:
            self.core.monitor.close(error=error)

    def _monitor(self) -> Any:
        if self.core.monitor is None:
            raise RuntimeError("call contracts.watch(model, optimizer, scheduler) after accelerator.prepare first")
        return self.core.monitor

    # ------------------------------------------------------------------ checkpoints (register_for_checkpointing)

    def state_dict(self) -> dict[str, Any]:
        return self.core.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Called by ``accelerator.load_state`` after everything else it restores: the resume boundary is here."""
        self.core.load_state_dict(state)
        if self.core.monitor is not None and self.core.monitor.started:
            with self:
                self.core.monitor.resume()
        else:
            self._resume_pending = True

    def __enter__(self) -> "AcceleratorContracts":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc is not None:
            self.close(error=exc)
        return False
