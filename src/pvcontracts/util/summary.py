"""Curve records: what a window of training steps looked like, and how two adjacent windows merge.

A *curve record* (ledger kind ``curve``, written by :mod:`pvcontracts.runtime.curves`)
summarises the step metrics the run's invariants read over a window of steps::

    {"kind": "curve", "run": "...", "steps": [first_step, last_step], "n": 100, "epochs": [0, 0],
     "metrics": {"loss": [first, min, max, last], "lr": [...]},
     "expected": {"lr": [first, min, max, last]}, "expected_by": {"lr": "INV-LR-003"},
     "nonfinite": {"loss": 2}, "missing": {"grad_norm": 1}}

``first``/``last`` are the metric's values at the window's first and last step
that had it (NaN and infinities included, written as the strings ``nan``,
``inf``, ``-inf``); ``min``/``max`` are over its finite values only (``null``
when it had none); ``nonfinite`` and ``missing`` count, per metric and only when
not zero, the steps whose value was NaN or infinite and the steps that did not
supply it. ``expected`` is what a contract says the metric should have been
(a ``let`` named ``expected_<metric>``, such as lr-schedule-v1's scheduled LR),
summarised the same way. Values are rounded to 7 significant digits (float32
precision): a curve is for looking at; a violation record keeps the exact values.

The runtime and the evidence's ledger reader both merge adjacent records (the
runtime to keep the ledger bounded, the reader to keep the report bounded):
this module is the one definition of that merge, with no torch and nothing of
the runtime or the evidence, so both can import it.
"""

from __future__ import annotations

import math
from typing import Any

SIGNIFICANT_DIGITS = 7
Summary = list  # [first, min, max, last]


def rounded(value: float | None) -> float | None:
    """A finite value to 7 significant digits; NaN, infinities and None unchanged."""
    if value is None or not math.isfinite(value):
        return value
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def as_number(value: Any) -> float | None:
    """A summary entry read back from JSON: a number, None, or one of the strings the ledger writes for NaN/inf."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if value in ("nan", "inf", "-inf"):
        return float(value)
    return None


def summarise(values: list[float]) -> tuple[Summary, int]:
    """(first, min, max, last) of host values, min and max over the finite ones, and how many were not finite."""
    finite = [v for v in values if math.isfinite(v)]
    low = min(finite) if finite else None
    high = max(finite) if finite else None
    return [rounded(values[0]), rounded(low), rounded(high), rounded(values[-1])], len(values) - len(finite)


def _lower(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _upper(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def merge_summaries(a: Summary | None, b: Summary | None) -> Summary | None:
    """Two windows' summaries, ``a`` before ``b``, as one (either may be absent)."""
    if a is None:
        return b
    if b is None:
        return a
    return [a[0], _lower(a[1], b[1]), _upper(a[2], b[2]), b[3]]


def _counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return {k: v for k, v in sorted(out.items()) if v}


def merge_records(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two adjacent curve records, ``a`` before ``b``, as one covering both windows.

    A metric one window lacks counts as missing at all of that window's steps, so the
    merged record still says how many of its steps supplied each metric.
    """
    names = sorted(set(a["metrics"]) | set(b["metrics"]))
    missing = _counts(a.get("missing", {}), b.get("missing", {}))
    for name in names:
        for rec in (a, b):
            if name not in rec["metrics"]:
                missing[name] = missing.get(name, 0) + int(rec["n"])
    expected = {}
    for name in sorted(set(a.get("expected", {})) | set(b.get("expected", {}))):
        expected[name] = merge_summaries(a.get("expected", {}).get(name), b.get("expected", {}).get(name))
    out: dict[str, Any] = {
        "kind": "curve",
        "steps": [a["steps"][0], b["steps"][1]],
        "n": int(a["n"]) + int(b["n"]),
        "epochs": [a["epochs"][0], b["epochs"][1]],
        "metrics": {n: merge_summaries(a["metrics"].get(n), b["metrics"].get(n)) for n in names},
    }
    if expected:
        out["expected"] = expected
        out["expected_by"] = {**b.get("expected_by", {}), **a.get("expected_by", {})}
    nonfinite = _counts(a.get("nonfinite", {}), b.get("nonfinite", {}))
    if nonfinite:
        out["nonfinite"] = nonfinite
    if missing:
        out["missing"] = dict(sorted(missing.items()))
    return out
