"""The training policies: a per-epoch loss curriculum and the adaptive rejection penalty, in real runs and alone."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest

from _tinytask import RECORDS, fit
from pvcontracts.train.policies import LossCurriculum, RejectionPenalty
from pvcontracts.train.trainer import Trainer

SCHEDULE = [{"lm": 1.0, "aux": 0.0}, {"lm": 0.5, "aux": 0.5}, {"lm": 0.25, "aux": 1.0}]


@pytest.mark.discharges(gate="GATE-CURR-001")
def test_curriculum_weights_follow_the_epoch_across_a_resume(tmp_path: Path) -> None:
    """Every training call of epoch e gets entry e (the last one repeating), before and after a resume; a
    curriculum that lags one epoch is stopped by INV-CURR-001 at the first step of epoch 1."""
    options = {"record": "curriculum", "n_train": 16}  # 2 steps per epoch
    RECORDS.pop("curriculum", None)
    assert fit(tmp_path / "run", options, max_epochs=4, curriculum=SCHEDULE, stop_after=2).status == "interrupted"
    result = fit(tmp_path / "run", options, max_epochs=4, curriculum=SCHEDULE, resume="latest")
    assert result.status == "passed"
    seen = RECORDS["curriculum"]
    assert seen == [SCHEDULE[0]] * 2 + [SCHEDULE[1]] * 2 + [SCHEDULE[2]] * 4
    stats = result.data["ledger"]["invariants"]
    assert stats["INV-CURR-001"]["applicable"] == 8 and stats["INV-CURR-001"]["violated"] == 0

    class Lagging(Trainer):
        def curriculum_index(self, epoch: int) -> int:
            return max(epoch - 1, 0)

    lagging = fit(tmp_path / "lagging", {"n_train": 16}, max_epochs=3, curriculum=SCHEDULE, trainer=Lagging)
    assert lagging.status == "violation"
    v = lagging.data["violation"]
    assert (v["invariant"], v["epoch"], v["step"]) == ("INV-CURR-001", 1, 2)


@pytest.mark.discharges(gate="GATE-REJ-001")
def test_rejection_penalty_closes_the_coverage_gap_in_a_real_run(tmp_path: Path) -> None:
    """A model that starts by rejecting everything: the multiplier holds through warmup, then rises and coverage
    comes to its target; it never leaves its floor, and no abort-level invariant fires."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a one-epoch overshoot past the target is a warning by design
        result = fit(tmp_path / "run", {"metrics": "coverage", "noise": 0.3, "n_train": 64}, max_epochs=8, lr=0.05,
                     rejection_penalty={"target": 0.9, "lr": 4.0, "init": 1.0, "warmup_epochs": 1, "floor": 0.5})
    assert result.status == "passed", result.reason
    epochs = result.data["curves"]["epochs"]
    lambdas = [e["rejection_lambda"] for e in epochs]
    gaps = [abs(0.9 - e["coverage"]) for e in epochs]
    assert lambdas[0] == lambdas[1] == 1.0 and min(lambdas) >= 0.5
    assert gaps[1] > 0.5 and min(gaps[2:]) < 0.25 * gaps[1]
    stats = result.data["ledger"]["invariants"]
    for inv, applicable in (("INV-REJ-001", 8 * 8), ("INV-REJ-002", 8), ("INV-REJ-003", 2)):
        assert stats[inv]["applicable"] == applicable and stats[inv]["violated"] == 0, inv
    assert stats["INV-REJ-004"]["applicable"] == 6


def test_rejection_update_rule() -> None:
    p = RejectionPenalty(target=0.8, lr=2.0, momentum=0.5, warmup_epochs=1, floor=0.1, init=1.0)
    assert p.update(0, 0.0) == 1.0  # warmup: held
    assert p.update(1, 0.3) == pytest.approx(2.0)  # v = 2 * 0.5
    assert p.update(2, 0.3) == pytest.approx(3.5)  # v = 0.5 * 1 + 1 = 1.5
    assert p.update(3, 1.0) == pytest.approx(3.5 + 0.75 - 0.4)
    assert p.update(4, 1.0) >= 0.1
    for _ in range(20):
        p.update(5, 1.0)
    assert p.value == 0.1 and p.velocity == 0.0  # clamped at the floor, momentum dropped
    assert p.update(6, math.nan) == 0.1
    state = p.state_dict()
    q = RejectionPenalty(target=0.8, lr=2.0, momentum=0.5, warmup_epochs=1, floor=0.1, init=1.0)
    q.load_state_dict(state)
    assert (q.value, q.velocity) == (p.value, p.velocity)


@pytest.mark.parametrize("bad, message", [({"lr": 0}, "lr=0"), ({"init": 0.0, "floor": 1.0}, "init=0.0"),
                                          ({"momentum": 1.0}, "momentum"), ({"target": 1.5}, "target"),
                                          ({"speed": 1}, "unknown field"), ({"warmup_epochs": 1.5}, "integer")])
def test_rejection_penalty_config_is_checked(bad: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RejectionPenalty.from_config(bad)


def test_curriculum_entries_are_checked_and_the_last_repeats() -> None:
    c = LossCurriculum(SCHEDULE)
    assert c.weights_for(7) == SCHEDULE[-1]
    assert c.metrics(1) == {"curriculum_epoch": 1, "curriculum_weight_min": 0.5, "curriculum_weight_max": 0.5}
    for bad in ([], [{}], [{"a": -1.0}], [{"a": math.inf}], [{"a": True}], ["x"]):
        with pytest.raises(ValueError):
            LossCurriculum(bad)
