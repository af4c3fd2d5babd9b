"""`Monitor`: the contract's own invariant text, evaluated at the boundaries of a training loop.

Boundaries are method calls (`step_end`, `epoch_end`, `eval_end`,
`checkpoint`, `resume`, `run_end`). Host values are checked at once. Checks
that read tensors are *deferred*: at `step_end` the monitor only keeps
references to the metrics, and at a sync point (every `sync_every` steps and
at every epoch-level boundary) it evaluates each deferred invariant once over
the stacked values of all pending steps, reads one flag vector to the host,
and reports the exact first step that violated. So a step costs a few list
appends, never a host-device synchronisation.

The Monitor only orchestrates; each job has its own room: ``checks`` (what is
enforced, compiled once, with counts and why anything is not enforced),
``evaluation`` (one boundary call: supplied or not, host or deferred),
``deferred`` (the sync point's stacked evaluation), ``violation`` (rendering),
``reporting`` (the ledger, ``violations`` and the one table of what each
``on_violation`` does), ``sources`` and ``watch`` (metrics collected by hooks),
``fingerprint`` (what a resume must restore).

Modes. ``mode="supplied"`` (the default) enforces what the loop supplies: an
invariant whose inputs never arrive is not enforced, and the ledger and
``stats()`` say so and why. ``mode="strict"`` wants every selected invariant:
a declared param without a value fails at construction, and a metric any
invariant of a boundary reads must be there at the first call of that
boundary, whatever its ``when`` says.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Iterable, Mapping

from pvcontracts.contract.contractset import load_contracts
from pvcontracts.contract.model import Contract
from pvcontracts.contract.regime import Regime
from pvcontracts.runtime.checks import MODES, Check, InvariantStats, build_checks, check_runtime_params
from pvcontracts.runtime.curves import Curves
from pvcontracts.runtime.evaluation import Evaluator
from pvcontracts.runtime.history import BoundedHistory
from pvcontracts.runtime.ledger import Ledger
from pvcontracts.runtime.reporting import Reporter
from pvcontracts.runtime.sources import MetricSource
from pvcontracts.runtime.values import detached, host_state, is_host, read_scalars, to_host
from pvcontracts.runtime.violation import Violation, render

__all__ = ["InvariantStats", "Monitor"]

_NO_NAMES: frozenset[str] = frozenset()
_LOSS_CHUNK = 1024  # step losses kept by reference before they are summed into one device tensor


class Monitor:
    """Enforces loaded contracts at training boundaries. Build it with :meth:`from_contracts`.

    ``sync_every``: deferred tensor checks are settled every that many ``step_end``
    calls (and at every epoch-level boundary). ``fatal_before_step``: the default
    for :meth:`watch`. ``mode``: ``"supplied"`` or ``"strict"`` (module docstring). ``curves``: with a
    ledger, also write curve records of the step metrics (:mod:`pvcontracts.runtime.curves`).
    Metric values of ``None`` count as not given. Params are checked at construction
    as `pv validate` checks declarations; every problem is listed in one ParamError.
    """

    def __init__(self, contracts: list[Contract], regime: Regime | None = None,
                 params: Mapping[str, Any] | None = None, *, sync_every: int = 100,
                 ledger: Path | str | Ledger | None = None, distributed: bool | None = None,
                 fatal_before_step: bool = False, mode: str = "supplied", curves: bool = True) -> None:
        if isinstance(sync_every, bool) or not isinstance(sync_every, int) or sync_every < 1:
            raise ValueError(f"sync_every={sync_every!r} must be an integer of at least 1")
        if mode not in MODES:
            raise ValueError(f"mode={mode!r} must be one of {', '.join(MODES)}")
        self.regime = regime or Regime.finetune()
        self.params: dict[str, Any] = dict(params or {})
        check_runtime_params(contracts, self.regime, self.params)
        self.mode = mode
        self.sync_every = sync_every
        self.fatal_before_step = fatal_before_step
        self.contracts = contracts
        self.step = 0
        self.epoch = 0
        self.run_id = uuid.uuid4().hex
        self._since_sync = 0  # step_end calls since the last sync point
        self._observed: dict[str, Any] = {}
        self._watchers: list[Any] = []
        self._sources: list[MetricSource] = []
        self._source_states: list[dict[str, Any]] = []  # loaded before the watchers they belong to exist
        self._closed = False
        self._started = False
        self._resumed = False
        self._losses: list[Any] = []  # this epoch's step losses (tensors), for train_loss when the loop gives none
        self._loss_host = 0.0         # ... and the sum of those that were host numbers
        self._loss_count = 0
        self._rank, self._world = self._distributed_info(distributed)
        checks, history_sizes = build_checks(contracts, self.regime, self.params, mode,
                                             constants={"rank": self._rank, "world_size": self._world})
        self._history = {b: BoundedHistory(sizes) for b, sizes in history_sizes.items()}
        self._eval = Evaluator(checks, self._history, self.params, mode, self._render)
        self._by_id = {c.id: c for c in self._eval.all_checks()}
        # Abort-level step checks without history: the ones fatal_before_step can run before the update.
        self._fatal_checks = [c for c in self._eval.active["step_end"] if c.on_violation == "abort" and not c.uses_history]
        from pvcontracts.runtime.fingerprint import rng_fingerprints

        self._fingerprints: dict[str, Any] = {"start": {f"rng:{k}": v for k, v in rng_fingerprints().items()},
                                              "saved": None}
        self._reporter = Reporter(self._open_ledger(ledger), self.run_id)
        # Curve records of the step metrics, riding in the sync points' transfers; only where a ledger keeps them.
        self._curves = (Curves(self._eval.active["step_end"], contracts, self._reporter.write, sync_every)
                        if curves and self._reporter.ledger is not None else None)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_contracts(cls, path: Path | str | None = None, regime: Regime | None = None,
                       params: Mapping[str, Any] | None = None, *, select: Iterable[str] | None = None,
                       include_drafts: bool = True, **kwargs: Any) -> "Monitor":
        """Load contracts from a directory (default: the shipped ones) and enforce them.

        ``select`` limits enforcement to some contract ids. In the default supplied mode an
        invariant whose metrics the loop never produces is reported as not enforced; in
        strict mode (``mode="strict"``) every selected invariant must get its metrics.
        """
        return cls(load_contracts(path, select, include_drafts), regime, params, **kwargs)

    @staticmethod
    def _distributed_info(distributed: bool | None) -> tuple[int, int]:
        if distributed is False:
            return 0, 1
        try:
            import torch.distributed as dist
        except ImportError:
            return 0, 1
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1

    def _open_ledger(self, ledger: Path | str | Ledger | None) -> Ledger | None:
        if ledger is None or isinstance(ledger, Ledger):
            return ledger
        path = Path(ledger)
        if self._world > 1:  # one ledger per rank: no two processes append to one file
            path = path.with_name(f"{path.stem}.rank{self._rank}{path.suffix}")
        return Ledger(path)

    def _start(self) -> None:
        """The run_start record, written at the first boundary (after a load_state_dict, with the run's id)."""
        if self._started:
            return
        self._started = True
        self._reporter.run_start(regime=self.regime, params=self.params, contracts=self.contracts,
                                 invariants=sorted(self._by_id), mode=self.mode, sync_every=self.sync_every,
                                 rank=self._rank, world_size=self._world, resumed=self._resumed)

    @property
    def violations(self) -> list[Violation]:
        """Every violation acted on so far (abort, warn and record alike), in the order they were found."""
        return self._reporter.violations

    # ------------------------------------------------------------------ boundaries

    def observe(self, **metrics: Any) -> None:
        """Metrics of the current step known before ``optimizer.step()``, typically ``loss``.

        They join the next :meth:`step_end` (whose own arguments override them), and with
        ``fatal_before_step`` they are what the pre-step checks can read besides the
        watched grad_norm and lr. Never synchronises.
        """
        for name, value in metrics.items():
            if value is not None:
                self._observed[name] = detached(value)

    def step_end(self, **metrics: Any) -> None:
        """After an optimizer step (or a skipped one). Never synchronises, except every `sync_every` steps.

        ``step`` and ``epoch``, when given, must be host integers (a tensor would be a sync).
        """
        self._start()
        env = self._collect("step_end", metrics, consume=True)
        env.setdefault("step", self.step)
        env.setdefault("epoch", self.epoch)
        self._keep_loss(env.get("loss"))
        try:
            urgent = self._eval.evaluate("step_end", env, defer_tensors=True)
        finally:
            self._observed = {}
            for check in self._fatal_checks:
                check.pre_done = False
        if self._curves is not None:
            self._curves.add(env)
        if urgent and self._world == 1:
            # Across ranks every decision waits for the next scheduled sync point, or one rank
            # would raise while the others block in a collective: a hang is worse than a crash.
            self.sync()
        self.step = int(env["step"]) + 1
        self._since_sync += 1
        if self._since_sync >= self.sync_every:
            self.sync()

    def epoch_end(self, **metrics: Any) -> None:
        """End of an epoch: a sync point; the epoch counter moves on afterwards.

        Without a ``train_loss`` argument, the mean of this epoch's ``loss`` values at
        step_end is given as ``train_loss`` (read here, at the sync point).
        """
        metrics = dict(metrics)
        if self._world > 1:
            metrics.update(self._rank_checksums())
        train_loss = self._epoch_train_loss()
        if train_loss is not None and metrics.get("train_loss") is None:
            metrics["train_loss"] = train_loss
        env = self._epoch_level("epoch_end", metrics)
        self._write_counts()
        self.epoch = int(env["epoch"]) + 1

    def eval_end(self, **metrics: Any) -> None:
        self._epoch_level("eval_end", metrics)

    def checkpoint(self, **metrics: Any) -> None:
        self._epoch_level("checkpoint", metrics)
        if self._curves is not None:  # the curve up to the checkpoint is on disk before a resume could need it
            self._curves.flush()

    def resume(self, **metrics: Any) -> None:
        """After restoring a checkpoint (and :meth:`load_state_dict`).

        The monitor compares the live RNG streams, optimizer and scheduler with the fingerprints
        its saved state carries (``rng_restored``, ``optimizer_state_restored``,
        ``scheduler_state_restored``); ``step`` and ``epoch`` given here reset its counters.
        """
        own = self._resume_metrics()
        self._epoch_level("resume", {**own, **metrics})
        if "step" in metrics:
            self.step = int(metrics["step"])
        if "epoch" in metrics:
            self.epoch = int(metrics["epoch"])

    def run_end(self, **metrics: Any) -> None:
        self._epoch_level("run_end", metrics)
        if self._curves is not None:
            self._curves.flush()
        self._write_counts()
        stats = self.stats()
        self._reporter.run_end(self.step, self.epoch, {
            "enforced": sorted(k for k, v in stats.items() if v["enforced"]),
            "not_enforced": {k: v["reason"] for k, v in sorted(stats.items()) if not v["enforced"]}})

    def _epoch_level(self, boundary: str, metrics: Mapping[str, Any]) -> dict[str, Any]:
        self._start()
        self.sync()
        # Epoch-level boundaries are sync points: reading tensors here is allowed and expected.
        env = {k: to_host(v) for k, v in self._collect(boundary, metrics, consume=False).items()}
        env.setdefault("step", self.step)
        env.setdefault("epoch", self.epoch)
        self._eval.evaluate(boundary, env, defer_tensors=False)
        self.sync()  # act on what this boundary found (and, across ranks, agree on it) before returning
        return env

    def _collect(self, boundary: str, metrics: Mapping[str, Any], *, consume: bool) -> dict[str, Any]:
        env: dict[str, Any] = {"rank": self._rank, "world_size": self._world}
        for source in self._sources:
            env.update(source.collect(boundary, consume))
        if consume:
            env.update(self._observed)
        for name, value in metrics.items():  # explicit metrics override collected and observed ones
            if value is not None:
                env[name] = detached(value)
        return env

    def _keep_loss(self, loss: Any) -> None:
        """This epoch's step losses: host numbers summed at once, tensors kept by reference (no sync) and
        every _LOSS_CHUNK of them summed into one device tensor, so memory stays bounded."""
        if loss is None:
            return
        self._loss_count += 1
        if is_host(loss):
            self._loss_host += float(loss)
            return
        self._losses.append(loss)
        if len(self._losses) >= _LOSS_CHUNK:
            import torch

            self._losses = [torch.stack([v.detach().reshape(()).double() for v in self._losses]).sum()]

    def _epoch_train_loss(self) -> float | None:
        losses, count, host = self._losses, self._loss_count, self._loss_host
        self._losses, self._loss_count, self._loss_host = [], 0, 0.0
        if not count:
            return None
        if losses:
            import torch

            host += float(torch.stack([v.detach().reshape(()).double().cpu() for v in losses]).sum())  # epoch end
        return host / count

    # ------------------------------------------------------------------ the sync point and acting

    def sync(self) -> None:
        """A synchronisation point: evaluate deferred step checks and act on what they found."""
        self._sync(window_end=True)

    def _sync(self, *, window_end: bool) -> None:
        self._since_sync = 0
        # The curves' window (ended here, or full) rides in the flags' transfer: no read of its own.
        window = self._curves.window(full_only=not window_end) if self._curves is not None else None
        found = self._eval.settle(window)
        if window is not None:
            window.finish()  # written before acting: an abort leaves the curve up to its step in the ledger
        if self._world > 1:
            found = self._agree_across_ranks(found)
        self._reporter.act(found, self._count)

    def _count(self, violation: Violation) -> None:
        check = self._by_id.get(violation.invariant_id)
        if check is not None:
            check.stats.violated += 1

    def _render(self, check: Check, env: Mapping[str, Any], values: dict[str, Any], step: int | None,
                epoch: int | None, history: Any = None) -> Violation:
        return render(check, env, values, step, epoch, history, params=self.params, regime=self.regime,
                      rank=self._rank)

    def _rank_checksums(self) -> dict[str, Any]:
        """param_checksum_min/max across ranks, for the rank-consistency invariant (a collective)."""
        if not self._watchers:
            return {}
        from pvcontracts.runtime.distributed import checksum_extremes

        return checksum_extremes(self._watchers[0].param_checksum())

    def _agree_across_ranks(self, found: list[Violation]) -> list[Violation]:
        from pvcontracts.runtime.distributed import agree_on_violations

        # The step lets ranks that fell out of step fail together and clearly, not pair unrelated collectives.
        return agree_on_violations(found, self._eval.all_checks(), self._rank, self._world, step=self.step)

    # ------------------------------------------------------------------ fatal before the optimizer step

    def _before_optimizer_step(self, collected: Mapping[str, Any]) -> None:
        """The optimizer's step pre-hook, with ``fatal_before_step``: abort before the weights change.

        Evaluates the abort-level step checks whose inputs exist now (the watched grad_norm,
        lr, grads_cleared, optimizer_steps counting this step, and what the loop passed to
        :meth:`observe`), then syncs. Those checks are not evaluated again at step_end.
        """
        env: dict[str, Any] = {"rank": self._rank, "world_size": self._world, **collected, **self._observed}
        env.setdefault("step", self.step)
        env.setdefault("epoch", self.epoch)
        for check in self._fatal_checks:
            check.pre_done = False
        # An input that arrives only at step_end (scheduler_steps, say) leaves its check to step_end.
        ready = [c for c in self._fatal_checks if c.inputs.issubset(env)]
        needed = {n for c in ready for n in c.names if n in env and not is_host(env[n])}
        # The price of fatal_before_step: the tensors these checks read, brought to the host in one
        # transfer per device and dtype (a sync), then checked on the host like any host value.
        env.update(read_scalars({n: env[n] for n in needed}))
        for check in ready:
            check.pre_done = True
            self._eval.evaluate_one(check, env, None, _NO_NAMES)
        # Settle earlier steps' deferred checks too, so none of them is left to act after this update
        # (and across ranks, agree here: one rank's finding stops every rank's step).
        self._sync(window_end=False)

    # ------------------------------------------------------------------ sources

    def watch(self, model: Any, optimizer: Any, scheduler: Any = None, *, fatal_before_step: bool | None = None,
              **options: Any) -> Any:
        """Collect the standard step metrics through PyTorch's own optimizer and module hooks.

        grad_norm is the global L2 norm of the gradients as ``optimizer.step()`` finds them:
        if the loop clips first, that is the clipped norm. Call
        ``monitor.observe(grad_norm=clip_grad_norm_(...))`` before ``optimizer.step()`` to check
        the norm before clipping; the watcher then reuses it instead of computing it again
        (explicit metrics override collected ones). ``update_ratio_every=N`` measures ||delta W|| / ||W||
        on every N-th optimizer step besides the first (it copies the parameters on those steps).
        See :mod:`pvcontracts.runtime.watch` for every metric.

        ``fatal_before_step=True``: abort-level step checks whose inputs exist before the
        update (grad_norm, lr, and metrics given to :meth:`observe`) are evaluated in the
        optimizer's step pre-hook, with a sync, and a violation is raised from
        ``optimizer.step()`` before the weights change.
        """
        from pvcontracts.runtime.watch import Watcher

        fatal = self.fatal_before_step if fatal_before_step is None else fatal_before_step
        watcher = Watcher(model, optimizer, scheduler, before_step=self._before_optimizer_step if fatal else None,
                          given_grad_norm=lambda: self._observed.get("grad_norm"), **options)
        index = len(self._watchers)
        if index < len(self._source_states):  # the restored count of the watcher in this position
            watcher.load_state_dict(self._source_states[index])
        self._watchers.append(watcher)
        self._sources.append(watcher)
        return watcher

    def attach(self, source: MetricSource) -> MetricSource:
        """Add a metric source (a provider such as ``EmbeddingCollapse(model.encoder)``); returns it."""
        self._sources.append(source)
        return source

    def _resume_metrics(self) -> dict[str, Any]:
        saved = self._fingerprints.get("saved")
        if not saved:
            return {}
        from pvcontracts.runtime.fingerprint import compare

        return compare(saved, self._fingerprints.get("start") or {}, self._live_fingerprints())

    def _live_fingerprints(self) -> dict[str, str]:
        from pvcontracts.runtime.fingerprint import state_fingerprints

        return state_fingerprints([w.optimizer for w in self._watchers],
                                  [w.scheduler for w in self._watchers if w.scheduler is not None])

    # ------------------------------------------------------------------ counts and state

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per invariant: evaluated, applicable, violated, unevaluable, not_supplied, enforced, reason.

        A deferred step check is counted as evaluated at its step, and as applicable or
        violated when the next sync point settles it (call :meth:`sync` for exact counts).
        """
        called = self._eval.called
        return {c.id: c.record(c.boundary in called) for c in sorted(self._eval.all_checks(), key=lambda c: c.id)}

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue this one: counters, counts, history, the run id,
        what the watchers count, and fingerprints of the state a resume must restore.

        Scalar tensors in the history become host numbers (a checkpoint is a sync point anyway),
        so the state loads on any device. Taking it fingerprints the RNG streams, the watched
        optimizers and schedulers as they are now: call it when the checkpoint is taken.
        """
        # What a checkpoint saves now; a resume in this process (or one that loads this state) compares with it.
        self._fingerprints["saved"] = self._live_fingerprints()
        return {"step": self.step, "epoch": self.epoch, "run": self.run_id,
                "stats": {c.id: c.stats.to_dict() for c in self._eval.all_checks()},
                "history": {b: host_state(h.state_dict()) for b, h in self._history.items()},
                "sources": [w.state_dict() for w in self._watchers],
                "fingerprints": dict(self._fingerprints),
                **({"curves": self._curves.state_dict()} if self._curves is not None else {})}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        if state.get("run"):
            self.run_id = self._reporter.run_id = str(state["run"])
            self._resumed = True
        for ident, counts in state.get("stats", {}).items():
            if ident in self._by_id:
                self._by_id[ident].stats = InvariantStats(**counts)
        for b, h in state.get("history", {}).items():
            if b in self._history:
                self._history[b].load_state_dict(h)
        self._source_states = [dict(s) for s in state.get("sources", [])]
        for watcher, source_state in zip(self._watchers, self._source_states):
            watcher.load_state_dict(source_state)
        if state.get("fingerprints"):
            self._fingerprints = dict(state["fingerprints"])
        if self._curves is not None and state.get("curves"):
            self._curves.load_state_dict(state["curves"])

    def _write_counts(self) -> None:
        self._reporter.counts(self.step, self.epoch, self.stats())

    def close(self) -> None:
        """Final sync, then release hooks and the ledger."""
        self._close(settle=True)

    def _close(self, *, settle: bool) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if settle:
                self.sync()
        finally:
            for source in reversed(self._sources):  # unwrap zero_grad in the reverse order of wrapping
                source.remove()
            if self._reporter.ledger is not None:
                self._start()
                if self._curves is not None:
                    self._close_curves(quietly=not settle)
                self._write_counts()
                self._reporter.ledger.close()

    def _close_curves(self, *, quietly: bool) -> None:
        try:
            self._curves.close()
        except Exception:
            if not quietly:
                raise
            # Leaving on the loop's own exception: a curve is a picture, never worth a second error.

    def _record_quietly(self) -> None:
        """Leaving on an exception: record what the pending steps found, raise nothing."""
        if self._world > 1:  # the ranks may not all be here: a collective now could hang
            self._eval.pending, self._eval.found = [], []
            return
        try:
            found = self._eval.settle()
        except Exception:  # the loop's own exception is the one that matters
            found, self._eval.pending = list(self._eval.found), []
            self._eval.found = []
        self._reporter.act(found, self._count, raise_abort=False)

    def __enter__(self) -> "Monitor":
        return self

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is None:
            self.close()
        else:  # don't mask the original exception with a second violation, or hang in a collective
            self._record_quietly()
            self._close(settle=False)


