"""Per-contract rules about the lists a contract keeps: an active one has invariants, gates name evidence, lists name things once."""

from __future__ import annotations

from typing import Iterator

from pvcontracts.contract.model import Contract
from pvcontracts.diagnostic import Diagnostic


def check_gate_evidence_present(contract: Contract) -> Iterator[Diagnostic]:
    """A gate with no evidence can never be discharged; status is derived, never declared."""
    for g in contract.gates:
        if not g.evidence:
            yield contract.diag("PV208", g.path + ("evidence_discharged_by",), f"gate {g.id} names no test",
                                "list the tests whose passing discharges this gate")


def check_active_has_invariants(contract: Contract) -> Iterator[Diagnostic]:
    """An active contract is enforced: with no invariant it enforces nothing, and says it does."""
    if contract.status == "active" and not contract.invariants and not contract.broken & {"invariants", "status"}:
        yield contract.diag("PV211", ("invariants",), f"active contract {contract.id} declares no invariant",
                            "add the invariants it stands for, or set status: draft until it has some")


def check_duplicate_references(contract: Contract) -> Iterator[Diagnostic]:
    lists = [(g.path + ("invariants",), g.invariants) for g in contract.gates]
    lists += [(g.path + ("evidence_discharged_by",), g.evidence) for g in contract.gates]
    lists += [(("depends_on",), contract.depends_on)]
    for path, values in lists:
        seen: set[str] = set()
        for j, v in enumerate(values):
            if v in seen:
                yield contract.diag("PV210", path + (j,), f"'{v}' is listed twice")
            seen.add(v)
