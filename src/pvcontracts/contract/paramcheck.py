"""What makes a param declaration usable, and a value valid for it: one set of rules for validate and runtime.

``pv validate`` checks each declaration (and its default) with
:func:`declaration_problems`; the runtime checks the values a run supplies with
:func:`value_problem` against the same declaration, so a value the validator
would refuse as a default is refused at run time too, with the same words.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

from pvcontracts.contract.model import Param

__all__ = ["ParamProblem", "declaration_problems", "value_problem"]


@dataclass(frozen=True)
class ParamProblem:
    """One thing wrong with a declaration; ``field`` is the key it concerns (None: the declaration as a whole)."""

    field: str | None
    message: str
    hint: str | None = None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        return repr(value) if abs(value) >= 1e16 else str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def value_problem(param: Param, value: Any) -> str | None:
    """Why ``value`` is not a valid value of ``param``, or None when it is (``name=value must ...``)."""
    kind = param.type
    shown = str(value).lower() if isinstance(value, bool) else _fmt(value) if _is_number(value) else repr(value)
    said = f"{param.name}={shown}"  # as YAML spells it: true, 3, 'cosine'

    if kind == "enum":
        if isinstance(value, str) and value in param.values:
            return None
        close = difflib.get_close_matches(value, list(param.values), n=1) if isinstance(value, str) else []
        return f"{said} must be one of {', '.join(param.values)}" + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind == "bool":
        return None if isinstance(value, bool) else f"{said} must be true or false"
    if kind == "int" and not (isinstance(value, int) and not isinstance(value, bool)):
        return f"{said} must be an integer"
    if kind == "float":
        if not _is_number(value):
            return f"{said} must be a number"
        if isinstance(value, float) and math.isnan(value):
            return f"{said} must be a number, not nan: every comparison with nan is false"
    if param.min is not None and value < param.min:
        return f"{said} must be at least {_fmt(param.min)}"
    if param.max is not None and value > param.max:
        return f"{said} must be at most {_fmt(param.max)}"
    return None


def declaration_problems(param: Param) -> list[ParamProblem]:
    """Every inconsistency of one declaration: a caller must always be able to satisfy it."""
    name, kind = param.name, param.type
    out: list[ParamProblem] = []
    if kind == "enum" and not param.values:
        out.append(ParamProblem(None, f"param '{name}' is an enum but lists no values", "add values: [a, b]"))
    if kind != "enum" and param.values:
        out.append(ParamProblem("values", f"param '{name}' has values but is of type {kind}",
                                "set type: enum, or remove values"))
    if kind in ("bool", "enum") and (param.min is not None or param.max is not None):
        out.append(ParamProblem(None, f"param '{name}' of type {kind} cannot have min or max"))
    for field in ("min", "max"):
        bound = getattr(param, field)
        if isinstance(bound, float) and math.isnan(bound):
            out.append(ParamProblem(field, f"param '{name}' has {field} nan, which no value can be compared with",
                                    f"write a number, or leave {field} out for no bound"))
        elif bound == (math.inf if field == "min" else -math.inf):
            out.append(ParamProblem(field, f"param '{name}' has {field} {_fmt(bound)}: no finite value satisfies it",
                                    f"write a finite {field}, or leave it out for no bound"))
    low, high = param.min, param.max
    if _is_number(low) and _is_number(high) and low > high:
        out.append(ParamProblem("min", f"param '{name}' has min {_fmt(low)} above max {_fmt(high)}"))
    if param.default is not None and not any(p.field in ("min", "max") for p in out):
        why = value_problem(param, param.default)
        if why is not None:
            out.append(ParamProblem("default", f"default {why}"))
    return out
