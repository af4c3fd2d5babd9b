"""The expression language of ``check``, ``when`` and ``let``.

Parsed once with Python's :mod:`ast` against a whitelist and compiled to a
tree of closures; nothing is ever passed to ``eval``. The same compiled
expression runs on Python numbers and on torch tensors, with the arithmetic
of :mod:`~pvcontracts.contract.exprmath` (IEEE on the host as on the device,
integers exact only within int64). What a validator needs beyond that (the
types of :mod:`~pvcontracts.contract.exprtypes`, the history guards of
:mod:`~pvcontracts.contract.exprguards`) reads the parsed tree the compiled
expression keeps, so nothing is parsed twice.
"""

from __future__ import annotations

import ast
import functools
import io
import math
import tokenize
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

from pvcontracts.contract.exprmath import (
    BINOPS,
    CMPOPS,
    INT_LIMIT,
    apply_clamp,
    apply_extreme,
    apply_unary,
    apply_where,
    as_bool_tensor,
    div,
    is_host_value,
    logical,
    negate_number,
    numeric,
    torch_module,
)
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


class SourcePositions:
    """Character offsets of parsed nodes in the text they were parsed from.

    Python reports a node's column in UTF-8 bytes; a diagnostic wants characters,
    or a name after an ``é`` on the same line points one column too far.
    """

    __slots__ = ("text", "starts", "lines", "ascii")

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.split("\n")
        self.starts = [0]
        for line in self.lines[:-1]:
            self.starts.append(self.starts[-1] + len(line) + 1)
        self.ascii = text.isascii()

    def offset(self, node: ast.AST) -> int:
        """0-based character offset of ``node`` in the text (0 for a node without a position)."""
        return self.at(getattr(node, "lineno", 1), getattr(node, "col_offset", 0))

    def end(self, node: ast.AST) -> int:
        """0-based character offset just past ``node``."""
        return self.at(getattr(node, "end_lineno", None) or 1, getattr(node, "end_col_offset", None) or 0)

    def at(self, lineno: int, col: int) -> int:
        """Character offset of 1-based line ``lineno``, UTF-8 byte column ``col``."""
        if not 0 < lineno <= len(self.starts):
            return col
        if not self.ascii:
            col = len(self.lines[lineno - 1].encode("utf-8")[:col].decode("utf-8", "replace"))
        return self.starts[lineno - 1] + col


def _line_starts(text: str) -> list[int]:
    return SourcePositions(text).starts


