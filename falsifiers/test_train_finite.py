"""Falsifiers for the finiteness and non-divergence invariants of training-loop-pretrain-v1.

They evaluate the shipped contract text, on Python floats and on torch
tensors, and try to sneak a non-finite value or a blow-up past it.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pvcontracts.contract.compiled import CompiledInvariant, compile_invariant
from pvcontracts.contract.loading import load_contract_file
from pvcontracts.contract.regime import Regime
from pvcontracts.errors import HistoryUnavailable

CONTRACT = Path(__file__).resolve().parents[1] / "contracts" / "training-loop-pretrain-v1.yaml"
CI = settings(derandomize=True, database=None, max_examples=200, deadline=None)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
non_finite = st.sampled_from([math.nan, math.inf, -math.inf])


@lru_cache(maxsize=None)
def invariant(ident: str, regime_kind: str = "finetune") -> CompiledInvariant:
    loaded = load_contract_file(CONTRACT)
    assert loaded.contract is not None
    inv = next(i for i in loaded.contract.invariants if i.id == ident)
    regime = Regime.finetune() if regime_kind == "finetune" else Regime.from_scratch(vocab_size=50257)
    return compile_invariant(loaded.contract, inv, regime)


class History:
    """The smallest history reader: past values of each metric, oldest first."""

    def __init__(self, **series: list[float]) -> None:
        self.series = series

    def prev(self, metric: str) -> float:
        values = self.series.get(metric, [])
        if not values:
            raise HistoryUnavailable(f"no previous {metric}")
        return values[-1]

    def first(self, metric: str) -> float:
        return self.series[metric][0]

    def window(self, metric: str, n: int) -> list[float]:
        return self.series[metric][-n:]


@pytest.mark.discharges(gate="GATE-TRAIN-001")
@CI
@given(loss=non_finite, step=st.integers(0, 10**7))
def test_non_finite_loss_is_never_accepted(loss: float, step: int) -> None:
    result = invariant("INV-TRAIN-001").evaluate({"loss": loss, "step": step, "epoch": 0})
    assert result.applicable and result.holds is False
    validation = invariant("INV-TRAIN-003").evaluate({"val_loss": loss, "epoch": step})  # the same at epoch end
    assert validation.applicable and validation.holds is False


@pytest.mark.discharges(gate="GATE-TRAIN-001")
@CI
@given(loss=finite)
def test_finite_loss_is_always_accepted(loss: float) -> None:
    assert invariant("INV-TRAIN-001").evaluate({"loss": loss}).holds is True
    assert invariant("INV-TRAIN-003").evaluate({"val_loss": loss}).holds is True


@pytest.mark.discharges(gate="GATE-TRAIN-001")
@CI
@given(grad_norm=st.one_of(finite, non_finite), stepped=st.booleans())
def test_grad_norm_checked_only_on_real_steps(grad_norm: float, stepped: bool) -> None:
    """A skipped step (fp16 overflow) may carry an inf norm; a real step may not."""
    result = invariant("INV-TRAIN-002").evaluate({"grad_norm": grad_norm, "optimizer_stepped": stepped})
    assert result.applicable is stepped
    if stepped:
        assert result.holds is math.isfinite(grad_norm)


@pytest.mark.discharges(gate="GATE-TRAIN-001")
@CI
@given(previous=st.floats(min_value=1e-6, max_value=1e6), factor=st.floats(min_value=1.5, max_value=1e3),
       epoch=st.integers(1, 1000), regime=st.sampled_from(["finetune", "from_scratch"]))
def test_doubling_val_loss_is_divergence(previous: float, factor: float, epoch: int, regime: str) -> None:
    """FALSIFY-TRAIN-006: any epoch whose val_loss is at least 1.5x the previous one is flagged."""
    inv = invariant("INV-TRAIN-006", regime)
    history = History(val_loss=[previous])
    assert inv.evaluate({"epoch": epoch, "val_loss": previous * factor}, history=history).holds is False
    assert inv.evaluate({"epoch": epoch, "val_loss": previous * 2.0}, history=history).holds is False
    assert inv.evaluate({"epoch": epoch, "val_loss": previous * 1.2}, history=history).holds is True


def test_non_divergence_never_reads_history_at_epoch_zero() -> None:
    result = invariant("INV-TRAIN-006").evaluate({"epoch": 0, "val_loss": 3.0}, history=History())
    assert result.applicable is False


def test_same_contract_text_runs_on_tensors() -> None:
    torch = pytest.importorskip("torch")
    inv = invariant("INV-TRAIN-001")
    flags = inv.evaluate({"loss": torch.tensor([1.0, math.nan, math.inf, -2.0])}).holds
    assert isinstance(flags, torch.Tensor)
    assert flags.tolist() == [True, False, False, True]
