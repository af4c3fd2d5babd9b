"""`pv report` and `pv status` through the real program, on one fixture project checked once.

The project holds every gate status at once: ``demo-v1`` (the shared fixture
contract, discharged) and ``audit-v1``, whose gates fail (a failing test and a
falsifier counterexample), stay incomplete (a skipped test) and miss a test.
Its text is hostile on purpose: an invariant title that is a ``<script>``, HTML
and Markdown in descriptions and changelog. Each test renders that evidence, or
a copy of the project changed in one way, and reads the HTML, the Markdown or
the terminal table. The page in a real browser is ``test_report_browser.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pvcontracts.evidence.report.markdown import SYMBOL

AUDIT_CONTRACT = """\
schema_version: 1
id: audit-v1
version: 2.1.0
status: active
title: "Audit <b>contract</b> & friends"
changelog:
  - {version: 2.1.0, date: 2026-03-01, summary: "Cap <i>tightened</i> | a pipe and `ticks`"}
  - {version: 2.0.0, date: 2026-02-01, summary: First}
params:
  vocab_size: {type: int, min: 2}
invariants:
  - id: INV-AUD-001
    title: "<script>window.__pwned = 1</script> stays text"
    description: "Says <img src=x onerror=alert(1)> and [a link](javascript:alert(1))"
    at: epoch_end
    when: "epoch == 0"
    check: "val_loss <= cap"
    let:
      cap: {finetune: "10.0", from_scratch: "2.0 * ln(vocab_size)"}
    on_violation: abort
  - id: INV-AUD-002
    title: Loss stays bounded
    at: step_end
    check: "loss < 1e9"
    on_violation: warn
  - id: INV-AUD-003
    title: Gradients stay finite
    at: step_end
    check: "isfinite(grad_norm)"
    on_violation: abort
gates:
  - id: GATE-AUD-001
    title: "The cap holds <u>exactly</u>"
    invariants: [INV-AUD-001]
    ship_blocking: true
    evidence_discharged_by: [tests/test_audit.py::test_fails]
  - id: GATE-AUD-002
    title: Loss is bounded
    invariants: [INV-AUD-002]
    ship_blocking: false
    evidence_discharged_by: [tests/test_audit.py::test_skipped]
  - id: GATE-AUD-003
    title: Gradients are finite
    invariants: [INV-AUD-003]
    ship_blocking: true
    evidence_discharged_by: [tests/test_audit.py::test_that_does_not_exist]
falsifiers:
  - id: FALSIFY-AUD-001
    invariant: INV-AUD-001
    prediction: "Every drawn x stays below 500"
    if_fails: "The cap is wrong"
    test: tests/test_audit_falsify.py::test_cap
"""

AUDIT_TESTS = '''\
import pytest


@pytest.mark.discharges(gate="GATE-AUD-001")
def test_fails():
    assert 1 == 2, "<b>boom</b>"


@pytest.mark.discharges(gate="GATE-AUD-002")
def test_skipped():
    pytest.skip("waiting for <the> trainer")
'''

AUDIT_FALSIFIER = '''\
from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=50, deadline=None)
@given(x=st.integers(min_value=0, max_value=1000))
def test_cap(x):
    assert x < 500
'''

EXPECTED = {"GATE-DEMO-001": "discharged", "GATE-AUD-001": "failed", "GATE-AUD-002": "incomplete",
            "GATE-AUD-003": "missing"}


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory, evproject_class) -> Path:
    """The fixture project with its evidence at out/evidence.json (pv check exits 1: gates fail)."""
    root = tmp_path_factory.mktemp("report") / "repo"
    root.mkdir()
    project = evproject_class(root)
    project.write("contracts/audit-v1.yaml", AUDIT_CONTRACT)
    project.write("tests/test_audit.py", AUDIT_TESTS)
    project.write("tests/test_audit_falsify.py", AUDIT_FALSIFIER)
    done = project.check()
    assert done.returncode == 1, done.stdout + done.stderr
    statuses = {g["id"]: g["status"] for c in project.evidence()["contracts"] for g in c["gates"]}
    assert statuses == EXPECTED, done.stdout + done.stderr
    return root


@pytest.fixture
def copy(audited: Path, tmp_path: Path, evproject_class):
    root = tmp_path / "copy"
    shutil.copytree(audited, root)
    return evproject_class.at(root)


@pytest.fixture(scope="module")
def reports(audited: Path, tmp_path_factory: pytest.TempPathFactory, evproject_class) -> dict[str, str]:
    """HTML and Markdown of the untouched evidence, written by `pv report` with its defaults."""
    root = tmp_path_factory.mktemp("rendered") / "repo"
    shutil.copytree(audited, root)
    done = evproject_class.at(root).pv("report", "out/evidence.json")
    assert done.returncode == 0, done.stdout + done.stderr
    return {"html": (root / "out" / "evidence.html").read_text(encoding="utf-8"),
            "md": (root / "out" / "evidence.md").read_text(encoding="utf-8"), "stdout": done.stdout}


class _Page(HTMLParser):
    """What the tests read from the page: gate rows, script and style blocks, every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: dict[str, dict[str, str]] = {}
        self.blocks: dict[str, list[str]] = {"script": [], "style": []}
        self.urls: list[str] = []
        self.meta: dict[str, str] = {}
        self.ids: list[str] = []
        self._in: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "tr" and "gate-row" in a.get("class", ""):
            self.rows[a["id"]] = a
        if tag in self.blocks:
            self._in = tag
            self.blocks[tag].append("")
        if tag == "meta" and "http-equiv" in a:
            self.meta[a["http-equiv"]] = a["content"]
        for key in ("src", "href", "action", "srcset", "poster", "data"):
            if key in a and tag not in ("tr",):
                self.urls.append(a[key])

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.blocks[self._in][-1] += data
        else:
            self.text.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


