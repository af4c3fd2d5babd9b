"""The pure LR multipliers against lr-schedule-v1's own expressions, and the LambdaLR built from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pvcontracts.contract.compiled import compile_invariant
from pvcontracts.contract.loading import load_contract_file
from pvcontracts.train.schedules import Schedule, build_scheduler, cosine_multiplier, warmup_steps, wsd_multiplier

CONTRACT = load_contract_file(Path(__file__).resolve().parents[2] / "contracts" / "lr-schedule-v1.yaml").contract
SHAPE = {inv.id: compile_invariant(CONTRACT, inv) for inv in CONTRACT.invariants}
FAST = settings(derandomize=True, database=None, max_examples=150, deadline=None)


@st.composite
def schedules(draw: Any) -> Schedule:
    kind = draw(st.sampled_from(["cosine", "wsd"]))
    total = draw(st.integers(1, 5000))
    warmup = draw(st.floats(0.0, 0.5))
    decay = draw(st.floats(0.0, 1.0 - warmup))
    peak = draw(st.floats(1e-6, 10.0))
    return Schedule(kind=kind, total_steps=total, warmup_fraction=warmup, peak_lr=peak,
                    min_lr=peak * draw(st.floats(0.0, 1.0)), decay_fraction=decay)


def contract_lr(schedule: Schedule, s: int) -> float:
    """expected_lr of INV-LR-003 for 0-based step s (optimizer_steps = s + 1), the schedule as it declares itself."""
    inv = SHAPE["INV-LR-003"]
    result = inv.evaluate({"optimizer_steps": s + 1, "optimizer_stepped": True, "lr": 0.0, "epoch": 0},
                          schedule.contract_params())
    assert result.applicable
    return result.values["expected_lr"]


@FAST
@given(schedule=schedules(), where=st.lists(st.floats(0.0, 1.3), min_size=1, max_size=8))
def test_multipliers_match_the_contract_expressions(schedule: Schedule, where: list[float]) -> None:
    """At the first step, the warmup boundary, the end, past the end and random steps: equal to float rounding."""
    T, W = schedule.total_steps, schedule.warmup_steps
    steps = {0, max(W - 1, 0), W, T - 1, T + 3} | {int(w * T) for w in where}
    for s in sorted(steps):
        if schedule.kind == "wsd" and schedule.decay_steps == 0 and s >= T:
            continue  # declared as constant after warmup: the two differ only past the run's last step
        assert abs(schedule.lr(s) - contract_lr(schedule, s)) <= 1e-12 * schedule.peak_lr, s


def test_documented_shape_points() -> None:
    """Step 0 trains at peak/W (never 0), step W-1 at peak, step T-1 at min_lr; wsd holds peak until T-D."""
    assert warmup_steps(1000, 0.05) == 50
    assert cosine_multiplier(0, total_steps=1000, warmup=50, min_ratio=0.1) == 1 / 50
    assert cosine_multiplier(49, total_steps=1000, warmup=50, min_ratio=0.1) == 1.0
    assert abs(cosine_multiplier(999, total_steps=1000, warmup=50, min_ratio=0.1) - 0.1) < 1e-15
    assert wsd_multiplier(799, total_steps=1000, warmup=50, decay=200, min_ratio=0.0) == 1.0
    assert wsd_multiplier(999, total_steps=1000, warmup=50, decay=200, min_ratio=0.0) == 0.0
    assert cosine_multiplier(0, total_steps=10, warmup=0, min_ratio=0.0) < 1.0  # no warmup: decay from step 0


def test_lambda_lr_stepped_per_optimizer_step_applies_the_schedule() -> None:
    """LambdaLR built from a Schedule: the LR in the param group before step s is schedule.lr(s)."""
    schedule = Schedule(kind="cosine", total_steps=20, warmup_fraction=0.2, peak_lr=0.1, min_lr=0.01)
    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([w], lr=0.1)
    sched = build_scheduler(opt, schedule)
    for s in range(25):
        assert abs(opt.param_groups[0]["lr"] - schedule.lr(s)) <= 1e-15
        w.grad = torch.ones(1)
        opt.step()
        sched.step()
    state = sched.state_dict()
    assert state["last_epoch"] == 25 and state["lr_lambdas"][0]["total_steps"] == 20


def test_bad_schedules_are_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="min_lr"):
        Schedule(kind="cosine", total_steps=10, warmup_fraction=0.1, peak_lr=0.1, min_lr=0.2)
    with pytest.raises(ValueError, match="kind"):
        Schedule(kind="linear", total_steps=10, warmup_fraction=0.1, peak_lr=0.1, min_lr=0.0)
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
    with pytest.raises(ValueError, match="peak_lr"):
        build_scheduler(opt, Schedule(kind="wsd", total_steps=10, warmup_fraction=0.1, peak_lr=0.1, min_lr=0.0))


def test_declared_params_are_valid_for_the_contract() -> None:
    """contract_params() passes the runtime's param check and the contract's consistency invariant."""
    from pvcontracts.contract.params import param_problems

    for kind, decay in (("cosine", 0.0), ("wsd", 0.2), ("wsd", 0.0)):
        schedule = Schedule(kind=kind, total_steps=1000, warmup_fraction=0.024, peak_lr=0.1, min_lr=0.01,
                            decay_fraction=decay)
        assert param_problems([CONTRACT], schedule.contract_params()) == []
        assert schedule.contract_params()["warmup_steps"] == 24  # exact: 0.024 * 1000 floors to 24, declared as 24
        assert SHAPE["INV-LR-001"].evaluate({"optimizer_steps": 1}, schedule.contract_params()).holds is True
