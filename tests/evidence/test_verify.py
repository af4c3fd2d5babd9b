"""`pv verify` through the real program: valid, stale (each input), tampered (each way), unreadable.

One project is checked once per module; each test verifies a copy of it
after changing one thing in the tree or in the evidence.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pvcontracts.evidence.evidence import content_digest, record_digest


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory, evproject_class) -> Path:
    """A fixture project with a clean, discharged evidence file at out/evidence.json (and an in-toto copy)."""
    root = tmp_path_factory.mktemp("verify") / "repo"
    root.mkdir()
    project = evproject_class(root)
    for args in (("--reproducible",), ("--reproducible", "--in-toto", "-o", "out/statement.json")):
        done = project.check(*args)
        assert done.returncode == 0, done.stdout + done.stderr
    return root


@pytest.fixture
def copy(checked: Path, tmp_path: Path, evproject_class):
    root = tmp_path / "copy"
    shutil.copytree(checked, root)
    return evproject_class.at(root)


def _edit_evidence(project, change) -> None:
    path = project.root / "out" / "evidence.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def _verify(project, *args: str) -> subprocess.CompletedProcess[str]:
    return project.pv("verify", "out/evidence.json", *args)


def test_untouched_evidence_is_valid(copy) -> None:
    done = _verify(copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid        GATE-DEMO-001  demo-v1 1.0.0  (discharged)" in done.stdout
    assert "pv verify: 1 gate: 1 valid, 0 stale, 0 inconsistent, 0 tampered; not signed" in done.stdout
    report = json.loads(_verify(copy, "--format", "json").stdout)
    assert report["ok"] is True and report["gates"][0]["verdict"] == "valid"


@pytest.mark.parametrize(("edit", "reason"), [
    (lambda t: t.replace('check: "isfinite(loss)"', 'check: "isfinite(loss) and loss < 1e9"'), "INV-DEMO-001 changed"),
    (lambda t: t.replace("ship_blocking: true", "ship_blocking: false"), "GATE-DEMO-001 changed"),
    (lambda t: t.replace('"Every drawn value is below the limit"', '"Every value is below the limit"'),
     "FALSIFY-DEMO-001 changed"),
    (lambda t: t.replace("version: 1.0.0\nstatus", "version: 1.0.1\nstatus").replace(
        "changelog:\n", "changelog:\n  - {version: 1.0.1, date: 2026-02-01, summary: Wording}\n"),
     "contract version 1.0.0 -> 1.0.1"),
    (lambda t: t.replace("status: active", "status: deprecated"), "contract status active -> deprecated"),
], ids=["invariant", "gate", "falsifier", "version", "status"])
def test_a_changed_contract_makes_the_gate_stale(copy, edit, reason) -> None:
    path = copy.root / "contracts" / "demo-v1.yaml"
    path.write_text(edit(path.read_text()))
    done = _verify(copy)
    assert done.returncode == 1
    assert "stale        GATE-DEMO-001" in done.stdout
    assert f"error[PV630]: GATE-DEMO-001 evidence is stale: {reason}" in done.stdout


def test_an_edited_bound_test_file_makes_the_gate_stale_without_a_version_bump(copy) -> None:
    path = copy.root / "tests" / "test_demo.py"
    path.write_text(path.read_text() + "\n# a comment is still a change to the evidence\n")
    done = _verify(copy)
    assert done.returncode == 1
    assert "stale: tests/test_demo.py changed" in done.stdout


def test_a_deleted_test_file_or_contract_makes_the_gate_stale(copy) -> None:
    (copy.root / "tests" / "test_falsify.py").unlink()
    assert "tests/test_falsify.py is gone" in _verify(copy).stdout
    (copy.root / "contracts" / "demo-v1.yaml").unlink()
    done = _verify(copy)
    assert done.returncode == 1 and "contracts/demo-v1.yaml is gone or no longer loads" in done.stdout


def test_prose_and_formatting_elsewhere_do_not_make_a_gate_stale(copy) -> None:
    path = copy.root / "contracts" / "demo-v1.yaml"
    text = path.read_text().replace("title: Demo contract", "title: Demo contract, reworded")
    text = text.replace('check: "isfinite(loss)"', 'check: "isfinite( loss )"  # same expression')
    path.write_text("# a comment\n" + text)
    done = _verify(copy)
    assert done.returncode == 0, done.stdout


def test_a_new_gate_is_reported(copy) -> None:
    path = copy.root / "contracts" / "demo-v1.yaml"
    path.write_text(path.read_text().replace("falsifiers:\n", (
        "  - id: GATE-DEMO-002\n    invariants: [INV-DEMO-001]\n    ship_blocking: false\n"
        "    evidence_discharged_by: [tests/test_demo.py::test_a]\nfalsifiers:\n")))
    done = _verify(copy)
    assert done.returncode == 1
    assert "error[PV632]: GATE-DEMO-002 has no record in out/evidence.json" in done.stdout


def test_an_edited_status_is_inconsistent_not_tampered(copy) -> None:
    _edit_evidence(copy, lambda d: d["contracts"][0]["gates"][0].update(status="failed"))
    done = _verify(copy)
    assert done.returncode == 1
    # without a signature a digest shows only that the file disagrees with itself, never who changed it
    assert "inconsistent GATE-DEMO-001" in done.stdout and "tampered  GATE" not in done.stdout
    assert "error[PV631]" in done.stdout
    assert "does not match its record_digest" in done.stdout and "does not match its content_digest" in done.stdout


def test_recomputed_digests_do_not_hide_a_status_that_does_not_follow(copy) -> None:
    def forge(doc):
        gate = doc["contracts"][0]["gates"][0]
        gate["tests"][1]["outcome"] = "failed"  # claim a failure ...
        gate["tests"][1]["instances"][0]["outcome"] = "failed"
        gate["record_digest"] = record_digest(gate)  # ... and re-seal everything, but keep "discharged"
        doc["content_digest"] = content_digest(doc)

    _edit_evidence(copy, forge)
    done = _verify(copy)
    assert done.returncode == 1
    assert "status says discharged but its tests' outcomes give failed" in done.stdout


def test_an_edited_outcome_that_contradicts_its_instances_is_inconsistent(copy) -> None:
    def forge(doc):
        gate = doc["contracts"][0]["gates"][0]
        gate["tests"][0]["instances"][0]["outcome"] = "skipped"
        gate["record_digest"] = record_digest(gate)
        doc["content_digest"] = content_digest(doc)

    _edit_evidence(copy, forge)
    assert "says passed but its instances say skipped" in _verify(copy).stdout


def test_an_in_toto_subject_that_does_not_match_is_inconsistent(copy) -> None:
    path = copy.root / "out" / "statement.json"
    statement = json.loads(path.read_text())
    assert copy.pv("verify", "out/statement.json").returncode == 0
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    path.write_text(json.dumps(statement))
    done = copy.pv("verify", "out/statement.json")
    assert done.returncode == 1 and "in-toto subjects do not match" in done.stdout


@pytest.mark.parametrize(("content", "why"), [
    (b"{not json", "not JSON"),
    (b'{"schema_version": 7, "contracts": []}', "is not pv-contracts evidence"),
], ids=["not-json", "other-schema"])
def test_a_file_that_is_not_evidence_is_a_usage_error(copy, content, why) -> None:
    (copy.root / "out" / "evidence.json").write_bytes(content)
    done = _verify(copy)
    assert done.returncode == 2 and why in done.stderr


def test_evidence_that_breaks_its_schema_is_reported(copy) -> None:
    _edit_evidence(copy, lambda d: d["contracts"][0]["gates"][0].update(status="probably fine"))
    done = _verify(copy)
    assert done.returncode == 1 and "error[PV631]" in done.stdout and "does not match its schema" in done.stdout


def test_a_missing_evidence_file_is_a_usage_error(copy) -> None:
    done = copy.pv("verify", "out/nope.json")
    assert done.returncode == 2 and "cannot read out/nope.json" in done.stderr
