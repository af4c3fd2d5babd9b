"""Falsifiers for the formula-level parts of checkpoint-resume-v1 (a draft: the trainer's tests come later).

What can be checked before a trainer exists is the contract text itself: that
a checkpoint or a resume missing any one piece of state is flagged, that the
retention count is exactly keep_last, and that the gate-pass checkpoint is
protected. A simulated retention policy stands in for the trainer's.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _contracts import CI, Boundary, invariant, param, params, violated

C = "checkpoint-resume-v1"
STATE = ("state_has_model", "state_has_optimizer", "state_has_scheduler", "state_has_counters")
RNG_STREAMS = ("torch_cpu", "cuda:0", "cuda:1", "numpy", "python_random", "loader_sampler", "loader_workers")


@pytest.mark.discharges(gate="GATE-CKPT-001")
@CI
@given(used=st.sets(st.sampled_from(RNG_STREAMS), min_size=1), data=st.data())
def test_missing_rng_stream_is_flagged(used: set[str], data: Any) -> None:
    """Saving every stream in use passes (extra ones too); dropping any one, whichever, is flagged."""
    inv = invariant(C, "INV-CKPT-002")
    saved = set(used) | data.draw(st.sets(st.sampled_from(RNG_STREAMS)))
    ok = inv.evaluate({"rng_states_saved": len(saved), "rng_states_required": len(used)}, params(C))
    assert ok.applicable and ok.holds is True
    dropped = data.draw(st.sampled_from(sorted(used)))
    partial = (used - {dropped})
    bad = inv.evaluate({"rng_states_saved": len(partial), "rng_states_required": len(used)}, params(C))
    assert bad.holds is False
    assert bad.values == {"rng_states_saved": len(partial), "rng_states_required": len(used)}


@pytest.mark.discharges(gate="GATE-CKPT-001")
@CI
@given(flags=st.fixed_dictionaries({k: st.booleans() for k in STATE}))
def test_incomplete_state_is_flagged(flags: dict[str, bool]) -> None:
    """A checkpoint holds only when model, optimizer, scheduler and counters are all in it."""
    result = invariant(C, "INV-CKPT-001").evaluate(flags, params(C))
    assert result.holds is all(flags.values())
    assert invariant(C, "INV-CKPT-003").evaluate({"checkpoint_atomic": False}, params(C)).holds is False
    assert invariant(C, "INV-CKPT-003").evaluate({"checkpoint_atomic": True}, params(C)).holds is True


def _retention_run(keep_last: int, keep: int, writes: int, pass_at: int | None, delete_gate_pass: bool,
                   ) -> list[set[str]]:
    """Simulate ``writes`` periodic checkpoints under a keep-``keep`` policy; the gate passes at write ``pass_at``."""
    boundary = Boundary(C, ("INV-CKPT-004", "INV-CKPT-005"), params(C, keep_last=keep_last))
    on_disk: deque[int] = deque(maxlen=keep)
    gate_pass_file: int | None = None
    out = []
    for i in range(1, writes + 1):
        on_disk.append(i)
        if pass_at == i:
            gate_pass_file = i
        if delete_gate_pass and gate_pass_file is not None and gate_pass_file not in on_disk:
            gate_pass_file = None  # retention swept the gate-pass checkpoint along with the periodic ones
        out.append(violated(boundary.observe({
            "checkpoints_written": i, "checkpoints_retained": len(on_disk),
            "gate_passed": pass_at is not None and i >= pass_at, "gate_pass_retained": gate_pass_file is not None,
        })))
    return out


@pytest.mark.discharges(gate="GATE-CKPT-002")
@CI
@given(keep_last=st.integers(min_value=param(C, "keep_last").min, max_value=12), writes=st.integers(1, 30),
       off=st.sampled_from([-1, 1]))
def test_retention_policy_matches_keep_last(keep_last: int, writes: int, off: int) -> None:
    """keep-last-N holds at every write; N - 1 or N + 1 is flagged from the write where it first differs."""
    assert all(not v for v in _retention_run(keep_last, keep_last, writes, None, False))
    wrong = keep_last + off
    if wrong < 1:
        return
    seen = _retention_run(keep_last, wrong, writes, None, False)
    first_difference = min(keep_last, wrong) + 1  # both policies agree until the smaller one starts deleting
    for i, v in enumerate(seen, start=1):
        assert ("INV-CKPT-004" in v) is (i >= first_difference)


@CI
@given(keep_last=st.integers(1, 6), writes=st.integers(1, 20), pass_at=st.integers(1, 20))
def test_gate_pass_checkpoint_survives_retention(keep_last: int, writes: int, pass_at: int) -> None:
    """Kept apart from retention it is never flagged; swept by retention it is flagged once it falls out of the last N."""
    pass_at = min(pass_at, writes)
    assert all("INV-CKPT-005" not in v for v in _retention_run(keep_last, keep_last, writes, pass_at, False))
    swept = _retention_run(keep_last, keep_last, writes, pass_at, True)
    for i, v in enumerate(swept, start=1):
        assert ("INV-CKPT-005" in v) is (i >= pass_at + keep_last)


@pytest.mark.discharges(gate="GATE-CKPT-003")
@CI
@given(checksum=st.integers(0, 2**63 - 1), step=st.integers(0, 10**9),
       checksum_delta=st.integers(-(2**20), 2**20), step_delta=st.integers(-3, 3))
def test_resume_mismatch_is_flagged(checksum: int, step: int, checksum_delta: int, step_delta: int) -> None:
    """Equal checksum and step pass; any difference in either, even one bit or one step, is flagged."""
    inv = invariant(C, "INV-CKPT-007")
    exact = {"param_checksum": checksum, "checkpoint_param_checksum": checksum,
             "resumed_step": step, "checkpoint_step": step}
    assert inv.evaluate(exact, params(C)).holds is True
    moved = dict(exact, param_checksum=checksum + checksum_delta, resumed_step=step + step_delta)
    assert inv.evaluate(moved, params(C)).holds is (checksum_delta == 0 and step_delta == 0)
    flipped = dict(exact, param_checksum=checksum ^ 1)
    assert inv.evaluate(flipped, params(C)).holds is False


@CI
@given(optimizer=st.booleans(), scheduler=st.booleans(), required=st.integers(1, len(RNG_STREAMS)),
       restored=st.integers(0, len(RNG_STREAMS)))
def test_partial_restore_is_flagged(optimizer: bool, scheduler: bool, required: int, restored: int) -> None:
    """A resume holds only with the optimizer, the scheduler and at least every RNG stream in use restored."""
    result = invariant(C, "INV-CKPT-006").evaluate(
        {"optimizer_restored": optimizer, "scheduler_restored": scheduler,
         "rng_states_restored": restored, "rng_states_required": required}, params(C))
    assert result.holds is (optimizer and scheduler and restored >= required)
