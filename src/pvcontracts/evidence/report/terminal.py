"""``pv status``: the gate table in the terminal.

Plain aligned columns that read the same without colour (the status is always
a word; colour only repeats it), so it is fine in a log or a pipe. Under a gate
that is not discharged and valid, an indented line says why.
"""

from __future__ import annotations

from pvcontracts.evidence.report.model import ReportView
from pvcontracts.util.text import plural, visible

_COLOR = {"discharged": "32", "valid": "32", "failed": "31", "tampered": "31", "inconsistent": "31", "vacuous": "31",
          "incomplete": "33", "stale": "33", "missing": "35"}


def _paint(word: str, width: int, color: bool) -> str:
    cell = f"{word:<{width}}"
    if not color or word not in _COLOR:
        return cell
    return f"\x1b[{_COLOR[word]}m{word}\x1b[0m" + " " * (width - len(word))


def status_lines(view: ReportView, *, color: bool = False, status: str | None = None,
                 contract: str | None = None, reasons: bool = True) -> list[str]:
    gates = [g for g in view.gates if (status is None or g.status == status)
             and (contract is None or g.contract.id == contract)]
    rows = []
    for g in gates:
        c = g.contract
        blocks = "yes" if g.blocking else ("draft" if g.ship_blocking and c.status == "draft" else
                                           c.status if g.ship_blocking else "no")
        mutants = f"{g.mutation['killed']}/{g.mutation['mutants']}" if g.mutation else "-"
        rows.append((g, g.status, visible(g.id), visible(f"{c.id} {c.version}"), blocks,
                     f"{g.counts.get('passed', 0)}/{g.counts.get('tests', 0)}", mutants, g.verdict))
    head = ("STATUS", "GATE", "CONTRACT", "BLOCKS", "PASSED", "KILLED", "EVIDENCE")
    widths = [max([len(head[i])] + [len(r[i + 1]) for r in rows]) for i in range(len(head))]
    lines = ["  ".join(f"{h:<{w}}" for h, w in zip(head, widths)).rstrip()]
    for g, *cells in rows:
        painted = [_paint(cells[0], widths[0], color)] + [f"{v:<{w}}" for v, w in zip(cells[1:-1], widths[1:-1])]
        painted.append(_paint(cells[-1], widths[-1], color))
        lines.append("  ".join(painted).rstrip())
        if reasons and not g.ready:
            if g.status != "discharged":
                lines.append(f"    why: {visible(g.reason)}")  # escapes: no terminal control from a test name
            for r in g.verdict_reasons:
                lines.append(f"    {g.verdict}: {visible(r)}")
            for n in g.runtime:
                if n.violated:
                    lines.append(f"    runtime: {visible(n.text)}")
    if not rows:
        lines.append("(no gate matches)")
    return lines


def runs_lines(view: ReportView) -> list[str]:
    """One line per recorded training run: where it came from, whether it ended, what it violated."""
    if not view.runs:
        return []
    lines = ["training runs:"]
    for r in view.runs:
        ended = "reached run_end" if r.complete else "never reached run_end"
        what = f"{plural(r.violation_count, 'violation')}" if r.violation_count else "no violation"
        first = r.first_blocking
        if r.blocking_violated:
            what += f"; ship-blocking violated: {', '.join(r.blocking_violated)}"
            if first is not None:
                what += f" (first at {first.where})"
        lines.append(visible(f"  {r.name}  {r.ledger}  {ended}, {what}"))
    return lines


def status_summary(view: ReportView) -> str:
    s = view.summary
    counts = view.status_counts()
    vc = view.verdict_counts()
    when = view.created_at or "reproducible"
    if view.git:
        commit = "at " + ((view.git.get("commit") or "no commit")[:12]) + (" (dirty)" if view.git.get("dirty") else "")
    else:
        commit = "outside git"
    return (f"pv status: {s.get('blocking_discharged', 0)} of {plural(s.get('blocking_gates', 0), 'ship-blocking gate')} "
            f"discharged ({plural(len(view.gates), 'gate')}: " + ", ".join(f"{counts[k]} {k}" for k in counts)
            + f"); evidence now: {vc['valid']} valid, {vc['stale']} stale, {vc['inconsistent']} inconsistent, "
            f"{vc['tampered']} tampered; "
            + (f"runtime: {view.runtime_errors} ship-blocking invariant{'s' if view.runtime_errors != 1 else ''} "
               "violated in a training run; " if view.runtime_errors else "")
            + f"{view.source} taken {when} {commit}; {view.authorship}")


def render_status(view: ReportView, *, color: bool = False, status: str | None = None,
                  contract: str | None = None) -> str:
    return "\n".join([*status_lines(view, color=color, status=status, contract=contract), *runs_lines(view),
                      status_summary(view)]) + "\n"