# --------------------------------------------------------------------------- pv report: the files


def test_pv_report_writes_html_and_markdown_beside_the_evidence(reports: dict[str, str]) -> None:
    assert reports["stdout"].splitlines() == [
        "pv report: 1 of 3 ship-blocking gates discharged (4 gates: 1 discharged, 1 failed, 1 incomplete, "
        "1 missing, 0 vacuous); evidence now: 4 valid, 0 stale, 0 inconsistent, 0 tampered; out/evidence.json taken "
        + re.search(r"taken (\S+)", reports["stdout"]).group(1) + " outside git; unsigned: it agrees with itself, "
        "which does not show who wrote it",
        "html: out/evidence.html",
        "markdown: out/evidence.md",
    ]
    assert reports["html"].startswith("<!DOCTYPE html>") and reports["html"].endswith("</html>\n")
    assert reports["md"].startswith("# Release gates\n")


def test_the_page_is_self_contained_and_runs_only_its_own_script(reports: dict[str, str]) -> None:
    page = _parse(reports["html"])
    assert [u for u in page.urls if not u.startswith("#")] == []  # every link is within the page
    html = reports["html"]
    for needle in ("<link", "@import", "url(", "http://", "https://", "<iframe", "<object", "<embed", "<img"):
        assert needle not in html, needle
    csp = page.meta["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    [script], [style] = page.blocks["script"], page.blocks["style"]
    assert f"script-src {_sha(script)}" in csp and f"style-src {_sha(style)}" in csp


def test_every_gate_has_a_row_with_its_derived_status(reports: dict[str, str]) -> None:
    rows = _parse(reports["html"]).rows
    assert {r["data-detail"].removeprefix("g-"): r["data-status"] for r in rows.values()} == EXPECTED
    assert {r["data-contract"] for r in rows.values()} == {"demo-v1", "audit-v1"}
    assert {r["data-verdict"] for r in rows.values()} == {"valid"}
    blocking = {r["data-detail"].removeprefix("g-"): r["data-blocking"] for r in rows.values()}
    assert blocking == {"GATE-DEMO-001": "yes", "GATE-AUD-001": "yes", "GATE-AUD-002": "no", "GATE-AUD-003": "yes"}
    ids = _parse(reports["html"]).ids
    assert len(ids) == len(set(ids)), "element ids must be unique"
    assert all(f"g-{gate}" in ids for gate in EXPECTED)  # each row's detail exists


def test_contract_text_renders_as_text_never_as_markup(reports: dict[str, str]) -> None:
    html = reports["html"]
    assert html.count("<script") == 1  # the page's own
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt; stays text" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<b>contract</b>" not in html and "Audit &lt;b&gt;contract&lt;/b&gt; &amp; friends" in html
    assert "<u>exactly</u>" not in html and "&lt;u&gt;exactly&lt;/u&gt;" in html
    assert "&lt;b&gt;boom&lt;/b&gt;" in html  # a test's failure message is contract-adjacent input too
    assert 'href="javascript' not in html


def test_a_gate_shows_invariant_expressions_tests_falsifier_and_changelog(reports: dict[str, str]) -> None:
    html = reports["html"]
    start = html.index('<article class="gate s-failed" id="g-GATE-AUD-001">')
    detail = html[start:html.index("</article>", start)]
    for needle in (
        "<b>Why failed:</b>",
        "<code>epoch == 0</code>",  # when
        "<code>val_loss &lt;= cap</code>",  # the check, escaped
        "finetune: <code>10.0</code><br>from_scratch: <code>2.0 * ln(vocab_size)</code>",  # let by regime
        "audit-v1 <span class=\"mono\">2.1.0</span>",
        "2.1.0 (2026-03-01): Cap &lt;i&gt;tightened&lt;/i&gt; | a pipe and `ticks`",  # this version's entry
        "<code>tests/test_audit.py::test_fails</code>",
        "<code>tests/test_audit_falsify.py::test_cap</code>",
        "<b>Prediction:</b> Every drawn x stays below 500",
        "<b>If it fails:</b> The cap is wrong",
        "Minimal counterexample",
        "x=500,",
        "Profile <b>ci</b>",
        "Seed <b>derandomized</b>",
    ):
        assert needle in detail, needle
    assert re.search(r'badge b-failed">\u2717 failed</span></td><td class="num">\d+ ms</td>', detail), \
        "a test row has its outcome and duration"
    assert re.search(r"Examples tried <b>\d+</b>", detail)


def test_incomplete_and_missing_gates_say_why(reports: dict[str, str]) -> None:
    html = reports["html"]
    assert "tests/test_audit.py::test_skipped was skipped: Skipped: waiting for &lt;the&gt; trainer" in html
    assert "tests/test_audit.py::test_that_does_not_exist is missing" in html
    assert 'class="badge b-not_run"' not in html  # every bound test of this run ran or is missing


def test_the_page_works_without_javascript(reports: dict[str, str]) -> None:
    html = reports["html"]
    assert '<div class="filters" id="filters" role="search" hidden>' in html  # the script reveals them
    assert not re.search(r'<tr class="gate-row"[^>]* hidden', html)  # every gate shows
    assert "4 of 4 gates shown" in html


def test_markdown_has_the_table_the_details_and_no_raw_html_from_contracts(reports: dict[str, str]) -> None:
    md = reports["md"]
    table = [line for line in md.splitlines() if line.startswith("| ") and "[GATE-" in line]
    rows = {re.search(r"\[(GATE-[A-Z]+-\d+)\]", line).group(1): line for line in table}
    assert list(rows) == ["GATE-AUD-001", "GATE-AUD-002", "GATE-AUD-003", "GATE-DEMO-001"]  # evidence order
    for gate, status in EXPECTED.items():
        assert rows[gate].startswith(f"| {SYMBOL[status]} {status} |")
    assert "&lt;script&gt;window.\\_\\_pwned = 1&lt;/script&gt; stays text" in md
    assert "<script" not in md and "<img" not in md and "<b>" not in md
    assert "Cap &lt;i&gt;tightened&lt;/i&gt; \\| a pipe and \\`ticks\\`" in md  # a pipe cannot split a cell
    assert "\\[a link\\](javascript:alert(1))" in md  # not a link
    assert "must hold: `val_loss <= cap`" in md  # code spans are literal: no entities inside
    assert "where cap = finetune: `10.0`; from\\_scratch: `2.0 * ln(vocab_size)` (by training regime)" in md
    assert "**minimal counterexample**" in md and "    test_cap(\n        x=500,\n    )" in md
    assert re.search(r"\| `tests/test_audit.py::test_fails` \| bound \| failed \| \d+ ms \|", md)


def test_the_same_evidence_and_tree_give_byte_identical_reports(copy) -> None:
    first = copy.pv("report", "out/evidence.json", "--html", "a.html", "--markdown", "a.md")
    second = copy.pv("report", "out/evidence.json", "--html", "b.html", "--markdown", "b.md")
    assert first.returncode == second.returncode == 0
    assert (copy.root / "a.html").read_bytes() == (copy.root / "b.html").read_bytes()
    assert (copy.root / "a.md").read_bytes() == (copy.root / "b.md").read_bytes()
    assert [p.name for p in (copy.root / "out").iterdir() if p.name.endswith(".tmp")] == []  # no temp files left


def test_naming_one_format_writes_only_that_one_and_dash_is_stdout(copy) -> None:
    done = copy.pv("report", "out/evidence.json", "--markdown", "-")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# Release gates\n")
    assert done.stderr.startswith("pv report: 1 of 3 ship-blocking gates discharged")  # stdout is the report
    assert not (copy.root / "out" / "evidence.html").exists()
    done = copy.pv("report", "out/evidence.json", "--html", "site/index.html")
    assert done.returncode == 0 and "html: site/index.html" in done.stdout
    assert (copy.root / "site" / "index.html").is_file() and not (copy.root / "out" / "evidence.md").exists()


def test_an_in_toto_statement_renders_like_the_bare_evidence(copy) -> None:
    from pvcontracts.evidence.evidence import dumps, to_in_toto

    (copy.root / "out" / "statement.json").write_text(dumps(to_in_toto(copy.evidence())))
    done = copy.pv("report", "out/statement.json", "--html", "-")
    assert done.returncode == 0, done.stderr
    assert "(an in-toto Statement)" in done.stdout
    assert {r["data-status"] for r in _parse(done.stdout).rows.values()} == set(EXPECTED.values())


# --------------------------------------------------------------------------- staleness, as pv verify judges it


def test_a_changed_bound_test_makes_its_gates_stale_in_every_format(copy) -> None:
    path = copy.root / "tests" / "test_audit.py"
    path.write_text(path.read_text() + "\n# edited after the evidence was taken\n")
    verify = copy.pv("verify", "out/evidence.json")
    assert verify.returncode == 1
    done = copy.pv("report", "out/evidence.json")
    assert done.returncode == 0, done.stderr  # a report of stale evidence is still a report
    assert "evidence now: 1 valid, 3 stale, 0 inconsistent, 0 tampered" in done.stdout
    html = (copy.root / "out" / "evidence.html").read_text()
    verdicts = {r["data-detail"].removeprefix("g-"): r["data-verdict"] for r in _parse(html).rows.values()}
    # every audit gate names a test in that file (the missing one too: its file digest was recorded)
    assert verdicts == {"GATE-DEMO-001": "valid", "GATE-AUD-001": "stale", "GATE-AUD-002": "stale",
                        "GATE-AUD-003": "stale"}
    # the verdicts are exactly pv verify's, gate by gate
    from_verify = {line.split()[1]: line.split()[0] for line in verify.stdout.splitlines()
                   if line.split() and line.split()[0] in ("valid", "stale", "tampered")}
    assert verdicts == from_verify
    assert "<li>tests/test_audit.py changed</li>" in html
    md = (copy.root / "out" / "evidence.md").read_text()
    assert "stale: tests/test\\_audit.py changed" in md


def test_a_changed_contract_is_stale_even_without_a_version_bump(copy) -> None:
    path = copy.root / "contracts" / "demo-v1.yaml"
    path.write_text(path.read_text().replace('check: "isfinite(loss)"', 'check: "isfinite(loss) and loss < 1e6"'))
    done = copy.pv("status")
    assert done.returncode == 0
    assert "    stale: INV-DEMO-001 changed" in done.stdout


def test_inconsistent_evidence_is_rendered_with_a_warning_not_trusted(copy) -> None:
    path = copy.root / "out" / "evidence.json"
    doc = json.loads(path.read_text())
    gate = next(g for c in doc["contracts"] for g in c["gates"] if g["id"] == "GATE-AUD-001")
    gate["status"] = "discharged"  # the classic forgery
    path.write_text(json.dumps(doc, indent=2, sort_keys=True))
    done = copy.pv("report", "out/evidence.json", "--html", "-")
    assert done.returncode == 0
    assert '<section class="verdict bad" id="verdict" role="status"><strong>Do not trust this evidence: 4 gates ' \
           "disagree with what the file itself records.</strong>" in done.stdout
    assert "status says discharged but its tests&#x27; outcomes give failed" in done.stdout


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("content", "code", "message"), [
    (None, 2, "pv report: cannot read"),
    ("{not json", 2, "not JSON"),
    ('{"hello": 1}', 2, "is not pv-contracts evidence"),
], ids=["absent", "not-json", "not-evidence"])
def test_unreadable_evidence_is_a_usage_error(copy, content, code, message) -> None:
    if content is not None:
        (copy.root / "bad.json").write_text(content)
    done = copy.pv("report", "bad.json")
    assert done.returncode == code and message in done.stderr
    assert "Traceback" not in done.stderr


