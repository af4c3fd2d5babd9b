"""Static resolution of the pytest tests that contract gates and falsifiers name.

A gate that names a test which does not exist can never be discharged, and a
typo in a reference would otherwise only surface when the evidence run comes
back empty. ``pv validate`` therefore checks every reference up front, and it
does so *statically*: test modules are parsed with :mod:`ast`, never imported,
because importing runs arbitrary code, needs the project's dependencies, and is
far too slow for thousands of references.

A reference has the form ``path/to/test_file.py::Name[::Name...][param-id]``,
exactly the node id pytest prints, relative to the repository root. Checking
one means, in order:

* its form (PV301) and that its path stays inside the repository (PV302);
* that the file exists (PV303) and parses (PV307);
* that each name is defined where the reference says (PV304), following
  base classes defined in the same file for inherited test methods;
* that pytest would collect it under its default rules (PV306, a warning: the
  test exists, but running the reference would select nothing);
* that a ``[param-id]`` is one pytest can produce (PV305). When every
  ``parametrize`` mark involved is literal, the ids are computed with pytest's
  own rules (see :func:`_parametrize_spec`); anything computed at run time
  makes every id acceptable, since a static checker must not report errors it
  cannot prove.

Each file is read, hashed and parsed at most once per :class:`TestResolver`;
the per-file :class:`TestIndex` is plain JSON so callers can persist it keyed
by the file's SHA-256 and skip parsing on the next run.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import itertools
import os
import re
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence, Union

__all__ = [
    "INDEX_FORMAT",
    "RefProblem",
    "TestIndex",
    "TestRef",
    "TestResolver",
    "index_test_source",
    "parse_test_ref",
]

#: Version of the JSON written by :meth:`TestIndex.to_json`. Bump it whenever
#: the layout or the meaning of an index changes, so that persisted caches made
#: by an older pv-contracts are re-parsed instead of trusted.
INDEX_FORMAT = 1

EXPECTED_FORM = (
    "write it as path/to/test_file.py::test_name, path/to/test_file.py::TestClass::test_method "
    "or path/to/test_file.py::test_name[param-id], relative to the repository root"
)

# pytest's "short" strategy (the default since pytest 9) gives str/bytes values
# longer than this an ``argname<index>`` id, older pytest used the value itself:
# such ids depend on the pytest version and configuration, so they are not checked.
_LONG_STR_LIMIT = 100
# How many parametrize combinations are spelled out to find a did-you-mean.
_MAX_SUGGESTION_IDS = 2000


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class RefProblem:
    """One thing wrong with a test reference; the caller adds file and line of the contract."""

    code: str
    message: str
    hint: str | None = None


@dataclass(frozen=True)
class TestRef:
    """A syntactically valid reference, split into its parts.

    ``path`` is lexically normalised (``a/../b.py`` becomes ``b.py``) and is
    the key used for the file cache and :meth:`TestResolver.file_digests`.
    """

    __test__ = False  # not a pytest test class, even when imported into a test module

    ref: str
    path: str
    names: tuple[str, ...]
    param_id: str | None


# --------------------------------------------------------------------------- reference syntax


def _malformed(ref: str, why: str, hint: str | None = None) -> RefProblem:
    return RefProblem("PV301", f"malformed test reference {ref!r}: {why}", hint or EXPECTED_FORM)


def _escapes(ref: str, why: str) -> RefProblem:
    return RefProblem(
        "PV302",
        f"test reference {ref!r} points outside the repository: {why}",
        "test paths must be relative to the repository root and stay inside it, "
        "e.g. tests/test_x.py::test_name",
    )


_BAD_CHAR = re.compile(r"[\s\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_BAD_CHAR_IN_ID = re.compile(r"[^\S ]|[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # a plain space is allowed


def _bad_char(text: str, allow_space: bool = False) -> str | None:
    """Describe the first whitespace, control or surrogate character in ``text`` (None when clean)."""
    found = (_BAD_CHAR_IN_ID if allow_space else _BAD_CHAR).search(text)
    if found is None:
        return None
    ch = found.group()
    if ch.isspace():
        return f"whitespace ({ch!r})"
    if 0xD800 <= ord(ch) <= 0xDFFF:
        return f"the lone surrogate {ch!r}"
    return f"the control character {ch!r}"


def parse_test_ref(ref: str) -> TestRef | RefProblem:
    """Split ``ref`` into path, names and parameter id, or say why it is malformed.

    Only the syntax and the lexical path are checked here (PV301, PV302); the
    file system is not touched, so this is also what other parts of the tool use
    to turn a reference into a pytest node id.
    """
    if not isinstance(ref, str):
        return _malformed(repr(ref), f"expected a string, got {type(ref).__name__}")
    if not ref:
        return _malformed(ref, "it is empty")
    sep = ref.find("::")
    if sep < 0:
        hint = EXPECTED_FORM
        if ref.endswith(".py"):
            hint = f"name the test inside the file, e.g. {ref}::test_name"
        return _malformed(ref, "it has no '::' separating the file from the test name", hint)
    path, rest = ref[:sep], ref[sep + 2:]

    param_id: str | None = None
    bracket = rest.find("[")
    if bracket >= 0:
        if not rest.endswith("]"):
            return _malformed(ref, "the parameter id must end the reference with ']'")
        param_id = rest[bracket + 1:-1]  # may be empty: pytest.param(..., id="") gives "name[]"
        rest = rest[:bracket]
        bad = _bad_char(param_id, allow_space=True)
        if bad:
            return _malformed(ref, f"the parameter id contains {bad}",
                              "pytest escapes tabs, newlines and control characters in ids (\\t, \\n, \\x01)")
    elif "]" in rest:
        return _malformed(ref, "it has a ']' without a matching '['")

    for part, what in ((path, "path"), (rest, "test name")):
        bad = _bad_char(part)
        if bad:
            return _malformed(ref, f"the {what} contains {bad}")

    names = tuple(rest.split("::"))
    for name in names:
        if not name:
            return _malformed(ref, "it has an empty test name (a stray or doubled '::')")
        if not name.isidentifier():
            return _malformed(ref, f"{name!r} is not a Python identifier")

    if "\\" in path:
        return _malformed(ref, "the path contains a backslash",
                          f"use '/' to separate directories: {path.replace(chr(92), '/')}::{'::'.join(names)}")
    if not path:
        return _malformed(ref, "the path before '::' is empty")
    if path.startswith("/") or (len(path) >= 2 and path[1] == ":" and path[0].isalpha()):
        return _escapes(ref, f"{path!r} is an absolute path")
    segments = path.split("/")
    if not segments[-1].endswith(".py") or segments[-1] == ".py":
        return _malformed(ref, f"{path!r} is not a Python file (it must end in .py)")
    normal: list[str] = []
    for seg in segments:
        if seg == "":
            return _malformed(ref, f"the path {path!r} has an empty directory name ('//' or a trailing '/')")
        if seg == ".":
            canonical = "/".join(s for s in segments if s != ".")
            return _malformed(ref, f"the path {path!r} contains a '.' segment",
                              f"pytest node ids never contain './'; write {canonical}::{'::'.join(names)}")
        if seg == "..":
            if not normal:
                return _escapes(ref, f"'..' in {path!r} leaves the repository root")
            normal.pop()
        else:
            normal.append(seg)
    return TestRef(ref, "/".join(normal), names, param_id)


# --------------------------------------------------------------------------- the per-file index


@dataclass(frozen=True, slots=True)
class _Param:
    """One parametrize mark: the ids it yields in order, or None when they are only known at run time."""

    ids: tuple[str, ...] | None
    line: int


@dataclass(frozen=True, slots=True)
class _Func:
    line: int
    is_async: bool
    args: tuple[str, ...]
    params: tuple[_Param, ...]  # closest decorator first, the order pytest applies them
    fixture: bool


@dataclass(frozen=True, slots=True)
class _Class:
    line: int
    bases: tuple[str, ...]  # dotted names as written; "?" for anything else
    members: dict[str, "_Member"]
    params: tuple[_Param, ...]  # body ``pytestmark`` then decorators closest first
    test_attr: bool | None  # a literal ``__test__`` in the body (None: not set or not literal)


@dataclass(frozen=True, slots=True)
class _Other:
    """A name bound by an import or an assignment: it exists, but what it is cannot be seen."""

    line: int


_Member = Union[_Func, _Class, _Other]
# The classes a reference passes through, outermost first, each with its MRO
# (within this file) and the dotted names of bases defined elsewhere.
_Chain = list[tuple[_Class, list[_Class], list[str]]]


class _BadIndex(ValueError):
    """A cached index that does not have the expected shape."""


def _req(cond: bool, what: str) -> None:
    if not cond:
        raise _BadIndex(what)


def _str_tuple(data: Any, what: str) -> tuple[str, ...]:
    _req(isinstance(data, list) and all(isinstance(x, str) for x in data), what)
    return tuple(data)


def _int(data: Any, what: str) -> int:
    _req(isinstance(data, int) and not isinstance(data, bool), what)
    return int(data)


def _param_to_json(p: _Param) -> dict[str, Any]:
    return {"ids": None if p.ids is None else list(p.ids), "line": p.line}


def _param_from_json(data: Any) -> _Param:
    _req(isinstance(data, dict), "param")
    ids = data.get("ids")
    return _Param(None if ids is None else _str_tuple(ids, "param ids"), _int(data.get("line"), "param line"))


def _params_from_json(data: Any) -> tuple[_Param, ...]:
    _req(isinstance(data, list), "params")
    return tuple(_param_from_json(p) for p in data)


def _member_to_json(m: _Member) -> dict[str, Any]:
    if isinstance(m, _Func):
        return {"k": "f", "line": m.line, "async": m.is_async, "args": list(m.args),
                "params": [_param_to_json(p) for p in m.params], "fixture": m.fixture}
    if isinstance(m, _Class):
        return {"k": "c", "line": m.line, "bases": list(m.bases),
                "members": {n: _member_to_json(x) for n, x in m.members.items()},
                "params": [_param_to_json(p) for p in m.params], "test": m.test_attr}
    return {"k": "o", "line": m.line}


def _member_from_json(data: Any, depth: int = 0) -> _Member:
    _req(isinstance(data, dict) and depth < 200, "member")
    kind = data.get("k")
    line = _int(data.get("line"), "member line")
    if kind == "f":
        _req(isinstance(data.get("async"), bool) and isinstance(data.get("fixture"), bool), "function flags")
        return _Func(line, data["async"], _str_tuple(data.get("args"), "args"),
                     _params_from_json(data.get("params")), data["fixture"])
    if kind == "c":
        test_attr = data.get("test")
        _req(test_attr is None or isinstance(test_attr, bool), "class __test__")
        return _Class(line, _str_tuple(data.get("bases"), "bases"),
                      _members_from_json(data.get("members"), depth + 1),
                      _params_from_json(data.get("params")), test_attr)
    _req(kind == "o", "member kind")
    return _Other(line)


def _members_from_json(data: Any, depth: int = 0) -> dict[str, _Member]:
    _req(isinstance(data, dict), "members")
    out: dict[str, _Member] = {}
    for name, m in data.items():
        _req(isinstance(name, str), "member name")
        out[name] = _member_from_json(m, depth)
    return out


class TestIndex:
    """What a test file defines, derived from its AST; JSON-serialisable for an on-disk cache.

    It keeps only what checking a reference needs: the module's functions and
    classes (recursively for classes, never looking inside function bodies),
    their parametrize marks reduced to the ids they produce, and the handful of
    module facts that change what pytest collects. It holds nothing about the
    file's name, so one index serves every copy of the same content.
    """

    __test__ = False  # not a pytest test class, even when imported into a test module
    __slots__ = ("members", "params", "test_attr", "star_import", "generate_tests",
                 "param_fixtures", "error")

    def __init__(
        self,
        members: dict[str, _Member] | None = None,
        params: tuple[_Param, ...] = (),
        test_attr: bool | None = None,
        star_import: bool = False,
        generate_tests: bool = False,
        param_fixtures: frozenset[str] = frozenset(),
        error: tuple[str, int] | None = None,
    ) -> None:
        self.members: dict[str, _Member] = members if members is not None else {}
        self.params = params  # module ``pytestmark`` parametrize marks
        self.test_attr = test_attr  # a literal module-level ``__test__``
        self.star_import = star_import
        self.generate_tests = generate_tests  # the module defines pytest_generate_tests
        self.param_fixtures = param_fixtures  # fixtures defined here with params=
        self.error = error  # (message, line) when the source could not be parsed

    def __repr__(self) -> str:
        if self.error:
            return f"TestIndex(error={self.error!r})"
        return f"TestIndex({len(self.members)} names)"

    # ---- serialisation

    def to_json(self) -> dict[str, Any]:
        """A plain dict of lists, strings, ints, bools and None, for ``json.dump``."""
        return {
            "format": INDEX_FORMAT,
            "error": None if self.error is None else {"message": self.error[0], "line": self.error[1]},
            "members": {n: _member_to_json(m) for n, m in self.members.items()},
            "params": [_param_to_json(p) for p in self.params],
            "test": self.test_attr,
            "star_import": self.star_import,
            "generate_tests": self.generate_tests,
            "param_fixtures": sorted(self.param_fixtures),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TestIndex":
        """Rebuild an index from :meth:`to_json` output.

        Raises ValueError for anything else, including an index written by a
        different :data:`INDEX_FORMAT`: a cache is only an optimisation, so the
        caller should re-parse rather than trust a stale or damaged entry.
        """
        try:
            _req(isinstance(data, dict) and data.get("format") == INDEX_FORMAT, "index format")
            err = data.get("error")
            error: tuple[str, int] | None = None
            if err is not None:
                _req(isinstance(err, dict) and isinstance(err.get("message"), str), "error")
                error = (err["message"], _int(err.get("line"), "error line"))
            test_attr = data.get("test")
            _req(test_attr is None or isinstance(test_attr, bool), "module __test__")
            _req(isinstance(data.get("star_import"), bool) and isinstance(data.get("generate_tests"), bool),
                 "module flags")
            return cls(
                members=_members_from_json(data.get("members")),
                params=_params_from_json(data.get("params")),
                test_attr=test_attr,
                star_import=data["star_import"],
                generate_tests=data["generate_tests"],
                param_fixtures=frozenset(_str_tuple(data.get("param_fixtures"), "param_fixtures")),
                error=error,
            )
        except RecursionError as exc:
            raise _BadIndex("index nests too deeply") from exc

    # ---- queries

    def _scope_lookup(self, name: str, scopes: Sequence[dict[str, _Member]]) -> _Member | None:
        for scope in scopes:
            m = scope.get(name)
            if m is not None:
                return m
        return None

    def _mro(self, cls: _Class, scopes: tuple[dict[str, _Member], ...]) -> tuple[list[_Class], list[str]]:
        """Approximate the class's MRO from bases defined in this file.

        Returns the classes (the class itself first) and the dotted names of
        bases that are not classes of this file. Depth-first, left to right,
        keeping the last occurrence: the same order as C3 for the hierarchies
        tests use, without failing on inconsistent ones.
        """
        order: list[_Class] = []
        external: list[str] = []
        stack: set[int] = set()

        def visit(c: _Class, sc: tuple[dict[str, _Member], ...], depth: int) -> None:
            if id(c) in stack or depth > 50:
                return  # ``class A(A)`` after an earlier A: the earlier one is not in the index
            stack.add(id(c))
            order.append(c)
            for base in c.bases:
                found = self._scope_lookup(base, sc) if "." not in base else None
                if isinstance(found, _Class):
                    # A base found in scope k looks up its own bases from there outward.
                    k = next(i for i, s in enumerate(sc) if s.get(base) is found)
                    visit(found, sc[k:], depth + 1)
                elif base not in external:
                    external.append(base)
            stack.discard(id(c))

        visit(cls, scopes, 0)
        seen: set[int] = set()
        result: list[_Class] = []
        for c in reversed(order):
            if id(c) not in seen:
                seen.add(id(c))
                result.append(c)
        result.reverse()
        return result, external

    def _walk(self, names: Sequence[str], path: str) -> tuple[list[RefProblem], _Chain, _Member | None]:
        """Follow ``names`` through the index.

        Returns problems (PV304 stops the walk), the classes passed through with
        their MROs, and the final member (None when the walk stopped early or
        reached something opaque).
        """
        scopes: tuple[dict[str, _Member], ...] = (self.members,)
        chain: _Chain = []
        current: _Member | None = None
        for i, name in enumerate(names):
            if i == 0:
                current = self.members.get(name)
                if current is None:
                    return [self._missing_top(name, path)], chain, None
            else:
                cls, mro, external = chain[-1]
                current = next((c.members[name] for c in mro if name in c.members), None)
                if current is None:
                    return [self._missing_member(names[:i], name, mro, external, path)], chain, None
            if isinstance(current, _Other):
                return [], chain, None  # imported or assigned: exists, contents unknown
            if isinstance(current, _Func) and i < len(names) - 1:
                return [RefProblem(
                    "PV304",
                    f"test '{names[i + 1]}' not found in {path}: '{'::'.join(names[:i + 1])}' is a function, "
                    "not a class, so nothing can be named inside it",
                    f"reference the function itself: {path}::{'::'.join(names[:i + 1])}",
                )], chain, None
            if isinstance(current, _Class):
                # Class bodies do not enclose each other, but base names in a nested
                # class body are looked up in the body that contains it.
                holder = scopes if i == 0 else (chain[-1][0].members,) + scopes
                mro, external = self._mro(current, holder)
                chain.append((current, mro, external))
        return [], chain, current

    def _missing_top(self, name: str, path: str) -> RefProblem:
        candidates = [n for n, m in self.members.items() if not isinstance(m, _Other) or n.startswith(("test", "Test"))]
        hint = _did_you_mean(name, candidates)
        if hint is None and self.star_import:
            hint = "the file has a 'from ... import *', whose names cannot be checked statically"
        if hint is None:
            tests = sorted(n for n, m in self.members.items()
                           if isinstance(m, (_Func, _Class)) and n.startswith(("test", "Test")))
            hint = _listing("tests in this file", tests) if tests else "the file defines no test functions or classes"
        return RefProblem("PV304", f"test '{name}' not found in {path}", hint)

    def _missing_member(self, owner: Sequence[str], name: str, mro: list[_Class], external: list[str],
                        path: str) -> RefProblem:
        candidates: list[str] = []
        for c in mro:
            candidates.extend(n for n in c.members if n not in candidates)
        hint = _did_you_mean(name, candidates)
        if hint is None and external:
            shown = ", ".join(f"'{b}'" for b in external[:3])
            hint = (f"'{owner[-1]}' also inherits from {shown}, not defined in this file; "
                    "methods inherited from there cannot be checked statically")
        if hint is None:
            tests = [n for n in candidates if n.startswith(("test", "Test"))]
            hint = _listing(f"tests in '{owner[-1]}'", tests) if tests else f"'{owner[-1]}' defines no tests"
        return RefProblem("PV304", f"test '{name}' not found in class '{'::'.join(owner)}' in {path}", hint)

    def check(self, names: Sequence[str], param_id: str | None, path: str) -> list[RefProblem]:
        """Problems with ``names`` (and ``param_id``) as a reference into this file, shown as ``path``."""
        if self.error is not None:
            msg, line = self.error
            where = f" (line {line})" if line else ""
            return [RefProblem("PV307", f"cannot parse test file {path}: {msg}{where}",
                               "fix the syntax error; pv parses test files with the running Python's parser")]
        problems, chain, target = self._walk(names, path)
        if problems or target is None:
            return problems
        problems.extend(self._collection_problems(names, chain, target, path))
        if param_id is not None:
            problems.extend(self._param_problems(names, param_id, chain, target, path))
        return problems

    def _collection_problems(self, names: Sequence[str], chain: _Chain,
                             target: _Member, path: str) -> list[RefProblem]:
        """PV306 for the first step of the reference that pytest's default rules would skip."""
        def warn(what: str, why: str, hint: str) -> list[RefProblem]:
            return [RefProblem("PV306", f"{what} in {path} would not be collected by pytest: {why}", hint)]

        if self.test_attr is False:
            return warn(f"'{'::'.join(names)}'", "the module sets __test__ = False",
                        "remove __test__ = False or reference a test in another module")
        unittest_like = False
        for depth, (cls, mro, external) in enumerate(chain):
            label = f"class '{'::'.join(names[:depth + 1])}'"
            test_attr = next((c.test_attr for c in mro if c.test_attr is not None), None)
            unittest_like = any(b.rsplit(".", 1)[-1].endswith("TestCase") for b in external)
            if test_attr is False:
                return warn(label, "it (or a base class) sets __test__ = False",
                            "remove __test__ = False or reference a subclass that sets __test__ = True")
            if unittest_like:
                continue  # unittest.TestCase subclasses are collected whatever their name
            if test_attr is not True and not names[depth].startswith("Test"):
                return warn(label, "class names must start with 'Test'",
                            f"rename it to 'Test{names[depth]}' or set __test__ = True in its body")
            if any("__init__" in c.members or "__new__" in c.members for c in mro):
                return warn(label, "it has an __init__ (or __new__) constructor",
                            "test classes must not define __init__; use fixtures or setup_method instead")
        if isinstance(target, _Func):
            label = f"'{'::'.join(names)}'"
            if target.fixture:
                return warn(label, "it is a fixture, not a test", "reference a test that uses the fixture")
            if not names[-1].startswith("test"):
                return warn(label, "test function names must start with 'test'",
                            f"rename it to 'test_{names[-1]}' or reference the test that calls it")
        return []

    def _stacked_params(self, chain: _Chain,
                        target: _Func) -> tuple[list[_Param], bool]:
        """All parametrize marks that apply to ``target``, in pytest's order, and whether ids are opaque.

        pytest applies the function's marks (closest decorator first), then
        each enclosing class's marks from the innermost out (for each class,
        its bases' marks before its own, as ``get_unpacked_marks`` walks the
        reversed MRO), then the module's ``pytestmark``. Each mark contributes
        the next '-'-joined part of the id.
        """
        stacked: list[_Param] = list(target.params)
        opaque = self.generate_tests or bool(self.param_fixtures.intersection(target.args))
        for cls, mro, external in reversed(chain):
            for c in reversed(mro):
                stacked.extend(c.params)
            if any("pytest_generate_tests" in c.members for c in mro):
                opaque = True
        stacked.extend(self.params)
        return stacked, opaque

    def param_ids(self, names: Sequence[str]) -> list[str] | None:
        """Every id pytest would give the test ``names`` (its ``[...]`` suffixes), in collection order.

        ``[]`` when the test is not parametrized; None when the ids cannot be
        known statically (or the names do not lead to a function). The list can
        be large for stacked marks: it is the product of theirs.
        """
        if self.error is not None:
            return None
        problems, chain, target = self._walk(names, "")
        if problems or not isinstance(target, _Func):
            return None
        stacked, opaque = self._stacked_params(chain, target)
        if opaque or any(p.ids is None for p in stacked):
            return None
        if not stacked:
            return []
        # Each mark multiplies the cases so far by its own, the earlier mark varying slowest.
        return ["-".join(c) for c in itertools.product(*(p.ids or () for p in stacked))]

    def _param_problems(self, names: Sequence[str], param_id: str,
                        chain: _Chain, target: _Member,
                        path: str) -> list[RefProblem]:
        label = "::".join(names)
        if isinstance(target, _Class):
            return [RefProblem("PV305", f"'{label}' in {path} is a class; the parameter id '[{param_id}]' "
                               "can only follow a test function",
                               f"name a test method: {path}::{label}::test_name[{param_id}]")]
        if not isinstance(target, _Func):
            return []
        stacked, opaque = self._stacked_params(chain, target)
        if not stacked and not opaque:
            return [RefProblem(
                "PV305",
                f"'{label}' in {path} is not parametrized, so it has no case '[{param_id}]'",
                f"drop '[{param_id}]' to reference the test, or add @pytest.mark.parametrize to it "
                "(parametrize marks applied through names imported from elsewhere, or fixtures with params "
                "from conftest.py, cannot be seen statically)",
            )]
        if opaque or any(p.ids is None for p in stacked):
            return []
        id_sets = [frozenset(p.ids or ()) for p in stacked]
        if _id_matches(param_id, id_sets):
            return []
        suggestions: list[str] = []
        for combo in itertools.islice(itertools.product(*(p.ids or () for p in stacked)), _MAX_SUGGESTION_IDS):
            suggestions.append("-".join(combo))
        hint = _did_you_mean(param_id, suggestions)
        if hint is None:
            hint = _listing("its ids", suggestions) if suggestions else "its parametrize marks produce no ids"
        return [RefProblem("PV305", f"parameter id '[{param_id}]' is not one that '{label}' in {path} produces",
                           hint)]


