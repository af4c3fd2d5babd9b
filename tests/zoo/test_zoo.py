"""The zoo, as tests: every buggy case is caught by the invariant meant for it, every clean twin runs clean.

One configuration for every case (pvzoo.CONFIG); these are the cases tools/bench/detect.py counts.
"""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

import pvzoo  # noqa: E402  (tests/zoo is on sys.path: pytest's rootdir-relative import of this file)

CASES = pvzoo.cases()
BUGGY = [c for c in CASES if c.kind == "buggy"]
CLEAN = [c for c in CASES if c.kind == "clean"]


@pytest.mark.discharges(gate="GATE-HEALTH-001")
@pytest.mark.parametrize("case", BUGGY, ids=[c.name for c in BUGGY])
def test_buggy_case_is_caught(case: pvzoo.Case) -> None:
    outcome = pvzoo.run_case(case)
    assert outcome.caught, f"{case.bug_class}: no violation"
    assert set(outcome.violations) & set(case.expect), (case.expect, outcome.violations, outcome.message)


@pytest.mark.discharges(gate="GATE-HEALTH-001")
@pytest.mark.parametrize("case", CLEAN, ids=[c.name for c in CLEAN])
def test_clean_case_passes(case: pvzoo.Case) -> None:
    outcome = pvzoo.run_case(case)
    assert not outcome.caught, outcome.message


def test_every_case_declares_only_facts_about_its_loop() -> None:
    with pytest.raises(AssertionError, match="only declare facts"):
        pvzoo.make_monitor({"max_gap_ratio": 100.0})
