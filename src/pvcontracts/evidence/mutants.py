"""Mutants of an invariant's expressions: the contract text made wrong in small, typical ways.

A gate's tests are evidence for its invariants only if they would notice the
text being wrong. Each mutant changes one thing in one expression of one
invariant:

* ``flip-comparison``: negate one comparison (``<=`` becomes ``>``, ``==``
  becomes ``!=``);
* ``weaken-comparison``: move its boundary (``<=`` becomes ``<``, ``<``
  becomes ``<=``, ``==`` becomes ``<=`` and ``>=``);
* ``perturb-constant``: change one number (an integer by one, a float by a
  tenth of itself, zero to one);
* ``swap-regimes``: exchange the expressions of a regime-keyed ``let``;
* ``drop-conjunct`` / ``drop-disjunct``: leave out one operand of ``and`` /
  ``or``;
* ``negate-when``: ``when: X`` becomes ``not (X)``;
* ``negate-check``: ``check: X`` becomes ``not (X)``, for a check that offers
  none of the above (``isfinite(loss)``, a bare flag).

Every mutant is checked to parse in the expression language; the list is
deterministic (same text, same mutants, same ids) and capped per invariant,
taking operators in turn so a cap keeps every kind represented. Nothing here
runs anything: :mod:`pvcontracts.evidence.mutation` applies mutants inside a
pytest session.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass
from typing import Any, Iterator

from pvcontracts.contract.model import Invariant

DEFAULT_PER_INVARIANT = 8

_FLIP = {ast.Lt: ast.GtE, ast.LtE: ast.Gt, ast.Gt: ast.LtE, ast.GtE: ast.Lt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
_WEAKEN: dict[type, tuple[type, ...]] = {ast.Lt: (ast.LtE,), ast.LtE: (ast.Lt,), ast.Gt: (ast.GtE,),
                                         ast.GtE: (ast.Gt,), ast.Eq: (ast.LtE, ast.GtE)}
OPERATORS = ("flip-comparison", "weaken-comparison", "perturb-constant", "swap-regimes", "drop-conjunct",
             "drop-disjunct", "negate-when", "negate-check")


@dataclass(frozen=True)
class Mutant:
    """One wrong version of one invariant.

    ``field`` names what changed: ``("check",)``, ``("when",)``, ``("let", name)``
    or ``("let", name, regime)``. ``mutated`` is the new expression text, or, for
    ``swap-regimes``, the new regime mapping.
    """

    id: str
    contract: str
    invariant: str
    field: tuple[str, ...]
    operator: str
    original: str
    mutated: str | dict[str, str]

    @property
    def where(self) -> str:
        if self.field[0] != "let":
            return self.field[0]
        return "let " + self.field[1] + (f" ({self.field[2]})" if len(self.field) > 2 else "")

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "contract": self.contract, "invariant": self.invariant, "field": list(self.field),
                "operator": self.operator, "original": self.original, "mutated": self.mutated}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Mutant":
        mutated = data["mutated"]
        return cls(str(data["id"]), str(data["contract"]), str(data["invariant"]), tuple(data["field"]),
                   str(data["operator"]), str(data["original"]),
                   dict(mutated) if isinstance(mutated, dict) else str(mutated))


def identity(contract: str, invariant: str) -> Mutant:
    """A mutant that changes nothing: proves a test passes when the mutation machinery is in place."""
    return Mutant(f"{invariant}/M0", contract, invariant, ("identity",), "identity", "", "")


# --------------------------------------------------------------------------- generating


def _valid(text: str) -> bool:
    from pvcontracts.contract.expr import parse_expression
    from pvcontracts.errors import ExpressionError

    try:
        parse_expression(text)
    except ExpressionError:
        return False
    return True


def _nodes(tree: ast.AST) -> list[ast.AST]:
    """Nodes in source order (ast.walk is breadth-first; ids should follow the text)."""
    out = [n for n in ast.walk(tree) if hasattr(n, "col_offset")]
    return sorted(out, key=lambda n: (getattr(n, "lineno", 0), n.col_offset, -getattr(n, "end_col_offset", 0)))


def _variants(text: str) -> Iterator[tuple[str, str]]:
    """(operator, mutated text) for one expression, in source order within each operator."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return
    nodes = _nodes(tree)

    def edited(node: ast.AST, change: Any) -> str | None:
        clone = copy.deepcopy(tree)
        target = _nodes(clone)[nodes.index(node)]
        replacement = change(target)
        if replacement is not None:  # replace the node in its parent
            for parent in ast.walk(clone):
                for name, value in ast.iter_fields(parent):
                    if value is target:
                        setattr(parent, name, replacement)
                    elif isinstance(value, list) and any(v is target for v in value):
                        value[[i for i, v in enumerate(value) if v is target][0]] = replacement
            if clone.body is target:
                clone.body = replacement
        return ast.unparse(clone)

    for node in nodes:
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            strings = any(isinstance(x, ast.Constant) and isinstance(x.value, str) for x in operands)
            for k, op in enumerate(node.ops):
                flipped = _FLIP.get(type(op))
                if flipped is not None:
                    yield "flip-comparison", edited(node, lambda t, k=k, f=flipped: t.ops.__setitem__(k, f()))
                for weaker in () if strings else _WEAKEN.get(type(op), ()):
                    yield "weaken-comparison", edited(node, lambda t, k=k, w=weaker: t.ops.__setitem__(k, w()))
    for node in nodes:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            yield "perturb-constant", edited(node, lambda t: setattr(t, "value", _perturbed(t.value)))
    for node in nodes:
        if isinstance(node, ast.BoolOp):
            operator = "drop-conjunct" if isinstance(node.op, ast.And) else "drop-disjunct"
            for i in range(len(node.values)):
                def drop(t: ast.BoolOp, i: int = i) -> ast.AST | None:
                    rest = [v for j, v in enumerate(t.values) if j != i]
                    if len(rest) == 1:
                        return rest[0]
                    t.values = rest
                    return None
                yield operator, edited(node, drop)


