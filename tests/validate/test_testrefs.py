"""Tests for the static test-reference resolver (PV301-PV307).

Every test builds a small repository under ``tmp_path`` so that what the
resolver sees is exactly what the test wrote. The parametrize-id rules are
checked against pytest itself (``--collect-only`` in a subprocess), because
the point of computing ids statically is to agree with pytest.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvcontracts.diagnostic import CODES
from pvcontracts.validate import testrefs as tr


def write(root: Path, rel: str, text: str) -> Path:
    """Write a dedented source file under ``root`` and return its path."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def resolve(root: Path, ref: str) -> list[tr.RefProblem]:
    return tr.TestResolver(root).resolve(ref)


def codes(problems: list[tr.RefProblem]) -> list[str]:
    return [p.code for p in problems]


def only(problems: list[tr.RefProblem], code: str) -> tr.RefProblem:
    """The single problem, asserting its code, so failures show the whole list."""
    assert codes(problems) == [code], problems
    return problems[0]


BASIC = """
    import pytest

    def test_alpha():
        pass

    async def test_async_thing():
        pass

    def helper():
        pass

    class TestGroup:
        def test_method(self):
            pass

        class TestInner:
            def test_deep(self):
                pass

    @pytest.mark.parametrize("cap", [18.0, 20.0, 1e-3])
    def test_cap(cap):
        pass
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write(tmp_path, "tests/test_basic.py", BASIC)
    return tmp_path


# --------------------------------------------------------------------------- PV301 form


@pytest.mark.parametrize(
    ("ref", "needle"),
    [
        ("", "empty"),
        ("tests/test_basic.py", "no '::'"),
        ("tests/test_basic.py::", "empty test name"),
        ("tests/test_basic.py::::test_alpha", "empty test name"),
        ("tests/test_basic.py::test_alpha::", "empty test name"),
        (" tests/test_basic.py::test_alpha", "whitespace"),
        ("tests/test_basic.py::test_alpha\n", "whitespace"),
        ("tests/test basic.py::test_alpha", "whitespace"),
        ("tests\\test_basic.py::test_alpha", "backslash"),
        ("tests/test_basic.txt::test_alpha", "not a Python file"),
        ("tests/.py::test_alpha", "not a Python file"),
        ("tests/test_basic.py::test-alpha", "not a Python identifier"),
        ("tests/test_basic.py::test_cap[18.0", "must end the reference with ']'"),
        ("tests/test_basic.py::test_cap]", "without a matching '['"),
        ("tests//test_basic.py::test_alpha", "empty directory name"),
        ("./tests/test_basic.py::test_alpha", "'.' segment"),
        ("tests/../tests/test_basic.py::test_alpha", "'..' segment"),
        ("tests/./test_basic.py::test_alpha", "not in normal form"),
    ],
)
def test_pv301_malformed(repo: Path, ref: str, needle: str) -> None:
    problem = only(resolve(repo, ref), "PV301")
    assert needle in problem.message
    assert problem.hint  # every form error says how to write it


def test_pv301_hints_are_specific(repo: Path) -> None:
    assert "tests/test_basic.py::test_name" in only(resolve(repo, "tests/test_basic.py"), "PV301").hint
    assert "tests/test_basic.py::test_alpha" in only(
        resolve(repo, "tests\\test_basic.py::test_alpha"), "PV301").hint
    assert "write tests/test_basic.py::test_alpha" in only(
        resolve(repo, "./tests/test_basic.py::test_alpha"), "PV301").hint
    # the normal form as pytest prints the node id, whatever made the path odd, parameter id included
    for ref in ("tests/../tests/test_basic.py::test_alpha", "tests//test_basic.py::test_alpha",
                "tests/x/.././test_basic.py::test_alpha"):
        assert only(resolve(repo, ref), "PV301").hint.endswith("write tests/test_basic.py::test_alpha"), ref
    assert only(resolve(repo, "a/../tests/test_basic.py::test_cap[1]"), "PV301").hint.endswith(
        "write tests/test_basic.py::test_cap[1]")


def test_pv301_well_formed_parts() -> None:
    parsed = tr.parse_test_ref("tests/b/test_x.py::TestC::test_m[a b-1.5]")
    assert isinstance(parsed, tr.TestRef)
    assert parsed.path == "tests/b/test_x.py"
    assert parsed.names == ("TestC", "test_m")
    assert parsed.param_id == "a b-1.5"  # spaces are legal inside an id (string values)


def test_pv301_passing_reference(repo: Path) -> None:
    assert resolve(repo, "tests/test_basic.py::test_alpha") == []


# --------------------------------------------------------------------------- PV302 escapes


@pytest.mark.parametrize(
    "ref",
    ["../outside.py::test_x", "tests/../../outside.py::test_x", "/etc/test_x.py::test_x",
     "C:/tests/test_x.py::test_x"],
)
def test_pv302_lexical_escape(repo: Path, ref: str) -> None:
    problem = only(resolve(repo, ref), "PV302")
    assert "outside the repository" in problem.message
    assert "relative to the repository root" in problem.hint


def test_pv302_dotdot_that_stays_inside_is_not_an_escape_but_not_normal_either(repo: Path) -> None:
    """pytest would print it as tests/test_basic.py::test_alpha, so `pv check` could never bind it as written."""
    problem = only(resolve(repo, "tests/../tests/test_basic.py::test_alpha"), "PV301")
    assert "not in normal form" in problem.message


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_pv302_symlink_escape(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    outside = tmp_path / "elsewhere"
    write(outside, "test_out.py", "def test_x():\n    pass\n")
    root.mkdir()
    (root / "linked_dir").symlink_to(outside, target_is_directory=True)
    (root / "test_link.py").symlink_to(outside / "test_out.py")
    for ref in ("linked_dir/test_out.py::test_x", "test_link.py::test_x"):
        problem = only(resolve(root, ref), "PV302")
        assert "symbolic link" in problem.message


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_pv302_symlink_inside_root_is_fine(repo: Path) -> None:
    (repo / "alias.py").symlink_to(repo / "tests" / "test_basic.py")
    resolver = tr.TestResolver(repo)
    assert resolver.resolve("alias.py::test_alpha") == []
    assert resolver.resolve("tests/test_basic.py::test_alpha") == []
    digests = resolver.file_digests()
    assert digests["alias.py"] == digests["tests/test_basic.py"]


# --------------------------------------------------------------------------- PV303 missing file


def test_pv303_missing_file_suggests_neighbour(repo: Path) -> None:
    problem = only(resolve(repo, "tests/test_basic_.py::test_alpha"), "PV303")
    assert "tests/test_basic_.py" in problem.message
    assert problem.hint == "did you mean 'tests/test_basic.py'?"


def test_pv303_missing_directory(repo: Path) -> None:
    problem = only(resolve(repo, "nowhere/test_basic.py::test_alpha"), "PV303")
    assert "does not exist" in problem.message
    assert "nowhere" in problem.hint


def test_pv303_not_a_regular_file(repo: Path) -> None:
    (repo / "tests" / "test_dir.py").mkdir()
    problem = only(resolve(repo, "tests/test_dir.py::test_alpha"), "PV303")
    assert "directory" in problem.message


def test_pv303_passing(repo: Path) -> None:
    assert resolve(repo, "tests/test_basic.py::TestGroup") == []


# --------------------------------------------------------------------------- PV304 missing names


def test_pv304_missing_function_did_you_mean(repo: Path) -> None:
    problem = only(resolve(repo, "tests/test_basic.py::test_alpah"), "PV304")
    assert problem.message == "test 'test_alpah' not found in tests/test_basic.py"
    assert problem.hint == "did you mean 'test_alpha'?"


def test_pv304_missing_method_did_you_mean(repo: Path) -> None:
    problem = only(resolve(repo, "tests/test_basic.py::TestGroup::test_methd"), "PV304")
    assert "'test_methd' not found in class 'TestGroup'" in problem.message
    assert "'test_method'" in problem.hint


def test_pv304_nothing_inside_a_function(repo: Path) -> None:
    problem = only(resolve(repo, "tests/test_basic.py::test_alpha::inner"), "PV304")
    assert "is a function" in problem.message


def test_methods_nested_classes_and_async(repo: Path) -> None:
    for ref in ("tests/test_basic.py::TestGroup::test_method",
                "tests/test_basic.py::TestGroup::TestInner",
                "tests/test_basic.py::TestGroup::TestInner::test_deep",
                "tests/test_basic.py::test_async_thing"):
        assert resolve(repo, ref) == [], ref
    problem = only(resolve(repo, "tests/test_basic.py::TestGroup::TestInner::test_deeep"), "PV304")
    assert "class 'TestGroup::TestInner'" in problem.message


def test_inherited_methods_through_same_file_bases(tmp_path: Path) -> None:
    write(tmp_path, "test_inh.py", """
        class Mixin:
            def test_from_mixin(self):
                pass

        class BaseTests(Mixin):
            def test_shared(self):
                pass

        class TestConcrete(BaseTests):
            pass

        class TestOther(SomewhereElse):
            pass
    """)
    assert resolve(tmp_path, "test_inh.py::TestConcrete::test_shared") == []
    assert resolve(tmp_path, "test_inh.py::TestConcrete::test_from_mixin") == []
    problem = only(resolve(tmp_path, "test_inh.py::TestConcrete::test_nope"), "PV304")
    assert "test_nope" in problem.message
    # A base from elsewhere cannot be looked into; the hint says so instead of guessing.
    problem = only(resolve(tmp_path, "test_inh.py::TestOther::test_zzz"), "PV304")
    assert "SomewhereElse" in problem.hint


def test_definitions_in_if_and_try_blocks_and_imports(tmp_path: Path) -> None:
    write(tmp_path, "test_blocks.py", """
        import sys
        from shared_tests import test_imported

        if sys.platform == "linux":
            def test_linux_only():
                pass
        else:
            def test_elsewhere():
                pass

        try:
            import numpy
        except ImportError:
            def test_without_numpy():
                pass
        else:
            class TestWithNumpy:
                def test_array(self):
                    pass

        test_assigned = test_linux_only
    """)
    for name in ("test_linux_only", "test_elsewhere", "test_without_numpy",
                 "TestWithNumpy::test_array", "test_imported", "test_assigned"):
        assert resolve(tmp_path, f"test_blocks.py::{name}") == [], name


def test_function_bodies_are_not_indexed(tmp_path: Path) -> None:
    write(tmp_path, "test_body.py", """
        def test_outer():
            def test_inner():
                pass
    """)
    only(resolve(tmp_path, "test_body.py::test_inner"), "PV304")


# --------------------------------------------------------------------------- PV305 parameter ids


def test_pv305_literal_ids(repo: Path) -> None:
    assert resolve(repo, "tests/test_basic.py::test_cap[18.0]") == []
    assert resolve(repo, "tests/test_basic.py::test_cap[0.001]") == []  # 1e-3 is str(0.001)
    problem = only(resolve(repo, "tests/test_basic.py::test_cap[18.5]"), "PV305")
    assert "'[18.5]'" in problem.message and "test_cap" in problem.message
    assert "'18.0'" in problem.hint


def test_pv305_stacked_ids_containing_dashes(tmp_path: Path) -> None:
    write(tmp_path, "test_dash.py", """
        import pytest

        @pytest.mark.parametrize("a", [-1, "x-y"])
        @pytest.mark.parametrize("b", ["p-q", 2])
        def test_it(a, b):
            pass

        @pytest.mark.parametrize("s", ["a::b", "caf\\u00e9"])
        def test_odd(s):
            pass
    """)
    # The closest decorator ("b") gives the first part; '-' inside a part is fine.
    for case in ("p-q--1", "p-q-x-y", "2--1", "2-x-y"):
        assert resolve(tmp_path, f"test_dash.py::test_it[{case}]") == [], case
    only(resolve(tmp_path, "test_dash.py::test_it[-1-p-q]"), "PV305")  # parts in the wrong order
    assert resolve(tmp_path, "test_dash.py::test_odd[a::b]") == []
    problem = only(resolve(tmp_path, "test_dash.py::test_odd[café]"), "PV305")
    assert "caf\\xe9" in problem.hint  # pytest escapes non-ASCII in ids


def test_pv305_not_parametrized(repo: Path) -> None:
    problem = only(resolve(repo, "tests/test_basic.py::test_alpha[1]"), "PV305")
    assert "not parametrized" in problem.message
    assert "drop '[1]'" in problem.hint


def test_pv305_id_on_a_class(repo: Path) -> None:
    problem = only(resolve(repo, "tests/test_basic.py::TestGroup[1]"), "PV305")
    assert "is a class" in problem.message


def test_pv305_non_literal_values_accept_any_id(tmp_path: Path) -> None:
    write(tmp_path, "test_dyn.py", """
        import pytest
        CASES = [1, 2]

        @pytest.mark.parametrize("x", CASES)
        def test_from_name(x):
            pass

        @pytest.mark.parametrize("x", [1, 2], ids=str)
        def test_id_callable(x):
            pass

        @pytest.mark.parametrize("x", [1, 2])
        @pytest.mark.parametrize("y", make_cases())
        def test_stacked_partly_dynamic(x, y):
            pass

        @parametrize_with_cases("x", cases=".")
        def test_plugin(x):
            pass
    """)
    for name in ("test_from_name", "test_id_callable", "test_stacked_partly_dynamic", "test_plugin"):
        assert resolve(tmp_path, f"test_dyn.py::{name}[anything]") == [], name


def test_pv305_marks_from_class_module_and_aliases(tmp_path: Path) -> None:
    write(tmp_path, "test_marks.py", """
        import pytest

        pytestmark = pytest.mark.parametrize("m", ["mod"])
        small = pytest.mark.parametrize("s", [1, 2])

        @pytest.mark.parametrize("c", ["cls"])
        class TestMarked:
            @small
            def test_it(self, s, c, m):
                pass
    """)
    assert resolve(tmp_path, "test_marks.py::TestMarked::test_it[2-cls-mod]") == []
    problem = only(resolve(tmp_path, "test_marks.py::TestMarked::test_it[3-cls-mod]"), "PV305")
    assert "did you mean" in problem.hint


def test_pv305_generate_tests_and_param_fixtures_are_opaque(tmp_path: Path) -> None:
    write(tmp_path, "test_gen.py", """
        def pytest_generate_tests(metafunc):
            metafunc.parametrize("x", [1, 2])

        def test_generated(x):
            pass
    """)
    write(tmp_path, "test_fix.py", """
        import pytest

        @pytest.fixture(params=["a", "b"])
        def flavour(request):
            return request.param

        def test_flavoured(flavour):
            pass
    """)
    assert resolve(tmp_path, "test_gen.py::test_generated[1]") == []
    assert resolve(tmp_path, "test_fix.py::test_flavoured[a]") == []


# --------------------------------------------------------------------------- PV306 collection


def test_pv306_function_without_test_prefix(repo: Path) -> None:
    problem = only(resolve(repo, "tests/test_basic.py::helper"), "PV306")
    assert "must start with 'test'" in problem.message
    assert CODES["PV306"].severity.value == "warning"


def test_pv306_class_rules(tmp_path: Path) -> None:
    write(tmp_path, "test_cls.py", """
        import unittest
        import pytest

        class Helpers:
            def test_x(self):
                pass

        class TestWithInit:
            def __init__(self):
                pass
            def test_x(self):
                pass

        class TestInheritsInit(TestWithInit):
            def test_y(self):
                pass

        class TestDisabled:
            __test__ = False
            def test_x(self):
                pass

        class Explicit:
            __test__ = True
            def test_x(self):
                pass

        class MyCase(unittest.TestCase):
            def test_x(self):
                pass

        @pytest.fixture
        def test_data():
            return 1
    """)
    assert "must start with 'Test'" in only(resolve(tmp_path, "test_cls.py::Helpers::test_x"), "PV306").message
    assert "__init__" in only(resolve(tmp_path, "test_cls.py::TestWithInit::test_x"), "PV306").message
    assert "__init__" in only(resolve(tmp_path, "test_cls.py::TestInheritsInit::test_y"), "PV306").message
    assert "__test__ = False" in only(resolve(tmp_path, "test_cls.py::TestDisabled::test_x"), "PV306").message
    assert "fixture" in only(resolve(tmp_path, "test_cls.py::test_data"), "PV306").message
    assert resolve(tmp_path, "test_cls.py::Explicit::test_x") == []
    assert resolve(tmp_path, "test_cls.py::MyCase::test_x") == []


def test_pv306_passing(repo: Path) -> None:
    assert resolve(repo, "tests/test_basic.py::TestGroup::TestInner::test_deep") == []


# --------------------------------------------------------------------------- PV307 unparsable


def test_pv307_syntax_error_names_line(tmp_path: Path) -> None:
    write(tmp_path, "test_broken.py", "def test_ok():\n    pass\n\ndef test_bad(:\n    pass\n")
    problem = only(resolve(tmp_path, "test_broken.py::test_ok"), "PV307")
    assert "test_broken.py" in problem.message
    assert "line 4" in problem.message


def test_pv307_null_bytes_and_bad_encoding(tmp_path: Path) -> None:
    (tmp_path / "test_nul.py").write_bytes(b"def test_a():\n    pass\n\x00\n")
    (tmp_path / "test_enc.py").write_bytes(b"def test_a():\n    return '\xff\xfe'\n")
    assert "line 3" in only(resolve(tmp_path, "test_nul.py::test_a"), "PV307").message
    only(resolve(tmp_path, "test_enc.py::test_a"), "PV307")


def test_pv307_passing(repo: Path) -> None:
    index = tr.index_test_source((repo / "tests" / "test_basic.py").read_bytes(), "test_basic.py")
    assert index.error is None


# --------------------------------------------------------------------------- cache and digests


def test_cache_lets_a_second_resolver_skip_parsing(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real_parse = ast.parse

    def counting_parse(*args, **kwargs):
        calls.append(args)
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(ast, "parse", counting_parse)
    cache: dict[str, dict] = {}
    first = tr.TestResolver(repo, index_cache=cache)
    for ref in ("tests/test_basic.py::test_alpha", "tests/test_basic.py::TestGroup::test_method",
                "tests/test_basic.py::test_cap[20.0]", "tests/test_basic.py::test_nope"):
        first.resolve(ref)
    assert len(calls) == 1  # many references, one parse

    digest = hashlib.sha256((repo / "tests" / "test_basic.py").read_bytes()).hexdigest()
    assert first.file_digests() == {"tests/test_basic.py": digest}
    assert set(cache) == {digest}

    persisted = json.loads(json.dumps(cache))  # what a caller would write to disk and read back

    def refuse(*args, **kwargs):
        raise AssertionError("parsed although the cache had the file")

    monkeypatch.setattr(ast, "parse", refuse)
    second = tr.TestResolver(repo, index_cache=persisted)
    assert second.resolve("tests/test_basic.py::test_cap[20.0]") == []
    assert codes(second.resolve("tests/test_basic.py::test_nope")) == ["PV304"]
    assert second.file_digests() == {"tests/test_basic.py": digest}


def test_damaged_or_stale_cache_entry_is_reparsed(repo: Path) -> None:
    digest = hashlib.sha256((repo / "tests" / "test_basic.py").read_bytes()).hexdigest()
    for bad in ({"format": 0}, {"format": tr.INDEX_FORMAT, "members": "nope"}, {}):
        cache = {digest: bad}
        assert tr.TestResolver(repo, index_cache=cache).resolve("tests/test_basic.py::test_alpha") == []
        assert cache[digest]["format"] == tr.INDEX_FORMAT  # overwritten with a good entry


def test_index_json_round_trip(repo: Path) -> None:
    index = tr.index_test_source((repo / "tests" / "test_basic.py").read_bytes(), "test_basic.py")
    data = json.loads(json.dumps(index.to_json()))
    again = tr.TestIndex.from_json(data)
    assert again.to_json() == index.to_json()
    assert again.param_ids(["test_cap"]) == ["18.0", "20.0", "0.001"]
    broken = tr.index_test_source(b"def (:", "x.py")
    assert tr.TestIndex.from_json(json.loads(json.dumps(broken.to_json()))).error == broken.error


def test_many_files_each_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    real_parse = ast.parse
    monkeypatch.setattr(ast, "parse", lambda src, filename="<unknown>", *a, **k: (
        parsed.append(filename), real_parse(src, filename, *a, **k))[1])
    for i in range(20):
        write(tmp_path, f"tests/test_m{i}.py",
              "\n".join(f"def test_f{j}():\n    return {i}\n" for j in range(10)))
    resolver = tr.TestResolver(tmp_path)
    for i in range(20):
        for j in range(10):
            assert resolver.resolve(f"tests/test_m{i}.py::test_f{j}") == []
    assert sorted(parsed) == sorted(f"tests/test_m{i}.py" for i in range(20))
    assert len(resolver.file_digests()) == 20


# --------------------------------------------------------------------------- ids agree with pytest

IDS_MODULE = '''
import pytest

@pytest.mark.parametrize("cap", [18.0, 20, 1e-3, -1, 2.5e10, 0.1])
def test_numbers(cap):
    pass

@pytest.mark.parametrize("s", ["plain", "with space", "caf\\u00e9", "tab\\there", "back\\\\slash", b"\\xffb", ""])
def test_strings(s):
    pass

@pytest.mark.parametrize("a, b", [(1, "x"), (2, None), (True, 3.0), ([1], {"k": 1})])
def test_two_names(a, b):
    pass

@pytest.mark.parametrize(["a", "b"], [[1, 2], (3, 4)])
def test_list_argnames(a, b):
    pass

@pytest.mark.parametrize("x", [1, 2], ids=["one", None])
@pytest.mark.parametrize("y,", [(10,), (20,)])
def test_stacked(x, y):
    pass

@pytest.mark.parametrize("x", [pytest.param(1, id="first"), pytest.param(2), 3, pytest.param(4, id="\\u00fc")])
def test_param_ids(x):
    pass

@pytest.mark.parametrize("x", ["a", "a", "a0", 1, "1", 1.0, "1.0", None, "None"])
def test_duplicates(x):
    pass

@pytest.mark.parametrize("x", [(1, 2), 1 + 2j, False], ids=("tup", None, None))
def test_explicit_ids(x):
    pass

small = pytest.mark.parametrize("k", [7, 8])

class TestMarks:
    pytestmark = [pytest.mark.parametrize("c", ["cls"])]

    @small
    @pytest.mark.parametrize("m", [0])
    def test_method(self, m, k, c):
        pass

    class TestNested:
        @pytest.mark.parametrize("n", ["in"])
        def test_nested(self, n, c):
            pass

@pytest.mark.parametrize("b", ["base"])
class TestBase:
    def test_base(self, b):
        pass

class TestChild(TestBase):
    @pytest.mark.parametrize("d", ["child"])
    def test_child(self, b, d):
        pass
'''


def _collect(tmp_path: Path, filename: str, source: str) -> list[str]:
    """Node ids pytest itself collects from ``source`` (isolated from this repo's configuration)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (tmp_path / filename).write_text(source, encoding="utf-8")
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), filename],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [line for line in proc.stdout.splitlines() if line.startswith(f"{filename}::")]


