"""The types of the expression language: what fits where, and where the error is reported."""

from __future__ import annotations

import pytest

from pvcontracts.contract.expr import parse_expression
from pvcontracts.contract.exprtypes import BOOL, NUMBER, UNKNOWN, EnumType, check_types, infer_type

TYPES = {"loss": NUMBER, "n": NUMBER, "flag": BOOL, "sched": EnumType("sched", ("cosine", "linear")),
         "other": EnumType("other", ("linear", "cosine")), "mode": EnumType("mode", ("a", "b"))}


@pytest.mark.parametrize("text, expected", [
    ("loss + 1", NUMBER), ("loss < 1", BOOL), ("flag and loss > 0", BOOL), ("not flag", BOOL), ("isnan(loss)", BOOL),
    ("where(flag, 1, loss)", NUMBER), ("where(flag, flag, true)", BOOL), ("prev(loss)", NUMBER), ("prev(flag)", BOOL),
    ("window_max(loss, 3)", NUMBER), ("sched", TYPES["sched"]), ("mystery + 1", NUMBER), ("mystery", UNKNOWN),
    ("sched == 'cosine'", BOOL), ("sched == other", BOOL), ("flag == true", BOOL), ("min(loss, n, 2)", NUMBER),
])
def test_well_typed(text: str, expected: object) -> None:
    result, problems = infer_type(parse_expression(text), TYPES)
    assert problems == [] and result == expected


@pytest.mark.parametrize("text, offset, fragment", [
    ("loss + sched", 7, "enum param 'sched'"), ("sched < 3", 0, "enum param"), ("3 == sched", 5, "enum param"),
    ("sched == mode", 0, "enum param"), ("-sched", 1, "enum"), ("where(flag, sched, 1)", 12, "enum"),
    ("flag * 2", 0, "is a bool"), ("-flag", 1, "is a bool"), ("abs(flag)", 4, "abs() needs a number"),
    ("flag < 1", 0, "'<' needs a number"), ("window_mean(flag, 2)", 12, "window_mean()"),
    ("loss and flag", 0, "'and' needs a condition"), ("not loss", 4, "'not'"),
    ("where(loss, 1, 2)", 6, "first argument"), ("flag == 1", 0, "bool compared with a number"),
    ("1 == isnan(loss)", 5, "bool compared"), ("where(flag, loss, flag)", 18, "branches differ"),
    ("loss > 0 and  (flag + 1 > 0)", 15, "'+' needs a number"),
])
def test_type_errors_at_their_column(text: str, offset: int, fragment: str) -> None:
    problems = check_types(parse_expression(text), TYPES, condition=False)
    assert [(p.code, p.offset) for p in problems][:1] == [("PV411", offset)], [p.message for p in problems]
    assert fragment in problems[0].message


def test_a_check_is_a_condition_and_unknown_names_never_cascade() -> None:
    assert [p.message for p in check_types(parse_expression("loss"), TYPES, condition=True)] == [
        "'loss' is a number, but a check or when needs a condition (true or false)"]
    assert check_types(parse_expression("mystery"), TYPES, condition=True) == []
    assert check_types(parse_expression("mystery + sched_typo > 0"), TYPES, condition=True) == []
