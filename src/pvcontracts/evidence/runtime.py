"""Runtime evidence: what training runs' ledgers say about the contracts they enforced, run by run.

``pv check --ledger runs/x/ledger.jsonl`` adds one record per ledger to the
evidence, with one entry per run in it (:mod:`pvcontracts.evidence.ledger`
reads it strictly): the run's regime, mode and contract versions, the
invariants it selected, per-invariant counts with whether each was actually
enforced (and why not), and its violations. Each run is judged on its own:

* a violation of an invariant a ship-blocking gate covers is an error
  (PV641): the tests may pass, but a real run broke the contract; other
  violations are warnings (PV644);
* counts that say an invariant was violated more often than the ledger has
  violation records for it are an error (PV647): records were lost or
  deleted (fewer counts than records is normal after a resume, which redoes
  the steps after its checkpoint);
* a run against another contract version (PV642), or one whose last segment
  never reached ``run_end`` (PV643), is a warning; so is a ledger of a run that
  enforced none of the checked contracts (PV648);
* a ship-blocking gate whose invariants no run enforced is a note (PV649): its
  runtime evidence is absent, not clean.

``pv verify`` judges the recorded runs again (:func:`judge_recorded`) without
the ledger, so a violation fails it as it failed ``pv check``.

Each run's entry also carries what the report shows of it (the report reads
nothing but the evidence): when it started and ended (the ledger's own clock),
the furthest step it reached, each kept violation's expression and values, and
its curves (:mod:`pvcontracts.evidence.curves`): loss, LR and grad norm, and the
metrics of any invariant it violated, at most ``CHART_POINTS`` points.
"""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Any

from pvcontracts.contract.model import Contract
from pvcontracts.diagnostic import Diagnostic, Severity, make
from pvcontracts.evidence.curves import CHARTED
from pvcontracts.evidence.ledger import COUNT_KEYS, LedgerUnreadable, Run, read

MAX_VIOLATIONS_KEPT = 100  # per run; the counts are always complete
_VIOLATION_KEYS = ("invariant", "contract", "contract_version", "boundary", "step", "epoch", "on_violation", "message",
                   "expression", "values")


def _moment(value: Any) -> str | None:
    """A ledger's time (seconds since the epoch) as UTC ISO 8601, or None when it has none."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    try:
        moment = _dt.datetime.fromtimestamp(value, _dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def charted_metrics(run: Run) -> list[str]:
    """The metrics a run's charts show: loss, LR, grad norm, and those its violated invariants read."""
    have = run.curves.metrics()
    read = {name for v in run.violations for name in (v.get("values") or {}) if isinstance(name, str)}
    return sorted(m for m in have if m in CHARTED or m in read)


def _display(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)


def run_record(run: Run, current: dict[str, str]) -> dict[str, Any]:
    """The evidence's entry for one run."""
    first = run.segments[0].start
    versions: dict[str, str] = {}
    for seg in run.segments:
        for item in seg.start["contracts"]:
            versions.setdefault(item["id"], item["version"])
    last = run.last_counts or {}
    invariants = {}
    for ident in sorted(set(last) | set(run.enforced)):
        entry = last.get(ident, {})
        flag, reason = run.enforced.get(ident, (None, None))
        invariants[ident] = {**{k: int(entry.get(k, 0)) for k in COUNT_KEYS}, "enforced": flag, "reason": reason}
    selected = first.get("invariants")
    end = run.segments[-1].end or {}
    return {
        "run": run.run_id,
        "segments": len(run.segments),
        "complete": run.segments[-1].ended,
        "mode": first.get("mode") if isinstance(first.get("mode"), str) else None,
        "regime": first.get("regime"),
        "contracts": [{"id": ident, "version": version, "current_version": current.get(ident)}
                      for ident, version in sorted(versions.items())],
        "selected": sorted(selected) if isinstance(selected, list) else None,
        "invariants": invariants,
        "violation_count": run.violation_count,
        "violations_by_invariant": dict(sorted(run.violations_by_invariant.items())),
        "violations": [{k: v.get(k) for k in _VIOLATION_KEYS} for v in run.violations[:MAX_VIOLATIONS_KEPT]],
        "started": _moment(first.get("time")),
        "ended": _moment(end.get("time")) if run.segments[-1].ended else None,
        "last_step": run.last_step,
        "curves": run.curves.chart(charted_metrics(run)),
    }


def _run_name(rec: dict[str, Any]) -> str:
    return f"run {rec['run'][:12]}" if rec.get("run") else "a run"


