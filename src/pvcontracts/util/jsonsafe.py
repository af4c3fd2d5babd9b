"""Strict JSON has no NaN or Infinity: how the ledger and the evidence write them.

Both write a non-finite float as the string ``nan``, ``inf`` or ``-inf``, so every JSON
tool reads what they write, and a digest taken before writing equals one taken after
reading. ``util.summary.as_number`` reads those strings back as floats.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["finite"]


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity, at any depth of dicts, lists and tuples, written as its string."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
