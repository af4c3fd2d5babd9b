"""Smoke test of ``tools/bench/trainer.py``: it runs, prints the ratio, and compares like with like.

No timing is asserted (a loaded CI machine must not fail a build over timings). What is
asserted is that the benchmark is *valid*: the bare loop and the trainer trained the same
model on the same data (their per-step losses agree), the trainer enforced every shipped
contract it can feed and broke none, and its step invariants were evaluated at every step.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("pvcontracts.train.trainer")

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "bench" / "trainer.py"
# Seconds on a loaded 2-core machine: a one-layer model, a 20 KB corpus, one epoch of 46 steps.
TINY = ["--pairs", "1", "--epochs", "1", "--max-bytes", "20000", "--n-layer", "1", "--n-head", "2", "--n-embd", "32",
        "--block-size", "16", "--batch-size", "8", "--threads", "1", "--no-warmup"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict]:
    out = tmp_path_factory.mktemp("bench") / "trainer.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), *TINY, "--json", str(out)], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    data = json.loads(out.read_text()) if out.exists() else {}
    return proc, data


def test_runs_and_prints_the_ratio(bench: tuple[subprocess.CompletedProcess[str], dict]) -> None:
    proc, data = bench
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^median\s+wall \d+\.\d{3}\s+cpu \d+\.\d{3}$", proc.stdout, re.M), proc.stdout
    assert re.search(r"^goal <= 1\.05x: (PASS|FAIL) \(median pair ratio \d+\.\d{3}", proc.stdout, re.M), proc.stdout
    assert data["median_wall_ratio"] > 0 and len(data["wall_ratios"]) == 1 and not data["failures"]


def test_both_sides_trained_the_same_model_on_the_same_data(bench: tuple[subprocess.CompletedProcess[str], dict]) -> None:
    _, data = bench
    assert data["steps_per_run"] > 0
    assert data["max_loss_rel_diff"] <= 1e-4


def test_every_feedable_contract_was_enforced(bench: tuple[subprocess.CompletedProcess[str], dict]) -> None:
    from pvcontracts.contract.contractset import load_contracts

    _, data = bench
    enforced = {c.split()[0] for c in data["contracts_enforced"]}
    shipped = {c.id for c in load_contracts()}
    assert enforced | set(data["contracts_not_enforced"]) == shipped
    assert {"training-loop-pretrain-v1", "lr-schedule-v1", "checkpoint-resume-v1", "early-stop-sufficiency-v1",
            "early-stop-coverage-v1"} <= enforced
    assert data["trainer_status"] == "failed"  # the unreachable gate: every epoch trained, no violation
    steps = data["steps_per_run"]
    step_ids = [inv.id for c in load_contracts() if c.id in enforced for inv in c.invariants if inv.at == "step_end"]
    assert step_ids
    for inv_id in step_ids:
        assert data["invariants"][inv_id]["evaluated"] == steps, (inv_id, data["invariants"][inv_id])
        assert data["invariants"][inv_id]["violated"] == 0
