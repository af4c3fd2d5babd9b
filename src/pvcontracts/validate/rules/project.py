"""Rules over all contracts at once: unique ids, references that resolve, an acyclic dependency graph."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterator

from pvcontracts.contract.model import Contract
from pvcontracts.diagnostic import Diagnostic


@dataclass
class Project:
    """The contracts being validated, plus the ids of files that failed to load (so references to them don't cascade)."""

    contracts: list[Contract]
    unloadable_ids: dict[str, str] = field(default_factory=dict)  # declared id -> file
    unloadable_invariants: dict[str, str] = field(default_factory=dict)  # invariant id a broken file declares -> file

    @property
    def by_id(self) -> dict[str, Contract]:
        return {c.id: c for c in self.contracts if "id" not in c.broken}

    def invariant_owner(self) -> dict[str, Contract]:
        owner: dict[str, Contract] = {}
        for c in self.contracts:
            for inv in c.invariants:
                owner.setdefault(inv.id, c)
        return owner


def check_unique_ids(project: Project) -> Iterator[Diagnostic]:
    """Ids are global: a gate in one contract may name an invariant of another, so two owners would be ambiguous."""
    first: dict[str, tuple[Contract, tuple[str | int, ...]]] = {}
    for c in project.contracts:
        items = [] if "id" in c.broken else [(("id",), c.id)]
        for kind, records in (("invariants", c.invariants), ("gates", c.gates), ("falsifiers", c.falsifiers),
                              ("failure_modes", c.failure_modes)):
            items.extend(((kind, r.index, "id"), r.id) for r in records)
        for path, ident in items:
            if ident in first:
                other, other_path = first[ident]
                line, col = other.locate(other_path)
                yield c.diag("PV203", path, f"id '{ident}' is already declared at {other.file}:{line}:{col}",
                             "ids must be unique across all contracts; give this one the next free number")
            else:
                first[ident] = (c, path)


def check_invariant_references(project: Project) -> Iterator[Diagnostic]:
    """Gates, falsifiers and failure modes name invariants that exist (in any contract)."""
    known = set(project.invariant_owner())
    # a broken file, or a record of one that did not load, has its own errors; don't add a cascade here
    broken = set(project.unloadable_invariants) | {i for c in project.contracts for i in c.broken_ids}

    def unknown(c: Contract, path: tuple[str | int, ...], ref: str) -> Diagnostic:
        close = difflib.get_close_matches(ref, sorted(known), n=1, cutoff=0.7)
        return c.diag("PV204", path, f"unknown invariant '{ref}'", f"did you mean '{close[0]}'?" if close else None)

    for c in project.contracts:
        for g in c.gates:
            for j, ref in enumerate(g.invariants):
                if ref not in known and ref not in broken:
                    yield unknown(c, g.path + ("invariants", j), ref)
        for f in c.falsifiers:
            if f.invariant not in known and f.invariant not in broken:
                yield unknown(c, f.path + ("invariant",), f.invariant)
        for m in c.failure_modes:
            for j, ref in enumerate(m.invariants):
                if ref not in known and ref not in broken:
                    yield unknown(c, m.path + ("invariants", j), ref)


def check_coverage(project: Project) -> Iterator[Diagnostic]:
    """An invariant no gate covers can never be discharged by evidence: a warning, since drafts grow."""
    covered = {ref for c in project.contracts for g in c.gates for ref in g.invariants}
    covered |= {ref for c in project.contracts for ref in c.broken_refs}  # named by a gate that did not load
    if "*" in covered:
        return  # a gate whose list of invariants cannot be read may cover any of them: its error comes first
    for c in project.contracts:
        if c.status == "deprecated":
            continue
        for inv in c.invariants:
            if inv.id not in covered:
                yield c.diag("PV205", inv.path + ("id",), f"invariant {inv.id} is not covered by any gate",
                              "add it to a gate's invariants, or the release criteria never look at it")


def check_dependencies(project: Project) -> Iterator[Diagnostic]:
    """depends_on names existing contracts and never loops back."""
    by_id = project.by_id
    for c in project.contracts:
        for j, dep in enumerate(c.depends_on):
            if dep not in by_id and dep not in project.unloadable_ids:
                close = difflib.get_close_matches(dep, sorted(by_id), n=1, cutoff=0.6)
                yield c.diag("PV206", ("depends_on", j), f"depends on unknown contract '{dep}'",
                             f"did you mean '{close[0]}'?" if close else "no contract file has that id")
            elif dep in by_id and c.status == "active" and by_id[dep].status == "deprecated":
                yield c.diag("PV209", ("depends_on", j), f"active contract depends on deprecated contract '{dep}'")
    # cycles: iterative DFS, each cycle reported once at the edge that closes it
    state: dict[str, int] = {}
    for start in sorted(by_id):
        if start in state:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = []
        while stack:
            node, i = stack.pop()
            if i == 0:
                state[node] = 1
                path.append(node)
            deps = [d for d in by_id[node].depends_on if d in by_id]
            if i < len(deps):
                stack.append((node, i + 1))
                nxt = deps[i]
                if state.get(nxt) == 1:
                    cycle = path[path.index(nxt):] + [nxt]
                    owner = by_id[node]
                    j = list(owner.depends_on).index(nxt)
                    yield owner.diag("PV207", ("depends_on", j), "dependency cycle: " + " -> ".join(cycle))
                elif nxt not in state:
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                path.pop()
