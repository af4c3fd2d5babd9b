"""Fault injection for the crash tests: the process kills itself at a named point.

``PV_TRAIN_FAULT=checkpoint.mid_write:2`` makes the process SIGKILL itself the second
time it reaches ``fault_point("checkpoint.mid_write")``. Unset (always, outside the
tests), a fault point is one dictionary lookup. SIGKILL, not an exception: nothing
gets to clean up, exactly as when the machine is pre-empted.

Points: ``checkpoint.mid_write`` (some bytes of the temp file written),
``checkpoint.before_rename`` (all bytes written, not yet fsynced or renamed),
``checkpoint.after_rename`` (the new checkpoint visible, retention not yet run),
``checkpoint.mid_retention`` (one old checkpoint deleted, others not yet),
``result.mid_write`` (result.json's temp file half written).
"""

from __future__ import annotations

import os
import signal

__all__ = ["ENV", "POINTS", "fault_point"]

ENV = "PV_TRAIN_FAULT"
POINTS = ("checkpoint.mid_write", "checkpoint.before_rename", "checkpoint.after_rename",
          "checkpoint.mid_retention", "result.mid_write")
_seen: dict[str, int] = {}


def fault_point(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    point, _, count = spec.partition(":")
    if point != name:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
