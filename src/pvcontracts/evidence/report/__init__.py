"""Reports for auditors: ``pv report`` (HTML and Markdown) and ``pv status`` (the terminal table).

* ``model``     the view: the evidence joined with ``pv verify``'s verdicts, read once for every format
* ``html``      one self-contained page (inline CSS and JS, a CSP that loads nothing) with filters
* ``markdown``  the same content for a pull request or a CI job summary
* ``terminal``  the gate table ``pv status`` prints
* ``assets``    the page's stylesheet and script, constants the CSP names by digest

Every renderer is a pure function of the view, and the view of the evidence and
the tree: the same inputs give the same bytes. Nothing here imports pytest or torch.
"""

from __future__ import annotations

from pvcontracts.evidence.report.model import Loaded, ReportView, build_view, load_view

__all__ = ["FORMATS", "Loaded", "ReportView", "build_view", "load_view", "render"]

FORMATS = ("html", "markdown")


def render(view: ReportView, fmt: str) -> str:
    """The report in ``fmt`` (``html`` or ``markdown``) as text."""
    if fmt == "html":
        from pvcontracts.evidence.report.html import render_html

        return render_html(view)
    if fmt == "markdown":
        from pvcontracts.evidence.report.markdown import render_markdown

        return render_markdown(view)
    raise ValueError(f"fmt={fmt!r} must be one of {FORMATS}")