def _id_matches(target: str, id_sets: Sequence[frozenset[str]]) -> bool:
    """Whether ``target`` splits as ``id1-id2-...`` with each part from the matching set.

    Ids may themselves contain '-', so every '-' is a possible split point;
    memoised on (mark, offset) so stacked marks never explode.
    """
    last = len(id_sets) - 1
    failed: set[tuple[int, int]] = set()

    def match(k: int, pos: int) -> bool:
        if k == last:
            return target[pos:] in id_sets[k]
        if (k, pos) in failed:
            return False
        dash = target.find("-", pos)
        while dash >= 0:
            if target[pos:dash] in id_sets[k] and match(k + 1, dash + 1):
                return True
            dash = target.find("-", dash + 1)
        failed.add((k, pos))
        return False

    return match(0, 0)


def _did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """'did you mean ...?' naming the closest candidates, or None when nothing is close.

    Test names share long prefixes ('test_'), which makes unrelated names look
    alike to difflib; only suggestions nearly as close as the best one are kept.
    """
    close = difflib.get_close_matches(word, list(candidates), n=3, cutoff=0.6)
    if not close:
        return None
    ratio = lambda c: difflib.SequenceMatcher(None, word, c).ratio()  # noqa: E731
    best = ratio(close[0])
    close = [c for c in close if ratio(c) >= best - 0.1]
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"


