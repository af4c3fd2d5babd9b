"""The param rules validate and the runtime share: a declaration that can serve, and values valid for it."""

from __future__ import annotations

import math

import pytest

from pvcontracts.contract.model import Param
from pvcontracts.contract.paramcheck import declaration_problems, value_problem

RATE = Param("rate", "float", min=0.0, max=1.0)
STEPS = Param("steps", "int", min=1, max=10)
MODE = Param("mode", "enum", values=("a", "b"))
FLAG = Param("flag", "bool")


@pytest.mark.parametrize("param, value, problem", [
    (RATE, 0.5, None), (RATE, 1, None), (RATE, math.nan, "rate=nan must be a number, not nan"),
    (RATE, 1.5, "rate=1.5 must be at most 1"), (RATE, -1, "rate=-1 must be at least 0"),
    (RATE, True, "rate=true must be a number"), (RATE, "0.5", "rate='0.5' must be a number"),
    (STEPS, 3, None), (STEPS, 3.0, "steps=3 must be an integer"), (STEPS, 11, "steps=11 must be at most 10"),
    (STEPS, 10 ** 100, "must be at most 10"),
    (MODE, "a", None), (MODE, "c", "mode='c' must be one of a, b"), (MODE, 1, "mode=1 must be one of a, b"),
    (FLAG, False, None), (FLAG, 0, "flag=0 must be true or false"),
    (Param("cap", "float", max=math.inf), math.inf, None),
])
def test_value_problem(param: Param, value: object, problem: str | None) -> None:
    found = value_problem(param, value)
    assert (found is None) if problem is None else (problem in found), found


def test_an_enum_value_gets_the_closest_spelling() -> None:
    shape = Param("lr_schedule", "enum", values=("constant", "cosine", "linear"))
    assert value_problem(shape, "cosin").endswith("(did you mean 'cosine'?)")
    assert "did you mean" not in value_problem(shape, "exponential")


@pytest.mark.parametrize("param, fields", [
    (Param("p", "float", min=math.nan), ["min"]), (Param("p", "float", max=math.nan), ["max"]),
    (Param("p", "float", min=math.inf), ["min"]), (Param("p", "float", max=-math.inf), ["max"]),
    (Param("p", "float", min=-math.inf, max=math.inf, default=math.inf), []),
    (Param("p", "float", min=2, max=1), ["min"]), (Param("p", "float", default=math.nan), ["default"]),
    (Param("p", "int", min=0, max=5, default=9), ["default"]),
])
def test_declaration_problems(param: Param, fields: list[str]) -> None:
    assert [p.field for p in declaration_problems(param)] == fields
