"""Training runs in the reports: pv report's HTML and Markdown, pv status, and pv plot, from real ledgers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pvcontracts.evidence.report.charts import nice_ticks, svg_chart, tick_labels
from pvcontracts.evidence.report.runs import Point, Series, ViolationView

SPIKE = 23


def write_ledger(root: Path, name: str, *, nan_at: int | None) -> str:
    """A real Monitor over the project's demo contract (INV-DEMO-001: isfinite(loss), ship-blocking, abort)."""
    import torch

    from pvcontracts.runtime import ContractViolation, Monitor

    monitor = Monitor.from_contracts(root / "contracts", ledger=root / "runs" / name / "ledger.jsonl", sync_every=5)
    try:
        for step in range(40):
            monitor.step_end(loss=torch.tensor(float("nan") if step == nan_at else 3.0 - step / 20))
        monitor.run_end()
    except ContractViolation:
        pass
    monitor.close()
    return monitor.run_id


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory, evproject_class) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("runs") / "repo"
    root.mkdir()
    project = evproject_class(root)
    runs = {"bad": write_ledger(root, "bad", nan_at=SPIKE), "clean": write_ledger(root, "clean", nan_at=None)}
    done = project.check("--ledger", "runs/bad/ledger.jsonl", "--ledger", "runs/clean/ledger.jsonl")
    assert done.returncode == 1 and "error[PV641]" in done.stdout, done.stdout + done.stderr
    done = project.pv("report", "out/evidence.json")
    assert done.returncode == 0, done.stdout + done.stderr
    return {"project": project, "root": root, "runs": runs, "html": (root / "out" / "evidence.html").read_text(),
            "md": (root / "out" / "evidence.md").read_text()}


def test_the_evidence_with_runs_and_curves_matches_its_schema(reported: dict[str, Any], evidence_schema) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    doc = reported["project"].evidence()
    jsonschema.validate(doc, evidence_schema)
    bad = next(r for rec in doc["runtime"] for r in rec["runs"] if r["run"] == reported["runs"]["bad"])
    assert bad["curves"]["points"][-1]["nonfinite"] == {"loss": 1}
    assert bad["violations"][0]["values"] == {"loss": "nan"} and bad["violations"][0]["step"] == SPIKE
    verify = reported["project"].pv("verify", "out/evidence.json")
    assert "PV631" not in verify.stdout  # the evidence agrees with itself, curves and all


def test_the_html_has_both_runs_their_charts_and_no_inline_style(reported: dict[str, Any]) -> None:
    html, runs = reported["html"], reported["runs"]
    assert f'id="run-{runs["bad"][:24]}"' in html and f'id="run-{runs["clean"][:24]}"' in html
    assert html.count('<svg class="chart"') == 2  # one loss chart per run: the demo contract reads only loss
    assert f'<a class="marker" href="#run-{runs["bad"][:24]}-v1" data-step="{SPIKE}"' in html
    assert f'<tr id="run-{runs["bad"][:24]}-v1" class="violation">' in html
    # The CSP allows the page's one stylesheet by hash and no style attribute: nothing may rely on one.
    assert not re.search(r"<[^>]+\sstyle=", html)
    assert "Not ready: a training run violated 1 ship-blocking invariant (INV-DEMO-001 in run" in html


def test_the_markdown_has_the_runs_the_curve_table_and_the_violation(reported: dict[str, Any]) -> None:
    md, bad = reported["md"], reported["runs"]["bad"]
    assert "## Training runs" in md
    assert f"| [run {bad[:12]}](#run-{bad[:24]}) | `runs/bad/ledger.jsonl` | finetune | no | 1 | INV-DEMO-001 |" in md
    assert "\u274c **Not ready: a training run violated 1 ship-blocking invariant (INV-DEMO-001 in run" in md
    assert "| steps | Training loss: last (min \u2013 max) | violations |" in md
    # The span of steps holding the NaN says so, and links the violation.
    row = next(line for line in md.splitlines() if f"INV-DEMO-001 at step {SPIKE}" in line.replace("\\", ""))
    assert "1 non-finite" in row and f"(#run-{bad[:24]}-v1)" in row
    assert f'| <a id="run-{bad[:24]}-v1"></a>{SPIKE} | 0 | `INV-DEMO-001` (ship-blocking) | `isfinite(loss)` | ' \
           "loss = nan |" in md
    assert "| `INV-DEMO-001` | yes | violated | 25 | 25 | 24 | 1 |  |" in md  # steps 0 to 24: the sync point after 23