class _Compiler:
    """Checks a parsed tree against the whitelist and turns it into closures in one walk."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.positions = SourcePositions(text)
        self.names: dict[str, int] = {}
        self.calls: list[tuple[str, int]] = []
        self.history: list[HistoryRequest] = []
        self.strings: list[StringComparison] = []

    def fail(self, code: str, node: ast.AST, message: str, hint: str | None = None) -> ExpressionError:
        return ExpressionError(code, message, self.positions.offset(node), hint)

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
        if isinstance(value, int) and not isinstance(value, bool) and not -INT_LIMIT <= value < INT_LIMIT:
            # A literal past int64 is read as the float64 nearest to it (inf past 1e308), as a tensor
            # would hold it: exact integers of any length are how `let` chains once ran for hours.
            value = _float_of(value)
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
        self.names.setdefault(name, self.positions.offset(node))

        def lookup(env: Mapping[str, Any], hist: Any) -> Any:
            try:
                return env[name]
            except KeyError:
                raise EvaluationError(f"no value for '{name}'", (name,)) from None

        return lookup

    def _UnaryOp(self, node: ast.UnaryOp) -> Callable[..., Any]:
        operand = self.compile(node.operand)
        if isinstance(node.op, ast.USub):
            return lambda env, hist: negate_number(operand(env, hist))
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.Not):
            def negate(env: Mapping[str, Any], hist: Any) -> Any:
                value = operand(env, hist)
                if is_host_value(value) or isinstance(value, bool):
                    return not value
                return torch_module().logical_not(value)
            return negate
        raise self.fail("PV402", node, "bitwise '~' is not allowed; use not")

    def _BinOp(self, node: ast.BinOp) -> Callable[..., Any]:
        fn = BINOPS.get(type(node.op))
        if fn is None:
            if isinstance(node.op, ast.BitXor):
                raise self.fail("PV402", node, "operator '^' is not allowed: it is a bitwise xor, not a power",
                                "write a power as a ** b")
            raise self.fail("PV402", node, f"operator {type(node.op).__name__} is not allowed",
                            "use and/or/not for logic; bitwise operators are not part of the language")
        left, right = self.compile(node.left), self.compile(node.right)
        return lambda env, hist: fn(numeric(left(env, hist)), numeric(right(env, hist)))

    def _BoolOp(self, node: ast.BoolOp) -> Callable[..., Any]:
        parts = [self.compile(v) for v in node.values]
        is_and = isinstance(node.op, ast.And)
        op = "and" if is_and else "or"

        def combine(env: Mapping[str, Any], hist: Any) -> Any:
            result = parts[0](env, hist)
            for part in parts[1:]:
                if is_host_value(result) or isinstance(result, bool):
                    # Host values short-circuit, so `epoch > 0 and prev(x) ...` never reads missing history.
                    if is_and and not result:
                        return False
                    if not is_and and result:
                        return True
                    result = part(env, hist)
                    if is_host_value(result) or isinstance(result, bool):
                        result = bool(result)
                    else:  # `1 and x` is a truth value, as on the host, not x itself
                        result = as_bool_tensor(result, result)
                    continue
                result = logical(op, result, part(env, hist))
            return bool(result) if is_host_value(result) else result

        return combine

    def _Compare(self, node: ast.Compare) -> Callable[..., Any]:
        operands_nodes = [node.left] + list(node.comparators)
        ops = []
        for op in node.ops:
            fn = CMPOPS.get(type(op))
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
                self.strings.append(StringComparison(operand.value, other.id, self.positions.offset(operand)))
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
                if is_host_value(result) or isinstance(result, bool):
                    if is_host_value(step) or isinstance(step, bool):
                        if not step:
                            return False
                        result = True
                    else:
                        result = step
                else:
                    result = logical("and", result, step)
                left = right
            return result

        return chained

    def _Call(self, node: ast.Call) -> Callable[..., Any]:
        if not isinstance(node.func, ast.Name):
            raise self.fail("PV402", node, "only built-in functions may be called, by name",
                            f"available: {', '.join(sorted(FUNCTIONS))}")
        name = node.func.id
        spec = FUNCTIONS.get(name)
        offset = self.positions.offset(node)
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
            return lambda env, hist: apply_extreme(name, *[a(env, hist) for a in args])
        if name == "where":
            c, a, b = args

            def choose(env: Mapping[str, Any], hist: Any) -> Any:
                cond = c(env, hist)
                if is_host_value(cond) or isinstance(cond, bool):
                    # A host condition picks one branch, so where(epoch == 0, 0, prev(x)) never reads missing history.
                    return a(env, hist) if cond else b(env, hist)
                return apply_where(cond, a(env, hist), b(env, hist))

            return choose
        if name == "clamp":
            x, lo, hi = args
            return lambda env, hist: apply_clamp(x(env, hist), lo(env, hist), hi(env, hist))
        (arg,) = args
        return lambda env, hist: apply_unary(name, arg(env, hist))

    def _history_call(self, node: ast.Call, spec: FunctionSpec, offset: int) -> Callable[..., Any]:
        metric_node = node.args[0]
        if not isinstance(metric_node, ast.Name) or metric_node.id in CONSTANTS:
            raise ExpressionError("PV404", f"{spec.name}() takes a metric name as its first argument: {spec.signature}",
                                  self.positions.offset(metric_node))
        metric = metric_node.id
        self.names.setdefault(metric, self.positions.offset(metric_node))
        window: int | str = 1
        if len(node.args) == 2:
            w = node.args[1]
            if isinstance(w, ast.Constant) and isinstance(w.value, int) and not isinstance(w.value, bool):
                if not 1 <= w.value <= MAX_WINDOW:
                    raise ExpressionError("PV404", f"{spec.name}() window must be between 1 and {MAX_WINDOW}, got {w.value}",
                                          self.positions.offset(w))
                window = w.value
            elif isinstance(w, ast.Name) and w.id not in CONSTANTS:
                window = w.id
                self.names.setdefault(w.id, self.positions.offset(w))
            else:
                raise ExpressionError("PV404", f"{spec.name}() window must be an integer literal or an int param",
                                      self.positions.offset(w))
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
                    total = _ADD(total, v)
                return div(total, len(values))
            return apply_extreme("min" if name == "window_min" else "max", *values) if len(values) > 1 else values[0]

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
    # The parsed tree (of the text with its leading blanks stripped) and where its nodes are in that
    # text: what static analyses (types, history guards) walk, without parsing the text again.
    tree: ast.expr | None = field(default=None, repr=False, compare=False)
    _positions: SourcePositions | None = field(default=None, repr=False, compare=False)
    _lead: int = field(default=0, repr=False, compare=False)

    @property
    def canonical(self) -> str:
        """The parsed form, for telling a change of meaning from a reformatting (`pv diff`).

        Computed on demand: only diffs need it, and dumping every tree cost a fifth of a
        cold `pv validate`.
        """
        return ast.dump(ast.parse(self.text.strip(), mode="eval").body, annotate_fields=False,
                        include_attributes=False)

    def offset_of(self, node: ast.AST) -> int:
        """0-based character offset in :attr:`text` of a node of :attr:`tree`."""
        if self._positions is None:
            return self._lead
        return self._lead + self._positions.offset(node)

    def segment(self, node: ast.AST) -> str:
        """The text of a node of :attr:`tree`, as written."""
        if self._positions is None:
            return self.text
        return self.text[self._lead + self._positions.offset(node):self._lead + self._positions.end(node)]

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


def _float_of(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


_ADD = BINOPS[ast.Add]


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


def _comment_offset(source: str) -> int | None:
    """Offset of a ``#`` that starts a comment (not one inside a string literal), or None.

    Python drops everything from there to the end of the line, so ``loss <= cap # and
    isfinite(loss)`` would silently check only the first half.
    """
    if "#" not in source:
        return None
    positions = SourcePositions(source)
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                row, col = tok.start  # tokenize counts columns in characters
                return positions.starts[row - 1] + col
    except (tokenize.TokenError, SyntaxError, ValueError):
        pass  # the parser reports what is wrong with the text
    return None


# Operators of other languages that Python does not have: (spelling, what to write instead).
_FOREIGN_OPERATORS = (("&&", "and"), ("||", "or"), ("===", "=="), ("!==", "!="))


def _syntax_hint(source: str, offset: int) -> tuple[str | None, int]:
    """A hint for a syntax error, and the offset to report it at (the foreign operator's, when one is found)."""
    for spelling, python in _FOREIGN_OPERATORS:
        at = source.find(spelling)
        if at >= 0:
            return f"write '{python}' instead of '{spelling}'", at
    bang = next((i for i, ch in enumerate(source) if ch == "!" and source[i + 1:i + 2] != "="), None)
    if bang is not None:
        return "write 'not x' for a negation; '!' is only part of '!='", bang
    if "=" in source and "==" not in source and "<=" not in source and ">=" not in source:
        return "use == to compare; expressions cannot assign", offset
    return None, offset


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
    comment = _comment_offset(source)
    if comment is not None:
        raise ExpressionError("PV401", "'#' starts a comment, which is not part of the expression language: "
                              "everything after it would be ignored", lead + comment,
                              "remove it; say why in the invariant's description, or write 'and ...' to check more")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        starts = _line_starts(source)
        line = (exc.lineno or 1) - 1
        if exc.offset:
            col = max(exc.offset - 1, 0)
        else:  # CPython gives no column for an unexpected end of input: point at the end of that line
            col = len(source.split("\n")[line]) if line < len(starts) else 0
        offset = (starts[line] if line < len(starts) else 0) + col
        hint, offset = _syntax_hint(source, offset)
        raise ExpressionError("PV401", f"invalid expression syntax: {exc.msg}", lead + offset, hint) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError("PV401", f"invalid expression: {exc}", lead) from None
    deep = _too_deep(tree.body) if len(source) > MAX_NESTING else None  # each level takes a character
    if deep is not None:
        raise ExpressionError("PV401", f"expression nests more than {MAX_NESTING} levels deep",
                              lead + SourcePositions(source).offset(deep), "split it into lets")
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
        tree=tree.body,
        _positions=compiler.positions,
        _lead=lead,
    )
