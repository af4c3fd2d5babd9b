"""Learning-rate schedules as pure multiplier functions of the 0-based optimizer step.

These are lr-schedule-v1's one_based convention (the contract's own expressions
are the reference; tests/train/test_schedules.py compares the two, and
:meth:`Schedule.contract_params` is this schedule declared in the contract's terms):
with W = int(warmup_fraction * T), step s trains at peak * (s + 1) / W while
s + 1 <= W, then cosine decays to min_lr at s = T - 1 (or, under wsd, holds
peak until s + 1 = T - D and falls linearly to min_lr). A run that overruns T
stays at min_lr.

``LambdaLR`` calls the multiplier with ``last_epoch``, which is the number of
``scheduler.step()`` calls so far, i.e. the index of the *next* optimizer step:
stepping the scheduler once after every optimizer step makes step s train at
``multiplier(s)``. Stepping it per epoch (the classic mistake) stretches the
schedule by the steps per epoch; lr-schedule-v1 aborts that at the first step_end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["Schedule", "build_scheduler", "cosine_multiplier", "decay_steps", "warmup_steps", "wsd_multiplier"]


def warmup_steps(total_steps: int, warmup_fraction: float) -> int:
    """W = floor(warmup_fraction * T), computed as the contract says: Python's int() in float64."""
    return int(warmup_fraction * total_steps)


def decay_steps(total_steps: int, decay_fraction: float) -> int:
    """D = floor(decay_fraction * T) (wsd only)."""
    return int(decay_fraction * total_steps)


def _clamp01(x: float) -> float:
    return min(max(x, 0.0), 1.0)


def cosine_multiplier(s: int, *, total_steps: int, warmup: int, min_ratio: float) -> float:
    """LR of 0-based step ``s`` as a fraction of peak: linear warmup, then cosine to ``min_ratio``."""
    if s + 1 <= warmup:
        return (s + 1) / warmup
    progress = _clamp01((s + 1 - warmup) / (total_steps - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def wsd_multiplier(s: int, *, total_steps: int, warmup: int, decay: int, min_ratio: float) -> float:
    """Warmup-stable-decay: linear warmup, peak until s + 1 = T - D, then linear to ``min_ratio``."""
    if s + 1 <= warmup:
        return (s + 1) / warmup
    q = _clamp01((s + 1 - (total_steps - decay)) / max(decay, 1))
    return min_ratio + (1.0 - min_ratio) * (1.0 - q)


@dataclass(frozen=True)
class Schedule:
    """A schedule's parameters, callable as LambdaLR's ``lr_lambda`` (a callable object, so its
    fields go into the scheduler's state_dict and a resume can tell a changed schedule)."""

    kind: str           # cosine | wsd
    total_steps: int
    warmup_fraction: float
    peak_lr: float
    min_lr: float
    decay_fraction: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("cosine", "wsd"):
            raise ValueError(f"kind={self.kind!r} must be cosine or wsd")
        if self.total_steps < 1:
            raise ValueError(f"total_steps={self.total_steps!r} must be at least 1")
        if not 0 <= self.min_lr <= self.peak_lr:
            raise ValueError(f"min_lr={self.min_lr!r} must be in [0, peak_lr={self.peak_lr!r}]")

    @property
    def warmup_steps(self) -> int:
        return warmup_steps(self.total_steps, self.warmup_fraction)

    @property
    def decay_steps(self) -> int:
        return decay_steps(self.total_steps, self.decay_fraction)

    def __call__(self, s: int) -> float:
        ratio = self.min_lr / self.peak_lr
        if self.kind == "cosine":
            return cosine_multiplier(s, total_steps=self.total_steps, warmup=self.warmup_steps, min_ratio=ratio)
        return wsd_multiplier(s, total_steps=self.total_steps, warmup=self.warmup_steps, decay=self.decay_steps,
                              min_ratio=ratio)

    def lr(self, s: int) -> float:
        """The LR of 0-based optimizer step ``s``."""
        return self.peak_lr * self(s)

    def contract_params(self) -> dict[str, Any]:
        """This schedule declared in lr-schedule-v1 2.0.0's terms: one_based, W and D as exact step counts.

        cosine is the contract's cosine shape; wsd is its linear shape with decay_steps D (D = 0:
        no decay, the constant shape after warmup).
        """
        # From the configured fractions, not the properties: an implementation that computes W or D
        # differently is then checked against what the run was configured for.
        warmup = warmup_steps(self.total_steps, self.warmup_fraction)
        decay = decay_steps(self.total_steps, self.decay_fraction) if self.kind == "wsd" else 0
        shape = "cosine" if self.kind == "cosine" else ("linear" if decay > 0 else "constant")
        return {"lr_schedule": shape, "lr_interval": "step", "step_indexing": "one_based",
                "total_steps": self.total_steps, "warmup_steps": warmup, "peak_lr": self.peak_lr,
                "min_lr": self.min_lr, "decay_steps": decay}


def build_scheduler(optimizer: Any, schedule: Schedule) -> Any:
    """A LambdaLR over every param group, whose base LR must be ``schedule.peak_lr``.

    Built before any step, it sets the LR of step 0 at once (``multiplier(0)``, never 0).
    """
    from torch.optim.lr_scheduler import LambdaLR

    for group in optimizer.param_groups:
        if group["lr"] != schedule.peak_lr:
            raise ValueError(f"param group lr={group['lr']!r} is not the schedule's peak_lr={schedule.peak_lr!r}")
    return LambdaLR(optimizer, schedule)
