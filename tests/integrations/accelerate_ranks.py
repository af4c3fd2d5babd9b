"""The Accelerate adapter on two CPU processes (gloo): one worker per rank, launched by ranks.launch.

Not a test module: tests/integrations/test_accelerate_ranks.py runs it as a script.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch

import accelerate_runs as runs
import lightning_ranks
import ranks


def _summary(hooks: Any) -> dict[str, Any]:
    monitor = hooks.monitor
    watcher = monitor._watchers[0]
    return {"violations": [(v.invariant_id, v.step, v.observed_on_rank) for v in monitor.violations],
            "skipped": monitor.skipped_steps, "step": monitor.step, "world": monitor.world_size,
            "checksum": int(watcher.param_checksum()),
            "finite": all(bool(torch.isfinite(p).all()) for p in watcher.optimizer.param_groups[0]["params"]),
            "per_step": monitor.params.get("scheduler_steps_per_step"),
            "lr_002": monitor.stats().get("INV-LR-002"), "dist_001": monitor.stats().get("INV-DIST-001"),
            "ledgers": sorted(p.name for p in Path(monitor._reporter.ledger.path).parent.glob("ledger*.jsonl"))}


def clean(rank: int, work: Path) -> dict[str, Any]:
    # A scheduler prepared by Accelerate: stepped once per process per optimizer step, as declared.
    return _summary(runs.train(work))


def nan_abort(rank: int, work: Path) -> dict[str, Any]:
    from pvcontracts.runtime import ContractViolation

    try:
        runs.train(work, nan=lambda step: rank == 1 and step == 1)
    except ContractViolation as exc:
        return ranks.violation_record(exc)
    return {"raised": None}


def nan_skip(rank: int, work: Path) -> dict[str, Any]:
    hooks = runs.train(work, nan=lambda step: rank == 1 and step == 1,
                       contracts=lightning_ranks.skip_contracts(work))
    return _summary(hooks)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    ranks.run_scenario({"clean": clean, "nan_abort": nan_abort, "nan_skip": nan_skip})