def _listing(what: str, items: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(f"'{x}'" for x in items[:limit])
    more = f" (and {len(items) - limit} more)" if len(items) > limit else ""
    return f"{what}: {shown}{more}"


# --------------------------------------------------------------------------- building an index


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, the callee's for a call, None otherwise."""
    if isinstance(node, ast.Call):
        node = node.func
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _is_parametrize(dotted: str) -> bool:
    return dotted == "parametrize" or dotted.endswith(".mark.parametrize") or dotted == "mark.parametrize"


def _is_fixture(dotted: str) -> bool:
    return dotted == "fixture" or dotted.endswith(".fixture")


_NON_PRINTABLE = {i: f"\\x{i:02x}" for i in range(128) if i not in range(32, 127)}
_NON_PRINTABLE.update({ord("\t"): "\\t", ord("\r"): "\\r", ord("\n"): "\\n"})


def _ascii_escaped(val: str | bytes) -> str:
    """pytest's ``_pytest.compat.ascii_escaped``: how a str/bytes appears in a test id."""
    if isinstance(val, bytes):
        ret = val.decode("ascii", "backslashreplace")
    else:
        ret = val.encode("unicode_escape").decode("ascii")
    return ret.translate(_NON_PRINTABLE)


class _Unknown(Exception):
    """Raised inside id computation when a value is only known at run time."""


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError, OverflowError) as exc:
        raise _Unknown from exc


