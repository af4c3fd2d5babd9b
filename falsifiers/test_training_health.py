"""Falsifiers for training-health-v1: the thresholds of the detection library, as the contract text states them."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from _contracts import CI, History, defaults, invariant

C = "training-health-v1"


@CI
@given(first=st.floats(min_value=1e-3, max_value=1e3), drop=st.floats(min_value=-0.5, max_value=0.9),
       epoch=st.integers(min_value=0, max_value=5))
def test_loss_progress_threshold(first: float, drop: float, epoch: int) -> None:
    """At progress_epoch the mean training loss must be at least min_loss_progress below epoch 0's; never before."""
    run = defaults(C)
    inv = invariant(C, "INV-HEALTH-005")
    history = History()
    history.observe({"train_loss": first})
    now = first * (1 - drop)
    history.observe({"train_loss": now})
    result = inv.evaluate({"epoch": epoch, "train_loss": now}, run, history)
    assert result.applicable == (epoch == run["progress_epoch"])
    if result.applicable:
        assert bool(result.holds) == (now <= (1 - run["min_loss_progress"]) * first)


@CI
@given(train=st.floats(min_value=1e-3, max_value=1e3), ratio=st.floats(min_value=0.0, max_value=10.0),
       epoch=st.integers(min_value=0, max_value=6))
def test_gap_threshold(train: float, ratio: float, epoch: int) -> None:
    """val_loss above max_gap_ratio * train_loss is flagged in the first gap_epochs epochs only."""
    run: dict[str, Any] = defaults(C)
    result = invariant(C, "INV-HEALTH-007").evaluate({"epoch": epoch, "train_loss": train,
                                                      "val_loss": ratio * train}, run)
    assert result.applicable == (epoch < run["gap_epochs"])
    if result.applicable:
        assert bool(result.holds) == (ratio * train <= run["max_gap_ratio"] * train)


@CI
@given(fingerprints=st.lists(st.sampled_from([1.0, 2.0, 3.0]), min_size=2, max_size=12),
       epochs=st.lists(st.integers(min_value=0, max_value=2), min_size=2, max_size=12))
def test_repeated_batch_within_an_epoch(fingerprints: list[float], epochs: list[int]) -> None:
    """The same batch on two consecutive steps of one epoch is flagged; across an epoch boundary it is not."""
    n = min(len(fingerprints), len(epochs))
    epochs = sorted(epochs[:n])
    inv = invariant(C, "INV-HEALTH-006")
    history = History()
    for step in range(n):
        metrics = {"step": step, "epoch": epochs[step], "optimizer_stepped": True,
                   "batch_fingerprint": fingerprints[step]}
        history.observe(metrics)
        result = inv.evaluate(metrics, {}, history)
        repeated = step > 0 and epochs[step] == epochs[step - 1] and fingerprints[step] == fingerprints[step - 1]
        assert result.applicable == (step > 0 and epochs[step] == epochs[step - 1])
        assert (result.applicable and not bool(result.holds)) == repeated


def test_every_invariant_cites_its_bug_class() -> None:
    from _contracts import contract

    for inv in contract(C).invariants:
        assert inv.description and len(inv.description) > 60, inv.id


