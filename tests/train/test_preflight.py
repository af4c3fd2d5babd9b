"""Preflight: the report is written before training, and a run that cannot succeed is refused with every reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _tinytask import fit, snapshot
from pvcontracts.train.config import ConfigError
from pvcontracts.train.preflight import PreflightError


def refused(tmp_path: Path, options: dict | None = None, *, fresh: bool = True, **overrides: object
            ) -> dict[str, dict]:
    with pytest.raises(PreflightError) as info:
        fit(tmp_path, options, **overrides)
    report = json.loads((tmp_path / "preflight.json").read_text())
    assert report["ok"] is False
    failed = {c["name"]: c for c in report["checks"] if not c["ok"] and c["fatal"]}
    for name, check in failed.items():
        assert f"{name}: {check['detail']}" in str(info.value)
    if fresh:
        assert not (tmp_path / "checkpoints").exists()  # refused before the first step
    return failed


def test_report_says_what_the_run_uses(tmp_path: Path) -> None:
    fit(tmp_path, max_epochs=1)
    report = json.loads((tmp_path / "preflight.json").read_text())
    assert report["ok"] is True
    env = report["environment"]
    assert env["packages"]["torch"] and env["python"] and env["cuda_available"] in (True, False)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["dataset found and sized"]["data"] == {"train": 32, "val": 16, "steps_per_epoch": 4,
                                                         "total_steps": 4}
    assert "checkpoint-resume-v1 1.0.0" in checks["contracts valid"]["data"]["contracts"]
    assert checks["determinism"]["data"]["deterministic_algorithms"] is True


def test_every_reason_is_given_at_once(tmp_path: Path) -> None:
    failed = refused(tmp_path, {"n_train": 0}, regime={"kind": "from_scratch", "vocab_size": 99},
                     mixed_precision=True, amp_dtype="float16", coverage_stop={"patience": 2})
    assert set(failed) == {"dataset found and sized", "regime", "mixed precision", "task metrics"}
    assert "float16 needs CUDA" in failed["mixed precision"]["detail"]
    assert "they must agree" in failed["regime"]["detail"]


def test_an_existing_run_is_not_overwritten_without_resume(tmp_path: Path) -> None:
    """Refused, and the refusal touches nothing of the run it refused to overwrite: not even its preflight.json."""
    fit(tmp_path, max_epochs=1)
    before = snapshot(tmp_path)
    for _ in range(2):  # every retry alike
        with pytest.raises(PreflightError) as info:
            fit(tmp_path, max_epochs=1)
        assert "run directory:" in str(info.value) and "pass --resume" in str(info.value)
        assert info.value.report_path is None
        assert snapshot(tmp_path) == before


def test_invalid_contracts_and_unknown_selections_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "contracts"
    bad.mkdir()
    (bad / "x-v1.yaml").write_text("schema_version: 1\nid: x-v1\n")
    assert "contracts valid" in refused(tmp_path / "a", contracts=str(bad))
    detail = refused(tmp_path / "b", select=["no-such-v1"])["contracts valid"]["detail"]
    assert "no-such-v1" in detail


def test_a_resume_must_continue_the_same_run(tmp_path: Path) -> None:
    fit(tmp_path, max_epochs=3, stop_after=1)
    with pytest.raises(ConfigError, match=r"different run \(lr: 0.01 -> 0.02\)"):
        fit(tmp_path, max_epochs=3, lr=0.02, resume="latest")
