"""The report as GitHub-flavoured Markdown: for a pull request comment or a CI job summary.

The same content as the HTML page, without the filters: a headline, the gate
table, findings, then per gate its invariants, tests and falsifiers. Contract
text is user input and Markdown renders inline HTML, so every piece of it goes
through :func:`text` (HTML characters as entities, Markdown punctuation
backslash-escaped, table pipes escaped) or :func:`code` (a code span whose
fence is longer than any backtick run inside it).
"""

from __future__ import annotations

import json
import re
from typing import Any

from pvcontracts.evidence.report.model import (OUTCOME_WORDS, STATUS_MEANING, VERDICT_MEANING, VERDICTS,
                                               FalsifierView, GateView, InvariantView, ReportView)
from pvcontracts.evidence.report.runs import RunView, show
from pvcontracts.evidence.status import GATE_STATUSES
from pvcontracts.util.text import plural, visible

SYMBOL = {"discharged": "\u2705", "failed": "\u274c", "incomplete": "\u26a0\ufe0f", "missing": "\u2753",
          "vacuous": "\u2205", "valid": "\u2705", "stale": "\U0001f504", "inconsistent": "\u274c", "tampered": "\u274c"}
# Brackets are escaped, so "(...)" can never complete a link and needs no escape of its own.
_PUNCT = re.compile(r"([\\`*_\[\]|~])")
_LINE_START = re.compile(r"^(\s*)([-+=>#]|\d+[.)])")


def text(value: Any) -> str:
    """Inline text, safe anywhere including a table cell: no HTML, no Markdown, one line."""
    s = visible("" if value is None else str(value))  # bidi and invisible characters as their escapes
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _PUNCT.sub(r"\\\1", s)
    return " ".join(s.split())  # newlines would end a table row or a list item


