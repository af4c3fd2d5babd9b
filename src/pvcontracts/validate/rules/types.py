"""Rule: every expression is well typed (PV411), so no check can raise a TypeError inside the Monitor.

The types of names come from the contract: a param's declared type (an enum is
its own type), a metric's kind in the vocabulary or its ``metrics:`` entry, and
a let's inferred type, let by let in dependency order. See
:mod:`pvcontracts.contract.exprtypes` for what fits where.
"""

from __future__ import annotations

import functools
from typing import Iterator

from pvcontracts.contract.exprtypes import BOOL, NUMBER, UNKNOWN, EnumType, ExprType, check_types, infer_type
from pvcontracts.contract.model import Contract, Invariant
from pvcontracts.contract.vocabulary import METRICS, metrics_at
from pvcontracts.diagnostic import Diagnostic
from pvcontracts.validate.rules.parsed import parse_invariant

_PARAM_TYPES = {"int": NUMBER, "float": NUMBER, "bool": BOOL}


@functools.lru_cache(maxsize=None)
def _vocabulary_types(boundary: str) -> dict[str, ExprType]:
    return {name: BOOL if METRICS[name].kind == "bool" else NUMBER for name in metrics_at(boundary)}


def name_types(contract: Contract, inv: Invariant) -> dict[str, ExprType]:
    """The type of every param and of every metric known at the invariant's boundary."""
    types: dict[str, ExprType] = dict(_vocabulary_types(inv.at))
    types.update(_declared_types(contract, inv.at))
    return types


def _declared_types(contract: Contract, boundary: str) -> dict[str, ExprType]:
    """The contract's own metrics at ``boundary`` and its params (a param wins over a metric of its name)."""
    types: dict[str, ExprType] = {name: BOOL if decl.type == "bool" else NUMBER
                                  for name, decl in contract.metrics.items() if boundary in decl.at}
    for name, p in contract.params.items():
        types[name] = EnumType(name, p.values) if p.type == "enum" else _PARAM_TYPES.get(p.type, UNKNOWN)
    return types


def check_expression_types(contract: Contract) -> Iterator[Diagnostic]:
    """Numbers in arithmetic and ordering, bools as conditions, enums compared only with their own values."""
    declared: dict[str, dict[str, ExprType]] = {}
    for inv in contract.invariants:
        parsed = parse_invariant(inv)
        if inv.at not in declared:
            declared[inv.at] = _declared_types(contract, inv.at)
        own, vocabulary = declared[inv.at], _vocabulary_types(inv.at)
        # Only the names this invariant reads: a lookup each, instead of a copy of the whole vocabulary.
        read = set(parsed.check.names if parsed.check else ()) | set(parsed.when.names if parsed.when else ())
        for texts in parsed.lets.values():
            for text in texts:
                read.update(text.expr.names)
        types: dict[str, ExprType] = {n: own.get(n) or vocabulary.get(n, UNKNOWN) for n in read}
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
