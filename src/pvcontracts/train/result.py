"""``result.json``: the run's evidence in one deterministic JSON file, written atomically.

It holds the verdict (``passed``, ``failed``, ``violation``, ``interrupted``) and its reason,
the curves (the training loss and LR of every optimizer step; per epoch the training
and validation losses, the task's metrics and the gate's), the regime, the resolved
config and seeds, the contract versions enforced, the monitor's ledger summary (per
invariant: evaluated, applicable, violated) and step timing. Non-finite numbers are
written as strings ("nan", "inf"): strict JSON has no NaN.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pvcontracts.train.faults import fault_point
from pvcontracts.train.task import dataset_len
from pvcontracts.util.atomic import atomic_writer

__all__ = ["EXIT_CODES", "RunResult", "result_data", "write_json_atomic"]

# pv train's exit code per status: 0 only for a run that passed.
EXIT_CODES = {"passed": 0, "failed": 1, "violation": 1, "interrupted": 130}


@dataclass
class RunResult:
    status: str
    reason: str
    out_dir: Path
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def result_path(self) -> Path:
        return self.out_dir / "result.json"

    @property
    def ledger_path(self) -> Path:
        return self.out_dir / "ledger.jsonl"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Sorted keys, strict JSON; temp file, fsync, rename."""
    text = json.dumps(_finite(data), indent=2, sort_keys=True, allow_nan=False) + "\n"
    raw = text.encode("utf-8")
    with atomic_writer(path) as fh:
        fh.write(raw[: len(raw) // 2])
        if path.name == "result.json":
            fault_point("result.mid_write")
        fh.write(raw[len(raw) // 2:])


def result_data(t: Any, status: str, reason: str, stopped_by: str | None) -> dict[str, Any]:
    """The content of result.json for trainer ``t`` at the end of its run."""
    from pvcontracts.runtime.ledger import read_ledger

    ledger = t.out_dir / "ledger.jsonl"
    violations: dict[str, int] = {}
    if ledger.is_file():
        for record in read_ledger(ledger):
            if record.get("kind") == "violation":
                violations[record["invariant"]] = violations.get(record["invariant"], 0) + 1
    timing = t.timing
    steps = max(timing["steps"], 1)
    gate = None
    if t.gate is not None:
        gate = {"kind": t.gate.kind, "params": t.gate.params, "passed": t.gate_epoch is not None,
                "epoch": t.gate_epoch,
                "checkpoint": "checkpoints/gate-pass.pt" if t.checkpointer.gate_pass_path.is_file() else None}
    epochs = t.curves["epochs"]
    return {
        "schema": "pv-train-result/1", "status": status, "reason": reason, "stopped_by": stopped_by,
        "task": {"name": t.task.name, "vocab_size": t.task.vocab_size, "info": t.task.info,
                 "metrics": list(t.eval_metrics), "train_size": dataset_len(t.task.train_dataset),
                 "val_size": dataset_len(t.task.val_dataset)},
        "regime": t.regime.to_dict(), "config": t.config.to_dict(), "seeds": t.seeds.to_dict(),
        "contracts": [{"id": x.id, "version": x.version, "status": x.status} for x in t.monitor.contracts],
        "gate": gate,
        "epochs_run": len(epochs), "max_epochs": t.config.max_epochs,
        "optimizer_steps": t.optimizer_steps, "total_steps": t.total_steps,
        "final_metrics": epochs[-1] if epochs else {},
        "curves": {"step": {"loss": t.curves["step_loss"], "lr": t.curves["step_lr"]}, "epochs": epochs},
        "timing": {"steps": timing["steps"], "step_ms_avg": 1000 * timing["step_s"] / steps,
                   "data_ms_avg": 1000 * timing["data_s"] / steps,
                   "optimizer_ms_avg": 1000 * timing["optimizer_s"] / steps, "eval_s_total": timing["eval_s"],
                   "checkpoint_ms_avg": 1000 * timing["checkpoint_s"] / max(timing["checkpoints"], 1),
                   "checkpoint_bytes": timing["checkpoint_bytes"]},
        "checkpoints": {"directory": "checkpoints", "written": t.checkpointer.written,
                        "retained": [p.name for _, p in t.checkpointer.periodic()]},
        "ledger": {"path": "ledger.jsonl", "invariants": t.monitor.stats(), "violations": violations},
        "violation": t.violation.to_record() if t.violation is not None else None,
        "reports": {"preflight": "preflight.json", "determinism": "determinism.json",
                    "failure": "failure.json" if status == "failed" else None},
    }
