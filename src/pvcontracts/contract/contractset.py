"""Load a set of contracts for enforcement: the runtime refuses what `pv validate` would refuse to evaluate.

Schema errors, and whatever validate's language rules refuse (params, expressions,
lets, types), stop the load with a ContractLoadError carrying the diagnostics;
cross-contract linting and test references stay the validator's job.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Iterable

from pvcontracts.contract.loading import discover, load_contract_file
from pvcontracts.contract.model import Contract
from pvcontracts.diagnostic import Severity
from pvcontracts.errors import ContractLoadError


def shipped_contracts_dir() -> Path:
    """The training contracts that ship with pv-contracts.

    A wheel carries them as the data package ``pvcontracts/shipped/`` (the build maps
    the repository's ``contracts/`` there). A source checkout, editable or not, reads
    that ``contracts/`` itself: it is the one copy, and the checkout is where they are
    developed. Nothing else is ever searched, so a user's own ``contracts/`` directory
    is never mistaken for, or mixed into, the shipped set.
    """
    packaged = Path(str(resources.files("pvcontracts").joinpath("shipped")))
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[3]
    if _is_pv_contracts_checkout(checkout):
        return checkout / "contracts"
    raise ContractLoadError(f"this install of pv-contracts carries no shipped contracts (looked in {packaged}); "
                            "reinstall it from a wheel or a source checkout")


def _is_pv_contracts_checkout(directory: Path) -> bool:
    """True for the source tree this module was imported from: src/pvcontracts/ under a pyproject of pv-contracts."""
    pyproject = directory / "pyproject.toml"
    if not (pyproject.is_file() and (directory / "contracts").is_dir() and (directory / "src" / "pvcontracts").is_dir()):
        return False
    try:
        return 'name = "pv-contracts"' in pyproject.read_text(encoding="utf-8")
    except OSError:
        return False


def load_contracts(path: Path | str | None = None, select: Iterable[str] | None = None,
                   include_drafts: bool = True) -> list[Contract]:
    """Contracts under ``path`` (default: the shipped ones), optionally only the ids in ``select``.

    Deprecated contracts are never enforced; drafts are, unless ``include_drafts`` is false.
    """
    root = Path(path) if path is not None else shipped_contracts_dir()
    files, problems = discover([root])
    if problems or not files:
        raise ContractLoadError(f"no contracts found in {root}", problems)
    contracts: list[Contract] = []
    errors = []
    for f in files:
        loaded = load_contract_file(f)
        errors.extend(d for d in loaded.diagnostics if d.severity == Severity.ERROR)
        if loaded.contract is not None:
            contracts.append(loaded.contract)
            errors.extend(d for d in _enforceability_problems(loaded.contract) if d.severity == Severity.ERROR)
    if errors:
        first = errors[0]
        raise ContractLoadError(f"{len(errors)} error(s) in contracts, first: {first.file}:{first.line}:"
                                f"{first.column}: {first.message} (run `pv validate {root}`)", errors)
    wanted = set(select) if select is not None else None
    if wanted is not None:
        known = {c.id for c in contracts}
        unknown = sorted(wanted - known)
        if unknown:
            raise ContractLoadError(f"unknown contract id(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    out = []
    for c in contracts:
        if wanted is not None and c.id not in wanted:
            continue
        if c.status == "deprecated" or (c.status == "draft" and not include_drafts):
            continue
        out.append(c)
    return out


# The rules of `pv validate` that decide whether a contract's expressions can be evaluated at all:
# param declarations, the language, let limits and shadowing, types. The runtime refuses what they
# refuse, so an unvalidated `cap + sched` or a 3,000-let chain never reaches a training loop.
_ENFORCEABILITY_RULES = ("params", "expressions", "lets", "expression-types")


def _enforceability_problems(contract: Contract) -> list:
    # Imported here: the validate package is only needed once a contract is loaded for enforcement.
    from pvcontracts.validate.rules import CONTRACT_RULES

    return [d for name in _ENFORCEABILITY_RULES for d in CONTRACT_RULES[name][0](contract)
            if d.code not in _LEFT_TO_THE_RUN]


# A name outside the vocabulary and the contract's `metrics:` is validate's finding, not a reason to refuse
# a run: the loop may supply it, and a name it never supplies is reported as not enforced.
_LEFT_TO_THE_RUN = frozenset({"PV405"})
