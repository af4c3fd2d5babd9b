"""The Lightning adapter under DDP on two CPU processes (gloo): the ranks agree, and nothing hangs.

A clean run is clean on both ranks, with the replicas' checksums compared at every
epoch end (INV-DIST-001) and a ledger per rank; a NaN on rank 1 alone aborts both ranks
at the same step (the ranks agree before acting), or, under a skip_step contract, is
skipped on both ranks at the same step, the replicas staying identical. Every launch
has a timeout: a hang fails the test.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("lightning")
dist = pytest.importorskip("torch.distributed")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import ranks  # noqa: E402

WORKER = Path(__file__).resolve().parent / "lightning_ranks.py"
TIMEOUT_S = 180

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo")


def run(scenario: str, tmp_path: Path) -> tuple[dict, dict]:
    return ranks.both_ranks(WORKER, scenario, tmp_path, TIMEOUT_S)


def test_a_clean_ddp_run_is_clean_on_both_ranks(tmp_path: Path) -> None:
    r0, r1 = run("clean", tmp_path)
    for r in (r0, r1):
        assert r["violations"] == [] and r["world"] == 2 and r["finite"]
        assert r["dist_001"]["enforced"] and r["dist_001"]["applicable"] == 2  # both epoch ends compared replicas
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
