"""The pytest plugin, driven through pytester: inert by default, exact when asked."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

BOUND = """
import pytest

pytestmark = pytest.mark.discharges(gate="GATE-MOD-001")

@pytest.mark.discharges(gate="GATE-A-001")
def test_one():
    pass

@pytest.mark.discharges("GATE-B-001")
@pytest.mark.parametrize("n", [1, 2])
def test_two(n):
    assert n == 1

@pytest.mark.discharges(gates=["GATE-X"])
def test_bad_marker():
    pass

@pytest.mark.discharges(gate="GATE-C-001")
class TestThings:
    def test_inner(self):
        pytest.skip("later")

def test_not_selected():
    pass
"""


def _results(directory: Path) -> dict:
    files = sorted(directory.glob("results-*.json"))
    assert files, "the plugin wrote nothing"
    return json.loads(files[0].read_text())


def test_the_marker_is_registered_and_the_plugin_is_otherwise_inert(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
        def pytest_sessionfinish(session):
            pm = session.config.pluginmanager
            print("\\nRECORDER", pm.get_plugin("pv-contracts-recorder"))
            print("LOADED", pm.get_plugin("pvcontracts.evidence.plugin") is not None)
    """)
    pytester.makepyfile(test_m=BOUND)
    result = pytester.runpytest("--strict-markers", "-s")
    result.assert_outcomes(passed=4, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["RECORDER None", "LOADED True"])
    assert not list(pytester.path.rglob("results-*.json"))
    marker_help = pytester.runpytest("--markers")
    marker_help.stdout.fnmatch_lines(["@pytest.mark.discharges(gate):*"])


def test_record_and_select_keep_exactly_the_bound_tests(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_m=BOUND)
    select = tmp_path / "select.json"
    select.write_text(json.dumps(["test_m.py::test_one", "test_m.py::test_two", "test_m.py::TestThings",
                                  "test_m.py::test_bad_marker"]))
    record = tmp_path / "rec"
    result = pytester.runpytest(f"--pv-record={record}", f"--pv-select={select}", "-k", "not bad_marker")
    result.assert_outcomes(passed=2, failed=1, skipped=1, deselected=2)
    data = _results(record)
    nodes = data["nodes"]
    assert "test_m.py::test_not_selected" not in nodes  # not bound: forgotten, not evidence of anything
    assert nodes["test_m.py::test_bad_marker"]["deselected"] is True  # -k deselected a bound test
    assert nodes["test_m.py::test_one"]["claims"] == ["GATE-A-001", "GATE-MOD-001"]
    assert nodes["test_m.py::test_two[1]"]["claims"] == ["GATE-B-001", "GATE-MOD-001"]
    assert nodes["test_m.py::TestThings::test_inner"]["claims"] == ["GATE-C-001", "GATE-MOD-001"]
    assert nodes["test_m.py::test_bad_marker"]["bad_claims"] == ["discharges(gates=['GATE-X'])"]
    assert nodes["test_m.py::test_two[2]"]["phases"]["call"]["outcome"] == "failed"
    assert "assert 2 == 1" in nodes["test_m.py::test_two[2]"]["phases"]["call"]["message"]
    assert nodes["test_m.py::TestThings::test_inner"]["phases"]["setup"]["outcome"] == "passed"
    assert nodes["test_m.py::TestThings::test_inner"]["phases"]["call"]["message"] == "Skipped: later"
    assert data["collection_known"] is True and data["exitstatus"] == 1


def test_profile_attaches_statistics_that_junit_and_report_log_carry(pytester: pytest.Pytester,
                                                                     tmp_path: Path) -> None:
    pytester.makepyfile(test_h="""
        from hypothesis import given, settings, strategies as st

        @settings(max_examples=25)
        @given(st.integers(0, 10))
        def test_h(x):
            assert x >= 0
    """)
    junit = tmp_path / "junit.xml"
    log = tmp_path / "log.jsonl"
    result = pytester.runpytest("--pv-profile=ci", f"--junitxml={junit}", f"--report-log={log}")
    result.assert_outcomes(passed=1)
    props = {p.get("name"): p.get("value") for p in ET.parse(junit).iter("property")}
    stats = json.loads(props["pv_hypothesis"])
    assert (stats["profile"], stats["derandomize"], stats["database"]) == ("ci", True, False)
    assert 0 < stats["examples"] <= 25  # 11 distinct values: Hypothesis may stop early
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    call = next(x for x in lines if x.get("$report_type") == "TestReport" and x["when"] == "call")
    assert dict(call["user_properties"])["pv_hypothesis"] == props["pv_hypothesis"]


def test_collection_errors_are_recorded(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_broken="import no_such_module_anywhere\n\ndef test_z():\n    pass\n")
    record = tmp_path / "rec"
    result = pytester.runpytest(f"--pv-record={record}", "--continue-on-collection-errors")
    assert result.ret != 0
    errors = _results(record)["collect_errors"]
    assert list(errors) == ["test_broken.py"] and "no_such_module_anywhere" in errors["test_broken.py"]


def test_each_xdist_worker_writes_its_own_results(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_m=BOUND)
    record = tmp_path / "rec"
    result = pytester.runpytest_subprocess(f"--pv-record={record}", "-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=4, failed=1, skipped=1)
    names = sorted(p.name for p in record.glob("results-*.json"))
    assert "results-main.json" in names and any(n.startswith("results-gw") for n in names)
    from pvcontracts.evidence.results import RawResults

    merged = RawResults("run")
    for path in record.glob("results-*.json"):
        merged.merge(RawResults.from_json(json.loads(path.read_text())))
    assert merged.nodes["test_m.py::test_one"].outcome() == ("passed", None)
    assert merged.nodes["test_m.py::test_one"].claims == {"GATE-A-001", "GATE-MOD-001"}  # from a worker


def test_importing_the_plugin_imports_nothing_heavy() -> None:
    code = ("import sys, pvcontracts.evidence.plugin; "
            "print(sorted(m for m in ('torch', 'hypothesis', 'numpy', 'yaml', 'jsonschema') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
