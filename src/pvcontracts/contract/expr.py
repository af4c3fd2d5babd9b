"""The expression language of ``check``, ``when`` and ``let``.

Parsed once with Python's :mod:`ast` against a whitelist and compiled to a
tree of closures; nothing is ever passed to ``eval``. The same compiled
expression runs on Python numbers and on torch tensors: host values follow
IEEE semantics (``1/0`` is ``inf``, ``ln(0)`` is ``-inf``, NaN never passes a
comparison) so that a check gives the same answer on the host and on the
device. torch is imported only when a tensor actually arrives.
"""

from __future__ import annotations

import ast
import functools
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

from pvcontracts.errors import EvaluationError, ExpressionError, HistoryUnavailable

MAX_WINDOW = 10_000  # history kept per metric is bounded by the largest window a contract may ask for

CONSTANTS: dict[str, float | bool] = {"pi": math.pi, "e": math.e, "inf": math.inf, "nan": math.nan,
                                       "true": True, "false": False}  # YAML spells booleans in lower case


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    min_args: int
    max_args: int | None  # None: variadic
    history: bool
    signature: str
    description: str


_FUNCTION_LIST = (
    FunctionSpec("ln", 1, 1, False, "ln(x)", "natural logarithm; ln(0) = -inf, ln(x<0) = nan"),
    FunctionSpec("exp", 1, 1, False, "exp(x)", "e to the x; overflow gives inf"),
    FunctionSpec("sqrt", 1, 1, False, "sqrt(x)", "square root; sqrt(x<0) = nan"),
    FunctionSpec("abs", 1, 1, False, "abs(x)", "absolute value"),
    FunctionSpec("min", 2, None, False, "min(a, b, ...)", "smallest argument; nan if any is nan"),
    FunctionSpec("max", 2, None, False, "max(a, b, ...)", "largest argument; nan if any is nan"),
    FunctionSpec("isfinite", 1, 1, False, "isfinite(x)", "true unless x is inf or nan"),
    FunctionSpec("isnan", 1, 1, False, "isnan(x)", "true when x is nan"),
    FunctionSpec("floor", 1, 1, False, "floor(x)", "round down"),
    FunctionSpec("ceil", 1, 1, False, "ceil(x)", "round up"),
    FunctionSpec("cos", 1, 1, False, "cos(x)", "cosine, x in radians"),
    FunctionSpec("where", 3, 3, False, "where(cond, a, b)", "a where cond holds, else b; on tensors both are evaluated"),
    FunctionSpec("clamp", 3, 3, False, "clamp(x, lo, hi)", "x limited to [lo, hi]"),
    FunctionSpec("prev", 1, 1, True, "prev(metric)", "the metric's value at the previous evaluation of this boundary"),
    FunctionSpec("first", 1, 1, True, "first(metric)", "the metric's first observed value at this boundary"),
    FunctionSpec("window_mean", 2, 2, True, "window_mean(metric, n)", "mean of the last n values (this one included); nan if any is nan"),
    FunctionSpec("window_min", 2, 2, True, "window_min(metric, n)", "smallest of the last n values (this one included); nan if any is nan"),
    FunctionSpec("window_max", 2, 2, True, "window_max(metric, n)", "largest of the last n values (this one included); nan if any is nan"),
)
FUNCTIONS: dict[str, FunctionSpec] = {f.name: f for f in _FUNCTION_LIST}


@dataclass(frozen=True)
class HistoryRequest:
    """What history one expression needs: ``window`` is an int, or the name of an int param."""

    function: str
    metric: str
    window: int | str
    offset: int


@dataclass(frozen=True)
class StringComparison:
    """A string literal compared with a name (``lr_schedule == "cosine"``); the name must be an enum param."""

    value: str
    name: str
    offset: int


class HistoryReader(Protocol):
    """Where history functions read past values; the runtime keeps bounded deques behind it."""

    def prev(self, metric: str) -> Any: ...
    def first(self, metric: str) -> Any: ...
    def window(self, metric: str, n: int) -> list[Any]: ...


# --------------------------------------------------------------------------- numeric helpers


def _is_host(x: Any) -> bool:
    return isinstance(x, (int, float))


def _torch() -> Any:
    import torch  # only reached when a tensor was passed in

    return torch


