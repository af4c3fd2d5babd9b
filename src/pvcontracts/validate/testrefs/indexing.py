"""Indexing a test file through its AST, without importing it.

Importing runs arbitrary code, needs the project's dependencies, and is far too
slow for thousands of references, so a test module is parsed with :mod:`ast`
and one pass over its module-level statements and class bodies (never function
bodies) records what it defines: :class:`~pvcontracts.validate.testrefs.index.TestIndex`.
Parametrize marks are reduced to their ids by
:mod:`~pvcontracts.validate.testrefs.parametrize`.
"""

from __future__ import annotations

import ast
import itertools
from typing import Sequence

from pvcontracts.validate.testrefs.index import TestIndex
from pvcontracts.validate.testrefs.parametrize import dotted, parametrize_spec
from pvcontracts.validate.testrefs.records import ClassInfo, FuncInfo, Member, OtherName, ParamMark

__all__ = ["index_test_source"]


def _is_parametrize(name: str) -> bool:
    return name == "parametrize" or name.endswith(".mark.parametrize") or name == "mark.parametrize"


def _is_fixture(name: str) -> bool:
    return name == "fixture" or name.endswith(".fixture")



class _Scope:
    """Names bound while scanning one body (the module or a class)."""

    __slots__ = ("members", "marks", "test_attr", "aliases")

    def __init__(self) -> None:
        self.members: dict[str, Member] = {}
        self.marks: list[ParamMark] = []  # from ``pytestmark``
        self.test_attr: bool | None = None
        self.aliases: dict[str, tuple[ParamMark, ...]] = {}  # names assigned a mark (or list of marks)


class _Builder:
    """One pass over module-level statements and class bodies; function bodies are never visited."""

    def __init__(self) -> None:
        self.star_import = False
        self.generate_tests = False
        self.param_fixtures: set[str] = set()

    def marks(self, expr: ast.expr, scopes: Sequence[_Scope], depth: int = 0) -> tuple[ParamMark, ...]:
        """The parametrize marks an expression (a decorator, ``pytestmark`` or an alias) stands for.

        A recognised ``parametrize(...)`` call is computed; a list of marks is
        flattened; a name assigned a mark earlier is followed. Anything else
        whose name mentions "param" (``parametrize_with_cases``, an imported
        ``params`` mark) may parametrize in ways we cannot see, so it yields an
        opaque mark that makes every id acceptable.
        """
        if depth > 8:
            return ()  # marks are never nested deeply; do not recurse into big data literals
        if isinstance(expr, (ast.List, ast.Tuple)):
            out: list[ParamMark] = []
            for e in expr.elts:
                out.extend(self.marks(e, scopes, depth + 1))
            return tuple(out)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            return self.marks(expr.left, scopes, depth + 1) + self.marks(expr.right, scopes, depth + 1)
        name = dotted(expr)
        if name is None:
            return ()
        if isinstance(expr, ast.Name):
            for scope in scopes:
                if expr.id in scope.aliases:
                    return scope.aliases[expr.id]
        if isinstance(expr, ast.Call) and _is_parametrize(name):
            return (parametrize_spec(expr),)
        if "param" in name.lower():
            return (ParamMark(None, getattr(expr, "lineno", 0)),)
        return ()

    def scan(self, body: Sequence[ast.stmt], scope: _Scope, scopes: Sequence[_Scope]) -> None:
        """Record what ``body`` binds into ``scope``; ``scopes`` is the lookup chain for mark aliases."""
        for node in body:
            kind = type(node)
            if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
                scope.members[node.name] = self.function(node, scopes)  # type: ignore[arg-type]
            elif kind is ast.ClassDef:
                scope.members[node.name] = self.klass(node, scopes)  # type: ignore[arg-type]
            elif kind is ast.Assign:
                for target in node.targets:  # type: ignore[attr-defined]
                    self.bind(target, node.value, scope, scopes, augmented=False)  # type: ignore[attr-defined]
            elif kind is ast.AnnAssign:
                if node.value is not None:  # type: ignore[attr-defined]
                    self.bind(node.target, node.value, scope, scopes, augmented=False)  # type: ignore[attr-defined]
            elif kind is ast.AugAssign:
                if isinstance(node.op, ast.Add):  # type: ignore[attr-defined]
                    self.bind(node.target, node.value, scope, scopes, augmented=True)  # type: ignore[attr-defined]
            elif kind is ast.Import or kind is ast.ImportFrom:
                for alias in node.names:  # type: ignore[attr-defined]
                    if alias.name == "*":
                        self.star_import = True
                        continue
                    name = alias.asname or alias.name.split(".")[0]
                    scope.members[name] = OtherName(node.lineno)
                    scope.aliases.pop(name, None)
            elif kind is ast.If:
                self.scan(node.body, scope, scopes)  # type: ignore[attr-defined]
                self.scan(node.orelse, scope, scopes)  # type: ignore[attr-defined]
            elif kind is ast.Try or kind.__name__ == "TryStar":
                self.scan(node.body, scope, scopes)  # type: ignore[attr-defined]
                for handler in node.handlers:  # type: ignore[attr-defined]
                    self.scan(handler.body, scope, scopes)
                self.scan(node.orelse, scope, scopes)  # type: ignore[attr-defined]
                self.scan(node.finalbody, scope, scopes)  # type: ignore[attr-defined]
            elif kind is ast.With or kind is ast.AsyncWith:
                self.scan(node.body, scope, scopes)  # type: ignore[attr-defined]

    def bind(self, target: ast.expr, value: ast.expr, scope: _Scope, scopes: Sequence[_Scope],
             augmented: bool) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:  # ``a, b = ...``: the names exist, their values are unknown
                if isinstance(t, ast.Name):
                    scope.members[t.id] = OtherName(t.lineno)
                    scope.aliases.pop(t.id, None)
            return
        if not isinstance(target, ast.Name):
            return
        name = target.id
        if name == "pytestmark":
            marks = list(self.marks(value, scopes))
            scope.marks = scope.marks + marks if augmented else marks
        elif name == "__test__" and not augmented:
            scope.test_attr = None
            if isinstance(value, ast.Constant):
                scope.test_attr = False if not value.value else (True if value.value is True else None)
        if not augmented:
            marks = self.marks(value, scopes)
            if marks:
                scope.aliases[name] = marks
            else:
                scope.aliases.pop(name, None)
        if name not in scope.members or not augmented:
            scope.members[name] = OtherName(target.lineno)

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, scopes: Sequence[_Scope]) -> FuncInfo:
        params: list[ParamMark] = []
        fixture = False
        for deco in reversed(node.decorator_list):  # closest to the def first, as pytest stores marks
            name = dotted(deco)
            if name is not None and _is_fixture(name):
                fixture = True
                if isinstance(deco, ast.Call):
                    kws = {k.arg: k.value for k in deco.keywords}
                    if "params" in kws:
                        alias = kws.get("name")
                        self.param_fixtures.add(
                            alias.value if isinstance(alias, ast.Constant) and isinstance(alias.value, str)
                            else node.name)
                continue
            params.extend(self.marks(deco, scopes))
        if node.name == "pytest_generate_tests" and len(scopes) == 1:
            self.generate_tests = True
        a = node.args
        args = tuple(x.arg for x in itertools.chain(a.posonlyargs, a.args, a.kwonlyargs))
        return FuncInfo(node.lineno, isinstance(node, ast.AsyncFunctionDef), args, tuple(params), fixture)

    def klass(self, node: ast.ClassDef, scopes: Sequence[_Scope]) -> ClassInfo:
        scope = _Scope()
        self.scan(node.body, scope, (scope, *scopes))
        params = list(scope.marks)  # the body's pytestmark list comes first ...
        for deco in reversed(node.decorator_list):  # ... then decorators, closest first
            params.extend(self.marks(deco, scopes))
        bases = tuple("?" if isinstance(b, ast.Call) else (dotted(b) or "?") for b in node.bases)
        return ClassInfo(node.lineno, bases, scope.members, tuple(params), scope.test_attr)


