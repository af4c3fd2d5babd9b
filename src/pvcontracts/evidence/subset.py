"""``pv check PATHS`` on some of the contracts: the gates of the others are known, not checked.

A test may claim (``@pytest.mark.discharges``) a gate of a contract the run was
not asked to check. Against all contracts that is a real finding (PV601: no
contract declares that gate); against a subset it is expected. So the gates of
the contracts *beside* the checked ones (in the repository's ``contracts/``
and in the directories of the named paths) are read, and a claim of one of
those is a note (PV605) instead of an error. A claim of a gate no contract
anywhere declares stays PV601.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def other_gates(paths: list[Path], root: Path, binding: Any) -> dict[str, str]:
    """Gate id -> contract file, for contracts near the checked ones that this run does not check."""
    from pvcontracts.contract.loading import discover, load_contract_file
    from pvcontracts.validate.engine import display_path

    checked = {Path(c.file).resolve() for c in binding.contracts}
    places = {(root / "contracts").resolve()}
    for p in paths:
        p = Path(p)
        places.add((p if p.is_dir() else p.parent).resolve())
    files, _ = discover(sorted(d for d in places if d.is_dir()))
    out: dict[str, str] = {}
    for f in files:
        if f.resolve() in checked:
            continue
        loaded = load_contract_file(f, display_path(f))
        if loaded.contract is None:
            continue
        for g in loaded.contract.gates:
            out.setdefault(g.id, loaded.file)
    return out
