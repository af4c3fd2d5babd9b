"""The "Training runs" section of the HTML page (``pv report`` and ``pv plot`` alike).

Per run: what it was (id, ledger, regime, mode, contract versions, when it
started and ended, whether it reached ``run_end``), its charts (loss, LR against
the expected LR, grad norm, and the metrics of any invariant it violated) with
every violation marked and linked to its row, each invariant's counts (enforced
or why not, evaluated, applied, held, violated) and each violation with its
step, epoch, expression and values. Evidence text is escaped with ``_e`` like
the rest of the page.
"""

from __future__ import annotations

from typing import Sequence

from pvcontracts.evidence.report.charts import svg_chart
from pvcontracts.evidence.report.markup import esc
from pvcontracts.evidence.report.runs import RunView, ViolationView, show
from pvcontracts.util.text import plural

DASH = "\u2014"


_e = esc


def _state(run: RunView) -> str:
    if run.blocking_violated:
        return '<span class="badge b-failed">\u2717 violated a ship-blocking invariant</span>'
    if run.violation_count:
        return f'<span class="badge b-incomplete">! {plural(run.violation_count, "violation")}</span>'
    return '<span class="badge b-passed">\u2713 no violation</span>'


def _ended(run: RunView) -> str:
    if run.complete:
        return _e(run.ended or "reached run_end (no time recorded)")
    return '<span class="sev-warning">never reached run_end</span> (killed, crashed or still running)'


def _summary_table(runs: Sequence[RunView]) -> str:
    rows = []
    for r in runs:
        blocking = ", ".join(r.blocking_violated) or "\u2014"
        rows.append(f'<tr><td><a href="#{r.anchor}">{_e(r.name)}</a></td><td><code>{_e(r.ledger)}</code></td>'
                    f"<td>{_e(r.regime)}</td><td>{'yes' if r.complete else '<span class=sev-warning>no</span>'}</td>"
                    f'<td class="num">{r.violation_count}</td>'
                    f'<td>{"<span class=sev-error>" + _e(blocking) + "</span>" if r.blocking_violated else blocking}'
                    "</td></tr>")
    return ('<div class="scroll"><table class="runs"><thead><tr><th>Run</th><th>Ledger</th><th>Regime</th>'
            '<th>Reached run_end</th><th class="num">Violations</th><th>Ship-blocking invariants violated</th>'
            "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")


def _facts(run: RunView) -> str:
    versions = "<br>".join(
        f"{_e(c.id)} <span class=mono>{_e(c.version)}</span>"
        + (f' <span class="sev-warning">(now {_e(c.current)})</span>' if c.current and c.current != c.version else "")
        for c in run.contracts) or "none recorded"
    rows = [("Run id", f"<code>{_e(run.run or 'none (a ledger older than run ids)')}</code>"),
            ("Ledger", f"<code>{_e(run.ledger)}</code>"), ("Regime", _e(run.regime)),
            ("Mode", _e(run.mode or "not recorded")), ("Contracts", versions),
            ("Started", _e(run.started or "not recorded")), ("Ended", _ended(run)),
            ("Steps taken", _e(run.last_step if run.last_step is not None else "not recorded")),
            ("Segments", _e(f"{run.segments}" + (f" (resumed {plural(run.segments - 1, 'time')})"
                                                 if run.segments > 1 else "")))]
    return '<table class="kv">' + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _charts(run: RunView) -> str:
    if not run.series:
        return ('<p class="help">No curves: this ledger has no curve records for the run (written before the '
                "runtime kept curves, with <code>curves=False</code>, or killed before its first window ended).</p>")
    marked = [v for v in run.violations if v.step is not None]
    note = ""
    if run.violation_count > len(run.violations):
        note = (f" The evidence keeps the first {len(run.violations)} of its {run.violation_count} violations; "
                "only those are marked.")
    out = [f'<p class="help">From {plural(run.curve_records, "curve record")} of the ledger, merged evenly to at '
           "most 200 points per chart. Each point is a window of steps: the line joins its first and last value, "
           "the band spans its smallest and largest finite value. Every violation is a red marker at its step; "
           f"click one for its details.{_e(note)}</p>", '<div class="charts">']
    for i, series in enumerate(run.series):
        out.append(f'<figure class="chart">{svg_chart(series, marked, f"{run.anchor}-c{i + 1}", run.name)}'
                   f"<figcaption>{_e(series.title)}" + (f" against the expected value ({_e(series.expected_by)})"
                                                         if series.expected else "") + "</figcaption></figure>")
    out.append("</div>")
    return "".join(out)


