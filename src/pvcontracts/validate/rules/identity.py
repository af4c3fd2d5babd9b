"""Rules about names: a contract's id matches its file.

The shape of item ids (``INV-/GATE-/FALSIFY-/FM-<AREA>-<NNN>``, PV202) is the
schema's rule, defined once in its ``$defs`` and explained by
:mod:`pvcontracts.contract.ids`, so an editor, the validator and the runtime
loader all refuse the same ids.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Iterator

from pvcontracts.contract.model import Contract
from pvcontracts.diagnostic import Diagnostic


def check_contract_id(contract: Contract) -> Iterator[Diagnostic]:
    """The id equals the file stem, so `depends_on: [x]` always means the file x.yaml."""
    if "id" in contract.broken:
        return
    stem = PurePath(contract.file).stem
    if contract.id != stem:
        yield contract.diag("PV201", ("id",), f"contract id '{contract.id}' differs from its file name '{stem}'",
                            f"rename the file to {contract.id}.yaml or set id: {stem}")
