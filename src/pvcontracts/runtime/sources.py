"""Metric sources: what feeds a Monitor besides the loop's own arguments.

Each source is a small object behind one interface (torchtitan's ``BaseLogger``
shape): ``collect(boundary, consume)`` returns metrics by the shared vocabulary's
names, ``state_dict``/``load_state_dict`` carry what it counts across a resume,
and ``remove`` releases its hooks. The optimizer watcher and the providers a
user attaches in one line (``monitor.attach(EmbeddingCollapse(model.encoder))``)
are such sources; a framework adapter can be one too, without reaching into the
Monitor's private names.
"""

from __future__ import annotations

from typing import Any, Mapping


class MetricSource:
    """A do-nothing base: override what the source provides."""

    name = "source"

    def collect(self, boundary: str, consume: bool) -> dict[str, Any]:
        """Metrics for one boundary call. ``consume``: this was the step's step_end (per-step state resets)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass

    def remove(self) -> None:
        pass