def _invariants(run: RunView) -> str:
    if not run.invariants:
        return '<p class="help">The ledger recorded no counts for this run.</p>'
    rows = []
    for i in run.invariants:
        state = {"violated": '<span class="sev-error">violated</span>', "held": "held",
                 "not enforced": '<span class="sev-warning">not enforced</span>',
                 "unknown": '<span class="sev-note">unknown</span>'}[i.state]
        why = _e(i.reason) if i.enforced is False else ("the ledger cannot say (written before the enforced flag)"
                                                         if i.enforced is None else "")
        blocks = '<span class="tag block">yes</span>' if i.blocking else "no"
        rows.append(f'<tr class="inv-{i.state.replace(" ", "-")}"><td><code>{_e(i.id)}</code></td>'
                    f"<td>{blocks}</td><td>{state}</td>"
                    f'<td class="num">{i.evaluated}</td><td class="num">{i.applicable}</td>'
                    f'<td class="num">{i.held}</td><td class="num">{i.violated}</td><td>{why}</td></tr>')
    return ('<div class="scroll"><table class="invariants"><thead><tr><th>Invariant</th><th>Ship-blocking</th>'
            '<th>Verdict</th><th class="num">Evaluated</th><th class="num">Applied</th><th class="num">Held</th>'
            '<th class="num">Violated</th><th>Why not enforced</th></tr></thead><tbody>' + "".join(rows)
            + "</tbody></table></div>")


def _values(v: ViolationView) -> str:
    if not v.values:
        return '<span class="help">none recorded</span>'
    return "<br>".join(f"<code>{_e(k)} = {_e(show(val))}</code>" for k, val in v.values)


def _violations(run: RunView) -> str:
    if not run.violations:
        return ""
    rows = []
    for i, v in enumerate(run.violations, 1):
        contract = f"{_e(v.contract)} <span class=mono>{_e(v.version)}</span>" if v.contract else ""
        blocking = ' <span class="tag block">ship-blocking</span>' if v.blocking else ""
        rows.append(f'<tr id="{v.anchor}" class="violation"><td class="num">{i}</td>'
                    f'<td class="num">{_e(v.step if v.step is not None else DASH)}</td>'
                    f'<td class="num">{_e(v.epoch if v.epoch is not None else DASH)}</td>'
                    f"<td><code>{_e(v.invariant)}</code>{blocking}<br>{contract}<br>"
                    f'<span class="help">{_e(v.boundary)}, on_violation {_e(v.on_violation)}</span></td>'
                    f"<td><code>{_e(v.expression)}</code></td><td>{_values(v)}</td>"
                    f'<td class="why">{_e(v.message)}</td></tr>')
    more = (f'<p class="help">The first {len(run.violations)} of {run.violation_count} are kept; the counts above '
            "are complete.</p>" if run.violation_count > len(run.violations) else "")
    return (f"<h4>Violations ({run.violation_count})</h4>{more}"
            '<div class="scroll"><table class="violations"><thead><tr><th class="num">#</th><th class="num">Step</th>'
            '<th class="num">Epoch</th><th>Invariant</th><th>Expression</th><th>Values</th><th>Message</th></tr>'
            "</thead><tbody>" + "".join(rows) + "</tbody></table></div>")


def run_article(run: RunView) -> str:
    return (f'<article class="run" id="{run.anchor}"><header>{_state(run)}<h3>{_e(run.name)}</h3></header>'
            f"{_facts(run)}<h4>Curves</h4>{_charts(run)}"
            f"<h4>Invariants ({len(run.invariants)})</h4>{_invariants(run)}{_violations(run)}</article>\n")


def never_enforced(runs: Sequence[RunView]) -> list[str]:
    """Invariants some run selected but no run enforced (nor violated)."""
    seen = {i.id for r in runs for i in r.invariants}
    enforced = {i.id for r in runs for i in r.invariants if i.enforced is True or i.violated}
    return sorted(seen - enforced)


def runs_section(runs: Sequence[RunView], *, intro: str = "") -> str:
    """The whole section; empty when there is no run."""
    if not runs:
        return ""
    lonely = never_enforced(runs)
    blocking = sorted({i for r in runs for i in r.blocking_violated})
    head = ['<section id="runs"><h2>Training runs</h2>',
            f'<p class="help">{_e(intro)}What each training run\'s ledger recorded: which invariants it enforced and '
            "how often they held, every violation with its values, and curves of the step metrics.</p>"]
    if blocking:
        head.append(f'<p class="sev-error">A training run violated {plural(len(blocking), "ship-blocking invariant")}: '
                    f"{_e(', '.join(blocking))}.</p>")
    if lonely:
        head.append(f'<p class="help"><b>No run enforced</b> {_e(", ".join(lonely))}: the runs say nothing about '
                    f"{'it' if len(lonely) == 1 else 'them'}.</p>")
    return "".join(head) + _summary_table(runs) + "".join(run_article(r) for r in runs) + "</section>\n"