def _parse_error(exc: BaseException, source: bytes) -> tuple[str, int]:
    """(message, line) for a parse failure; line 0 when Python gives none and none can be found."""
    if isinstance(exc, SyntaxError) and exc.lineno:
        return (exc.msg or type(exc).__name__, exc.lineno)
    if isinstance(exc, (SyntaxError, ValueError)) and b"\0" in source:
        # Python 3.11 reports null bytes without a line (as ValueError before 3.11.4).
        return ("source code cannot contain null bytes", source[:source.index(b"\0")].count(b"\n") + 1)
    if isinstance(exc, SyntaxError):
        return (exc.msg or type(exc).__name__, 0)
    if isinstance(exc, RecursionError):
        return ("the code nests too deeply to parse", 0)
    return (f"{type(exc).__name__}: {exc}", 0)


def index_test_source(source: bytes, filename: str) -> TestIndex:
    """Index one test file's source without importing it.

    Never raises on bad input: a syntax error, null bytes, a bad encoding or
    pathological nesting gives an index that records the error (message and
    line) so that :meth:`TestIndex.check` reports PV307 for every reference
    into the file.
    """
    try:
        tree = ast.parse(source, filename=filename)
    except (SyntaxError, ValueError, RecursionError, UnicodeError, MemoryError, OverflowError) as exc:
        return TestIndex(error=_parse_error(exc, source))
    try:
        builder = _Builder()
        module = _Scope()
        builder.scan(tree.body, module, (module,))
    except RecursionError as exc:
        return TestIndex(error=_parse_error(exc, source))
    except Exception as exc:  # noqa: BLE001 - a bug here must not abort the whole validation run
        return TestIndex(error=(f"pv-contracts could not index this file (internal error: "
                                f"{type(exc).__name__}: {exc}); please report it", 0))
    return TestIndex(
        members=module.members,
        params=tuple(module.marks),
        test_attr=module.test_attr,
        star_import=builder.star_import,
        generate_tests=builder.generate_tests,
        param_fixtures=frozenset(builder.param_fixtures),
    )


# --------------------------------------------------------------------------- resolving references

