"""Semantic diff: which changes need which bump, and `pv diff OLD NEW` on files, directories and git."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pvcontracts.contract.loading import load_contract_bytes
from pvcontracts.validate.diff import compare_contracts, judge_bump

_SCRIPT = Path(sys.executable).with_name("pv")
PV = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pvcontracts"]

BASE = textwrap.dedent("""\
    schema_version: 1
    id: demo-v1
    version: {version}
    status: active
    title: Demo contract
    changelog:
      - {{version: {version}, date: 2026-01-01, summary: this version}}
    params:
      vocab_size: {{type: int, min: 2, description: Vocabulary size}}
    invariants:
      - id: INV-DEMO-001
        title: Loss is finite
        at: step_end
        check: "isfinite(loss)"
        on_violation: abort
      - id: INV-DEMO-002
        title: Validation loss under the cap
        at: epoch_end
        check: "{check}"
        let:
          cap: "10.0"
        on_violation: abort
    {extra}gates:
      - id: GATE-DEMO-001
        title: Both invariants
        invariants: [INV-DEMO-001, INV-DEMO-002]
        ship_blocking: true
        evidence_discharged_by:
          - tests/test_demo.py::test_ok
    """)

EXTRA_INVARIANT = textwrap.indent(textwrap.dedent("""\
    - id: INV-DEMO-003
      title: Loss is not negative
      at: step_end
      check: "loss >= 0"
      on_violation: warn
    """), "  ")


def contract_text(version: str = "1.0.0", check: str = "val_loss<=cap", extra: str = "") -> str:
    return BASE.format(version=version, check=check, extra=extra)


def load(text: str):
    loaded = load_contract_bytes(text.encode(), "demo-v1.yaml")
    assert loaded.contract is not None, [d.message for d in loaded.diagnostics]
    return loaded.contract


def changes(old: str, new: str) -> list[tuple[str, str]]:
    return [(c.level, c.subject) for c in compare_contracts(load(old), load(new))]


# ---------------------------------------------------------------- the rules


def test_identical_contracts_have_no_changes() -> None:
    assert changes(contract_text(), contract_text()) == []
    verdict = judge_bump(load(contract_text()), load(contract_text()))
    assert verdict.required == "none" and verdict.sufficient


def test_changed_check_is_major() -> None:
    assert changes(contract_text(), contract_text(check="val_loss < cap")) == [("major", "INV-DEMO-002.check")]


def test_reformatted_check_is_patch() -> None:
    assert changes(contract_text(), contract_text(check="val_loss <= cap")) == [("patch", "INV-DEMO-002.check")]


def test_added_invariant_is_minor_and_removed_is_major() -> None:
    assert changes(contract_text(), contract_text(extra=EXTRA_INVARIANT)) == [("minor", "INV-DEMO-003")]
    assert changes(contract_text(extra=EXTRA_INVARIANT), contract_text()) == [("major", "INV-DEMO-003")]


def test_changed_let_value_is_major() -> None:
    assert changes(contract_text(), contract_text().replace('cap: "10.0"', 'cap: "12.0"')) == [
        ("major", "INV-DEMO-002.let")]
    # Reformatting a let is like reformatting a check: same meaning, still a patch.
    assert changes(contract_text(), contract_text().replace('cap: "10.0"', 'cap: "10. "')) == [
        ("patch", "INV-DEMO-002.let")]


def test_changed_boundary_and_violation_action_are_major() -> None:
    moved = contract_text().replace("at: epoch_end", "at: eval_end")
    softer = contract_text().replace('cap: "10.0"\n    on_violation: abort', 'cap: "10.0"\n    on_violation: warn')
    assert changes(contract_text(), moved) == [("major", "INV-DEMO-002.at")]
    assert changes(contract_text(), softer) == [("major", "INV-DEMO-002.on_violation")]


def test_prose_is_patch() -> None:
    retitled = contract_text().replace("title: Loss is finite", "title: Training loss is finite")
    assert changes(contract_text(), retitled) == [("patch", "INV-DEMO-001")]
    assert changes(contract_text(), contract_text().replace("title: Demo contract", "title: Demo")) == [
        ("patch", "title")]


def test_param_range_change_is_major() -> None:
    assert changes(contract_text(), contract_text().replace("min: 2,", "min: 3,")) == [("major", "params.vocab_size")]


def test_gate_no_longer_blocking_is_major() -> None:
    assert changes(contract_text(), contract_text().replace("ship_blocking: true", "ship_blocking: false")) == [
        ("major", "GATE-DEMO-001.ship_blocking")]


@pytest.mark.parametrize("old, new, change, required, sufficient", [
    ("1.0.0", "2.0.0", "val_loss < cap", "major", True),
    ("1.0.0", "1.1.0", "val_loss < cap", "major", False),
    ("1.0.0", "1.0.1", "val_loss <= cap", "patch", True),
    ("1.0.0", "1.0.0", "val_loss <= cap", "patch", False),
    ("0.3.0", "0.4.0", "val_loss < cap", "minor", True),   # 0.x: breaking needs only minor
    ("0.3.0", "0.3.1", "val_loss < cap", "minor", False),
    ("1.2.0", "1.1.9", "val_loss<=cap", "none", False),    # regressed
])
def test_judge_bump(old: str, new: str, change: str, required: str, sufficient: bool) -> None:
    verdict = judge_bump(load(contract_text(old)), load(contract_text(new, check=change)))
    assert verdict.required == required
    assert verdict.sufficient is sufficient
    assert verdict.regressed is (new < old)


# ---------------------------------------------------------------- pv diff, files


def pv(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PV, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_pv_diff_text_insufficient_exits_1(tmp_path: Path) -> None:
    (tmp_path / "old.yaml").write_text(contract_text())
    (tmp_path / "new.yaml").write_text(contract_text(check="val_loss < cap"))
    proc = pv("diff", "old.yaml", "new.yaml", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("demo-v1: 1.0.0 -> 1.0.0 ")
    assert "major required" in lines[0] and lines[0].endswith("INSUFFICIENT")
    assert lines[1].split() [:2] == ["major", "INV-DEMO-002.check:"]
    assert "'val_loss<=cap'" in lines[1] and "'val_loss < cap'" in lines[1]


def test_pv_diff_text_sufficient_exits_0(tmp_path: Path) -> None:
    (tmp_path / "old.yaml").write_text(contract_text())
    (tmp_path / "new.yaml").write_text(contract_text("1.1.0", extra=EXTRA_INVARIANT))
    proc = pv("diff", "old.yaml", "new.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first, second = proc.stdout.splitlines()
    assert first.startswith("demo-v1: 1.0.0 -> 1.1.0 (minor bump; minor required)") and first.endswith(" ok")
    assert second.split()[:2] == ["minor", "INV-DEMO-003:"]


def test_pv_diff_json(tmp_path: Path) -> None:
    (tmp_path / "old.yaml").write_text(contract_text())
    (tmp_path / "new.yaml").write_text(contract_text("1.0.1", check="val_loss < cap"))
    first = pv("diff", "--format", "json", "old.yaml", "new.yaml", cwd=tmp_path)
    second = pv("diff", "old.yaml", "new.yaml", "--format", "json", cwd=tmp_path)
    assert first.returncode == second.returncode == 1, first.stderr
    assert first.stdout == second.stdout
    (record,) = json.loads(first.stdout)["contracts"]
    assert record == {
        "id": "demo-v1", "status": "changed", "old_version": "1.0.0", "new_version": "1.0.1",
        "bump": "patch", "required": "major", "sufficient": False,
        "changes": [{"level": "major", "subject": "INV-DEMO-002.check",
                     "description": "check changed from 'val_loss<=cap' to 'val_loss < cap'"}],
    }


def test_pv_diff_unchanged_exits_0(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(contract_text())
    proc = pv("diff", "a.yaml", "a.yaml", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (record,) = json.loads(proc.stdout)["contracts"]
    assert record["status"] == "unchanged" and record["changes"] == [] and record["sufficient"] is True


def test_pv_diff_directories_pair_contracts_by_id(tmp_path: Path) -> None:
    for side, text in (("old", contract_text()), ("new", contract_text("2.0.0", check="val_loss < cap"))):
        (tmp_path / side).mkdir()
        (tmp_path / side / "demo-v1.yaml").write_text(text)
    (tmp_path / "new" / "extra-v1.yaml").write_text(contract_text().replace("id: demo-v1", "id: extra-v1"))
    proc = pv("diff", "old", "new", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    records = {r["id"]: r for r in json.loads(proc.stdout)["contracts"]}
    assert records["demo-v1"]["sufficient"] is True and records["demo-v1"]["required"] == "major"
    assert records["extra-v1"] == {"id": "extra-v1", "status": "added", "version": "1.0.0"}


@pytest.mark.parametrize("old, new", [("missing.yaml", "a.yaml"), ("a.yaml", "missing-dir")])
def test_pv_diff_missing_path_exits_2(tmp_path: Path, old: str, new: str) -> None:
    (tmp_path / "a.yaml").write_text(contract_text())
    proc = pv("diff", old, new, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith("pv diff: ") and "missing" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_pv_diff_broken_side_exits_2_and_points_at_it(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(contract_text())
    (tmp_path / "b.yaml").write_text(contract_text().replace("at: step_end", "at: sometimes"))
    proc = pv("diff", "a.yaml", "b.yaml", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "b.yaml:" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------- pv diff, git


def git(*args: str, cwd: Path) -> None:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, timeout=60)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "demo-v1.yaml").write_text(contract_text())
    git("init", "-q", cwd=tmp_path)
    git("add", "-A", cwd=tmp_path)
    git("commit", "-q", "-m", "base", cwd=tmp_path)
    return tmp_path


def test_pv_diff_git_revision_against_working_tree(repo: Path) -> None:
    (repo / "contracts" / "demo-v1.yaml").write_text(contract_text(check="val_loss < cap"))
    proc = pv("diff", "HEAD:contracts", "contracts", cwd=repo)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0].endswith("INSUFFICIENT")
    assert "INV-DEMO-002.check" in proc.stdout

    (repo / "contracts" / "demo-v1.yaml").write_text(contract_text("2.0.0", check="val_loss < cap"))
    proc = pv("diff", "HEAD:contracts/demo-v1.yaml", "contracts/demo-v1.yaml", "--format", "json", cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (record,) = json.loads(proc.stdout)["contracts"]
    assert (record["old_version"], record["new_version"], record["required"]) == ("1.0.0", "2.0.0", "major")


def test_pv_diff_git_paths_are_relative_to_the_working_directory(repo: Path) -> None:
    (repo / "contracts" / "demo-v1.yaml").write_text(contract_text("1.0.1", check="val_loss <= cap"))
    proc = pv("diff", "HEAD:.", ".", cwd=repo / "contracts")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("demo-v1: 1.0.0 -> 1.0.1 (patch bump; patch required) ok")


def test_pv_diff_unknown_revision_exits_2(repo: Path) -> None:
    proc = pv("diff", "no-such-rev:contracts", "contracts", cwd=repo)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no-such-rev" in proc.stderr and "Traceback" not in proc.stderr


def test_pv_diff_broken_contract_at_the_revision_is_an_error_not_an_addition(repo: Path) -> None:
    (repo / "contracts" / "demo-v1.yaml").write_text(contract_text().replace("at: step_end", "at: sometimes"))
    git("commit", "-q", "-am", "broken", cwd=repo)
    (repo / "contracts" / "demo-v1.yaml").write_text(contract_text())
    proc = pv("diff", "HEAD:contracts", "contracts", cwd=repo)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert "HEAD:contracts/demo-v1.yaml:" in proc.stderr and "sometimes" in proc.stderr
