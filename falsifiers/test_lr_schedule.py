"""Falsifiers for lr-schedule-v1: the schedule the contract text defines, and a trainer held to it.

The scheduled LR is read from the contract itself (the ``expected_lr`` let of
INV-LR-003 / INV-LR-004), so these properties are properties of the YAML:
warmup reaches peak_lr at its last step, the branches meet there, the decay
is monotone and ends at exactly min_lr, and the LR never leaves its bounds.
The trainer tests drive a real ``torch.optim.lr_scheduler.LambdaLR`` the way a
training loop does and check every step_end against the compiled invariants.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from _contracts import CI, CI_SLOW, Boundary, invariant, param, params, violated

C = "lr-schedule-v1"
STEP_INVARIANTS = ("INV-LR-001", "INV-LR-002", "INV-LR-003", "INV-LR-004", "INV-LR-005")
REL = 1e-12  # float64 evaluation-order slack when comparing with exact values


# --------------------------------------------------------------------------- strategies


@st.composite
def schedules(draw: Any, *, max_total: int = 10**9, min_total: int = 1, schedule: str | None = None,
              min_warmup_steps: int = 0) -> dict[str, Any]:
    """A valid configuration, drawn from the ranges the contract declares."""
    kind = schedule or draw(st.sampled_from(param(C, "lr_schedule").values))
    total = draw(st.integers(min_value=max(min_total, 1, 2 * min_warmup_steps), max_value=max_total))
    wmax = param(C, "warmup_fraction").max
    lo = min(min_warmup_steps / total, wmax)
    warmup_fraction = draw(st.floats(min_value=lo, max_value=wmax))
    assume(int(warmup_fraction * total) >= min_warmup_steps)
    peak = draw(st.floats(min_value=1e-7, max_value=10.0))
    floor_ratio = draw(st.floats(min_value=0.0, max_value=1.0))
    decay_fraction = draw(st.floats(min_value=0.0, max_value=1.0 - warmup_fraction))
    assume(warmup_fraction + decay_fraction <= 1.0)
    tolerance = draw(st.sampled_from([1e-6, 1e-9, 1e-4, 0.01]))
    return params(C, lr_schedule=kind, total_steps=total, warmup_fraction=warmup_fraction, peak_lr=peak,
                  min_lr=peak * floor_ratio, decay_fraction=decay_fraction, lr_tolerance=tolerance)


def warmup_steps(run: dict[str, Any]) -> int:
    return int(run["warmup_fraction"] * run["total_steps"])  # the documented convention: Python's int()


def decay_steps(run: dict[str, Any]) -> int:
    return int(run["decay_fraction"] * run["total_steps"])


def shape_invariant(run: dict[str, Any]) -> str:
    return "INV-LR-003" if run["lr_schedule"] == "cosine" else "INV-LR-004"


def scheduled(run: dict[str, Any], optimizer_steps: float) -> float:
    """The contract's expected_lr after ``optimizer_steps`` steps (the LR of 0-based step optimizer_steps - 1)."""
    result = invariant(C, shape_invariant(run)).evaluate(
        {"optimizer_steps": optimizer_steps, "optimizer_stepped": True, "lr": 0.0}, run)
    assert result.applicable
    assert result.values["warmup_steps"] == warmup_steps(run), "W is not floor(warmup_fraction * total_steps)"
    return result.values["expected_lr"]


def reference_lr(run: dict[str, Any], k: int) -> float:
    """How a trainer implements the documented schedule: the LR of 0-based optimizer step k."""
    T, W, D = run["total_steps"], warmup_steps(run), decay_steps(run)
    peak, floor_ = run["peak_lr"], run["min_lr"]
    n = k + 1
    if n <= W:
        return peak * n / W
    if run["lr_schedule"] == "cosine":
        p = min(max((n - W) / (T - W), 0.0), 1.0)
        return floor_ + (peak - floor_) * 0.5 * (1.0 + math.cos(math.pi * p))
    q = min(max((n - (T - D)) / max(D, 1), 0.0), 1.0)
    return floor_ + (peak - floor_) * (1.0 - q)


