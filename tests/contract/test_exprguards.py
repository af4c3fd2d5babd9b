"""Which guards protect which history reads: the bounds a condition proves on the run counters."""

from __future__ import annotations

import math

import pytest

from pvcontracts.contract.expr import parse_expression
from pvcontracts.contract.exprguards import guard_bounds, unguarded_reads


def bounds(text: str, boundary: str = "epoch_end", **lets: str) -> dict[str, float]:
    return guard_bounds(parse_expression(text), boundary, {k: parse_expression(v) for k, v in lets.items()})


@pytest.mark.parametrize("text, expected", [
    ("epoch > 0", 1), ("epoch >= 1", 1), ("0 < epoch", 1), ("epoch > 0.5", 1), ("epoch >= 2.5", 3),
    ("epoch != 0", 1), ("not epoch == 0", 1), ("not (epoch < 3)", 3), ("epoch + 1 >= 3", 2), ("1 + epoch > 3", 3),
    ("epoch - 1 > 0", 2), ("epoch == 4", 4), ("0 < epoch < 9", 1), ("epoch > 0 and epoch > 5", 6),
    ("epoch > 1 or epoch > 4", 2), ("epoch > warmup", math.inf), ("epoch + 1 >= patience", math.inf),
    ("epoch > 1e400", math.inf), ("ready", 2),
])
def test_lower_bounds(text: str, expected: float) -> None:
    assert bounds(text, ready="epoch >= 2") == {"epoch": expected}


@pytest.mark.parametrize("text", ["epoch < 3", "epoch <= 9", "epoch >= 0", "epoch != 3", "epoch > 1 or loss > 0",
                                  "not (epoch > 0 and loss > 0)", "epoch > -1e400", "loss > 0", "step > 5",
                                  "epoch * 2 > 4", "epoch > nan"])
def test_conditions_that_prove_nothing(text: str) -> None:
    assert bounds(text).get("epoch", -math.inf) <= 0


def test_step_counts_at_step_end_only() -> None:
    assert bounds("step > 3", "step_end") == {"step": 4}
    assert "step" not in bounds("step > 3", "epoch_end")


def reads(text: str, when: str | None = None, boundary: str = "epoch_end", **windows: int) -> list[str]:
    known = guard_bounds(parse_expression(when), boundary) if when else {}
    return [r.text for r in unguarded_reads(parse_expression(text), boundary, known, window_max=windows)]


def test_reads_and_their_guards() -> None:
    assert reads("x < prev(x)") == ["prev(x)"]
    assert reads("x < prev(x)", when="epoch > 0") == []
    assert reads("first(x) > 0") == []
    assert reads("window_mean(x, 1) > 0") == []
    assert reads("window_mean(x, 4) > 0", when="epoch >= 2") == ["window_mean(x, 4)"]
    assert reads("window_mean(x, 4) > 0", when="epoch >= 3") == []
    assert reads("window_mean(x, n) > 0", when="epoch >= 3", n=5) == ["window_mean(x, n)"]
    assert reads("window_mean(x, n) > 0", when="epoch >= n", n=5) == []
    assert reads("epoch > 0 and x < prev(x)") == []
    assert reads("epoch == 0 or x < prev(x)") == []
    assert reads("epoch > 0 or x < prev(x)") == ["prev(x)"]
    assert reads("where(epoch > 0, x < prev(x), true)") == []
    assert reads("where(epoch > 0, true, x < prev(x))") == ["prev(x)"]
    assert reads("x < prev(x) and epoch > 0") == ["prev(x)"]  # the guard comes too late
    assert reads("epochs_run > prev(epochs_run)", when="epoch > 0", boundary="run_end") == ["prev(epochs_run)"]