def _value_id(node: ast.expr, argname: str, idx: int) -> str:
    """The id pytest generates for one value (``IdMaker._idval`` without a hook or idfn)."""
    value = _literal(node)
    if isinstance(value, (str, bytes)):
        if len(value) > _LONG_STR_LIMIT:
            raise _Unknown  # depends on the pytest version and parametrize_long_str_id_strategy
        return _ascii_escaped(value)
    if value is None or isinstance(value, (bool, int, float, complex)):
        return str(value)
    return f"{argname}{idx}"  # tuples, lists, dicts, sets: no id of their own


def _explicit_id(node: ast.expr) -> str | None:
    """An entry of ``ids=[...]`` (``IdMaker._idval_from_value_required``); None means 'generate'."""
    value = _literal(node)
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        return _ascii_escaped(value)
    if isinstance(value, (bool, int, float, complex)):
        return str(value)
    raise _Unknown  # a collection error in pytest; do not second-guess it


def _unique_ids(ids: list[str]) -> list[str]:
    """pytest's ``IdMaker.make_unique_parameterset_ids`` (pytest >= 8) for duplicate ids.

    Duplicates get a counter suffix, with '_' before it when the id ends in a
    digit ('1' -> '1_0', '1_1'; 'a' -> 'a0', 'a1'), skipping suffixed ids that
    another parameter set already has.
    """
    counts = Counter(ids)
    if len(counts) == len(ids):
        return ids
    result = list(ids)
    present = Counter(ids)  # the ids as they stand while renaming, as pytest's set(resolved_ids)
    suffixes: dict[str, int] = {}
    for index, i in enumerate(ids):
        if counts[i] > 1:
            sep = "_" if i and i[-1].isdigit() else ""
            n = suffixes.get(i, 0)
            new = f"{i}{sep}{n}"
            while present[new] > 0:
                n += 1
                new = f"{i}{sep}{n}"
            present[i] -= 1
            present[new] += 1
            result[index] = new
            suffixes[i] = n + 1
    return result