def test_pv_status_lists_the_runs(reported: dict[str, Any]) -> None:
    done = reported["project"].pv("status")
    bad, clean = reported["runs"]["bad"], reported["runs"]["clean"]
    assert done.returncode == 0
    assert (f"  run {bad[:12]}  runs/bad/ledger.jsonl  never reached run_end, 1 violation; ship-blocking violated: "
            f"INV-DEMO-001 (first at step_end, step {SPIKE}, epoch 0)") in done.stdout
    assert f"  run {clean[:12]}  runs/clean/ledger.jsonl  reached run_end, no violation" in done.stdout


def test_the_report_is_the_same_bytes_every_time(reported: dict[str, Any]) -> None:
    done = reported["project"].pv("report", "out/evidence.json", "--html", "-")
    assert done.stdout == reported["html"]


# --------------------------------------------------------------------------- pv plot


def test_pv_plot_writes_beside_the_ledger_and_names_what_it_found(reported: dict[str, Any]) -> None:
    project, root = reported["project"], reported["root"]
    done = project.pv("plot", "runs/bad/ledger.jsonl")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "pv plot: 1 run, 1 violation; html: runs/bad/ledger.html\n"
    page = (root / "runs" / "bad" / "ledger.html").read_text()
    assert "A ship-blocking invariant was violated" in page  # contracts/ of the project, found by default
    assert f'data-step="{SPIKE}"' in page
    assert project.pv("plot", "runs/bad/ledger.jsonl", "-o", "-").stdout == page


def test_pv_plot_picks_a_run_and_refuses_what_it_cannot_do(reported: dict[str, Any]) -> None:
    project, root = reported["project"], reported["root"]
    both = root / "runs" / "both.jsonl"
    both.write_text((root / "runs" / "bad" / "ledger.jsonl").read_text()
                    + (root / "runs" / "clean" / "ledger.jsonl").read_text())
    clean = reported["runs"]["clean"]
    done = project.pv("plot", "runs/both.jsonl", "--run", clean[:8], "-o", "-")
    assert done.returncode == 0 and done.stdout.count('<article class="run"') == 1 and clean in done.stdout
    for args, message in [(("runs/both.jsonl", "--run", "zzz"), "has no run whose id starts with 'zzz'"),
                          (("runs/nope.jsonl",), "cannot read ledger runs/nope.jsonl"),
                          (("pyproject.toml",), "is not a pv-contracts ledger"),
                          (("runs/both.jsonl", "-o", "runs/both.jsonl"), "is the ledger itself"),
                          (("runs/both.jsonl", "--contracts", "tests"), "cannot use the contracts in tests")]:
        done = project.pv("plot", *args)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)


def test_pv_plot_without_contracts_says_it_cannot_tell_what_blocks(tmp_path: Path) -> None:
    from pvcontracts.cli import run

    ledger = tmp_path / "ledger.jsonl"
    records = [{"kind": "run_start", "run": "r1", "time": 0, "contracts": [{"id": "x-v1", "version": "1.0.0"}]},
               {"kind": "violation", "run": "r1", "invariant": "INV-X-001", "step": 2, "boundary": "step_end",
                "values": {"loss": 9.0}},
               "{not json", {"kind": "run_end", "run": "r1", "time": 1, "step": 3}]
    ledger.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")
    out, err = _io(), _io()
    assert run(["plot", str(ledger), "--root", str(tmp_path)], out, err) == 0
    page = (tmp_path / "ledger.html").read_text()
    assert "No contracts given: the page cannot tell which invariants are ship-blocking" in page
    assert "1 violation" in page and "violated a ship-blocking invariant" not in page
    assert f"{ledger}:3: error[PV645]: line 3: unparseable" in out.getvalue()  # the refused line, and on the page
    assert "line 3: unparseable" in page


