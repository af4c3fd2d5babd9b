"""Fuzzing: whatever the input, loading and validating yields diagnostics, never an exception.

Five generators, from blind to structured: arbitrary bytes, arbitrary text,
text assembled from YAML tokens and the contract format's own keys (so the
parser gets deep into anchors, flow collections, tags and tabs), valid
contracts with one part replaced by something random (so the schema passes
and the rules themselves are exercised, on the parts that loaded when it does
not), and contracts whose expressions and lets are generated from the
language's grammar, long integer literals and multiplying chains included,
which the Monitor must then evaluate in bounded time. Every run is
derandomized and sized to take a few seconds.
"""

from __future__ import annotations

import copy
import os
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pvcontracts.contract import loading
from pvcontracts.contract.expr import parse_expression
from pvcontracts.contract.loading import load_contract_bytes
from pvcontracts.contract.model import build_contract
from pvcontracts.contract.partial import usable_parts
from pvcontracts.contract.yamlload import load_yaml_text
from pvcontracts.diagnostic import CODES, Diagnostic
from pvcontracts.errors import ExpressionError
from pvcontracts.validate.engine import ValidateOptions, validate_paths
from pvcontracts.validate.rules import Project, run_contract_rules, run_project_rules

DISPLAY = "contracts/fuzz.yaml"
VALID = Path(__file__).resolve().parents[1] / "data" / "valid"

FAST = settings(derandomize=True, database=None, deadline=None, max_examples=250,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def check_diagnostics(found: Any, display: str = DISPLAY) -> None:
    assert isinstance(found, list)
    for d in found:
        assert isinstance(d, Diagnostic), d
        assert d.code in CODES, d
        assert d.severity == CODES[d.code].severity, d
        assert isinstance(d.line, int) and d.line >= 0, d
        assert isinstance(d.column, int) and d.column >= 0, d
        assert (d.line == 0) == (d.column == 0), d
        assert d.file == display, d
        assert isinstance(d.message, str) and d.message, d
        d.to_dict()  # every field is plain data


def load_and_validate(raw: bytes) -> list[Diagnostic]:
    """The loader, the schema, then every rule (contract and project) on the model, or on the parts that loaded."""
    loaded = load_contract_bytes(raw, DISPLAY)
    found = list(loaded.diagnostics)
    if loaded.contract is not None:
        assert not [d for d in found if d.severity.value == "error"]
    doc, _, faults = loading._parse(raw, DISPLAY)
    if loaded.contract is None and doc is not None:
        # what the loader does behind a guard, here without one: building the partial model must never raise
        parts = usable_parts(doc.data, faults)
        partial = build_contract(DISPLAY, parts.data, doc, broken=frozenset(parts.broken),
                                 broken_ids=tuple(parts.broken_ids), broken_refs=tuple(parts.broken_refs))
        assert loaded.partial is not None and loaded.partial.invariants == partial.invariants
    model = loaded.contract or loaded.partial
    if model is not None:
        found += run_contract_rules(model)
        found += run_project_rules(Project([model]))
    return found


# --------------------------------------------------------------------------- blind input


@FAST
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(raw: bytes) -> None:
    check_diagnostics(load_and_validate(raw))


@FAST
@given(st.text(max_size=2000))
def test_arbitrary_text(text: str) -> None:
    check_diagnostics(load_and_validate(text.encode("utf-8", "surrogatepass")))


# --------------------------------------------------------------------------- YAML-shaped input

SCHEMA_KEYS = ["schema_version", "id", "version", "status", "title", "description", "references", "depends_on",
               "changelog", "params", "metrics", "invariants", "gates", "falsifiers", "failure_modes", "date",
               "summary", "type", "min", "max", "default", "values", "at", "unit", "when", "check", "let",
               "on_violation", "finetune", "from_scratch", "ship_blocking", "evidence_discharged_by", "invariant",
               "prediction", "if_fails", "test"]
VALUES = ["1", "2", "1.0.0", "1.10", "draft", "active", "deprecated", "step_end", "epoch_end", "INV-A-001",
          "GATE-A-001", "FALSIFY-A-001", "FM-A-001", "fuzz", "true", "yes", "no", "on", "Off", "~", "null", "''",
          '""', "1e400", "-.inf", ".nan", "0x1F", "0o17", "1:30", "2026-01-01", "int", "enum", "float",
          "isfinite(loss)", "loss < cap", "prev(val_loss)", "'a: b'", "\"x\\ty\"", "tests/test_x.py::test_ok",
          "é", "\u2028", "\ufeff", "9" * 50]
TOKENS = (["\n", "\n", "\n", "  ", "  ", "    ", "\t", ": ", ":", "- ", "-", "[", "]", "{", "}", ", ", ",",
           "&a ", "&b ", "*a", "*b", "<<: ", "!!python/object:os.system ", "!!str ", "!!int ", "!custom ",
           "!!binary ", "!!set ", "? ", "|", ">", "|-\n  ", "---\n", "...\n", "# comment\n", "'", '"', "%YAML 1.1\n",
           " ", "\\", "\x00", "\r\n"] + [k + ": " for k in SCHEMA_KEYS] + VALUES)


@FAST
@given(st.lists(st.sampled_from(TOKENS), max_size=80))
def test_yaml_token_soup(tokens: list[str]) -> None:
    check_diagnostics(load_and_validate("".join(tokens).encode("utf-8", "surrogatepass")))


def _yamlish() -> st.SearchStrategy[str]:
    """Nested block and flow structures with the format's keys, anchors and aliases sprinkled in."""
    scalar = st.sampled_from(VALUES)
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        flow_list = st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(x.replace("\n", " ") for x in xs) + "]")
        flow_map = st.lists(st.tuples(st.sampled_from(SCHEMA_KEYS), inner), max_size=4).map(
            lambda kv: "{" + ", ".join(f"{k}: {v.replace(chr(10), ' ')}" for k, v in kv) + "}")
        block_map = st.lists(st.tuples(st.sampled_from(SCHEMA_KEYS), inner), min_size=1, max_size=4).map(
            lambda kv: "\n" + "\n".join(f"{k}: " + v.replace("\n", "\n  ") for k, v in kv))
        block_list = st.lists(inner, min_size=1, max_size=4).map(
            lambda xs: "\n" + "\n".join("- " + x.replace("\n", "\n  ") for x in xs))
        anchored = st.tuples(st.sampled_from(["&a ", "&b ", "!!str ", "!x "]), inner).map("".join)
        return flow_list | flow_map | block_map | block_list | anchored | st.sampled_from(["*a", "*b"])
    return st.recursive(scalar, extend, max_leaves=25)


