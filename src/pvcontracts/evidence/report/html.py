"""The auditor's page: one self-contained HTML file rendered from a :class:`ReportView`.

Self-contained means no network at all: the stylesheet and script are inline,
fonts are the system's, and a Content-Security-Policy (``default-src 'none'``)
lets the browser load nothing and run only the page's own script, named by
its SHA-256. Every piece of evidence text goes through :func:`_e`
(``html.escape`` with quotes), contract text being user input. Without
JavaScript the page still shows every gate; the script only adds the filters.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Iterable

from pvcontracts.evidence.report.assets import CSS, JS
from pvcontracts.evidence.report.html_runs import runs_section
from pvcontracts.evidence.report.markup import esc
from pvcontracts.evidence.report.model import (OUTCOME_WORDS, SIGNATURE_MEANING, STATUS_MEANING, VERDICT_MEANING,
                                               VERDICTS, FalsifierView, GateView, InvariantView, ReportView, TestView)
from pvcontracts.evidence.status import GATE_STATUSES
from pvcontracts.util.text import plural

SYMBOL = {"discharged": "\u2713", "passed": "\u2713", "valid": "\u2713", "failed": "\u2717", "error": "\u2717",
          "tampered": "\u2717", "inconsistent": "\u2717", "vacuous": "\u2205", "missing": "?", "stale": "\u21bb",
          "killed": "\u2713", "survived": "!"}


DASH = "\u2014"
FORM_WORDS = {"dsse": " (a DSSE envelope around an in-toto Statement)", "in-toto": " (an in-toto Statement)"}


_e = esc  # every piece of evidence text goes through it


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


CSP = ("default-src 'none'; " f"style-src {_csp_hash(CSS)}; script-src {_csp_hash(JS)}; "
       "img-src data:; base-uri 'none'; form-action 'none'")


def badge(word: str, label: str | None = None) -> str:
    symbol = SYMBOL.get(word, "!")
    text = label or OUTCOME_WORDS.get(word, word)
    return f'<span class="badge b-{_e(word)}">{symbol} {_e(text)}</span>'


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "\u2014"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def _git(git: dict[str, Any] | None) -> str:
    if not git:
        return "not in a git repository"
    commit = git.get("commit") or "no commit yet"
    return f"{commit}" + (" (with uncommitted changes)" if git.get("dirty") else " (clean)")


def _paragraphs(text: str | None, cls: str = "") -> str:
    if not text:
        return ""
    attr = f' class="{cls}"' if cls else ""
    return "".join(f"<p{attr}>{_e(p.strip())}</p>" for p in text.strip().split("\n\n") if p.strip())


def _first_line(text: str | None) -> str:
    return text.strip().splitlines()[0] if text and text.strip() else ""


def _message(text: str | None) -> str:
    """A test's message: the first line inline, the rest (a traceback, a counterexample) folded."""
    if not text:
        return ""
    first, _, rest = text.strip().partition("\n")
    out = f'<span class="why">{_e(first)}</span>'
    if rest.strip():
        out += f"<details><summary>full message</summary><pre>{_e(text.strip())}</pre></details>"
    return out


# --------------------------------------------------------------------------- page parts


