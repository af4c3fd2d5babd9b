"""Types of the expression language, checked before anything runs: number, bool, and each enum param.

Python would find out at run time, inside the Monitor, that ``cap + schedule``
adds a number to a string; a bool would silently count as 1 in ``grads_cleared
* 2``. The validator instead infers a type for every node of a compiled
expression's tree, from the types of the names it reads, and reports the first
node where the types do not fit, at its exact column:

* arithmetic (``+ - * / // % **``, unary minus, the numeric functions) and the
  ordering comparisons (``< <= > >=``) take numbers only;
* ``and``, ``or``, ``not``, ``where``'s condition, and a whole ``check`` or
  ``when`` are conditions: bools only;
* an enum param meets nothing but ``==`` / ``!=`` against one of its own
  values (a string literal) or the same enum;
* ``==`` / ``!=`` compare like with like: a bool is compared with ``true`` or
  ``false``, not with 0 or 1.

A name of unknown type (an unknown name, already reported elsewhere) types as
:data:`UNKNOWN`, which fits everywhere, so one mistake is reported once.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Mapping, Union

from pvcontracts.contract.expr import CONSTANTS, FUNCTIONS, Expression
from pvcontracts.errors import ExpressionError

__all__ = ["BOOL", "NUMBER", "UNKNOWN", "EnumType", "ExprType", "check_types", "infer_type"]

NUMBER = "number"
BOOL = "bool"
UNKNOWN = "unknown"
_STRING = "string"  # a string literal: only ever an operand of == / != with an enum (PV408 says the rest)


@dataclass(frozen=True)
class EnumType:
    """The type of one enum param: comparable only with its own values."""

    param: str
    values: tuple[str, ...]

    def __str__(self) -> str:
        return f"enum {self.param}"


ExprType = Union[str, EnumType]

_NUMERIC_FUNCTIONS = {"ln", "exp", "sqrt", "abs", "floor", "ceil", "cos", "min", "max", "clamp"}
_PREDICATES = {"isfinite", "isnan"}
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_OPERATOR_TEXT = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
                  ast.Pow: "**", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.USub: "-",
                  ast.UAdd: "+"}
_CODE = "PV411"


class _Typer:
    """One walk over a tree: the type of each node, and the type errors met on the way."""

    def __init__(self, expr: Expression, types: Mapping[str, ExprType]) -> None:
        self.expr = expr
        self.types = types
        self.problems: list[ExpressionError] = []

    # ---- reporting

    def _text(self, node: ast.AST) -> str:
        """The node's source text, shortened for a message."""
        text = " ".join(self.expr.segment(node).split()) or type(node).__name__
        return text if len(text) <= 40 else text[:37] + "..."

    def _fail(self, node: ast.AST, message: str, hint: str | None = None) -> None:
        self.problems.append(ExpressionError(_CODE, message, self.expr.offset_of(node), hint))

    def _enum_misused(self, node: ast.AST, t: EnumType) -> None:
        shown = ", ".join(t.values)
        first = t.values[0] if t.values else "value"
        self._fail(node, f"'{self._text(node)}' is the enum param '{t.param}' ({shown}): it can only be compared "
                   "with == or != against one of its values", f"write {t.param} == \"{first}\"")

    def want_number(self, node: ast.AST, t: ExprType, where: str) -> None:
        if isinstance(t, EnumType):
            self._enum_misused(node, t)
        elif t == BOOL:
            self._fail(node, f"'{self._text(node)}' is a bool (true or false), but {where} needs a number",
                       f"where({self._text(node)}, 1, 0) is the number it stands for")

    def want_bool(self, node: ast.AST, t: ExprType, where: str) -> None:
        if isinstance(t, EnumType):
            self._enum_misused(node, t)
        elif t == NUMBER:
            self._fail(node, f"'{self._text(node)}' is a number, but {where} needs a condition (true or false)",
                       f"compare it, e.g. {self._text(node)} > 0, or test it with isfinite()")

    # ---- the walk

    def visit(self, node: ast.AST) -> ExprType:
        method = getattr(self, "_" + type(node).__name__, None)
        return method(node) if method is not None else UNKNOWN  # the compiler already refused anything else

    def _Constant(self, node: ast.Constant) -> ExprType:
        if isinstance(node.value, bool):
            return BOOL
        if isinstance(node.value, str):
            return _STRING
        return NUMBER

    def _Name(self, node: ast.Name) -> ExprType:
        if node.id in CONSTANTS:
            return BOOL if isinstance(CONSTANTS[node.id], bool) else NUMBER
        return self.types.get(node.id, UNKNOWN)

    def _UnaryOp(self, node: ast.UnaryOp) -> ExprType:
        t = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            self.want_bool(node.operand, t, "'not'")
            return BOOL
        self.want_number(node.operand, t, f"unary '{_OPERATOR_TEXT.get(type(node.op), '-')}'")
        return NUMBER

    def _BinOp(self, node: ast.BinOp) -> ExprType:
        what = f"'{_OPERATOR_TEXT.get(type(node.op), '?')}'"
        for side in (node.left, node.right):
            self.want_number(side, self.visit(side), what)
        return NUMBER

    def _BoolOp(self, node: ast.BoolOp) -> ExprType:
        word = "'and'" if isinstance(node.op, ast.And) else "'or'"
        for value in node.values:
            self.want_bool(value, self.visit(value), word)
        return BOOL

    def _Compare(self, node: ast.Compare) -> ExprType:
        operands = [node.left, *node.comparators]
        types = [self.visit(o) for o in operands]
        for i, op in enumerate(node.ops):
            (a, ta), (b, tb) = (operands[i], types[i]), (operands[i + 1], types[i + 1])
            if isinstance(op, _ORDERING):
                what = f"'{_OPERATOR_TEXT[type(op)]}'"
                self.want_number(a, ta, what)
                self.want_number(b, tb, what)
            else:
                self._equality(a, ta, b, tb)
        return BOOL

    def _equality(self, a: ast.AST, ta: ExprType, b: ast.AST, tb: ExprType) -> None:
        if UNKNOWN in (ta, tb) or _STRING in (ta, tb):
            return  # a string literal's other side is the compiler's and PV408's business
        if isinstance(ta, EnumType) or isinstance(tb, EnumType):
            if isinstance(ta, EnumType) and isinstance(tb, EnumType) and set(ta.values) == set(tb.values):
                return
            enum_node, enum_type = (a, ta) if isinstance(ta, EnumType) else (b, tb)
            self._enum_misused(enum_node, enum_type)  # type: ignore[arg-type]
            return
        if ta != tb:
            bool_node = a if ta == BOOL else b
            self._fail(bool_node, f"'{self._text(bool_node)}' is a bool compared with a number",
                       "compare a bool with true or false, or use it as the condition itself")

    def _Call(self, node: ast.Call) -> ExprType:
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        spec = FUNCTIONS.get(name)
        if spec is None:
            return UNKNOWN
        if spec.history:
            metric = node.args[0]
            t = self.visit(metric)
            if name.startswith("window_"):
                self.want_number(metric, t, f"{name}()")
                return NUMBER
            return t
        types = [self.visit(a) for a in node.args]
        if name == "where":
            self.want_bool(node.args[0], types[0], "where()'s first argument")
            branches = list(zip(node.args[1:], types[1:]))
            for arg, t in branches:
                if isinstance(t, EnumType):
                    self._enum_misused(arg, t)
            known = [(arg, t) for arg, t in branches if t in (NUMBER, BOOL)]
            if len(known) == 2 and known[0][1] != known[1][1]:
                self._fail(known[1][0], f"where()'s branches differ in type: '{self._text(known[0][0])}' is a "
                           f"{known[0][1]}, '{self._text(known[1][0])}' a {known[1][1]}",
                           "both branches must be numbers, or both bools")
            return known[0][1] if known else UNKNOWN
        for arg, t in zip(node.args, types):
            self.want_number(arg, t, f"{name}()")
        return BOOL if name in _PREDICATES else NUMBER