@FAST
@given(st.lists(st.tuples(st.sampled_from(SCHEMA_KEYS), _yamlish()), min_size=1, max_size=8),
       st.sampled_from(["", "\t", "  ", "\ufeff"]))
def test_yaml_shaped_documents(fields: list[tuple[str, str]], prefix: str) -> None:
    text = prefix + "\n".join(f"{k}: " + v.replace("\n", "\n  ") for k, v in fields) + "\n"
    check_diagnostics(load_and_validate(text.encode("utf-8", "surrogatepass")))


# --------------------------------------------------------------------------- valid contracts, one part replaced


def _base() -> dict[str, Any]:
    doc, problems = load_yaml_text((VALID / "full-featured.yaml").read_text(encoding="utf-8"), "f.yaml")
    assert problems == []
    data = copy.deepcopy(doc.data)
    data["id"] = "fuzz"
    return data


BASE = _base()
EXPRESSION_TOKENS = ["loss", "val_loss", "epoch", "step", "lr", "cap", "growth", "window", "vocab_size", "schedule",
                     "tolerance", "tokens_per_second", "x", "1", "0", "2.5", "1e-3", "inf", "nan", "pi", " ", "(", ")",
                     ",", "+", "-", "*", "/", "//", "%", "**", "<", "<=", "==", "!=", ">", " and ", " or ", "not ",
                     "ln(", "prev(", "first(", "window_mean(", "min(", "where(", "clamp(", "abs(", "'cosine'",
                     '"linear"', "[0]", ".real", " if ", " else ", "lambda: ", "=", ":=", " is ", " in ", "&", "~"]
