"""The contracts inside a HuggingFace ``Trainer`` run, in one line:
``Trainer(..., callbacks=[ContractsCallback(regime="from_scratch")])``.

What each hook does (transformers' own order, read in ``Trainer._run_epoch``):

* ``on_train_begin``: the Monitor is built with the run's config under the run's
  declarations: ``total_steps`` (``state.max_steps``), ``warmup_steps``
  (``args.get_warmup_steps``), ``peak_lr`` (``args.learning_rate``), and the schedule read
  from the Trainer's own scheduler (:mod:`.schedule`); a from_scratch regime takes
  ``model.config.vocab_size``. It watches the model and the (unwrapped) optimizer and
  scheduler, and starts the run on this process's rank, its ledger in ``args.output_dir``.
* the model's forward hook (training mode): each micro-batch's loss, as the Trainer
  backpropagates it: a loss the model already normalised over the accumulation window
  (``num_items_in_batch`` was passed) adds up; otherwise the step's loss is the mean of the
  micro-batches' (the Trainer divides by their number). One device add, no read.
* ``on_step_end`` (after ``optimizer.step()``, ``lr_scheduler.step()`` and ``zero_grad``):
  ``step_end``; the watcher's hooks gave grad norm, LR, counts.
* ``on_epoch_end`` / ``on_evaluate``: ``epoch_end`` with ``val_loss`` = ``eval_loss`` when the
  Trainer evaluates per epoch (its evaluation runs right after ``on_epoch_end``), else at
  ``on_epoch_end`` without it; every evaluation is an ``eval_end``.
* ``on_train_end``: ``run_end``, then the ledger is closed.

Checkpoints: the callback is an ``ExportableState``; the monitor's state goes into
``trainer_state.json`` of every checkpoint, and a resumed run reads it back from the
restored ``TrainerState`` (whether or not ``restore_callback_states_from_checkpoint``
is set). The resume boundary runs at the first step after the resume: optimizer and
scheduler are compared with what the checkpoint saved; the RNG streams are not (the
Trainer restores them inside its epoch loop and draws the sampler's seed from them
before any callback runs again), so INV-HEALTH-008 is reported as not enforced.

grad_norm is the norm as ``optimizer.step()`` finds the gradients: after the Trainer
clipped them (``max_grad_norm``), since the Trainer clips before any callback runs. A
violation raises ``ContractViolation`` out of ``trainer.train()`` (the message is the
violation's), after the ledger recorded it and was closed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from pvcontracts.contract.regime import Regime
from pvcontracts.integrations.core import AdapterCore, finishing_on, require
from pvcontracts.errors import PvError

_hf = require("transformers", "transformers", "4.50")
TrainerCallback = _hf.TrainerCallback
ExportableState = _hf.trainer_callback.ExportableState

__all__ = ["ContractsCallback"]

STATE_KEY = "pv_monitor"


def _unwrap(obj: Any, attribute: str) -> Any:
    """accelerate's AcceleratedOptimizer/AcceleratedScheduler wrap the real object: hooks go on that one."""
    inner = getattr(obj, attribute, None)
    return inner if inner is not None and type(obj).__module__.startswith("accelerate") else obj


