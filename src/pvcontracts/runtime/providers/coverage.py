"""Coverage: the fraction of a model's outputs that are REAL, from per-output tags.

An output is tagged REAL (a finite number), PINF (+inf), NINF (-inf) or PHI
(bottom: rejected, undefined). A float output is tagged by its value, NaN
counting as PHI; a model that emits tags itself passes them as an integer
tensor of :class:`Tag` codes, where any code outside the four counts as PHI.

Counts stay on the device (int64); totals are element counts, which the host
knows from the shape, so no step reads a tensor back. Coverage of an empty
set of outputs is 0/0 = NaN, which ``early-stop-coverage-v1`` rejects: a run
that observed nothing has no coverage to report.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import Any, Mapping

import torch

__all__ = ["CoverageProvider", "Tag", "tag_counts", "tag_outputs"]


class Tag(enum.IntEnum):
    REAL = 0
    PINF = 1
    NINF = 2
    PHI = 3


_REAL = int(Tag.REAL)


def tag_outputs(values: torch.Tensor) -> torch.Tensor:
    """The tag of every element of a float tensor: REAL, PINF, NINF, or PHI for NaN (int64, same shape)."""
    values = values.detach()
    if not values.dtype.is_floating_point:
        return torch.full_like(values, int(Tag.REAL), dtype=torch.int64)  # integers are always real
    tags = torch.full_like(values, int(Tag.REAL), dtype=torch.int64)
    tags = torch.where(values == float("inf"), int(Tag.PINF), tags)
    tags = torch.where(values == float("-inf"), int(Tag.NINF), tags)
    return torch.where(values.isnan(), int(Tag.PHI), tags)


def tag_counts(values: torch.Tensor | None = None, *, tags: torch.Tensor | None = None) -> torch.Tensor:
    """Counts of REAL, PINF, NINF and PHI outputs, in that order (int64, shape (4,), on the inputs' device).

    Give either float ``values`` (tagged by value) or integer ``tags`` (codes of :class:`Tag`).
    """
    if (values is None) == (tags is None):
        raise ValueError("pass exactly one of values= or tags=")
    if values is not None:
        v = values.detach()
        if not v.dtype.is_floating_point:
            n = v.numel()
            return torch.tensor([n, 0, 0, 0], dtype=torch.int64, device=v.device)
        real = v.isfinite().sum()
        pinf = (v == float("inf")).sum()
        ninf = (v == float("-inf")).sum()
        total = v.numel()
        return torch.stack([real, pinf, ninf, total - real - pinf - ninf])
    t = tags.detach()
    if t.dtype.is_floating_point or t.dtype == torch.bool:
        raise TypeError(f"tags must be an integer tensor of Tag codes, got dtype {t.dtype}")
    real = (t == int(Tag.REAL)).sum()
    pinf = (t == int(Tag.PINF)).sum()
    ninf = (t == int(Tag.NINF)).sum()
    return torch.stack([real, pinf, ninf, t.numel() - real - pinf - ninf])  # unknown codes are bottom


class CoverageProvider:
    """Batch, cumulative and windowed coverage (fraction REAL) over a stream of output batches.

    ``observe(outputs)`` (or ``observe(tags=...)``) returns, as device tensors:
    ``coverage`` (this batch), ``coverage_cumulative`` (since the last ``reset``),
    ``coverage_window`` (the last ``window`` batches, outputs weighted), and this batch's
    ``real_count``, ``pinf_count``, ``ninf_count`` and ``phi_count``. At an epoch's end,
    ``summary()`` gives ``coverage`` over the epoch for ``epoch_end``; then ``reset()``.
    The window spans epochs: it is a recent-trend measure, not an epoch measure.
    """

    NAMES = ("real_count", "pinf_count", "ninf_count", "phi_count")

    def __init__(self, window: int = 100) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"window={window!r} must be an int of at least 1")
        self.window = window
        self.counts: torch.Tensor | None = None   # cumulative tag counts since reset, on the device
        self.total = 0                            # cumulative outputs since reset (host: from shapes)
        self._ring: torch.Tensor | None = None    # REAL counts of the last `window` batches
        self._ring_totals: deque[int] = deque(maxlen=window)
        self.batches = 0                          # batches observed since construction

    def observe(self, values: torch.Tensor | None = None, *, tags: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        counts = tag_counts(values, tags=tags)
        total = (values if values is not None else tags).numel()  # type: ignore[union-attr]
        if self.counts is None:
            self.counts = torch.zeros_like(counts)
        self.counts = self.counts + counts.to(self.counts.device)
        self.total += total
        if self._ring is None:
            self._ring = torch.zeros(self.window, dtype=torch.int64, device=counts.device)
        slot = self.batches % self.window  # a host index: the write is a device op, never a read
        self._ring[slot] = counts[_REAL]
        self._ring_totals.append(total)
        self.batches += 1
        out = {name: counts[i] for i, name in enumerate(self.NAMES)}
        out["coverage"] = _fraction(counts[_REAL], total)
        out["coverage_cumulative"] = _fraction(self.counts[_REAL], self.total)
        out["coverage_window"] = _fraction(self._ring.sum(), sum(self._ring_totals))
        return out

    def summary(self) -> dict[str, torch.Tensor]:
        """``coverage`` since the last reset (the epoch's), with its cumulative tag counts."""
        if self.counts is None:
            counts = torch.zeros(4, dtype=torch.int64)
        else:
            counts = self.counts
        out = {name: counts[i] for i, name in enumerate(self.NAMES)}
        out["coverage"] = _fraction(counts[_REAL], self.total)
        return out

    def reset(self) -> None:
        """Start a new cumulative period (an epoch); the window keeps its batches."""
        if self.counts is not None:
            self.counts = torch.zeros_like(self.counts)
        self.total = 0

    def state_dict(self) -> dict[str, Any]:
        return {"window": self.window, "counts": self.counts, "total": self.total, "ring": self._ring,
                "ring_totals": list(self._ring_totals), "batches": self.batches}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if int(state["window"]) != self.window:
            raise ValueError(f"state has window={state['window']!r}, this provider window={self.window!r}")
        self.counts = state["counts"]
        self.total = int(state["total"])
        self._ring = state["ring"]
        self._ring_totals = deque((int(t) for t in state["ring_totals"]), maxlen=self.window)
        self.batches = int(state["batches"])


def _fraction(real: torch.Tensor, total: int) -> torch.Tensor:
    # float32 division of counts a <= b never exceeds 1; 0/0 is NaN on purpose (see module docstring)
    return real.to(torch.float32) / float(total) if total else real.to(torch.float32) * float("nan")