def judge_run(rec: dict[str, Any], blocking: set[str], shown: str, owners: dict[str, str]) -> list[Diagnostic]:
    """The findings one recorded run implies (pv check and pv verify both use this)."""
    out: list[Diagnostic] = []
    name = _run_name(rec)
    for c in rec["contracts"]:
        if c.get("current_version") is not None and c["current_version"] != c["version"]:
            out.append(make("PV642", shown, 0, 0, f"{name} enforced {c['id']} {c['version']}; the contract is now "
                            f"{c['current_version']}", "run again to get runtime evidence for the current version"))
    if not rec["complete"]:
        out.append(make("PV643", shown, 0, 0, f"{name} never reached run_end (killed, crashed or still running)"))
    for ident, entry in rec["invariants"].items():
        recorded = rec["violations_by_invariant"].get(ident, 0)
        if entry["violated"] > recorded:
            out.append(make("PV647", shown, 0, 0, f"{name}: the counts say {ident} was violated {entry['violated']} "
                            f"times, but the ledger has {recorded} violation record{'s' if recorded != 1 else ''} "
                            "for it", "violation records were lost or deleted: do not trust this ledger"))
    for ident, n in rec["violations_by_invariant"].items():
        if ident in blocking:
            example = next((v for v in rec["violations"] if v["invariant"] == ident), {})
            where = (f"step {example.get('step')}" if example.get("boundary") == "step_end"
                     else f"epoch {example.get('epoch')}")
            out.append(make("PV641", shown, 0, 0, f"runtime evidence: {name} violated {ident} {n} time"
                            f"{'s' if n != 1 else ''} (first at {example.get('boundary')}, {where}: "
                            f"{example.get('message', '')})",
                            f"covered by a ship-blocking gate of {owners.get(ident, '?')}"))
        else:
            out.append(make("PV644", shown, 0, 0, f"runtime evidence: {name} violated {ident} {n} time"
                            f"{'s' if n != 1 else ''}"))
    return out


def ledger_evidence(path: Path, root: Path,
                    contracts: list[Contract]) -> tuple[dict[str, Any] | None, list[Diagnostic]]:
    """One ledger's record for the evidence file, and the findings it implies."""
    shown = _display(path, root)
    try:
        runs, problems, digest = read(path)
    except LedgerUnreadable as exc:
        return None, [make("PV640", shown, 0, 0, f"cannot read ledger: {exc}")]
    findings = [make(p.code, shown, p.line, 1 if p.line else 0, p.message).with_severity(Severity(p.severity))
                for p in problems]
    if not runs:
        findings.append(make("PV640", shown, 0, 0, "not a pv-contracts ledger (no usable run_start record)",
                             "pass the ledger.jsonl a Monitor or `pv train` wrote"))
        return None, findings
    current = {c.id: c.version for c in contracts}
    owners = {inv.id: c.id for c in contracts for inv in c.invariants}
    blocking = {i for c in contracts if c.status == "active" for g in c.gates if g.ship_blocking for i in g.invariants}
    records = [run_record(run, current) for run in runs]
    if not any(c["id"] in current for rec in records for c in rec["contracts"]):
        named = sorted({c["id"] for rec in records for c in rec["contracts"]})
        findings.append(make("PV648", shown, 0, 0, "the ledger's runs enforced none of the checked contracts "
                             f"(they enforced {', '.join(named) or 'nothing'})",
                             "pass the ledger of a run of these contracts, or check the contracts it ran"))
    for rec in records:
        findings.extend(judge_run(rec, blocking, shown, owners))
    record = {"path": shown, "digest": digest, "problems": [p.to_json() for p in problems], "runs": records}
    return record, findings


def unenforced(records: list[dict[str, Any]], contracts: list[Contract]) -> list[Diagnostic]:
    """PV649 per ship-blocking gate with an invariant that no run in the given ledgers enforced.

    An invariant a ledger cannot speak for (written before runs recorded ``enforced``) is not
    counted as enforced either: it is named apart, as unknown.
    """
    enforced: set[str] = set()
    unknown: set[str] = set()
    for rec in records:
        for run in rec["runs"]:
            for ident, entry in run["invariants"].items():
                if entry.get("enforced") is True:
                    enforced.add(ident)
                elif entry.get("enforced") is None:
                    unknown.add(ident)
    out = []
    for c in contracts:
        if c.status != "active":
            continue
        for g in c.gates:
            if not g.ship_blocking:
                continue
            missing = [i for i in g.invariants if i not in enforced]
            if not missing:
                continue
            told = [i for i in missing if i not in unknown]
            silent = [i for i in missing if i in unknown]
            parts = []
            if told:
                parts.append(f"no run in the given ledgers enforced {', '.join(told)}")
            if silent:
                parts.append(f"the ledgers cannot say whether {', '.join(silent)} "
                             f"{'was' if len(silent) == 1 else 'were'} enforced (they predate the enforced flag)")
            out.append(c.diag("PV649", g.path, f"{g.id}: " + "; ".join(parts) + ": its runtime evidence is absent, "
                              "not clean", None))
    return out


def judge_recorded(runtime: list[dict[str, Any]], blocking: set[str], display: str) -> list[Diagnostic]:
    """The findings of the runs an evidence file records, judged again (for pv verify)."""
    out: list[Diagnostic] = []
    for rec in runtime:
        for run in rec.get("runs", []):
            for d in judge_run(run, blocking, rec.get("path", display), {}):
                if d.code in ("PV641", "PV647"):  # what fails pv check fails pv verify
                    out.append(d)
    return out