# The same text with the same types of its names always types the same: contracts repeat their
# expressions (isfinite(loss) and friends), so the walk is done once per process for each.
_CACHE: dict[tuple, tuple[ExprType, tuple[ExpressionError, ...]]] = {}
_CACHE_LIMIT = 65536


def _typed(expr: Expression, types: Mapping[str, ExprType], condition: bool) -> tuple[ExprType, tuple[ExpressionError, ...]]:
    key = (expr.text, condition, tuple((n, types.get(n, UNKNOWN)) for n in expr.names))
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    if expr.tree is None:
        found: tuple[ExprType, tuple[ExpressionError, ...]] = (UNKNOWN, ())
    else:
        typer = _Typer(expr, types)
        result = typer.visit(expr.tree)
        if condition and not typer.problems:
            typer.want_bool(expr.tree, result, "a check or when")
        found = ((UNKNOWN if result == _STRING else result), tuple(typer.problems))
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.clear()
    _CACHE[key] = found
    return found


def _copies(problems: tuple[ExpressionError, ...]) -> list[ExpressionError]:
    """Fresh errors for the caller: an ExpressionError is mutable (callers shift its offset)."""
    return [ExpressionError(p.code, p.message, p.offset, p.hint) for p in problems] if problems else []


def infer_type(expr: Expression, types: Mapping[str, ExprType]) -> tuple[ExprType, list[ExpressionError]]:
    """The type of ``expr`` given the types of the names it reads, and every type error in it (code PV411).

    ``types`` maps params, metrics and lets to :data:`NUMBER`, :data:`BOOL` or an
    :class:`EnumType`; a name missing from it types as :data:`UNKNOWN`.
    """
    result, problems = _typed(expr, types, condition=False)
    return result, _copies(problems)


def check_types(expr: Expression, types: Mapping[str, ExprType], *, condition: bool) -> list[ExpressionError]:
    """Every type error in ``expr``; with ``condition`` (a ``check`` or ``when``), it must itself be a bool."""
    return _copies(_typed(expr, types, condition)[1])
