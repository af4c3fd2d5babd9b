"""`pv train`: exit codes, overrides, the evidence it ends with, and clean messages for bad input."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

from pvcontracts.cli import run

TASK = Path(__file__).resolve().parent / "_tinytask.py"


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(textwrap.dedent(f"""\
        task: {TASK}:build
        task_options: {{n_train: 32, metrics: sufficiency}}
        max_epochs: 3
        batch_size: 8
        lr: 0.01
        progress: false
        """) + extra)
    return path


def pv(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(["train", *argv], out, err)
    return code, out.getvalue(), err.getvalue()


def test_passed_run_exits_0_with_its_evidence(tmp_path: Path) -> None:
    config = write_config(tmp_path, "sufficiency: {edge_compliance_min: 0.5, rule_compliance_min: 0.5}\n")
    code, out, err = pv(str(config))
    assert code == 0, err
    run_dir = tmp_path / "runs" / "run"
    assert out.splitlines() == [f"pv train: passed: sufficiency gate passed at epoch "
                                f"{json.loads((run_dir / 'result.json').read_text())['gate']['epoch']}",
                                f"  result: {run_dir / 'result.json'}", f"  ledger: {run_dir / 'ledger.jsonl'}"]
    assert (run_dir / "ledger.jsonl").is_file()


def test_failed_gate_exits_1_and_resume_and_overrides_work(tmp_path: Path) -> None:
    config = write_config(tmp_path, "sufficiency: {edge_compliance_min: 1.0, rule_compliance_min: 1.0}\n")
    out_dir = tmp_path / "elsewhere"
    code, out, _ = pv(str(config), "--out", str(out_dir), "--max-epochs", "2")
    assert code == 1 and "pv train: failed: sufficiency gate not passed within 2 epochs" in out
    assert json.loads((out_dir / "result.json").read_text())["config"]["max_epochs"] == 2
    code, _, err = pv(str(config), "--out", str(out_dir), "--max-epochs", "2")
    assert code == 2 and "pass --resume" in err
    code, out, err = pv(str(config), "--out", str(out_dir), "--max-epochs", "2", "--resume")
    assert code == 1 and "resumed from" in err  # nothing left to train: the same verdict again
    code, _, err = pv(str(config), "--out", str(out_dir), "--max-epochs", "3", "--resume")
    assert code == 2 and "max_epochs: 2 -> 3" in err


def test_regime_flags_and_a_violation_exit_1(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    code, out, err = pv(str(config), "--regime", "from-scratch", "--vocab-size", "8", "--out", str(tmp_path / "a"),
                        "--max-epochs", "1")
    result = json.loads((tmp_path / "a" / "result.json").read_text())
    assert result["regime"] == {"kind": "from_scratch", "vocab_size": 8}
    code, _, err = pv(str(config), "--regime", "from-scratch", "--vocab-size", "9", "--out", str(tmp_path / "b"))
    assert code == 2 and "regime: from_scratch (vocab_size=9); the task's vocab_size is 8" in err
    nan = write_config(tmp_path, "task_options: {nan_at_call: 2}\n".replace("task_options", "seed: 1\n#"))
    nan.write_text(nan.read_text().replace("metrics: sufficiency", "nan_at_call: 2"))
    code, out, err = pv(str(nan), "--out", str(tmp_path / "c"))
    assert code == 1 and "pv train: violation: INV-TRAIN-001" in out and "a contract was violated" in err


def test_bad_input_is_a_message_never_a_traceback(tmp_path: Path) -> None:
    cases = {
        "max_epoch: 3\n": "unknown field 'max_epoch' (did you mean 'max_epochs'?)",
        "task: missing.py:build\n": "task file",
        f"task: {TASK}:nope\n": "has no function 'nope'",
        "max_epochs: 3\n": "no task",
        "- a list\n": "a run config is a mapping",
    }
    for text, message in cases.items():
        path = tmp_path / "bad.yaml"
        path.write_text(text)
        code, out, err = pv(str(path))
        assert code == 2 and message in err and "Traceback" not in err, (text, err)
    code, _, err = pv(str(tmp_path / "absent.yaml"))
    assert code == 2 and "cannot read file" in err
    code, _, err = pv(str(write_config(tmp_path)), "--regime", "finetune", "--vocab-size", "8")
    assert code == 2 and "--vocab-size goes with --regime from-scratch" in err
    broken = tmp_path / "broken_task.py"
    broken.write_text("raise ImportError('no such model zoo')\n")
    (tmp_path / "b.yaml").write_text(f"task: {broken}:build\n")
    code, _, err = pv(str(tmp_path / "b.yaml"))
    assert code == 2 and "importing" in err and "no such model zoo" in err and "Traceback" not in err
    picky = tmp_path / "picky_task.py"
    picky.write_text("def build(config, seed):\n    raise ValueError('unknown task_options section')\n")
    (tmp_path / "p.yaml").write_text(f"task: {picky}:build\n")
    code, _, err = pv(str(tmp_path / "p.yaml"))
    assert code == 2 and "Traceback" not in err
    assert f"build() raised ValueError: unknown task_options section ({picky}:2)" in err


_PROBE = textwrap.dedent("""\
    import io, json, sys
    from pvcontracts.cli import run
    err = io.StringIO()
    rc = run(["train", sys.argv[1]], io.StringIO(), err)
    print(json.dumps({"rc": rc, "torch": "torch" in sys.modules, "err": err.getvalue()}))
    """)


def test_real_executable_and_lazy_torch(tmp_path: Path) -> None:
    """The installed `pv train` runs end to end; a bad config is reported without importing torch."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("max_epochs: -1\n")
    probe = subprocess.run([sys.executable, "-c", _PROBE, str(bad)], capture_output=True, text=True, timeout=60)
    seen = json.loads(probe.stdout)
    assert seen["rc"] == 2 and seen["torch"] is False and "max_epochs=-1" in seen["err"]
    config = write_config(tmp_path, "sufficiency: {edge_compliance_min: 0.5, rule_compliance_min: 0.5}\n")
    proc = subprocess.run([sys.executable, "-m", "pvcontracts", "train", str(config), "--max-epochs", "1",
                           "--out", str(tmp_path / "r")], capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    assert json.loads((tmp_path / "r" / "result.json").read_text())["epochs_run"] == 1
