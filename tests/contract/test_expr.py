"""The expression language: what it accepts, what it refuses (with code and offset), and how it evaluates.

The same compiled expression must give the same answer on Python floats and
on torch tensors, so that a check can stay on the device: the torch tests
evaluate a grid of values, nan and inf included, both ways and compare, with
the tensor's host-sync methods booby-trapped.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pvcontracts.contract.expr import (
    FUNCTIONS,
    MAX_EXPRESSION_CHARS,
    MAX_NESTING,
    MAX_WINDOW,
    HistoryRequest,
    parse_expression,
)
from pvcontracts.errors import EvaluationError, ExpressionError, HistoryUnavailable


def ev(text: str, **env: Any) -> Any:
    return parse_expression(text).evaluate(env)


def refused(text: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        parse_expression(text)
    return info.value


def same_number(a: Any, b: Any) -> bool:
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


class History:
    """A HistoryReader over fixed lists that counts its reads."""

    def __init__(self, **series: list[Any]) -> None:
        self.series = series
        self.reads = 0

    def prev(self, metric: str) -> Any:
        self.reads += 1
        return self.series[metric][-2]

    def first(self, metric: str) -> Any:
        self.reads += 1
        return self.series[metric][0]

    def window(self, metric: str, n: int) -> list[Any]:
        self.reads += 1
        return self.series[metric][-n:]


# --------------------------------------------------------------------------- evaluation on floats


class TestFloatEvaluation:
    @pytest.mark.parametrize("text, expected", [
        ("1 / 0", math.inf), ("-1 / 0", -math.inf), ("1 / -0.0", -math.inf), ("0 / 0", math.nan),
        ("nan / 0", math.nan), ("ln(0)", -math.inf), ("ln(-0.0)", -math.inf), ("ln(-1)", math.nan),
        ("ln(inf)", math.inf), ("sqrt(-1)", math.nan), ("sqrt(-0.0)", -0.0), ("sqrt(inf)", math.inf),
        ("exp(1000)", math.inf), ("exp(-inf)", 0.0), ("10.0 ** 400", math.inf), ("0 ** -1", math.inf),
        ("(-0.0) ** -1", -math.inf), ("(-8) ** (1 / 3)", math.nan), ("2 ** -1", 0.5), ("inf - inf", math.nan),
        ("inf * 0", math.nan), ("5 % 0", math.nan), ("7 // 0", math.inf), ("-7 // 0", -math.inf),
        ("0 // 0", math.nan), ("inf // 2", math.nan), ("-7 // 2", -4), ("-7 % 3", 2), ("7.5 // 2", 3.0),
        ("cos(inf)", math.nan), ("cos(0)", 1.0), ("floor(-2.5)", -3), ("ceil(-2.5)", -2), ("floor(inf)", math.inf),
        ("ceil(nan)", math.nan), ("abs(-inf)", math.inf), ("min(1, nan)", math.nan), ("max(nan, 1)", math.nan),
        ("min(3, 1, 2)", 1), ("max(-inf, -1)", -1), ("clamp(5, 0, 1)", 1), ("clamp(nan, 0, 1)", math.nan),
        ("where(1 > 0, 2, 3)", 2), ("where(nan, 2, 3)", 2), ("pi", math.pi), ("e", math.e), ("-inf", -math.inf),
        ("2.0 * ln(50257)", 2.0 * math.log(50257)), ("1e308 * 10", math.inf), ("1 + 2 * 3 ** 2", 19),
    ])
    def test_ieee_results(self, text: str, expected: float) -> None:
        assert same_number(ev(text), expected), ev(text)

    @pytest.mark.parametrize("text", ["9 ** 9 ** 9", "(2 ** 2000) * 1.0", "1" + "0" * 400 + " * 1.0",
                                      "10 ** 400 / 3", "10 ** 400 % 3.0", "sqrt(10 ** 400)", "cos(10 ** 400)",
                                      "isfinite(10 ** 400)", "0.5 ** (10 ** 400)"])
    def test_huge_integers_never_hang_or_raise(self, text: str) -> None:
        value = ev(text)
        assert isinstance(value, (bool, int, float))

    def test_integers_stay_exact_where_they_can(self) -> None:
        assert ev("(2 ** 31 + 1) * 4 // 4") == 2 ** 31 + 1
        assert ev("x - y", x=2 ** 62 + 1, y=2 ** 62) == 1
        assert ev("x // 1", x=2 ** 60 + 1) == 2 ** 60 + 1
        assert ev("x * 2", x=2 ** 62 - 1) == 2 ** 63 - 2 and isinstance(ev("x * 2", x=2 ** 62 - 1), int)

    @pytest.mark.parametrize("text, expected", [
        ("x * 2", 2.0 ** 63), ("x + x", 2.0 ** 63), ("-y", 2.0 ** 63), ("abs(y)", 2.0 ** 63),
        ("y - 1", -(2.0 ** 63) - 1), ("floor(1e300)", 1e300), ("x * x * x * x", 2.0 ** 248),
        ("1" + "0" * 30, 1e30), ("1" + "0" * 1998, math.inf), ("-1" + "0" * 1997, -math.inf),
    ])
    def test_integers_past_int64_become_float64_as_on_a_tensor(self, text: str, expected: float) -> None:
        value = ev(text, x=2 ** 62, y=-(2 ** 63))
        assert isinstance(value, float) and value == expected

    def test_a_chain_of_multiplying_lets_stays_fast_and_printable(self) -> None:
        """Six lets each multiplying the last ten times, from a long literal: once hours and a ValueError."""
        import time

        value: Any = None
        start = time.perf_counter()
        env = {"v0": int("7" * 1999)}
        for i in range(1, 7):
            value = env[f"v{i}"] = ev(" * ".join([f"v{i - 1}"] * 10), **env)
        assert time.perf_counter() - start < 0.5
        assert value == math.inf and str(value) == "inf"

    @pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "=="])
    @pytest.mark.parametrize("other", ["1.0", "nan", "inf", "-inf"])
    def test_nan_fails_every_comparison(self, op: str, other: str) -> None:
        assert ev(f"x {op} {other}", x=math.nan) is False
        assert ev(f"{other} {op} x", x=math.nan) is False

    def test_nan_is_unequal_to_everything(self) -> None:
        assert ev("x != x", x=math.nan) is True
        assert ev("not (x == x)", x=math.nan) is True
        assert ev("isfinite(x) and x < 10", x=math.nan) is False
        assert ev("isnan(x)", x=math.nan) is True

    def test_chained_comparisons(self) -> None:
        assert ev("0 <= x < 1", x=0.0) is True
        assert ev("0 <= x < 1", x=1.0) is False
        assert ev("0 < x < 2 < y", x=1.0, y=3.0) is True
        assert ev("0 < x < 2 < y", x=1.0, y=2.0) is False
        assert ev("1 < x > 0", x=5) is True
        assert ev("0 < x < 1", x=math.nan) is False
        assert ev("x == y == 1", x=1, y=1.0) is True

    def test_chained_comparison_evaluates_each_operand_once(self) -> None:
        hist = History(v=[1.0, 1.5, 9.0])
        assert parse_expression("0 < prev(v) < 2").evaluate({}, hist) is True
        assert hist.reads == 1

    def test_chained_comparison_stops_at_the_first_false_link(self) -> None:
        expr = parse_expression("epoch > 0 < prev(v)")
        assert expr.evaluate({"epoch": 0}, None) is False  # prev() would raise: no history kept

    def test_logic_returns_booleans(self) -> None:
        assert ev("x and y", x=1.0, y=2.0) is True
        assert ev("x or y", x=0.0, y=0.0) is False
        assert ev("not x", x=0) is True
        assert ev("True and not False") is True

    def test_short_circuit_keeps_history_untouched(self) -> None:
        expr = parse_expression("epoch > 0 and val_loss < 1.5 * prev(val_loss)")
        assert expr.evaluate({"epoch": 0, "val_loss": 18.0}, None) is False
        with pytest.raises(HistoryUnavailable):
            expr.evaluate({"epoch": 1, "val_loss": 18.0}, None)
        hist = History(val_loss=[10.0, 12.0])
        assert expr.evaluate({"epoch": 1, "val_loss": 12.0}, hist) is True
        either = parse_expression("epoch == 0 or prev(val_loss) > 0")
        assert either.evaluate({"epoch": 0}, None) is True

    def test_short_circuit_does_not_evaluate_the_rest(self) -> None:
        hist = History(v=[1.0, 2.0])
        assert parse_expression("x > 0 and prev(v) > 0 and first(v) > 0").evaluate({"x": -1}, hist) is False
        assert hist.reads == 0

    def test_history_functions(self) -> None:
        hist = History(loss=[4.0, 3.0, 2.0, 1.0])
        env = {"n": 3}
        assert parse_expression("prev(loss)").evaluate(env, hist) == 2.0
        assert parse_expression("first(loss)").evaluate(env, hist) == 4.0
        assert parse_expression("window_mean(loss, 2)").evaluate(env, hist) == 1.5
        assert parse_expression("window_min(loss, n)").evaluate(env, hist) == 1.0
        assert parse_expression("window_max(loss, n)").evaluate(env, hist) == 3.0
        assert parse_expression("window_max(loss, 1)").evaluate(env, hist) == 1.0

    def test_a_missing_name_is_an_evaluation_error(self) -> None:
        with pytest.raises(EvaluationError) as info:
            ev("loss < cap", loss=1.0)
        assert info.value.missing == ("cap",)

    def test_string_comparison_with_an_enum_value(self) -> None:
        expr = parse_expression('schedule == "cosine" and lr > 0')
        assert expr.evaluate({"schedule": "cosine", "lr": 1.0}) is True
        assert expr.evaluate({"schedule": "linear", "lr": 1.0}) is False
        assert parse_expression("'linear' != schedule").evaluate({"schedule": "linear"}) is False

    def test_an_expression_is_reusable(self) -> None:
        expr = parse_expression("x * 2")
        assert [expr.evaluate({"x": v}) for v in (1, 2, 3)] == [2, 4, 6]
        assert repr(expr) == "Expression('x * 2')"


# --------------------------------------------------------------------------- what a parse records


class TestParsing:
    def test_names_with_the_offset_of_first_use(self) -> None:
        expr = parse_expression("  val_loss <= cap and val_loss > 0 and ln(vocab_size) < inf")
        assert dict(expr.names) == {"val_loss": 2, "cap": 14, "vocab_size": 42}
        assert [name for name, _ in expr.calls] == ["ln"]

    def test_name_offsets_count_characters_across_lines(self) -> None:
        # ast's col_offset counts UTF-8 bytes; a diagnostic must point at the character an editor shows
        text = "(À / A +\n éé * prev(ß))"
        expr = parse_expression(text)
        assert {name: text[offset:offset + len(name)] for name, offset in expr.names.items()} == \
            {"À": "À", "A": "A", "éé": "éé", "ß": "ß"}

    def test_history_requests(self) -> None:
        expr = parse_expression("window_mean(loss, n) < prev(loss) + window_max(grad_norm, 5)")
        assert expr.history == (HistoryRequest("window_mean", "loss", "n", 0),
                                HistoryRequest("prev", "loss", 1, 23),
                                HistoryRequest("window_max", "grad_norm", 5, 36))
        assert set(expr.names) == {"loss", "n", "grad_norm"}

    def test_string_comparisons_are_recorded(self) -> None:
        expr = parse_expression('mode == "a" or "b" != mode')
        assert [(s.value, s.name, s.offset) for s in expr.strings] == [("a", "mode", 8), ("b", "mode", 15)]

    def test_numbers_are_expressions(self) -> None:
        assert parse_expression(10.0).evaluate({}) == 10.0
        assert parse_expression(3).evaluate({}) == 3
        assert parse_expression("10.0").text == "10.0"

    def test_canonical_form_ignores_spacing(self) -> None:
        assert parse_expression("a+b").canonical == parse_expression(" a  +  b ").canonical
        assert parse_expression("a+b").canonical != parse_expression("b+a").canonical

    def test_every_function_is_callable(self) -> None:
        samples = {"ln": "ln(2)", "exp": "exp(1)", "sqrt": "sqrt(4)", "abs": "abs(-1)", "min": "min(1, 2)",
                   "max": "max(1, 2)", "isfinite": "isfinite(1)", "isnan": "isnan(1)", "floor": "floor(1.5)",
                   "ceil": "ceil(1.5)", "cos": "cos(0)", "where": "where(1, 2, 3)", "clamp": "clamp(5, 0, 1)",
                   "prev": "prev(x)", "first": "first(x)", "window_mean": "window_mean(x, 2)",
                   "window_min": "window_min(x, 2)", "window_max": "window_max(x, 2)"}
        assert set(samples) == set(FUNCTIONS)
        for text in samples.values():
            parse_expression(text)


# --------------------------------------------------------------------------- what it refuses


class TestRefused:
    @pytest.mark.parametrize("text, code, offset, fragment", [
        # attribute access, also the classic escapes through dunder attributes
        ("loss.real > 0", "PV402", 0, "attribute access"),
        ("x < ().__class__", "PV402", 4, "attribute access"),
        ("loss.item() < 1", "PV402", 0, "only built-in functions may be called"),
        ("__import__('os').system('true')", "PV402", 0, "only built-in functions may be called"),
        ("__import__('os')", "PV403", 0, "unknown function '__import__'"),
        ("eval('1')", "PV403", 0, "unknown function 'eval'"),
        ("getattr(x, 'y')", "PV403", 0, "unknown function 'getattr'"),
        # subscripts and slices
        ("val_loss[0] < 10", "PV402", 0, "indexing"),
        ("x < y[1:2]", "PV402", 4, "indexing"),
        # lambdas and comprehensions
        ("lambda: 1", "PV402", 0, "lambdas"),
        ("(lambda: 1)()", "PV402", 0, "only built-in functions"),
        ("[x for x in y]", "PV402", 0, "comprehensions"),
        ("{x for x in y}", "PV402", 0, "comprehensions"),
        ("{x: 1 for x in y}", "PV402", 0, "comprehensions"),
        ("min((x for x in y), 1)", "PV402", 4, "comprehensions"),
        # strings in every form but == / != with a name
        ('f"{x}" == y', "PV402", 0, "f-strings"),
        ("'abc'", "PV408", 0, "string literal"),
        ("x < 'a'", "PV408", 4, "only be compared with == or !="),
        ("'a' == 'b'", "PV408", 0, "compared with an enum param name"),
        ("x == 'a' == y", "PV408", 5, "only be compared with == or !="),
        ("min(x, 'a')", "PV408", 7, "string literal"),
        # assignment, identity, membership
        ("(x := 1) > 0", "PV402", 1, "assignment expressions"),
        ("x is None", "PV402", 0, "comparison Is"),
        ("x is not y", "PV402", 0, "comparison IsNot"),
        ("x in y", "PV402", 0, "comparison In"),
        ("x not in y", "PV402", 0, "comparison NotIn"),
        # bitwise operators
        ("x & y", "PV402", 0, "BitAnd"), ("x | y", "PV402", 0, "BitOr"), ("x ^ y", "PV402", 0, "bitwise xor"),
        ("x << 1", "PV402", 0, "LShift"), ("x >> 1", "PV402", 0, "RShift"), ("~x", "PV402", 0, "bitwise '~'"),
        ("x @ y", "PV402", 0, "MatMult"),
        # the conditional expression
        ("1 if x else 2", "PV402", 0, "use where(cond, a, b)"),
        ("y < (1 if x else 2)", "PV402", 5, "conditional expressions"),
        # containers and odd constants
        ("(1, 2)", "PV402", 0, "tuples"), ("[1]", "PV402", 0, "lists"), ("{1: 2}", "PV402", 0, "mappings"),
        ("{1}", "PV402", 0, "sets"), ("x == None", "PV402", 5, "constant None"), ("...", "PV402", 0, "Ellipsis"),
        ("b'x' == y", "PV402", 0, "constant b'x'"), ("1j", "PV402", 0, "constant 1j"),
    ])
    def test_forbidden_constructs(self, text: str, code: str, offset: int, fragment: str) -> None:
        err = refused(text)
        assert (err.code, err.offset) == (code, offset), err.message
        assert fragment in err.message

    @pytest.mark.parametrize("text, offset, fragment", [
        ("ln()", 0, "ln() takes 1 argument, got 0"),
        ("ln(1, 2)", 0, "ln() takes 1 argument, got 2"),
        ("x + min(1)", 4, "min() takes at least 2 arguments, got 1"),
        ("where(1, 2)", 0, "where() takes 3 arguments, got 2"),
        ("clamp(1, 2, 3, 4)", 0, "clamp() takes 3 arguments"),
        ("min(*x)", 0, "positional arguments only"),
        ("max(a=1, b=2)", 0, "positional arguments only"),
        ("prev()", 0, "prev() takes 1 argument, got 0"),
        ("prev(1)", 5, "takes a metric name"),
        ("prev(pi)", 5, "takes a metric name"),
        ("prev(x + 1)", 5, "takes a metric name"),
        ("window_mean(loss)", 0, "takes 2 arguments, got 1"),
        ("window_mean(loss, 0)", 18, f"between 1 and {MAX_WINDOW}"),
        (f"window_min(loss, {MAX_WINDOW + 1})", 17, f"between 1 and {MAX_WINDOW}"),
        ("window_max(loss, 2.5)", 17, "an integer literal or an int param"),
        ("window_max(loss, n + 1)", 17, "an integer literal or an int param"),
        ("window_max(loss, True)", 17, "an integer literal or an int param"),
        ("ln > 0", 0, "'ln' is a function; call it as ln(x)"),
    ])
    def test_arity_and_argument_errors(self, text: str, offset: int, fragment: str) -> None:
        err = refused(text)
        assert (err.code, err.offset) == ("PV404", offset), err.message
        assert fragment in err.message

    def test_unknown_function_suggests_a_close_one(self) -> None:
        err = refused("isfinit(x)")
        assert (err.code, err.hint) == ("PV403", "did you mean 'isfinite'?")
        assert refused("log(x)").hint.startswith("available: abs, ceil, clamp")

    @pytest.mark.parametrize("text, offset", [("loss <", 6), ("  loss <", 8), ("loss < < 1", 7), ("(loss", 0),
                                              ("loss = 1", 5), ("1 +* 2", 3), ("loss < 1)", 8), ("", 0), ("   ", 0),
                                              ("a and\nb", 5)])
    def test_syntax_errors_point_at_the_problem(self, text: str, offset: int) -> None:
        err = refused(text)
        assert (err.code, err.offset) == ("PV401", offset), err.message

    def test_nul_and_odd_characters_are_syntax_errors(self) -> None:
        for text in ["x\0", "x \u2028 y", "x\x0cy", "\ufeffx"]:
            assert refused(text).code == "PV401"

    @pytest.mark.parametrize("text, offset", [
        ("val_loss <= cap # and isfinite(val_loss)", 16), ("x > 0 #", 6), ("  x > 0  # why", 9),
        ("x > 0 and\n  # a reason\n y > 0", 12),
    ])
    def test_a_comment_is_a_syntax_error_where_it_starts(self, text: str, offset: int) -> None:
        err = refused(text)
        assert (err.code, err.offset) == ("PV401", offset), err.message
        assert "comment" in err.message and "ignored" in err.message
        assert "description" in err.hint

    def test_a_hash_inside_a_string_is_not_a_comment(self) -> None:
        assert ev("s == 'a#b'", s="a#b") is True

    @pytest.mark.parametrize("text, offset, hint", [
        ("x > 0 && y > 0", 6, "write 'and' instead of '&&'"), ("x > 0 || y > 0", 6, "write 'or' instead of '||'"),
        ("!x", 0, "write 'not x'"), ("x === y", 2, "write '==' instead of '==='"),
    ])
    def test_operators_of_other_languages_get_the_python_spelling(self, text: str, offset: int, hint: str) -> None:
        err = refused(text)
        assert (err.code, err.offset) == ("PV401", offset), err.message
        assert err.hint.startswith(hint)

    def test_caret_is_not_a_power(self) -> None:
        assert refused("x ^ 2").hint == "write a power as a ** b"

    def test_offsets_count_characters_not_utf8_bytes(self) -> None:
        assert parse_expression("s == 'é' and los > 0").names["los"] == 13
        assert refused("s == 'éé' and ln").offset == 14

    def test_assignment_gets_a_hint(self) -> None:
        assert refused("loss = 1").hint == "use == to compare; expressions cannot assign"
        assert refused("loss <").hint is None

    def test_length_limit(self) -> None:
        text = "x + " * (MAX_EXPRESSION_CHARS // 4) + "x"
        assert refused(text).code == "PV401" and "limit" in refused(text).message

    def test_nesting_limit_is_independent_of_the_callers_stack(self) -> None:
        ok = "-" * (MAX_NESTING - 1) + "1"
        deep = "-" * MAX_NESTING + "1"

        def at_depth(n: int, fn):
            return at_depth(n - 1, fn) if n else fn()

        assert at_depth(700, lambda: parse_expression(ok).evaluate({})) == -1 if (MAX_NESTING - 1) % 2 else 1
        err = at_depth(0, lambda: refused(deep))
        assert err.code == "PV401" and "nests" in err.message
        assert at_depth(700, lambda: refused(deep)).message == err.message
        assert refused("1" + " + 1" * MAX_NESTING).code == "PV401"
        assert parse_expression(" and ".join(["x"] * 300)).evaluate({"x": 1}) is True  # flat: no nesting

    @pytest.mark.parametrize("value", [True, None, [1], {"a": 1}])
    def test_only_text_or_numbers(self, value: Any) -> None:
        assert refused(value).code == "PV402"


# --------------------------------------------------------------------------- the same expression on torch tensors

GRID = [-math.inf, -2.5, -1.0, -0.0, 0.0, 0.5, 1.0, 2.0, 3.0, 1e308, math.inf, math.nan]
EXPRESSIONS = [
    "x + y", "x - y", "x * y", "x / y", "x // y", "x % y", "x ** y", "-x", "+x",
    "x < y", "x <= y", "x == y", "x != y", "x > y", "x >= y", "x < y < 2", "0 <= x <= y",
    "ln(x)", "exp(x)", "sqrt(x)", "abs(x)", "isfinite(x)", "isnan(x)", "floor(x)", "ceil(x)", "cos(x)",
    "min(x, y)", "max(x, y)", "min(x, y, 1)", "clamp(x, -1, 1)", "where(x > y, x, y)",
    "x > 0 and y > 0", "x > 0 or y > 0", "not (x > y)", "not x", "x and y", "x or y",
    "val_loss <= where(x > 0, 10.0, 2.0 * ln(vocab_size))", "isfinite(x) and x < y * 1.5",
]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture
def no_host_sync(torch, monkeypatch):
    """Any attempt to bring a tensor's value to the host fails the test."""
    def trap(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a tensor was synchronised to the host during evaluation")

    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "__index__"):
        monkeypatch.setattr(torch.Tensor, name, trap)


