"""Training policies the contracts can watch: a per-epoch loss curriculum and an adaptive rejection penalty.

Both hand their current values to the task's loss function through the ``weights``
mapping (``loss_fn(logits, targets, weights)``): the curriculum's named weights for
this epoch, plus ``rejection_lambda`` when the penalty is configured.

**Loss curriculum** (loss-curriculum-v1). A list of mappings of named non-negative
weights, one per epoch from 0; the last one repeats once the list runs out. The
weights change only at epoch boundaries.

**Adaptive rejection penalty** (rejection-penalty-v1). The weight lambda of a
rejection term is a Lagrange multiplier for the constraint coverage = target:
after each epoch e at or past ``warmup_epochs``, with that epoch's coverage c,

    v      <- momentum * v + lr * (target - c)
    lambda <- max(floor, lambda + v)          (v is reset to 0 when the floor binds)

so coverage below target (too much rejected) raises the penalty on rejecting and
coverage above it lowers the penalty. During the first ``warmup_epochs`` epochs
lambda holds its initial value: the coverage of a barely trained model says
nothing about the penalty it needs. The contract checks lambda never goes below the
floor, holds during warmup, and that the coverage gap |target - c| shrinks epoch
over epoch until it is within ``gap_tolerance``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

__all__ = ["LossCurriculum", "RejectionPenalty"]


class LossCurriculum:
    """Per-epoch named loss weights; the last entry repeats."""

    def __init__(self, schedule: Sequence[Mapping[str, float]]) -> None:
        if not schedule:
            raise ValueError("a curriculum needs at least one epoch's weights")
        entries = []
        for i, entry in enumerate(schedule):
            if not isinstance(entry, Mapping) or not entry:
                raise ValueError(f"entry {i} must be a non-empty mapping of weight names to numbers")
            for name, w in entry.items():
                if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
                    raise ValueError(f"entry {i}: weight {name}={w!r} must be a finite number >= 0")
            entries.append({str(k): float(v) for k, v in entry.items()})
        self.schedule = entries

    def weights_for(self, epoch: int) -> dict[str, float]:
        return dict(self.schedule[min(epoch, len(self.schedule) - 1)])

    def metrics(self, epoch: int) -> dict[str, Any]:
        """The loss-curriculum-v1 metrics of the weights used in ``epoch``."""
        values = list(self.weights_for(epoch).values())
        return {"curriculum_epoch": epoch, "curriculum_weight_min": min(values),
                "curriculum_weight_max": max(values)}


@dataclass
class RejectionPenalty:
    """The multiplier's state and its update rule (see the module docstring)."""

    target: float = 0.9          # coverage the multiplier drives towards
    lr: float = 1.0              # step size of the dual update
    momentum: float = 0.0
    warmup_epochs: int = 1       # epochs during which lambda holds ``init``
    floor: float = 0.0
    init: float = 1.0
    gap_tolerance: float = 0.02  # a gap this small counts as closed
    value: float = math.nan
    velocity: float = 0.0

    def __post_init__(self) -> None:
        checks = [(0 <= self.target <= 1, "target", "must be in [0, 1]"), (self.lr > 0, "lr", "must be positive"),
                  (0 <= self.momentum < 1, "momentum", "must be in [0, 1)"),
                  (self.warmup_epochs >= 0, "warmup_epochs", "must not be negative"),
                  (self.floor >= 0, "floor", "must not be negative"),
                  (self.init >= self.floor, "init", "must not be below floor"),
                  (0 <= self.gap_tolerance <= 1, "gap_tolerance", "must be in [0, 1]")]
        for ok, name, message in checks:
            if not ok:
                raise ValueError(f"{name}={getattr(self, name)!r} {message}")
        if math.isnan(self.value):
            self.value = self.init

    FIELDS = ("target", "lr", "momentum", "warmup_epochs", "floor", "init", "gap_tolerance")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "RejectionPenalty":
        unknown = set(config) - set(cls.FIELDS)
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}; known: {', '.join(cls.FIELDS)}")
        for k, v in config.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"{k}={v!r} must be a number")
        values = dict(config)
        if "warmup_epochs" in values:
            if int(values["warmup_epochs"]) != values["warmup_epochs"]:
                raise ValueError(f"warmup_epochs={values['warmup_epochs']!r} must be an integer")
            values["warmup_epochs"] = int(values["warmup_epochs"])
        return cls(**values)

    def update(self, epoch: int, coverage: float) -> float:
        """After epoch ``epoch`` with ``coverage``: the lambda the next epoch uses."""
        if epoch < self.warmup_epochs:
            return self.value
        self.velocity = self.momentum * self.velocity + self.lr * (self.target - coverage)
        proposed = self.value + self.velocity
        if not proposed > self.floor:  # the floor binds (or NaN): clamp, and drop the momentum into it
            proposed, self.velocity = self.floor, 0.0
        self.value = proposed
        return self.value

    def contract_params(self) -> dict[str, Any]:
        return {"coverage_target": self.target, "lambda_floor": self.floor,
                "lambda_warmup_epochs": self.warmup_epochs, "gap_tolerance": self.gap_tolerance}

    def state_dict(self) -> dict[str, Any]:
        return {"value": self.value, "velocity": self.velocity}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.value = float(state["value"])
        self.velocity = float(state["velocity"])
