"""The invariants a Monitor enforces, compiled once for the run, with their counts and why any is not enforced.

Built once at construction: each invariant of each loaded contract is compiled
for the regime, its params checked and merged (defaults < regime < params),
its scope decided, and every name set the hot path asks about precomputed,
so a step only does set lookups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from pvcontracts.contract.compiled import CompiledInvariant, compile_invariant
from pvcontracts.contract.expr import parse_expression
from pvcontracts.contract.model import Contract
from pvcontracts.contract.params import layered, param_problems
from pvcontracts.contract.regime import Regime
from pvcontracts.contract.vocabulary import BOUNDARIES, REGIMES
from pvcontracts.errors import EvaluationError, ParamError, PvError

MODES = ("supplied", "strict")


@dataclass
class InvariantStats:
    """Counts for one invariant; the ledger and `pv check` report them.

    ``enforced`` is true once the invariant was really evaluated (its inputs were there, it
    was in scope, its history existed); otherwise ``reason`` says in one line why not.
    """

    evaluated: int = 0       # boundary calls at which its inputs were there and its `when` was decided
    applicable: int = 0      # ... where its `when` held
    violated: int = 0
    unevaluable: int = 0     # history not yet available (a guard is missing in the contract)
    not_supplied: int = 0    # calls skipped because the loop did not supply an input (supplied mode)

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)

    @property
    def enforced(self) -> bool:
        return self.evaluated > self.unevaluable


@dataclass
class Check:
    compiled: CompiledInvariant
    contract: Contract
    boundary: str
    history_metrics: dict[str, int]
    stats: InvariantStats = field(default_factory=InvariantStats)
    # Precomputed once, read at every step: the hot path must not rebuild sets.
    names: frozenset[str] = frozenset()        # free names of check, when and lets
    inputs: frozenset[str] = frozenset()       # names no param, regime field or default supplies: metrics
    guard_names: frozenset[str] = frozenset()  # free names `when` reads, through the lets it needs
    static_names: frozenset[str] = frozenset() # names params, the regime or defaults supply
    history_labels: tuple[tuple[str, Any], ...] = ()  # ("prev(x)", expression) shown in a message
    static_env: dict[str, Any] = field(default_factory=dict)  # defaults < regime < params, merged once
    pre_done: bool = False                     # evaluated before this step's optimizer step
    inactive: str | None = None                # why this run never enforces it (out of scope, param not given)
    missing_seen: set[str] = field(default_factory=set)  # inputs found missing at some call (supplied mode)

    @property
    def id(self) -> str:
        return self.compiled.id

    @property
    def uses_history(self) -> bool:
        return bool(self.history_metrics)

    @property
    def on_violation(self) -> str:
        return self.compiled.invariant.on_violation

    def reason(self, called: bool) -> str | None:
        """Why it was not enforced, in one line; None when it was."""
        if self.inactive is not None:
            return self.inactive
        if self.stats.enforced:
            return None
        if not called:
            return f"{self.boundary} was never called"
        if self.missing_seen:
            listed = ", ".join(sorted(self.missing_seen))
            return f"metric {listed} never supplied at {self.boundary}"
        if self.stats.unevaluable:
            metrics = ", ".join(sorted(self.history_metrics))
            return f"history of {metrics} never available at {self.boundary}"
        return "never evaluated"

    def record(self, called: bool) -> dict[str, Any]:
        reason = self.reason(called)
        return {**self.stats.to_dict(), "enforced": reason is None, "reason": reason}


def check_runtime_params(contracts: list[Contract], regime: Regime, params: Mapping[str, Any]) -> None:
    """Params checked as `pv validate` checks declarations: every problem at once, or nothing."""
    problems = param_problems(contracts, params, allowed_extra=REGIMES[regime.kind])
    for name in sorted(params):
        shadowing = sorted({inv.id for c in contracts for inv in c.invariants if name in inv.lets})
        if shadowing:
            problems.append(f"{name}: a let of {', '.join(shadowing)} has that name, so the value given would be "
                            "ignored there; the contract must not shadow a param (pv validate reports it)")
    if problems:
        raise ParamError(problems)


def build_checks(contracts: Iterable[Contract], regime: Regime, params: Mapping[str, Any], mode: str,
                 constants: Mapping[str, Any] | None = None) -> tuple[dict[str, list[Check]], dict[str, dict[str, int]]]:
    """Every invariant compiled into a Check, by boundary, and the history sizes each boundary keeps.

    In strict mode a declared param without a value or default is an error at once (every one
    listed); in supplied mode the invariants reading it are not enforced, and say so.
    ``constants`` are metrics fixed for the whole run (rank, world_size): a ``when`` that reads
    only them and params is decided once, and a check whose ``when`` is false for the whole run
    is not enforced (say, the replica check of a single-process run).
    """
    checks: dict[str, list[Check]] = {b: [] for b in BOUNDARIES}
    history_sizes: dict[str, dict[str, int]] = {b: {} for b in BOUNDARIES}
    constants = dict(constants or {})
    params = {**constants, **params}
    supplied = frozenset(params) | frozenset(regime.params())
    missing_params: dict[str, list[str]] = {}
    for contract in contracts:
        for inv in contract.invariants:
            compiled = compile_invariant(contract, inv, regime)
            static = supplied | {n for n, _ in compiled.defaults}
            names = frozenset(compiled.names())
            unset = sorted(n for n in names if n in contract.params and n not in static)
            static_env = compiled.static_env(params)
            check = Check(compiled, contract, inv.at, {}, names=names, inputs=names - static,
                          guard_names=_guard_names(compiled), static_names=static,
                          history_labels=_history_labels(compiled), static_env=static_env)
            if unset:
                for name in unset:
                    missing_params.setdefault(name, []).append(inv.id)
                check.inactive = f"param {', '.join(unset)} not given"
            elif compiled.scope is not None:
                try:
                    in_scope = compiled.in_scope(params)
                except EvaluationError as exc:
                    raise PvError(f"{inv.id} ({contract.id}): its scope may only read params, and reads "
                                  f"{', '.join(exc.missing) or '?'}") from None
                if not in_scope:
                    check.inactive = f"out of scope: {' '.join(compiled.scope.text.split())} is false for this run"
            if check.inactive is None and compiled.when is not None and check.guard_names <= static \
                    and not compiled.when.history:
                try:
                    constant_guard = compiled.guard(dict(static_env), None)
                except EvaluationError:  # a let it reads needs history: decided per call after all
                    constant_guard = True
                if not constant_guard:
                    check.inactive = f"its when ({' '.join(compiled.when.text.split())}) is false for this whole run"
            if check.inactive is None:
                check.history_metrics = _history_sizes(compiled, static_env)
                for metric, n in check.history_metrics.items():
                    sizes = history_sizes[inv.at]
                    sizes[metric] = max(sizes.get(metric, 0), n)
            checks[inv.at].append(check)
    if missing_params and mode == "strict":
        from pvcontracts.runtime.violation import MissingParamError

        raise MissingParamError(missing_params)
    return checks, history_sizes


def _history_sizes(compiled: CompiledInvariant, env: Mapping[str, Any]) -> dict[str, int]:
    hist: dict[str, int] = {}
    for expr in [compiled.check, *(e for _, e in compiled.lets)] + ([compiled.when] if compiled.when else []):
        for req in expr.history:
            n = req.window if isinstance(req.window, int) else int(env[req.window])
            hist[req.metric] = max(hist.get(req.metric, 0), n, 2)
    return hist


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


def resolve(name: str, env: Mapping[str, Any], params: Mapping[str, Any], compiled: CompiledInvariant) -> Any:
    """The value a name has for this invariant: the same layering as evaluation, for a message."""
    return layered(compiled.defaults, compiled.regime.params(), params, env).get(name)
