"""Compiled invariants: lets per regime, param defaults, guards that read lets, lazy host branches."""

from __future__ import annotations

import math

import pytest

from pvcontracts.contract.compiled import compile_invariant
from pvcontracts.contract.loading import load_contract_bytes
from pvcontracts.contract.regime import Regime, RegimeError
from pvcontracts.errors import HistoryUnavailable

BASE = """\
schema_version: 1
id: c
version: 1.0.0
status: active
title: t
changelog: [{version: 1.0.0, date: 2026-11-21, summary: s}]
params:
  vocab_size: {type: int, min: 2}
  threshold: {type: float, default: 5.0}
invariants:
  - id: INV-T-001
    title: t
    at: epoch_end
"""


def compiled(body: str, regime: Regime | None = None):
    loaded = load_contract_bytes((BASE + body).encode(), "c.yaml")
    assert loaded.contract is not None, [d.message for d in loaded.diagnostics]
    contract = loaded.contract
    return compile_invariant(contract, contract.invariants[0], regime)


class NoHistory:
    def prev(self, metric):
        raise HistoryUnavailable(metric)

    first = prev

    def window(self, metric, n):
        raise HistoryUnavailable(metric)


def test_regime_keyed_let_picks_the_branch() -> None:
    body = '    check: "val_loss <= cap"\n    let: {cap: {finetune: "10.0", from_scratch: "2.0 * ln(vocab_size)"}}\n'
    assert compiled(body).evaluate({"val_loss": 10.5}).holds is False
    scratch = compiled(body, Regime.from_scratch(vocab_size=50257)).evaluate({"val_loss": 10.5})
    assert scratch.holds is True
    assert math.isclose(scratch.values["cap"], 2 * math.log(50257))


def test_param_default_applies_and_caller_overrides_it() -> None:
    inv = compiled('    check: "val_loss < threshold"\n')
    assert inv.evaluate({"val_loss": 4.0}).holds is True
    assert inv.evaluate({"val_loss": 4.0}, params={"threshold": 3.0}).holds is False


def test_when_may_read_a_let() -> None:
    inv = compiled('    when: "late"\n    check: "val_loss < 5"\n    let: {late: "epoch > 3"}\n')
    assert inv.evaluate({"epoch": 1, "val_loss": 9.0}).applicable is False
    assert inv.evaluate({"epoch": 5, "val_loss": 9.0}).holds is False


def test_lets_behind_a_false_guard_are_not_evaluated() -> None:
    inv = compiled('    when: "epoch > 0"\n    check: "val_loss < limit"\n    let: {limit: "2 * prev(val_loss)"}\n')
    assert inv.evaluate({"epoch": 0, "val_loss": 1.0}, history=NoHistory()).applicable is False
    with pytest.raises(HistoryUnavailable):
        inv.evaluate({"epoch": 1, "val_loss": 1.0}, history=NoHistory())


def test_host_where_reads_only_the_chosen_branch() -> None:
    inv = compiled('    check: "where(epoch == 0, 1, prev(val_loss)) > 0"\n')
    assert inv.evaluate({"epoch": 0, "val_loss": 1.0}, history=NoHistory()).holds is True


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "pretrain"}, "unknown"),
    ({"kind": "from_scratch"}, "needs vocab_size"),
    ({"kind": "from_scratch", "vocab_size": 1}, "at least 2"),
    ({"kind": "from_scratch", "vocab_size": True}, "integer"),
    ({"kind": "finetune", "vocab_size": 10}, "takes no vocab_size"),
])
def test_invalid_regimes_are_rejected_clearly(kwargs, message) -> None:
    with pytest.raises(RegimeError, match=message):
        Regime(**kwargs)


def test_regime_round_trips_through_dict_and_cli() -> None:
    regime = Regime.from_scratch(vocab_size=50257)
    assert regime.to_dict() == {"kind": "from_scratch", "vocab_size": 50257}
    assert Regime.from_dict(regime.to_dict()) == regime
    assert regime.cli_args() == ["--regime", "from-scratch", "--vocab-size", "50257"]
    assert Regime.from_cli("from-scratch", 50257) == regime
    assert Regime.from_cli(None, None) == Regime.finetune()
    with pytest.raises(RegimeError, match="unknown regime field"):
        Regime.from_dict({"kind": "finetune", "vocab": 3})


def test_a_long_let_chain_in_reverse_order_compiles_without_recursion() -> None:
    # l0 reads l1, ... l2999 reads x: ordering them is 3,000 levels deep, past Python's recursion limit
    n = 3000
    lets = "".join(f'      l{i}: "l{i + 1} + 1"\n' for i in range(n - 1)) + f'      l{n - 1}: "x"\n'
    inv = compiled('    check: "l0 >= x"\n    let:\n' + lets)
    result = inv.evaluate({"x": 1.0})
    assert result.holds is True and result.values["l0"] == n


def test_a_let_cycle_is_refused_when_compiled() -> None:
    from pvcontracts.errors import ExpressionError

    with pytest.raises(ExpressionError, match="cycle"):
        compiled('    check: "a > 0"\n    let: {a: "b + 1", b: "c + 1", c: "a + 1"}\n')


def test_the_runtime_refuses_what_validate_refuses_to_evaluate(tmp_path) -> None:
    from pvcontracts.contract.contractset import load_contracts
    from pvcontracts.errors import ContractLoadError

    body = ('params:\n  sched: {type: enum, values: [cosine, linear]}\n  cap: {type: float, default: 1.0}\n'
            'invariants:\n  - id: INV-T-001\n    title: t\n    at: epoch_end\n    check: "val_loss < cap + sched"\n')
    text = BASE.split("params:")[0] + body + ("gates:\n  - {id: GATE-T-001, invariants: [INV-T-001], ship_blocking: false,"
                                              " evidence_discharged_by: [t.py::t]}\n")
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ContractLoadError, match="'sched'") as info:
        load_contracts(tmp_path)
    assert [d.code for d in info.value.diagnostics] == ["PV411"]
