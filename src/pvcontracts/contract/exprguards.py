"""Which history reads a guard protects: ``prev(val_loss)`` needs ``epoch > 0`` before it, statically.

At the first evaluation of a boundary there is no previous value, and a window
of ``n`` values is full only from the ``n``-th evaluation on. A read without a
guard raises :class:`~pvcontracts.errors.HistoryUnavailable` at run time, and
the Monitor counts the check "unevaluable" instead of checking it, silently. So
the validator warns (PV410) about every history read that no guard provably
protects.

A guard is what is known to hold when the read is evaluated: the invariant's
``when`` (for ``check`` and the lets ``when`` does not read), the left side of
an ``and`` (the host short-circuits), the negated left side of an ``or``, and
``where``'s condition (true for its second argument, false for its third). From
those conditions a lower bound on a run counter (``epoch``, or ``step`` at
``step_end``) is derived: ``epoch > 0`` gives 1, ``epoch + 1 >= 3`` gives 2,
``not epoch == 0`` gives 1. A bound against a param or an expression
(``epoch > warmup``) cannot be computed, and is taken as sufficient: the
warning is only for what is certainly missing, never a false alarm.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from pvcontracts.contract.expr import CONSTANTS, FUNCTIONS, Expression

__all__ = ["UnguardedRead", "guard_bounds", "unguarded_reads"]

Bounds = dict[str, float]  # counter name -> proven lower bound (math.inf: a bound we cannot compute, taken as enough)
_NO_BOUNDS: Bounds = {}
_MAX_LET_DEPTH = 16  # how deep `when` may follow let names into other lets


@dataclass(frozen=True)
class UnguardedRead:
    """A history read that may run before its history exists."""

    function: str
    metric: str
    text: str        # the call as written
    offset: int      # of the call, in the expression's text
    needed: int      # the counter value from which the read has its history
    counter: str     # the counter a guard should bound


def _counters(boundary: str) -> tuple[str, ...]:
    # epoch advances once per epoch-level boundary; at step_end every step is an evaluation, and an epoch
    # past the first implies steps before it.
    return ("step", "epoch") if boundary == "step_end" else ("epoch",)


def _merge(*parts: Bounds) -> Bounds:
    """Everything each part proves (a conjunction): the larger bound per counter."""
    out: Bounds = {}
    for part in parts:
        for name, bound in part.items():
            out[name] = max(out.get(name, -math.inf), bound)
    return out


def _either(*parts: Bounds) -> Bounds:
    """What holds whichever part holds (a disjunction): the smaller bound, only for counters every part bounds."""
    if not parts:
        return {}
    names = set(parts[0]).intersection(*parts[1:])
    return {n: min(p[n] for p in parts) for n in names}


def _is_number(node: ast.AST) -> bool:
    """A numeric literal, signed or not, or a numeric constant of the language (inf, nan, pi, e)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _is_number(node.operand)
    if isinstance(node, ast.Name):
        return isinstance(CONSTANTS.get(node.id), float)
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)


def _value(node: ast.AST) -> float:
    """The value of a :func:`_is_number` node; an integer literal too large for a float is +-inf, as compiled."""
    if isinstance(node, ast.UnaryOp):
        inner = _value(node.operand)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.Name):
        return float(CONSTANTS[node.id])
    value = node.value  # type: ignore[attr-defined]
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


_FLIP = {ast.Lt: ast.Gt, ast.LtE: ast.GtE, ast.Gt: ast.Lt, ast.GtE: ast.LtE, ast.Eq: ast.Eq, ast.NotEq: ast.NotEq}
_NEGATE = {ast.Lt: ast.GtE, ast.LtE: ast.Gt, ast.Gt: ast.LtE, ast.GtE: ast.Lt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}


