"""Validation rules, one small function each, registered by name with the codes they emit.

Two shapes, as python-jsonschema has one per keyword: a *contract rule* sees
one contract and its result can be cached by the file's digest; a *project
rule* sees every contract at once (uniqueness, references, cycles) and always
runs. Rules only say what is wrong and at which YAML path; the contract turns
the path into file, line and column.
"""

from __future__ import annotations

from typing import Callable, Iterable

from pvcontracts.contract.model import Contract
from pvcontracts.diagnostic import Diagnostic
from pvcontracts.validate.rules.expressions import check_expressions, check_lets, check_params
from pvcontracts.validate.rules.guards import check_history_guards
from pvcontracts.validate.rules.identity import check_contract_id
from pvcontracts.validate.rules.reactions import check_reaction_boundaries
from pvcontracts.validate.rules.project import (
    Project,
    check_coverage,
    check_dependencies,
    check_invariant_references,
    check_unique_ids,
)
from pvcontracts.validate.rules.references import (
    check_active_has_invariants,
    check_duplicate_references,
    check_gate_evidence_present,
)
from pvcontracts.validate.rules.types import check_expression_types
from pvcontracts.validate.rules.versions import check_changelog

ContractRule = Callable[[Contract], Iterable[Diagnostic]]
ProjectRule = Callable[[Project], Iterable[Diagnostic]]

CONTRACT_RULES: dict[str, tuple[ContractRule, tuple[str, ...]]] = {
    "contract-id": (check_contract_id, ("PV201",)),
    "params": (check_params, ("PV409",)),
    "expressions": (check_expressions, ("PV401", "PV402", "PV403", "PV404", "PV405", "PV406", "PV407", "PV408")),
    "lets": (check_lets, ("PV412", "PV413")),
    "expression-types": (check_expression_types, ("PV411",)),
    "history-guards": (check_history_guards, ("PV410",)),
    "reaction-boundaries": (check_reaction_boundaries, ("PV414",)),
    "changelog": (check_changelog, ("PV501", "PV502")),
    "active-has-invariants": (check_active_has_invariants, ("PV211",)),
    "gate-evidence-present": (check_gate_evidence_present, ("PV208",)),
    "duplicate-references": (check_duplicate_references, ("PV210",)),
}

PROJECT_RULES: dict[str, tuple[ProjectRule, tuple[str, ...]]] = {
    "unique-ids": (check_unique_ids, ("PV203",)),
    "invariant-references": (check_invariant_references, ("PV204",)),
    "coverage": (check_coverage, ("PV205",)),
    "dependencies": (check_dependencies, ("PV206", "PV207", "PV209")),
}


def run_contract_rules(contract: Contract) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for rule, _codes in CONTRACT_RULES.values():
        out.extend(rule(contract))
    return out


def run_project_rules(project: Project) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for rule, _codes in PROJECT_RULES.values():
        out.extend(rule(project))
    return out


__all__ = ["CONTRACT_RULES", "PROJECT_RULES", "Project", "run_contract_rules", "run_project_rules"]
