"""``on_violation: skip_step``: withhold a step's optimizer update, decided on the device, exactly.

A skip decision is a flag computed from the step's own metrics at ``step_end``,
usually a device tensor: reading it would be a host-device synchronisation
per step, so the update is withheld without reading it.

* :class:`UpdateGuard`: in the optimizer's step pre-hook it copies what the
  step will change (the parameters that have gradients and their optimizer
  state) into buffers it reuses; at ``step_end`` it restores them where the flag
  is set, ``torch.where(flag, before, after)``, elementwise on the device, so the
  parameters and the optimizer state are bit for bit what they were, or what the
  step made them. A step that creates optimizer state (the first step of Adam, a
  parameter with its first gradient) or changes host-held state cannot be undone
  on the device (a key cannot be deleted by a tensor); that step reads the flag
  (one sync, only on such steps) and restores on the host.
* :class:`ScheduleRewind`: the LR scheduler was already stepped for the skipped
  step by the time the flag is known on the host, at the next sync point. Its
  state is kept at each step's pre-hook (host data), and at the sync point the
  scheduler is set back to its state before the first skipped step and stepped
  again once for every step that was not skipped (and for every call between
  steps). Afterwards its count and LR are those of a run that never took the
  skipped steps. Steps between a skip and that sync point ran at the schedule's
  next position: the price of not reading the flag per step (with
  ``fatal_before_step`` the decision is read before the update and the scheduler
  step of a skipped step is never taken at all).

Nothing here imports anything but torch; the Monitor decides, the Watcher calls.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["ScheduleRewind", "UpdateGuard"]


@dataclass
class _Snapshot:
    params: list[torch.Tensor]                      # parameters the step may change, and their state tensors
    targets: list[torch.Tensor]
    copies: list[torch.Tensor]
    state_keys: dict[int, frozenset[str]]           # per parameter index: its state keys before the step
    host_state: dict[int, dict[str, Any]]           # per parameter index: non-tensor state values before
    host_only: bool = False                         # the step changed what only the host can undo


class UpdateGuard:
    """Keeps what an optimizer step changes, so the update can be withheld afterwards (module docstring)."""

    def __init__(self, optimizer: Any) -> None:
        self.optimizer = optimizer
        self._buffers: list[torch.Tensor] = []
        self._snapshot: _Snapshot | None = None

    @torch.no_grad()
    def before_step(self) -> None:
        """The optimizer's pre-hook: copy the parameters with gradients and their optimizer state (device ops)."""
        params = [p for group in self.optimizer.param_groups for p in group["params"] if p.grad is not None]
        targets: list[torch.Tensor] = list(params)
        state_keys: dict[int, frozenset[str]] = {}
        host_state: dict[int, dict[str, Any]] = {}
        for i, p in enumerate(params):
            state = self.optimizer.state.get(p)  # .get: the optimizer's defaultdict must not grow an entry here
            state_keys[i] = frozenset(state) if state else frozenset()
            if state:
                for key in sorted(state):
                    value = state[key]
                    if isinstance(value, torch.Tensor):
                        targets.append(value)
                    else:
                        host_state.setdefault(i, {})[key] = copy.deepcopy(value)
        self._snapshot = _Snapshot(params, targets, self._copy(targets), state_keys, host_state)

    def _copy(self, targets: list[torch.Tensor]) -> list[torch.Tensor]:
        """Copies of ``targets`` in reused buffers: one fused copy per step once the shapes are known."""
        same = len(self._buffers) == len(targets) and all(
            b.shape == t.shape and b.dtype == t.dtype and b.device == t.device for b, t in zip(self._buffers, targets))
        if not same:
            self._buffers = [t.detach().clone() for t in targets]
        elif targets:
            torch._foreach_copy_(self._buffers, [t.detach() for t in targets])
        return self._buffers

    def after_step(self) -> None:
        """The optimizer's post-hook: note whether the step changed what no device op can undo."""
        snap = self._snapshot
        if snap is None:
            return
        for i, p in enumerate(snap.params):
            state = self.optimizer.state.get(p)
            keys = frozenset(state) if state else frozenset()
            if keys != snap.state_keys[i]:
                snap.host_only = True  # state created by this step (Adam's first step): only a host can delete it
                return
            for key, before in snap.host_state.get(i, {}).items():
                if not _same(state.get(key), before):
                    snap.host_only = True
                    return

    @property
    def pending(self) -> bool:
        """An optimizer step happened since the last :meth:`finish`."""
        return self._snapshot is not None

    @torch.no_grad()
    def finish(self, skip: Any) -> Any:
        """At step_end: withhold the step's update where ``skip`` holds; returns the flag as it was applied.

        ``skip`` is a host bool or a 0-d bool tensor. A tensor is applied with ``torch.where``
        on each tensor's device, never read, unless the step made state only the host can
        undo or a tensor lives where the flag is not (a CUDA flag and optimizer state on the
        CPU): then it is read once (a sync, on that step only).
        """
        snap, self._snapshot = self._snapshot, None
        if snap is None:
            return skip
        if isinstance(skip, torch.Tensor) and (snap.host_only or _crosses_to_host(skip, snap.targets)):
            skip = bool(skip.item())  # a sync, on purpose: this step cannot be undone on the device
        if isinstance(skip, torch.Tensor):
            flags: dict[torch.device, torch.Tensor] = {}
            for target, before in zip(snap.targets, snap.copies):
                flag = flags.get(target.device)
                if flag is None:
                    flag = flags[target.device] = skip.to(target.device, non_blocking=True).reshape(())
                target.copy_(torch.where(flag, before, target))  # bit-exact: where selects, it never computes
            return skip
        if skip:
            self._restore(snap)
        return bool(skip)

    def _restore(self, snap: _Snapshot) -> None:
        for target, before in zip(snap.targets, snap.copies):
            target.copy_(before)
        for i, p in enumerate(snap.params):
            keys = snap.state_keys[i]
            if not keys:
                self.optimizer.state.pop(p, None)  # the step created this state: as if it never ran
                continue
            state = self.optimizer.state[p]
            for key in [k for k in state if k not in keys]:
                del state[key]
            state.update(copy.deepcopy(snap.host_state.get(i, {})))

    def discard(self) -> None:
        self._snapshot = None


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # objects without a comparable value: assume changed, so the host decides
        return False


