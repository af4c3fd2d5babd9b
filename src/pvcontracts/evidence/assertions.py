"""A cheap first line: a test a gate rests on that contains no assertion at all (PV310, a warning).

A test whose body is ``pass``, a docstring, ``assert True`` (or any assertion
of a constant, or of a non-empty tuple, which is always true), or that
returns before its first assertion can never fail on its own, yet it would
"pass". This check reads the test file with :mod:`ast` (nothing is imported
or run) and looks, in the test's reachable statements and in the helpers of
the same module it calls (transitively), for something that can fail:

* an ``assert`` whose condition is not a constant;
* a ``raise``;
* ``pytest.raises``, ``pytest.warns``, ``pytest.fail`` (as a call or ``with``);
* a call of anything named ``assert...`` (``self.assertEqual``,
  ``torch.testing.assert_close``, a project's ``assert_...`` helper).

Statements after an unconditional ``return`` in the same block are not
reached. A test that only calls imported code and relies on it raising is
flagged too: its evidence is the code's exception, which the mutation check
(:mod:`pvcontracts.evidence.mutation`) judges; this check only says that the
test itself asserts nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from pvcontracts.diagnostic import Diagnostic, Severity

# pytest calls that make a test fail, or keep it from passing (a skip is never evidence either)
_FAILING_CALLS = frozenset({"raises", "warns", "fail", "deprecated_call", "skip", "xfail", "importorskip"})
_MAX_DEPTH = 8


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _always_true(test: ast.expr) -> bool:
    if isinstance(test, ast.Constant):
        return bool(test.value)
    if isinstance(test, (ast.Tuple, ast.List, ast.Set)):
        return bool(test.elts)  # `assert (x, "message")` is a non-empty tuple: always true
    return False


class _Module:
    """One test module's functions and classes, to follow calls into same-module helpers."""

    def __init__(self, tree: ast.Module) -> None:
        self.functions: dict[str, ast.AST] = {}
        self.classes: dict[str, ast.ClassDef] = {}
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions[node.name] = node
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name] = node

    def method(self, cls: ast.ClassDef | None, name: str) -> ast.AST | None:
        if cls is None:
            return None
        return next((n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name),
                    None)


def _reachable(body: list[ast.stmt]) -> list[ast.stmt]:
    out = []
    for stmt in body:
        out.append(stmt)
        if isinstance(stmt, (ast.Return, ast.Continue, ast.Break)):
            break
    return out


def _walk_reachable(body: list[ast.stmt]) -> list[ast.AST]:
    """Every node in the reachable statements of a body; each nested block is cut at its own return."""
    nodes: list[ast.AST] = []
    stack: list[ast.AST] = list(reversed(_reachable(body)))
    while stack:
        node = stack.pop()
        nodes.append(node)
        children: list[ast.AST] = []
        for value in (v for _, v in ast.iter_fields(node)):
            if isinstance(value, list):
                if value and isinstance(value[0], ast.stmt):
                    children.extend(_reachable(value))
                else:
                    children.extend(v for v in value if isinstance(v, ast.AST))
            elif isinstance(value, ast.AST):
                children.append(value)
        stack.extend(reversed(children))
    return nodes


def _asserts(fn: ast.AST, module: _Module, cls: ast.ClassDef | None, seen: set[int], depth: int = 0) -> bool:
    if id(fn) in seen or depth > _MAX_DEPTH:
        return False
    seen.add(id(fn))
    body = getattr(fn, "body", [])
    for node in _walk_reachable(body):
        if isinstance(node, ast.Assert) and not _always_true(node.test):
            return True
        if isinstance(node, ast.Raise):
            return True
        if isinstance(node, ast.Call):
            called = _name(node.func)
            if called.startswith("assert") or called in _FAILING_CALLS:
                return True
            helper = None
            if isinstance(node.func, ast.Name):
                helper = module.functions.get(called)
            elif (isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
                  and node.func.value.id in ("self", "cls")):
                helper = module.method(cls, called)
            if helper is not None and _asserts(helper, module, cls, seen, depth + 1):
                return True
    return False


def can_fail(source: bytes, name: str) -> bool | None:
    """Whether the test ``name`` (``func`` or ``Class::method``, parameters stripped) can fail on its own;
    None when the file does not parse or has no such test (other checks report that)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    module = _Module(tree)
    parts = name.split("[", 1)[0].split("::")
    cls = None
    if len(parts) == 1:
        fn = module.functions.get(parts[0])
    else:
        cls = module.classes.get(parts[0])
        for inner in parts[1:-1]:  # nested classes
            cls = next((n for n in cls.body if isinstance(n, ast.ClassDef) and n.name == inner), None) if cls else None
        fn = module.method(cls, parts[-1])
    if fn is None:
        return None
    return _asserts(fn, module, cls, set())


def assertion_findings(binding: Any) -> list[Diagnostic]:
    """PV310 for every test a gate rests on that asserts nothing (graded by its contract's status)."""
    from pvcontracts.evidence.safefile import Gone, Refused, read_inside

    verdicts: dict[str, bool | None] = {}
    sources: dict[str, bytes | None] = {}

    def judge(ref: str) -> bool | None:
        if ref not in verdicts:
            tb = binding.tests.get(ref)
            if tb is None or tb.path is None or tb.missing is not None or "::" not in ref:
                verdicts[ref] = None
                return None
            if tb.path not in sources:
                try:
                    sources[tb.path] = read_inside(Path(binding.root), tb.path)
                except (Refused, Gone):
                    sources[tb.path] = None
            raw = sources[tb.path]
            verdicts[ref] = None if raw is None else can_fail(raw, ref.split("::", 1)[1])
        return verdicts[ref]

    out: list[Diagnostic] = []
    hint = ("assert what the contract says (evaluate its invariant and check the verdict), or remove the test "
            "from the gate")
    for gb in binding.gates:
        for j, ref in enumerate(gb.gate.evidence):
            if ref in gb.gate.evidence[:j] or judge(ref) is not False:
                continue
            d = gb.contract.diag("PV310", gb.gate.path + ("evidence_discharged_by", j),
                                 f"{gb.gate.id} rests on {ref}, which contains no assertion: it cannot fail", hint)
            out.append(d if gb.contract.status == "active" else d.with_severity(Severity.NOTE))
    for c in binding.contracts:
        for f in c.falsifiers:
            if judge(f.test) is not False:
                continue
            d = c.diag("PV310", f.path + ("test",), f"{f.id}'s test {f.test} contains no assertion: it cannot fail",
                       hint)
            out.append(d if c.status == "active" else d.with_severity(Severity.NOTE))
    return out
