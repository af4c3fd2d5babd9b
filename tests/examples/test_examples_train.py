"""The two examples end to end through ``pv train`` (skipped while the reference trainer is absent).

Unlike test_graph_walks.py and test_pretrain_bytes.py this needs the trainer. The graph
walks run uses the example's own config unchanged (about 8 s); the pretraining run
uses a shrunken copy of its config (60 KB of text, one epoch), because the real one takes
a minute or more. Both must pass with no contract violated, and leave their evidence.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("pvcontracts.train.trainer")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def pv_train(config: Path, out: Path) -> tuple[subprocess.CompletedProcess[str], dict]:
    # One intra-op thread: for models this small it is as fast as two on an idle machine and
    # much faster on a busy one (the curves are the same).
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "pvcontracts", "train", str(config), "--out", str(out),
                           "--no-progress"], capture_output=True, text=True, timeout=600, env=env)
    result = out / "result.json"
    return proc, (json.loads(result.read_text()) if result.exists() else {})


def test_graph_walks_passes_its_sufficiency_gate(tmp_path: Path) -> None:
    proc, result = pv_train(EXAMPLES / "graph_walks" / "config.yaml", tmp_path / "run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["status"] == "passed" and result["stopped_by"] == "gate"
    gate = result["gate"]
    assert gate["kind"] == "sufficiency" and gate["passed"]
    assert gate["params"] == {"edge_compliance_min": 0.95, "rule_compliance_min": 0.8}
    final = result["final_metrics"]
    assert final["edge_compliance"] > 0.95 and final["rule_compliance"] > 0.80
    assert final["epoch"] == gate["epoch"] == result["epochs_run"] - 1 < result["max_epochs"] - 1  # stopped early
    assert all(not (e["edge_compliance"] > 0.95 and e["rule_compliance"] > 0.80) for e in result["curves"]["epochs"][:-1])
    assert (tmp_path / "run" / "checkpoints" / "gate-pass.pt").is_file()
    assert "early-stop-sufficiency-v1" in {c["id"] for c in result["contracts"]}
    assert result["regime"] == {"kind": "from_scratch", "vocab_size": 48}
    assert not result["ledger"]["violations"] and (tmp_path / "run" / "ledger.jsonl").is_file()


def test_pretrain_bytes_from_scratch_is_not_aborted(tmp_path: Path) -> None:
    text = (EXAMPLES / "pretrain_bytes" / "config.yaml").read_text(encoding="utf-8")
    text = text.replace("task: task.py:build", f"task: {EXAMPLES / 'pretrain_bytes' / 'task.py'}:build")
    text = text.replace("max_bytes: 524288", "max_bytes: 60000").replace("max_epochs: 3", "max_epochs: 1")
    text = text.replace("target_val_loss: 2.5 ", "target_val_loss: 4.0 ")
    config = tmp_path / "config.yaml"
    config.write_text(text, encoding="utf-8")
    proc, result = pv_train(config, tmp_path / "run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["status"] == "passed"
    assert result["regime"] == {"kind": "from_scratch", "vocab_size": 256}
    first_step = result["curves"]["step"]["loss"][0]
    assert abs(first_step - math.log(256)) < 0.5  # a cold start: near a uniform guess over 256 bytes
    epoch0 = result["curves"]["epochs"][0]
    assert epoch0["val_loss"] < 2 * math.log(256)
    stats = result["ledger"]["invariants"]["INV-TRAIN-005"]
    assert stats["applicable"] == 1 and stats["violated"] == 0  # the epoch-zero cap was checked, and held
    assert result["task"]["info"]["n_files"] == len(result["task"]["info"]["files"]) > 0
