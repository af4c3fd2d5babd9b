"""What changed in a contract's meaning between two versions, and the bump that change demands.

A removed or changed invariant is major (a run that passed may now fail),
an added one minor, prose patch. Expressions are compared by their parsed
form, so reformatting ``val_loss<=cap`` is prose, not meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pvcontracts.contract.expr import parse_expression
from pvcontracts.contract.model import Contract
from pvcontracts.contract.semver import BUMP_ORDER, Version, bump_size, required_for
from pvcontracts.errors import ExpressionError


@dataclass(frozen=True)
class Change:
    level: str   # "major" | "minor" | "patch"
    subject: str  # e.g. "INV-TRAIN-005.check"
    description: str


def _canon(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return parse_expression(text).canonical
    except ExpressionError:
        return text.strip()


def _lets_canon(lets: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, let in lets.items():
        if let.by_regime is None:
            out[name] = _canon(let.value)
        else:
            out[name] = {k: _canon(v) for k, v in sorted(let.by_regime.items())}
    return out


def _keyed(records: Any) -> dict[str, Any]:
    return {r.id: r for r in records}


def compare_contracts(old: Contract, new: Contract) -> list[Change]:
    """Every change between two versions of one contract, each with the bump it needs."""
    changes: list[Change] = []
    add = changes.append
    old_inv, new_inv = _keyed(old.invariants), _keyed(new.invariants)
    for ident in sorted(old_inv.keys() - new_inv.keys()):
        add(Change("major", ident, "invariant removed"))
    for ident in sorted(new_inv.keys() - old_inv.keys()):
        add(Change("minor", ident, "invariant added"))
    for ident in sorted(old_inv.keys() & new_inv.keys()):
        a, b = old_inv[ident], new_inv[ident]
        for field in ("at", "on_violation"):
            if getattr(a, field) != getattr(b, field):
                add(Change("major", f"{ident}.{field}", f"{field} changed from {getattr(a, field)!r} to {getattr(b, field)!r}"))
        for field in ("check", "when"):
            if _canon(getattr(a, field)) != _canon(getattr(b, field)):
                add(Change("major", f"{ident}.{field}", f"{field} changed from {getattr(a, field)!r} to {getattr(b, field)!r}"))
            elif getattr(a, field) != getattr(b, field):
                add(Change("patch", f"{ident}.{field}", "expression reformatted, same meaning"))
        if _lets_canon(a.lets) != _lets_canon(b.lets):
            add(Change("major", f"{ident}.let", "let values changed"))
        elif {k: v.texts() for k, v in a.lets.items()} != {k: v.texts() for k, v in b.lets.items()}:
            add(Change("patch", f"{ident}.let", "let expression reformatted, same meaning"))  # as for check/when
        if (a.title, a.description) != (b.title, b.description):
            add(Change("patch", ident, "title or description changed"))
    for ident in sorted(old.params.keys() - new.params.keys()):
        add(Change("major", f"params.{ident}", "param removed"))
    for ident in sorted(new.params.keys() - old.params.keys()):
        add(Change("minor", f"params.{ident}", "param added"))
    for ident in sorted(old.params.keys() & new.params.keys()):
        a, b = old.params[ident], new.params[ident]
        if (a.type, a.min, a.max, a.default, a.values) != (b.type, b.min, b.max, b.default, b.values):
            add(Change("major", f"params.{ident}", "param type, range, default or values changed"))
        elif a.description != b.description:
            add(Change("patch", f"params.{ident}", "param description changed"))
    if {k: (m.at, m.type) for k, m in old.metrics.items()} != {k: (m.at, m.type) for k, m in new.metrics.items()}:
        add(Change("minor", "metrics", "declared metrics changed"))
    old_g, new_g = _keyed(old.gates), _keyed(new.gates)
    for ident in sorted(old_g.keys() - new_g.keys()):
        add(Change("major", ident, "gate removed"))
    for ident in sorted(new_g.keys() - old_g.keys()):
        add(Change("minor", ident, "gate added"))
    for ident in sorted(old_g.keys() & new_g.keys()):
        a, b = old_g[ident], new_g[ident]
        if a.ship_blocking and not b.ship_blocking:
            add(Change("major", f"{ident}.ship_blocking", "gate no longer blocks shipping"))
        elif a.ship_blocking != b.ship_blocking:
            add(Change("minor", f"{ident}.ship_blocking", "gate now blocks shipping"))
        if set(a.invariants) != set(b.invariants):
            add(Change("minor", f"{ident}.invariants", "gate covers different invariants"))
        if set(a.evidence) != set(b.evidence):
            add(Change("minor", f"{ident}.evidence_discharged_by", "gate evidence changed"))
        if (a.title, a.description) != (b.title, b.description):
            add(Change("patch", ident, "gate title or description changed"))
    old_f, new_f = _keyed(old.falsifiers), _keyed(new.falsifiers)
    for ident in sorted(old_f.keys() ^ new_f.keys()):
        add(Change("minor", ident, "falsifier removed" if ident in old_f else "falsifier added"))
    for ident in sorted(old_f.keys() & new_f.keys()):
        a, b = old_f[ident], new_f[ident]
        if (a.invariant, a.test) != (b.invariant, b.test):
            add(Change("minor", ident, "falsifier target or test changed"))
        elif (a.prediction, a.if_fails) != (b.prediction, b.if_fails):
            add(Change("patch", ident, "falsifier prose changed"))
    if set(old.depends_on) != set(new.depends_on):
        add(Change("minor", "depends_on", "dependencies changed"))
    if old.status != new.status:
        add(Change("minor", "status", f"status changed from {old.status} to {new.status}"))
    if old.id != new.id:
        add(Change("major", "id", f"contract renamed from {old.id} to {new.id}"))
    for field in ("title", "description", "references"):
        if old.data.get(field) != new.data.get(field):
            add(Change("patch", field, f"{field} changed"))
    if [(m.id, m.title, m.description, m.invariants) for m in old.failure_modes] != \
            [(m.id, m.title, m.description, m.invariants) for m in new.failure_modes]:
        add(Change("patch", "failure_modes", "failure modes changed"))
    return changes


def largest(changes: list[Change]) -> str:
    return max((c.level for c in changes), key=lambda lvl: BUMP_ORDER[lvl], default="none")


@dataclass(frozen=True)
class BumpVerdict:
    old_version: str
    new_version: str
    actual: str
    required: str
    changes: tuple[Change, ...]

    @property
    def regressed(self) -> bool:
        return Version.parse(self.new_version).key < Version.parse(self.old_version).key

    @property
    def sufficient(self) -> bool:
        return not self.regressed and BUMP_ORDER[self.actual] >= BUMP_ORDER[self.required]


def judge_bump(old: Contract, new: Contract) -> BumpVerdict:
    """Compare two versions of a contract and say whether its version rose enough."""
    changes = compare_contracts(old, new)
    old_v, new_v = Version.parse(old.version), Version.parse(new.version)
    change = largest(changes)
    required = required_for(old_v, change) if change != "none" else "none"
    return BumpVerdict(old.version, new.version, bump_size(old_v, new_v), required, tuple(changes))
