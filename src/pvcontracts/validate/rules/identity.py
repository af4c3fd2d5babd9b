"""Rules about names: a contract's id matches its file; item ids have their kind's shape."""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Iterator

from pvcontracts.contract.model import Contract
from pvcontracts.diagnostic import Diagnostic

ID_PATTERNS: dict[str, re.Pattern[str]] = {
    "invariants": re.compile(r"^INV-[A-Z][A-Z0-9]*-\d{3}$"),
    "gates": re.compile(r"^GATE-[A-Z][A-Z0-9]*-\d{3}$"),
    "falsifiers": re.compile(r"^FALSIFY-[A-Z][A-Z0-9]*-\d{3}$"),
    "failure_modes": re.compile(r"^FM-[A-Z][A-Z0-9]*-\d{3}$"),
}
_PREFIX = {"invariants": "INV", "gates": "GATE", "falsifiers": "FALSIFY", "failure_modes": "FM"}


def check_contract_id(contract: Contract) -> Iterator[Diagnostic]:
    """The id equals the file stem, so `depends_on: [x]` always means the file x.yaml."""
    stem = PurePath(contract.file).stem
    if contract.id != stem:
        yield contract.diag("PV201", ("id",), f"contract id '{contract.id}' differs from its file name '{stem}'",
                            f"rename the file to {contract.id}.yaml or set id: {stem}")


def _suggest(kind: str, value: str) -> str:
    prefix = _PREFIX[kind]
    m = re.match(r"^([A-Za-z]+)[-_ ]?([A-Za-z][A-Za-z0-9]*)[-_ ]?(\d+)$", value)
    if m:
        return f"write it as {prefix}-{m.group(2).upper()}-{int(m.group(3)):03d}"
    return f"ids of {kind.replace('_', ' ')} look like {prefix}-<AREA>-<NNN>, e.g. {prefix}-TRAIN-005"


def check_id_formats(contract: Contract) -> Iterator[Diagnostic]:
    """INV-/GATE-/FALSIFY-/FM-<AREA>-<NNN>: the kind is readable from the id alone in any report."""
    items = {"invariants": contract.invariants, "gates": contract.gates,
             "falsifiers": contract.falsifiers, "failure_modes": contract.failure_modes}
    for kind, records in items.items():
        pattern = ID_PATTERNS[kind]
        for record in records:
            if not pattern.match(record.id):
                yield contract.diag("PV202", (kind, record.index, "id"),
                                    f"'{record.id}' is not a valid {kind[:-1].replace('_', ' ')} id "
                                    f"({_PREFIX[kind]}-<AREA>-<NNN>)", _suggest(kind, record.id))
