"""One run seed, and the distinct seeds derived from it for each source of randomness.

Separate streams mean that changing the data order (a different shuffle) does not
change the initial weights, and that dropout does not shift when the dataset grows.
Each seed is a hash of the run seed and the stream's name, so it is stable across
Python, NumPy and PyTorch versions, and recorded in the determinism report and in
result.json.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

__all__ = ["Seeds", "derive_seeds"]

STREAMS = ("data_order", "init", "dropout", "task")


@dataclass(frozen=True)
class Seeds:
    run: int
    data_order: int  # the DataLoader's shuffling generator
    init: int        # the global torch RNG while the task builds its model (weight initialisation)
    dropout: int     # the global torch RNG once training starts (dropout masks, other sampling)
    task: int        # handed to the task's build(config, seed) for its own data synthesis

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def derive_seeds(run_seed: int) -> Seeds:
    """Derive one 63-bit seed per stream from ``run_seed`` (any int; negative ones too)."""
    if isinstance(run_seed, bool) or not isinstance(run_seed, int):
        raise TypeError(f"run_seed={run_seed!r} must be an int")
    return Seeds(run=run_seed, **{name: _derive(run_seed, name) for name in STREAMS})


def _derive(run_seed: int, stream: str) -> int:
    digest = hashlib.sha256(f"pv-train/{run_seed}/{stream}".encode("ascii")).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)  # torch.manual_seed takes a non-negative int64
