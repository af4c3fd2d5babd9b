"""An invariant compiled once for one regime: the object the runtime and the falsifiers evaluate.

The contract text is the check: ``let`` values are resolved for the active
regime and evaluated in dependency order, then ``when`` and ``check``, so no
second copy of a cap can exist in Python and drift from the YAML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from pvcontracts.contract.expr import Expression, HistoryReader, parse_expression
from pvcontracts.contract.model import Contract, Invariant
from pvcontracts.contract.params import is_host, layered
from pvcontracts.contract.regime import Regime
from pvcontracts.errors import ExpressionError


@dataclass(frozen=True)
class Evaluation:
    """One evaluation: whether it applied, whether it held, and every name's value for the message."""

    applicable: bool
    holds: Any  # bool on the host; a bool tensor when metrics were tensors
    values: dict[str, Any]


@dataclass(frozen=True)
class CompiledInvariant:
    contract_id: str
    contract_version: str
    invariant: Invariant
    regime: Regime
    lets: tuple[tuple[str, Expression], ...]  # in dependency order
    when: Expression | None
    check: Expression
    defaults: tuple[tuple[str, Any], ...] = ()  # declared param defaults, overridden by the caller
    when_lets: frozenset[str] = frozenset()     # lets that `when` reads, evaluated before it
    scope: Expression | None = None             # which runs it applies to, over params only

    @property
    def id(self) -> str:
        return self.invariant.id

    def names(self) -> set[str]:
        """Every free name the invariant reads (metrics and params), lets excluded."""
        lets = {n for n, _ in self.lets}
        out: set[str] = set()
        for expr in [self.check, *(e for _, e in self.lets)] + ([self.when] if self.when else []):
            out |= set(expr.names)
        return out - lets

    def static_env(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Param defaults, the regime's fields and the caller's params, merged once (later wins)."""
        return layered(self.defaults, self.regime.params(), params)

    def in_scope(self, params: Mapping[str, Any] | None = None) -> bool:
        """Whether this run is one the invariant applies to (no ``scope``: every run).

        Decided once per run from params alone; a scope that reads anything else is an error
        of the contract (EvaluationError naming the name).
        """
        if self.scope is None:
            return True
        return bool(self.scope.evaluate(self.static_env(params), None))

    def guard(self, env: dict[str, Any], history: HistoryReader | None = None) -> Any:
        """Evaluate ``when`` (true when there is none) on a merged ``env``, binding the lets it reads.

        Only those lets: the others may read history that exists only when the guard
        holds (prev() at epoch 0).
        """
        if self.when is None:
            return True
        for name, expr in self.lets:
            if name in self.when_lets:
                env[name] = expr.evaluate(env, history)
        return self.when.evaluate(env, history)

    def verdict(self, env: dict[str, Any], history: HistoryReader | None = None, *,
                branch_on_guard: bool = True) -> tuple[Any, Any] | None:
        """(applies, holds) on a merged ``env``, which receives the let values; None when the guard is false.

        The one place that fixes the evaluation order: the lets ``when`` reads, ``when``,
        the other lets, ``check``. With ``branch_on_guard`` false a tensor guard is
        returned as a mask instead of being branched on, since that would be a
        host-device synchronisation; host guards are always branched on.
        """
        applies: Any = self.guard(env, history)
        if branch_on_guard or is_host(applies):
            if not applies:
                return None
            applies = True
        for name, expr in self.lets:
            if name not in self.when_lets:
                env[name] = expr.evaluate(env, history)
        return applies, self.check.evaluate(env, history)

    def shown_values(self, env: Mapping[str, Any]) -> dict[str, Any]:
        """The values a violation message shows: the check's names and every let."""
        return {n: env[n] for n in sorted(set(self.check.names) | {n for n, _ in self.lets}) if n in env}

    def evaluate(self, metrics: Mapping[str, Any], params: Mapping[str, Any] | None = None,
                 history: HistoryReader | None = None) -> Evaluation:
        env = layered(self.defaults, self.regime.params(), params, metrics)
        result = self.verdict(env, history)
        if result is None:
            return Evaluation(False, True, {})
        return Evaluation(True, result[1], self.shown_values(env))

    def evaluate_guard(self, metrics: Mapping[str, Any], params: Mapping[str, Any] | None = None,
                       history: HistoryReader | None = None) -> Any:
        """Just the ``when`` (true when there is none): lets a caller skip the rest cheaply."""
        return self.guard(layered(self.defaults, self.regime.params(), params, metrics), history)

    def evaluate_vectorised(self, metrics: Mapping[str, Any], params: Mapping[str, Any] | None = None) -> tuple[Any, Any]:
        """(applies, holds) over stacked values, with no Python branching on tensors.

        Used for deferred step checks: every pending step is one row, so one pass
        of tensor ops checks them all. Not for invariants that read history.
        """
        env = layered(self.defaults, self.regime.params(), params, metrics)
        for name, expr in self.lets:
            env[name] = expr.evaluate(env, None)
        applies = True if self.when is None else self.when.evaluate(env, None)
        return applies, self.check.evaluate(env, None)


def _order_lets(inv: Invariant, compiled: dict[str, Expression]) -> list[str]:
    """Each let after the lets it reads (depth first, without recursion: a let chain may be long)."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: ordered
    for root in compiled:
        if state.get(root) == 2:
            continue
        stack = [(root, iter([d for d in compiled[root].names if d in compiled and d != root]))]
        state[root] = 1
        while stack:
            name, deps = stack[-1]
            dep = next(deps, None)
            if dep is None:
                stack.pop()
                state[name] = 2
                order.append(name)
            elif state.get(dep) == 1:
                raise ExpressionError("PV407", f"let values of {inv.id} refer to each other in a cycle through '{dep}'")
            elif state.get(dep) != 2:
                state[dep] = 1
                stack.append((dep, iter([d for d in compiled[dep].names if d in compiled and d != dep])))
    return order


def compile_invariant(contract: Contract, inv: Invariant, regime: Regime | None = None) -> CompiledInvariant:
    """Compile one invariant for a regime; raises ExpressionError for text outside the language."""
    regime = regime or Regime.finetune()
    texts: dict[str, Expression] = {}
    for name, let in inv.lets.items():
        text = let.expression_for(regime.kind)
        if text is None:
            raise ExpressionError("PV406", f"let '{name}' of {inv.id} has no value for regime {regime.kind}")
        texts[name] = parse_expression(text)
    order = _order_lets(inv, texts)
    when = parse_expression(inv.when) if inv.when is not None else None
    needed: set[str] = set()
    frontier = [n for n in (when.names if when else ()) if n in texts]
    while frontier:  # the lets `when` reads, transitively
        name = frontier.pop()
        if name not in needed:
            needed.add(name)
            frontier.extend(n for n in texts[name].names if n in texts)
    defaults = tuple((name, p.default) for name, p in sorted(contract.params.items()) if p.default is not None)
    return CompiledInvariant(
        contract_id=contract.id,
        contract_version=contract.version,
        invariant=inv,
        regime=regime,
        lets=tuple((n, texts[n]) for n in order),
        when=when,
        check=parse_expression(inv.check),
        defaults=defaults,
        when_lets=frozenset(needed),
        scope=parse_expression(inv.scope) if inv.scope is not None else None,
    )