def close(a: float, b: float, scale: float) -> bool:
    return abs(a - b) <= REL * scale


# --------------------------------------------------------------------------- the formula's shape


@pytest.mark.discharges(gate="GATE-LR-001")
@CI
@given(run=schedules(min_warmup_steps=1), where=st.floats(min_value=0.0, max_value=1.0))
def test_warmup_rises_linearly_to_peak(run: dict[str, Any], where: float) -> None:
    """Step 0 trains at peak/W (never 0), step k at peak*(k+1)/W, and the last warmup step at exactly peak."""
    W, peak = warmup_steps(run), run["peak_lr"]
    assert close(scheduled(run, 1), peak / W, peak)
    assert scheduled(run, 1) > 0
    assert close(scheduled(run, W), peak, peak)
    n = 1 + int(where * (W - 1))
    assert close(scheduled(run, n), peak * n / W, peak)
    if n < W:
        assert scheduled(run, n) < scheduled(run, n + 1)


@pytest.mark.discharges(gate="GATE-LR-001")
@CI
@given(run=schedules(min_warmup_steps=1, max_total=10**4), eps=st.floats(min_value=1e-9, max_value=1e-6))
def test_expected_lr_is_continuous_at_the_warmup_boundary(run: dict[str, Any], eps: float) -> None:
    """Just before and just after s + 1 = W both branches give (nearly) peak_lr: no jump at the hand-over."""
    W, peak = warmup_steps(run), run["peak_lr"]
    before, at, after = scheduled(run, W - eps), scheduled(run, W), scheduled(run, W + eps)
    assert close(at, peak, peak)
    assert abs(before - at) <= 2 * eps * peak
    assert abs(after - at) <= 2 * eps * peak + REL * peak


@pytest.mark.discharges(gate="GATE-LR-001")
@CI
@given(run=schedules(schedule="cosine", max_total=10**7),
       points=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=2, max_size=20))
