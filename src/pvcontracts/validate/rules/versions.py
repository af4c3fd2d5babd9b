"""Rules about a contract's own history: the changelog explains the current version."""

from __future__ import annotations

from typing import Iterator

from pvcontracts.contract.model import Contract
from pvcontracts.contract.semver import Version
from pvcontracts.diagnostic import Diagnostic


def check_changelog(contract: Contract) -> Iterator[Diagnostic]:
    """An entry for the current version, newest first, no repeats, nothing from the future."""
    if contract.broken & {"version", "changelog"}:
        return  # one of them did not load: its own error says why, and judging the rest would mislead
    current = Version.parse(contract.version)
    versions = [e.version for e in contract.changelog]
    if contract.version not in versions:
        yield contract.diag("PV501", ("version",),
                            f"changelog has no entry for the current version {contract.version}",
                            f"add '- {{version: {contract.version}, date: YYYY-MM-DD, summary: ...}}' at the top of changelog")
    seen: set[str] = set()
    previous: Version | None = None
    for i, entry in enumerate(contract.changelog):
        v = Version.parse(entry.version)
        if entry.version in seen:
            yield contract.diag("PV502", ("changelog", i, "version"), f"changelog lists version {entry.version} twice")
        seen.add(entry.version)
        if v.key > current.key:
            yield contract.diag("PV502", ("changelog", i, "version"),
                                f"changelog entry {entry.version} is newer than the contract's version {contract.version}",
                                "bump version to match, or fix the entry")
        if previous is not None and v.key >= previous.key and entry.version not in versions[:i]:
            yield contract.diag("PV502", ("changelog", i, "version"),
                                f"changelog is not newest-first: {entry.version} comes after {previous}")
        previous = v
