"""`pv falsify` and the profile and statistics machinery behind it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pvcontracts.evidence.falsify import PROFILES, StatsCollector, apply_profile, hypothesis_function


def test_pv_falsify_runs_only_the_falsifiers_under_the_ci_profile(evproject) -> None:
    evproject.tests(b_body="    assert False")  # a failing bound test: falsify must not even run it
    done = evproject.pv("falsify", "contracts/")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FALSIFY-DEMO-001  passed        50 examples    tests/test_falsify.py::test_property" in done.stdout
    assert ("pv falsify: 1 falsifier (profile ci): 1 passed, 0 counterexamples, 0 failed otherwise, "
            "0 without a verdict; "
            "50 examples tried") in done.stdout
    doc = evproject.evidence("out/falsify.json")
    assert doc["kind"] == "falsify"
    gate = evproject.gate(doc)
    assert evproject.test(gate, "tests/test_demo.py::test_b")["outcome"] == "not_run"
    assert gate["status"] == "incomplete"  # falsifier evidence alone never discharges a gate
    stats = evproject.falsifier_record(doc)["statistics"]
    assert (stats["profile"], stats["derandomize"], stats["seed"], stats["examples"]) == ("ci", True, None, 50)
    assert stats["stopped_because"] == "settings.max_examples=50"


def test_thorough_profile_scales_the_budget_and_records_the_seed(evproject) -> None:
    done = evproject.pv("falsify", "contracts/", "--profile", "thorough", "--seed", "1234")
    assert done.returncode == 0, done.stdout + done.stderr
    doc = evproject.evidence("out/falsify.json")
    stats = evproject.falsifier_record(doc)["statistics"]
    assert (stats["profile"], stats["derandomize"], stats["seed"]) == ("thorough", False, 1234)
    assert stats["max_examples"] == 50 * PROFILES["thorough"].scale
    assert doc["run"]["seed"] == 1234 and "seed 1234" in done.stdout


def test_a_counterexample_fails_pv_falsify_and_is_shown(evproject) -> None:
    evproject.falsifier(limit=500)
    done = evproject.pv("falsify", "contracts/")
    assert done.returncode == 1
    assert "error[PV613]: FALSIFY-DEMO-001 found a counterexample to INV-DEMO-001: test_property(" in done.stdout
    assert "    x=500," in done.stdout  # the minimal example under the falsifier's line
    assert "hint: if it fails: The limit is wrong" in done.stdout


def test_seed_without_the_thorough_profile_is_a_usage_error(evproject) -> None:
    done = evproject.pv("falsify", "contracts/", "--seed", "3")
    assert done.returncode == 2 and "--seed needs --profile thorough" in done.stderr


# --------------------------------------------------------------------------- the pieces


def test_apply_profile_composes_with_declared_settings_once() -> None:
    @settings(max_examples=7, deadline=None)
    @given(st.integers())
    def test_x(x: int) -> None:
        pass

    fn = hypothesis_function(test_x)
    assert fn is not None and hypothesis_function(lambda: None) is None
    effective = apply_profile(fn, PROFILES["thorough"])
    assert effective == {"max_examples": 7 * PROFILES["thorough"].scale, "derandomize": False, "database": False}
    assert apply_profile(fn, PROFILES["thorough"]) == effective  # idempotent: not scaled twice
    assert fn._hypothesis_internal_use_settings.deadline is None  # the falsifier's own settings survive


def _case(phase: str, status: str, how: str = "generated") -> SimpleNamespace:
    return SimpleNamespace(type="test_case", status=status, how_generated=how, representation="r",
                           arguments={}, status_reason="", metadata=SimpleNamespace(phase=phase,
                                                                                    status_reason_location=None))


def test_stats_collector_counts_examples_outside_shrinking_and_keeps_the_minimal_failure() -> None:
    c = StatsCollector()
    for obs in [_case("generate", "passed"), _case("generate", "gave_up"), _case("generate", "failed"),
                _case("shrink", "failed"), _case("shrink", "passed")]:
        c(obs)
    c(SimpleNamespace(type="test_case", status="failed", how_generated=StatsCollector.MINIMAL,
                      representation="test_p(\n    x=500,\n)", arguments={"x": 500, "y": float("nan"), "z": object()},
                      status_reason="AssertionError at f.py:3",
                      metadata=SimpleNamespace(phase=None, status_reason_location="/repo/tests/t.py:9")))
    c(SimpleNamespace(type="info", title="Hypothesis Statistics", content="  - Stopped because nothing left to do"))
    s = c.summary(profile="ci", seed=None, effective={"max_examples": 10, "derandomize": True, "database": False},
                  rootdir="/repo")
    assert (s["examples"], s["passed_examples"], s["invalid_examples"], s["failing_examples"], s["shrinks"]) == \
        (3, 1, 1, 1, 2)
    assert s["phases"] == {"generate": 3, "shrink": 2}
    assert s["stopped_because"] == "nothing left to do"
    cx = s["counterexample"]
    assert cx["arguments"]["x"] == 500 and cx["arguments"]["y"] == "nan" and cx["arguments"]["z"].startswith("<object")
    assert cx["location"] == "tests/t.py:9"


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profiles_never_use_the_example_database(name: str) -> None:
    from hypothesis.database import InMemoryExampleDatabase

    @settings(database=InMemoryExampleDatabase(), max_examples=5)
    @given(st.integers())
    def test_y(y: int) -> None:
        pass

    effective = apply_profile(hypothesis_function(test_y), PROFILES[name])
    assert effective["database"] is False
    assert effective["derandomize"] is (name == "ci")
