"""`pv check --results`: gate status from a report log or JUnit XML a CI job already wrote."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pvcontracts.evidence.ingest import ResultsError, read_junit, read_reportlog, read_results

B = "tests/test_demo.py::test_b"


def _pytest(project, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS_"))}
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, "tests/"],
                   cwd=project.root, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("fmt", ["reportlog", "junit"])
def test_results_give_the_statuses_a_run_would(evproject, fmt: str) -> None:
    evproject.tests(b_body="    pytest.skip('not on this runner')")
    option = "--report-log=out/results.jsonl" if fmt == "reportlog" else "--junitxml=out/results.xml"
    _pytest(evproject, option, "--pv-profile=ci")
    results = "out/results.jsonl" if fmt == "reportlog" else "out/results.xml"
    done = evproject.check("--results", results)
    assert done.returncode == 1, done.stdout + done.stderr
    doc = evproject.evidence()
    gate = evproject.gate(doc)
    assert [t["outcome"] for t in gate["tests"]] == ["passed", "skipped", "passed"]
    assert gate["status"] == "incomplete"
    assert doc["run"]["mode"] == "results"
    assert doc["run"]["results"][0]["format"] == fmt and doc["run"]["results"][0]["digest"].startswith("sha256:")
    assert doc["run"]["profile"] == "ci"  # read from the statistics the plugin attached
    assert evproject.falsifier_record(doc)["statistics"]["examples"] == 50
    assert "running" not in done.stderr  # nothing was run
    # the markers come from the static scan (results files carry none) and agree; what is left: the gate's own
    # status, and that nothing was mutation-checked (results say what ran; nothing runs against mutants)
    assert sorted(f["code"] for f in doc["findings"]) == ["PV611", "PV619"]
    assert doc["run"]["mutation"]["enabled"] is False and gate["mutation"] is None


def test_a_bound_test_absent_from_the_results_is_not_collected(evproject) -> None:
    _pytest(evproject, "--report-log=out/results.jsonl", "-k", "not test_b")
    evproject.check("--results", "out/results.jsonl")
    entry = evproject.test(evproject.gate(evproject.evidence()), B)
    assert entry["outcome"] == "not_collected" and "no entry" in entry["message"]


def test_unreadable_results_are_a_usage_error(evproject) -> None:
    evproject.write("out/results.txt", "PASSED everything, trust me\n")
    done = evproject.check("--results", "out/results.txt")
    assert done.returncode == 2
    assert "error[PV620]" in done.stdout and "neither a pytest report log" in done.stdout


def test_results_and_workers_do_not_mix(evproject) -> None:
    done = evproject.check("--results", "x.jsonl", "-n", "2")
    assert done.returncode == 2


# --------------------------------------------------------------------------- parsers


REPORT_LOG = """\
{"$report_type": "SessionStart", "pytest_version": "9.2.0"}
{"$report_type": "CollectReport", "nodeid": "t/test_x.py", "outcome": "passed", "longrepr": null, "result": [{"nodeid": "t/test_x.py::test_a", "type": "Function"}, {"nodeid": "t/test_x.py::test_never", "type": "Function"}]}
{"$report_type": "CollectReport", "nodeid": "t/test_bad.py", "outcome": "failed", "longrepr": "ImportError: nope", "result": []}
{"$report_type": "TestReport", "nodeid": "t/test_x.py::test_a", "when": "setup", "outcome": "passed", "duration": 0.001, "longrepr": null, "user_properties": []}
{"$report_type": "TestReport", "nodeid": "t/test_x.py::test_a", "when": "call", "outcome": "skipped", "wasxfail": "", "duration": 0.01, "longrepr": {"reprcrash": {"message": "AssertionError: expected"}}, "user_properties": [["pv_hypothesis", "{\\"examples\\": 3}"]]}
{"$report_type": "TestReport", "nodeid": "t/test_x.py::test_a", "when": "teardown", "outcome": "failed", "duration": 0.0, "longrepr": {"reprcrash": {"message": "RuntimeError: teardown"}}, "user_properties": []}
{"$report_type": "SessionFinish", "exitstatus": 1}
"""


def test_report_log_phases_xfail_teardown_and_collection() -> None:
    r = read_reportlog(REPORT_LOG, "log")
    a = r.nodes["t/test_x.py::test_a"]
    assert a.outcome() == ("xfailed", "AssertionError: expected")  # an xfail does not become an error
    assert a.hypothesis == {"examples": 3}
    assert r.nodes["t/test_x.py::test_never"].outcome() == ("not_run", None)
    assert r.collect_errors == {"t/test_bad.py": "ImportError: nope"}
    assert r.exitstatus == 1 and r.source == "reportlog"


def test_report_log_rejects_what_is_not_one() -> None:
    with pytest.raises(ResultsError, match="log:1"):
        read_reportlog("{not json\n", "log")
    with pytest.raises(ResultsError, match="no pytest report-log records"):
        read_reportlog('{"a": 1}\n', "log")


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="5">
  <testcase classname="t.test_x" name="test_ok" time="0.5"><properties><property name="pv_hypothesis" value="{&quot;examples&quot;: 7}"/></properties></testcase>
  <testcase classname="t.test_x.TestC" name="test_m[a-b]" time="0.1"><failure message="assert 1 == 2">tb</failure></testcase>
  <testcase classname="t.test_x" name="test_xf" time="0.1"><skipped type="pytest.xfail" message="known"/></testcase>
  <testcase classname="t.test_x" name="test_sk" time="0.1"><skipped type="pytest.skip" message="later"/></testcase>
  <testcase classname="t.test_x" name="test_err" time="0.1"><error message="failed on setup with &quot;RuntimeError&quot;">tb</error></testcase>
  <testcase classname="" name="t.test_broken" time="0.0"><error message="collection failure">tb</error></testcase>
</testsuite></testsuites>
"""


def test_junit_names_become_node_ids_and_children_become_outcomes(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "test_x.py").write_text("")
    (tmp_path / "t" / "test_broken.py").write_text("")
    r = read_junit(JUNIT.encode(), tmp_path, "junit.xml")
    outcomes = {k: v.outcome()[0] for k, v in r.nodes.items()}
    assert outcomes == {"t/test_x.py::test_ok": "passed", "t/test_x.py::TestC::test_m[a-b]": "failed",
                        "t/test_x.py::test_xf": "xfailed", "t/test_x.py::test_sk": "skipped",
                        "t/test_x.py::test_err": "error"}
    assert r.nodes["t/test_x.py::test_ok"].hypothesis == {"examples": 7}
    assert r.nodes["t/test_x.py::test_ok"].duration == 0.5
    assert r.collect_errors == {"t/test_broken.py": "collection failure"}


def test_read_results_tells_the_formats_apart(tmp_path: Path) -> None:
    (tmp_path / "log.jsonl").write_text(REPORT_LOG)
    (tmp_path / "j.xml").write_text(JUNIT)
    (tmp_path / "other.xml").write_text("<html></html>")
    assert read_results(tmp_path / "log.jsonl", tmp_path).source == "reportlog"
    assert read_results(tmp_path / "j.xml", tmp_path).source == "junit"
    with pytest.raises(ResultsError, match="not JUnit XML"):
        read_results(tmp_path / "other.xml", tmp_path)
    with pytest.raises(ResultsError, match="cannot read"):
        read_results(tmp_path / "absent.xml", tmp_path)