def _crosses_to_host(flag: torch.Tensor, targets: list[torch.Tensor]) -> bool:
    """Moving a device flag to a CPU tensor's side is a device-to-host copy: a sync in disguise."""
    return flag.device.type != "cpu" and any(t.device.type == "cpu" for t in targets)


@dataclass
class _StepMark:
    step: int
    state: dict[str, Any]            # the scheduler's state at this step's optimizer pre-hook
    lrs: list[Any]                   # the param groups' LRs then
    before: int                      # last_epoch at the pre-hook
    after: int | None = None         # last_epoch at this step's step_end


@dataclass
class ScheduleRewind:
    """The scheduler's state at each guarded step of the current window, to undo skipped steps' scheduler steps."""

    scheduler: Any
    optimizer: Any
    marks: list[_StepMark] = field(default_factory=list)
    _open: _StepMark | None = None

    def before_step(self) -> None:
        if self._open is not None:  # two optimizer steps before one step_end: the first one's mark stays
            return
        self._open = _StepMark(-1, copy.deepcopy(self.scheduler.state_dict()), _lrs(self.optimizer),
                               int(self.scheduler.last_epoch))

    def finish(self, step: int) -> None:
        if self._open is None:
            return
        mark, self._open = self._open, None
        mark.step = step
        mark.after = int(self.scheduler.last_epoch)
        self.marks.append(mark)

    def rewind(self, skipped: set[int]) -> int:
        """Undo the scheduler steps of ``skipped`` steps of this window; returns how many were undone."""
        marks = self.marks
        self.marks = [m for m in marks if m.step not in skipped]  # a rewound step's calls are gone for good
        first = next((i for i, m in enumerate(marks) if m.step in skipped and m.after is not None), None)
        if first is None:
            return 0
        live = int(self.scheduler.last_epoch)
        # Segments after the restore point, in order: each step's own calls (dropped when skipped), then the
        # calls made between that step_end and the next step's pre-hook (kept: per-epoch steps, say).
        replay: list[int] = []
        undone = 0
        for i in range(first, len(marks)):
            mark = marks[i]
            own = (mark.after or mark.before) - mark.before
            if mark.step in skipped:
                undone += own
            else:
                replay.append(own)
            following = marks[i + 1].before if i + 1 < len(marks) else live
            replay.append(following - (mark.after or mark.before))
        if not undone:
            return 0
        restore = marks[first]
        self.scheduler.load_state_dict(copy.deepcopy(restore.state))
        _set_lrs(self.optimizer, restore.lrs)
        for _ in range(sum(replay)):
            self.scheduler.step()  # host arithmetic only: the scheduler sets param_groups' lr
        return undone


def _lrs(optimizer: Any) -> list[Any]:
    return [g["lr"].detach().clone() if isinstance(g["lr"], torch.Tensor) else g["lr"] for g in optimizer.param_groups]


def _set_lrs(optimizer: Any, lrs: list[Any]) -> None:
    for group, lr in zip(optimizer.param_groups, lrs):
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].copy_(lr)
        else:
            group["lr"] = lr
