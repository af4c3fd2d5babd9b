"""`pv validate --against REV`: a contract whose meaning changed since REV must bump its version enough.

Each test commits a contract (and the test file its gate names) to a fresh git
repository in tmp_path, edits the working tree, and runs the real `pv`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

_SCRIPT = Path(sys.executable).with_name("pv")
PV = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pvcontracts"]

GIT_ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}

TEMPLATE = textwrap.dedent("""\
    schema_version: 1
    id: demo-v1
    version: {version}
    status: active
    title: Demo contract
    changelog:
    {changelog}
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
        title: All invariants
        invariants: [{covered}]
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


def contract(version: str = "1.0.0", *, check: str = "val_loss<=cap", added: bool = False,
             history: tuple[str, ...] = ()) -> str:
    """The demo contract at ``version``; its changelog lists ``version`` then ``history``, newest first."""
    entries = "\n".join(f"  - {{version: {v}, date: 2026-01-0{i + 1}, summary: release {v}}}"
                        for i, v in enumerate((version, *history)))
    covered = "INV-DEMO-001, INV-DEMO-002" + (", INV-DEMO-003" if added else "")
    return TEMPLATE.format(version=version, changelog=entries, check=check,
                           extra=EXTRA_INVARIANT if added else "", covered=covered)


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, timeout=60)


