"""Terminal text for ``pv check``, ``pv falsify`` and ``pv verify``.

Findings print exactly as ``pv validate`` prints them (``file:line:col:
severity[CODE]: message`` and a hint line); each verb ends with one summary
line that gives its denominators.
"""

from __future__ import annotations

import json
from typing import Any

from pvcontracts.diagnostic import Diagnostic
from pvcontracts.util.text import plural


def diagnostic_lines(diagnostics: list[Diagnostic]) -> list[str]:
    lines: list[str] = []
    for d in diagnostics:
        where = f"{d.file}:{d.line}:{d.column}" if d.line > 0 else d.file
        lines.append(f"{where}: {d.severity.value}[{d.code}]: {d.message}")
        if d.hint:
            lines.append(f"  hint: {d.hint}")
    return lines


def check_summary(summary: dict[str, Any]) -> str:
    s = summary
    mutation = (f"{s['mutants_killed']} of {plural(s['mutants'], 'mutant')} killed" if s.get("mutated_gates")
                else "not mutation-checked")
    return (f"pv check: {s['blocking_discharged']} of {plural(s['blocking_gates'], 'ship-blocking gate')} discharged "
            f"({plural(s['gates'], 'gate')}: {s['discharged']} discharged, {s['failed']} failed, "
            f"{s['incomplete']} incomplete, {s['missing']} missing, {s['vacuous']} vacuous); "
            f"{plural(s['bound_tests'], 'bound test')}, {s['executed']} executed, {s['passed']} passed; "
            f"{plural(s['falsifiers'], 'falsifier')}, {plural(s['counterexamples'], 'counterexample')}; {mutation}; "
            f"{plural(s['errors'], 'error')}, {plural(s['warnings'], 'warning')}")


def mutation_lines(doc: dict[str, Any]) -> list[str]:
    """One line per mutation-checked gate: its score, and the invariants none of whose mutants died."""
    rows = []
    for c in doc["contracts"]:
        for g in c["gates"]:
            m = g.get("mutation")
            if not m:
                continue
            weak = [i for i, e in m["invariants"].items() if e["mutants"] and not e["killed"]]
            rows.append((g["id"], f"{m['killed']}/{m['mutants']}", f"{round(100 * (m['score'] or 0))}%",
                         ("  none killed: " + ", ".join(weak)) if weak else ""))
    width = max((len(r[0]) for r in rows), default=0)
    return [f"mutants killed  {gid:<{width}}  {frac:>7} {pct:>4}{extra}" for gid, frac, pct, extra in rows]


def falsifier_lines(doc: dict[str, Any]) -> list[str]:
    """One line per falsifier: outcome, examples tried, the profile; the minimal counterexample below."""
    rows = []
    for c in doc["contracts"]:
        for f in c["falsifiers"]:
            stats = f["statistics"] or {}
            examples = f"{stats['examples']} examples" if stats else "no statistics"
            rows.append((f["id"], f["outcome"], examples, f["test"], f["counterexample"]))
    width = max((len(r[0]) for r in rows), default=0)
    out = []
    for fid, outcome, examples, test, cx in rows:
        out.append(f"{fid:<{width}}  {outcome:<13} {examples:<14} {test}")
        if cx and cx.get("representation"):
            out.extend("    " + line for line in str(cx["representation"]).splitlines())
    return out


def falsify_summary(doc: dict[str, Any]) -> str:
    s = doc["summary"]
    run = doc["run"]
    how = f"profile {run.get('profile') or 'as declared'}"
    if run.get("seed") is not None:
        how += f", seed {run['seed']}"
    falsifiers = [f for c in doc["contracts"] for f in c["falsifiers"]]
    failed = sum(1 for f in falsifiers if f["outcome"] in ("failed", "error") and f["counterexample"] is None)
    other = s["falsifiers"] - s["falsifiers_passed"] - s["counterexamples"] - failed
    return (f"pv falsify: {plural(s['falsifiers'], 'falsifier')} ({how}): {s['falsifiers_passed']} passed, "
            f"{plural(s['counterexamples'], 'counterexample')}, {failed} failed otherwise, {other} without a verdict; "
            f"{plural(s['examples'], 'example')} tried")


def verify_text(report: Any) -> str:
    lines = []
    width = max((len(v.gate) for v in report.verdicts), default=0)
    for v in report.verdicts:
        lines.append(f"{v.verdict:<12} {v.gate:<{width}}  {v.contract} {v.version}  ({v.recorded_status})")
    lines.extend(diagnostic_lines(report.diagnostics))
    c = report.counts()

    def at(git: Any) -> str:
        if not git:
            return "no git"
        commit = (git.get("commit") or "no commit")[:12]
        return commit + (" (dirty)" if git.get("dirty") else "")

    lines.append(f"pv verify: {plural(len(report.verdicts), 'gate')}: {c['valid']} valid, {c['stale']} stale, "
                 f"{c['inconsistent']} inconsistent, {c['tampered']} tampered; {report.signature.detail}; "
                 f"evidence from {at(report.evidence_git)}, tree at {at(report.current_git)}")
    return "\n".join(lines) + "\n"


def verify_json(report: Any) -> str:
    payload = {"gates": [v.to_dict() for v in report.verdicts], "summary": report.counts(),
               "diagnostics": [d.to_dict() for d in report.diagnostics],
               "evidence_git": report.evidence_git, "current_git": report.current_git,
               "signature": report.signature.to_dict(), "form": report.form, "ok": report.exit_code == 0}
    return json.dumps(payload, indent=2, sort_keys=True) + "\n"