def test_evidence_that_breaks_its_schema_is_a_finding_and_writes_nothing(copy) -> None:
    path = copy.root / "out" / "evidence.json"
    doc = json.loads(path.read_text())
    del doc["contracts"][0]["gates"][0]["tests"]
    path.write_text(json.dumps(doc))
    done = copy.pv("report", "out/evidence.json")
    assert done.returncode == 1
    assert "error[PV631]: the evidence does not match its schema" in done.stdout
    assert "does not match the evidence schema" in done.stderr
    assert not (copy.root / "out" / "evidence.html").exists()


def test_an_unwritable_destination_is_a_usage_error(copy) -> None:
    (copy.root / "blocker").write_text("a file where a directory should be")
    done = copy.pv("report", "out/evidence.json", "--html", "blocker/x.html")
    assert done.returncode == 2 and "pv report: cannot write blocker/x.html" in done.stderr


def test_both_formats_on_stdout_is_a_usage_error(copy) -> None:
    done = copy.pv("report", "out/evidence.json", "--html", "-", "--markdown", "-")
    assert done.returncode == 2 and "only one of --html and --markdown" in done.stderr


# --------------------------------------------------------------------------- pv status


def test_pv_status_prints_the_gate_table_without_color_when_not_a_tty(copy) -> None:
    done = copy.pv("status")  # default: ROOT/out/evidence.json
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "\x1b[" not in done.stdout
    assert lines[0].split() == ["STATUS", "GATE", "CONTRACT", "BLOCKS", "PASSED", "KILLED", "EVIDENCE"]
    rows = {line.split()[1]: line.split() for line in lines[1:] if line and not line.startswith(" ")
            and line.split()[0] in EXPECTED.values()}
    assert {gate: row[0] for gate, row in rows.items()} == EXPECTED
    assert rows["GATE-AUD-001"] == ["failed", "GATE-AUD-001", "audit-v1", "2.1.0", "yes", "0/2", "-", "valid"]
    assert rows["GATE-DEMO-001"][6] == "1/1"  # its tests killed the one mutant of its invariant
    assert rows["GATE-AUD-002"][4] == "no"
    assert "    why: tests/test_audit.py::test_skipped was skipped: Skipped: waiting for <the> trainer" in lines
    assert lines[-1].startswith("pv status: 1 of 3 ship-blocking gates discharged (4 gates: 1 discharged, "
                                "1 failed, 1 incomplete, 1 missing, 0 vacuous); evidence now: 4 valid, 0 stale, "
                                "0 inconsistent, 0 tampered; out/evidence.json taken ")


