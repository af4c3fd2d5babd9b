"""The Accelerate adapter on two CPU processes (gloo): the ranks agree, and nothing hangs.

A clean run (with a scheduler Accelerate steps once per process: lr-schedule-v1's
scheduler_steps_per_step) is clean on both ranks, replicas compared at every epoch end;
a NaN loss on rank 1 alone aborts both ranks at the same step, or, under a skip_step
contract, is skipped on both, the replicas staying identical. A hang fails the test.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("accelerate")
dist = pytest.importorskip("torch.distributed")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import ranks  # noqa: E402

WORKER = Path(__file__).resolve().parent / "accelerate_ranks.py"
TIMEOUT_S = 180

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo")


def run(scenario: str, tmp_path: Path) -> tuple[dict, dict]:
    return ranks.both_ranks(WORKER, scenario, tmp_path, TIMEOUT_S)


def test_a_clean_run_on_two_processes_is_clean_on_both_ranks(tmp_path: Path) -> None:
    r0, r1 = run("clean", tmp_path)
    for r in (r0, r1):
        assert r["violations"] == [] and r["world"] == 2 and r["finite"] and r["per_step"] == 2
        assert r["lr_002"]["enforced"] and r["lr_002"]["violated"] == 0
        assert r["dist_001"]["enforced"] and r["dist_001"]["applicable"] == 2
    assert r0["checksum"] == r1["checksum"] and r0["step"] == r1["step"] == 4
    assert r0["ledgers"] == ["ledger.rank0.jsonl", "ledger.rank1.jsonl"]


def test_a_nan_on_rank_1_aborts_both_ranks_at_the_same_step(tmp_path: Path) -> None:
    r0, r1 = run("nan_abort", tmp_path)
    for r in (r0, r1):
        assert (r["raised"], r["invariant"], r["step"], r["observed_on_rank"]) == (
            "ContractViolation", "INV-TRAIN-001", 1, 1)


def test_a_nan_on_rank_1_is_skipped_on_both_ranks(tmp_path: Path) -> None:
    r0, r1 = run("nan_skip", tmp_path)
    for r in (r0, r1):
        assert r["skipped"] == [1] and r["finite"], r
        assert r["violations"] == [["INV-SKIP-001", 1, 1]]
    assert r0["checksum"] == r1["checksum"]