expressions = st.one_of(st.text(max_size=60), st.lists(st.sampled_from(EXPRESSION_TOKENS), max_size=20).map("".join),
                        st.floats(allow_nan=False), st.integers())
identifiers = st.one_of(st.sampled_from(["INV-FULL-001", "INV-FULL-009", "GATE-FULL-001", "inv-x", "INV-FULL-1",
                                         "FALSIFY-FULL-002", "FM-FULL-001"]), st.text(min_size=1, max_size=12))
semvers = st.builds(lambda a, b, c, pre: f"{a}.{b}.{c}{pre}", st.integers(0, 3), st.integers(0, 11),
                    st.integers(0, 3), st.sampled_from(["", "-rc.1", "-alpha"]))
params = st.fixed_dictionaries(
    {"type": st.sampled_from(["int", "float", "bool", "enum"])},
    optional={"min": st.integers(-5, 5) | st.floats(-5, 5), "max": st.integers(-5, 5) | st.floats(-5, 5),
              "default": st.integers(-5, 5) | st.booleans() | st.sampled_from(["a", "b", "cosine"]),
              "values": st.lists(st.sampled_from(["a", "b", "cosine", "linear"]), min_size=1, max_size=3, unique=True)})


def _set(data: dict, path: tuple, value: Any) -> None:
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


MUTATIONS = st.one_of(
    st.tuples(st.sampled_from([("invariants", i, f) for i in range(5) for f in ("check", "when")]), expressions),
    st.tuples(st.sampled_from([("invariants", 2, "let", "growth"), ("invariants", 3, "let", "peak"),
                               ("invariants", 1, "let", "cap", "from_scratch")]), expressions),
    st.tuples(st.sampled_from([("invariants", i, "id") for i in range(5)] + [("gates", 0, "id"), ("falsifiers", 0, "id"),
                               ("failure_modes", 0, "id"), ("falsifiers", 0, "invariant"), ("gates", 1, "invariants", 0)]),
              identifiers),
    st.tuples(st.sampled_from([("version",), ("changelog", 0, "version"), ("changelog", 1, "version"),
                               ("changelog", 2, "version")]), semvers),
    st.tuples(st.sampled_from([("params", name) for name in ("window", "tolerance", "strict_mode", "schedule", "new")]),
              params),
    st.tuples(st.sampled_from([("depends_on",)]), st.lists(st.sampled_from(["fuzz", "other", "x-y"]), max_size=3)),
    st.tuples(st.sampled_from([("invariants", i, "at") for i in range(5)]),
              st.sampled_from(["step_end", "epoch_end", "eval_end", "checkpoint", "resume", "run_end"])),
)


@FAST
@given(st.lists(MUTATIONS, min_size=1, max_size=4), st.sampled_from(["block", "flow"]))
def test_valid_contracts_with_random_parts(mutations: list[tuple[tuple, Any]], style: str) -> None:
    data = copy.deepcopy(BASE)
    for path, value in mutations:
        _set(data, path, value)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=(style == "flow"), width=80)
    check_diagnostics(load_and_validate(text.encode("utf-8")))


# --------------------------------------------------------------------------- the whole engine, on disk


@settings(derandomize=True, database=None, deadline=None, max_examples=40,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.binary(max_size=300), st.lists(st.sampled_from(TOKENS), max_size=40).map(
    lambda t: "".join(t).encode("utf-8", "surrogatepass"))), min_size=1, max_size=3))