class ContractsCallback(TrainerCallback, ExportableState):
    """Enforce pv-contracts at the HuggingFace Trainer's own hooks.

    Arguments are the Monitor's (``contracts`` directory, default the shipped ones; ``select``;
    ``regime``: a ``Regime``, ``"finetune"`` or ``"from_scratch"``; ``params``, the run's
    declarations, which override what the Trainer's config says; ``mode``; ``sync_every``;
    ``fatal_before_step``; ``max_consecutive_skips``), ``ledger`` (True: ``ledger.jsonl`` in
    ``args.output_dir``; a path; None) and ``val_loss_key`` (the metric of ``on_evaluate``
    that is the validation loss).
    """

    def __init__(self, contracts: str | Path | None = None, *, select: Iterable[str] | None = None,
                 include_drafts: bool = True, regime: Regime | str | Mapping[str, Any] | None = None,
                 params: Mapping[str, Any] | None = None, mode: str = "supplied", sync_every: int = 100,
                 fatal_before_step: bool = False, max_consecutive_skips: int = 5, ledger: Any = True,
                 update_ratio_every: int = 0, val_loss_key: str = "eval_loss") -> None:
        regime_arg = regime.to_dict() if isinstance(regime, Regime) else regime
        # JSON-able, so the Trainer can re-create this callback from a checkpoint (ExportableState).
        self._args = {"contracts": str(contracts) if contracts is not None else None,
                      "select": list(select) if select is not None else None, "include_drafts": include_drafts,
                      "regime": regime_arg, "params": dict(params or {}), "mode": mode, "sync_every": sync_every,
                      "fatal_before_step": fatal_before_step, "max_consecutive_skips": max_consecutive_skips,
                      "ledger": ledger if isinstance(ledger, (bool, type(None))) else str(ledger),
                      "update_ratio_every": update_ratio_every, "val_loss_key": val_loss_key}
        self.core = AdapterCore(contracts=contracts, select=select, include_drafts=include_drafts, regime=regime,
                                params=params, mode=mode, sync_every=sync_every, fatal_before_step=fatal_before_step,
                                max_consecutive_skips=max_consecutive_skips, ledger=ledger,
                                update_ratio_every=update_ratio_every)
        self.val_loss_key = val_loss_key
        self._hook: Any = None
        self._resume_pending = False
        self._epoch_pending = False
        self._finished = False

    @property
    def monitor(self) -> Any:
        """The run's Monitor (None before ``on_train_begin``)."""
        return self.core.monitor

    # ------------------------------------------------------------------ checkpoints

    def state(self) -> dict[str, Any]:
        return {"args": self._args, "attributes": {STATE_KEY: self.core.state_dict()}}

    def _saved_state(self, state: Any) -> Mapping[str, Any] | None:
        own = getattr(self, STATE_KEY, None)  # set when the Trainer re-created this callback from a checkpoint
        if own:
            return own
        stored = (getattr(state, "stateful_callbacks", None) or {}).get(type(self).__name__)
        if isinstance(stored, list):
            stored = stored[0] if stored else None
        return (stored or {}).get("attributes", {}).get(STATE_KEY) or None

    # ------------------------------------------------------------------ the run

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None,
                       lr_scheduler: Any = None, **kwargs: Any) -> None:
        optimizer = _unwrap(optimizer, "optimizer")
        scheduler = _unwrap(lr_scheduler, "scheduler")
        config = {"total_steps": int(state.max_steps), "warmup_steps": int(args.get_warmup_steps(state.max_steps)),
                  "peak_lr": float(args.learning_rate)}
        vocab = getattr(getattr(model, "config", None), "vocab_size", None)
        saved = self._saved_state(state) if state.global_step > 0 else None
        if saved:
            self.core.load_state_dict(saved)
        with self._closing_on_violation():
            monitor = self.core.build(optimizer=optimizer, scheduler=scheduler, config=config, vocab_size=vocab)
            self.core.watch(model, optimizer, scheduler)
            if model is not None and hasattr(model, "register_forward_hook"):
                self._hook = model.register_forward_hook(self._on_forward, with_kwargs=True)
            self.core.start(rank=int(args.process_index), world_size=int(args.world_size), output_dir=args.output_dir,
                            unsupplied={"grad_norm": "the Trainer clips before any callback runs; the norm given "
                                                     "is the clipped one"} if args.max_grad_norm else None)
        self._resume_pending = bool(saved)
        self._epoch_pending = False
        self._finished = False
        if not saved and state.global_step > 0:
            monitor.step = int(state.global_step)  # resumed without saved monitor state: count on from the Trainer

    def _on_forward(self, module: Any, args: Any, kwargs: Any, output: Any) -> None:
        if not module.training:
            return
        loss = getattr(output, "loss", None)
        if loss is None and isinstance(output, Mapping):
            loss = output.get("loss")
        if loss is None:
            return
        # With num_items_in_batch the model normalised over the whole window (the Trainer adds the micro-batches'
        # losses up); without it the Trainer divides each by the window's size.
        self.core.step_loss.add(loss, mean="num_items_in_batch" not in kwargs)

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._resume_pending:
            # The Trainer restored optimizer and scheduler before on_train_begin: compare them here. It restores
            # the RNG streams inside its epoch loop and then draws from them (the sampler's seed) before any
            # callback runs again, so no hook sees the restored state: rng_restored is not supplied.
            self._resume_pending = False
            with self._closing_on_violation():
                self.core.monitor.resume(rng_restored=None, rng_streams_compared=None)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        with self._closing_on_violation():
            self.core.monitor.step_end()

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        strategy = str(getattr(args.eval_strategy, "value", args.eval_strategy))
        if strategy == "epoch":  # (the Trainer refuses an eval strategy without an eval dataset)
            self._epoch_pending = True  # the Trainer evaluates next: epoch_end gets its eval_loss
            return
        with self._closing_on_violation():
            self.core.monitor.epoch_end()

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Mapping[str, Any] | None = None,
                    **kwargs: Any) -> None:
        if self.core.monitor is None or self._finished:
            return
        val = (metrics or {}).get(self.val_loss_key)
        with self._closing_on_violation():
            self.core.monitor.eval_end(val_loss=val)
            if self._epoch_pending:
                self._epoch_pending = False
                self.core.monitor.epoch_end(val_loss=val)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.core.monitor is None or self._finished:
            return
        with self._closing_on_violation():
            if self._epoch_pending:
                self._epoch_pending = False
                self.core.monitor.epoch_end()
            self.core.monitor.run_end()
        self._finish()

    def _finish(self, error: BaseException | None = None) -> None:
        self._finished = True
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        if self.core.monitor is not None:
            self.core.monitor.close(error=error)

    def _closing_on_violation(self) -> Any:
        # A violation (or refusal) raised from a hook ends the run: the ledger is closed first, then it propagates
        # out of ``trainer.train()``. The Trainer has no exception hook of its own.
        return finishing_on(self._finish, PvError)
