"""Rules about the expression language inside contracts: parse, names in scope, regimes, lets."""

from __future__ import annotations

import difflib
from typing import Iterator

from pvcontracts.contract.expr import MAX_WINDOW, Expression, parse_expression
from pvcontracts.contract.model import Contract, Invariant
from pvcontracts.contract.vocabulary import REGIMES, metrics_at
from pvcontracts.diagnostic import Diagnostic
from pvcontracts.errors import ExpressionError

YamlPath = tuple[str | int, ...]


def check_params(contract: Contract) -> Iterator[Diagnostic]:
    """A param's constraints agree with each other, so a caller can always satisfy them."""
    for name, p in contract.params.items():
        path: YamlPath = ("params", name)
        if p.type == "enum" and not p.values:
            yield contract.diag("PV409", path, f"param '{name}' is an enum but lists no values", "add values: [a, b]")
        if p.type != "enum" and p.values:
            yield contract.diag("PV409", path + ("values",), f"param '{name}' has values but is of type {p.type}",
                                "set type: enum, or remove values")
        if p.type in ("bool", "enum") and (p.min is not None or p.max is not None):
            yield contract.diag("PV409", path, f"param '{name}' of type {p.type} cannot have min or max")
        if p.min is not None and p.max is not None and p.min > p.max:
            yield contract.diag("PV409", path + ("min",), f"param '{name}' has min {p.min} above max {p.max}")
        if p.default is not None:
            d = p.default
            ok = {
                "int": isinstance(d, int) and not isinstance(d, bool),
                "float": isinstance(d, (int, float)) and not isinstance(d, bool),
                "bool": isinstance(d, bool),
                "enum": isinstance(d, str) and d in p.values,
            }[p.type]
            if not ok:
                yield contract.diag("PV409", path + ("default",), f"default {d!r} of param '{name}' is not a valid {p.type}"
                                    + (f" (one of {', '.join(p.values)})" if p.type == "enum" else ""))
            elif p.type in ("int", "float") and ((p.min is not None and d < p.min) or (p.max is not None and d > p.max)):
                yield contract.diag("PV409", path + ("default",), f"default {d} of param '{name}' is outside [{p.min}, {p.max}]")


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
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(deps.get(node, ())):
            if nxt == node:
                continue
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for name in sorted(deps):
        if name not in state:
            visit(name, [])
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
