"""Falsifiers for lr-schedule-v1 3.0.0: the schedule the contract text defines, under every convention.

The scheduled LR is read from the contract itself (the ``expected_lr`` let of INV-LR-003), so
these properties are properties of the YAML: under every indexing convention warmup reaches
exactly peak_lr at its last step from warmup_start * peak_lr, every decay shape is monotone and
ends at exactly min_lr, the LR never leaves its bounds, and inconsistent params are refused.
The real schedulers (transformers, torch, torchtitan) are held to the same text in
tests/runtime/test_real_schedulers.py.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from _contracts import CI, invariant, param, params

C = "lr-schedule-v1"
REL = 1e-12  # float64 evaluation-order slack when comparing with exact values
DECAYING = ("linear", "cosine", "cosine_restarts", "polynomial", "sqrt")
FIRST_K = {"zero_based": 0, "one_based": -1, "endpoints": 0}  # the k at which the warmup line starts
PEAK_K = {"zero_based": 0, "one_based": -1, "endpoints": -1}  # k of the peak, relative to W


# --------------------------------------------------------------------------- strategies


@st.composite
def schedules(draw: Any, *, shape: str | None = None, max_total: int = 10**6, min_warmup: int = 0) -> dict[str, Any]:
    """A valid per-step configuration, drawn from the ranges the contract declares."""
    kind = shape or draw(st.sampled_from(param(C, "lr_schedule").values))
    total = draw(st.integers(min_value=max(4, 2 * min_warmup + 2), max_value=max_total))
    warmup = draw(st.integers(min_value=min_warmup, max_value=total // 2))
    peak = draw(st.floats(min_value=1e-7, max_value=10.0))
    return params(C, lr_schedule=kind, total_steps=total, warmup_steps=warmup, peak_lr=peak,
                  min_lr=peak * draw(st.floats(min_value=0.0, max_value=0.99)),
                  warmup_start=draw(st.sampled_from([0.0, 0.1, 1 / 25])),
                  warmup_shape=draw(st.sampled_from(param(C, "warmup_shape").values)),
                  step_indexing=draw(st.sampled_from(param(C, "step_indexing").values)),
                  power=draw(st.sampled_from([0.5, 1.0, 2.0])), cycles=draw(st.sampled_from([1.0, 2.0, 3.0])),
                  lr_tolerance=draw(st.sampled_from([1e-6, 1e-9, 1e-4, 0.01])))


def scheduled(run: dict[str, Any], k: int) -> float:
    """The contract's expected_lr for the step whose scheduler index is k (optimizer_steps = k + 1)."""
    result = invariant(C, "INV-LR-003").evaluate(
        {"optimizer_steps": k + 1, "optimizer_stepped": True, "lr": 0.0, "epoch": 0}, run)
    assert result.applicable
    return result.values["expected_lr"]


def peak_k(run: dict[str, Any]) -> int:
    return run["warmup_steps"] + PEAK_K[run["step_indexing"]]


def end_k(run: dict[str, Any]) -> int:
    """k at which the decay reaches min_lr."""
    return run["total_steps"] + (0 if run["step_indexing"] == "zero_based" else -1)


def close(a: float, b: float, scale: float) -> bool:
    return abs(a - b) <= REL * scale


# --------------------------------------------------------------------------- the formula's shape


@pytest.mark.discharges(gate="GATE-LR-001")
@CI
@given(run=schedules(min_warmup=2), where=st.floats(min_value=0.0, max_value=1.0))
def test_warmup_rises_to_peak(run: dict[str, Any], where: float) -> None:
    """The warmup starts at warmup_start * peak (at its convention's first index), rises, and peaks exactly."""
    peak, start = run["peak_lr"], run["warmup_start"]
    top = peak_k(run)
    assert close(scheduled(run, top), peak, peak)
    first = FIRST_K[run["step_indexing"]]
    if first == 0:
        assert close(scheduled(run, 0), start * peak, peak)
    else:  # one_based: the line passes warmup_start * peak one step before the run; step 0 is one step up
        assert scheduled(run, 0) > start * peak
    k = int(where * (top - 1))
    assert scheduled(run, k) <= scheduled(run, k + 1) + REL * peak