def _as_tensor_like(value: Any, like: Any) -> Any:
    torch = _torch()
    if isinstance(value, torch.Tensor):
        return value
    dtype = like.dtype if like.dtype.is_floating_point else torch.get_default_dtype()
    return torch.as_tensor(value, dtype=dtype, device=like.device)


def _first_tensor(values: tuple[Any, ...]) -> Any:
    for v in values:
        if not _is_host(v):
            return v
    return None


def _host_ln(x: float) -> float:
    if x > 0:
        return math.log(x)
    if x == 0:
        return -math.inf
    return math.nan


def _host_exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _host_sqrt(x: float) -> float:
    return math.sqrt(x) if x >= 0 else math.nan


def _host_round(fn: Callable[[float], int]) -> Callable[[float], float]:
    def apply(x: float) -> float:
        if math.isfinite(x):
            return fn(x)
        return x

    return apply


def _host_cos(x: float) -> float:
    return math.cos(x) if math.isfinite(x) else math.nan


def _host_extreme(pick: Callable[..., float]) -> Callable[..., float]:
    def apply(*xs: float) -> float:
        if any(isinstance(x, float) and math.isnan(x) for x in xs):
            return math.nan
        return pick(xs)

    return apply


_HOST_UNARY: dict[str, Callable[[Any], Any]] = {
    "ln": _host_ln, "exp": _host_exp, "sqrt": _host_sqrt, "abs": abs,
    "isfinite": lambda x: math.isfinite(x), "isnan": lambda x: math.isnan(x),
    "floor": _host_round(math.floor), "ceil": _host_round(math.ceil), "cos": _host_cos,
}
_TORCH_UNARY = {"ln": "log", "exp": "exp", "sqrt": "sqrt", "abs": "abs", "isfinite": "isfinite",
                "isnan": "isnan", "floor": "floor", "ceil": "ceil", "cos": "cos"}


def _apply_unary(name: str, x: Any) -> Any:
    if _is_host(x):
        try:
            return _HOST_UNARY[name](x)
        except OverflowError:  # an int too large for a float
            return _HOST_UNARY[name](_float(x))
    torch = _torch()
    if not isinstance(x, torch.Tensor):
        return _HOST_UNARY[name](float(x))
    if name in ("ln", "exp", "sqrt", "cos") and not x.dtype.is_floating_point:
        x = x.to(torch.get_default_dtype())
    elif x.dtype == torch.bool and name not in ("isfinite", "isnan"):
        x = x.to(torch.int64)  # as on the host, where abs(True) is 1; torch has no abs or floor of bool
    return getattr(torch, _TORCH_UNARY[name])(x)


def _numeric(x: Any) -> Any:
    """Booleans as integers for arithmetic: the host reads True as 1, torch refuses `-` on bools."""
    if isinstance(x, bool):
        return int(x)
    dtype = None if _is_host(x) else getattr(x, "dtype", None)
    if dtype is not None and dtype is _torch().bool:
        return x.to(_torch().int64)
    return x


def _apply_extreme(name: str, *xs: Any) -> Any:
    tensor = _first_tensor(xs)
    if tensor is None:
        return (_host_extreme(min) if name == "min" else _host_extreme(max))(*xs)
    torch = _torch()
    op = torch.minimum if name == "min" else torch.maximum
    result = _as_tensor_like(xs[0], tensor)
    for x in xs[1:]:
        result = op(result, _as_tensor_like(x, tensor))
    return result


def _apply_where(cond: Any, a: Any, b: Any) -> Any:
    tensor = _first_tensor((cond, a, b))
    if tensor is None:
        return a if cond else b
    torch = _torch()
    like = _first_tensor((a, b))
    if like is None:  # only the condition is a tensor: results take its float dtype (or the default), and device
        like = tensor
    return torch.where(_as_bool_tensor(cond, tensor), _as_tensor_like(a, like), _as_tensor_like(b, like))


def _apply_clamp(x: Any, lo: Any, hi: Any) -> Any:
    tensor = _first_tensor((x, lo, hi))
    if tensor is None:
        return _apply_extreme("min", _apply_extreme("max", x, lo), hi)
    return _apply_extreme("min", _apply_extreme("max", _as_tensor_like(x, tensor), lo), hi)


def _as_bool_tensor(value: Any, like: Any) -> Any:
    torch = _torch()
    if isinstance(value, torch.Tensor):
        return value if value.dtype == torch.bool else value != 0
    return torch.as_tensor(bool(value), device=like.device)


def _float(x: Any) -> float:
    """A host number as a float; an int too large for one is +-inf, as IEEE arithmetic would have it."""
    try:
        return float(x)
    except OverflowError:
        return math.inf if x > 0 else -math.inf


def _host_arith(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Exact int arithmetic while it fits; an int too large for a float that meets one becomes +-inf."""
    def apply(a: Any, b: Any) -> Any:
        try:
            return fn(a, b)
        except OverflowError:  # only host numbers raise it; tensors saturate on their own
            return fn(_float(a), _float(b))

    return apply


def _div(a: Any, b: Any) -> Any:
    if _is_host(a) and _is_host(b):
        try:
            return a / b
        except OverflowError:
            return _div(_float(a), _float(b))
        except ZeroDivisionError:
            if a == 0 or (isinstance(a, float) and math.isnan(a)):
                return math.nan
            return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _integer_safe(a: Any, b: Any) -> tuple[Any, Any]:
    """Integer tensors as floats for // and %, unless the divisor is a nonzero host number.

    torch raises on an integer division by zero where the host gives inf or nan; a nonzero
    host divisor (``step % 100``) keeps exact integer arithmetic.
    """
    if _is_host(b) and b != 0:
        return a, b
    torch = _torch()

    def exact(x: Any) -> Any:  # float64 holds every counter below 2**53 exactly; MPS has no float64
        if isinstance(x, torch.Tensor) and not x.dtype.is_floating_point:
            return x.to(torch.float64 if x.device.type != "mps" else torch.float32)
        return x

    return exact(a), exact(b)


def _floordiv(a: Any, b: Any) -> Any:
    if _is_host(a) and _is_host(b):
        if b == 0:  # Python raises; torch (and IEEE division, floored) give +-inf, or nan for 0 // 0
            return _div(a, b)
        try:
            return a // b  # exact on ints; on floats Python's rule, which torch.floor_divide follows (inf // 2 is nan)
        except OverflowError:
            return _floordiv(_float(a), _float(b))
    a, b = _integer_safe(a, b)
    return a // b


def _mod(a: Any, b: Any) -> Any:
    if _is_host(a) and _is_host(b):
        try:
            return a % b
        except OverflowError:
            return _mod(_float(a), _float(b))
        except ZeroDivisionError:
            return math.nan
    a, b = _integer_safe(a, b)
    return a % b


# int ** int stays an exact int while it surely fits in int64 (so a tensor can take it too); beyond, it is
# computed in floats (inf when too large), which also means 9 ** 9 ** 9 can never hang the host.
_EXACT_POW_BITS = 63


def _pow(a: Any, b: Any) -> Any:
    if _is_host(a) and _is_host(b):
        if isinstance(a, int) and isinstance(b, int) and 0 <= b and max(a.bit_length(), 1) * b <= _EXACT_POW_BITS:
            return a ** b
        fa, fb = _float(a), _float(b)
        try:
            result = fa ** fb
        except OverflowError:
            return -math.inf if fa < 0 and fb.is_integer() and fb % 2 == 1 else math.inf
        except ZeroDivisionError:  # 0 ** negative: IEEE keeps the zero's sign for an odd integer power
            return math.copysign(math.inf, fa) if fb.is_integer() and fb % 2 == 1 else math.inf
        if isinstance(result, complex):
            return math.nan
        return result
    if _is_host(b):  # torch takes a shortcut for a Python exponent of 0.5 that gives (-inf) ** 0.5 = nan
        b = _as_tensor_like(b, a)
    torch = _torch()
    if isinstance(a, torch.Tensor) and not a.dtype.is_floating_point and not b.dtype.is_floating_point:
        a = a.to(torch.get_default_dtype())  # torch refuses integers to negative integer powers
    return a ** b


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: _host_arith(lambda a, b: a + b),
    ast.Sub: _host_arith(lambda a, b: a - b),
    ast.Mult: _host_arith(lambda a, b: a * b),
    ast.Div: _div,
    ast.FloorDiv: _floordiv,
    ast.Mod: _mod,
    ast.Pow: _pow,
}
_BINOP_TEXT = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"}

_CMPOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
}


def _logical(op: str, a: Any, b: Any) -> Any:
    torch = _torch()
    like = a if not _is_host(a) and not isinstance(a, (bool, str)) else b
    fn = torch.logical_and if op == "and" else torch.logical_or
    return fn(_as_bool_tensor(a, like), _as_bool_tensor(b, like))


def _is_host_value(x: Any) -> bool:
    return isinstance(x, (int, float, str)) or x is None


# --------------------------------------------------------------------------- parsing and checking

_FORBIDDEN_HINTS: dict[type, str] = {
    ast.Attribute: "attribute access is not allowed; use a metric or param name",
    ast.Subscript: "indexing is not allowed; use prev(x) or a window function for history",
    ast.IfExp: "conditional expressions are not allowed; use where(cond, a, b)",
    ast.Lambda: "lambdas are not allowed",
    ast.ListComp: "comprehensions are not allowed", ast.GeneratorExp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed", ast.DictComp: "comprehensions are not allowed",
    ast.List: "lists are not allowed", ast.Tuple: "tuples are not allowed", ast.Dict: "mappings are not allowed",
    ast.Set: "sets are not allowed", ast.NamedExpr: "assignment expressions are not allowed",
    ast.JoinedStr: "f-strings are not allowed", ast.Await: "await is not allowed",
    ast.Starred: "star arguments are not allowed", ast.Slice: "slices are not allowed",
}


def _offset_of(node: ast.AST, lines: "_Lines") -> int:
    return lines.offset(getattr(node, "lineno", 1), getattr(node, "col_offset", 0))


class _Lines:
    """Character offsets of AST positions: ``col_offset`` counts UTF-8 bytes, diagnostics count characters."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.starts = [0]
        for line in self.lines[:-1]:
            self.starts.append(self.starts[-1] + len(line) + 1)

    def offset(self, lineno: int, col_bytes: int) -> int:
        if not 0 < lineno <= len(self.lines):
            return col_bytes
        line = self.lines[lineno - 1]
        col = len(line.encode("utf-8")[:col_bytes].decode("utf-8", errors="ignore")) if not line.isascii() else col_bytes
        return self.starts[lineno - 1] + col


def _line_starts(text: str) -> "_Lines":
    return _Lines(text)


class _Compiler:
    """Checks a parsed tree against the whitelist and turns it into closures in one walk."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.line_starts = _line_starts(text)
        self.names: dict[str, int] = {}
        self.calls: list[tuple[str, int]] = []
        self.history: list[HistoryRequest] = []
        self.strings: list[StringComparison] = []

    def fail(self, code: str, node: ast.AST, message: str, hint: str | None = None) -> ExpressionError:
        return ExpressionError(code, message, _offset_of(node, self.line_starts), hint)

    def compile(self, node: ast.AST) -> Callable[[Mapping[str, Any], Any], Any]:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            hint = _FORBIDDEN_HINTS.get(type(node))
            what = type(node).__name__
            if isinstance(node, (ast.BinOp,)):
                what = f"operator {type(node.op).__name__}"
            raise self.fail("PV402", node, f"{hint or what + ' is not part of the expression language'}",
                            None if hint else "allowed: numbers, names, + - * / // % **, comparisons, and/or/not, calls of built-in functions")
        return method(node)

    def _Constant(self, node: ast.Constant) -> Callable[..., Any]:
        value = node.value
        if isinstance(value, str):
            raise self.fail("PV408", node, f"string literal {value!r} is only allowed compared with an enum param",
                            "write e.g. lr_schedule == \"cosine\" where lr_schedule is a param of type enum")
        if isinstance(value, bool) or isinstance(value, (int, float)):
            return lambda env, hist: value
        raise self.fail("PV402", node, f"constant {value!r} is not a number or boolean")

    def _Name(self, node: ast.Name) -> Callable[..., Any]:
        name = node.id
        if name in CONSTANTS:
            value = CONSTANTS[name]
            return lambda env, hist: value
        if name in FUNCTIONS:
            raise self.fail("PV404", node, f"'{name}' is a function; call it as {FUNCTIONS[name].signature}")
        self.names.setdefault(name, _offset_of(node, self.line_starts))

        def lookup(env: Mapping[str, Any], hist: Any) -> Any:
            try:
                return env[name]
            except KeyError:
                raise EvaluationError(f"no value for '{name}'", (name,)) from None

        return lookup

    def _UnaryOp(self, node: ast.UnaryOp) -> Callable[..., Any]:
        operand = self.compile(node.operand)
        if isinstance(node.op, ast.USub):
            return lambda env, hist: -_numeric(operand(env, hist))
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.Not):
            def negate(env: Mapping[str, Any], hist: Any) -> Any:
                value = operand(env, hist)
                if _is_host_value(value) or isinstance(value, bool):
                    return not value
                return _torch().logical_not(value)
            return negate
        raise self.fail("PV402", node, "bitwise '~' is not allowed; use not")

    def _BinOp(self, node: ast.BinOp) -> Callable[..., Any]:
        fn = _BINOPS.get(type(node.op))
        if fn is None:
            raise self.fail("PV402", node, f"operator {type(node.op).__name__} is not allowed",
                            "use and/or/not for logic; bitwise operators are not part of the language")
        left, right = self.compile(node.left), self.compile(node.right)
        return lambda env, hist: fn(_numeric(left(env, hist)), _numeric(right(env, hist)))

    def _BoolOp(self, node: ast.BoolOp) -> Callable[..., Any]:
        parts = [self.compile(v) for v in node.values]
        is_and = isinstance(node.op, ast.And)
        op = "and" if is_and else "or"

        def combine(env: Mapping[str, Any], hist: Any) -> Any:
            result = parts[0](env, hist)
            for part in parts[1:]:
                if _is_host_value(result) or isinstance(result, bool):
                    # Host values short-circuit, so `epoch > 0 and prev(x) ...` never reads missing history.
                    if is_and and not result:
                        return False
                    if not is_and and result:
                        return True
                    result = part(env, hist)
                    if _is_host_value(result) or isinstance(result, bool):
                        result = bool(result)
                    else:  # `1 and x` is a truth value, as on the host, not x itself
                        result = _as_bool_tensor(result, result)
                    continue
                result = _logical(op, result, part(env, hist))
            return bool(result) if _is_host_value(result) else result

        return combine

    def _Compare(self, node: ast.Compare) -> Callable[..., Any]:
        operands_nodes = [node.left] + list(node.comparators)
        ops = []
        for op in node.ops:
            fn = _CMPOPS.get(type(op))
            if fn is None:
                raise self.fail("PV402", node, f"comparison {type(op).__name__} is not allowed",
                                "use <, <=, >, >=, == or !=")
            ops.append(fn)
        for i, operand in enumerate(operands_nodes):
            if isinstance(operand, ast.Constant) and isinstance(operand.value, str):
                if len(ops) != 1 or not isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
                    raise self.fail("PV408", operand, "string literals may only be compared with == or !=")
                other = operands_nodes[1 - i]
                if not isinstance(other, ast.Name):
                    raise self.fail("PV408", operand, "a string literal must be compared with an enum param name")
                self.strings.append(StringComparison(operand.value, other.id, _offset_of(operand, self.line_starts)))
        compiled = []
        for operand in operands_nodes:
            if isinstance(operand, ast.Constant) and isinstance(operand.value, str):
                value = operand.value
                compiled.append(lambda env, hist, value=value: value)
            else:
                compiled.append(self.compile(operand))
        if len(ops) == 1:
            a_fn, b_fn, op_fn = compiled[0], compiled[1], ops[0]
            return lambda env, hist: op_fn(a_fn(env, hist), b_fn(env, hist))

        def chained(env: Mapping[str, Any], hist: Any) -> Any:
            left = compiled[0](env, hist)
            result: Any = True
            for op_fn, right_fn in zip(ops, compiled[1:]):
                right = right_fn(env, hist)
                step = op_fn(left, right)
                if _is_host_value(result) or isinstance(result, bool):
                    if _is_host_value(step) or isinstance(step, bool):
                        if not step:
                            return False
                        result = True
                    else:
                        result = step
                else:
                    result = _logical("and", result, step)
                left = right
            return result

        return chained

    def _Call(self, node: ast.Call) -> Callable[..., Any]:
        if not isinstance(node.func, ast.Name):
            raise self.fail("PV402", node, "only built-in functions may be called, by name",
                            f"available: {', '.join(sorted(FUNCTIONS))}")
        name = node.func.id
        spec = FUNCTIONS.get(name)
        offset = _offset_of(node, self.line_starts)
        if spec is None:
            import difflib

            close = difflib.get_close_matches(name, list(FUNCTIONS), n=1)
            raise ExpressionError("PV403", f"unknown function '{name}'", offset,
                                  f"did you mean '{close[0]}'?" if close else f"available: {', '.join(sorted(FUNCTIONS))}")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExpressionError("PV404", f"{name}() takes positional arguments only: {spec.signature}", offset)
        count = len(node.args)
        if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
            raise ExpressionError("PV404", f"{name}() takes {_arity_text(spec)}, got {count}: {spec.signature}", offset)
        self.calls.append((name, offset))
        if spec.history:
            return self._history_call(node, spec, offset)
        args = [self.compile(a) for a in node.args]
        if name in ("min", "max"):
            return lambda env, hist: _apply_extreme(name, *[a(env, hist) for a in args])
        if name == "where":
            c, a, b = args

            def choose(env: Mapping[str, Any], hist: Any) -> Any:
                cond = c(env, hist)
                if _is_host_value(cond) or isinstance(cond, bool):
                    # A host condition picks one branch, so where(epoch == 0, 0, prev(x)) never reads missing history.
                    return a(env, hist) if cond else b(env, hist)
                return _apply_where(cond, a(env, hist), b(env, hist))

            return choose
        if name == "clamp":
            x, lo, hi = args
            return lambda env, hist: _apply_clamp(x(env, hist), lo(env, hist), hi(env, hist))
        (arg,) = args
        return lambda env, hist: _apply_unary(name, arg(env, hist))

    def _history_call(self, node: ast.Call, spec: FunctionSpec, offset: int) -> Callable[..., Any]:
        metric_node = node.args[0]
        if not isinstance(metric_node, ast.Name) or metric_node.id in CONSTANTS:
            raise ExpressionError("PV404", f"{spec.name}() takes a metric name as its first argument: {spec.signature}",
                                  _offset_of(metric_node, self.line_starts))
        metric = metric_node.id
        self.names.setdefault(metric, _offset_of(metric_node, self.line_starts))
        window: int | str = 1
        if len(node.args) == 2:
            w = node.args[1]
            if isinstance(w, ast.Constant) and isinstance(w.value, int) and not isinstance(w.value, bool):
                if not 1 <= w.value <= MAX_WINDOW:
                    raise ExpressionError("PV404", f"{spec.name}() window must be between 1 and {MAX_WINDOW}, got {w.value}",
                                          _offset_of(w, self.line_starts))
                window = w.value
            elif isinstance(w, ast.Name) and w.id not in CONSTANTS:
                window = w.id
                self.names.setdefault(w.id, _offset_of(w, self.line_starts))
            else:
                raise ExpressionError("PV404", f"{spec.name}() window must be an integer literal or an int param",
                                      _offset_of(w, self.line_starts))
        self.history.append(HistoryRequest(spec.name, metric, window, offset))
        name = spec.name

        def read(env: Mapping[str, Any], hist: Any) -> Any:
            if hist is None:
                raise HistoryUnavailable(f"{name}({metric}) needs history, and none is kept here", (metric,))
            if name == "prev":
                return hist.prev(metric)
            if name == "first":
                return hist.first(metric)
            n = window if isinstance(window, int) else int(env[window])
            values = hist.window(metric, n)
            if name == "window_mean":
                total = values[0]
                for v in values[1:]:
                    total = total + v
                return _div(total, len(values))
            return _apply_extreme("min" if name == "window_min" else "max", *values) if len(values) > 1 else values[0]

        return read


def _arity_text(spec: FunctionSpec) -> str:
    if spec.max_args is None:
        return f"at least {spec.min_args} arguments"
    if spec.min_args == spec.max_args:
        return f"{spec.min_args} argument{'s' if spec.min_args != 1 else ''}"
    return f"{spec.min_args} to {spec.max_args} arguments"


@dataclass(frozen=True)
class Expression:
    """A compiled expression and what it refers to; evaluate it as often as you like."""

    text: str
    names: Mapping[str, int]          # free names -> offset of first use (constants and functions excluded)
    calls: tuple[tuple[str, int], ...]
    history: tuple[HistoryRequest, ...]
    strings: tuple[StringComparison, ...]
    _fn: Callable[[Mapping[str, Any], Any], Any]

    @property
    def canonical(self) -> str:
        """The parsed form, for telling a change of meaning from a reformatting (`pv diff`).

        Computed on demand: only diffs need it, and dumping every tree cost a fifth of a
        cold `pv validate`.
        """
        return ast.dump(ast.parse(self.text.strip(), mode="eval").body, annotate_fields=False,
                        include_attributes=False)

    def evaluate(self, env: Mapping[str, Any], history: HistoryReader | None = None) -> Any:
        """Value of the expression; a Python scalar for host inputs, a tensor if any input is one."""
        return self._fn(env, history)

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


MAX_EXPRESSION_CHARS = 2_000
# Compiled expressions evaluate by recursion, one frame or two per level. A fixed bound keeps that far
# below Python's recursion limit wherever evaluate() is called from, and makes whether an expression
# parses independent of how deep the caller's stack happens to be.
MAX_NESTING = 100


def _too_deep(tree: ast.AST) -> ast.AST | None:
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            return node
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return None


def parse_expression(text: str | int | float) -> Expression:
    """Parse and check one expression; raises :class:`ExpressionError` with a code and an offset.

    Compiled expressions are immutable, so the same text is compiled once per process
    (contracts repeat ``isfinite(loss)`` and friends); errors are never cached.
    """
    if isinstance(text, str):
        return _parse_text_cached(text)
    return _parse_expression(text)


@functools.lru_cache(maxsize=65536)
def _parse_text_cached(text: str) -> Expression:
    return _parse_expression(text)


def _parse_expression(text: str | int | float) -> Expression:
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ExpressionError("PV402", f"an expression must be text or a number, not {type(text).__name__}")
    if not isinstance(text, str):
        text = repr(text)
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionError("PV401", f"expression is {len(text)} characters long; the limit is {MAX_EXPRESSION_CHARS}")
    if not text.strip():
        raise ExpressionError("PV401", "expression is empty")
    source = text.strip()
    lead = len(text) - len(text.lstrip())
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        starts = _line_starts(source).starts
        line = (exc.lineno or 1) - 1
        if exc.offset:
            col = max(exc.offset - 1, 0)
        else:  # CPython gives no column for an unexpected end of input: point at the end of that line
            col = len(source.split("\n")[line]) if line < len(starts) else 0
        offset = lead + (starts[line] if line < len(starts) else 0) + col
        hint = None
        if "=" in source and "==" not in source and "<=" not in source and ">=" not in source:
            hint = "use == to compare; expressions cannot assign"
        raise ExpressionError("PV401", f"invalid expression syntax: {exc.msg}", offset, hint) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError("PV401", f"invalid expression: {exc}", lead) from None
    deep = _too_deep(tree.body) if len(source) > MAX_NESTING else None  # each level takes a character
    if deep is not None:
        raise ExpressionError("PV401", f"expression nests more than {MAX_NESTING} levels deep",
                              lead + _offset_of(deep, _line_starts(source)), "split it into lets")
    compiler = _Compiler(source)
    try:
        fn = compiler.compile(tree.body)
    except ExpressionError as exc:
        exc.offset += lead
        raise
    except RecursionError:
        raise ExpressionError("PV401", "expression nests too deeply", lead) from None
    return Expression(
        text=text,
        names={k: v + lead for k, v in compiler.names.items()},
        calls=tuple((n, o + lead) for n, o in compiler.calls),
        history=tuple(HistoryRequest(h.function, h.metric, h.window, h.offset + lead) for h in compiler.history),
        strings=tuple(StringComparison(s.value, s.name, s.offset + lead) for s in compiler.strings),
        _fn=fn,
    )