def pv(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PV, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def make_repo(root: Path, base: str) -> Path:
    (root / "pyproject.toml").write_text("")
    (root / ".gitignore").write_text(".pv_cache/\n")
    (root / "contracts").mkdir()
    (root / "contracts" / "demo-v1.yaml").write_text(base)
    (root / "tests").mkdir()
    (root / "tests" / "test_demo.py").write_text("def test_ok():\n    assert True\n")
    git("init", "-q", cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "base", cwd=root)
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose HEAD holds demo-v1 at 1.0.0."""
    return make_repo(tmp_path, contract("1.0.0"))


def edit(repo: Path, text: str) -> Path:
    path = repo / "contracts" / "demo-v1.yaml"
    path.write_text(text)
    return path


def against(repo: Path, rev: str = "HEAD", *extra: str) -> subprocess.CompletedProcess[str]:
    return pv("validate", "--against", rev, *extra, cwd=repo)


def codes(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return re.findall(r"\b(?:error|warning)\[(PV\d{3})\]", proc.stdout)


def version_position(text: str) -> tuple[int, int]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("version:"):
            return number, len("version: ") + 1
    raise AssertionError("no version line")


# ---------------------------------------------------------------- the base case


def test_unchanged_contract_passes(repo: Path) -> None:
    proc = against(repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert codes(proc) == []


def test_changed_check_without_bump_is_pv503_at_the_version_line(repo: Path) -> None:
    text = contract("1.0.0", check="val_loss < cap")
    edit(repo, text)
    proc = against(repo)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert codes(proc) == ["PV503"]
    first = proc.stdout.splitlines()[0]
    line, col = version_position(text)
    assert first.startswith(f"contracts/demo-v1.yaml:{line}:{col}: error[PV503]: ")
    assert "INV-DEMO-002.check" in first
    assert "'val_loss<=cap'" in first and "'val_loss < cap'" in first
    assert "major bump" in first and "1.0.0 -> 1.0.0" in first
    assert proc.stdout.splitlines()[1].startswith("  hint: ")


def test_pv503_in_json_carries_the_version_path(repo: Path) -> None:
    edit(repo, contract("1.0.0", check="val_loss < cap"))
    proc = against(repo, "HEAD", "--format", "json")
    assert proc.returncode == 1
    (diag,) = json.loads(proc.stdout)["diagnostics"]
    assert diag["code"] == "PV503" and diag["yaml_path"] == ["version"]


def test_major_bump_with_changelog_passes(repo: Path) -> None:
    edit(repo, contract("2.0.0", check="val_loss < cap", history=("1.0.0",)))
    proc = against(repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert codes(proc) == []


def test_minor_bump_is_not_enough_for_a_changed_check(repo: Path) -> None:
    edit(repo, contract("1.1.0", check="val_loss < cap", history=("1.0.0",)))
    proc = against(repo)
    assert proc.returncode == 1
    assert codes(proc) == ["PV503"]
    assert "needs a major bump" in proc.stdout and "is a minor bump" in proc.stdout


# ---------------------------------------------------------------- additions and reformatting


def test_added_invariant_with_minor_bump_passes(repo: Path) -> None:
    edit(repo, contract("1.1.0", added=True, history=("1.0.0",)))
    proc = against(repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert codes(proc) == []


def test_added_invariant_with_patch_bump_is_pv503(repo: Path) -> None:
    edit(repo, contract("1.0.1", added=True, history=("1.0.0",)))
    proc = against(repo)
    assert proc.returncode == 1, proc.stdout
    assert codes(proc) == ["PV503"]
    assert "INV-DEMO-003: invariant added" in proc.stdout
    assert "needs a minor bump" in proc.stdout and "is a patch bump" in proc.stdout


def test_reformatted_expression_needs_a_patch(repo: Path) -> None:
    edit(repo, contract("1.0.0", check="val_loss <= cap"))
    proc = against(repo)
    assert proc.returncode == 1, proc.stdout
    assert codes(proc) == ["PV503"]
    assert "needs a patch bump" in proc.stdout and "reformatted" in proc.stdout

    edit(repo, contract("1.0.1", check="val_loss <= cap", history=("1.0.0",)))
    proc = against(repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---------------------------------------------------------------- regressions and bad revisions


def test_lower_version_is_pv504(repo: Path) -> None:
    edit(repo, contract("0.9.0"))
    proc = against(repo)
    assert proc.returncode == 1, proc.stdout
    assert codes(proc) == ["PV504"]
    line, col = version_position(contract("0.9.0"))
    assert f"contracts/demo-v1.yaml:{line}:{col}: error[PV504]: " in proc.stdout
    assert "0.9.0" in proc.stdout and "1.0.0" in proc.stdout


def test_unknown_revision_is_pv505_with_a_clear_message(repo: Path) -> None:
    proc = against(repo, "no-such-rev")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert codes(proc) == ["PV505"]
    line = next(l for l in proc.stdout.splitlines() if "PV505" in l)
    assert "'no-such-rev'" in line
    assert "no such commit, branch or tag" in line
    assert "Traceback" not in proc.stderr


def test_revision_that_looks_like_an_option_is_refused(repo: Path) -> None:
    proc = pv("validate", "--against=--output=x", cwd=repo)  # must never reach git as an option
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert codes(proc) == ["PV505"] and "may not start with '-'" in proc.stdout


def test_against_outside_a_git_repository_is_pv505(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "demo-v1.yaml").write_text(contract())
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_demo.py").write_text("def test_ok():\n    pass\n")
    env = {**GIT_ENV, "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)}  # never find an enclosing repo
    proc = subprocess.run([*PV, "validate", "--against", "HEAD"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert codes(proc) == ["PV505"]
    assert "not a git repository" in proc.stdout


# ---------------------------------------------------------------- 0.x, new files, other revisions


def test_zero_major_breaking_change_needs_only_minor(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, contract("0.1.0"))
    edit(repo, contract("0.2.0", check="val_loss < cap", history=("0.1.0",)))
    proc = against(repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    edit(repo, contract("0.1.1", check="val_loss < cap", history=("0.1.0",)))
    proc = against(repo)
    assert proc.returncode == 1, proc.stdout
    assert codes(proc) == ["PV503"] and "needs a minor bump" in proc.stdout


def test_new_contract_needs_no_bump(repo: Path) -> None:
    other = contract("0.1.0").replace("id: demo-v1", "id: other-v1").replace("DEMO", "OTHER")
    (repo / "contracts" / "other-v1.yaml").write_text(other)
    proc = against(repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_against_an_older_commit_and_from_a_subdirectory(repo: Path) -> None:
    edit(repo, contract("2.0.0", check="val_loss < cap", history=("1.0.0",)))
    git("commit", "-q", "-am", "2.0.0", cwd=repo)
    # Against HEAD nothing changed; against HEAD~1 the 2.0.0 bump covers the change.
    assert against(repo).returncode == 0
    assert against(repo, "HEAD~1").returncode == 0
    edit(repo, contract("2.0.1", check="val_loss < 2 * cap", history=("2.0.0", "1.0.0")))
    assert against(repo, "HEAD~1").returncode == 0  # 1.0.0 -> 2.0.1 is major
    proc = against(repo, "HEAD")  # 2.0.0 -> 2.0.1 is only a patch
    assert proc.returncode == 1 and codes(proc) == ["PV503"]
    # Run from inside contracts/ with a relative path: same verdict, same file.
    proc = pv("validate", "--against", "HEAD", ".", cwd=repo / "contracts")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert codes(proc) == ["PV503"]
    assert proc.stdout.startswith("demo-v1.yaml:3:10: error[PV503]")
