"""A test file's index and the questions a reference asks of it.

:class:`TestIndex` keeps what checking a reference needs (the module's
functions and classes, recursively for classes, their parametrize marks reduced
to the ids they produce, and the module facts that change what pytest collects)
and answers: does this name exist (PV304), would pytest collect it (PV306), can
it produce this parameter id (PV305)? It is built by
:mod:`~pvcontracts.validate.testrefs.indexing` and cached as JSON by
:mod:`~pvcontracts.validate.testrefs.serial`.
"""

from __future__ import annotations

import difflib
import itertools
from typing import Any, Iterable, Sequence

from pvcontracts.validate.testrefs import serial
from pvcontracts.validate.testrefs.records import Chain, ClassInfo, FuncInfo, Member, OtherName, ParamMark
from pvcontracts.validate.testrefs.refs import RefProblem

__all__ = ["TestIndex"]

# How many parametrize combinations are spelled out to find a did-you-mean.
_MAX_SUGGESTION_IDS = 2000


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
        members: dict[str, Member] | None = None,
        params: tuple[ParamMark, ...] = (),
        test_attr: bool | None = None,
        star_import: bool = False,
        generate_tests: bool = False,
        param_fixtures: frozenset[str] = frozenset(),
        error: tuple[str, int] | None = None,
    ) -> None:
        self.members: dict[str, Member] = members if members is not None else {}
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
        return serial.dump(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TestIndex":
        """Rebuild an index from :meth:`to_json` output.

        Raises ValueError for anything else, including an index written by a
        different :data:`~pvcontracts.validate.testrefs.serial.INDEX_FORMAT`: a cache is only an
        optimisation, so the caller should re-parse rather than trust a stale or damaged entry.
        """
        return cls(**serial.load_fields(data))

    # ---- queries

    def _scope_lookup(self, name: str, scopes: Sequence[dict[str, Member]]) -> Member | None:
        for scope in scopes:
            m = scope.get(name)
            if m is not None:
                return m
        return None

    def _mro(self, cls: ClassInfo, scopes: tuple[dict[str, Member], ...]) -> tuple[list[ClassInfo], list[str]]:
        """Approximate the class's MRO from bases defined in this file.

        Returns the classes (the class itself first) and the dotted names of
        bases that are not classes of this file. Depth-first, left to right,
        keeping the last occurrence: the same order as C3 for the hierarchies
        tests use, without failing on inconsistent ones.
        """
        order: list[ClassInfo] = []
        external: list[str] = []
        stack: set[int] = set()

        def visit(c: ClassInfo, sc: tuple[dict[str, Member], ...], depth: int) -> None:
            if id(c) in stack or depth > 50:
                return  # ``class A(A)`` after an earlier A: the earlier one is not in the index
            stack.add(id(c))
            order.append(c)
            for base in c.bases:
                found = self._scope_lookup(base, sc) if "." not in base else None
                if isinstance(found, ClassInfo):
                    # A base found in scope k looks up its own bases from there outward.
                    k = next(i for i, s in enumerate(sc) if s.get(base) is found)
                    visit(found, sc[k:], depth + 1)
                elif base not in external:
                    external.append(base)
            stack.discard(id(c))

        visit(cls, scopes, 0)
        seen: set[int] = set()
        result: list[ClassInfo] = []
        for c in reversed(order):
            if id(c) not in seen:
                seen.add(id(c))
                result.append(c)
        result.reverse()
        return result, external

    def _walk(self, names: Sequence[str], path: str) -> tuple[list[RefProblem], Chain, Member | None]:
        """Follow ``names`` through the index.

        Returns problems (PV304 stops the walk), the classes passed through with
        their MROs, and the final member (None when the walk stopped early or
        reached something opaque).
        """
        scopes: tuple[dict[str, Member], ...] = (self.members,)
        chain: Chain = []
        current: Member | None = None
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
            if isinstance(current, OtherName):
                return [], chain, None  # imported or assigned: exists, contents unknown
            if isinstance(current, FuncInfo) and i < len(names) - 1:
                return [RefProblem(
                    "PV304",
                    f"test '{names[i + 1]}' not found in {path}: '{'::'.join(names[:i + 1])}' is a function, "
                    "not a class, so nothing can be named inside it",
                    f"reference the function itself: {path}::{'::'.join(names[:i + 1])}",
                )], chain, None
            if isinstance(current, ClassInfo):
                # Class bodies do not enclose each other, but base names in a nested
                # class body are looked up in the body that contains it.
                holder = scopes if i == 0 else (chain[-1][0].members,) + scopes
                mro, external = self._mro(current, holder)
                chain.append((current, mro, external))
        return [], chain, current

    def _missing_top(self, name: str, path: str) -> RefProblem:
        candidates = [n for n, m in self.members.items() if not isinstance(m, OtherName) or n.startswith(("test", "Test"))]
        hint = _did_you_mean(name, candidates)
        if hint is None and self.star_import:
            hint = "the file has a 'from ... import *', whose names cannot be checked statically"
        if hint is None:
            tests = sorted(n for n, m in self.members.items()
                           if isinstance(m, (FuncInfo, ClassInfo)) and n.startswith(("test", "Test")))
            hint = _listing("tests in this file", tests) if tests else "the file defines no test functions or classes"
        return RefProblem("PV304", f"test '{name}' not found in {path}", hint)

    def _missing_member(self, owner: Sequence[str], name: str, mro: list[ClassInfo], external: list[str],
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

    def _collection_problems(self, names: Sequence[str], chain: Chain,
                             target: Member, path: str) -> list[RefProblem]:
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
        if isinstance(target, FuncInfo):
            label = f"'{'::'.join(names)}'"
            if target.fixture:
                return warn(label, "it is a fixture, not a test", "reference a test that uses the fixture")
            if not names[-1].startswith("test"):
                return warn(label, "test function names must start with 'test'",
                            f"rename it to 'test_{names[-1]}' or reference the test that calls it")
        return []

    def _stacked_params(self, chain: Chain,
                        target: FuncInfo) -> tuple[list[ParamMark], bool]:
        """All parametrize marks that apply to ``target``, in pytest's order, and whether ids are opaque.

        pytest applies the function's marks (closest decorator first), then
        each enclosing class's marks from the innermost out (for each class,
        its bases' marks before its own, as ``get_unpacked_marks`` walks the
        reversed MRO), then the module's ``pytestmark``. Each mark contributes
        the next '-'-joined part of the id.
        """
        stacked: list[ParamMark] = list(target.params)
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
        if problems or not isinstance(target, FuncInfo):
            return None
        stacked, opaque = self._stacked_params(chain, target)
        if opaque or any(p.ids is None for p in stacked):
            return None
        if not stacked:
            return []
        # Each mark multiplies the cases so far by its own, the earlier mark varying slowest.
        return ["-".join(c) for c in itertools.product(*(p.ids or () for p in stacked))]

    def _param_problems(self, names: Sequence[str], param_id: str,
                        chain: Chain, target: Member,
                        path: str) -> list[RefProblem]:
        label = "::".join(names)
        if isinstance(target, ClassInfo):
            return [RefProblem("PV305", f"'{label}' in {path} is a class; the parameter id '[{param_id}]' "
                               "can only follow a test function",
                               f"name a test method: {path}::{label}::test_name[{param_id}]")]
        if not isinstance(target, FuncInfo):
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
