"""`Monitor`: the contract's own invariant text, evaluated at the boundaries of a training loop.

Boundaries are method calls (`step_end`, `epoch_end`, `eval_end`,
`checkpoint`, `resume`, `run_end`). Host values are checked at once. Checks
that read tensors are *deferred*: at `step_end` the monitor only keeps
references to the metrics, and at a sync point (every `sync_every` steps and
at every epoch-level boundary) it evaluates each deferred invariant once over
the stacked values of all pending steps, reads one flag vector to the host,
and reports the exact first step that violated. So a step costs a few list
appends, never a host-device synchronisation.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from pvcontracts.contract.compiled import CompiledInvariant, compile_invariant
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


def _is_host(value: Any) -> bool:
    return isinstance(value, _HOST_TYPES)


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

    @property
    def id(self) -> str:
        return self.compiled.id


@dataclass
class _Pending:
    """A deferred step check: the metric references of one step, evaluated at the next sync point."""

    check: _Check
    step: int
    epoch: int
    env: dict[str, Any]


class Monitor:
    """Enforces loaded contracts at training boundaries. Build it with :meth:`from_contracts`."""

    def __init__(self, contracts: list[Contract], regime: Regime | None = None,
                 params: Mapping[str, Any] | None = None, *, sync_every: int = 100,
                 ledger: Path | str | Ledger | None = None, distributed: bool | None = None) -> None:
        if sync_every < 1:
            raise ValueError(f"sync_every={sync_every!r} must be at least 1")
        self.regime = regime or Regime.finetune()
        self.params: dict[str, Any] = dict(params or {})
        self.sync_every = sync_every
        self.contracts = contracts
        self.step = 0
        self.epoch = 0
        self._checks: dict[str, list[_Check]] = {b: [] for b in BOUNDARIES}
        self._pending: list[_Pending] = []
        self._deferred_host: list[Violation] = []
        self._watchers: list[Any] = []
        self._closed = False
        self._rank, self._world = self._distributed_info(distributed)
        history_sizes: dict[str, dict[str, int]] = {b: {} for b in BOUNDARIES}
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
                self._checks[inv.at].append(_Check(compiled, contract, inv.at, bool(hist), hist))
        self._require_params()
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

    def step_end(self, **metrics: Any) -> None:
        """After an optimizer step (or a skipped one). Never synchronises, except every `sync_every` steps."""
        env = self._collect(metrics)
        env.setdefault("step", self.step)
        env.setdefault("epoch", self.epoch)
        self._evaluate("step_end", env, defer_tensors=True)
        self.step = int(env["step"]) + 1
        if self.step % self.sync_every == 0:
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
        env = self._boundary_env(metrics)
        self._evaluate(boundary, env, defer_tensors=False)
        if self._world > 1:
            self.sync()  # every rank reaches this boundary, so all agree here on what it found
        return env

    def _boundary_env(self, metrics: Mapping[str, Any]) -> dict[str, Any]:
        env = self._collect(metrics)
        env.setdefault("step", self.step)
        env.setdefault("epoch", self.epoch)
        return env

    def _collect(self, metrics: Mapping[str, Any]) -> dict[str, Any]:
        env: dict[str, Any] = {"rank": self._rank, "world_size": self._world}
        for watcher in self._watchers:
            env.update(watcher.collect())
        env.update(metrics)  # explicit metrics override collected ones
        return env

    # ------------------------------------------------------------------ evaluation

    def _evaluate(self, boundary: str, env: dict[str, Any], *, defer_tensors: bool) -> None:
        checks = self._checks[boundary]
        if not checks:
            return
        history = self._history[boundary]
        history.push(env)
        for check in checks:
            check.stats.evaluated += 1
            compiled = check.compiled
            if defer_tensors and not check.uses_history and not self._all_host(compiled, env):
                # Guard first on the host when it can be, so a false `when` costs nothing later.
                if compiled.when is not None and self._names_host(compiled.when.names, env, compiled):
                    try:
                        applies = compiled.evaluate_guard(env, self.params)
                    except EvaluationError as exc:
                        raise self._missing(check, exc) from None
                    if not applies:
                        continue
                self._require_names(check, env)
                self._pending.append(_Pending(check, int(env["step"]), int(env["epoch"]), env))
                continue
            try:
                result = compiled.evaluate(self._host_env(env, boundary, defer_tensors), self.params, history)
            except HistoryUnavailable:
                check.stats.unevaluable += 1
                continue
            except EvaluationError as exc:
                raise self._missing(check, exc) from None
            if not result.applicable:
                continue
            check.stats.applicable += 1
            if not _truth(result.holds):
                self._violated(check, env, result.values)

    def _host_env(self, env: dict[str, Any], boundary: str, deferred: bool) -> dict[str, Any]:
        if deferred:
            return env
        # Epoch-level boundaries are sync points: reading tensors here is allowed and expected.
        return {k: _to_host(v) for k, v in env.items()}

    @staticmethod
    def _names_host(names: Iterable[str], env: Mapping[str, Any], compiled: CompiledInvariant) -> bool:
        return all(_is_host(env[n]) for n in names if n in env)

    def _all_host(self, compiled: CompiledInvariant, env: Mapping[str, Any]) -> bool:
        return all(_is_host(env[n]) for n in compiled.names() if n in env)

    def _require_names(self, check: _Check, env: Mapping[str, Any]) -> None:
        compiled = check.compiled
        available = set(env) | set(self.params) | set(self.regime.params()) | {n for n, _ in compiled.defaults}
        missing = tuple(sorted(compiled.names() - available))
        if missing:
            raise self._missing(check, EvaluationError("missing", missing))

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
        for check, first_bad, count in evaluate_pending(pending, self.params):
            check.stats.applicable += count
            if first_bad is not None:
                entry = first_bad
                host_env = {k: _to_host(v) for k, v in entry.env.items()}
                result = check.compiled.evaluate(host_env, self.params, None)
                out.append(self._make_violation(check, host_env, result.values, entry.step, entry.epoch))
        return out

    def _violated(self, check: _Check, env: Mapping[str, Any], values: dict[str, Any]) -> None:
        violation = self._make_violation(check, env, values, int(env.get("step", self.step)), int(env.get("epoch", self.epoch)))
        self._deferred_host.append(violation)
        if self._world == 1:
            # A violation is a sync point anyway: settle the deferred steps first, so the
            # earliest violation is the one reported.
            self.sync()
        # Across ranks every decision waits for the next scheduled sync point, or one rank
        # would raise while the others block in a collective: a hang is worse than a crash.

    def _make_violation(self, check: _Check, env: Mapping[str, Any], values: dict[str, Any],
                        step: int | None, epoch: int | None) -> Violation:
        compiled = check.compiled
        inv = compiled.invariant
        let_texts = {}
        let_inputs: dict[str, dict[str, Any]] = {}
        keyed = set()
        for name, expr in compiled.lets:
            let_texts[name] = expr.text.strip()
            let_inputs[name] = {n: _resolve(n, env, self.params, compiled) for n in expr.names
                                if n not in dict(compiled.lets)}
            if inv.lets[name].by_regime is not None:
                keyed.add(name)
        values = dict(values)
        history = self._history.get(check.boundary)
        for req in compiled.check.history:
            label = f"{req.function}({req.metric})" if req.function in ("prev", "first") else \
                f"{req.function}({req.metric}, {req.window})"
            try:
                if req.function == "prev":
                    values[label] = history.prev(req.metric)
                elif req.function == "first":
                    values[label] = history.first(req.metric)
            except Exception:  # history is best effort in a message; the verdict is already taken
                pass
        order = tuple(sorted(compiled.check.names, key=lambda n: compiled.check.names[n]))
        return Violation(
            name_order=order,
            invariant_id=inv.id, title=inv.title, contract_id=compiled.contract_id,
            contract_version=compiled.contract_version, boundary=check.boundary,
            step=step, epoch=epoch, expression=compiled.check.text.strip(),
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

        return agree_on_violations(found, self._all_checks(), self._rank, self._world)

    def _all_checks(self) -> list[_Check]:
        return [c for b in BOUNDARIES for c in self._checks[b]]

    def _act(self, found: list[Violation]) -> None:
        if not found:
            return
        found.sort(key=lambda v: (v.step if v.step is not None else -1, v.invariant_id))
        abort: Violation | None = None
        for v in found:
            check = next((c for c in self._all_checks() if c.id == v.invariant_id), None)
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

    # ------------------------------------------------------------------ watching and bookkeeping

    def watch(self, model: Any, optimizer: Any, scheduler: Any = None, **options: Any) -> Any:
        """Collect the standard step metrics through PyTorch's own optimizer hooks."""
        from pvcontracts.runtime.watch import Watcher

        watcher = Watcher(model, optimizer, scheduler, **options)
        self._watchers.append(watcher)
        return watcher

    def stats(self) -> dict[str, dict[str, int]]:
        return {c.id: c.stats.to_dict() for c in sorted(self._all_checks(), key=lambda c: c.id)}

    def state_dict(self) -> dict[str, Any]:
        """Counters and history, so that a resumed run keeps prev() and windows intact."""
        return {"step": self.step, "epoch": self.epoch,
                "history": {b: h.state_dict() for b, h in self._history.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
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
        if self._closed:
            return
        self._closed = True
        try:
            self.sync()
        finally:
            for watcher in self._watchers:
                watcher.remove()
            if self._ledger is not None:
                self._write_counts()
                self._ledger.close()

    def __enter__(self) -> "Monitor":
        return self

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is None:
            self.close()
        else:  # don't mask the original exception with a second violation
            self._pending = []
            self._deferred_host = []
            self.close()


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
