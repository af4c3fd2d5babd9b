"""Falsifiers for INV-TRAIN-005, the regime-aware epoch-zero cap, run against the shipped contract text.

Every test compiles the invariant from contracts/training-loop-pretrain-v1.yaml,
so a change to the YAML (not to some Python copy of the cap) is what these
tests would catch.
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

CONTRACT = Path(__file__).resolve().parents[1] / "contracts" / "training-loop-pretrain-v1.yaml"
CI = settings(derandomize=True, database=None, max_examples=300, deadline=None)


@lru_cache(maxsize=None)
def _contract():
    loaded = load_contract_file(CONTRACT)
    assert loaded.contract is not None, [d.message for d in loaded.diagnostics]
    return loaded.contract


def train_005(regime: Regime, inv_id: str = "INV-TRAIN-005") -> CompiledInvariant:
    contract = _contract()
    inv = next(i for i in contract.invariants if i.id == inv_id)
    return compile_invariant(contract, inv, regime)


def test_contract_is_the_seed_version() -> None:
    contract = _contract()
    assert contract.version == "1.3.0"
    assert next(i for i in contract.invariants if i.id == "INV-TRAIN-005").on_violation == "abort"


@pytest.mark.discharges(gate="GATE-TRAIN-005")
def test_from_scratch_permits_near_random_baseline() -> None:
    # A cold start with vocab 50257 begins near ln(50257) = 10.82; 18 is still a legitimate start.
    result = train_005(Regime.from_scratch(vocab_size=50257)).evaluate({"epoch": 0, "val_loss": 18.0})
    assert result.applicable
    assert result.holds is True
    assert math.isclose(result.values["cap"], 2.0 * math.log(50257))


@pytest.mark.discharges(gate="GATE-TRAIN-005")
def test_from_scratch_aborts_above_twice_ln_vocab() -> None:
    inv = train_005(Regime.from_scratch(vocab_size=50257))
    result = inv.evaluate({"epoch": 0, "val_loss": 25.0})
    assert result.applicable and result.holds is False
    assert inv.invariant.on_violation == "abort"
    assert result.values["val_loss"] == 25.0
    assert 21.6 < result.values["cap"] < 21.7


@pytest.mark.discharges(gate="GATE-TRAIN-005")
def test_finetune_keeps_literal_cap() -> None:
    inv = train_005(Regime.finetune())
    assert inv.evaluate({"epoch": 0, "val_loss": 9.9}).holds is True
    assert inv.evaluate({"epoch": 0, "val_loss": 10.0}).holds is True
    assert inv.evaluate({"epoch": 0, "val_loss": 10.5}).holds is False
    assert inv.evaluate({"epoch": 0, "val_loss": 10.5}).values["cap"] == 10.0
    # 18 is fine from scratch but a broken fine-tune.
    assert inv.evaluate({"epoch": 0, "val_loss": 18.0}).holds is False


def test_cap_applies_only_at_epoch_zero() -> None:
    inv = train_005(Regime.finetune())
    later = inv.evaluate({"epoch": 1, "val_loss": 50.0})
    assert later.applicable is False


def test_nan_validation_loss_is_never_under_the_cap() -> None:
    for regime in (Regime.finetune(), Regime.from_scratch(vocab_size=256)):
        assert train_005(regime).evaluate({"epoch": 0, "val_loss": math.nan}).holds is False


@pytest.mark.discharges(gate="GATE-TRAIN-005")
@CI
@given(vocab_size=st.integers(min_value=2, max_value=10_000_000))
def test_regime_cap_formula_lock(vocab_size: int) -> None:
    """The from_scratch cap is exactly 2.0 * ln(vocab_size) for every vocabulary size."""
    result = train_005(Regime.from_scratch(vocab_size=vocab_size)).evaluate({"epoch": 0, "val_loss": 0.0})
    assert math.isclose(result.values["cap"], 2.0 * math.log(vocab_size), rel_tol=1e-12, abs_tol=0.0)


@CI
@given(vocab_size=st.integers(min_value=2, max_value=10_000_000),
       fraction=st.floats(min_value=0.0, max_value=1.0, allow_nan=False))
def test_from_scratch_cap_property(vocab_size: int, fraction: float) -> None:
    """FALSIFY-TRAIN-005: no from-scratch run with val_loss[0] <= 2*ln(vocab) is aborted; any above is."""
    cap = 2.0 * math.log(vocab_size)
    inv = train_005(Regime.from_scratch(vocab_size=vocab_size))
    assert inv.evaluate({"epoch": 0, "val_loss": cap * fraction}).holds is True
    above = math.nextafter(cap, math.inf) + cap * fraction
    assert inv.evaluate({"epoch": 0, "val_loss": above}).holds is False


@pytest.mark.discharges(gate="GATE-TRAIN-005")
@CI
@given(vocab_size=st.integers(min_value=2, max_value=10**6), fraction=st.floats(min_value=0.0, max_value=3.0))
def test_training_loss_has_the_same_cap(vocab_size: int, fraction: float) -> None:
    """INV-TRAIN-007 caps the epoch-zero training loss exactly where INV-TRAIN-005 caps the validation loss."""
    for regime in (Regime.finetune(), Regime.from_scratch(vocab_size)):
        cap = 10.0 if regime.kind == "finetune" else 2.0 * math.log(vocab_size)
        loss = fraction * cap
        params = {"loss_kind": "cross_entropy"}
        val = train_005(regime).evaluate({"epoch": 0, "val_loss": loss}, params)
        train = train_005(regime, "INV-TRAIN-007").evaluate({"epoch": 0, "train_loss": loss}, params)
        assert val.applicable and train.applicable
        assert bool(train.holds) == bool(val.holds) == (loss <= cap)


@pytest.mark.discharges(gate="GATE-TRAIN-005")
def test_cap_applies_only_to_cross_entropy_runs() -> None:
    """Out of scope: a finetune run that does not declare a cross-entropy loss; in scope: a declared one, or a vocabulary."""
    for inv_id in ("INV-TRAIN-005", "INV-TRAIN-007"):
        finetune = train_005(Regime.finetune(), inv_id)
        assert not finetune.in_scope({})
        assert not finetune.in_scope({"loss_kind": "other"})
        assert finetune.in_scope({"loss_kind": "cross_entropy"})
        assert finetune.in_scope({"vocab_size": 50257})
        assert train_005(Regime.from_scratch(256), inv_id).in_scope({})
