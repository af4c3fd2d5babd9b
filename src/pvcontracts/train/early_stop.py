"""Stopping rules: the sufficiency gate, the target validation loss, and coverage patience.

The sufficiency verdict is not restated here: :class:`SufficiencyGate` evaluates the
``sufficient`` expression of early-stop-sufficiency-v1's INV-SUFF-001 itself, compiled
from the contract, so the trainer's decision and the contract's check cannot drift
apart (a strict ``>`` on both compliances, NaN never passing).

The coverage rule keeps the counter that early-stop-coverage-v1 checks: consecutive
epochs with coverage strictly below ``coverage_min``, 1 at the first such epoch, reset
to 0 by any epoch at or above it; it stops when the count reaches ``patience``. The
count is part of the checkpoint, so it carries across a resume.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from pvcontracts.contract.compiled import compile_invariant
from pvcontracts.contract.model import Contract

__all__ = ["CoverageStopper", "SufficiencyGate", "TargetLossGate"]


class SufficiencyGate:
    """Passes when the contract's ``sufficient`` let holds for an evaluation's metrics."""

    kind = "sufficiency"

    def __init__(self, contract: Contract, params: Mapping[str, Any]) -> None:
        (inv,) = [i for i in contract.invariants if i.id == "INV-SUFF-001"]
        compiled = compile_invariant(contract, inv)
        lets = dict(compiled.lets)
        self._sufficient = lets["sufficient"]
        self._env = {**dict(compiled.defaults), **{k: v for k, v in params.items() if k in contract.params}}
        self.params = {k: self._env[k] for k in sorted(contract.params) if k in self._env}

    def passes(self, metrics: Mapping[str, Any]) -> bool:
        return bool(self._sufficient.evaluate({**self._env, **metrics}, None))


class TargetLossGate:
    """Passes when the validation loss is at or below ``target`` (NaN never passes)."""

    kind = "target_val_loss"

    def __init__(self, target: float) -> None:
        self.target = target
        self.params = {"target_val_loss": target}

    def passes(self, metrics: Mapping[str, Any]) -> bool:
        val = float(metrics["val_loss"])
        return not math.isnan(val) and val <= self.target


class CoverageStopper:
    """Stops after ``patience`` consecutive epochs of coverage strictly below ``coverage_min``."""

    def __init__(self, coverage_min: float = 0.5, patience: int = 3) -> None:
        if not 0 <= coverage_min <= 1:
            raise ValueError(f"coverage_min={coverage_min!r} must be in [0, 1]")
        if patience < 1:
            raise ValueError(f"patience={patience!r} must be at least 1")
        self.coverage_min = coverage_min
        self.patience = patience
        self.epochs_below = 0

    def update(self, coverage: float) -> bool:
        """Count this epoch's coverage; True when the rule asks to stop now."""
        # `>=` keeps NaN on the "below" side: a run that observed nothing is not a good epoch.
        self.epochs_below = 0 if coverage >= self.coverage_min else self.epochs_below + 1
        return self.epochs_below >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"epochs_below": self.epochs_below}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epochs_below = int(state["epochs_below"])