def test_pv_status_filters_by_status_and_contract(copy) -> None:
    done = copy.pv("status", "out/evidence.json", "--status", "failed")
    gates = [line.split()[1] for line in done.stdout.splitlines()[1:-1] if not line.startswith(" ")]
    assert gates == ["GATE-AUD-001"]
    done = copy.pv("status", "--contract", "demo-v1")
    gates = [line.split()[1] for line in done.stdout.splitlines()[1:-1] if not line.startswith(" ")]
    assert gates == ["GATE-DEMO-001"]
    done = copy.pv("status", "--contract", "nope-v1")
    assert done.returncode == 2 and "no contract 'nope-v1'" in done.stderr and "demo-v1" in done.stderr


def test_pv_status_colors_only_when_asked_or_on_a_terminal(copy) -> None:
    done = copy.pv("status", "--color", "always")
    assert "\x1b[31mfailed\x1b[0m" in done.stdout and "\x1b[32mdischarged\x1b[0m" in done.stdout
    # the columns stay aligned: colour codes take no width
    plain = copy.pv("status", "--color", "never").stdout
    assert re.sub(r"\x1b\[[0-9;]*m", "", done.stdout) == plain


def test_pv_status_without_evidence_says_to_run_pv_check(copy) -> None:
    (copy.root / "out" / "evidence.json").unlink()
    done = copy.pv("status")
    assert done.returncode == 2
    assert "pv status: no evidence at out/evidence.json: run pv check first" in done.stderr