def test_cosine_decays_monotonically_to_min_lr(run: dict[str, Any], points: list[float]) -> None:
    """From peak_lr at s = W - 1 the cosine never rises, is half-way at the middle, and is exactly min_lr at s = T - 1."""
    T, W, peak, floor_ = run["total_steps"], warmup_steps(run), run["peak_lr"], run["min_lr"]
    if W >= 1:
        assert close(scheduled(run, W), peak, peak)
    assert close(scheduled(run, T), floor_, peak)
    assert close(scheduled(run, T + 1 + T // 3), floor_, peak)  # a run that overruns T stays at the floor
    steps = sorted({W + int(p * (T - W)) for p in points} - {0})
    values = [scheduled(run, n) for n in steps]
    for earlier, later in zip(values, values[1:]):
        assert later <= earlier + REL * peak
    if (T - W) % 4 == 0 and T > W:  # the cosine, not a straight line: a quarter in, 85% of the way up remains
        quarter = scheduled(run, W + (T - W) // 4)
        assert close(quarter, floor_ + (peak - floor_) * (1 + math.cos(math.pi / 4)) / 2, peak)
        assert close(scheduled(run, W + (T - W) // 2), (peak + floor_) / 2, peak)


@pytest.mark.discharges(gate="GATE-LR-001")
@CI
@given(run=schedules(schedule="wsd", max_total=10**7), where=st.floats(min_value=0.0, max_value=1.0))
def test_wsd_holds_peak_then_decays_linearly_to_min_lr(run: dict[str, Any], where: float) -> None:
    """wsd: peak_lr on every step up to T - D, then a straight line down to exactly min_lr at s = T - 1."""
    T, W, D = run["total_steps"], warmup_steps(run), decay_steps(run)
    peak, floor_ = run["peak_lr"], run["min_lr"]
    start = T - D
    assert W <= start
    if start > W:
        stable = W + 1 + int(where * (start - W - 1))
        assert close(scheduled(run, stable), peak, peak)
        assert close(scheduled(run, start), peak, peak)
    assert close(scheduled(run, T), floor_ if D >= 1 else peak, peak)
    if D >= 1:
        n = start + 1 + int(where * (D - 1))
        assert close(scheduled(run, n), peak - (peak - floor_) * (n - start) / D, peak)
        if n < T:
            assert scheduled(run, n + 1) <= scheduled(run, n) + REL * peak
    assert close(scheduled(run, T + 7), floor_, peak)  # overrunning T lands on the floor, never below


@pytest.mark.discharges(gate="GATE-LR-001")
@CI
@given(run=schedules(max_total=10**6), where=st.floats(min_value=0.0, max_value=1.2))
def test_expected_lr_stays_within_floor_and_peak(run: dict[str, Any], where: float) -> None:
    """No scheduled LR exceeds peak_lr; none after warmup is below min_lr; INV-LR-005 accepts every one."""
    T, W, peak, floor_ = run["total_steps"], warmup_steps(run), run["peak_lr"], run["min_lr"]
    n = max(1, int(where * T))
    lr = scheduled(run, n)
    assert 0 < lr <= peak * (1 + REL) or (lr == floor_ == 0 and n >= T)
    if n > W:
        assert lr >= floor_ * (1 - REL)
    bound = invariant(C, "INV-LR-005").evaluate({"optimizer_steps": n, "lr": lr}, run)
    assert bound.applicable and bound.holds is True


@pytest.mark.discharges(gate="GATE-LR-001")
@CI
@given(run=schedules(max_total=10**6), excess=st.floats(min_value=1e-6, max_value=10.0))
def test_inconsistent_params_are_rejected(run: dict[str, Any], excess: float) -> None:
    """min_lr above peak_lr is rejected under both shapes; warmup + decay over the whole run only under wsd."""
    consistency = invariant(C, "INV-LR-001")
    metrics = {"optimizer_steps": 1}
    assert consistency.evaluate(metrics, run).holds is True
    inverted = dict(run, min_lr=run["peak_lr"] * (1 + excess))
    assert consistency.evaluate(metrics, inverted).holds is False
    overfull = dict(run, decay_fraction=1.0 - run["warmup_fraction"] + excess / 10)
    assert consistency.evaluate(metrics, overfull).holds is (run["lr_schedule"] != "wsd")


# --------------------------------------------------------------------------- a trainer held to the contract


class _Loop:
    """A training loop's LR plumbing: torch SGD + LambdaLR, with the step_end metrics a runtime would read."""

    def __init__(self, run: dict[str, Any], schedule_of_step) -> None:
        import torch

        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.weight.grad = torch.ones(1)  # a constant gradient: only the LR plumbing is under test
        self.optimizer = torch.optim.SGD([self.weight], lr=run["peak_lr"])
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda k: schedule_of_step(k) / run["peak_lr"])
        self.optimizer_steps = 0
        self.scheduler_steps = 0

    def optimizer_step(self) -> float:
        lr = self.optimizer.param_groups[0]["lr"]  # the LR this step uses
        self.optimizer.step()
        self.optimizer_steps += 1
        return lr

    def scheduler_step(self) -> None:
        self.scheduler.step()
        self.scheduler_steps += 1

    def metrics(self, lr: float, stepped: bool) -> dict[str, Any]:
        return {"optimizer_steps": self.optimizer_steps, "scheduler_steps": self.scheduler_steps,
                "optimizer_stepped": stepped, "lr": lr}


@pytest.mark.discharges(gate="GATE-LR-002")
@CI_SLOW
@given(run=schedules(max_total=150), skips=st.lists(st.booleans(), max_size=40))
def test_reference_lambda_lr_trainer_satisfies_the_contract(run: dict[str, Any], skips: list[bool]) -> None:
    """A LambdaLR stepped once per optimizer step, skipping overflowed steps entirely, passes every step_end check."""
    loop = _Loop(run, lambda k: reference_lr(run, k))
    boundary = Boundary(C, STEP_INVARIANTS, run)
    skips = iter(skips)
    while loop.optimizer_steps < run["total_steps"]:
        if next(skips, False):  # fp16 overflow: no optimizer step, no scheduler step
            results = boundary.observe(loop.metrics(loop.optimizer.param_groups[0]["lr"], stepped=False))
        else:
            lr = loop.optimizer_step()
            loop.scheduler_step()
            results = boundary.observe(loop.metrics(lr, stepped=True))
            assert results[shape_invariant(run)].applicable
        assert not violated(results), (loop.optimizer_steps, {k: r.values for k, r in results.items()})
    # after T scheduler steps the group holds the LR a step T would use: the floor, under both shapes
    assert math.isclose(loop.optimizer.param_groups[0]["lr"], run["min_lr"], rel_tol=1e-9, abs_tol=1e-18)


@pytest.mark.discharges(gate="GATE-LR-002")
@CI_SLOW
@given(run=schedules(min_total=4, max_total=200, min_warmup_steps=2), steps_per_epoch=st.integers(2, 16))
def test_scheduler_stepped_per_epoch_is_caught(run: dict[str, Any], steps_per_epoch: int) -> None:
    """scheduler.step() in the epoch loop is flagged by INV-LR-002 at the very first step_end, and the LR drifts off the schedule."""
    loop = _Loop(run, lambda k: reference_lr(run, k))
    boundary = Boundary(C, STEP_INVARIANTS, run)
    seen: list[set[str]] = []
    while loop.optimizer_steps < run["total_steps"]:
        for _ in range(steps_per_epoch):
            lr = loop.optimizer_step()
            seen.append(violated(boundary.observe(loop.metrics(lr, stepped=True))))
        loop.scheduler_step()
    assert "INV-LR-002" in seen[0]
    assert any(shape_invariant(run) in v for v in seen)  # with W >= 2, step 1 ran at peak/W instead of 2*peak/W


@pytest.mark.discharges(gate="GATE-LR-002")
@CI
@given(run=schedules(max_total=10**6), where=st.floats(min_value=0.0, max_value=1.0),
       factor=st.floats(min_value=1.01, max_value=1e3), inside=st.floats(min_value=0.0, max_value=0.5),
       sign=st.sampled_from([-1.0, 1.0]))
def test_lr_off_by_more_than_tolerance_is_flagged(run: dict[str, Any], where: float, factor: float,
                                                  inside: float, sign: float) -> None:
    """|lr - schedule| > lr_tolerance * peak_lr is a violation; within half the tolerance it is not."""
    n = max(1, int(where * run["total_steps"]))
    exact = reference_lr(run, n - 1)
    tol = run["lr_tolerance"] * run["peak_lr"]
    inv = invariant(C, shape_invariant(run))
    at = {"optimizer_steps": n, "optimizer_stepped": True}
    assert inv.evaluate({**at, "lr": exact}, run).holds is True
    assert inv.evaluate({**at, "lr": exact + sign * inside * tol}, run).holds is True
    off = inv.evaluate({**at, "lr": exact + sign * factor * tol}, run)
    assert off.applicable and off.holds is False
    assert off.values["lr"] == exact + sign * factor * tol and "expected_lr" in off.values
    assert inv.evaluate({**at, "lr": math.nan}, run).holds is False


@pytest.mark.discharges(gate="GATE-LR-002")
@CI
@given(run=schedules(max_total=10**6), where=st.floats(min_value=0.0, max_value=1.0),
       factor=st.floats(min_value=1.01, max_value=1e3))
def test_lr_out_of_bounds_is_flagged(run: dict[str, Any], where: float, factor: float) -> None:
    """Above peak_lr anywhere, or below min_lr after warmup, by more than the tolerance: flagged by INV-LR-005."""
    bound = invariant(C, "INV-LR-005")
    T, W, peak, floor_ = run["total_steps"], warmup_steps(run), run["peak_lr"], run["min_lr"]
    slack = run["lr_tolerance"] * peak
    n = max(1, int(where * T))
    assert bound.evaluate({"optimizer_steps": n, "lr": peak + factor * slack}, run).holds is False
    if n > W:
        assert bound.evaluate({"optimizer_steps": n, "lr": floor_ - factor * slack}, run).holds is False
    else:  # during warmup the LR is legitimately below the floor
        assert bound.evaluate({"optimizer_steps": n, "lr": peak / max(W, 1) * 0.5}, run).holds is True
    assert bound.evaluate({"optimizer_steps": n, "lr": reference_lr(run, n - 1)}, run).holds is True
