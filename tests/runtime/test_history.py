"""Bounded history: prev, first and windows keep only what the loaded expressions need, across resumes too."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from pvcontracts.errors import HistoryUnavailable
from pvcontracts.runtime import ContractViolation, Monitor
from pvcontracts.runtime.history import BoundedHistory

STEPS = 200_000


class TestBoundedHistory:
    def test_keeps_only_tracked_metrics_up_to_their_window(self) -> None:
        history = BoundedHistory({"loss": 3, "lr": 1})
        for i in range(100):
            history.push({"loss": float(i), "lr": 0.1 * i, "grad_norm": 1.0})
        assert set(history.tracked) == {"loss", "lr"}
        assert history.window("loss", 3) == [97.0, 98.0, 99.0]
        assert history.prev("lr") == pytest.approx(9.8)  # prev needs two values: sizes are at least 2
        assert history.first("loss") == 0.0
        assert len(history) == 3 + 2

    def test_unavailable_history_says_what_is_missing(self) -> None:
        history = BoundedHistory({"loss": 4})
        with pytest.raises(HistoryUnavailable, match=r"prev\(loss\)"):
            history.prev("loss")
        with pytest.raises(HistoryUnavailable, match=r"first\(loss\)"):
            history.first("loss")
        history.push({"loss": 1.0})
        with pytest.raises(HistoryUnavailable, match="needs 3 more"):
            history.window("loss", 4)
        with pytest.raises(HistoryUnavailable):
            history.prev("untracked")

    def test_a_boundary_without_the_metric_leaves_history_unchanged(self) -> None:
        history = BoundedHistory({"loss": 2})
        history.push({"loss": 1.0})
        history.push({})
        history.push({"loss": 2.0})
        assert history.prev("loss") == 1.0

    def test_state_round_trip(self) -> None:
        history = BoundedHistory({"loss": 3})
        for x in (5.0, 6.0, 7.0, 8.0):
            history.push({"loss": x})
        restored = BoundedHistory({"loss": 3, "lr": 2})
        restored.load_state_dict(json.loads(json.dumps(history.state_dict())))
        assert restored.window("loss", 3) == [6.0, 7.0, 8.0]
        assert restored.first("loss") == 5.0
        restored.push({"loss": 9.0})
        assert restored.prev("loss") == 8.0

    def test_load_keeps_the_bound_of_the_loading_side(self) -> None:
        history = BoundedHistory({"loss": 10})
        for i in range(10):
            history.push({"loss": float(i)})
        smaller = BoundedHistory({"loss": 2})
        smaller.load_state_dict(history.state_dict())
        assert len(smaller) == 2 and smaller.prev("loss") == 8.0


def test_a_long_run_keeps_history_bounded(make_contracts) -> None:
    root = make_contracts({"check": "loss <= 3 * window_mean(loss, 16) + 1", "when": "step >= 15"})
    monitor = Monitor.from_contracts(root, sync_every=100)
    history = monitor._history["step_end"]
    for i in range(STEPS):
        monitor.step_end(loss=1.0 + (i % 7) * 0.01)
        if i == STEPS // 2:
            # Memory over a slice of the run (tracemalloc over all of it would take minutes):
            # a leak of even a few bytes a step shows as growth here.
            tracemalloc.start()
            for j in range(2_000):
                monitor.step_end(loss=1.0)
                if j == 200:
                    before, _ = tracemalloc.get_traced_memory()
            after, _ = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            assert after - before < 16 * 1024
    assert len(history) == 16
    assert list(history.tracked) == ["loss"]
    assert monitor.stats()["INV-T-001"] == {"evaluated": STEPS + 2_000, "applicable": STEPS + 2_000 - 15,
                                            "violated": 0, "unevaluable": 0, "not_supplied": 0, "enforced": True, "reason": None}
    assert not monitor._eval.pending and not monitor._eval.found


def test_prev_keeps_working_across_a_resume(shipped) -> None:
    first = Monitor.from_contracts(shipped, select=["training-loop-pretrain-v1"])
    first.epoch_end(val_loss=8.0)
    first.epoch_end(val_loss=6.0)
    state = json.loads(json.dumps(first.state_dict()))  # as a checkpoint would carry it

    resumed = Monitor.from_contracts(shipped, select=["training-loop-pretrain-v1"])
    resumed.load_state_dict(state)
    assert (resumed.step, resumed.epoch) == (first.step, 2)
    assert resumed.stats() == first.stats()  # counts continue, not restart
    resumed.epoch_end(val_loss=8.5)  # 8.5 < 1.5 * 6: INV-TRAIN-006 reads prev = 6 from before the resume
    with pytest.raises(ContractViolation) as info:
        resumed.epoch_end(val_loss=13.0)
    assert info.value.invariant_id == "INV-TRAIN-006"
    assert info.value.values["prev(val_loss)"] == 8.5
    assert resumed.stats()["INV-TRAIN-006"]["applicable"] == 3


def test_without_the_state_prev_is_unavailable_after_a_resume(shipped) -> None:
    resumed = Monitor.from_contracts(shipped, select=["training-loop-pretrain-v1"])
    resumed.resume(epoch=2, step=100)
    resumed.epoch_end(val_loss=50.0)  # epoch 2, no previous value: unevaluable, not a false pass or a crash
    assert resumed.stats()["INV-TRAIN-006"]["unevaluable"] == 1