def test_computed_ids_match_pytest_collection(tmp_path: Path) -> None:
    collected = _collect(tmp_path, "test_ids.py", IDS_MODULE)
    assert len(collected) > 30
    by_test: dict[tuple[str, ...], list[str]] = {}
    for nodeid in collected:
        parsed = tr.parse_test_ref(nodeid)
        assert isinstance(parsed, tr.TestRef), nodeid
        by_test.setdefault(parsed.names, []).append(parsed.param_id)

    index = tr.index_test_source(IDS_MODULE.encode(), "test_ids.py")
    for names, ids in by_test.items():
        assert index.param_ids(names) == ids, names  # same ids, same order

    resolver = tr.TestResolver(tmp_path)
    for nodeid in collected:
        assert resolver.resolve(nodeid) == [], nodeid
    # A near miss of a real id is rejected with that id as the suggestion.
    problem = only(resolver.resolve("test_ids.py::test_duplicates[None2]"), "PV305")
    assert "did you mean" in problem.hint


def test_module_pytestmark_matches_pytest(tmp_path: Path) -> None:
    source = textwrap.dedent('''
        import pytest
        pytestmark = [pytest.mark.parametrize("mod", ["m1", "m2"]), pytest.mark.slow]

        @pytest.mark.parametrize("x", [1])
        def test_a(x, mod):
            pass

        def test_b(mod):
            pass
    ''')
    collected = _collect(tmp_path, "test_modmark.py", source)
    assert collected == ["test_modmark.py::test_a[1-m1]", "test_modmark.py::test_a[1-m2]",
                         "test_modmark.py::test_b[m1]", "test_modmark.py::test_b[m2]"]
    resolver = tr.TestResolver(tmp_path)
    for nodeid in collected:
        assert resolver.resolve(nodeid) == [], nodeid
    only(resolver.resolve("test_modmark.py::test_b[m3]"), "PV305")


