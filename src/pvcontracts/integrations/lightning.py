"""The contracts inside a PyTorch Lightning run, in one line:
``Trainer(callbacks=[ContractsCallback(regime="from_scratch")])``.

What each hook does (Lightning's own order, read in ``loops/training_epoch_loop.py``
and ``plugins/precision/precision.py``):

* ``on_fit_start`` (the strategy has built the optimizer and schedulers; the rank is
  known): the Monitor is built, ``total_steps`` from ``trainer.estimated_stepping_batches``
  and the schedule read from the configured scheduler (:mod:`.schedule`), under the run's
  declarations; it watches the module and the (raw) optimizer and scheduler and starts the
  run on ``trainer.global_rank``, its ledger in ``trainer.default_root_dir``.
* ``on_before_optimizer_step`` (gradients complete, unscaled under AMP, not yet clipped):
  ``grad_norm`` before clipping, on the device.
* ``on_train_batch_end``: the batch's loss from ``outputs["loss"]`` (Lightning divided it for
  accumulation: the step's loss is the window's sum), and, on the batch that stepped the
  optimizer, ``step_end``. Lightning has stepped a per-step scheduler by then; a per-epoch
  one (``interval: "epoch"``) is stepped before the epoch's last ``on_train_batch_end``,
  so its count is taken at the epoch's start, where the contract expects it.
* ``on_validation_end``: ``eval_end`` with the logged ``val_loss``; ``on_train_epoch_end``:
  ``epoch_end`` with it (validation at the epoch's end runs before this hook).
* ``on_train_end``: ``run_end``; ``on_exception``: the ledger is closed, recording what the
  pending steps found, and the framework's exception goes on.

Checkpoints: ``state_dict``/``load_state_dict`` put the monitor's state into the
Lightning checkpoint, with the RNG streams (torch, CUDA, NumPy, Python), which
Lightning's checkpoints do not hold: a resumed run gets them back at ``on_train_start``,
after Lightning restored the optimizer and schedulers, and the resume boundary compares
all of them with the checkpoint's fingerprints (``restore_rng=False`` leaves the RNG
alone and the RNG invariant not enforced). A violation raises ``ContractViolation`` from
the hook; Lightning reports it as the run's exception (on every rank at the same step:
the ranks agree first).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from pvcontracts.contract.regime import Regime
from pvcontracts.integrations.core import AdapterCore, finishing_on, gradient_norm, require
from pvcontracts.train import rng  # the RNG streams, captured and restored as pv train does


# lightning.pytorch, or the standalone pytorch_lightning (same API)
pl = require("lightning.pytorch", "lightning", "2.5.5", fallback="pytorch_lightning")

__all__ = ["ContractsCallback"]


class ContractsCallback(pl.Callback):
    """Enforce pv-contracts at Lightning's own hooks.

    Arguments are the Monitor's (``contracts`` directory, default the shipped ones; ``select``;
    ``regime``: a ``Regime``, ``"finetune"`` or ``"from_scratch"``; ``params``, the run's
    declarations, which override what Lightning's config and the scheduler say; ``mode``;
    ``sync_every``; ``fatal_before_step``; ``max_consecutive_skips``), ``ledger`` (True:
    ``ledger.jsonl`` in ``trainer.default_root_dir``; a path; None), ``val_loss_key`` (the
    logged metric that is the validation loss) and ``restore_rng``.
    """

    def __init__(self, contracts: str | Path | None = None, *, select: Iterable[str] | None = None,
                 include_drafts: bool = True, regime: Regime | str | Mapping[str, Any] | None = None,
                 params: Mapping[str, Any] | None = None, mode: str = "supplied", sync_every: int = 100,
                 fatal_before_step: bool = False, max_consecutive_skips: int = 5, ledger: Any = True,
                 update_ratio_every: int = 0, val_loss_key: str = "val_loss", restore_rng: bool = True) -> None:
        self.core = AdapterCore(contracts=contracts, select=select, include_drafts=include_drafts, regime=regime,
                                params=params, mode=mode, sync_every=sync_every, fatal_before_step=fatal_before_step,
                                max_consecutive_skips=max_consecutive_skips, ledger=ledger,
                                update_ratio_every=update_ratio_every)
        self.val_loss_key = val_loss_key
        self.restore_rng = restore_rng
        self._rng: dict[str, Any] | None = None  # RNG streams loaded from a checkpoint, set back at on_train_start
        self._resumed = False
        self._stepping = False                   # on_before_optimizer_step ran since the last step_end
        self._scheduler: Any = None
        self._per_epoch = False
        self._epoch_scheduler_steps: int | None = None
        self._val_loss: Any = None
        self._finished = False
        self._watcher: Any = None

    @property
    def monitor(self) -> Any:
        """The run's Monitor (None before ``on_fit_start``)."""
        return self.core.monitor

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"monitor": self.core.state_dict()}
        if self.restore_rng:
            state["rng"] = rng.capture(None)  # plain values and tensors: Lightning loads with weights_only
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.core.load_state_dict(state_dict["monitor"])
        self._rng = state_dict.get("rng")
        self._resumed = True

    # ------------------------------------------------------------------ the run

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        optimizer = trainer.optimizers[0] if trainer.optimizers else None
        configs = list(trainer.lr_scheduler_configs)
        self._scheduler = configs[0].scheduler if configs else None
        self._per_epoch = bool(configs) and configs[0].interval == "epoch"
        total = trainer.estimated_stepping_batches
        config = {"total_steps": int(total) if total not in (None, float("inf")) else None}
        vocab = getattr(getattr(pl_module, "config", None), "vocab_size", None) or getattr(pl_module, "vocab_size",
                                                                                             None)
        with self._closing():
            self.core.build(optimizer=optimizer, scheduler=self._scheduler, config=config, vocab_size=vocab)
            if optimizer is not None:
                self._watcher = self.core.watch(pl_module, optimizer, self._scheduler)
            self.core.start(rank=int(trainer.global_rank), world_size=int(trainer.world_size),
                            output_dir=trainer.default_root_dir)
        self._finished = False

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if not self._resumed:
            return
        # Lightning has restored the module, optimizer and schedulers; its checkpoint holds no RNG state:
        # the streams this callback saved are set back now, then the resume boundary compares everything.
        if self._rng is not None and self.restore_rng:
            rng.restore(self._rng, None)
        with self._closing():
            self.core.monitor.resume(**({} if self.restore_rng else {"rng_restored": None,
                                                                      "rng_streams_compared": None}))

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if self._per_epoch and self._scheduler is not None:
            self._epoch_scheduler_steps = int(self._scheduler.last_epoch)

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if self._watcher is not None:  # a module that calls an inner model never runs its own forward hook
            self._watcher.observe_batch(batch)

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        if self.core.monitor is None:
            return
        self._stepping = True
        # Gradients are complete and unscaled here, and not yet clipped: the norm the contract means.
        self.core.monitor.observe(grad_norm=gradient_norm(pl_module.parameters()))

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.core.monitor is None:
            return
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if loss is not None and hasattr(loss, "detach"):
            self.core.step_loss.add(loss)  # divided by accumulate_grad_batches already: the window's sum
        if not self._stepping:
            return  # a micro-batch of an accumulation window
        self._stepping = False
        # Lightning's epoch, not the monitor's count: a checkpoint saved at on_validation_end (before this epoch's
        # epoch_end) resumes into the next epoch, and the contracts must see the same number Lightning does.
        metrics: dict[str, Any] = {"epoch": int(trainer.current_epoch)}
        if self._per_epoch and self._epoch_scheduler_steps is not None:
            metrics["scheduler_steps"] = self._epoch_scheduler_steps
        with self._closing():
            self.core.monitor.step_end(**metrics)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if self.core.monitor is None or trainer.sanity_checking or self._finished:
            return
        self._val_loss = trainer.callback_metrics.get(self.val_loss_key)
        with self._closing():
            self.core.monitor.eval_end(val_loss=self._val_loss, epoch=int(trainer.current_epoch))

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self.core.monitor is None:
            return
        val, self._val_loss = self._val_loss, None
        with self._closing():
            self.core.monitor.epoch_end(val_loss=val, epoch=int(trainer.current_epoch))

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self.core.monitor is None or self._finished:
            return
        with self._closing():
            self.core.monitor.run_end()
        self._finish()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._finish(error=exception)

    def _finish(self, error: BaseException | None = None) -> None:
        if self._finished:
            return
        self._finished = True
        if self.core.monitor is not None:
            self.core.monitor.close(error=error)

    def _closing(self) -> Any:
        # A violation raised from a hook: the ledger is closed before Lightning reports it (its on_exception
        # runs too, and finds the run finished).
        return finishing_on(self._finish)
