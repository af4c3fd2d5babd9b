"""Runtime evidence: what a training run's ledger says about the contracts it enforced.

`pv check --ledger runs/x/ledger.jsonl` adds one record per ledger to the
evidence: the run's regime and contract versions, per-invariant counts
(evaluated, applicable, violated), and every recorded violation. A violation
of an invariant that a ship-blocking gate covers is an error: the tests may
pass, but a real run broke the contract. A ledger written against another
contract version, or by a run that never reached run_end, is a warning.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pvcontracts.contract.model import Contract
from pvcontracts.diagnostic import Diagnostic, make

MAX_VIOLATIONS_KEPT = 100  # per ledger; the count is always complete


def _display(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)


def ledger_evidence(path: Path, root: Path, contracts: list[Contract]) -> tuple[dict[str, Any] | None, list[Diagnostic]]:
    """One ledger's record for the evidence file, and the findings it implies."""
    from pvcontracts.runtime.ledger import read_ledger

    shown = _display(path, root)
    try:
        raw = path.read_bytes()
        records = list(read_ledger(path))
    except OSError as exc:
        return None, [make("PV640", shown, 0, 0, f"cannot read ledger: {exc.strerror or exc}")]
    start = next((r for r in records if isinstance(r, dict) and r.get("kind") == "run_start"), None)
    if start is None:
        return None, [make("PV640", shown, 0, 0, "not a pv-contracts ledger (no run_start record)",
                           "pass the ledger.jsonl a Monitor or `pv train` wrote")]
    by_id = {c.id: c for c in contracts}
    owner = {inv.id: c for c in contracts for inv in c.invariants}
    blocking = {ref for c in contracts if c.status == "active" for g in c.gates if g.ship_blocking for ref in g.invariants}
    findings: list[Diagnostic] = []
    versions = []
    for item in start.get("contracts", []):
        ident, version = item.get("id"), item.get("version")
        current = by_id[ident].version if ident in by_id else None
        versions.append({"id": ident, "version": version, "current_version": current})
        if current is not None and current != version:
            findings.append(make("PV642", shown, 0, 0, f"the run enforced {ident} {version}; the contract is now {current}",
                                 "run again to get runtime evidence for the current version"))
    counts = [r for r in records if r.get("kind") == "counts"]
    invariants = counts[-1].get("invariants", {}) if counts else {}
    violations = [r for r in records if r.get("kind") == "violation"]
    complete = any(r.get("kind") == "run_end" for r in records)
    if not complete:
        findings.append(make("PV643", shown, 0, 0, "the run never reached run_end (killed, crashed or still running)"))
    for v in violations:
        ident = v.get("invariant")
        where = f"step {v.get('step')}" if v.get("boundary") == "step_end" else f"epoch {v.get('epoch')}"
        code = "PV641" if ident in blocking else "PV644"
        findings.append(make(code, shown, 0, 0, f"runtime evidence: {ident} violated at {v.get('boundary')}, {where}: "
                                                f"{v.get('message', '')}",
                             f"covered by a ship-blocking gate of {owner[ident].id}" if ident in blocking else None))
    record = {
        "path": shown,
        "digest": hashlib.sha256(raw).hexdigest(),
        "complete": complete,
        "regime": start.get("regime"),
        "contracts": versions,
        "invariants": {k: invariants[k] for k in sorted(invariants)},
        "violation_count": len(violations),
        "violations": [{k: v.get(k) for k in ("invariant", "contract", "contract_version", "boundary", "step",
                                               "epoch", "on_violation", "message")}
                       for v in violations[:MAX_VIOLATIONS_KEPT]],
    }
    return record, findings
