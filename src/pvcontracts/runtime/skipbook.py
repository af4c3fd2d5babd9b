"""The host's account of skipped steps: which steps were skipped, and the bound on consecutive skips.

A step's skip is decided on the device; the host learns it at the next sync point,
from the violations every rank agreed on. There the book finds the skipped steps,
walks the steps finished since the last sync point in order, and keeps the streak
of consecutive skips across sync points. A streak longer than
``max_consecutive_skips`` ends the run (:class:`SkipLimitExceeded`): a run that
skips step after step is not training, and skipping would only hide it.

No torch here: the book reads host numbers only.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable

from pvcontracts.contract.reactions import reaction_of
from pvcontracts.runtime.violation import SkipLimitExceeded, Violation

__all__ = ["SkipBook"]

KEPT = 10_000  # skipped step numbers remembered for ``Monitor.skipped_steps``; the counts are complete


class SkipBook:
    def __init__(self, max_consecutive: int) -> None:
        if isinstance(max_consecutive, bool) or not isinstance(max_consecutive, int) or max_consecutive < 1:
            raise ValueError(f"max_consecutive_skips={max_consecutive!r} must be an integer of at least 1")
        self.max_consecutive = max_consecutive
        self.window: list[int] = []          # steps finished since the last sync point
        self.skipped: deque[int] = deque(maxlen=KEPT)
        self.total = 0
        self.streak = 0
        self.streak_start: int | None = None
        self._last = -1                      # the last step the streak has accounted for

    def step_done(self, step: int) -> None:
        self.window.append(step)

    def settle(self, found: Iterable[Violation]) -> tuple[set[int], SkipLimitExceeded | None]:
        """The steps these agreed violations skipped, and the error to raise if the streak went past the bound."""
        first_by_step: dict[int, Violation] = {}
        for v in found:
            if v.boundary == "step_end" and v.step is not None and reaction_of(v.on_violation).prevents_update:
                first_by_step.setdefault(int(v.step), v)
        steps, self.window = sorted(set(self.window) | set(first_by_step)), []
        exceeded: SkipLimitExceeded | None = None
        for step in steps:
            if step <= self._last:
                continue  # accounted for already (a step skipped before its update, found before its step_end)
            self._last = step
            if step not in first_by_step:
                self.streak, self.streak_start = 0, None
                continue
            self.skipped.append(step)
            self.total += 1
            self.streak += 1
            if self.streak_start is None:
                self.streak_start = step
            if self.streak > self.max_consecutive and exceeded is None:
                exceeded = SkipLimitExceeded(first_by_step[step], self.streak, self.streak_start, self.max_consecutive)
        return set(first_by_step), exceeded

    def state_dict(self) -> dict[str, int]:
        return {"total": self.total, "streak": self.streak, "streak_start": -1 if self.streak_start is None
                else self.streak_start}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.total = int(state.get("total", 0))
        self.streak = int(state.get("streak", 0))
        start = int(state.get("streak_start", -1))
        self.streak_start = None if start < 0 else start