def test_validate_paths_on_fuzzed_files(contents: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pyproject.toml").write_text("")
        (root / "contracts").mkdir()
        names = []
        for i, raw in enumerate(contents):
            (root / "contracts" / f"c{i}.yaml").write_bytes(raw)
            names.append(f"contracts/c{i}.yaml")
        (root / "contracts" / "ok.yaml").write_bytes((VALID / "minimal.yaml").read_bytes().replace(b"minimal", b"ok"))
        cwd = os.getcwd()
        os.chdir(root)
        try:
            report = validate_paths([Path("contracts")], ValidateOptions(root=root))
        finally:
            os.chdir(cwd)
        for d in report.diagnostics:
            assert d.code in CODES and d.line >= 0 and d.column >= 0
            assert d.file in names + ["contracts/ok.yaml"]
        assert report.diagnostics == sorted(report.diagnostics, key=lambda d: d.sort_key)


# --------------------------------------------------------------------------- the expression parser


@FAST
@given(st.one_of(st.text(max_size=200), st.lists(st.sampled_from(EXPRESSION_TOKENS), max_size=40).map("".join)))
def test_parse_expression_raises_only_expression_error(text: str) -> None:
    try:
        expr = parse_expression(text)
    except ExpressionError as exc:
        assert exc.code in CODES and exc.code.startswith("PV4"), exc.code
        assert 0 <= exc.offset <= len(text), (exc.offset, text)
        return
    normalized = unicodedata.normalize("NFKC", text)  # Python reads identifiers NFKC-normalized: 'ª' is 'a'
    for name, offset in expr.names.items():
        assert name in normalized
        assert 0 <= offset < len(text)
        assert unicodedata.normalize("NFKC", text[offset:offset + len(name) * 3]).startswith(name)


# --------------------------------------------------------------------------- expressions and lets, through the Monitor
#
# Contracts whose expressions are generated from the language's grammar, with long integer literals and
# chains of lets each multiplying the last: whatever `pv validate` lets through, the Monitor must evaluate
# in bounded time per evaluation, and every violation must print and be written to the ledger. (A chain of
# six lets, each the previous one to the tenth power, from a long literal, once made run_end never return.)

NUMBER_NAMES = ["val_loss", "train_loss", "epoch", "step", "cap", "n"]
BOOL_NAMES = ["stop_requested", "flag"]
long_integers = st.integers(1, 400).map(lambda k: "9" * k)
number_literals = st.one_of(st.sampled_from(["0", "1", "2.5", "1e-3", "1e308", "inf", "nan", "pi", "9007199254740993"]),
                            long_integers, st.integers(-10 ** 30, 10 ** 30).map(str))


def _number_expressions(names: list[str]) -> st.SearchStrategy[str]:
    leaf = st.one_of(number_literals, st.sampled_from(names), st.sampled_from(
        ["prev(val_loss)", "first(train_loss)", "window_mean(val_loss, 2)", "window_max(train_loss, n)"]))

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binary = st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "//", "%", "**"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})")
        unary = st.tuples(st.sampled_from(["ln", "exp", "sqrt", "abs", "floor", "ceil", "cos", "-"]), inner).map(
            lambda t: f"{t[0]}({t[1]})")
        pair = st.tuples(st.sampled_from(["min", "max"]), inner, inner).map(lambda t: f"{t[0]}({t[1]}, {t[2]})")
        choose = st.tuples(_bool_leaf(), inner, inner).map(lambda t: f"where({t[0]}, {t[1]}, {t[2]})")
        return binary | unary | pair | choose

    return st.recursive(leaf, extend, max_leaves=8)


def _bool_leaf() -> st.SearchStrategy[str]:
    return st.sampled_from(BOOL_NAMES + ["epoch > 0", "isfinite(val_loss)", "sched == 'cosine'", "true"])


def _bool_expressions(numbers: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    compare = st.tuples(numbers, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), numbers).map(" ".join)
    atom = compare | _bool_leaf() | numbers.map(lambda x: f"isnan({x})")
    return st.lists(atom, min_size=1, max_size=3).flatmap(
        lambda parts: st.sampled_from([" and ", " or "]).map(lambda op: op.join(f"({p})" for p in parts)))


@st.composite
def let_chains(draw: Any) -> list[tuple[str, str]]:
    """A chain v0, v1, ...: each the previous one multiplied by itself k times, or an expression reading it.

    Two times in three the chain is the hostile one: a long literal, then four to eight lets each
    the previous to a power of five to ten.
    """
    if draw(st.sampled_from([True, True, False])):
        lets = [("v0", "9" * draw(st.integers(20, 400)))]
        for i in range(1, draw(st.integers(4, 8)) + 1):
            lets.append((f"v{i}", " * ".join([f"v{i - 1}"] * draw(st.integers(5, 10)))))
        return lets
    lets = [("v0", draw(st.one_of(long_integers, _number_expressions(NUMBER_NAMES))))]
    for i in range(1, draw(st.integers(0, 8)) + 1):
        previous = f"v{i - 1}"
        if draw(st.booleans()):
            lets.append((f"v{i}", " * ".join([previous] * draw(st.integers(2, 10)))))
        else:
            lets.append((f"v{i}", draw(_number_expressions(NUMBER_NAMES + [previous]))))
    return lets


