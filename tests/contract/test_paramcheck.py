"""The param rules validate and the runtime share: a declaration that can serve, and values valid for it."""

from __future__ import annotations

import math

import pytest

from pvcontracts.contract.model import Param
from pvcontracts.contract.paramcheck import declaration_problems, value_problem, values_problems

RATE = Param("rate", "float", min=0.0, max=1.0)
STEPS = Param("steps", "int", min=1, max=10)
MODE = Param("mode", "enum", values=("a", "b"))
FLAG = Param("flag", "bool")


@pytest.mark.parametrize("param, value, problem", [
    (RATE, 0.5, None), (RATE, 1, None), (RATE, math.nan, "every comparison with it is false"),
    (RATE, 1.5, "outside [0, 1]"), (RATE, True, "not a valid float"), (RATE, "0.5", "not a valid float"),
    (STEPS, 3, None), (STEPS, 3.0, "not a valid int"), (STEPS, 11, "outside [1, 10]"), (STEPS, 10 ** 100, "outside"),
    (MODE, "a", None), (MODE, "c", "one of a, b"), (MODE, 1, "not a valid enum value"),
    (FLAG, False, None), (FLAG, 0, "not a valid bool"),
    (Param("cap", "float", max=math.inf), math.inf, None),
])
def test_value_problem(param: Param, value: object, problem: str | None) -> None:
    found = value_problem(param, value)
    assert (found is None) if problem is None else (problem in found), found


def test_values_problems_names_only_the_declared_params_that_are_wrong() -> None:
    declared = {p.name: p for p in (RATE, STEPS, MODE)}
    assert values_problems(declared, {"rate": 0.1, "steps": 0, "undeclared": object()}) == {
        "steps": "0 is outside [1, 10] for param 'steps'"}


@pytest.mark.parametrize("param, fields", [
    (Param("p", "float", min=math.nan), ["min"]), (Param("p", "float", max=math.nan), ["max"]),
    (Param("p", "float", min=math.inf), ["min"]), (Param("p", "float", max=-math.inf), ["max"]),
    (Param("p", "float", min=-math.inf, max=math.inf, default=math.inf), []),
    (Param("p", "float", min=2, max=1), ["min"]), (Param("p", "float", default=math.nan), ["default"]),
    (Param("p", "int", min=0, max=5, default=9), ["default"]),
])
def test_declaration_problems(param: Param, fields: list[str]) -> None:
    assert [p.field for p in declaration_problems(param)] == fields
