"""Bounded history for prev(), first() and window functions.

Only metrics some loaded expression reads are kept, each in a deque as long
as the largest window asking for it, so a million-step run holds a handful of
values per metric, not a million.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Iterable

from pvcontracts.errors import HistoryUnavailable


class BoundedHistory:
    """Past values of some metrics at one boundary; the newest value is the current one."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self._values: dict[str, deque[Any]] = {name: deque(maxlen=max(n, 2)) for name, n in sizes.items()}
        self._first: dict[str, Any] = {}
        self._pushed: tuple[str, ...] = ()  # the metrics the newest push held

    @property
    def tracked(self) -> Iterable[str]:
        return self._values.keys()

    def push(self, metrics: dict[str, Any]) -> None:
        self._pushed = tuple(name for name in self._values if name in metrics)
        for name, values in self._values.items():
            if name in metrics:
                value = metrics[name]
                values.append(value)
                self._first.setdefault(name, value)

    def withhold_newest(self, skip: Any) -> None:
        """The newest push belonged to a skipped step: it never happened, so history must not remember it.

        ``skip`` is a host bool (the entry is dropped) or a 0-d bool tensor (the entry becomes the
        previous value where the flag holds, on the device: no read). Without it a NaN step would sit in
        ``window_mean(loss, 20)`` for 20 steps and every one of them would be skipped too.
        """
        if skip is False:
            return
        for name in self._pushed:
            values = self._values[name]
            if len(values) < 2:
                continue  # the first value: nothing earlier to keep instead
            if skip is True:
                values.pop()
                continue
            import torch

            newest, before = values[-1], values[-2]
            if newest is before:
                continue
            values[-1] = torch.where(skip, torch.as_tensor(before).to(skip.device, non_blocking=True),
                                     torch.as_tensor(newest).to(skip.device, non_blocking=True))
        self._pushed = ()

    def prev(self, metric: str) -> Any:
        values = self._values.get(metric)
        if values is None or len(values) < 2:
            raise HistoryUnavailable(f"prev({metric}) has no previous value yet", (metric,))
        return values[-2]

    def first(self, metric: str) -> Any:
        if metric not in self._first:
            raise HistoryUnavailable(f"first({metric}) has no value yet", (metric,))
        return self._first[metric]

    def window(self, metric: str, n: int) -> list[Any]:
        values = self._values.get(metric)
        if values is None or len(values) < n:
            have = 0 if values is None else len(values)
            raise HistoryUnavailable(f"a window of {n} {metric} values needs {n - have} more", (metric,))
        return list(values)[-n:]

    def state_dict(self) -> dict[str, Any]:
        """History survives a resume, or prev() right after it would be unavailable."""
        return {"values": {k: list(v) for k, v in self._values.items()}, "first": dict(self._first)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, values in state.get("values", {}).items():
            if name in self._values:
                self._values[name].clear()
                self._values[name].extend(values)
        self._first.update({k: v for k, v in state.get("first", {}).items() if k in self._values})

    def __len__(self) -> int:
        return sum(len(v) for v in self._values.values())