def _agrees(torch, host: Any, tensor: Any) -> bool:
    if isinstance(host, bool):
        return tensor.dtype == torch.bool and bool(tensor) == host
    h, t = float(host), float(tensor)
    if math.isfinite(h) and math.isfinite(t):  # transcendental kernels may differ in the last bit
        return math.isclose(h, t, rel_tol=1e-12, abs_tol=0.0) or h == t
    return same_number(h, t) or (h == 0 and t == 0)


def _torch_diverges(text: str, x: float, y: float) -> bool:
    """torch's vectorised remainder computes x - y * floor(x / y), so x / y overflowing gives nan, not fmod."""
    return text == "x % y" and math.isfinite(x) and math.isfinite(y) and y != 0 and math.isinf(x / y)


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_tensors_agree_with_floats(text: str, torch) -> None:
    expr = parse_expression(text)
    xs, ys = zip(*itertools.product(GRID, GRID))
    host = [expr.evaluate({"x": x, "y": y, "val_loss": 18.0, "vocab_size": 50257}) for x, y in zip(xs, ys)]
    tx = torch.tensor(xs, dtype=torch.float64)
    ty = torch.tensor(ys, dtype=torch.float64)
    for env in ({"x": tx, "y": ty}, {"x": tx, "y": list(ys)}):
        batched = isinstance(env["y"], torch.Tensor)
        if batched:
            results = [expr.evaluate({**env, "val_loss": torch.tensor(18.0, dtype=torch.float64), "vocab_size": 50257})]
        else:  # one tensor and one host float per evaluation: the usual mix of a metric and a param
            results = [expr.evaluate({"x": tx[i], "y": y, "val_loss": 18.0, "vocab_size": 50257})
                       for i, y in enumerate(ys)]
        for i, h in enumerate(host):
            t = results[0][i] if batched else results[i]
            assert isinstance(t, torch.Tensor), (text, type(t))
            assert _agrees(torch, h, t) or _torch_diverges(text, xs[i], ys[i]), (text, xs[i], ys[i], h, t)


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_tensors_stay_on_the_device(text: str, torch, no_host_sync) -> None:
    expr = parse_expression(text)
    x = torch.tensor([1.0, math.nan, -math.inf, 0.0], dtype=torch.float32)
    y = torch.tensor([2.0, 1.0, 0.0, -0.0], dtype=torch.float32)
    result = expr.evaluate({"x": x, "y": y, "val_loss": torch.tensor(18.0), "vocab_size": 50257})
    assert isinstance(result, torch.Tensor) and result.shape == (4,)


