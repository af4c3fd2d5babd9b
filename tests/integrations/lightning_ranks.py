"""The Lightning adapter on two CPU processes (DDP over gloo): one worker per rank, launched by ranks.launch.

Not a test module: tests/integrations/test_lightning_ranks.py runs it as a script.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import torch

import lightning_runs as runs
import ranks

REPO = Path(__file__).resolve().parents[2]
SKIP_CONTRACT = """\
schema_version: 1
id: skip-nonfinite-v1
version: 1.0.0
status: active
title: A step with a non-finite loss is skipped on every rank
changelog:
  - {version: 1.0.0, date: 2026-12-13, summary: First}
invariants:
  - id: INV-SKIP-001
    title: The step's loss is finite, or its update is withheld
    at: step_end
    check: "isfinite(loss)"
    on_violation: skip_step
"""


def skip_contracts(work: Path) -> Path:
    """skip_step on a non-finite loss, beside the shipped schedule and health contracts."""
    root = work / "contracts"
    root.mkdir(parents=True, exist_ok=True)
    (root / "skip-nonfinite-v1.yaml").write_text(SKIP_CONTRACT, encoding="utf-8")
    for name in ("lr-schedule-v1", "training-health-v1"):
        shutil.copyfile(REPO / "contracts" / f"{name}.yaml", root / f"{name}.yaml")
    return root


def _summary(callback: Any, module: Any) -> dict[str, Any]:
    from pvcontracts.runtime.watch import Watcher

    monitor = callback.monitor
    params = [p.detach() for p in module.parameters()]
    return {"violations": [(v.invariant_id, v.step, v.observed_on_rank) for v in monitor.violations],
            "skipped": monitor.skipped_steps, "step": monitor.step, "world": monitor.world_size,
            "checksum": int(monitor._watchers[0].param_checksum()) if isinstance(monitor._watchers[0], Watcher) else 0,
            "finite": all(bool(torch.isfinite(p).all()) for p in params),
            "dist_001": monitor.stats()["INV-DIST-001"] if "INV-DIST-001" in monitor.stats() else None,
            "ledgers": sorted(p.name for p in callback_dir(callback).glob("ledger*.jsonl"))}


def callback_dir(callback: Any) -> Path:
    return Path(callback.monitor._reporter.ledger.path).parent


def clean(rank: int, work: Path) -> dict[str, Any]:
    module = runs.TinyLM()
    callback = runs.fit(work, module, devices=2)
    return _summary(callback, module)


def nan_abort(rank: int, work: Path) -> dict[str, Any]:
    from pvcontracts.runtime import ContractViolation

    try:  # rank 1 alone: the third training forward (optimizer step 1) is NaN
        runs.fit(work, runs.TinyLM(nan_at=2 if rank == 1 else None), devices=2)
    except ContractViolation as exc:
        return ranks.violation_record(exc)
    return {"raised": None}


def nan_skip(rank: int, work: Path) -> dict[str, Any]:
    module = runs.TinyLM(nan_at=2 if rank == 1 else None)
    callback = runs.fit(work, module, devices=2, contracts=skip_contracts(work))
    return _summary(callback, module)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    ranks.run_scenario({"clean": clean, "nan_abort": nan_abort, "nan_skip": nan_skip})