EXPRESSION_CONTRACT = """\
schema_version: 1
id: fuzz
version: 1.0.0
status: active
title: Generated expressions
params:
  cap: {{type: float, default: 2.5}}
  n: {{type: int, min: 1, max: 3, default: 2}}
  flag: {{type: bool, default: false}}
  sched: {{type: enum, values: [cosine, linear], default: cosine}}
changelog:
  - {{version: 1.0.0, date: 2026-01-01, summary: First}}
invariants:
  - id: INV-FUZZ-001
    title: Generated
    at: {at}
    when: {when}
    check: {check}
    on_violation: abort
    let:
{lets}
gates:
  - id: GATE-FUZZ-001
    invariants: [INV-FUZZ-001]
    ship_blocking: true
    evidence_discharged_by: [tests/test_x.py::test_ok]
"""
EVALUATION_BOUND_S = 0.5  # microseconds expected; generous for a shared CI machine


class _Deadline:
    """Interrupt a runaway evaluation (SIGALRM, between two bytecodes) so that it fails, instead of hanging the run."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        import signal

        def expired(signum: int, frame: Any) -> None:
            raise TimeoutError(f"an evaluation ran past {self.seconds} s")

        self.previous = signal.signal(signal.SIGALRM, expired)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc: Any) -> None:
        import signal

        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)


# No shrinking: an example that breaks the bound takes seconds, and shrinking would run hundreds of them.
@settings(derandomize=True, database=None, deadline=None, max_examples=100,
          phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
@given(let_chains(), st.data(), st.sampled_from(["epoch_end", "eval_end"]))
def test_the_monitor_evaluates_every_validated_expression_in_bounded_time(lets: list[tuple[str, str]], data: Any,
                                                                          at: str) -> None:
    import json
    import time
    import warnings

    from pvcontracts.runtime import ContractViolation, Monitor

    names = NUMBER_NAMES + [name for name, _ in lets]
    check = data.draw(_bool_expressions(_number_expressions(names)), label="check")
    when = data.draw(st.sampled_from([None, None, "generated"]).flatmap(  # mostly none, so every let is evaluated
        lambda kind: st.just("true") if kind is None else _bool_expressions(_number_expressions(NUMBER_NAMES))),
        label="when")
    text = EXPRESSION_CONTRACT.format(at=at, when=json.dumps(when), check=json.dumps(check),
                                      lets="\n".join(f"      {k}: {json.dumps(v)}" for k, v in lets))
    found = load_and_validate(text.encode("utf-8"))
    check_diagnostics(found)
    if any(d.severity.value == "error" for d in found):
        return
    contract = load_contract_bytes(text.encode("utf-8"), DISPLAY).contract
    with tempfile.TemporaryDirectory() as tmp:
        monitor = Monitor([contract], ledger=Path(tmp) / "ledger.jsonl")
        metrics = {"val_loss": 2.0, "train_loss": 1.5, "stop_requested": False}
        for epoch in range(3):
            start = time.perf_counter()
            try:
                with warnings.catch_warnings(), _Deadline(10 * EVALUATION_BOUND_S):
                    warnings.simplefilter("ignore")
                    getattr(monitor, at)(epoch=epoch, step=10 * epoch, **metrics)
            except ContractViolation as exc:
                assert str(exc) and "INV-FUZZ-001" in str(exc)  # the message prints, whatever the values
            elapsed = time.perf_counter() - start
            assert elapsed < EVALUATION_BOUND_S, (elapsed, text)
            metrics = {k: (v * 1.5 if isinstance(v, float) else v) for k, v in metrics.items()}
        monitor.close()
        for line in (Path(tmp) / "ledger.jsonl").read_text().splitlines():
            json.loads(line)  # every record written, every value in it representable