def _parametrize_spec(call: ast.Call) -> _Param:
    """The ids one ``parametrize(...)`` call produces, or ``ids=None`` when not fully literal.

    Mirrors ``ParameterSet._for_parametrize`` and ``IdMaker``: argnames as a
    comma-separated string (one name and no trailing comma means each value is
    the single argument) or a list/tuple of strings; each value set's id is its
    ``pytest.param(id=...)``, else its ``ids=[...]`` entry, else its values'
    ids joined with '-'; then duplicates are made unique.
    """
    line = call.lineno
    try:
        args = call.args
        kws = {k.arg: k.value for k in call.keywords}
        if any(isinstance(a, ast.Starred) for a in args) or None in kws:
            raise _Unknown
        argnames_node = args[0] if len(args) > 0 else kws.get("argnames")
        argvalues_node = args[1] if len(args) > 1 else kws.get("argvalues")
        ids_node = args[3] if len(args) > 3 else kws.get("ids")
        if argnames_node is None or argvalues_node is None:
            raise _Unknown

        if isinstance(argnames_node, ast.Constant) and isinstance(argnames_node.value, str):
            raw = argnames_node.value
            argnames = [x.strip() for x in raw.split(",") if x.strip()]
            force_tuple = len(argnames) == 1 and not raw.rstrip().endswith(",")
        elif isinstance(argnames_node, (ast.List, ast.Tuple)) and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in argnames_node.elts):
            argnames = [e.value for e in argnames_node.elts]  # type: ignore[attr-defined]
            force_tuple = False
        else:
            raise _Unknown
        if not argnames or not isinstance(argvalues_node, (ast.List, ast.Tuple)):
            raise _Unknown
        elements = argvalues_node.elts
        if not elements or any(isinstance(e, ast.Starred) for e in elements):
            raise _Unknown  # empty sets get a version-dependent placeholder id

        sets: list[tuple[list[ast.expr], str | None]] = []
        for element in elements:
            if isinstance(element, ast.Call) and _dotted(element) in ("pytest.param", "param"):
                pkws = {k.arg: k.value for k in element.keywords}
                if any(isinstance(a, ast.Starred) for a in element.args) or None in pkws:
                    raise _Unknown
                values = list(element.args)
                id_node = pkws.get("id")
                explicit: str | None = None
                if id_node is not None:
                    if not isinstance(id_node, ast.Constant) or not isinstance(id_node.value, (str, type(None))):
                        raise _Unknown  # pytest.HIDDEN_PARAM, a variable, or a TypeError at collection
                    explicit = None if id_node.value is None else _ascii_escaped(id_node.value)
            elif force_tuple:
                values, explicit = [element], None
            elif isinstance(element, (ast.Tuple, ast.List)) and not any(
                    isinstance(e, ast.Starred) for e in element.elts):
                values, explicit = list(element.elts), None
            else:
                raise _Unknown
            if len(values) != len(argnames):
                raise _Unknown  # pytest fails collection; that is not ours to report
            sets.append((values, explicit))

        explicit_ids: list[str | None] | None = None
        if ids_node is not None and not (isinstance(ids_node, ast.Constant) and ids_node.value is None):
            if not isinstance(ids_node, (ast.List, ast.Tuple)):
                raise _Unknown  # a callable or a computed iterable
            if ids_node.elts:  # ids=[] is treated as no ids (pytest issue #1849)
                if len(ids_node.elts) != len(sets):
                    raise _Unknown
                explicit_ids = [_explicit_id(e) for e in ids_node.elts]

        ids: list[str] = []
        for idx, (values, explicit) in enumerate(sets):
            if explicit is not None:
                ids.append(explicit)
            elif explicit_ids is not None and explicit_ids[idx] is not None:
                ids.append(explicit_ids[idx])  # type: ignore[arg-type]
            else:
                ids.append("-".join(_value_id(v, n, idx) for v, n in zip(values, argnames)))
        return _Param(tuple(_unique_ids(ids)), line)
    except (_Unknown, ValueError, TypeError, RecursionError, MemoryError):
        # ValueError: e.g. str() of an int past sys.get_int_max_str_digits(), which fails
        # pytest's collection as well; either way no id can be promised.
        return _Param(None, line)


