"""The reference trainer: a thin loop with every shipped contract enforced at its boundaries.

``Trainer(config, build, out_dir).fit()`` runs one; ``pv train CONFIG.yaml`` does the same
from YAML. Importing this package imports no torch (a task file imports
``pvcontracts.train.task`` cheaply); the names below that need torch load on first use.

Modules, one job each: ``config`` (the run's YAML), ``seeds`` (one run seed, derived
streams), ``schedules`` (pure LR multipliers), ``optim`` (AdamW groups), ``rng`` (every RNG
stream, captured and restored), ``checkpoint`` (atomic writes, retention, loading),
``resume`` (which checkpoint, and whether it fits the run), ``early_stop`` (sufficiency
gate, target loss, coverage patience), ``policies`` (loss curriculum, adaptive rejection
penalty), ``preflight`` (checks and reports before training), ``progress`` (the bar and the
line per epoch), ``result`` (result.json), ``task`` (what a task provides, and its defaults:
the loss, a dataset's length), ``trainer`` (the loop), ``faults`` (crash-test hooks).
Imports point one way: the loop uses the others, and none of them uses the loop.
"""

from __future__ import annotations

from typing import Any

from pvcontracts.train.config import ConfigError, TrainConfig, load_config
from pvcontracts.train.seeds import Seeds, derive_seeds
from pvcontracts.train.task import Task

__all__ = ["CheckpointError", "Checkpointer", "ConfigError", "PreflightError", "RunResult", "Schedule", "Seeds",
           "Task", "TrainConfig", "Trainer", "derive_seeds", "load_config"]

_LAZY = {
    "Trainer": "pvcontracts.train.trainer",
    "Checkpointer": "pvcontracts.train.checkpoint",
    "CheckpointError": "pvcontracts.train.checkpoint",
    "PreflightError": "pvcontracts.train.preflight",
    "RunResult": "pvcontracts.train.result",
    "Schedule": "pvcontracts.train.schedules",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pvcontracts.train' has no attribute {name!r}")
