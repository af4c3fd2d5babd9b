"""Stopping rules: the sufficiency verdict is the contract's expression; coverage patience counts as declared."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pvcontracts.contract.loading import load_contract_file
from pvcontracts.train.early_stop import CoverageStopper, SufficiencyGate, TargetLossGate

SUFF = load_contract_file(Path(__file__).resolve().parents[2] / "contracts" / "early-stop-sufficiency-v1.yaml").contract


def test_sufficiency_gate_is_the_contracts_strict_conjunction() -> None:
    gate = SufficiencyGate(SUFF, {})
    assert gate.params == {"edge_compliance_min": 0.95, "rule_compliance_min": 0.8}
    assert gate.passes({"edge_compliance": 0.951, "rule_compliance": 0.801})
    assert not gate.passes({"edge_compliance": 0.95, "rule_compliance": 0.99})  # strict
    assert not gate.passes({"edge_compliance": 0.99, "rule_compliance": 0.8})
    assert not gate.passes({"edge_compliance": math.nan, "rule_compliance": 1.0})
    custom = SufficiencyGate(SUFF, {"edge_compliance_min": 0.5, "patience": 3})
    assert custom.params == {"edge_compliance_min": 0.5, "rule_compliance_min": 0.8}
    assert custom.passes({"edge_compliance": 0.6, "rule_compliance": 0.9})


def test_target_gate() -> None:
    gate = TargetLossGate(2.0)
    assert gate.passes({"val_loss": 2.0}) and not gate.passes({"val_loss": 2.01})
    assert not gate.passes({"val_loss": math.nan})


def test_coverage_counter_resets_and_fires_at_patience() -> None:
    stop = CoverageStopper(coverage_min=0.5, patience=3)
    history = [0.4, 0.4, 0.5, 0.1, 0.2, math.nan]
    fired = [stop.update(c) for c in history]
    assert fired == [False, False, False, False, False, True]
    assert stop.epochs_below == 3
    restored = CoverageStopper(0.5, 3)
    restored.load_state_dict(stop.state_dict())
    assert restored.epochs_below == 3
    with pytest.raises(ValueError):
        CoverageStopper(patience=0)