def test_hostile_ledger_text_is_shown_as_text(tmp_path: Path) -> None:
    from pvcontracts.cli import run

    evil = "<script>alert(1)</script>"
    ledger = tmp_path / "ledger.jsonl"
    records = [{"kind": "run_start", "run": evil, "time": 0, "contracts": [{"id": evil, "version": evil}],
                "regime": {"kind": evil}},
               {"kind": "curve", "run": evil, "steps": [0, 4], "n": 5, "epochs": [0, 0],
                "metrics": {evil: [1, 0, 2, 1], "loss": [1, 0, 2, 1]}, "expected": {"loss": [1, 1, 1, 1]},
                "expected_by": {"loss": evil}},
               {"kind": "violation", "run": evil, "invariant": evil, "step": 3, "boundary": evil, "expression": evil,
                "values": {evil: evil}, "message": evil}]
    ledger.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    assert run(["plot", str(ledger), "--root", str(tmp_path), "-o", str(tmp_path / "p.html")], _io(), _io()) == 0
    page = (tmp_path / "p.html").read_text()
    assert "<script>alert" not in page and page.count("<script>") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'id="run-script-alert-1-script"' in page  # anchors made of safe characters only


def _io():
    import io

    return io.StringIO()


# --------------------------------------------------------------------------- charts


def test_ticks_are_round_and_one_format_per_axis() -> None:
    ticks, step = nice_ticks(0.0001, 0.001)
    assert tick_labels(ticks, step) == ["0.0002", "0.0004", "0.0006", "0.0008", "0.0010"]
    ticks, step = nice_ticks(1e-9, 3e-8)
    assert tick_labels(ticks, step) == ["1e-8", "2e-8", "3e-8"]
    ticks, step = nice_ticks(0, 99_999)
    assert ticks == [0, 20_000, 40_000, 60_000, 80_000]


def _series(points: list[Point]) -> Series:
    return Series("loss", "Training loss", "loss", tuple(points))


def _violation(step: int, value: Any = None) -> ViolationView:
    return ViolationView("v1", "INV-X-001", None, None, "step_end", step, 0, "x", (("loss", value),) if value else (),
                         "m", "abort", True)


def test_a_chart_survives_nan_only_windows_one_point_and_a_marker_past_the_curve() -> None:
    nan = float("nan")
    svg = svg_chart(_series([Point(0, 9, nan, None, None, nan, 10), Point(10, 10, 1.0, 1.0, 1.0, 1.0)]),
                    [_violation(25, 3.0)], "c", "run r")
    assert 'data-x0="0" data-x1="25"' in svg  # the axis reaches the marker
    assert svg.count("<polyline") == 1 and "10 non-finite values (NaN or inf) in steps 0 to 9" in svg
    assert not re.search(r'(points|d|x|y|cx|cy|x1|x2|y1|y2)="[^"]*(nan|inf)', svg, re.I)  # no coordinate is NaN
    assert svg == svg_chart(_series([Point(0, 9, nan, None, None, nan, 10), Point(10, 10, 1.0, 1.0, 1.0, 1.0)]),
                            [_violation(25, 3.0)], "c", "run r")  # deterministic


def test_a_flat_series_gets_a_visible_range() -> None:
    svg = svg_chart(_series([Point(0, 99, 2.0, 2.0, 2.0, 2.0)]), [], "c", "run r")
    y0, y1 = (float(v) for v in re.search(r'data-y0="([^"]+)" data-y1="([^"]+)"', svg).groups())
    assert y0 < 2.0 < y1


def test_pv_plot_imports_neither_torch_nor_pytest(reported: dict[str, Any]) -> None:
    import subprocess
    import sys

    probe = ("import io, sys\nfrom pvcontracts.cli import run\n"
             "code = run(['plot', 'runs/bad/ledger.jsonl', '-o', 'out/p.html'], io.StringIO(), io.StringIO())\n"
             "print(code, sorted(m for m in ('torch', 'pytest', 'hypothesis') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=reported["root"], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "0 []", done.stdout + done.stderr
