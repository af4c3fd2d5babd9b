"""Rules about the expression language inside contracts: parse, names in scope, regimes, lets."""

from __future__ import annotations

import difflib
from typing import Iterator

from pvcontracts.contract.expr import MAX_WINDOW, Expression, parse_expression
from pvcontracts.contract.model import Contract, Invariant
from pvcontracts.contract.paramcheck import declaration_problems
from pvcontracts.contract.vocabulary import REGIMES, metrics_at
from pvcontracts.diagnostic import Diagnostic
from pvcontracts.errors import ExpressionError

YamlPath = tuple[str | int, ...]


def check_params(contract: Contract) -> Iterator[Diagnostic]:
    """A param's constraints agree with each other, so a caller can always satisfy them (rules in paramcheck)."""
    for name, p in contract.params.items():
        path: YamlPath = ("params", name)
        for problem in declaration_problems(p):
            where = path + (problem.field,) if problem.field is not None else path
            yield contract.diag("PV409", where, problem.message, problem.hint)


MAX_LETS = 100  # per invariant: every evaluation computes them all, and a violation message shows them all


def check_lets(contract: Contract) -> Iterator[Diagnostic]:
    """A let named like a param or a metric hides it (PV412); more than MAX_LETS make every evaluation long (PV413)."""
    for inv in contract.invariants:
        if len(inv.lets) > MAX_LETS:
            yield contract.diag("PV413", inv.path + ("let",), f"{inv.id} has {len(inv.lets)} lets; the limit is "
                                f"{MAX_LETS}, so that one evaluation stays fast and its violation message readable",
                                "split the invariant, or compute the value once as a metric", key=True)
        metrics = None
        for name in inv.lets:
            if name in contract.params:
                what = "a param"
            else:
                if metrics is None:
                    metrics = _Scope(contract, inv).metrics
                if name not in metrics:
                    continue
                what = f"a metric at {inv.at}"
            yield contract.diag("PV412", inv.path + ("let", name),
                                f"let '{name}' of {inv.id} has the name of {what}: inside {inv.id} the let's "
                                f"value replaces the {what.split()[1]}'s, so the {what.split()[1]} is never read there",
                                "rename the let, so each name means one value", key=True)


class _Scope:
    """What names an invariant's expressions may use at its boundary."""

    def __init__(self, contract: Contract, inv: Invariant) -> None:
        self.contract = contract
        self.params = contract.params
        self.lets = set(inv.lets)
        self.metrics = set(metrics_at(inv.at)) | {m for m, d in contract.metrics.items() if inv.at in d.at}
        self.boundary = inv.at

    def all_names(self) -> set[str]:
        return set(self.params) | self.lets | self.metrics

    def unknown_name(self, name: str) -> tuple[str, str]:
        close = difflib.get_close_matches(name, sorted(self.all_names()), n=1, cutoff=0.7)
        elsewhere = [b for b in ("step_end", "epoch_end", "eval_end", "checkpoint", "resume", "run_end")
                     if name in metrics_at(b)]
        if close:
            hint = f"did you mean '{close[0]}'?"
        elif elsewhere:
            hint = f"'{name}' is a metric at {', '.join(elsewhere)}, not at {self.boundary}"
        else:
            hint = "declare it under params or metrics, or bind it with let"
        return f"unknown name '{name}': not a param, a let, or a metric known at {self.boundary}", hint


def _parse(contract: Contract, path: YamlPath, text: str) -> tuple[Expression | None, list[Diagnostic]]:
    try:
        return parse_expression(text), []
    except ExpressionError as exc:
        return None, [contract.diag(exc.code, path, exc.message, exc.hint, offset=exc.offset)]


def _names(contract: Contract, scope: _Scope, path: YamlPath, expr: Expression,
           extra_unknown: set[str] = frozenset()) -> Iterator[Diagnostic]:
    allowed = scope.all_names() - extra_unknown
    for name, offset in expr.names.items():
        if name not in allowed:
            if name in extra_unknown:
                yield contract.diag("PV407", path, f"let '{name}' refers to itself", None, offset=offset)
                continue
            message, hint = scope.unknown_name(name)
            yield contract.diag("PV405", path, message, hint, offset=offset)
    for req in expr.history:
        if req.metric not in scope.metrics and req.metric in allowed:
            kind = "param" if req.metric in scope.params else "let"
            yield contract.diag("PV404", path, f"{req.function}() keeps the history of a metric; '{req.metric}' is a {kind}",
                                None, offset=req.offset)
        if isinstance(req.window, str):
            param = scope.params.get(req.window)
            if param is None or param.type != "int" or param.max is None or param.max > MAX_WINDOW or (param.min or 0) < 1:
                yield contract.diag("PV404", path,
                                    f"{req.function}() window '{req.window}' must be an int param with min >= 1 and max <= {MAX_WINDOW}",
                                    "the bound on the window bounds the history kept in memory", offset=req.offset)
    for s in expr.strings:
        param = scope.params.get(s.name)
        if param is None or param.type != "enum":
            yield contract.diag("PV408", path, f"'{s.name}' is compared with the string {s.value!r} but is not an enum param",
                                None, offset=s.offset)
        elif s.value not in param.values:
            close = difflib.get_close_matches(s.value, list(param.values), n=1)
            yield contract.diag("PV408", path, f"{s.value!r} is not a value of enum param '{s.name}' "
                                f"({', '.join(param.values)})", f"did you mean '{close[0]}'?" if close else None,
                                offset=s.offset)


def _let_cycles(inv: Invariant, deps: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle among the lets once, at the edge that closes it; an explicit stack, as lets may chain by thousands."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    for start in sorted(deps):
        if start in state:
            continue
        state[start] = 1
        path = [start]
        stack = [iter(sorted(deps.get(start, ())))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                state[path.pop()] = 2
            elif nxt == path[-1]:
                continue  # a let that reads itself is reported by the name check
            elif state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(deps.get(nxt, ()))))
    return cycles


def check_expressions(contract: Contract) -> Iterator[Diagnostic]:
    """Every expression parses in the safe language and names only what exists at its boundary."""
    for inv in contract.invariants:
        scope = _Scope(contract, inv)
        base = inv.path
        for field in ("check", "when", "scope"):
            text = getattr(inv, field)
            if text is None:
                continue
            expr, problems = _parse(contract, base + (field,), text)
            yield from problems
            if expr is not None:
                yield from _names(contract, scope, base + (field,), expr)
        deps: dict[str, set[str]] = {}
        for name, let in inv.lets.items():
            let_path = base + ("let", name)
            if let.by_regime is not None:
                missing = [r for r in REGIMES if r not in let.by_regime]
                if missing:
                    yield contract.diag("PV406", let_path,
                                        f"let '{name}' is keyed by regime but has no value for {', '.join(missing)}",
                                        f"add {missing[0]}: <expression>, so the invariant means something in every regime")
            for regime, text in let.texts():
                path = let_path + ((regime,) if regime else ())
                expr, problems = _parse(contract, path, text)
                yield from problems
                if expr is None:
                    continue
                deps.setdefault(name, set()).update(n for n in expr.names if n in inv.lets)
                yield from _names(contract, scope, path, expr, extra_unknown={name})
        for cycle in _let_cycles(inv, deps):
            yield contract.diag("PV407", base + ("let", cycle[0]), "let values refer to each other in a cycle: "
                                + " -> ".join(cycle))