class _Scope:
    """Names bound while scanning one body (the module or a class)."""

    __slots__ = ("members", "marks", "test_attr", "aliases")

    def __init__(self) -> None:
        self.members: dict[str, _Member] = {}
        self.marks: list[_Param] = []  # from ``pytestmark``
        self.test_attr: bool | None = None
        self.aliases: dict[str, tuple[_Param, ...]] = {}  # names assigned a mark (or list of marks)


class _Builder:
    """One pass over module-level statements and class bodies; function bodies are never visited."""

    def __init__(self) -> None:
        self.star_import = False
        self.generate_tests = False
        self.param_fixtures: set[str] = set()

    def marks(self, expr: ast.expr, scopes: Sequence[_Scope], depth: int = 0) -> tuple[_Param, ...]:
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
            out: list[_Param] = []
            for e in expr.elts:
                out.extend(self.marks(e, scopes, depth + 1))
            return tuple(out)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            return self.marks(expr.left, scopes, depth + 1) + self.marks(expr.right, scopes, depth + 1)
        dotted = _dotted(expr)
        if dotted is None:
            return ()
        if isinstance(expr, ast.Name):
            for scope in scopes:
                if expr.id in scope.aliases:
                    return scope.aliases[expr.id]
        if isinstance(expr, ast.Call) and _is_parametrize(dotted):
            return (_parametrize_spec(expr),)
        if "param" in dotted.lower():
            return (_Param(None, getattr(expr, "lineno", 0)),)
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
                    scope.members[name] = _Other(node.lineno)
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
                    scope.members[t.id] = _Other(t.lineno)
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
            scope.members[name] = _Other(target.lineno)

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, scopes: Sequence[_Scope]) -> _Func:
        params: list[_Param] = []
        fixture = False
        for deco in reversed(node.decorator_list):  # closest to the def first, as pytest stores marks
            dotted = _dotted(deco)
            if dotted is not None and _is_fixture(dotted):
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
        return _Func(node.lineno, isinstance(node, ast.AsyncFunctionDef), args, tuple(params), fixture)

    def klass(self, node: ast.ClassDef, scopes: Sequence[_Scope]) -> _Class:
        scope = _Scope()
        self.scan(node.body, scope, (scope, *scopes))
        params = list(scope.marks)  # the body's pytestmark list comes first ...
        for deco in reversed(node.decorator_list):  # ... then decorators, closest first
            params.extend(self.marks(deco, scopes))
        bases = tuple("?" if isinstance(b, ast.Call) else (_dotted(b) or "?") for b in node.bases)
        return _Class(node.lineno, bases, scope.members, tuple(params), scope.test_attr)


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


