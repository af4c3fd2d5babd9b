"""`Monitor`: the contract's own invariant text, evaluated at the boundaries of a training loop.

Boundaries are method calls (`step_end`, `epoch_end`, `eval_end`,
`checkpoint`, `resume`, `run_end`). Host values are checked at once. Checks
that read tensors are *deferred*: at `step_end` the monitor only keeps
references to the metrics, and at a sync point (every `sync_every` steps and
at every epoch-level boundary) it evaluates each deferred invariant once over
the stacked values of all pending steps, reads one flag vector to the host,
and reports the exact first step that violated. So a step costs a few list
appends, never a host-device synchronisation.

Invariants that read history (``prev``, windows) on tensors are evaluated at
the step itself, as tensor ops on the device, with the history values they
read remembered for the message; only their verdict waits for the sync point.
Violations of ``warn`` and ``record`` invariants found at ``step_end`` are
acted on at the next sync point too (a host check that fails every step must
not force a synchronisation every step); an ``abort`` found on the host is a
sync point at once. ``fatal_before_step=True`` trades a sync per optimizer step
for aborting *before* the weights change: see :meth:`Monitor.watch`.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from pvcontracts.contract.compiled import CompiledInvariant, compile_invariant
from pvcontracts.contract.expr import parse_expression
from pvcontracts.contract.contractset import load_contracts
from pvcontracts.contract.model import Contract
from pvcontracts.contract.regime import Regime
from pvcontracts.contract.vocabulary import BOUNDARIES, metrics_at
from pvcontracts.errors import EvaluationError, HistoryUnavailable, PvError
from pvcontracts.runtime.history import BoundedHistory
from pvcontracts.runtime.ledger import Ledger
from pvcontracts.runtime.violation import (
    ContractViolation,
    ContractWarning,
    MissingMetricError,
    MissingParamError,
    Violation,
)

_HOST_TYPES = (bool, int, float)


_NO_NAMES: frozenset[str] = frozenset()


def _is_host(value: Any) -> bool:
    return isinstance(value, _HOST_TYPES)


def _tensor_names(env: Mapping[str, Any]) -> frozenset[str]:
    return frozenset([k for k, v in env.items() if not isinstance(v, _HOST_TYPES)])


@dataclass
class InvariantStats:
    """Counts for one invariant; the ledger and `pv check` report them."""

    evaluated: int = 0       # boundary calls that considered it
    applicable: int = 0      # ... where its `when` held
    violated: int = 0
    unevaluable: int = 0     # history not yet available (a guard is missing in the contract)

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Check:
    compiled: CompiledInvariant
    contract: Contract
    boundary: str
    uses_history: bool
    history_metrics: dict[str, int]
    stats: InvariantStats = field(default_factory=InvariantStats)
    # Precomputed once, read at every step: the hot path must not rebuild sets.
    names: frozenset[str] = frozenset()        # free names of check, when and lets
    guard_names: frozenset[str] = frozenset()  # free names `when` reads, through the lets it needs
    static_names: frozenset[str] = frozenset() # names params, the regime or defaults supply
    history_labels: tuple[tuple[str, Any], ...] = ()  # ("prev(x)", expression) shown in a message
    static_env: dict[str, Any] = field(default_factory=dict)  # defaults < regime < params, merged once
    pre_done: bool = False                     # evaluated before this step's optimizer step

    @property
    def id(self) -> str:
        return self.compiled.id

    @property
    def on_violation(self) -> str:
        return self.compiled.invariant.on_violation


@dataclass
class _Pending:
    """A deferred step check: the metric references of one step, evaluated at the next sync point.

    ``result`` is set for checks that read history: (applies, holds), already
    computed on the device at the step, with ``reads`` the history values used.
    """

    check: _Check
    step: int
    epoch: int
    env: dict[str, Any]
    result: tuple[Any, Any] | None = None
    reads: dict[tuple[Any, ...], Any] | None = None


class _RecordingHistory:
    """Reads through to the live history and remembers what it returned, for a later message."""

    def __init__(self, history: BoundedHistory) -> None:
        self._history = history
        self.reads: dict[tuple[Any, ...], Any] = {}

    def prev(self, metric: str) -> Any:
        value = self.reads[("prev", metric)] = self._history.prev(metric)
        return value

    def first(self, metric: str) -> Any:
        value = self.reads[("first", metric)] = self._history.first(metric)
        return value

    def window(self, metric: str, n: int) -> list[Any]:
        values = self.reads[("window", metric, n)] = self._history.window(metric, n)
        return values


class _ReplayHistory:
    """The history a deferred evaluation saw, as host values: the message shows what the check read."""

    def __init__(self, reads: Mapping[tuple[Any, ...], Any]) -> None:
        self._reads = {k: ([_to_host(x) for x in v] if k[0] == "window" else _to_host(v)) for k, v in reads.items()}

    def _get(self, key: tuple[Any, ...]) -> Any:
        if key not in self._reads:
            raise HistoryUnavailable(f"{key[0]}({key[1]}) was not read at that step", (key[1],))
        return self._reads[key]

    def prev(self, metric: str) -> Any:
        return self._get(("prev", metric))

    def first(self, metric: str) -> Any:
        return self._get(("first", metric))

    def window(self, metric: str, n: int) -> list[Any]:
        return self._get(("window", metric, n))


class Monitor:
    """Enforces loaded contracts at training boundaries. Build it with :meth:`from_contracts`.

    ``sync_every``: deferred tensor checks are settled every that many ``step_end``
    calls (and at every epoch-level boundary). ``fatal_before_step``: the default
    for :meth:`watch`. Metric values of ``None`` count as not given.
    """

    def __init__(self, contracts: list[Contract], regime: Regime | None = None,
                 params: Mapping[str, Any] | None = None, *, sync_every: int = 100,
                 ledger: Path | str | Ledger | None = None, distributed: bool | None = None,
                 fatal_before_step: bool = False) -> None:
        if isinstance(sync_every, bool) or not isinstance(sync_every, int) or sync_every < 1:
            raise ValueError(f"sync_every={sync_every!r} must be an integer of at least 1")
        self.regime = regime or Regime.finetune()
        self.params: dict[str, Any] = dict(params or {})
        self.sync_every = sync_every
        self.fatal_before_step = fatal_before_step
        self.contracts = contracts
        self.step = 0
        self.epoch = 0
        self._since_sync = 0  # step_end calls since the last sync point
        self._checks: dict[str, list[_Check]] = {b: [] for b in BOUNDARIES}
        self._pending: list[_Pending] = []
        self._deferred_host: list[Violation] = []
        self._observed: dict[str, Any] = {}
        self._watchers: list[Any] = []
        self._closed = False
        self._rank, self._world = self._distributed_info(distributed)
        history_sizes: dict[str, dict[str, int]] = {b: {} for b in BOUNDARIES}
        supplied = frozenset(self.params) | frozenset(self.regime.params())
        for contract in contracts:
            for inv in contract.invariants:
                compiled = compile_invariant(contract, inv, self.regime)
                hist: dict[str, int] = {}
                for expr in [compiled.check, *(e for _, e in compiled.lets)] + ([compiled.when] if compiled.when else []):
                    for req in expr.history:
                        n = req.window if isinstance(req.window, int) else int(self._param_value(compiled, req.window))
                        hist[req.metric] = max(hist.get(req.metric, 0), n, 2)
                for metric, n in hist.items():
                    history_sizes[inv.at][metric] = max(history_sizes[inv.at].get(metric, 0), n)
                self._checks[inv.at].append(_Check(
                    compiled, contract, inv.at, bool(hist), hist,
                    names=frozenset(compiled.names()), guard_names=_guard_names(compiled),
                    static_names=supplied | {n for n, _ in compiled.defaults},
                    history_labels=_history_labels(compiled),
                    static_env=compiled.static_env(self.params)))
        self._require_params()
        self._by_id = {c.id: c for c in self._all_checks()}
        # Abort-level step checks without history: the ones fatal_before_step can run before the update.
        self._fatal_checks = [c for c in self._checks["step_end"] if c.on_violation == "abort" and not c.uses_history]
        self._history = {b: BoundedHistory(sizes) for b, sizes in history_sizes.items()}
        self._ledger = self._open_ledger(ledger)
        self._write({"kind": "run_start", "time": time.time(), "regime": self.regime.to_dict(),
                     "params": {k: v for k, v in sorted(self.params.items()) if _is_host(v) or isinstance(v, str)},
                     "contracts": [{"id": c.id, "version": c.version} for c in contracts],
                     "sync_every": sync_every, "rank": self._rank, "world_size": self._world, "pid": os.getpid()})

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_contracts(cls, path: Path | str | None = None, regime: Regime | None = None,
                       params: Mapping[str, Any] | None = None, *, select: Iterable[str] | None = None,
                       include_drafts: bool = True, **kwargs: Any) -> "Monitor":
        """Load contracts from a directory (default: the shipped ones) and enforce them.

        ``select`` limits enforcement to some contract ids: every invariant of every selected
        contract must get the metrics it reads, so select what your loop actually measures.
        """
        return cls(load_contracts(path, select, include_drafts), regime, params, **kwargs)

    def _param_value(self, compiled: CompiledInvariant, name: str) -> Any:
        if name in self.params:
            return self.params[name]
        regime_params = self.regime.params()
        if name in regime_params:
            return regime_params[name]
        default = dict(compiled.defaults).get(name)
        if default is None:
            raise PvError(f"{compiled.id} needs param '{name}' to size its history window; pass params={{'{name}': ...}}")
        return default

    def _require_params(self) -> None:
        """Fail at construction, not at step 10,000, when a declared param has no value."""
        missing: dict[str, list[str]] = {}
        supplied = set(self.params) | set(self.regime.params())
        for checks in self._checks.values():
            for check in checks:
                declared = check.contract.params
                defaults = dict(check.compiled.defaults)
                for name in sorted(check.compiled.names()):
                    if name in declared and name not in supplied and name not in defaults:
                        missing.setdefault(name, []).append(check.id)
        if missing:
            raise MissingParamError(missing)

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

    # ------------------------------------------------------------------ boundaries

    def observe(self, **metrics: Any) -> None:
        """Metrics of the current step known before ``optimizer.step()``, typically ``loss``.

        They join the next :meth:`step_end` (whose own arguments override them), and with
        ``fatal_before_step`` they are what the pre-step checks can read besides the
        watched grad_norm and lr. Never synchronises.
        """
        for name, value in metrics.items():
            if value is not None:
                self._observed[name] = _detached(value)

    def step_end(self, **metrics: Any) -> None:
        """After an optimizer step (or a skipped one). Never synchronises, except every `sync_every` steps.

        ``step`` and ``epoch``, when given, must be host integers (a tensor would be a sync).
        """
        env = self._collect(metrics, consume=True)
        env.setdefault("step", self.step)
        env.setdefault("epoch", self.epoch)
        try:
            self._evaluate("step_end", env, defer_tensors=True)
        finally:
            self._observed = {}
            for check in self._fatal_checks:
                check.pre_done = False
        self.step = int(env["step"]) + 1
        self._since_sync += 1
        if self._since_sync >= self.sync_every:
            self.sync()

    def epoch_end(self, **metrics: Any) -> None:
        """End of an epoch: a sync point; the epoch counter moves on afterwards."""
        metrics = dict(metrics)
        if self._world > 1:
            metrics.update(self._rank_checksums())
        env = self._epoch_level("epoch_end", metrics)
        self._write_counts()
        self.epoch = int(env["epoch"]) + 1

    def eval_end(self, **metrics: Any) -> None:
        self._epoch_level("eval_end", metrics)

    def checkpoint(self, **metrics: Any) -> None:
        self._epoch_level("checkpoint", metrics)

    def resume(self, **metrics: Any) -> None:
        """After restoring a checkpoint; ``step`` and ``epoch`` given here reset the monitor's counters."""
        self._epoch_level("resume", metrics)
        if "step" in metrics:
            self.step = int(metrics["step"])
        if "epoch" in metrics:
            self.epoch = int(metrics["epoch"])

    def run_end(self, **metrics: Any) -> None:
        self._epoch_level("run_end", metrics)
        self._write_counts()
        self._write({"kind": "run_end", "time": time.time(), "step": self.step, "epoch": self.epoch})
        if self._ledger is not None:
            self._ledger.sync()

    def _epoch_level(self, boundary: str, metrics: Mapping[str, Any]) -> dict[str, Any]:
        self.sync()
        # Epoch-level boundaries are sync points: reading tensors here is allowed and expected.
        env = {k: _to_host(v) for k, v in self._boundary_env(metrics).items()}
        self._evaluate(boundary, env, defer_tensors=False)
        self.sync()  # act on what this boundary found (and, across ranks, agree on it) before returning
        return env

    def _boundary_env(self, metrics: Mapping[str, Any]) -> dict[str, Any]:
        env = self._collect(metrics, consume=False)
        env.setdefault("step", self.step)
        env.setdefault("epoch", self.epoch)
        return env

    def _collect(self, metrics: Mapping[str, Any], *, consume: bool) -> dict[str, Any]:
        env: dict[str, Any] = {"rank": self._rank, "world_size": self._world}
        for watcher in self._watchers:
            env.update(watcher.collect(consume=consume))
        if consume:
            env.update(self._observed)
        for name, value in metrics.items():  # explicit metrics override collected and observed ones
            if value is not None:
                # Detached: a pending step must not keep its autograd graph alive until the sync point.
                env[name] = _detached(value)
        return env

    # ------------------------------------------------------------------ evaluation

    def _evaluate(self, boundary: str, env: dict[str, Any], *, defer_tensors: bool) -> None:
        checks = self._checks[boundary]
        if not checks:
            return
        history = self._history[boundary]
        history.push(env)
        # Names holding tensors, found once per boundary call: each check then asks a set, not every value.
        tensors = _tensor_names(env) if defer_tensors else _NO_NAMES
        for check in checks:
            if check.pre_done:  # already evaluated before this step's optimizer step
                continue
            self._evaluate_one(check, env, history, tensors)

    def _evaluate_one(self, check: _Check, env: dict[str, Any], history: BoundedHistory | None,
                      tensors: frozenset[str]) -> None:
        """Host values are checked now; a check reading a tensor in ``tensors`` is deferred."""
        check.stats.evaluated += 1
        compiled = check.compiled
        if check.names.isdisjoint(tensors):
            try:
                verdict = _verdict(check, env, history, host=True)
            except HistoryUnavailable:
                check.stats.unevaluable += 1
                return
            except EvaluationError as exc:
                raise self._missing(check, exc) from None
            if verdict is None:
                return
            check.stats.applicable += 1
            if not _truth(verdict[1]):
                values = compiled.evaluate(env, self.params, history).values  # for the message, only now
                self._violated(check, env, values, history)
            return
        # Tensors at step_end: decide on the host only what the host already knows.
        if compiled.when is not None and all(_is_host(env[n]) for n in check.guard_names if n in env):
            try:
                applies = _guard(check, env, history)
            except HistoryUnavailable:
                check.stats.unevaluable += 1
                return
            except EvaluationError as exc:
                raise self._missing(check, exc) from None
            if _is_host(applies) and not applies:
                return
        self._require_names(check, env)
        step, epoch = int(env["step"]), int(env["epoch"])
        if not check.uses_history or history is None:
            self._pending.append(_Pending(check, step, epoch, env))
            return
        # History is only valid now: evaluate on the device at this step, settle the verdict later.
        recorder = _RecordingHistory(history)
        try:
            verdict = _verdict(check, env, recorder, host=False)
        except HistoryUnavailable:
            check.stats.unevaluable += 1
            return
        except EvaluationError as exc:
            raise self._missing(check, exc) from None
        if verdict is not None:
            self._pending.append(_Pending(check, step, epoch, env, verdict, recorder.reads))

    def _require_names(self, check: _Check, env: Mapping[str, Any]) -> None:
        missing = [n for n in check.names if n not in env and n not in check.static_names]
        if missing:
            raise self._missing(check, EvaluationError("missing", tuple(sorted(missing))))

    def _missing(self, check: _Check, exc: EvaluationError) -> MissingMetricError:
        names = exc.missing or ("?",)
        watched = {"grad_norm", "lr", "optimizer_steps", "scheduler_steps", "optimizer_stepped", "grads_cleared",
                   "update_ratio"}
        if set(names) & watched and check.boundary == "step_end":
            hint = "pass it, or call monitor.watch(model, optimizer, scheduler) to collect it"
        elif all(n in metrics_at(check.boundary) for n in names):
            hint = f"pass it to {check.boundary}(), or leave {check.contract.id} out with select="
        else:
            hint = f"pass it (declared by {check.contract.id}), or leave that contract out with select="
        return MissingMetricError(check.id, check.boundary, names, hint)

    def sync(self) -> None:
        """A synchronisation point: evaluate deferred step checks and act on what they found."""
        self._since_sync = 0
        found: list[Violation] = []
        if self._pending:
            found = self._flush_pending()
        found.extend(self._deferred_host)
        self._deferred_host = []
        if self._world > 1:
            found = self._agree_across_ranks(found)
        self._act(found)

    def _flush_pending(self) -> list[Violation]:
        from pvcontracts.runtime.deferred import evaluate_pending

        pending, self._pending = self._pending, []
        out: list[Violation] = []
        for check, bad_entries, count in evaluate_pending(pending, self.params):
            check.stats.applicable += count
            for entry in bad_entries:  # every violating step is recorded, not only the first
                host_env = {k: _to_host(v) for k, v in entry.env.items()}
                history = _ReplayHistory(entry.reads) if entry.reads is not None else None
                try:
                    values = check.compiled.evaluate(host_env, self.params, history).values
                except EvaluationError:  # the verdict is taken; the message shows what it can
                    values = {n: host_env[n] for n in check.compiled.check.names if n in host_env}
                out.append(self._make_violation(check, host_env, values, entry.step, entry.epoch, history))
        return out

    def _violated(self, check: _Check, env: Mapping[str, Any], values: dict[str, Any],
                  history: Any = None) -> None:
        violation = self._make_violation(check, env, values, int(env.get("step", self.step)),
                                         int(env.get("epoch", self.epoch)), history)
        self._deferred_host.append(violation)
        if self._world == 1 and check.on_violation == "abort" and check.boundary == "step_end":
            # An abort is a sync point anyway: settle the deferred steps first, so the earliest
            # violation is the one reported. warn/record wait for the next sync point: a host
            # check failing every step must not make every step a synchronisation. At epoch-level
            # boundaries every check runs first and the boundary's closing sync acts on all of them,
            # so the ledger says the same thing whatever the world size.
            self.sync()
        # Across ranks every decision waits for the next scheduled sync point, or one rank
        # would raise while the others block in a collective: a hang is worse than a crash.

    def _make_violation(self, check: _Check, env: Mapping[str, Any], values: dict[str, Any],
                        step: int | None, epoch: int | None, history: Any = None) -> Violation:
        compiled = check.compiled
        inv = compiled.invariant
        let_texts = {}
        let_inputs: dict[str, dict[str, Any]] = {}
        keyed = set()
        lets = dict(compiled.lets)
        for name, expr in compiled.lets:
            let_texts[name] = _one_line(expr.text)
            let_inputs[name] = {n: _resolve(n, env, self.params, compiled) for n in expr.names if n not in lets}
            if inv.lets[name].by_regime is not None:
                keyed.add(name)
        values = dict(values)
        if history is not None and check.history_labels:
            full = {**dict(compiled.defaults), **compiled.regime.params(), **self.params, **env}
            for label, expr in check.history_labels:
                try:  # best effort in a message; the verdict is already taken
                    values[label] = _to_host(expr.evaluate(full, history))
                except Exception:
                    pass
        order = tuple(sorted(compiled.check.names, key=lambda n: compiled.check.names[n]))
        return Violation(
            name_order=order,
            invariant_id=inv.id, title=inv.title, contract_id=compiled.contract_id,
            contract_version=compiled.contract_version, boundary=check.boundary,
            step=step, epoch=epoch, expression=_one_line(compiled.check.text),
            values={k: v for k, v in values.items()}, let_texts=let_texts, let_inputs=let_inputs,
            regime=self.regime.kind, regime_keyed=frozenset(keyed), on_violation=inv.on_violation,
            rank=self._rank, observed_on_rank=self._rank,
        )

    def _rank_checksums(self) -> dict[str, Any]:
        """param_checksum_min/max across ranks, for the rank-consistency invariant (a collective)."""
        if not self._watchers:
            return {}
        from pvcontracts.runtime.distributed import checksum_extremes

        return checksum_extremes(self._watchers[0].param_checksum())

    def _agree_across_ranks(self, found: list[Violation]) -> list[Violation]:
        from pvcontracts.runtime.distributed import agree_on_violations

        # The step lets ranks that fell out of step fail together and clearly, not pair unrelated collectives.
        return agree_on_violations(found, self._all_checks(), self._rank, self._world, step=self.step)

    def _all_checks(self) -> list[_Check]:
        return [c for b in BOUNDARIES for c in self._checks[b]]

    def _act(self, found: list[Violation]) -> None:
        if not found:
            return
        found.sort(key=lambda v: (v.step if v.step is not None else -1, v.invariant_id))
        abort: Violation | None = None
        for v in found:  # every one is counted and written before the first abort is raised
            check = self._by_id.get(v.invariant_id)
            if check is not None:
                check.stats.violated += 1
            self._write(v.to_record())
            if v.on_violation == "abort" and abort is None:
                abort = v
            elif v.on_violation == "warn":
                warnings.warn(ContractWarning(v.message()), stacklevel=4)
        if abort is not None:
            if self._ledger is not None:
                self._ledger.sync()
            raise ContractViolation(abort)

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
        ready = [c for c in self._fatal_checks if all(n in env or n in c.static_names for n in c.names)]
        needed = {n for c in ready for n in c.names if n in env and not _is_host(env[n])}
        # The price of fatal_before_step: the tensors these checks read, brought to the host in one
        # transfer per device and dtype (a sync), then checked on the host like any host value.
        env.update(_read_scalars({n: env[n] for n in needed}))
        for check in ready:
            check.pre_done = True
            self._evaluate_one(check, env, None, _NO_NAMES)
        # Settle earlier steps' deferred checks too, so none of them is left to act after this update
        # (and across ranks, agree here: one rank's finding stops every rank's step).
        self.sync()

    # ------------------------------------------------------------------ watching and bookkeeping

    def watch(self, model: Any, optimizer: Any, scheduler: Any = None, *, fatal_before_step: bool | None = None,
              **options: Any) -> Any:
        """Collect the standard step metrics through PyTorch's own optimizer hooks.

        grad_norm is the global L2 norm of the gradients as ``optimizer.step()`` finds them:
        if the loop clips first, that is the clipped norm. Call
        ``monitor.observe(grad_norm=clip_grad_norm_(...))`` before ``optimizer.step()`` to check
        the norm before clipping; the watcher then reuses it instead of computing it again
        (explicit metrics override collected ones). ``update_ratio_every=N`` measures ||delta W|| / ||W|| on
        every N-th optimizer step (it copies the parameters on those steps).

        ``fatal_before_step=True``: abort-level step checks whose inputs exist before the
        update (grad_norm, lr, and metrics given to :meth:`observe`) are evaluated in the
        optimizer's step pre-hook, with a sync, and a violation is raised from
        ``optimizer.step()`` before the weights change.
        """
        from pvcontracts.runtime.watch import Watcher

        fatal = self.fatal_before_step if fatal_before_step is None else fatal_before_step
        watcher = Watcher(model, optimizer, scheduler, before_step=self._before_optimizer_step if fatal else None,
                          given_grad_norm=lambda: self._observed.get("grad_norm"), **options)
        self._watchers.append(watcher)
        return watcher

    def stats(self) -> dict[str, dict[str, int]]:
        """Per invariant: evaluated, applicable, violated, unevaluable.

        A deferred step check is counted as evaluated at its step, and as applicable or
        violated when the next sync point settles it (call :meth:`sync` for exact counts).
        """
        return {c.id: c.stats.to_dict() for c in sorted(self._all_checks(), key=lambda c: c.id)}

    def state_dict(self) -> dict[str, Any]:
        """Counters, counts and history, so that a resumed run keeps prev() and windows intact.

        Scalar tensors in the history become host numbers (a checkpoint is a sync point anyway),
        so the state loads on any device and serialises as JSON.
        """
        return {"step": self.step, "epoch": self.epoch,
                "stats": {c.id: c.stats.to_dict() for c in self._all_checks()},
                "history": {b: _host_state(h.state_dict()) for b, h in self._history.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        for ident, counts in state.get("stats", {}).items():
            if ident in self._by_id:
                self._by_id[ident].stats = InvariantStats(**counts)
        for b, h in state.get("history", {}).items():
            if b in self._history:
                self._history[b].load_state_dict(h)

    def _write(self, record: dict[str, Any]) -> None:
        if self._ledger is not None:
            self._ledger.write(record)

    def _write_counts(self) -> None:
        self._write({"kind": "counts", "step": self.step, "epoch": self.epoch, "invariants": self.stats()})
        if self._ledger is not None:
            self._ledger.sync()

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
            for watcher in reversed(self._watchers):  # unwrap zero_grad in the reverse order of wrapping
                watcher.remove()
            if self._ledger is not None:
                self._write_counts()
                self._ledger.close()

    def _record_quietly(self) -> None:
        """Leaving on an exception: record what the pending steps found, raise nothing."""
        pending, self._pending = self._pending, []
        found, self._deferred_host = self._deferred_host, []
        if self._world > 1:
            return  # the ranks may not all be here: a collective now could hang
        try:
            if pending:
                self._pending = pending
                found.extend(self._flush_pending())
        except Exception:  # the loop's own exception is the one that matters
            pass
        self._pending = []
        for v in sorted(found, key=lambda v: (v.step if v.step is not None else -1, v.invariant_id)):
            check = self._by_id.get(v.invariant_id)
            if check is not None:
                check.stats.violated += 1
            try:
                self._write(v.to_record())
            except Exception:
                pass

    def __enter__(self) -> "Monitor":
        return self

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is None:
            self.close()
        else:  # don't mask the original exception with a second violation, or hang in a collective
            self._record_quietly()
            self._close(settle=False)


def _guard_names(compiled: CompiledInvariant) -> frozenset[str]:
    if compiled.when is None:
        return frozenset()
    lets = dict(compiled.lets)
    names = set(compiled.when.names)
    for name in compiled.when_lets:
        names |= set(lets[name].names)
    return frozenset(names - set(lets))


def _history_labels(compiled: CompiledInvariant) -> tuple[tuple[str, Any], ...]:
    """The history calls of the check, each as its own expression: the message shows their values."""
    out = []
    seen = set()
    for req in compiled.check.history:
        label = f"{req.function}({req.metric})" if req.function in ("prev", "first") else \
            f"{req.function}({req.metric}, {req.window})"
        if label not in seen:
            seen.add(label)
            out.append((label, parse_expression(label)))
    return tuple(out)


def _guard(check: _Check, metrics: Mapping[str, Any], history: Any) -> Any:
    """Just `when`, on the check's pre-merged static env (merged once at construction, not per step)."""
    return check.compiled.guard({**check.static_env, **metrics}, history)


def _verdict(check: _Check, metrics: Mapping[str, Any], history: Any, *, host: bool) -> tuple[Any, Any] | None:
    """(applies, holds) of one evaluation; None when `when` is false. Order: CompiledInvariant.verdict."""
    return check.compiled.verdict({**check.static_env, **metrics}, history, branch_on_guard=host)


def _read_scalars(tensors: Mapping[str, Any]) -> dict[str, Any]:
    """One-element tensors as host numbers, read with one transfer per (device, dtype) group."""
    groups: dict[tuple[Any, Any], list[str]] = {}
    for name, value in tensors.items():
        if hasattr(value, "numel") and value.numel() == 1:
            groups.setdefault((value.device, value.dtype), []).append(name)
    out: dict[str, Any] = {}
    if not groups:
        return out
    import torch

    for names in groups.values():
        values = torch.stack([tensors[n].detach().reshape(()) for n in names]).tolist()  # a sync, on purpose
        out.update(zip(names, values))
    return out


def _one_line(text: str) -> str:
    """Expression text as one line: a folded YAML block keeps its line breaks, a message should not."""
    return " ".join(text.split())


def _detached(value: Any) -> Any:
    if getattr(value, "requires_grad", False):
        return value.detach()
    return value


def _host_state(state: dict[str, Any]) -> dict[str, Any]:
    return {"values": {k: [_to_host(v) for v in vs] for k, vs in state["values"].items()},
            "first": {k: _to_host(v) for k, v in state["first"].items()}}


def _truth(value: Any) -> bool:
    if _is_host(value):
        return bool(value)
    return bool(value.all().item()) if hasattr(value, "all") else bool(value)


def _to_host(value: Any) -> Any:
    if hasattr(value, "detach") and hasattr(value, "numel") and value.numel() == 1:
        return value.detach().reshape(()).item()
    return value


def _resolve(name: str, env: Mapping[str, Any], params: Mapping[str, Any], compiled: CompiledInvariant) -> Any:
    if name in env:
        return env[name]
    if name in params:
        return params[name]
    regime = compiled.regime.params()
    if name in regime:
        return regime[name]
    return dict(compiled.defaults).get(name)
