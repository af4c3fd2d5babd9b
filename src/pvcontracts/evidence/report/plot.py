"""``pv plot LEDGER``: an engineer's quick look at a training run, without a ``pv check``.

The ledger is read as ``pv check --ledger`` reads it (strictly, every refused
line a finding) and each run becomes the record the evidence would hold
(:func:`pvcontracts.evidence.runtime.run_record`), so this page shows a run
exactly as the report's "Training runs" section does: the same view, the same
charts, the same stylesheet and Content-Security-Policy. Contracts, when
given, say which invariants are ship-blocking and which versions are current;
without them the page says it could not tell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pvcontracts.evidence.report.runs import RunView, build_run


@dataclass
class PlotView:
    source: str  # the ledger as the user named it
    digest: str
    runs: list[RunView]
    problems: list[Any] = field(default_factory=list)  # evidence.ledger.Problem
    contracts: str | None = None  # where the contracts came from, or None when none were given


@dataclass
class Plotted:
    view: PlotView | None = None
    error: str | None = None


def load_plot(ledger: Path, *, source: str, contracts: list[Any] | None, contracts_from: str | None,
              run: str | None = None) -> Plotted:
    """Read ``ledger`` and build the page's view; ``run``: only the runs whose id starts with it."""
    from pvcontracts.evidence.ledger import LedgerUnreadable, read
    from pvcontracts.evidence.runtime import run_record

    try:
        runs, problems, digest = read(ledger)
    except LedgerUnreadable as exc:
        return Plotted(error=f"cannot read ledger {source}: {exc}")
    if not runs:
        return Plotted(error=f"{source} is not a pv-contracts ledger (no usable run_start record)")
    if run is not None:
        runs = [r for r in runs if (r.run_id or "").startswith(run)]
        if not runs:
            return Plotted(error=f"{source} has no run whose id starts with {run!r}")
    current = {c.id: c.version for c in contracts or ()}
    blocking = {i for c in contracts or () if c.status == "active" for g in c.gates if g.ship_blocking
                for i in g.invariants}
    taken: set[str] = set()
    views = [build_run(run_record(r, current), source, blocking, taken) for r in runs]
    return Plotted(view=PlotView(source, digest, views, list(problems), contracts_from))


def _verdict(view: PlotView) -> tuple[str, str]:
    blocking = [(r, r.first_blocking) for r in view.runs if r.blocking_violated]
    if blocking:
        named = "; ".join(f"{r.name} violated {', '.join(r.blocking_violated)}"
                          + (f" (first at {v.where})" if v is not None else "") for r, v in blocking)
        return "bad", f"A ship-blocking invariant was violated: {named}."
    violated = sum(r.violation_count for r in view.runs)
    unfinished = sum(1 for r in view.runs if not r.complete)
    if violated or unfinished:
        parts = []
        if violated:
            parts.append(f"{violated} violation{'s' if violated != 1 else ''}")
        if unfinished:
            parts.append(f"{unfinished} run{'s' if unfinished != 1 else ''} never reached run_end")
        return "warn", "; ".join(parts).capitalize() + "."
    return "good", f"No violation in {len(view.runs)} run{'s' if len(view.runs) != 1 else ''}, each reached run_end."


def render_plot(view: PlotView) -> str:
    """The whole page; the same ledger (and contracts) always give the same bytes."""
    from pvcontracts.evidence.report.assets import JS
    from pvcontracts.evidence.report.html import page_head
    from pvcontracts.evidence.report.html_runs import runs_section
    from pvcontracts.evidence.report.markup import esc as _e

    tone, sentence = _verdict(view)
    contracts = (f"Ship-blocking invariants and current versions from <code>{_e(view.contracts)}</code>."
                 if view.contracts else "No contracts given: the page cannot tell which invariants are ship-blocking "
                 "(pass <code>--contracts DIR</code>).")
    problems = ""
    if view.problems:
        items = "".join(f'<li><code>{_e(view.source)}:{p.line}</code> <span class="sev-{_e(p.severity)}">'
                        f"{_e(p.severity)}[{_e(p.code)}]</span> {_e(p.message)}</li>" for p in view.problems)
        problems = (f'<section id="findings"><h2>Ledger findings</h2><p class="help">Lines the strict reader refused '
                    f"or noted; a refused line is not used.</p><ul class=\"findings\">{items}</ul></section>\n")
    body = [
        page_head(f"Training runs: {({'good': 'clean', 'warn': 'violations', 'bad': 'violated'})[tone]} \u00b7 "
                  f"{view.source}", "pv plot"),
        "<body>\n",
        '<header class="top"><div class="wrap"><p class="eyebrow">pv-contracts \u00b7 training run charts</p>'
        f"<h1>Training runs</h1><p class=\"sub\">Ledger <code>{_e(view.source)}</code> "
        f'<span class="digest">sha256 {_e(view.digest)}</span>, read by pv plot without a pv check.</p>'
        "</div></header>\n",
        '<main class="wrap">\n',
        f'<section class="verdict {tone}" id="verdict" role="status"><strong>{_e(sentence)}</strong>'
        f"<p>{contracts}</p></section>\n",
        problems,
        runs_section(view.runs),
        "</main>\n",
        f'<footer><div class="wrap">Written by <code>pv plot</code> from <code>{_e(view.source)}</code>. '
        "This page is self-contained: it loads nothing from the network.</div></footer>\n",
        f"<script>{JS}</script>\n</body>\n</html>\n",
    ]
    return "".join(body)
