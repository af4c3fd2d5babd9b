"""Metric providers: hand-computed values on small tensors, schedules, baselines, NaN, and no host reads.

The collapse provider is also run through the real Monitor with the shipped
``representation-collapse-v1``: healthy embeddings pass, collapsed ones abort.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from pathlib import Path
from typing import Any, Iterator

import pytest

torch = pytest.importorskip("torch")

from pvcontracts.runtime import ContractViolation, ContractWarning, Monitor  # noqa: E402
from pvcontracts.runtime.providers import (  # noqa: E402
    CollapseProvider,
    CoverageProvider,
    Tag,
    collapse_metrics,
    gaussian_kl,
    global_grad_norm,
    pairwise_dist_mean,
    snapshot,
    tag_counts,
    tag_outputs,
    update_ratio,
)

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
NAN, INF = math.nan, math.inf

# Four 2-d points: per-dimension population variances 0.5 and 2; pairwise distances 2, 4 and four times sqrt(5).
POINTS = [[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]]


def t(values: Any, dtype: Any = torch.float64) -> Any:
    return torch.tensor(values, dtype=dtype)


@contextlib.contextmanager
def host_reads() -> Iterator[list[str]]:
    """Counts every call that would read a tensor back to the host (a sync on an accelerator)."""
    calls: list[str] = []
    names = ["item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__"]
    saved = {name: getattr(torch.Tensor, name) for name in names}

    def counting(name: str) -> Any:
        original = saved[name]

        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return original(self, *args, **kwargs)

        return wrapper

    for name in names:
        setattr(torch.Tensor, name, counting(name))
    try:
        yield calls
    finally:
        for name, original in saved.items():
            setattr(torch.Tensor, name, original)


# =============================================================================== collapse: values


def test_collapse_metrics_by_hand() -> None:
    pred = t(POINTS)
    m = collapse_metrics(pred, 2.0 * pred)
    assert m["pred_var_per_dim"].item() == pytest.approx(1.25)          # (0.5 + 2) / 2
    assert m["target_var_per_dim"].item() == pytest.approx(5.0)         # scaled by 2: variances by 4
    assert m["pairwise_pred_dist_mean"].item() == pytest.approx((2 + 4 + 4 * math.sqrt(5)) / 6)
    assert m["pred_target_cosine"].item() == pytest.approx(1.0)
    assert m["pred_target_dist_mean"].item() == pytest.approx((1 + 1 + 2 + 2) / 4)  # |pred - 2 pred| = |pred|
    assert m["pred_target_correlation"].item() == pytest.approx(1.0)
    assert "kl_reg" not in m and "initial_pairwise_pred_dist_mean" not in m
    opposite = collapse_metrics(pred, -pred)
    assert opposite["pred_target_cosine"].item() == pytest.approx(-1.0)
    assert opposite["pred_target_correlation"].item() == pytest.approx(-1.0)
    assert opposite["pred_target_dist_mean"].item() == pytest.approx(2 * 1.5)


def test_every_metric_is_a_zero_dim_tensor_on_the_inputs_device_and_dtype() -> None:
    m = collapse_metrics(t(POINTS), t(POINTS), t([[0.0]] * 4), t([[0.0]] * 4))
    for name, value in m.items():
        assert isinstance(value, torch.Tensor) and value.shape == () and value.dtype == torch.float64, name


def test_variance_is_the_population_variance_the_falsifiers_use() -> None:
    x = torch.randn(10, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    m = collapse_metrics(x, x)
    assert torch.equal(m["pred_var_per_dim"], x.var(dim=0, unbiased=False).mean())
    assert torch.equal(m["pairwise_pred_dist_mean"], torch.pdist(x).mean())


def test_leading_dimensions_are_rows() -> None:
    x = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(1))
    flat = collapse_metrics(x.reshape(6, 4), x.reshape(6, 4))
    shaped = collapse_metrics(x, x)
    assert all(torch.equal(flat[k], shaped[k]) for k in flat)


def test_constant_dimension_has_zero_correlation_not_nan() -> None:
    pred = t([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    m = collapse_metrics(pred, pred)
    assert m["pred_target_correlation"].item() == pytest.approx(0.5)  # dims: 1 and 0


def test_gaussian_kl_by_hand() -> None:
    mu = t([[1.0, 0.0], [0.0, 0.0]])
    logvar = t([[0.0, math.log(2.0)], [0.0, 0.0]])
    # row 0: 0.5 * (1 + 1 - 1 - 0) + 0.5 * (0 + 2 - 1 - ln 2); row 1 is the prior itself: 0
    assert gaussian_kl(mu, logvar).item() == pytest.approx((1.0 - 0.5 * math.log(2.0)) / 2)
    assert gaussian_kl(torch.zeros(3, 5), torch.zeros(3, 5)).item() == 0.0


def test_half_precision_is_measured_in_float32() -> None:
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(2))
    half = collapse_metrics(x.bfloat16(), x.bfloat16())
    assert half["pred_var_per_dim"].dtype == torch.float32
    assert half["pred_var_per_dim"].item() == pytest.approx(x.bfloat16().float().var(dim=0, unbiased=False).mean().item())


def test_pairwise_distance_max_rows_uses_a_fixed_prefix_and_draws_no_random_numbers() -> None:
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(3))
    state = torch.random.get_rng_state()
    assert torch.equal(pairwise_dist_mean(x, max_rows=10), torch.pdist(x[:10]).mean())
    assert torch.equal(torch.random.get_rng_state(), state)


@pytest.mark.parametrize("call, message", [
    (lambda: collapse_metrics(t([[1.0, 2.0]]), t([[1.0, 2.0]])), "at least 2 rows"),
    (lambda: collapse_metrics(t(POINTS), t(POINTS)[:3]), "same shape"),
    (lambda: collapse_metrics(t([1.0, 2.0]), t([1.0, 2.0])), "shape"),
    (lambda: collapse_metrics(t(POINTS), t(POINTS), mu=t(POINTS)), "both mu and logvar"),
    (lambda: gaussian_kl(t([[0.0, 0.0]]), t([[0.0]])), "same shape"),
    (lambda: pairwise_dist_mean(t(POINTS), max_rows=1), "max_rows=1"),
    (lambda: CollapseProvider(every=0), "every=0"),
    (lambda: CoverageProvider(window=0), "window=0"),
])
def test_bad_arguments_are_refused_clearly(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_nan_propagates_into_the_metrics() -> None:
    pred = t(POINTS)
    pred[2, 1] = NAN
    m = collapse_metrics(pred, t(POINTS), t([[NAN]] * 4), t([[0.0]] * 4))
    for name in ("pred_var_per_dim", "pairwise_pred_dist_mean", "pred_target_dist_mean", "pred_target_correlation",
                 "kl_reg"):
        assert math.isnan(m[name].item()), name
    assert m["target_var_per_dim"].item() == pytest.approx(1.25)


# =============================================================================== collapse: schedule and baseline


def test_schedule_is_respected_and_off_steps_compute_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import pvcontracts.runtime.providers.collapse as collapse

    computed: list[int] = []
    real = collapse.collapse_metrics
    monkeypatch.setattr(collapse, "collapse_metrics", lambda *a, **k: computed.append(1) or real(*a, **k))
    provider = CollapseProvider(every=500)
    due = [step for step in range(0, 2001) if provider.observe(step, t(POINTS), t(POINTS))]
    assert due == [0, 500, 1000, 1500, 2000]
    assert len(computed) == len(due)
    assert CollapseProvider(every=3).observe(7, t(POINTS), t(POINTS)) == {}


def test_tensor_step_is_refused_rather_than_synced() -> None:
    with pytest.raises(TypeError, match="host int"):
        CollapseProvider(every=2).observe(torch.tensor(4), t(POINTS), t(POINTS))


def test_baseline_is_the_first_observed_batch_only() -> None:
    first, second, skipped = t(POINTS), 3.0 * t(POINTS), 10.0 * t(POINTS)
    provider = CollapseProvider(every=10)
    assert provider.observe(3, skipped, skipped) == {}          # not observed: not the baseline
    m0 = provider.observe(10, first, first)
    m1 = provider.observe(20, second, second)
    base = (2 + 4 + 4 * math.sqrt(5)) / 6
    assert m0["initial_pairwise_pred_dist_mean"].item() == pytest.approx(base)
    assert m0["pairwise_pred_dist_mean"].item() == pytest.approx(base)
    assert m1["initial_pairwise_pred_dist_mean"].item() == pytest.approx(base)
    assert m1["pairwise_pred_dist_mean"].item() == pytest.approx(3 * base)
    assert provider.measure(skipped, skipped)["initial_pairwise_pred_dist_mean"].item() == pytest.approx(base)


def test_baseline_is_a_copy_not_a_view_of_the_first_batch() -> None:
    pred = t(POINTS)
    provider = CollapseProvider(every=1)
    provider.observe(0, pred, pred)
    pred.mul_(0.0)  # the trainer reuses its buffer
    assert provider.observe(1, pred + t(POINTS), pred)["initial_pairwise_pred_dist_mean"].item() > 0


def test_baseline_survives_a_resume_through_state_dict() -> None:
    provider = CollapseProvider(every=1)
    provider.observe(0, t(POINTS), t(POINTS))
    restored = CollapseProvider(every=1)
    restored.load_state_dict(provider.state_dict())
    m = restored.observe(1, 5.0 * t(POINTS), t(POINTS))
    assert m["initial_pairwise_pred_dist_mean"].item() == pytest.approx(provider.baseline.item())
    given = CollapseProvider(every=1, initial_pairwise_pred_dist_mean=2.5)
    assert given.observe(0, t(POINTS), t(POINTS))["initial_pairwise_pred_dist_mean"].item() == 2.5


def test_providers_never_read_a_tensor_back() -> None:
    pred, target = torch.randn(16, 8), torch.randn(16, 8)
    mu, logvar = torch.randn(16, 4), torch.randn(16, 4)
    collapse, coverage = CollapseProvider(every=2), CoverageProvider(window=3)
    model = torch.nn.Linear(3, 2)
    model(torch.randn(4, 3)).sum().backward()
    with host_reads() as calls:
        for step in range(6):
            collapse.observe(step, pred, target, mu, logvar)
            coverage.observe(torch.tensor([1.0, NAN, INF, -INF]))
            coverage.observe(tags=torch.tensor([0, 3, 9]))
        coverage.summary()
        before = snapshot(model.parameters())
        global_grad_norm(model.parameters())
        update_ratio(before, model.parameters())
        tag_outputs(pred)
    assert calls == []


# =============================================================================== collapse through the Monitor


def _embeddings(seed: int, n: int = 64, dim: int = 16) -> tuple[Any, Any]:
    gen = torch.Generator().manual_seed(seed)
    target = torch.randn(n, dim, generator=gen)
    return target + 0.2 * torch.randn(n, dim, generator=gen), target


def _collapsed(pred: Any, keep: float) -> Any:
    centre = pred.mean(dim=0, keepdim=True)
    return centre + keep * (pred - centre)


def _monitor(**params: Any) -> Any:
    return Monitor.from_contracts(CONTRACTS, select=["representation-collapse-v1"], params=params, sync_every=10)


def _failing_eval_checks(metrics: dict[str, Any]) -> set[str]:
    from pvcontracts.contract.compiled import compile_invariant
    from pvcontracts.contract.loading import load_contract_file

    contract = load_contract_file(CONTRACTS / "representation-collapse-v1.yaml").contract
    host = {k: v.item() for k, v in metrics.items()}
    return {inv.id for inv in contract.invariants if inv.at == "eval_end"
            and not compile_invariant(contract, inv).evaluate(host).holds}


def _posterior(n: int, shift: float = 0.0) -> tuple[Any, Any]:
    return torch.full((n, 4), shift), torch.zeros(n, 4)


def test_healthy_embeddings_pass_the_collapse_contract() -> None:
    provider = CollapseProvider(every=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a step-level warning would fail the test
        with _monitor(check_every_steps=5) as monitor:
            for step in range(1, 31):
                pred, target = _embeddings(step)
                monitor.step_end(optimizer_stepped=True, optimizer_steps=step,
                                 **provider.observe(step, pred, target, *_posterior(64)))
                if step % 10 == 0:
                    monitor.eval_end(**provider.measure(pred, target, *_posterior(64)))
    stats = monitor.stats()
    assert stats["INV-COLLAPSE-004"]["applicable"] == 6 and stats["INV-COLLAPSE-004"]["violated"] == 0
    assert all(stats[f"INV-COLLAPSE-00{i}"]["applicable"] == 3 for i in (1, 2, 3))


@pytest.mark.parametrize("keep, violated", [(0.01, {"INV-COLLAPSE-001", "INV-COLLAPSE-002"}),
                                            (0.6, {"INV-COLLAPSE-001"}),
                                            (0.45, {"INV-COLLAPSE-001", "INV-COLLAPSE-002"}),
                                            (0.75, set())])
def test_collapsed_embeddings_abort_at_eval(keep: float, violated: set[str]) -> None:
    """Pulled towards their mean: the variance ratio falls with keep**2, the distances with keep. At 0.6 only the
    variance check fires (0.36 < 0.5 < 0.6); at 0.75 neither (0.5625 and 0.75 are above 0.5)."""
    provider = CollapseProvider(every=1000)
    with _monitor() as monitor:
        pred, target = _embeddings(0)
        monitor.eval_end(**provider.measure(pred, target, *_posterior(64)))
        pred, target = _embeddings(1)
        metrics = provider.measure(_collapsed(pred, keep), target, *_posterior(64))
        with contextlib.ExitStack() as stack:
            if violated:
                raised = stack.enter_context(pytest.raises(ContractViolation))
            monitor.eval_end(**metrics)
    # Which eval checks fail, from the contract text itself (the Monitor raises on the first one).
    assert _failing_eval_checks(metrics) == violated
    if violated:
        assert raised.value.invariant_id == min(violated) and raised.value.boundary == "eval_end"
        assert raised.value.values["var_ratio"] == pytest.approx(keep**2, rel=0.1)


def test_distances_shrinking_against_the_baseline_abort_at_eval() -> None:
    """Targets shrink with the predictions (the variance ratio holds): only the baseline comparison catches it."""
    provider = CollapseProvider(every=1000)
    with _monitor() as monitor:
        pred, target = _embeddings(0)
        monitor.eval_end(**provider.measure(pred, target, *_posterior(64)))
        with pytest.raises(ContractViolation) as raised:
            monitor.eval_end(**provider.measure(0.3 * pred, 0.3 * target, *_posterior(64)))
    assert raised.value.invariant_id == "INV-COLLAPSE-002"
    assert raised.value.values["initial_pairwise_pred_dist_mean"] == pytest.approx(provider.baseline.item())


def test_kl_runaway_aborts_at_eval() -> None:
    provider = CollapseProvider(every=1000)
    pred, target = _embeddings(0)
    with _monitor() as monitor:
        with pytest.raises(ContractViolation) as raised:
            monitor.eval_end(**provider.measure(pred, target, *_posterior(64, shift=3.0)))  # 4 * 9 / 2 = 18 > 10
    assert raised.value.invariant_id == "INV-COLLAPSE-003"
    assert raised.value.values["kl_reg"] == pytest.approx(18.0)


def test_nan_embeddings_abort_at_eval() -> None:
    provider = CollapseProvider(every=1000)
    pred, target = _embeddings(0)
    with _monitor() as monitor:
        monitor.eval_end(**provider.measure(pred, target, *_posterior(64)))
        pred[0, 0] = NAN
        with pytest.raises(ContractViolation) as raised:
            monitor.eval_end(**provider.measure(pred, target, *_posterior(64)))
    assert raised.value.invariant_id == "INV-COLLAPSE-001"


def test_collapse_during_training_warns_at_the_exact_step() -> None:
    provider = CollapseProvider(every=5)
    with pytest.warns(ContractWarning, match=r"INV-COLLAPSE-004 .* step 14, epoch 0"):
        with _monitor(check_every_steps=5) as monitor:
            for step in range(1, 21):
                pred, target = _embeddings(step)
                if step == 15:
                    pred = _collapsed(pred, 0.1)
                monitor.step_end(optimizer_stepped=True, optimizer_steps=step,
                                 **provider.observe(step, pred, target, *_posterior(64)))
    assert monitor.stats()["INV-COLLAPSE-004"]["violated"] == 1


def test_provider_schedule_matches_the_contracts_step_guard() -> None:
    """For every step the provider computes exactly where INV-COLLAPSE-004 applies: never a missing metric
    (MissingMetricError) and never a wasted computation."""
    provider = CollapseProvider(every=4)
    pred, target = _embeddings(0, n=8, dim=4)
    computed = 0
    with _monitor(check_every_steps=4) as monitor:
        for step in range(0, 41):
            metrics = provider.observe(step, pred, target, *_posterior(8))
            computed += bool(metrics)
            monitor.step_end(optimizer_stepped=True, optimizer_steps=step, **metrics)
    assert computed == monitor.stats()["INV-COLLAPSE-004"]["applicable"] == 11


# =============================================================================== coverage


def test_tags_and_counts_by_hand() -> None:
    values = t([1.0, NAN, INF, -INF, -2.5, INF, 0.0])
    assert tag_outputs(values).tolist() == [Tag.REAL, Tag.PHI, Tag.PINF, Tag.NINF, Tag.REAL, Tag.PINF, Tag.REAL]
    assert tag_counts(values).tolist() == [3, 2, 1, 1]
    assert tag_counts(tags=torch.tensor([0, 0, 1, 2, 3, 3, 7, -1])).tolist() == [2, 1, 1, 4]  # unknown codes: PHI
    assert tag_counts(torch.arange(5)).tolist() == [5, 0, 0, 0]  # integer outputs are real
    assert tag_counts(torch.tensor([[1.0, NAN], [INF, 2.0]], dtype=torch.bfloat16)).tolist() == [2, 1, 0, 1]
    with pytest.raises(ValueError, match="exactly one"):
        tag_counts()
    with pytest.raises(TypeError, match="integer tensor"):
        tag_counts(tags=t([0.0]))


def test_batch_cumulative_and_windowed_coverage_by_hand() -> None:
    cov = CoverageProvider(window=2)
    a = cov.observe(t([1.0, NAN, INF, -INF]))     # 1 real of 4
    assert (a["real_count"].item(), a["pinf_count"].item(), a["ninf_count"].item(), a["phi_count"].item()) == (1, 1, 1, 1)
    assert (a["coverage"].item(), a["coverage_cumulative"].item(), a["coverage_window"].item()) == (0.25, 0.25, 0.25)
    b = cov.observe(tags=torch.tensor([0, 0, 0, 0, 0, 0, 3, 3]))  # 6 of 8
    assert b["coverage"].item() == 0.75
    assert b["coverage_cumulative"].item() == pytest.approx(7 / 12)
    assert b["coverage_window"].item() == pytest.approx(7 / 12)
    c = cov.observe(t([5.0, 6.0, 7.0, NAN]))      # 3 of 4; the window drops the first batch
    assert c["coverage"].item() == 0.75
    assert c["coverage_cumulative"].item() == pytest.approx(10 / 16)
    assert c["coverage_window"].item() == pytest.approx(9 / 12)
    summary = cov.summary()
    assert summary["coverage"].item() == pytest.approx(10 / 16)
    assert [summary[k].item() for k in CoverageProvider.NAMES] == [10, 1, 1, 4]


def test_reset_starts_a_new_epoch_and_the_window_spans_epochs() -> None:
    cov = CoverageProvider(window=3)
    cov.observe(t([1.0, NAN]))
    cov.reset()
    assert math.isnan(cov.summary()["coverage"].item())  # nothing observed this epoch: no coverage
    m = cov.observe(t([1.0, 1.0]))
    assert m["coverage_cumulative"].item() == 1.0
    assert m["coverage_window"].item() == 0.75


def test_empty_batch_has_nan_coverage_and_the_coverage_contract_rejects_it() -> None:
    from pvcontracts.contract.compiled import compile_invariant
    from pvcontracts.contract.loading import load_contract_file

    contract = load_contract_file(CONTRACTS / "early-stop-coverage-v1.yaml").contract
    inv = compile_invariant(contract, next(i for i in contract.invariants if i.id == "INV-COV-001"))
    cov = CoverageProvider()
    empty = cov.observe(torch.empty(0))
    assert math.isnan(empty["coverage"].item())
    assert not bool(inv.evaluate({"coverage": empty["coverage"]}).holds)
    full = cov.observe(t([NAN, NAN, 1.0]))
    assert bool(inv.evaluate({"coverage": full["coverage_cumulative"]}).holds)


def test_coverage_state_survives_a_resume() -> None:
    cov = CoverageProvider(window=2)
    cov.observe(t([1.0, NAN]))
    cov.observe(t([1.0, 1.0, 1.0, NAN]))
    restored = CoverageProvider(window=2)
    restored.load_state_dict(cov.state_dict())
    left, right = cov.observe(t([NAN])), restored.observe(t([NAN]))
    assert all(torch.equal(left[k], right[k]) for k in left)
    with pytest.raises(ValueError, match="window"):
        CoverageProvider(window=5).load_state_dict(cov.state_dict())


# =============================================================================== gradient norm and update ratio


def test_global_grad_norm_by_hand() -> None:
    a = torch.zeros(2, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    c = torch.zeros(3, requires_grad=True)  # no gradient: skipped
    a.grad, b.grad = t([3.0, 4.0], torch.float32), t([12.0], torch.float32)
    assert global_grad_norm([a, b, c]).item() == pytest.approx(13.0)
    assert global_grad_norm([a, b], norm_type=INF).item() == 12.0
    assert global_grad_norm([c]).item() == 0.0
    b.grad = t([NAN], torch.float32)
    assert math.isnan(global_grad_norm([a, b]).item())  # never raises: the contract decides


def test_update_ratio_by_hand() -> None:
    w = t([3.0, 4.0])
    before = snapshot([w])
    w.mul_(2.0)  # delta (3, 4): norm 5 against a norm of 5
    assert update_ratio(before, [w]).item() == pytest.approx(1.0)
    zero = torch.zeros(2)
    assert update_ratio(snapshot([zero]), [zero + 1]).item() > 1e30  # from all-zero weights: huge, not NaN
    with pytest.raises(ValueError, match="before has 1"):
        update_ratio(before, [w, w])


def test_grad_norm_and_update_ratio_agree_with_the_watcher_and_clip_grad_norm() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with Monitor.from_contracts(CONTRACTS, select=["training-loop-pretrain-v1"]) as monitor:
        watcher = monitor.watch(model, optimizer, update_ratio_every=1)
        model(torch.randn(8, 5)).pow(2).mean().backward()
        mine = global_grad_norm(model.parameters())
        before = snapshot(model.parameters())
        optimizer.step()
        collected = watcher.collect()
        assert torch.allclose(collected["grad_norm"], mine, rtol=1e-6)
        assert torch.allclose(collected["update_ratio"], update_ratio(before, model.parameters()), rtol=1e-6)
        clipped = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1e9)
        assert torch.allclose(clipped, mine)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_providers_never_synchronise_on_cuda() -> None:
    device = torch.device("cuda")
    pred, target = torch.randn(64, 16, device=device), torch.randn(64, 16, device=device)
    mu, logvar = torch.randn(64, 4, device=device), torch.randn(64, 4, device=device)
    model = torch.nn.Linear(16, 4).to(device)
    model(pred).sum().backward()
    collapse, coverage = CollapseProvider(every=1), CoverageProvider(window=4)
    collapse.observe(0, pred, target, mu, logvar)  # warm-up: lazy CUDA initialisation may synchronise
    coverage.observe(pred)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for step in range(1, 4):
            collapse.observe(step, pred, target, mu, logvar)
            coverage.observe(pred)
            coverage.observe(tags=tag_outputs(pred))
        coverage.summary()
        before = snapshot(model.parameters())
        global_grad_norm(model.parameters())
        update_ratio(before, model.parameters())
    finally:
        torch.cuda.set_sync_debug_mode(0)


def test_the_runtime_s_global_norm_is_get_total_norm_s() -> None:
    from pvcontracts.runtime.values import global_norm

    torch.manual_seed(0)
    tensors = [torch.randn(7, 3), torch.randn(5), torch.randn(2, 2, 2)]
    assert global_norm(tensors).item() == pytest.approx(torch.nn.utils.get_total_norm(tensors).item(), rel=1e-6)
    tensors[1][2] = math.nan
    assert math.isnan(global_norm(tensors).item())  # never raises: the contract decides
