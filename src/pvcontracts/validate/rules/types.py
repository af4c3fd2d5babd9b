"""Rule: every expression is well typed (PV411), so no check can raise a TypeError inside the Monitor.

The types of names come from the contract: a param's declared type (an enum is
its own type), a metric's kind in the vocabulary or its ``metrics:`` entry, and
a let's inferred type, let by let in dependency order. See
:mod:`pvcontracts.contract.exprtypes` for what fits where.
"""

from __future__ import annotations

from typing import Iterator

from pvcontracts.contract.exprtypes import BOOL, NUMBER, UNKNOWN, EnumType, ExprType, check_types, infer_type
from pvcontracts.contract.model import Contract, Invariant
from pvcontracts.contract.vocabulary import METRICS, metrics_at
from pvcontracts.diagnostic import Diagnostic
from pvcontracts.validate.rules.parsed import parse_invariant

_PARAM_TYPES = {"int": NUMBER, "float": NUMBER, "bool": BOOL}


def name_types(contract: Contract, inv: Invariant) -> dict[str, ExprType]:
    """The type of every param and of every metric known at the invariant's boundary."""
    types: dict[str, ExprType] = {}
    for name in metrics_at(inv.at):
        types[name] = BOOL if METRICS[name].kind == "bool" else NUMBER
    for name, decl in contract.metrics.items():
        if inv.at in decl.at:
            types[name] = BOOL if decl.type == "bool" else NUMBER
    for name, p in contract.params.items():
        types[name] = EnumType(name, p.values) if p.type == "enum" else _PARAM_TYPES.get(p.type, UNKNOWN)
    return types


def check_expression_types(contract: Contract) -> Iterator[Diagnostic]:
    """Numbers in arithmetic and ordering, bools as conditions, enums compared only with their own values."""
    for inv in contract.invariants:
        parsed = parse_invariant(inv)
        types = name_types(contract, inv)
        for name in parsed.lets:
            types[name] = UNKNOWN  # until inferred below; a let in a cycle stays unknown (PV407 says why)
        for name in parsed.order:
            found: dict[str, ExprType] = {}
            for text in parsed.lets[name]:
                result, problems = infer_type(text.expr, types)
                for p in problems:
                    yield contract.diag(p.code, text.path, p.message, p.hint, offset=p.offset)
                if result != UNKNOWN:
                    found.setdefault(str(result), result)
            if len(found) > 1:
                shown = " in one regime, ".join(f"a {t}" for t in found)
                yield contract.diag("PV411", inv.path + ("let", name),
                                    f"let '{name}' is {shown} in another: an expression that reads it would mean "
                                    "different things per regime", "give every regime the same type of value")
            types[name] = next(iter(found.values())) if len(found) == 1 else UNKNOWN
        for field, expr in (("check", parsed.check), ("when", parsed.when)):
            if expr is not None:
                for p in check_types(expr, types, condition=True):
                    yield contract.diag(p.code, inv.path + (field,), p.message, p.hint, offset=p.offset)
