"""The Monitor's public surface for framework adapters: a run that starts when told, closes on a failure,
says what it needs, and takes metric sources behind one interface. No adapter touches a private name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from pvcontracts import MetricSource
from pvcontracts.runtime import ContractViolation, Monitor, read_ledger


@pytest.fixture
def finite_loss(make_contracts) -> Path:
    return make_contracts({"check": "isfinite(loss)"}, {"check": "grad_norm < 100", "when": "optimizer_stepped",
                                                        "on_violation": "warn"},
                          {"check": "val_loss < 10", "at": "epoch_end"})


def test_construction_writes_nothing_and_the_run_starts_with_its_rank(finite_loss: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "runs" / "ledger.jsonl"
    monitor = Monitor.from_contracts(finite_loss, ledger=ledger)
    assert not ledger.parent.exists() and not monitor.started
    # The framework knows its rank and output directory later; a rank 1 of 2 writes its own ledger.
    monitor.start(rank=1, world_size=2, ledger=tmp_path / "out" / "ledger.jsonl")
    assert monitor.started and (monitor.rank, monitor.world_size) == (1, 2)
    assert (tmp_path / "out" / "ledger.rank1.jsonl").exists() and not ledger.parent.exists()
    monitor.start(rank=0, world_size=1)  # idempotent: the run has started
    assert monitor.rank == 1


def test_a_state_loaded_after_start_keeps_the_run_id(finite_loss: Path, tmp_path: Path) -> None:
    first = Monitor.from_contracts(finite_loss, ledger=tmp_path / "a.jsonl")
    first.step_end(loss=1.0)
    state = first.state_dict()
    first.close()
    resumed = Monitor.from_contracts(finite_loss)
    resumed.start(ledger=tmp_path / "b.jsonl")
    resumed.load_state_dict(state)  # a framework restoring its checkpoint after the adapter started the run
    resumed.step_end(loss=1.0)
    resumed.close()
    starts = [r for r in read_ledger(tmp_path / "b.jsonl") if r["kind"] == "run_start"]
    assert [(r["run"], r.get("resumed")) for r in starts] == [(state["run"], True)]


def test_close_on_a_failure_records_and_does_not_raise(finite_loss: Path, tmp_path: Path) -> None:
    monitor = Monitor.from_contracts(finite_loss, ledger=tmp_path / "ledger.jsonl", sync_every=100)
    monitor.step_end(loss=torch.tensor(float("nan")))  # deferred: found at the next sync point
    monitor.close(error=RuntimeError("the framework's own error"))
    records = list(read_ledger(tmp_path / "ledger.jsonl"))
    assert [r["invariant"] for r in records if r["kind"] == "violation"] == ["INV-T-001"]
    assert records[-1]["kind"] == "counts"
    monitor.close()  # idempotent


def test_close_without_a_failure_raises_what_the_pending_steps_found(finite_loss: Path) -> None:
    monitor = Monitor.from_contracts(finite_loss, sync_every=100)
    monitor.step_end(loss=torch.tensor(float("nan")))
    with pytest.raises(ContractViolation):
        monitor.close()


def test_required_metrics_name_what_each_boundary_reads(finite_loss: Path) -> None:
    monitor = Monitor.from_contracts(finite_loss)
    assert monitor.required_metrics("step_end") == {"grad_norm": ["INV-T-002"], "loss": ["INV-T-001"],
                                                    "optimizer_stepped": ["INV-T-002"]}
    assert monitor.required_metrics("epoch_end") == {"val_loss": ["INV-T-003"]}
    assert monitor.required_metrics("resume") == {}
    with pytest.raises(ValueError, match="boundary='step'"):
        monitor.required_metrics("step")


class Throughput(MetricSource):
    """An adapter's own source: the step's loss from somewhere only the framework sees."""

    name = "throughput"

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.removed = False

    def collect(self, boundary: str, consume: bool) -> dict[str, Any]:
        self.calls.append((boundary, consume))
        return {"loss": float("nan")} if boundary == "step_end" else {}

    def remove(self) -> None:
        self.removed = True


def test_a_metric_source_feeds_the_boundaries(finite_loss: Path) -> None:
    monitor = Monitor.from_contracts(finite_loss)
    source = monitor.attach(Throughput())
    with pytest.raises(ContractViolation, match="INV-T-001"):
        monitor.step_end()
    assert source.calls == [("step_end", True)]
    monitor.close(error=RuntimeError())
    assert source.removed
    with pytest.raises(TypeError, match="MetricSource"):
        monitor.attach(object())  # type: ignore[arg-type]


def test_a_metric_given_as_none_is_not_supplied_whatever_a_source_collected(finite_loss: Path) -> None:
    monitor = Monitor.from_contracts(finite_loss)
    monitor.attach(Throughput())
    monitor.step_end(loss=None)  # the adapter knows this value cannot be trusted: not supplied
    assert monitor.stats()["INV-T-001"]["not_supplied"] == 1 and monitor.violations == []
