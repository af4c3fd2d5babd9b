"""Shared helpers for the falsifiers: load a SHIPPED contract, compile its invariants, keep history.

Not a test module (no ``test_`` prefix) and not a conftest: test files import
it by name. ``falsifiers/`` has no ``__init__.py``, so pytest's default import
mode (prepend) puts the directory on ``sys.path`` when it imports a test from it.

Everything here is plumbing. The property under test is always the contract
text: no schedule, threshold or cap is restated in Python here.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from hypothesis import settings

from pvcontracts.contract.compiled import CompiledInvariant, Evaluation, compile_invariant
from pvcontracts.contract.loading import load_contract_file
from pvcontracts.contract.model import Contract, Param
from pvcontracts.contract.regime import Regime
from pvcontracts.errors import HistoryUnavailable

CONTRACTS = Path(__file__).resolve().parents[1] / "contracts"

# Deterministic and database-free, so CI and a laptop find the same examples.
# Example counts stay modest: the whole falsifier suite must run in seconds on 2 cores.
CI = settings(derandomize=True, database=None, max_examples=60, deadline=None)
CI_SLOW = settings(derandomize=True, database=None, max_examples=15, deadline=None)


@lru_cache(maxsize=None)
def contract(contract_id: str) -> Contract:
    """The shipped contract ``contracts/<contract_id>.yaml``; fails the test if it does not load cleanly."""
    loaded = load_contract_file(CONTRACTS / f"{contract_id}.yaml")
    errors = [f"{d.line}:{d.column} {d.code} {d.message}" for d in loaded.diagnostics
              if d.severity.value == "error"]
    assert loaded.contract is not None and not errors, errors
    return loaded.contract


@lru_cache(maxsize=None)
def invariant(contract_id: str, inv_id: str, regime: Regime | None = None) -> CompiledInvariant:
    """One invariant of a shipped contract, compiled for ``regime`` (finetune by default)."""
    c = contract(contract_id)
    matches = [i for i in c.invariants if i.id == inv_id]
    assert matches, f"{contract_id} has no invariant {inv_id}"
    return compile_invariant(c, matches[0], regime)


def param(contract_id: str, name: str) -> Param:
    c = contract(contract_id)
    assert name in c.params, f"{contract_id} declares no param {name}"
    return c.params[name]


def defaults(contract_id: str) -> dict[str, Any]:
    """The declared defaults of a contract's params (params without one are left out)."""
    return {n: p.default for n, p in contract(contract_id).params.items() if p.default is not None}


def params(contract_id: str, **given: Any) -> dict[str, Any]:
    """Declared defaults overridden by ``given``; each given value is checked against the declared range."""
    out = defaults(contract_id)
    for name, value in given.items():
        p = param(contract_id, name)
        if p.type == "enum":
            assert value in p.values, f"{name}={value!r} is not one of {p.values}"
        elif p.type in ("int", "float"):
            assert p.min is None or value >= p.min, f"{name}={value} is below the declared min {p.min}"
            assert p.max is None or value <= p.max, f"{name}={value} is above the declared max {p.max}"
        out[name] = value
    return out


class History:
    """The smallest history reader, fed one boundary's metrics at a time.

    Call :meth:`observe` with the metrics of an evaluation *before* evaluating:
    ``window`` and ``first`` include the value being checked (as the language
    documents), ``prev`` is the value of the evaluation before it.
    """

    def __init__(self) -> None:
        self._series: dict[str, list[Any]] = {}

    def observe(self, metrics: Mapping[str, Any]) -> None:
        for name, value in metrics.items():
            self._series.setdefault(name, []).append(value)

    def _values(self, metric: str, need: int) -> list[Any]:
        values = self._series.get(metric, [])
        if len(values) < need:
            raise HistoryUnavailable(f"{metric}: {need} value(s) needed, {len(values)} observed", (metric,))
        return values

    def prev(self, metric: str) -> Any:
        return self._values(metric, 2)[-2]

    def first(self, metric: str) -> Any:
        return self._values(metric, 1)[0]

    def window(self, metric: str, n: int) -> list[Any]:
        return self._values(metric, n)[-n:]


class Boundary:
    """Every invariant of one contract at one boundary, evaluated over a run with shared history."""

    def __init__(self, contract_id: str, inv_ids: Iterable[str], run_params: Mapping[str, Any]) -> None:
        self.invariants = [invariant(contract_id, i) for i in inv_ids]
        self.params = dict(run_params)
        self.history = History()

    def observe(self, metrics: Mapping[str, Any]) -> dict[str, Evaluation]:
        """Record this evaluation's metrics, then evaluate every invariant; returns id -> Evaluation."""
        self.history.observe(metrics)
        return {inv.id: inv.evaluate(metrics, self.params, self.history) for inv in self.invariants}


def violated(results: Mapping[str, Evaluation]) -> set[str]:
    """Ids of the invariants that applied and did not hold."""
    return {k for k, r in results.items() if r.applicable and not bool(r.holds)}
