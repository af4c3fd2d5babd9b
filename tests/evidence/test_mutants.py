"""Mutants of an invariant: each operator, validity, stable ids, the cap, and applying one to a document."""

from __future__ import annotations

from pathlib import Path

import pytest

from pvcontracts.contract.loading import load_contract_bytes
from pvcontracts.evidence.mutants import OPERATORS, Mutant, apply, identity, mutants_of

CONTRACT = """\
schema_version: 1
id: m-v1
version: 1.0.0
status: active
title: Mutants
changelog:
  - {version: 1.0.0, date: 2026-01-01, summary: First}
params:
  vocab_size: {type: int, min: 2, default: 100}
invariants:
  - id: INV-M-001
    title: cap by regime
    at: epoch_end
    when: "epoch == 0"
    check: "val_loss <= cap"
    let:
      cap: {finetune: "10.0", from_scratch: "2.0 * ln(vocab_size)"}
  - id: INV-M-002
    title: a flag
    at: step_end
    check: "isfinite(loss)"
  - id: INV-M-003
    title: both and either
    at: step_end
    check: "loss >= 0 and (lr > 0 or optimizer_stepped)"
"""


def _contract():
    return load_contract_bytes(CONTRACT.encode(), "contracts/m-v1.yaml").contract


def _by_id(inv_id: str, cap: int = 50) -> list[Mutant]:
    c = _contract()
    return mutants_of(c.id, next(i for i in c.invariants if i.id == inv_id), cap)


def test_every_operator_the_issue_names_is_produced() -> None:
    ops = {m.operator for inv in ("INV-M-001", "INV-M-002", "INV-M-003") for m in _by_id(inv)}
    assert ops == set(OPERATORS) == {"flip-comparison", "weaken-comparison", "perturb-constant", "swap-regimes",
                                     "drop-conjunct", "drop-disjunct", "negate-when", "negate-check"}


def test_the_mutants_of_a_regime_cap() -> None:
    described = {(m.operator, m.where, str(m.mutated)) for m in _by_id("INV-M-001")}
    assert ("flip-comparison", "check", "val_loss > cap") in described
    assert ("weaken-comparison", "check", "val_loss < cap") in described
    assert ("negate-when", "when", "not (epoch == 0)") in described
    assert ("perturb-constant", "when", "epoch == 1") in described
    assert ("perturb-constant", "let cap (finetune)", "11.0") in described
    assert ("perturb-constant", "let cap (from_scratch)", "2.2 * ln(vocab_size)") in described
    swap = next(m for m in _by_id("INV-M-001") if m.operator == "swap-regimes")
    assert swap.mutated == {"finetune": "2.0 * ln(vocab_size)", "from_scratch": "10.0"}


def test_a_bare_flag_can_only_be_negated_and_conjuncts_are_dropped_one_at_a_time() -> None:
    assert [(m.operator, m.mutated) for m in _by_id("INV-M-002")] == [("negate-check", "not (isfinite(loss))")]
    dropped = {m.mutated for m in _by_id("INV-M-003") if m.operator.startswith("drop-")}
    assert dropped == {"lr > 0 or optimizer_stepped", "loss >= 0", "loss >= 0 and optimizer_stepped",
                       "loss >= 0 and lr > 0"}


def test_mutants_are_valid_expressions_distinct_and_stably_numbered() -> None:
    from pvcontracts.contract.expr import parse_expression

    first, again = _by_id("INV-M-001"), _by_id("INV-M-001")
    assert first == again
    assert [m.id for m in first] == [f"INV-M-001/M{i}" for i in range(1, len(first) + 1)]
    for m in first:
        for text in (m.mutated.values() if isinstance(m.mutated, dict) else [m.mutated]):
            parse_expression(text)  # raises if a mutant left the language
    assert len({(m.field, str(m.mutated)) for m in first}) == len(first)


def test_the_cap_keeps_every_part_of_the_invariant_represented() -> None:
    capped = _by_id("INV-M-001", cap=4)
    assert len(capped) == 4
    assert {m.field[0] for m in capped} == {"check", "when", "let"}


def test_applying_a_mutant_changes_only_its_invariant_in_a_copy() -> None:
    import yaml

    doc = yaml.safe_load(CONTRACT)
    flip = next(m for m in _by_id("INV-M-001") if m.operator == "flip-comparison" and m.field == ("check",))
    changed = apply(doc, flip)
    assert changed["invariants"][0]["check"] == "val_loss > cap"
    assert doc["invariants"][0]["check"] == "val_loss <= cap"  # the original is untouched
    assert changed["invariants"][1:] == doc["invariants"][1:]
    regime = next(m for m in _by_id("INV-M-001") if m.field == ("let", "cap", "from_scratch"))
    assert apply(doc, regime)["invariants"][0]["let"]["cap"] == {"finetune": "10.0",
                                                                 "from_scratch": "2.2 * ln(vocab_size)"}
    assert apply({**doc, "id": "other-v1"}, flip) is None
    assert apply(doc, identity("m-v1", "INV-M-001")) == doc


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[2] / "contracts").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_every_shipped_invariant_has_mutants(path: Path) -> None:
    contract = load_contract_bytes(path.read_bytes(), str(path)).contract
    for inv in contract.invariants:
        assert mutants_of(contract.id, inv), inv.id