def test_host_values_short_circuit_before_tensors_are_read(torch, no_host_sync) -> None:
    expr = parse_expression("epoch > 0 and val_loss < 1.5 * prev(val_loss)")
    assert expr.evaluate({"epoch": 0, "val_loss": torch.tensor(3.0)}, None) is False


def test_history_on_tensors(torch, monkeypatch, no_host_sync) -> None:
    hist = History(loss=[torch.tensor(4.0), torch.tensor(2.0), torch.tensor(math.nan)])
    mean = parse_expression("window_mean(loss, 3)").evaluate({}, hist)
    low = parse_expression("window_min(loss, 2) < 5").evaluate({}, hist)
    first = parse_expression("first(loss) == 4").evaluate({}, hist)
    monkeypatch.undo()  # the traps are off: now look at the values
    assert isinstance(mean, torch.Tensor) and torch.isnan(mean)
    assert low.dtype == torch.bool and not low  # min(2, nan) is nan, and nan < 5 is false
    assert first.dtype == torch.bool and first


def test_boolean_tensors(torch) -> None:
    flags = torch.tensor([True, False])
    assert parse_expression("-x").evaluate({"x": flags}).tolist() == [-1, 0]
    assert parse_expression("abs(x) + floor(x)").evaluate({"x": flags}).tolist() == [2, 0]
    assert parse_expression("not x").evaluate({"x": flags}).tolist() == [False, True]
    assert parse_expression("x and y > 0").evaluate({"x": flags, "y": 1.0}).tolist() == [True, False]