@dataclass(frozen=True)
class _Loaded:
    digest: str
    index: TestIndex


class TestResolver:
    """Resolves test references against the files under one repository root.

    Files are read, hashed and parsed at most once per resolver, however many
    references name them; ``index_cache`` (SHA-256 hex digest ->
    :meth:`TestIndex.to_json`) is consulted before parsing and filled after,
    so a caller that persists it skips parsing unchanged files next time.
    """

    __test__ = False  # not a pytest test class, even when imported into a test module

    def __init__(self, root: Path, index_cache: dict[str, dict] | None = None) -> None:
        self.root = Path(root)
        self.index_cache: dict[str, dict] = index_cache if index_cache is not None else {}
        self._root_real = os.path.realpath(self.root)
        self._root_prefix = self._root_real if self._root_real.endswith(os.sep) else self._root_real + os.sep
        self._by_path: dict[str, _Loaded | RefProblem] = {}  # normalised ref path -> file or its problem
        self._by_real: dict[str, _Loaded] = {}  # real path -> file, so symlinked copies are read once
        self._digests: dict[str, str] = {}
        self._listings: dict[str, list[str] | None] = {}

    def resolve(self, ref: str) -> list[RefProblem]:
        """Problems with ``ref``; ``[]`` when it names a test that exists."""
        parsed = parse_test_ref(ref)
        if isinstance(parsed, RefProblem):
            return [parsed]
        loaded = self._by_path.get(parsed.path)
        if loaded is None:
            loaded = self._load(parsed)
            self._by_path[parsed.path] = loaded
        if isinstance(loaded, RefProblem):
            return [loaded]
        return loaded.index.check(parsed.names, parsed.param_id, parsed.path)

    def file_digests(self) -> dict[str, str]:
        """Repository-relative posix path -> SHA-256 hex digest of every test file read so far."""
        return dict(self._digests)

    def index_for(self, path: str) -> TestIndex | None:
        """The index of a test file already read by :meth:`resolve` (None if not read or unreadable)."""
        loaded = self._by_path.get(path)
        return loaded.index if isinstance(loaded, _Loaded) else None

    # ---- internals

    def _load(self, ref: TestRef) -> _Loaded | RefProblem:
        full = os.path.join(self._root_real, *ref.path.split("/"))
        try:
            real = os.path.realpath(full)
        except (OSError, ValueError) as exc:
            return RefProblem("PV303", f"test file {ref.path} cannot be read: {exc}", None)
        if real != self._root_real and not real.startswith(self._root_prefix):
            return RefProblem(
                "PV302",
                f"test file {ref.path} points outside the repository: it resolves through a "
                "symbolic link to a file outside the repository root",
                "reference the test where it lives inside the repository, or replace the link with the file",
            )
        cached = self._by_real.get(real)
        if cached is not None:
            self._digests[ref.path] = cached.digest
            return cached
        try:
            st = os.stat(real)
        except (FileNotFoundError, NotADirectoryError):
            return RefProblem("PV303", f"test file {ref.path} does not exist", self._file_hint(ref.path))
        except (OSError, ValueError) as exc:
            return RefProblem("PV303", f"test file {ref.path} cannot be read: {exc}", None)
        if not stat.S_ISREG(st.st_mode):
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            return RefProblem("PV303", f"test file {ref.path} is {kind}",
                              "a test reference must name a Python file")
        try:
            with open(real, "rb") as fh:
                data = fh.read()
        except (OSError, ValueError) as exc:
            return RefProblem("PV303", f"test file {ref.path} cannot be read: {exc}", None)
        digest = hashlib.sha256(data).hexdigest()
        index: TestIndex | None = None
        entry = self.index_cache.get(digest)
        if entry is not None:
            try:
                index = TestIndex.from_json(entry)
            except (ValueError, TypeError, AttributeError):
                index = None  # stale or damaged cache entry: parse again and overwrite it
        if index is None:
            index = index_test_source(data, ref.path)
            self.index_cache[digest] = index.to_json()
        loaded = _Loaded(digest, index)
        self._by_real[real] = loaded
        self._digests[ref.path] = digest
        return loaded

    def _file_hint(self, path: str) -> str | None:
        """Close file names in the same directory, or which directory is missing."""
        directory, _, name = path.rpartition("/")
        if directory not in self._listings:
            try:
                full = os.path.join(self._root_real, *directory.split("/")) if directory else self._root_real
                self._listings[directory] = sorted(
                    e for e in os.listdir(full) if e.endswith(".py"))
            except (OSError, ValueError):
                self._listings[directory] = None
        entries = self._listings[directory]
        if entries is None:
            return f"the directory '{directory}' does not exist"
        close = difflib.get_close_matches(name, entries, n=3, cutoff=0.6)
        if not close:
            return None
        prefix = f"{directory}/" if directory else ""
        return "did you mean " + " or ".join(f"'{prefix}{c}'" for c in close) + "?"