# --------------------------------------------------------------------------- never raises

PY_FRAGMENTS = st.sampled_from([
    "import pytest\n", "def test_a(x):\n    pass\n", "class TestC(Base):\n", "    def test_m(self):\n",
    "        pass\n", "@pytest.mark.parametrize('x', [1, 'a', (1, 2), pytest.param(3, id='p')])\n",
    "@pytest.mark.parametrize(('x', 'y'), [(1, 2)], ids=['i'])\n", "pytestmark = [pytest.mark.parametrize('m', [])]\n",
    "if x:\n", "try:\n", "except E:\n", "else:\n", "    def test_b():\n        pass\n", "__test__ = False\n",
    "async def test_c():\n    pass\n", "class Base:\n    def __init__(self): pass\n", "(", "\x00", "\xff",
    "    ", "\n", "@", "[" * 50, "from m import *\n", "x = pytest.mark.parametrize('y', [b'\\xff'])\n",
])

REF_NAMES = st.sampled_from(["test_a", "test_b", "test_c", "TestC", "Base", "test_m", "x", "", "__init__"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    content=st.one_of(st.binary(max_size=300),
                      st.lists(PY_FRAGMENTS, max_size=12).map(lambda parts: "".join(parts).encode("utf-8"))),
    ref=st.one_of(
        st.text(max_size=60),
        st.builds(lambda names, tail: "test_h.py::" + "::".join(names) + tail,
                  st.lists(REF_NAMES, min_size=1, max_size=3),
                  st.one_of(st.just(""), st.text(max_size=10).map(lambda t: f"[{t}]"))),
        st.text(max_size=20).map(lambda t: "test_h.py::" + t),
    ),
)
def test_resolve_never_raises(tmp_path: Path, content: bytes, ref: str) -> None:
    (tmp_path / "test_h.py").write_bytes(content)
    cache: dict[str, dict] = {}
    problems = tr.TestResolver(tmp_path, index_cache=cache).resolve(ref)
    assert all(p.code in {f"PV30{i}" for i in range(1, 8)} for p in problems)
    assert all(isinstance(p.message, str) and p.message for p in problems)
    # The cache entry is JSON-serialisable and gives the same answer back.
    json.dumps(cache)
    assert tr.TestResolver(tmp_path, index_cache=cache).resolve(ref) == problems


@given(st.one_of(
    st.text(alphabet="ab_-./:[]\\ 1é\t", max_size=40),
    st.builds(lambda d, f, n, p: f"{d}{f}.py::{n}{p}", st.sampled_from(["", "tests/", "a/b/", "./", "a//", "../"]),
              st.sampled_from(["test_x", "t-1", "x.y", ""]), st.sampled_from(["test_a", "C::test_b", "1x", "a::"]),
              st.sampled_from(["", "[1]", "[a b-1.5]", "[]", "[x]]", "[\t]", "[é]"])),
))
@settings(max_examples=400, derandomize=True, database=None)
def test_the_fast_path_answers_as_the_full_parse_does(ref: str) -> None:
    from pvcontracts.validate.testrefs.refs import _parse

    assert tr.parse_test_ref(ref) == _parse(ref)