def test_integer_tensors(torch) -> None:
    step = torch.tensor([0, 5, 10])
    assert parse_expression("step % 5 == 0").evaluate({"step": step}).tolist() == [True, True, True]
    assert parse_expression("ln(step + 1) >= 0").evaluate({"step": step}).tolist() == [True, True, True]
    assert parse_expression("step ** 2 < 2 ** 62").evaluate({"step": step}).tolist() == [True, True, True]
    # integer division by a tensor that may hold zero: inf/nan as on the host, not a RuntimeError, and exact
    big = torch.tensor([2 ** 40 + 1, 7, 0])
    by = torch.tensor([1, 2, 0])
    assert parse_expression("s // m == s").evaluate({"s": big, "m": by}).tolist() == [True, False, False]
    quotient = parse_expression("s // m").evaluate({"s": big, "m": by}).tolist()
    assert quotient[:2] == [2 ** 40 + 1, 3] and math.isnan(quotient[2])
    assert parse_expression("s % 0").evaluate({"s": big}).isnan().all()
    assert parse_expression("s ** -1").evaluate({"s": by}).tolist() == [1.0, 0.5, math.inf]


# --------------------------------------------------------------------------- random expressions


def _expressions() -> st.SearchStrategy[str]:
    leaves = st.sampled_from(["x", "y", "1", "0", "2.5", "0.0", "inf", "nan", "pi", "True", "3"])
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binary = st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "<", "<=", "==", "!=",
                                                  ">", ">=", "and", "or"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})")
        unary = st.tuples(st.sampled_from(["-", "not ", "ln", "exp", "sqrt", "abs", "isfinite", "isnan", "floor",
                                           "ceil", "cos"]), inner).map(lambda t: f"({t[0]}({t[1]}))")
        nary = st.tuples(st.sampled_from(["min", "max", "where", "clamp"]), st.lists(inner, min_size=3, max_size=3)
                         ).map(lambda t: f"{t[0]}({', '.join(t[1])})")
        return binary | unary | nary
    return st.recursive(leaves, extend, max_leaves=12)


@settings(derandomize=True, database=None, max_examples=300, deadline=None)
@given(_expressions(), st.sampled_from(GRID), st.sampled_from(GRID))
def test_random_expressions_evaluate_without_raising_and_agree_on_tensors(text: str, x: float, y: float) -> None:
    expr = parse_expression(text)
    host = expr.evaluate({"x": x, "y": y})
    assert isinstance(host, (bool, int, float))
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is optional
        return
    # booleans promote to the default dtype; make it float64 so that precision is not what is compared
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        tensor = expr.evaluate({"x": torch.tensor(x, dtype=torch.float64), "y": torch.tensor(y, dtype=torch.float64)})
    finally:
        torch.set_default_dtype(default)
    if isinstance(tensor, torch.Tensor):
        # max(x, False) is False on the host and 0.0 on a tensor: the same number, typed differently
        assert _agrees(torch, host, tensor) or same_number(float(host), float(tensor.to(torch.float64))), \
            (text, host, tensor)
    else:  # nothing in it depended on x or y
        assert same_number(float(host), float(tensor))
