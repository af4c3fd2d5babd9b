"""Falsifiers for representation-collapse-v1, on metrics computed from real embeddings with torch.

Predictions and targets are random embedding batches; collapse is produced
the two ways it happens in training (predictions shrinking towards zero
variance, and predictions pulled together towards their mean) at every
scale. The metrics are computed the way a trainer's metric provider would,
and the shipped invariants are evaluated on them, on the host and as tensors.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _contracts import CI, CI_SLOW, invariant, param, params, violated

torch = pytest.importorskip("torch")

C = "representation-collapse-v1"
EVAL = ("INV-COLLAPSE-001", "INV-COLLAPSE-002", "INV-COLLAPSE-003")
MARGIN = 1e-6  # relative distance from a threshold beyond which float64 rounding cannot decide a verdict

seeds = st.integers(min_value=0, max_value=2**32 - 1)
shapes = st.tuples(st.integers(min_value=4, max_value=48), st.integers(min_value=2, max_value=24))
scales = st.floats(min_value=1e-4, max_value=1e4)


def batch(seed: int, shape: tuple[int, int], scale: float, dtype: Any = None) -> Any:
    gen = torch.Generator().manual_seed(seed)
    return scale * torch.randn(shape, generator=gen, dtype=dtype or torch.float64)


def embedding_metrics(pred: Any, target: Any, initial_pred: Any, kl_reg: float) -> dict[str, Any]:
    """The collapse metrics as 0-d tensors, computed as a metric provider would."""
    return {
        "pred_var_per_dim": pred.var(dim=0, unbiased=False).mean(),
        "target_var_per_dim": target.var(dim=0, unbiased=False).mean(),
        "pairwise_pred_dist_mean": torch.pdist(pred).mean(),
        "initial_pairwise_pred_dist_mean": torch.pdist(initial_pred).mean(),
        "kl_reg": torch.as_tensor(kl_reg, dtype=pred.dtype),
    }


def host(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v.item() if hasattr(v, "item") else v for k, v in metrics.items()}


def at_eval(metrics: dict[str, Any], run: dict[str, Any] | None = None) -> set[str]:
    run = run or params(C)
    return violated({i: invariant(C, i).evaluate(metrics, run) for i in EVAL})


@pytest.mark.discharges(gate="GATE-COLLAPSE-001")
@CI_SLOW
@given(seed=seeds, shape=shapes, scale=scales, gain=st.floats(min_value=0.75, max_value=2.0),
       kl=st.floats(min_value=0.0, max_value=10.0))
def test_healthy_predictions_pass(seed: int, shape: tuple[int, int], scale: float, gain: float, kl: float) -> None:
    """Predictions that are an affine image of the targets (gain >= 0.75) pass every check, at every scale."""
    target = batch(seed, shape, scale)
    # the untrained model's predictions: a random rotation of the targets, so equally spread but unrelated
    q, _ = torch.linalg.qr(batch(seed + 1, (shape[1], shape[1]), 1.0))
    initial = target @ q
    pred = gain * target + 3.0 * scale
    assert at_eval(host(embedding_metrics(pred, target, initial, kl))) == set()


@pytest.mark.discharges(gate="GATE-COLLAPSE-001")
@CI_SLOW
@given(seed=seeds, shape=shapes, scale=scales, shrink=st.floats(min_value=0.0, max_value=1.0))
def test_shrunk_predictions_are_flagged(seed: int, shape: tuple[int, int], scale: float, shrink: float) -> None:
    """Predictions = c * targets: flagged by the variance check exactly when c**2 < min_var_ratio."""
    target = batch(seed, shape, scale)
    pred = shrink * target
    inv = invariant(C, "INV-COLLAPSE-001")
    result = inv.evaluate(host(embedding_metrics(pred, target, target, 0.0)), params(C))
    bound = params(C)["min_var_ratio"]
    assert math.isclose(result.values["var_ratio"], shrink**2, rel_tol=1e-9, abs_tol=1e-300)
    if shrink**2 < bound * (1 - MARGIN):
        assert result.holds is False
    elif shrink**2 > bound * (1 + MARGIN):
        assert result.holds is True


@pytest.mark.discharges(gate="GATE-COLLAPSE-001")
@CI_SLOW
@given(seed=seeds, shape=shapes, scale=scales, pull=st.floats(min_value=0.0, max_value=1.0))
def test_mode_collapse_is_flagged(seed: int, shape: tuple[int, int], scale: float, pull: float) -> None:
    """Predictions pulled towards their mean (distances scaled by lambda): flagged exactly when lambda < min_dist_ratio."""
    initial = batch(seed, shape, scale)
    centre = initial.mean(dim=0, keepdim=True)
    pred = centre + pull * (initial - centre)
    metrics = host(embedding_metrics(pred, initial, initial, 0.0))
    result = invariant(C, "INV-COLLAPSE-002").evaluate(metrics, params(C))
    bound = params(C)["min_dist_ratio"]
    if pull < bound * (1 - MARGIN):
        assert result.holds is False
    elif pull > bound * (1 + MARGIN):
        assert result.holds is True


NAN_FLAGS = {"pred_var_per_dim": "INV-COLLAPSE-001", "target_var_per_dim": "INV-COLLAPSE-001",
             "pairwise_pred_dist_mean": "INV-COLLAPSE-002", "initial_pairwise_pred_dist_mean": "INV-COLLAPSE-002",
             "kl_reg": "INV-COLLAPSE-003"}


@pytest.mark.discharges(gate="GATE-COLLAPSE-001")
@CI
@given(var_exp=st.integers(min_value=-40, max_value=40), dist_exp=st.integers(min_value=-40, max_value=40),
       nan_at=st.sampled_from(sorted(NAN_FLAGS)))
def test_thresholds_are_inclusive_and_nan_fails(var_exp: int, dist_exp: int, nan_at: str) -> None:
    """Exactly at each bound passes; one ulp past it or NaN fails; zero target variance with zero predictions fails."""
    run = params(C)
    target_var, dist = 2.0**var_exp, 2.0**dist_exp  # powers of two: bound * value is exact
    at_bound = {"pred_var_per_dim": run["min_var_ratio"] * target_var, "target_var_per_dim": target_var,
                "pairwise_pred_dist_mean": run["min_dist_ratio"] * dist, "initial_pairwise_pred_dist_mean": dist,
                "kl_reg": run["max_kl_reg"]}
    assert at_eval(at_bound) == set()
    past = {"pred_var_per_dim": ("INV-COLLAPSE-001", 0.0), "pairwise_pred_dist_mean": ("INV-COLLAPSE-002", 0.0),
            "kl_reg": ("INV-COLLAPSE-003", math.inf)}
    for name, (inv_id, direction) in past.items():
        assert at_eval(dict(at_bound, **{name: math.nextafter(at_bound[name], direction)})) == {inv_id}
    assert at_eval(dict(at_bound, **{nan_at: math.nan})) == {NAN_FLAGS[nan_at]}
    assert at_eval(dict(at_bound, pred_var_per_dim=0.0, target_var_per_dim=0.0)) == {"INV-COLLAPSE-001"}


@pytest.mark.discharges(gate="GATE-COLLAPSE-001")
@CI
@given(steps=st.integers(min_value=0, max_value=10**7), every=st.integers(min_value=param(C, "check_every_steps").min,
       max_value=10_000), stepped=st.booleans(), pred_var=st.floats(0.0, 2.0), dist=st.floats(0.0, 2.0),
       kl=st.floats(0.0, 20.0))
def test_step_check_runs_on_schedule_only(steps: int, every: int, stepped: bool, pred_var: float, dist: float,
                                          kl: float) -> None:
    """The step check applies exactly at optimizer steps that are multiples of check_every_steps, and there it
    fails exactly when one of the eval checks would fail on the same metrics."""
    run = params(C, check_every_steps=every)
    metrics = {"optimizer_steps": steps, "optimizer_stepped": stepped, "pred_var_per_dim": pred_var,
               "target_var_per_dim": 1.0, "pairwise_pred_dist_mean": dist, "initial_pairwise_pred_dist_mean": 1.0,
               "kl_reg": kl}
    result = invariant(C, "INV-COLLAPSE-004").evaluate(metrics, run)
    assert result.applicable is (stepped and steps % every == 0)
    if result.applicable:
        assert result.holds is (not at_eval(metrics, run))
    assert invariant(C, "INV-COLLAPSE-004").invariant.on_violation == "warn"


@pytest.mark.discharges(gate="GATE-COLLAPSE-001")
@CI_SLOW
@given(seed=seeds, shape=shapes, scale=scales, shrink=st.floats(min_value=0.0, max_value=1.5),
       kl=st.floats(min_value=0.0, max_value=20.0), dtype=st.sampled_from(["float64", "float32"]))
def test_tensor_and_host_verdicts_agree(seed: int, shape: tuple[int, int], scale: float, shrink: float, kl: float,
                                        dtype: str) -> None:
    """The same compiled invariants give the same verdict on 0-d tensors (no .item() sync) as on Python floats."""
    dt = getattr(torch, dtype)
    target = batch(seed, shape, scale, dt)
    pred = shrink * target
    metrics = embedding_metrics(pred, target, target, kl)
    run = params(C)
    for inv_id in EVAL:
        inv = invariant(C, inv_id)
        on_device = inv.evaluate(metrics, run)
        on_host = inv.evaluate(host(metrics), run)
        assert isinstance(on_device.holds, torch.Tensor) and on_device.holds.dtype == torch.bool
        near = {"INV-COLLAPSE-001": abs(shrink**2 - run["min_var_ratio"]),
                "INV-COLLAPSE-002": abs(shrink - run["min_dist_ratio"]),
                "INV-COLLAPSE-003": abs(kl - run["max_kl_reg"])}[inv_id]
        if dtype == "float64" or near > 1e-4:  # float32 rounding may decide a verdict right at a bound
            assert bool(on_device.holds) is bool(on_host.holds), (inv_id, host(metrics))
