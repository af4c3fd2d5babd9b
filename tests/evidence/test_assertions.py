"""The static check that a test a gate rests on can fail at all (PV310)."""

from __future__ import annotations

import textwrap

import pytest

from pvcontracts.evidence.assertions import can_fail

CASES = {
    # (source, test name) -> can it fail on its own?
    "pass": ("def test_x():\n    pass\n", False),
    "docstring": ("def test_x():\n    '''It works.'''\n", False),
    "assert-true": ("def test_x():\n    assert True\n", False),
    "assert-constant": ("def test_x():\n    assert 1, 'always'\n", False),
    "assert-tuple": ("def test_x():\n    assert (1 == 2, 'a tuple is always true')\n", False),
    "return-first": ("def test_x():\n    return\n    assert 1 == 2\n", False),
    "only-calls": ("def test_x():\n    run_the_thing()\n", False),
    "assert": ("def test_x():\n    x = 2\n    assert x == 2\n", True),
    "assert-in-loop": ("def test_x():\n    for i in range(3):\n        assert i < 5\n", True),
    "assert-after-conditional-return": ("def test_x(flag=0):\n    if flag:\n        return\n    assert flag == 0\n",
                                        True),
    "raise": ("def test_x():\n    if 1 + 1 != 2:\n        raise AssertionError('maths')\n", True),
    "pytest-raises": ("import pytest\ndef test_x():\n    with pytest.raises(ValueError):\n        int('a')\n", True),
    "pytest-fail": ("import pytest\ndef test_x():\n    pytest.fail('never')\n", True),
    "assert-helper-call": ("import numpy\ndef test_x():\n    numpy.testing.assert_allclose(1, 1)\n", True),
    "same-module-helper": ("def check(v):\n    assert v > 0\ndef test_x():\n    check(3)\n", True),
    "helper-without-assert": ("def check(v):\n    return v\ndef test_x():\n    check(3)\n", False),
    "method": ("class TestA:\n    def test_x(self):\n        self.assertEqual(1, 1)\n", True),
    "method-helper": ("class TestA:\n    def _ok(self):\n        assert 1 == 1\n    def test_x(self):\n"
                      "        self._ok()\n", True),
    "recursive-helper": ("def a():\n    a()\ndef test_x():\n    a()\n", False),
}


@pytest.mark.parametrize(("source", "expected"), CASES.values(), ids=CASES.keys())
def test_what_counts_as_an_assertion(source: str, expected: bool) -> None:
    name = "TestA::test_x" if source.startswith("class") else "test_x[param-id]"
    assert can_fail(textwrap.dedent(source).encode(), name) is expected


def test_an_unknown_test_or_a_broken_file_is_left_to_other_checks() -> None:
    assert can_fail(b"def test_y():\n    pass\n", "test_x") is None
    assert can_fail(b"def test_x(:\n", "test_x") is None


def test_pv_check_warns_about_an_assertion_free_bound_test(evproject) -> None:
    evproject.tests(b_body='    """Checks the loss."""\n    return\n    assert False')
    done = evproject.check()
    assert done.returncode == 0, done.stdout + done.stderr  # a warning: test_a still kills the mutant
    assert ("contracts/demo-v1.yaml:21:9: warning[PV310]: GATE-DEMO-001 rests on tests/test_demo.py::test_b, "
            "which contains no assertion: it cannot fail") in done.stdout
    assert "1 warning" in done.stdout
