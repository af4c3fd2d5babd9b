"""Per-contract rules about the lists a contract keeps: gates name evidence, lists name things once."""

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