def page_head(title: str, generator: str = "pv report") -> str:
    """The head every page of ours has: the CSP that lets it load nothing, and the one hashed stylesheet."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{_e(CSP)}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="{_e(generator)}">\n'
        f"<title>{_e(title)}</title>\n"
        f"<style>{CSS}</style>\n</head>\n"
    )


def _head(view: ReportView) -> str:
    return page_head(f"Gate evidence: {_headline_title(view)}")


def _headline_title(view: ReportView) -> str:
    tone, _ = view.headline
    return {"good": "ready", "warn": "stale", "bad": "not ready"}[tone] + f" \u00b7 {view.source}"


def _top(view: ReportView) -> str:
    taken = f"taken {view.created_at}" if view.created_at else "reproducible evidence (no timestamp)"
    commit = (view.git or {}).get("commit")
    where = f"at commit {commit[:12]}" if commit else "outside git"
    if view.git and view.git.get("dirty"):
        where += " with uncommitted changes"
    kind = "pv check" if view.kind == "check" else "pv falsify (falsifiers only)"
    return (
        '<header class="top"><div class="wrap">'
        f'<p class="eyebrow">pv-contracts \u00b7 gate evidence report</p>'
        f"<h1>Release gates</h1>"
        f'<p class="sub">Evidence <code>{_e(view.source)}</code> from {_e(kind)}, {_e(taken)}, {_e(where)}; '
        f"{_e(view.tool.get('name'))} {_e(view.tool.get('version'))}.</p>"
        "</div></header>\n"
    )


def _verdict(view: ReportView) -> str:
    tone, sentence = view.headline
    s = view.summary
    vc = view.verdict_counts()
    counts = view.status_counts()
    errors = f" pv check reported {plural(s['errors'], 'error')} (see Findings)." if s.get("errors") else ""
    lines = [
        f"{plural(len(view.gates), 'gate')} in {plural(len(view.contracts), 'contract')}: "
        + ", ".join(f"{counts[st]} {st}" for st in GATE_STATUSES) + "." + errors,
        f"Checked against the current tree ({_e(_git(view.current_git))}): "
        + ", ".join(f"{vc[v]} {v}" for v in VERDICTS) + ".",
        f"Who wrote it: {_e(view.authorship)}.",
    ]
    if view.summary.get("mutated_gates"):
        lines.append(f"Mutation check: the tests killed {view.summary.get('mutants_killed', 0)} of "
                     f"{plural(view.summary.get('mutants', 0), 'mutant')} of the gates' invariants.")
    elif view.mutation is not None and not view.mutation.get("enabled"):
        lines.append(f"Mutation check: not run ({_e(view.mutation.get('reason'))}).")
    return (f'<section class="verdict {tone}" id="verdict" role="status"><strong>{_e(sentence)}</strong>'
            + "".join(f"<p>{line}</p>" for line in lines) + "</section>\n")


def _cards(view: ReportView) -> str:
    s = view.summary
    counts = view.status_counts()
    vc = view.verdict_counts()
    out = ['<section class="cards" aria-label="Summary">']
    out.append(f'<div class="card"><span class="n">{s.get("blocking_discharged", 0)} / {s.get("blocking_gates", 0)}'
               '</span><span class="l">ship-blocking gates discharged</span></div>')
    for st in GATE_STATUSES:
        out.append(f'<button type="button" class="card s-{st}" data-status="{st}" aria-pressed="false" '
                   f'title="Show only {st} gates"><span class="n">{counts[st]}</span>'
                   f'<span class="l">{_e(st)}</span></button>')
    out.append(f'<div class="card"><span class="n">{s.get("passed", 0)} / {s.get("bound_tests", 0)}</span>'
               f'<span class="l">tests passed ({s.get("executed", 0)} ran)</span></div>')
    out.append(f'<div class="card"><span class="n">{s.get("counterexamples", 0)}</span>'
               f'<span class="l">counterexamples ({plural(s.get("falsifiers", 0), "falsifier")}, '
               f'{s.get("examples", 0)} examples)</span></div>')
    if view.runs:
        bad = sum(1 for r in view.runs if r.blocking_violated)
        tone = "s-failed" if bad else "s-discharged"
        out.append(f'<a class="card {tone}" href="#runs"><span class="n">{bad} / {len(view.runs)}</span>'
                   '<span class="l">training runs that violated a ship-blocking invariant</span></a>')
    stale_tone = ("s-failed" if vc["tampered"] or vc["inconsistent"] else "s-incomplete" if vc["stale"]
                  else "s-discharged")
    out.append(f'<div class="card {stale_tone}"><span class="n">{vc["stale"] + vc["inconsistent"] + vc["tampered"]}'
               f'</span><span class="l">gates stale, inconsistent or tampered</span></div>')
    out.append("</section>\n")
    return "".join(out)


def _filters(view: ReportView) -> str:
    counts = view.status_counts()
    vc = view.verdict_counts()
    status_opts = "".join(f'<option value="{st}">{st} ({counts[st]})</option>' for st in GATE_STATUSES)
    contract_opts = "".join(f'<option value="{_e(c.id)}">{_e(c.id)} {_e(c.version)} ({len(c.gates)})</option>'
                            for c in view.contracts)
    verdict_opts = "".join(f'<option value="{v}">{v} ({vc[v]})</option>' for v in VERDICTS)
    every_verdict = ", ".join(VERDICTS[:-1]) + " or " + VERDICTS[-1]
    n = len(view.gates)
    return (
        '<div class="filters" id="filters" role="search" hidden>'
        f'<label>Status<select id="filter-status"><option value="">all statuses</option>{status_opts}</select></label>'
        f'<label>Contract<select id="filter-contract"><option value="">all contracts</option>{contract_opts}'
        "</select></label>"
        f'<label>Evidence<select id="filter-verdict"><option value="">{every_verdict}</option>'
        f"{verdict_opts}</select></label>"
        '<label class="check"><input type="checkbox" id="filter-blocking"> only gates that block release</label>'
        '<label>Search<input type="search" id="filter-text" placeholder="gate, invariant or test" '
        'autocomplete="off"></label>'
        '<button type="button" id="filter-reset">Show all</button>'
        f'<output id="filter-count" aria-live="polite">{n} of {n} gates shown</output>'
        "</div>\n"
    )


def _blocks_label(g: GateView) -> str:
    if g.blocking:
        return '<span class="tag block">yes</span>'
    if g.ship_blocking:
        return f'<span class="tag">not while {_e(g.contract.status)}</span>'
    return '<span class="tag">no</span>'


def _verdict_cell(g: GateView) -> str:
    out = badge(g.verdict)
    if g.verdict_reasons:
        out += '<ul class="reasons">' + "".join(f"<li>{_e(r)}</li>" for r in g.verdict_reasons) + "</ul>"
    return out


def _gate_table(view: ReportView) -> str:
    out = ['<div class="scroll"><table class="gates" id="gate-table"><thead><tr><th>Status</th><th>Gate</th>'
           '<th>Contract</th><th>Blocks release</th><th class="num">Tests passed</th><th>Evidence now</th>'
           "<th>Why</th></tr></thead><tbody>"]
    for g in view.gates:
        c = g.counts
        ran = (f'<span class="gate-title">{c.get("executed", 0)} ran</span>'
               if c.get("executed") != c.get("tests") else "")
        if g.mutation:
            ran += f'<span class="gate-title">{g.mutation["killed"]}/{g.mutation["mutants"]} mutants</span>'
        title = f'<span class="gate-title">{_e(g.title)}</span>' if g.title else ""
        out.append(
            f'<tr class="gate-row" id="r-{g.anchor}" data-status="{_e(g.status)}" data-contract="{_e(g.contract.id)}" '
            f'data-verdict="{_e(g.verdict)}" data-blocking="{"yes" if g.blocking else "no"}" '
            f'data-search="{_e(g.search_text)}" data-detail="{g.anchor}">'
            f"<td>{badge(g.status)}</td>"
            f'<td><a class="gate-id" href="#{g.anchor}">{_e(g.id)}</a>{title}</td>'
            f'<td>{_e(g.contract.id)} <span class="mono">{_e(g.contract.version)}</span>'
            f'{"" if g.contract.status == "active" else " <span class=tag>" + _e(g.contract.status) + "</span>"}</td>'
            f"<td>{_blocks_label(g)}</td>"
            f'<td class="num">{c.get("passed", 0)} / {c.get("tests", 0)}{ran}</td>'
            f"<td>{_verdict_cell(g)}</td>"
            f'<td class="why">{_e(g.reason)}{_runtime_line(g)}</td></tr>'
        )
    out.append("</tbody></table></div>\n")
    out.append('<p id="no-match" class="help" hidden>No gate matches these filters.</p>\n')
    return "".join(out)


def _runtime_line(g: GateView) -> str:
    if not g.runtime_violations:
        return ""
    notes = "; ".join(n.text for n in g.runtime if n.violated)
    return f'<br><span class="sev-error">a training run violated it: {_e(notes)}</span>'


def _mutation(g: GateView) -> str:
    m = g.mutation
    if not m:
        why = ("its tests did not all pass, so its mutants were not run" if g.status != "discharged"
               else "the run did not mutation-check its gates")
        return f'<h4>Mutation check</h4><p class="help">Not mutation-checked: {_e(why)}.</p>'
    per = ", ".join(f"{_e(i)} {e['killed']}/{e['mutants']}" for i, e in m["invariants"].items())
    rows = []
    for r in m["results"]:
        to = r["to"] if isinstance(r["to"], str) else "; ".join(f"{k}: {v}" for k, v in r["to"].items())
        by = f"<br><span class=help>by <code>{_e(r['killed_by'])}</code></span>" if r.get("killed_by") else ""
        rows.append(f"<tr><td><code>{_e(r['id'])}</code></td><td>{_e(r['operator'])}<br>"
                    f'<span class="help">{_e(r["where"])}</span></td><td><code>{_e(r["from"])}</code> \u2192 '
                    f"<code>{_e(to)}</code></td>"
                    f"<td>{badge(r['outcome'], r['outcome'].replace('_', ' '))}{by}</td></tr>")
    return (f"<h4>Mutation check ({m['killed']} of {plural(m['mutants'], 'mutant')} killed)</h4>"
            '<p class="help">Each mutant is the contract text made wrong in one place; a test kills it by failing '
            "against it. Tests that kill no mutant do not test the text. Per invariant: " + per + ".</p>"
            '<details><summary>every mutant</summary><div class="scroll"><table class="tests mutants"><thead><tr>'
            "<th>Mutant</th><th>Change</th><th>Text</th><th>Outcome</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></div></details>")


def _runtime(g: GateView, view: ReportView) -> str:
    if not g.runtime:
        return ""
    items = []
    for n in g.runtime:
        anchor = view.run_anchor(n.ledger, n.run)
        text = f'<a href="#{anchor}">{_e(n.text)}</a>' if anchor else _e(n.text)
        items.append(f'<li class="{"sev-error" if n.violated else ""}">{text}</li>')
    return f"<h4>Training runs</h4><ul>{''.join(items)}</ul>"


def _diagnostic_items(diags: Iterable[Any]) -> str:
    out = []
    for d in diags:
        where = f"{d.file}:{d.line}:{d.column}" if d.line > 0 else d.file
        hint = f"<br><span class=help>hint: {_e(d.hint)}</span>" if d.hint else ""
        out.append(f'<li><code>{_e(where)}</code> <span class="sev-{_e(d.severity.value)}">{_e(d.severity.value)}'
                   f"[{_e(d.code)}]</span> {_e(d.message)}{hint}</li>")
    return "".join(out)


def _findings(view: ReportView) -> str:
    if not view.findings and not view.verify_findings:
        return ""
    out = ['<section id="findings"><h2>Findings</h2>']
    if view.findings:
        out.append('<p class="help">What pv check found when it bound gates to tests (for example a test that does '
                   "not claim the gate that lists it). Errors here keep pv check from passing.</p>")
        out.append(f'<ul class="findings">{_diagnostic_items(view.findings)}</ul>')
    if view.verify_findings:
        out.append('<p class="help">What checking this evidence against the current tree found, beyond the '
                   "gates listed above.</p>")
        out.append(f'<ul class="findings">{_diagnostic_items(view.verify_findings)}</ul>')
    out.append("</section>\n")
    return "".join(out)


def _invariant(inv: InvariantView) -> str:
    if not inv.known:
        return (f'<div class="block-item"><h5>{_e(inv.id)}</h5><p class="help">This invariant is not declared by any '
                "contract in the evidence.</p></div>")
    rows = [("Checked at", f"{_e(inv.at)}")]
    if inv.when:
        rows.append(("Only when", f"<code>{_e(inv.when)}</code>"))
    rows.append(("Must hold", f"<code>{_e(inv.check)}</code>"))
    for let in inv.lets:
        if let.value is not None:
            rows.append((f"where {_e(let.name)} =", f"<code>{_e(let.value)}</code>"))
        else:
            cases = "<br>".join(f"{_e(regime)}: <code>{_e(expr)}</code>" for regime, expr in let.by_regime)
            rows.append((f"where {_e(let.name)} =", cases + '<br><span class="help">(by training regime)</span>'))
    rows.append(("On violation", _e(inv.on_violation)))
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return (f'<div class="block-item"><h5>{_e(inv.id)} \u2014 {_e(inv.title)}</h5>'
            f"{_paragraphs(inv.description)}<table class=\"kv\">{table}</table></div>")


def _roles(t: TestView) -> str:
    tags = []
    if "bound" in t.roles:
        tags.append('<span class="tag" title="listed in the gate\'s evidence_discharged_by">bound</span>')
    if "falsifier" in t.roles:
        tags.append('<span class="tag" title="the test of a falsifier of the gate\'s invariants">falsifier'
                    + (" " + _e(", ".join(t.falsifiers)) if t.falsifiers else "") + "</span>")
    return " ".join(tags)


def _tests(g: GateView) -> str:
    if not g.tests:
        return '<p class="help">The gate names no test, and no falsifier covers its invariants.</p>'
    out = ['<div class="scroll"><table class="tests"><thead><tr><th>Test</th><th>Outcome</th>'
           '<th class="num">Duration</th><th>Detail</th></tr></thead><tbody>']
    for t in g.tests:
        detail = _message(t.message)
        if t.problem:
            detail += (f'<br><span class="help">{_e(t.problem.get("code"))}'
                       + (f" \u2014 hint: {_e(t.problem['hint'])}" if t.problem.get("hint") else "") + "</span>")
        if len(t.instances) > 1:
            items = "".join(f"<li><code>{_e(i.node_id)}</code> {badge(i.outcome)} {duration(i.duration_s)}"
                            + (f" \u2014 {_e(_first_line(i.message))}" if _first_line(i.message) else "")
                            + "</li>" for i in t.instances)
            detail += f"<details><summary>{len(t.instances)} instances</summary><ul>{items}</ul></details>"
        out.append(f"<tr><td><code>{_e(t.ref)}</code><br>{_roles(t)}</td><td>{badge(t.outcome)}</td>"
                   f'<td class="num">{duration(t.duration_s)}</td><td>{detail}</td></tr>')
    out.append("</tbody></table></div>")
    return "".join(out)


def _stats(stats: dict[str, Any] | None) -> str:
    if not stats:
        return '<p class="help">No Hypothesis statistics were recorded (the test did not run under Hypothesis).</p>'
    seed = stats.get("seed")
    seed_text = "derandomized" if stats.get("derandomize") else ("none" if seed is None else str(seed))
    items = [("Profile", stats.get("profile") or "as declared"), ("Seed", seed_text),
             ("Examples tried", stats.get("examples")), ("passed", stats.get("passed_examples")),
             ("failing", stats.get("failing_examples")), ("invalid", stats.get("invalid_examples")),
             ("Shrinks", stats.get("shrinks")), ("Budget", stats.get("max_examples")),
             ("Stopped because", stats.get("stopped_because"))]
    return '<div class="stats">' + "".join(f"<span>{_e(k)} <b>{_e(DASH if v is None else v)}</b></span>"
                                           for k, v in items) + "</div>"


def _counterexample(cx: dict[str, Any] | None) -> str:
    if not cx:
        return ""
    where = " \u00b7 ".join(_e(x) for x in (cx.get("reason"), cx.get("location")) if x)
    body = cx.get("representation")
    if not body:
        body = "\n".join(f"{k} = {json.dumps(v, sort_keys=True, ensure_ascii=False)}"
                         for k, v in sorted((cx.get("arguments") or {}).items()))
    return (f'<div class="cx"><strong>Minimal counterexample</strong>'
            f'{"<br><span class=help>" + where + "</span>" if where else ""}<pre>{_e(body)}</pre></div>')


def _falsifier(f: FalsifierView) -> str:
    return (f'<div class="block-item"><h5>{_e(f.id)} {badge(f.outcome)} '
            f'<span class="help">against {_e(f.invariant)}, {duration(f.duration_s)}</span></h5>'
            f"<p><b>Prediction:</b> {_e(f.prediction)}</p><p><b>If it fails:</b> {_e(f.if_fails)}</p>"
            f"<p>Test <code>{_e(f.test)}</code></p>{_stats(f.statistics)}{_counterexample(f.counterexample)}"
            + (_message(f.message) if f.outcome != "passed" and not f.counterexample else "") + "</div>")


def _contract_line(g: GateView) -> str:
    c = g.contract
    entry = c.changelog_entry
    change = (f"{_e(entry.version)} ({_e(entry.date)}): {_e(entry.summary)}" if entry is not None
              else '<span class="sev-warning">no changelog entry for this version</span>')
    return (f'<table class="kv"><tr><th>Contract</th><td>{_e(c.id)} <span class="mono">{_e(c.version)}</span> '
            f'<span class="tag">{_e(c.status)}</span> \u2014 {_e(c.title)}<br><code>{_e(c.file)}</code></td></tr>'
            f"<tr><th>This version</th><td>{change}</td></tr>"
            f"<tr><th>Evidence now</th><td>{badge(g.verdict)} "
            f"{_e(VERDICT_MEANING[g.verdict]) if not g.verdict_reasons else ''}"
            + ("<ul class=\"reasons\">" + "".join(f"<li>{_e(r)}</li>" for r in g.verdict_reasons) + "</ul>"
               if g.verdict_reasons else "")
            + "</td></tr></table>")


def _gate_detail(g: GateView, view: ReportView) -> str:
    blocks = ('<span class="tag block">blocks release</span>' if g.blocking else
              f'<span class="tag">ship-blocking once {_e(g.contract.id)} is active</span>' if g.ship_blocking else
              '<span class="tag">does not block release</span>')
    title = f" \u2014 {_e(g.title)}" if g.title else ""
    parts = [
        f'<article class="gate s-{_e(g.status)}" id="{g.anchor}">',
        f"<header>{badge(g.status)}<h3>{_e(g.id)}{title}</h3>{blocks}</header>",
        f'<p><b>Why {_e(g.status)}:</b> <span class="why">{_e(g.reason)}</span></p>',
        _paragraphs(g.description, "help"),
        _contract_line(g),
        f"<h4>Invariants ({len(g.invariants)})</h4>",
        "".join(_invariant(i) for i in g.invariants) or '<p class="help">none</p>',
        f"<h4>Tests ({g.counts.get('passed', 0)} of {g.counts.get('tests', 0)} passed)</h4>",
        _tests(g),
    ]
    if g.falsifiers:
        parts.append(f"<h4>Falsifiers ({len(g.falsifiers)})</h4>")
        parts.extend(_falsifier(f) for f in g.falsifiers)
    parts.append(_mutation(g))
    parts.append(_runtime(g, view))
    parts.append(f'<p class="digest">gate fingerprint {_e(g.fingerprint)} \u00b7 '
                 f"record digest {_e(g.record_digest)}</p>")
    parts.append(f'<p><a href="#r-{g.anchor}">back to the table</a></p></article>\n')
    return "".join(parts)


def _contracts(view: ReportView) -> str:
    out = ['<section id="contracts"><h2>Contracts</h2><div class="scroll"><table><thead><tr><th>Contract</th>'
           "<th>Version</th><th>Status</th><th>Gates discharged</th><th>Changelog</th></tr></thead><tbody>"]
    for c in view.contracts:
        done = sum(1 for g in c.gates if g.status == "discharged")
        history = "".join(f"<li><span class=mono>{_e(e.version)}</span> ({_e(e.date)}): {_e(e.summary)}</li>"
                          for e in c.changelog)
        entry = c.changelog_entry
        latest = f"{_e(entry.summary)}" if entry is not None else "no entry for this version"
        folded = (f"<details><summary>all {len(c.changelog)} entries</summary><ul>{history}</ul></details>"
                  if len(c.changelog) > 1 else "")
        out.append(f"<tr><td><b>{_e(c.id)}</b><span class=gate-title>{_e(c.title)}</span><code>{_e(c.file)}</code></td>"
                   f'<td class="mono">{_e(c.version)}</td><td>{_e(c.status)}</td>'
                   f'<td class="num">{done} / {len(c.gates)}</td><td>{latest}{folded}</td></tr>')
    out.append("</tbody></table></div></section>\n")
    return "".join(out)


def _provenance(view: ReportView) -> str:
    run = view.run
    how = ("pv ran the bound tests in one pytest session" if run.get("mode") == "session"
           else "read results a CI job produced (nothing was run)")
    rows: list[tuple[str, str]] = [
        ("Evidence file", f"<code>{_e(view.source)}</code>" + FORM_WORDS.get(view.form, "")),
        ("Signature", _e(view.signature.detail if view.signature is not None else SIGNATURE_MEANING["none"])),
        ("Content digest", f'<span class="digest">{_e(view.content_digest)}</span>'),
        ("Taken", _e(view.created_at or "not recorded (reproducible evidence)")),
        ("Git commit then", _e(_git(view.git))),
        ("Git commit now", _e(_git(view.current_git))),
        ("How", _e(how)),
        ("Falsifier profile", _e(run.get("profile") or "as declared")
         + (f", seed {_e(run['seed'])}" if run.get("seed") is not None else "")),
        ("Selected tests", _e(run.get("selected"))),
        ("Mutation check", _e(f"{(view.mutation or {}).get('per_invariant')} mutants per invariant at most"
                              if (view.mutation or {}).get("enabled") else
                              f"not run ({(view.mutation or {}).get('reason') or 'not recorded'})")),
    ]
    if run.get("workers"):
        rows.append(("Workers", _e(run["workers"])))
    if run.get("duration_s") is not None:
        rows.append(("Session time", duration(run["duration_s"])))
    for r in run.get("results") or ():
        rows.append(("Results file", f"<code>{_e(r.get('path'))}</code> ({_e(r.get('format'))}) "
                     f'<span class="digest">{_e(r.get("digest"))}</span>'))
    rows.append(("Tool", f"{_e(view.tool.get('name'))} {_e(view.tool.get('version'))}"))
    for key, value in sorted(view.environment.items()):
        rows.append((key.replace("_", " "), _e("not installed" if value is None else value)))
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return f'<section id="provenance"><h2>Where this evidence comes from</h2><dl class="grid">{body}</dl></section>\n'


def _legend() -> str:
    status = "".join(f"<dt>{badge(s)}</dt><dd>{_e(STATUS_MEANING[s])}</dd>" for s in GATE_STATUSES)
    verdicts = "".join(f"<dt>{badge(v)}</dt><dd>{_e(VERDICT_MEANING[v])}</dd>" for v in VERDICTS)
    return ('<section id="legend"><h2>How to read this report</h2>'
            '<p class="help">A <b>gate</b> is a release criterion. Its <b>status</b> is never written by hand: it is '
            "derived from the tests that ran. A gate is discharged only when every test it rests on (the tests it "
            "lists, and the falsifiers that try to break its invariants) exists, ran and passed.</p>"
            f'<dl class="grid">{status}</dl>'
            '<p class="help"><b>Evidence now</b> compares the evidence with the files in front of you today, the '
            "same recomputation <code>pv verify</code> does:</p>"
            f'<dl class="grid">{verdicts}</dl>'
            '<p class="help">A gate is <b>vacuous</b> when its tests pass against <b>mutants</b> of its invariants '
            "(the contract text made wrong in one place: a comparison flipped, a constant changed, a condition "
            "dropped) as well as against the real text. A digest shows only that the file agrees with itself; "
            "only a signature checked with the signer's key shows who wrote it.</p></section>\n")


def render_html(view: ReportView) -> str:
    """The whole page; the same view always gives the same bytes."""
    body = [
        _head(view), "<body>\n", _top(view), '<main class="wrap">\n', _verdict(view), _cards(view),
        '<section id="gates"><h2>Gates</h2>'
        '<p class="help">One row per gate. Click a status above or use the filters to narrow the list; '
        "click a gate for its invariants, tests and falsifiers.</p>\n",
        _filters(view), _gate_table(view), "</section>\n", _findings(view), runs_section(view.runs),
        '<section id="details"><h2>Gate details</h2>\n', *(_gate_detail(g, view) for g in view.gates), "</section>\n",
        _contracts(view), _provenance(view), _legend(), "</main>\n",
        f'<footer><div class="wrap">Written by <code>pv report</code> from <code>{_e(view.source)}</code>. '
        f"Staleness was judged against the tree at {_e(_git(view.current_git))}. "
        "This page is self-contained: it loads nothing from the network.</div></footer>\n",
        f"<script>{JS}</script>\n</body>\n</html>\n",
    ]
    return "".join(body)