# --------------------------------------------------------------------------- the renderers as functions


def test_markdown_escaping_helpers() -> None:
    from pvcontracts.evidence.report.markdown import block, code, paragraphs, text

    assert text("a | b <c> & *d* _e_ [f](g) `h`") == "a \\| b &lt;c&gt; &amp; \\*d\\* \\_e\\_ \\[f\\](g) \\`h\\`"
    assert text("two\nlines") == "two lines"
    assert code("x | y") == "`x \\| y`"
    assert code("a `b` c") == "``a `b` c``"
    assert code("`") == "`` ` ``"
    assert block("```\nx") == "````text\n```\nx\n````"
    assert paragraphs("1. not a list\n\n# not a heading") == ["1\\. not a list", "\\# not a heading"]


def test_gate_anchors_are_safe_and_unique() -> None:
    from pvcontracts.util.text import unique_anchor  # the report's gate anchors: prefix "g-"

    taken: set[str] = set()
    assert [unique_anchor("g-", g, taken) for g in ("GATE-A-001", 'x"><script>', "GATE-A-001", "")] == [
        "g-GATE-A-001", "g-x-script", "g-GATE-A-001-2", "g-x"]


@pytest.mark.parametrize(("kind", "ok", "verdicts", "tone", "sentence"), [
    ("check", True, {}, "good", "Ready: all 3 ship-blocking gates discharged, and the evidence matches the current "
     "tree (unsigned: it agrees with itself, which does not show who wrote it)."),
    ("check", True, {"GATE-AUD-002": "stale"}, "warn",
     "All 3 ship-blocking gates were discharged, and 1 gate changed since the evidence was taken: take the "
     "evidence again before relying on it."),
    ("check", False, {}, "bad", "Not ready: 1 of 3 ship-blocking gates discharged."),
    ("check", False, {"GATE-DEMO-001": "inconsistent", "GATE-AUD-001": "stale"}, "bad",
     "Do not trust this evidence: 1 gate disagrees with what the file itself records."),
    ("check", True, {"GATE-DEMO-001": "tampered"}, "bad",
     "Do not trust this evidence: its signature does not verify with the given key; it was changed after it was "
     "signed, or someone else signed it."),
    ("falsify", False, {}, "bad",
     "Falsifier run: 1 of 2 falsifiers passed, 1 counterexample. A falsifier run alone discharges no gate."),
], ids=["ready", "stale", "not-ready", "inconsistent", "tampered", "falsify"])
def test_the_headline_says_ready_stale_not_ready_or_do_not_trust(audited, kind, ok, verdicts, tone, sentence) -> None:
    from pvcontracts.evidence.report import build_view
    from pvcontracts.evidence.verify import GateVerdict, VerifyReport

    doc = json.loads((audited / "out" / "evidence.json").read_text())
    doc["kind"], doc["summary"]["ok"] = kind, ok
    report = VerifyReport(verdicts=[GateVerdict(c["id"], c["version"], g["id"], verdicts.get(g["id"], "valid"),
                                                g["status"], ["why"] if g["id"] in verdicts else [])
                                    for c in doc["contracts"] for g in c["gates"]])
    assert build_view(doc, report, source="e.json").headline == (tone, sentence)


def test_pv_report_refuses_to_overwrite_the_evidence(copy) -> None:
    done = copy.pv("report", "out/evidence.json", "--markdown", "out/evidence.json")
    assert done.returncode == 2 and "is the evidence file itself" in done.stderr
    assert copy.evidence()["schema_version"] == 2


def test_report_and_status_import_neither_torch_nor_pytest(copy) -> None:
    import subprocess
    import sys

    probe = ("import io, sys\nfrom pvcontracts.cli import run\n"
             "codes = [run(['status'], io.StringIO(), io.StringIO()),\n"
             "         run(['report', 'out/evidence.json'], io.StringIO(), io.StringIO())]\n"
             "print(codes, sorted(m for m in ('torch', 'pytest', 'hypothesis') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=copy.root, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[0, 0] []", done.stdout + done.stderr