def _perturbed(value: int | float) -> int | float:
    if isinstance(value, int):
        return value + 1
    if value == 0:
        return 1.0
    return float(f"{value * 1.1:.12g}")


def _round_robin(candidates: list[tuple[str, tuple[str, ...], str, Any]], cap: int) -> list[tuple]:
    """Up to ``cap`` candidates spread over what they change: each expression (check, each let, when) in
    turn, and within one expression each operator in turn, so a cap keeps every part and kind represented."""
    fields: dict[tuple[str, ...], list[tuple]] = {}
    for cand in candidates:
        fields.setdefault(cand[1], []).append(cand)
    queues = []
    for group in fields.values():
        by_op: dict[str, list[tuple]] = {}
        for cand in group:
            by_op.setdefault(cand[0], []).append(cand)
        ordered: list[tuple] = []
        while any(by_op.values()):
            for op in OPERATORS:
                if by_op.get(op):
                    ordered.append(by_op[op].pop(0))
        queues.append(ordered)
    chosen: list[tuple] = []
    while len(chosen) < cap and any(queues):
        for queue in queues:
            if queue and len(chosen) < cap:
                chosen.append(queue.pop(0))
    order = {id(c): i for i, c in enumerate(candidates)}
    return sorted(chosen, key=lambda c: order[id(c)])


def mutants_of(contract_id: str, inv: Invariant, cap: int = DEFAULT_PER_INVARIANT) -> list[Mutant]:
    """The mutants of one invariant, at most ``cap`` of them, with stable ids ``<INV>/M1``..."""
    candidates: list[tuple[str, tuple[str, ...], str, Any]] = []
    seen: set[tuple[tuple[str, ...], str]] = set()

    def add(operator: str, field: tuple[str, ...], original: str, mutated: Any) -> None:
        key = (field, repr(mutated))
        if mutated is None or key in seen:
            return
        if isinstance(mutated, str):
            if mutated.strip() == original.strip() or ast.dump(ast.parse(mutated, mode="eval")) == _dump(original):
                return
            if not _valid(mutated):
                return
        seen.add(key)
        candidates.append((operator, field, original, mutated))

    check_count = len(candidates)
    for op, text in _variants(inv.check):
        add(op, ("check",), inv.check, text)
    if len(candidates) == check_count:  # a bare flag or function call: the check can only be negated
        add("negate-check", ("check",), inv.check, f"not ({inv.check.strip()})")
    if inv.when is not None:
        add("negate-when", ("when",), inv.when, f"not ({inv.when.strip()})")
        for op, text in _variants(inv.when):
            add(op, ("when",), inv.when, text)
    for name, let in inv.lets.items():
        if let.by_regime is None:
            for op, text in _variants(let.value or ""):
                add(op, ("let", name), let.value or "", text)
            continue
        regimes = list(let.by_regime)
        values = [let.by_regime[r] for r in regimes]
        if len(regimes) > 1 and len(set(values)) > 1:
            rotated = dict(zip(regimes, values[1:] + values[:1]))
            add("swap-regimes", ("let", name), "; ".join(f"{r}: {v}" for r, v in let.by_regime.items()), rotated)
        for regime in regimes:
            for op, text in _variants(let.by_regime[regime]):
                add(op, ("let", name, regime), let.by_regime[regime], text)
    chosen = _round_robin(candidates, cap)
    return [Mutant(f"{inv.id}/M{i}", contract_id, inv.id, field, op, original, mutated)
            for i, (op, field, original, mutated) in enumerate(chosen, 1)]


def _dump(text: str) -> str | None:
    try:
        return ast.dump(ast.parse(text.strip(), mode="eval"))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


# --------------------------------------------------------------------------- applying


def apply(document: dict[str, Any], mutant: Mutant) -> dict[str, Any] | None:
    """A copy of a contract document with ``mutant`` applied; None when the document has no such invariant."""
    if document.get("id") != mutant.contract:
        return None
    items = document.get("invariants")
    if not isinstance(items, list):
        return None
    index = next((i for i, item in enumerate(items) if isinstance(item, dict) and item.get("id") == mutant.invariant),
                 None)
    if index is None:
        return None
    out = dict(document)
    out["invariants"] = list(items)
    item = dict(items[index])
    out["invariants"][index] = item
    field = mutant.field
    if field[0] in ("check", "when"):
        item[field[0]] = mutant.mutated
    elif field[0] == "let":
        lets = dict(item.get("let") or {})
        if len(field) == 2:
            lets[field[1]] = dict(mutant.mutated) if isinstance(mutant.mutated, dict) else mutant.mutated
        else:
            by_regime = dict(lets.get(field[1]) or {})
            by_regime[field[2]] = mutant.mutated
            lets[field[1]] = by_regime
        item["let"] = lets
    return out  # "identity" falls through: the same document, freshly copied