@pytest.mark.discharges(gate="GATE-LR-001")
@CI
@given(run=schedules(shape=None, max_total=10**5), points=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=12))
def test_decay_is_monotone_and_ends_at_min_lr(run: dict[str, Any], points: list[float]) -> None:
    """After the peak every shape but cosine_restarts never rises; every decaying shape ends at min_lr."""
    peak, floor_ = run["peak_lr"], run["min_lr"]
    top, end = peak_k(run), end_k(run)
    if run["lr_schedule"] in DECAYING:
        assert close(scheduled(run, end), floor_, peak), (run, scheduled(run, end))
        assert close(scheduled(run, end + 1 + end // 3), floor_, peak)  # overrunning T stays at the floor
    if run["lr_schedule"] in ("constant", "step", "multistep"):
        assert close(scheduled(run, end), peak if run["lr_schedule"] == "constant" else scheduled(run, end), peak)
    if run["lr_schedule"] == "cosine_restarts":
        return
    ks = sorted({top + int(p * (end - top)) for p in points})
    values = [scheduled(run, k) for k in ks]
    for earlier, later in zip(values, values[1:]):
        assert later <= earlier + REL * peak


@pytest.mark.discharges(gate="GATE-LR-001")
@CI
@given(run=schedules(max_total=10**5), where=st.floats(min_value=0.0, max_value=1.2))
def test_expected_lr_stays_within_floor_and_peak(run: dict[str, Any], where: float) -> None:
    """No scheduled LR exceeds peak_lr; none after warmup is below min_lr; INV-LR-005 accepts every one."""
    peak, floor_ = run["peak_lr"], run["min_lr"]
    k = int(where * run["total_steps"])
    lr = scheduled(run, k)
    assert 0 <= lr <= peak * (1 + REL)
    if k >= peak_k(run):
        assert lr >= floor_ * (1 - REL) - REL * peak
    bound = invariant(C, "INV-LR-005").evaluate({"optimizer_steps": k + 1, "lr": lr, "epoch": 0}, run)
    assert bound.applicable and bound.holds is True


@pytest.mark.discharges(gate="GATE-LR-001")
@CI
@given(run=schedules(), excess=st.floats(min_value=1e-6, max_value=10.0))
def test_inconsistent_params_are_rejected(run: dict[str, Any], excess: float) -> None:
    """min_lr above peak_lr, warmup given twice, a decaying shape without T, warmup + decay beyond T: refused."""
    consistency = invariant(C, "INV-LR-001")
    metrics = {"optimizer_steps": 1}
    assert consistency.evaluate(metrics, run).holds is True
    assert consistency.evaluate(metrics, dict(run, min_lr=run["peak_lr"] * (1 + excess))).holds is False
    assert consistency.evaluate(metrics, dict(run, warmup_steps=3, warmup_fraction=0.1)).holds is False
    no_total = consistency.evaluate(metrics, dict(run, total_steps=0, warmup_steps=0)).holds
    assert no_total is (run["lr_schedule"] in ("constant", "step", "multistep"))
    overfull = dict(run, decay_steps=run["total_steps"] - run["warmup_steps"] + 2)
    assert consistency.evaluate(metrics, overfull).holds is False


@pytest.mark.discharges(gate="GATE-LR-002")
@CI
@given(run=schedules(), where=st.floats(min_value=0.0, max_value=1.0),
       factor=st.floats(min_value=1.01, max_value=1e3), inside=st.floats(min_value=0.0, max_value=0.5),
       sign=st.sampled_from([-1.0, 1.0]))
def test_lr_off_by_more_than_tolerance_is_flagged(run: dict[str, Any], where: float, factor: float,
                                                  inside: float, sign: float) -> None:
    """|lr - schedule| > lr_tolerance * peak_lr is a violation; within half the tolerance it is not."""
    k = int(where * run["total_steps"])
    exact = scheduled(run, k)
    tol = run["lr_tolerance"] * run["peak_lr"]
    inv = invariant(C, "INV-LR-003")
    at = {"optimizer_steps": k + 1, "optimizer_stepped": True, "epoch": 0}
    assert inv.evaluate({**at, "lr": exact}, run).holds is True
    assert inv.evaluate({**at, "lr": exact + sign * inside * tol}, run).holds is True
    off = inv.evaluate({**at, "lr": exact + sign * factor * tol}, run)
    assert off.applicable and off.holds is False
    assert inv.evaluate({**at, "lr": math.nan}, run).holds is False


@pytest.mark.discharges(gate="GATE-LR-002")
@CI
@given(run=schedules(), where=st.floats(min_value=0.0, max_value=1.0), factor=st.floats(min_value=1.01, max_value=1e3))
def test_lr_out_of_bounds_is_flagged(run: dict[str, Any], where: float, factor: float) -> None:
    """Above peak_lr anywhere, or below min_lr after warmup, by more than the tolerance: flagged by INV-LR-005."""
    bound = invariant(C, "INV-LR-005")
    peak, floor_ = run["peak_lr"], run["min_lr"]
    slack = run["lr_tolerance"] * peak
    k = int(where * run["total_steps"])
    at = {"optimizer_steps": k + 1, "epoch": 0}
    assert bound.evaluate({**at, "lr": peak + factor * slack}, run).holds is False
    if k >= peak_k(run):
        assume(floor_ - factor * slack < floor_)
        assert bound.evaluate({**at, "lr": floor_ - factor * slack}, run).holds is False
    assert bound.evaluate({**at, "lr": scheduled(run, k)}, run).holds is True


@pytest.mark.discharges(gate="GATE-LR-002")
@CI
@given(run=schedules(), steps_per_epoch=st.integers(min_value=2, max_value=500), epochs=st.integers(1, 50),
       accumulation=st.integers(min_value=2, max_value=16), per_step=st.integers(min_value=1, max_value=64),
       data=st.data())
def test_scheduler_stepping_faults_are_flagged(run: dict[str, Any], steps_per_epoch: int, epochs: int,
                                               accumulation: int, per_step: int, data: Any) -> None:
    """A per-step schedule stepped per epoch, per micro-batch, or on a skipped step breaks INV-LR-002; moving
    scheduler_steps_per_step times per optimizer step (Accelerate steps it once per process) holds. A declared
    per-epoch schedule holds when stepped per epoch, and breaks when not."""
    stepping = invariant(C, "INV-LR-002")
    per_step_run = {**run, "lr_interval": "step", "scheduler_steps_per_step": per_step}
    step = data.draw(st.integers(min_value=1, max_value=steps_per_epoch * epochs), label="optimizer_steps")
    epoch = (step - 1) // steps_per_epoch
    at = {"optimizer_steps": step, "epoch": epoch}
    moved = step * per_step
    assert stepping.evaluate({**at, "scheduler_steps": moved}, per_step_run).holds is True
    assert stepping.evaluate({**at, "scheduler_steps": epoch}, per_step_run).holds is False  # per epoch: epoch < step
    assert stepping.evaluate({**at, "scheduler_steps": moved * accumulation}, per_step_run).holds is False  # micro-batches
    assert stepping.evaluate({**at, "scheduler_steps": moved + per_step}, per_step_run).holds is False  # on a skipped step
    assert stepping.evaluate({**at, "scheduler_steps": moved - 1}, per_step_run).holds is False  # one call short
    per_epoch = {**run, "lr_interval": "epoch", "scheduler_steps_per_step": per_step}
    assert stepping.evaluate({**at, "scheduler_steps": epoch}, per_epoch).holds is True
    assert stepping.evaluate({**at, "scheduler_steps": step}, per_epoch).holds is (step == epoch)