class _Analysis:
    def __init__(self, counters: tuple[str, ...], lets: Mapping[str, Expression]) -> None:
        self.counters = counters
        self.lets = lets

    def _counter_side(self, node: ast.AST) -> tuple[str, float] | None:
        """(counter, k) when ``node`` is ``counter``, ``counter + k``, ``k + counter`` or ``counter - k``, k a literal."""
        if self._is_counter(node):
            return node.id, 0.0  # type: ignore[attr-defined]
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            left, right = node.left, node.right
            if self._is_counter(left) and _is_number(right):
                k = _value(right)
                return left.id, (k if isinstance(node.op, ast.Add) else -k)  # type: ignore[attr-defined]
            if isinstance(node.op, ast.Add) and self._is_counter(right) and _is_number(left):
                return right.id, _value(left)  # type: ignore[attr-defined]
        return None

    def _is_counter(self, node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id in self.counters

    def _comparison(self, left: ast.AST, op: ast.cmpop, right: ast.AST, truth: bool) -> Bounds:
        side = self._counter_side(left)
        other = right
        kind = type(op)
        if side is None:
            side, other, kind = self._counter_side(right), left, _FLIP[kind]
        if side is None:
            return _NO_BOUNDS
        if not truth:
            kind = _NEGATE[kind]
        counter, k = side  # the comparison reads: counter + k <kind> other
        if _is_number(other):
            limit = _value(other) - k
            if math.isnan(limit) or limit == -math.inf:
                return _NO_BOUNDS
            if kind in (ast.Gt, ast.GtE, ast.Eq):
                if limit == math.inf:
                    return {counter: math.inf}  # never true: whatever it guards never runs
                return {counter: math.floor(limit) + 1 if kind is ast.Gt else math.ceil(limit)}  # integers
            if kind is ast.NotEq and limit == 0:
                return {counter: 1.0}  # counters start at 0
            return _NO_BOUNDS
        if kind in (ast.Gt, ast.GtE, ast.Eq):
            return {counter: math.inf}  # against a param or an expression: not computable, taken as enough
        return _NO_BOUNDS

    def bounds(self, node: ast.AST, truth: bool, depth: int = 0) -> Bounds:
        """Lower bounds on the counters that hold when ``node`` evaluates to ``truth``."""
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return self.bounds(node.operand, not truth, depth)
        if isinstance(node, ast.BoolOp):
            parts = [self.bounds(v, truth, depth) for v in node.values]
            conjunction = isinstance(node.op, ast.And) == truth  # `a and b` true, or `a or b` false
            return _merge(*parts) if conjunction else _either(*parts)
        if isinstance(node, ast.Compare):
            links = [self._comparison(a, op, b, truth)
                     for a, op, b in zip([node.left, *node.comparators], node.ops, node.comparators)]
            return _merge(*links) if truth else _either(*links)
        if isinstance(node, ast.Name) and node.id in self.lets and depth < _MAX_LET_DEPTH:
            let = self.lets[node.id]
            return self.bounds(let.tree, truth, depth + 1) if let.tree is not None else _NO_BOUNDS
        return _NO_BOUNDS

    def reads(self, expr: Expression, node: ast.AST, known: Bounds, out: list[tuple[ast.Call, Bounds]]) -> None:
        """Every history call under ``node``, with the bounds known where it is evaluated."""
        if isinstance(node, ast.BoolOp):
            before: list[Bounds] = []
            for value in node.values:
                self.reads(expr, value, _merge(known, *before), out)
                # the next operand runs only when this one did not decide: true for `and`, false for `or`
                before.append(self.bounds(value, isinstance(node.op, ast.And)))
            return
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            spec = FUNCTIONS.get(node.func.id)
            if spec is not None and spec.history:
                out.append((node, known))
                return
            if node.func.id == "where" and len(node.args) == 3:
                cond, yes, no = node.args
                self.reads(expr, cond, known, out)
                self.reads(expr, yes, _merge(known, self.bounds(cond, True)), out)
                self.reads(expr, no, _merge(known, self.bounds(cond, False)), out)
                return
        for child in ast.iter_child_nodes(node):
            self.reads(expr, child, known, out)


# Contracts repeat their guards and checks: each analysis is done once per process for the same inputs.
_CACHE: dict[tuple, Any] = {}
_CACHE_LIMIT = 65536


def _cached(key: tuple, compute: Callable[[], Any]) -> Any:
    hit = _CACHE.get(key, _CACHE)
    if hit is _CACHE:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        hit = _CACHE[key] = compute()
    return hit


def _lets_key(lets: Mapping[str, Expression] | None) -> tuple:
    return tuple(sorted((name, e.text) for name, e in lets.items())) if lets else ()


def guard_bounds(when: Expression | None, boundary: str, lets: Mapping[str, Expression] | None = None) -> Bounds:
    """Lower bounds on the run counters that hold whenever ``when`` is true (none without a ``when``)."""
    if when is None or when.tree is None:
        return {}
    key = ("bounds", when.text, boundary, _lets_key(lets))
    return dict(_cached(key, lambda: _Analysis(_counters(boundary), lets or {}).bounds(when.tree, True)))


def unguarded_reads(expr: Expression, boundary: str, known: Bounds | None = None, *,
                    lets: Mapping[str, Expression] | None = None,
                    window_max: Mapping[str, int | None] | None = None) -> list[UnguardedRead]:
    """History reads of ``expr`` that may run before their history exists, given the ``known`` bounds.

    ``first()`` never needs a guard (the current value is its first); ``prev()`` needs the
    counter at 1; a window of ``n`` at ``n - 1``, where a window given by an int param is
    sized by the param's ``max`` (``window_max``). ``run_end`` happens once per run, so at
    it every read but ``first()`` is unguarded whatever the guard.
    """
    if expr.tree is None or all(h.function == "first" for h in expr.history):
        return []  # no read that needs a guard: nothing to walk
    windows = tuple((n, window_max.get(n)) for n in expr.names if n in window_max) if window_max else ()
    key = ("reads", expr.text, boundary, tuple(sorted((known or {}).items())), _lets_key(lets), windows)
    return list(_cached(key, lambda: _unguarded(expr, boundary, known, lets, window_max)))


def _unguarded(expr: Expression, boundary: str, known: Bounds | None, lets: Mapping[str, Expression] | None,
               window_max: Mapping[str, int | None] | None) -> tuple[UnguardedRead, ...]:
    counters = _counters(boundary)
    analysis = _Analysis(counters, lets or {})
    found: list[tuple[ast.Call, Bounds]] = []
    analysis.reads(expr, expr.tree, dict(known or {}), found)
    out = []
    for call, bounds in found:
        name = call.func.id  # type: ignore[attr-defined]
        if name == "first" or not call.args or not isinstance(call.args[0], ast.Name):
            continue
        needed = 1
        if name.startswith("window_") and len(call.args) == 2:
            w = call.args[1]
            if isinstance(w, ast.Constant) and isinstance(w.value, int):
                needed = w.value - 1
            elif isinstance(w, ast.Name):
                size = (window_max or {}).get(w.id)
                if size is None:
                    continue  # an unbounded window param is PV404's to report
                needed = size - 1
        if needed <= 0:
            continue  # a window of 1 is the current value
        have = max((bounds.get(c, -math.inf) for c in counters), default=-math.inf)
        if boundary == "run_end" or have < needed:
            out.append(UnguardedRead(name, call.args[0].id, " ".join(expr.segment(call).split()), expr.offset_of(call),
                                     needed, counters[0]))
    return tuple(out)