def code(value: Any) -> str:
    """A code span for any text: literal inside, one line, pipes escaped for tables."""
    s = " ".join(visible("" if value is None else str(value)).split())
    longest = max((len(run) for run in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s else ""
    return f"{fence}{pad}{s.replace('|', chr(92) + '|')}{pad}{fence}"


def block(value: Any) -> str:
    """A fenced code block; the fence outgrows any backtick run in the text."""
    s = visible("" if value is None else str(value)).rstrip("\n")
    longest = max((len(run) for run in re.findall(r"`{3,}", s)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{s}\n{fence}"


def paragraphs(value: str | None) -> list[str]:
    if not value:
        return []
    # a paragraph starts a line, where "1." or "-" or ">" would begin a list or a quote
    return [_LINE_START.sub(_unmark, text(p)) for p in value.strip().split("\n\n") if p.strip()]


def _unmark(m: re.Match[str]) -> str:
    mark = m.group(2)
    return m.group(1) + (mark[:-1] + "\\" + mark[-1] if mark[0].isdigit() else "\\" + mark)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "\u2014"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _git(git: dict[str, Any] | None) -> str:
    if not git:
        return "not in a git repository"
    commit = git.get("commit")
    dirty = " with uncommitted changes" if git.get("dirty") else " (clean)"
    return (code(commit) if commit else "no commit yet") + dirty


def _status(word: str) -> str:
    return f"{SYMBOL.get(word, '')} {word}".strip()


def _gate_row(g: GateView) -> str:
    c = g.counts
    blocks = "yes" if g.blocking else (f"not while {g.contract.status}" if g.ship_blocking else "no")
    evidence = _status(g.verdict) + (": " + text("; ".join(g.verdict_reasons)) if g.verdict_reasons else "")
    contract = f"{text(g.contract.id)} {text(g.contract.version)}" + (
        "" if g.contract.status == "active" else f" ({text(g.contract.status)})")
    mutants = f" ({g.mutation['killed']}/{g.mutation['mutants']} mutants)" if g.mutation else ""
    runtime = (" \u2014 a training run violated it: " + text("; ".join(n.text for n in g.runtime if n.violated))
               if g.runtime_violations else "")
    return (f"| {_status(g.status)} | [{text(g.id)}](#{g.anchor.lower()}) | {contract} | {blocks} | "
            f"{c.get('passed', 0)} / {c.get('tests', 0)}{mutants} | {evidence} | {text(g.reason)}{runtime} |")


def _invariant(inv: InvariantView) -> list[str]:
    if not inv.known:
        return [f"- **{text(inv.id)}**: not declared by any contract in the evidence"]
    out = [f"- **{text(inv.id)}** \u2014 {text(inv.title)}"]
    out += [f"  {p}" for p in paragraphs(inv.description)]
    out.append(f"  - checked at {text(inv.at)}" + (f", only when {code(inv.when)}" if inv.when else ""))
    out.append(f"  - must hold: {code(inv.check)}")
    for let in inv.lets:
        if let.value is not None:
            out.append(f"  - where {text(let.name)} = {code(let.value)}")
        else:
            cases = "; ".join(f"{text(regime)}: {code(expr)}" for regime, expr in let.by_regime)
            out.append(f"  - where {text(let.name)} = {cases} (by training regime)")
    out.append(f"  - on violation: {text(inv.on_violation)}")
    return out


def _stats(stats: dict[str, Any] | None) -> str:
    if not stats:
        return "no Hypothesis statistics recorded"
    seed = "derandomized" if stats.get("derandomize") else f"seed {stats.get('seed')}"
    return (f"profile {text(stats.get('profile') or 'as declared')}, {text(seed)}, "
            f"{stats.get('examples')} examples tried ({stats.get('passed_examples')} passed, "
            f"{stats.get('failing_examples')} failing, {stats.get('invalid_examples')} invalid), "
            f"{stats.get('shrinks')} shrinks, budget {stats.get('max_examples')}, "
            f"stopped because {text(stats.get('stopped_because'))}")


def _falsifier(f: FalsifierView) -> list[str]:
    out = [f"- **{text(f.id)}** {_status(f.outcome) if f.outcome in SYMBOL else text(OUTCOME_WORDS.get(f.outcome))}"
           f" against {text(f.invariant)}, {code(f.test)}, {_duration(f.duration_s)}",
           f"  - prediction: {text(f.prediction)}",
           f"  - if it fails: {text(f.if_fails)}",
           f"  - {_stats(f.statistics)}"]
    cx = f.counterexample
    if cx:
        where = ", ".join(text(x) for x in (cx.get("reason"), cx.get("location")) if x)
        body = cx.get("representation") or "\n".join(
            f"{k} = {json.dumps(v, sort_keys=True, ensure_ascii=False)}"
            for k, v in sorted((cx.get("arguments") or {}).items()))
        out.append(f"  - **minimal counterexample**{': ' + where if where else ''}")
        out.append("")
        out.extend("    " + line for line in block(body).splitlines())
        out.append("")
    return out


def _gate(g: GateView) -> list[str]:
    c = g.contract
    entry = c.changelog_entry
    out = [f'<a id="{g.anchor.lower()}"></a>', "",
           f"### {_status(g.status)} {text(g.id)}" + (f" \u2014 {text(g.title)}" if g.title else ""), ""]
    out.append(f"**Why {g.status}:** {text(g.reason)}")
    out.append("")
    out += [*paragraphs(g.description), ""] if g.description else []
    out.append(f"- **Contract:** {text(c.id)} {text(c.version)} ({text(c.status)}) \u2014 {text(c.title)}, "
               f"{code(c.file)}")
    out.append("- **This version:** " + (f"{text(entry.version)} ({text(entry.date)}): {text(entry.summary)}"
                                          if entry is not None else "no changelog entry for this version"))
    out.append("- **Blocks release:** " + ("yes" if g.blocking else
                                           f"not while the contract is {text(c.status)}" if g.ship_blocking else "no"))
    out.append(f"- **Evidence now:** {_status(g.verdict)}: "
               + (text("; ".join(g.verdict_reasons)) if g.verdict_reasons else VERDICT_MEANING[g.verdict]))
    out += ["", f"**Invariants ({len(g.invariants)})**", ""]
    for inv in g.invariants:
        out += _invariant(inv)
    out += ["", f"**Tests ({g.counts.get('passed', 0)} of {g.counts.get('tests', 0)} passed)**", ""]
    if g.tests:
        out += ["| Test | Role | Outcome | Duration | Detail |", "|---|---|---|---:|---|"]
        for t in g.tests:
            role = ", ".join(t.roles) + (f" ({', '.join(t.falsifiers)})" if t.falsifiers else "")
            detail = (t.message or "").strip().splitlines()[0] if t.message and t.message.strip() else ""
            if t.problem and t.problem.get("hint"):
                detail += f" (hint: {t.problem['hint']})"
            if len(t.instances) > 1:
                detail += f" [{len(t.instances)} instances]"
            out.append(f"| {code(t.ref)} | {text(role)} | {text(OUTCOME_WORDS.get(t.outcome, t.outcome))} | "
                       f"{_duration(t.duration_s)} | {text(detail)} |")
    else:
        out.append("The gate names no test, and no falsifier covers its invariants.")
    if g.falsifiers:
        out += ["", f"**Falsifiers ({len(g.falsifiers)})**", ""]
        for f in g.falsifiers:
            out += _falsifier(f)
    out += _mutation(g)
    if g.runtime:
        out += ["", "**Training runs**", ""] + [f"- {text(n.text)}" for n in g.runtime]
    out += ["", f"<sub>gate fingerprint {code(g.fingerprint)}, record digest {code(g.record_digest)}</sub>", ""]
    return out


def _mutation(g: GateView) -> list[str]:
    m = g.mutation
    if not m:
        return ["", "**Mutation check:** not mutation-checked" + (" (its tests did not all pass)"
                                                                  if g.status != "discharged" else "")]
    per = ", ".join(f"{text(i)} {e['killed']}/{e['mutants']}" for i, e in m["invariants"].items())
    out = ["", f"**Mutation check ({m['killed']} of {plural(m['mutants'], 'mutant')} killed; per invariant: {per})**",
           "", "| Mutant | Change | Text | Outcome |", "|---|---|---|---|"]
    for r in m["results"]:
        to = r["to"] if isinstance(r["to"], str) else "; ".join(f"{k}: {v}" for k, v in r["to"].items())
        by = f" by {code(r['killed_by'])}" if r.get("killed_by") else ""
        out.append(f"| {code(r['id'])} | {text(r['operator'])} ({text(r['where'])}) | {code(r['from'])} \u2192 "
                   f"{code(to)} | {text(r['outcome'].replace('_', ' '))}{by} |")
    return out


def _diagnostics(diags: Any) -> list[str]:
    out = []
    for d in diags:
        where = f"{d.file}:{d.line}:{d.column}" if d.line > 0 else d.file
        out.append(f"- {code(where)} {d.severity.value}\\[{text(d.code)}\\]: {text(d.message)}"
                   + (f" (hint: {text(d.hint)})" if d.hint else ""))
    return out


DASH = "\u2014"
TABLE_ROWS = 12  # rows of a run's curve table: the charts' points merged again, evenly


def _curve_table(run: RunView) -> list[str]:
    """The charts as a table (a pull request comment cannot show the page's SVG): per span of steps, each series'
    last value and range, the expected value where there is one, and the violations in that span."""
    series = run.series
    if not series:
        return ["No curves: the ledger has no curve records for this run."]
    first = min(p.first_step for s in series for p in s.points)
    last = max(p.last_step for s in series for p in s.points)
    share = (last - first + 1) / TABLE_ROWS
    spans = []
    for k in range(TABLE_ROWS):
        lo, hi = first + int(k * share), first + int((k + 1) * share) - 1
        if hi >= lo and (not spans or lo > spans[-1][1]):
            spans.append((lo, max(lo, hi)))
    spans[-1] = (spans[-1][0], last)
    head = ["steps"]
    for s in series:
        head.append(f"{s.title}: last (min \u2013 max)")
        if s.expected:
            head.append(f"expected ({s.expected_by})" if s.expected_by else "expected")
    head.append("violations")
    out = ["| " + " | ".join(text(h) for h in head) + " |", "|" + "---:|" * (len(head) - 1) + "---|"]
    for lo, hi in spans:
        cells = [f"{lo}\u2013{hi}"]
        for s in series:
            inside = [p for p in s.points if lo <= p.last_step <= hi]
            if inside:
                lows = [p.low for p in inside if p.low is not None]
                highs = [p.high for p in inside if p.high is not None]
                rng = f" ({show(min(lows))} \u2013 {show(max(highs))})" if lows and highs else ""
                bad = sum(p.nonfinite for p in inside)
                cells.append(f"{show(inside[-1].last)}{rng}" + (f", {bad} non-finite" if bad else ""))
            else:
                cells.append(DASH)
            if s.expected:
                exp = [p for p in s.expected if lo <= p.last_step <= hi]
                cells.append(show(exp[-1].last) if exp else DASH)
        marks = ", ".join(f"[{text(v.invariant)} at step {v.step}](#{v.anchor.lower()})" for v in run.violations
                          if v.step is not None and lo <= v.step <= hi)
        out.append("| " + " | ".join(text(c) for c in cells) + f" | {marks} |")
    return out


def _run(run: RunView) -> list[str]:
    state = ("\u274c violated a ship-blocking invariant: " + text(", ".join(run.blocking_violated))
             if run.blocking_violated else f"\u26a0\ufe0f {plural(run.violation_count, 'violation')}"
             if run.violation_count else "\u2705 no violation")
    versions = ", ".join(f"{text(c.id)} {text(c.version)}" + (f" (now {text(c.current)})"
                                                              if c.current and c.current != c.version else "")
                         for c in run.contracts) or "none recorded"
    out = [f'<a id="{run.anchor.lower()}"></a>', "", f"### {text(run.name)}: {state}", "",
           f"- **Run id:** {code(run.run or 'none (a ledger older than run ids)')}; ledger {code(run.ledger)}",
           f"- **Regime:** {text(run.regime)}; mode {text(run.mode or 'not recorded')}",
           f"- **Contracts:** {versions}",
           f"- **Started:** {text(run.started or 'not recorded')}; **ended:** "
           + (text(run.ended or "reached run_end") if run.complete
              else "never reached run_end (killed, crashed or still running)"),
           f"- **Steps taken:** {text(run.last_step if run.last_step is not None else 'not recorded')}; "
           f"segments {run.segments}", "", "**Invariants**", "",
           "| Invariant | Ship-blocking | Verdict | Evaluated | Applied | Held | Violated | Why not enforced |",
           "|---|---|---|---:|---:|---:|---:|---|"]
    for i in run.invariants:
        why = i.reason if i.enforced is False else ("unknown (ledger written before the enforced flag)"
                                                     if i.enforced is None else "")
        out.append(f"| {code(i.id)} | {'yes' if i.blocking else 'no'} | {text(i.state)} | {i.evaluated} | "
                   f"{i.applicable} | {i.held} | {i.violated} | {text(why)} |")
    out += ["", "**Curves**", ""] + _curve_table(run)
    if run.violations:
        kept = (f" (the first {len(run.violations)} of {run.violation_count})"
                if run.violation_count > len(run.violations) else "")
        out += ["", f"**Violations{kept}**", "", "| Step | Epoch | Invariant | Expression | Values |",
                "|---:|---:|---|---|---|"]
        for v in run.violations:
            values = "; ".join(f"{k} = {show(val)}" for k, val in v.values)
            out.append(f'| <a id="{v.anchor.lower()}"></a>{text(v.step if v.step is not None else "")} | '
                       f"{text(v.epoch if v.epoch is not None else '')} | {code(v.invariant)}"
                       f"{' (ship-blocking)' if v.blocking else ''} | {code(v.expression or '')} | {text(values)} |")
    out.append("")
    return out


def _runs(view: ReportView) -> list[str]:
    if not view.runs:
        return []
    out = ["## Training runs", "", "| Run | Ledger | Regime | Reached run_end | Violations | Ship-blocking violated |",
           "|---|---|---|---|---:|---|"]
    for r in view.runs:
        blocking = text(", ".join(r.blocking_violated)) or DASH
        out.append(f"| [{text(r.name)}](#{r.anchor.lower()}) | {code(r.ledger)} | {text(r.regime)} | "
                   f"{'yes' if r.complete else 'no'} | {r.violation_count} | {blocking} |")
    out.append("")
    for r in view.runs:
        out += _run(r)
    return out


def render_markdown(view: ReportView) -> str:
    """The whole document; the same view always gives the same text."""
    tone, sentence = view.headline
    s = view.summary
    vc = view.verdict_counts()
    counts = view.status_counts()
    icon = {"good": "\u2705", "warn": "\U0001f504", "bad": "\u274c"}[tone]
    out = ["# Release gates", "", f"{icon} **{text(sentence)}**", "",
           f"- Evidence: {code(view.source)} from pv {text(view.kind)}, "
           + (f"taken {text(view.created_at)}" if view.created_at else "reproducible (no timestamp)")
           + f", {text(view.tool.get('name'))} {text(view.tool.get('version'))}",
           f"- Git commit then: {_git(view.git)}; now: {_git(view.current_git)}",
           f"- Ship-blocking gates discharged: **{s.get('blocking_discharged', 0)} of {s.get('blocking_gates', 0)}**",
           f"- Gates: {s.get('gates', 0)} in {plural(s.get('contracts', 0), 'contract')}: "
           + ", ".join(f"{counts[st]} {st}" for st in GATE_STATUSES),
           f"- Tests: {s.get('bound_tests', 0)} bound, {s.get('executed', 0)} ran, {s.get('passed', 0)} passed",
           f"- Falsifiers: {s.get('falsifiers', 0)}, {s.get('falsifiers_passed', 0)} passed, "
           f"{plural(s.get('counterexamples', 0), 'counterexample')}, {s.get('examples', 0)} examples tried",
           "- Evidence against the current tree: " + ", ".join(f"{vc[v]} {v}" for v in VERDICTS),
           f"- Who wrote it: {text(view.authorship)}",
           "- Mutation check: " + (f"the tests killed {s.get('mutants_killed', 0)} of "
                                   f"{plural(s.get('mutants', 0), 'mutant')} of the gates' invariants"
                                   if s.get("mutated_gates") else
                                   f"not run ({text((view.mutation or {}).get('reason') or 'not recorded')})"),
           f"- Content digest: {code(view.content_digest)}", ""]
    out += ["## Gates", "", "| Status | Gate | Contract | Blocks release | Tests passed | Evidence now | Why |",
            "|---|---|---|---|---:|---|---|"]
    out += [_gate_row(g) for g in view.gates]
    out.append("")
    if view.findings or view.verify_findings:
        out += ["## Findings", ""]
        out += _diagnostics(view.findings) + _diagnostics(view.verify_findings)
        out.append("")
    out += _runs(view)
    out += ["## Gate details", ""]
    for g in view.gates:
        out += _gate(g)
    out += ["## Contracts", "", "| Contract | Version | Status | Gates discharged | This version |",
            "|---|---|---|---:|---|"]
    for c in view.contracts:
        done = sum(1 for g in c.gates if g.status == "discharged")
        entry = c.changelog_entry
        out.append(f"| {text(c.id)} \u2014 {text(c.title)} | {text(c.version)} | {text(c.status)} | "
                   f"{done} / {len(c.gates)} | "
                   + (f"{text(entry.date)}: {text(entry.summary)}" if entry else "no changelog entry") + " |")
    out += ["", "## How to read this report", ""]
    out += [f"- **{st}**: {STATUS_MEANING[st]}" for st in GATE_STATUSES]
    out += [f"- evidence **{v}**: {VERDICT_MEANING[v]}" for v in VERDICTS]
    out += ["", f"<sub>Written by pv report from {code(view.source)}; staleness judged against the tree at "
            f"{_git(view.current_git)}.</sub>", ""]
    return "\n".join(out)
