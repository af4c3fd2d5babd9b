"""The pytest session runner: what it refuses and what it reports when the session goes wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from pvcontracts.evidence import runner


def test_workers_without_xdist_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "xdist_available", lambda: False)
    with pytest.raises(runner.RunnerError, match="pytest-xdist"):
        runner.run_session(tmp_path, ["t.py::test"], ["t.py"], workers=2)


def test_nothing_selected_runs_nothing(tmp_path: Path) -> None:
    session = runner.run_session(tmp_path, [], [])
    assert session.results.nodes == {} and session.abnormal is None


def test_a_session_that_cannot_start_is_abnormal(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '--no-such-option'\n")
    (tmp_path / "test_x.py").write_text("def test_a():\n    pass\n")
    session = runner.run_session(tmp_path, ["test_x.py::test_a"], ["test_x.py"])
    assert session.abnormal == "usage error"
    assert "--no-such-option" in session.log_tail


def test_a_broken_conftest_is_evidence_against_every_test_below_it(evproject) -> None:
    evproject.write("tests/conftest.py", "raise RuntimeError('conftest exploded')\n")
    done = evproject.check()
    assert done.returncode == 1
    gate = evproject.gate(evproject.evidence()) if (evproject.root / "out" / "evidence.json").exists() else None
    assert gate is not None and gate["status"] == "failed"
    entry = evproject.test(gate, "tests/test_demo.py::test_a")
    assert entry["outcome"] == "error" and "could not run (usage error)" in entry["message"]
    assert "error[PV621]: the pytest session ended abnormally (usage error, exit status 4)" in done.stdout


def test_without_pytest_the_session_is_refused_once_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "pytest_available", lambda: False)
    with pytest.raises(runner.RunnerError, match=r"run under pytest, which is not installed .*pv-contracts\[dev\]"):
        runner.run_session(tmp_path, ["t.py::test"], ["t.py"])
    assert runner.run_session(tmp_path, [], []).abnormal is None  # nothing to run needs no pytest


def test_pv_check_without_pytest_exits_as_a_usage_error_and_writes_no_evidence(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from pvcontracts.cli import run

    root = Path(__file__).resolve().parents[2]
    monkeypatch.setattr(runner, "pytest_available", lambda: False)
    out = tmp_path / "evidence.json"
    code = run(["check", str(root / "contracts" / "lr-schedule-v1.yaml"), "--root", str(root), "--no-mutate",
                 "-o", str(out)])
    assert code == 2
    assert "which is not installed" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == []
