"""The arithmetic of the expression language, on host numbers and on torch tensors alike.

Host values follow IEEE semantics (``1/0`` is ``inf``, ``ln(0)`` is ``-inf``,
NaN never passes a comparison) so that a check gives the same answer on the
host and on the device; torch is imported only when a tensor actually arrives.

Integers stay exact only while they fit in int64, as they would in a tensor:
a result outside that range is computed in float64 instead (``inf`` when too
large). So no expression, and no chain of ``let`` values each multiplying the
last, can grow a number without bound: every operation takes constant time
and every value prints.
"""

from __future__ import annotations

import ast
import math
from typing import Any, Callable

__all__ = ["BINOPS", "CMPOPS", "INT_LIMIT", "apply_clamp", "apply_extreme", "apply_unary", "apply_where",
           "as_bool_tensor", "bounded", "div", "is_host_value", "logical", "negate_number", "numeric", "torch_module"]

INT_LIMIT = 2 ** 63  # exact integers live in [-INT_LIMIT, INT_LIMIT), int64's range; beyond it, float64


def _is_host(x: Any) -> bool:
    return isinstance(x, (int, float))


def bounded(x: Any) -> Any:
    """``x`` itself, unless it is an int outside int64's range: then the float64 nearest to it (or +-inf).

    Applied to every integer an operation makes, so integers never grow past 128 bits
    between two checks, and no value is ever too long to print.
    """
    if x.__class__ is int and not -INT_LIMIT <= x < INT_LIMIT:
        return _float(x)
    return x


def torch_module() -> Any:
    import torch  # only reached when a tensor was passed in

    return torch


def _as_tensor_like(value: Any, like: Any) -> Any:
    torch = torch_module()
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
            return bounded(fn(x))  # floor(1e300) is an int of 997 bits: as a float, as on a tensor
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
    "ln": _host_ln, "exp": _host_exp, "sqrt": _host_sqrt, "abs": lambda x: bounded(abs(x)),
    "isfinite": lambda x: math.isfinite(x), "isnan": lambda x: math.isnan(x),
    "floor": _host_round(math.floor), "ceil": _host_round(math.ceil), "cos": _host_cos,
}
_TORCH_UNARY = {"ln": "log", "exp": "exp", "sqrt": "sqrt", "abs": "abs", "isfinite": "isfinite",
                "isnan": "isnan", "floor": "floor", "ceil": "ceil", "cos": "cos"}


def apply_unary(name: str, x: Any) -> Any:
    if _is_host(x):
        try:
            return _HOST_UNARY[name](x)
        except OverflowError:  # an int too large for a float
            return _HOST_UNARY[name](_float(x))
    torch = torch_module()
    if not isinstance(x, torch.Tensor):
        return _HOST_UNARY[name](float(x))
    if name in ("ln", "exp", "sqrt", "cos") and not x.dtype.is_floating_point:
        x = x.to(torch.get_default_dtype())
    elif x.dtype == torch.bool and name not in ("isfinite", "isnan"):
        x = x.to(torch.int64)  # as on the host, where abs(True) is 1; torch has no abs or floor of bool
    return getattr(torch, _TORCH_UNARY[name])(x)


def negate_number(x: Any) -> Any:
    """Unary minus: -(-2**63) leaves int64, so it is bounded like every other result."""
    return bounded(-numeric(x))


def numeric(x: Any) -> Any:
    """Booleans as integers for arithmetic: the host reads True as 1, torch refuses `-` on bools."""
    if isinstance(x, bool):
        return int(x)
    dtype = None if _is_host(x) else getattr(x, "dtype", None)
    if dtype is not None and dtype is torch_module().bool:
        return x.to(torch_module().int64)
    return x


def apply_extreme(name: str, *xs: Any) -> Any:
    tensor = _first_tensor(xs)
    if tensor is None:
        return (_host_extreme(min) if name == "min" else _host_extreme(max))(*xs)
    torch = torch_module()
    op = torch.minimum if name == "min" else torch.maximum
    result = _as_tensor_like(xs[0], tensor)
    for x in xs[1:]:
        result = op(result, _as_tensor_like(x, tensor))
    return result


def apply_where(cond: Any, a: Any, b: Any) -> Any:
    tensor = _first_tensor((cond, a, b))
    if tensor is None:
        return a if cond else b
    torch = torch_module()
    like = _first_tensor((a, b))
    if like is None:  # only the condition is a tensor: results take its float dtype (or the default), and device
        like = tensor
    return torch.where(as_bool_tensor(cond, tensor), _as_tensor_like(a, like), _as_tensor_like(b, like))


def apply_clamp(x: Any, lo: Any, hi: Any) -> Any:
    tensor = _first_tensor((x, lo, hi))
    if tensor is None:
        return apply_extreme("min", apply_extreme("max", x, lo), hi)
    return apply_extreme("min", apply_extreme("max", _as_tensor_like(x, tensor), lo), hi)


def as_bool_tensor(value: Any, like: Any) -> Any:
    torch = torch_module()
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
    """Exact int arithmetic while it fits in int64, float64 beyond; an int too large for a float becomes +-inf."""
    def apply(a: Any, b: Any) -> Any:
        try:
            return bounded(fn(a, b))
        except OverflowError:  # only host numbers raise it; tensors saturate on their own
            return fn(_float(a), _float(b))

    return apply


def div(a: Any, b: Any) -> Any:
    if _is_host(a) and _is_host(b):
        try:
            return a / b
        except OverflowError:
            return div(_float(a), _float(b))
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
    torch = torch_module()

    def exact(x: Any) -> Any:  # float64 holds every counter below 2**53 exactly; MPS has no float64
        if isinstance(x, torch.Tensor) and not x.dtype.is_floating_point:
            return x.to(torch.float64 if x.device.type != "mps" else torch.float32)
        return x

    return exact(a), exact(b)


def _floordiv(a: Any, b: Any) -> Any:
    if _is_host(a) and _is_host(b):
        if b == 0:  # Python raises; torch (and IEEE division, floored) give +-inf, or nan for 0 // 0
            return div(a, b)
        try:
            return bounded(a // b)  # exact on ints; on floats Python's rule, as torch.floor_divide (inf // 2 is nan)
        except OverflowError:
            return _floordiv(_float(a), _float(b))
    a, b = _integer_safe(a, b)
    return a // b


def _mod(a: Any, b: Any) -> Any:
    if _is_host(a) and _is_host(b):
        try:
            return bounded(a % b)
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
    torch = torch_module()
    if isinstance(a, torch.Tensor) and not a.dtype.is_floating_point and not b.dtype.is_floating_point:
        a = a.to(torch.get_default_dtype())  # torch refuses integers to negative integer powers
    return a ** b


BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: _host_arith(lambda a, b: a + b),
    ast.Sub: _host_arith(lambda a, b: a - b),
    ast.Mult: _host_arith(lambda a, b: a * b),
    ast.Div: div,
    ast.FloorDiv: _floordiv,
    ast.Mod: _mod,
    ast.Pow: _pow,
}

CMPOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
}


def logical(op: str, a: Any, b: Any) -> Any:
    torch = torch_module()
    like = a if not _is_host(a) and not isinstance(a, (bool, str)) else b
    fn = torch.logical_and if op == "and" else torch.logical_or
    return fn(as_bool_tensor(a, like), as_bool_tensor(b, like))


def is_host_value(x: Any) -> bool:
    return isinstance(x, (int, float, str)) or x is None

