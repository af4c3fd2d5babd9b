"""Checkpoints: complete, atomic, retained by policy, and a resume that continues bit-identically.

The crash tests run training in children of a forkserver that has torch imported
(starting a fresh interpreter costs seconds here; a fork costs milliseconds) and kill
them with SIGKILL: from outside at random moments, and from inside at named points of
a checkpoint write (``PV_TRAIN_FAULT``), so that kills inside the write are certain,
not lucky. After every kill every checkpoint on disk must load, and the run resumed
to its end must match, bit for bit, a run that was never killed.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from _tinytask import child_train, final_state, fit
from pvcontracts.train import rng
from pvcontracts.train.checkpoint import CheckpointError, Checkpointer, load_checkpoint, save_atomic
from pvcontracts.train.faults import POINTS

CHECKPOINT_POINTS = [p for p in POINTS if p.startswith("checkpoint.")]
from pvcontracts.train.trainer import Trainer

# ---------------------------------------------------------------------- helpers


def assert_same_weights(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs"


def ledger_stats(out: Path) -> dict[str, dict[str, int]]:
    return json.loads((out / "result.json").read_text())["ledger"]["invariants"]


_CTX: Any = None


def forkserver() -> Any:
    """A forkserver with torch and the trainer imported once; every child is a cheap fork of it."""
    global _CTX
    if _CTX is None:
        _CTX = multiprocessing.get_context("forkserver")
        # torch._dynamo: the optimizer imports it on first use (seconds); once in the server, never in a child.
        _CTX.set_forkserver_preload(["torch", "torch._dynamo", "numpy", "yaml", "pvcontracts.train.trainer",
                                     "_tinytask"])
    return _CTX


def start_child(options: dict[str, Any], out: Path, fault: str | None = None) -> Any:
    p = forkserver().Process(target=child_train, args=(options, str(out), fault))
    p.start()
    return p


def check_directory(out: Path) -> dict[str, int]:
    """Every checkpoint on disk loads (temp files are never checkpoints); result.json, if any, parses."""
    ckpt = out / "checkpoints"
    seen = {"checkpoints": 0, "temp": 0}
    if ckpt.is_dir():
        for entry in sorted(ckpt.iterdir()):
            if entry.name.endswith(".tmp"):
                seen["temp"] += 1
                continue
            state = load_checkpoint(entry)  # raises CheckpointError on a torn file
            assert state["counters"]["epochs_completed"] >= 1
            seen["checkpoints"] += 1
    if (out / "result.json").exists():
        json.loads((out / "result.json").read_text())
    return seen


# ---------------------------------------------------------------------- gate evidence


@pytest.mark.discharges(gate="GATE-CKPT-001")
def test_checkpoint_holds_complete_state(tmp_path: Path) -> None:
    """Model, optimizer moments, scheduler, counters, every RNG stream, curves and monitor state; INV-CKPT-001..003
    hold at every write, and a trainer that leaves the scheduler out is stopped by the contract."""
    result = fit(tmp_path / "run", max_epochs=2)
    assert result.status == "passed", result.reason
    state = final_state(tmp_path / "run")
    assert state["counters"] == {"epochs_completed": 2, "optimizer_steps": 8, "checkpoints_written": 2}
    assert {"embed.weight", "norm.weight", "norm.bias", "mix.weight", "head.bias"} <= set(state["model"])
    moments = state["optimizer"]["state"]
    assert len(moments) == len(state["model"]) and all({"exp_avg", "exp_avg_sq", "step"} <= set(m)
                                                       for m in moments.values())
    assert state["scheduler"]["last_epoch"] == 8
    assert set(state["rng"]) == {"torch_cpu", "numpy", "python_random", "loader"}
    assert len(state["curves"]["step_loss"]) == 8 and len(state["curves"]["epochs"]) == 2
    assert state["monitor"]["epoch"] == 2 and state["param_checksum"] != 0
    stats = ledger_stats(tmp_path / "run")
    for inv in ("INV-CKPT-001", "INV-CKPT-002", "INV-CKPT-003"):
        assert stats[inv]["applicable"] == 2 and stats[inv]["violated"] == 0

    class ForgetsTheScheduler(Trainer):
        def state_dict(self, epoch: int) -> dict[str, Any]:
            state = super().state_dict(epoch)
            state["scheduler"] = {}
            return state

    broken = fit(tmp_path / "broken", max_epochs=2, trainer=ForgetsTheScheduler)
    assert broken.status == "violation"
    assert broken.data["violation"]["invariant"] == "INV-CKPT-001"
    assert "state_has_scheduler = false" in broken.reason


@pytest.mark.discharges(gate="GATE-CKPT-001")
def test_sigkill_during_checkpoint_leaves_previous_intact(tmp_path: Path) -> None:
    """Killed inside the second checkpoint's write (and, separately, after its bytes but before its rename): the
    first checkpoint is intact, the torn temp file is never taken for a checkpoint, and the resumed run ends
    bit-identical to one that was never killed."""
    options = {"max_epochs": 3}
    reference = start_child(options, tmp_path / "reference")
    reference.join(120)
    assert reference.exitcode == 0
    for point in ("checkpoint.mid_write", "checkpoint.before_rename"):
        out = tmp_path / point
        child = start_child(options, out, f"{point}:2")
        child.join(120)
        assert child.exitcode == -signal.SIGKILL
        names = sorted((p.name for p in (out / "checkpoints").iterdir()), key=lambda n: n.lstrip("."))
        assert names[0] == "epoch-0000.pt" and len(names) == 2 and names[1].startswith(".epoch-0001.pt.")
        first = load_checkpoint(out / "checkpoints" / "epoch-0000.pt")
        assert first["counters"]["epochs_completed"] == 1
        if point == "checkpoint.mid_write":
            with pytest.raises(CheckpointError):
                load_checkpoint(out / "checkpoints" / names[1])  # the torn write: not a valid checkpoint
        resumed = start_child(options, out)
        resumed.join(120)
        assert resumed.exitcode == 0
        assert not [p for p in (out / "checkpoints").iterdir() if p.name.endswith(".tmp")]
        assert_same_weights(final_state(out)["model"], final_state(tmp_path / "reference")["model"])


def test_random_sigkills_always_leave_a_resumable_checkpoint(tmp_path: Path) -> None:
    """20 SIGKILLs, at random moments and at every named point of a checkpoint write, on one run: after each
    kill every checkpoint loads; resumed after each, the run ends with the weights and per-step losses of a
    run never killed."""
    # from_scratch: the target-loss gate passes early, so a gate-pass link is made (and can be killed) too. Noisy
    # targets keep the loss off zero over 200 epochs: INV-TRAIN-006's ratio test would flag 6e-6 -> 2e-5.
    options = {"max_epochs": 200, "regime": {"kind": "from_scratch"}, "task_options": {"noise": 0.2}}
    rnd = random.Random(20261122)
    started = time.monotonic()
    reference = start_child(options, tmp_path / "reference")
    out = tmp_path / "killed"
    kills, inside_writes, temp_seen, finished = 0, 0, 0, False
    while kills < 20 and time.monotonic() - started < 100:
        fault = None
        if kills % 3 == 1:  # a third of the kills from inside, at a named point of a write
            fault = f"{rnd.choice(CHECKPOINT_POINTS)}:{rnd.randint(1, 2)}"
        child = start_child(options, out, fault)
        if fault is None:
            time.sleep(rnd.uniform(0.02, 0.45))
            try:
                os.kill(child.pid, signal.SIGKILL)  # may land anywhere: setup, a step, a save, a rename
            except ProcessLookupError:  # it ended first (the forkserver, its parent, reaped it)
                pass
        child.join(120)
        if child.exitcode == 0:
            finished = True
            break
        assert child.exitcode == -signal.SIGKILL, f"the child failed on its own (exit {child.exitcode}), fault {fault}"
        kills += 1
        inside_writes += fault is not None and fault.startswith("checkpoint")
        temp_seen += check_directory(out)["temp"]
    assert kills >= 15, f"only {kills} kills in the time budget"
    assert temp_seen >= 1, "no kill landed inside a write"
    if not finished:
        last = start_child(options, out)
        last.join(120)
        assert last.exitcode == 0
    reference.join(120)
    assert reference.exitcode == 0
    check_directory(out)
    assert_same_weights(final_state(out)["model"], final_state(tmp_path / "reference")["model"])
    ours = json.loads((out / "result.json").read_text())
    theirs = json.loads((tmp_path / "reference" / "result.json").read_text())
    assert ours["curves"]["step"]["loss"] == theirs["curves"]["step"]["loss"]
    assert ours["status"] == theirs["status"] == "passed"
    assert ours["ledger"]["invariants"]["INV-CKPT-007"]["violated"] == 0
    print(f"{kills} kills ({inside_writes} at named checkpoint points), {temp_seen} torn temp files seen, "
          f"{time.monotonic() - started:.1f} s")


def test_sigkill_while_writing_the_result_leaves_no_torn_result(tmp_path: Path) -> None:
    """Killed half-way through result.json: no result.json at all (never half of one); the resumed run writes it."""
    out = tmp_path / "run"
    child = start_child({"max_epochs": 2}, out, "result.mid_write:1")
    child.join(120)
    assert child.exitcode == -signal.SIGKILL
    assert not (out / "result.json").exists()
    assert [p.name for p in out.iterdir() if p.name.startswith(".result.json.")]
    resumed = start_child({"max_epochs": 2}, out)
    resumed.join(120)
    assert resumed.exitcode == 0
    assert json.loads((out / "result.json").read_text())["epochs_run"] == 2


@pytest.mark.discharges(gate="GATE-CKPT-002")
def test_retention_keeps_last_three_and_gate_pass(tmp_path: Path) -> None:
    """Six epochs: the last three periodic checkpoints and the gate-pass one stay; INV-CKPT-004/005 hold at every
    write; a retention that keeps one too many is flagged."""
    run = tmp_path / "run"
    result = fit(run, max_epochs=6, regime="from_scratch")  # target 0.75 ln(8): passed early, no stop
    assert result.status == "passed"
    gate_epoch = result.data["gate"]["epoch"]
    assert gate_epoch is not None and gate_epoch < 3
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["epoch-0003.pt", "epoch-0004.pt", "epoch-0005.pt", "gate-pass.pt"]
    kept = load_checkpoint(run / "checkpoints" / "gate-pass.pt")
    assert kept["counters"]["epochs_completed"] == gate_epoch + 1
    stats = ledger_stats(run)
    assert stats["INV-CKPT-004"]["applicable"] == 6 and stats["INV-CKPT-004"]["violated"] == 0
    assert stats["INV-CKPT-005"]["applicable"] == 6 and stats["INV-CKPT-005"]["violated"] == 0

    class KeepsFour(Checkpointer):
        def retain(self) -> list[Path]:
            found = self.periodic()
            for _, path in found[:-4]:
                path.unlink()
            return [p for _, p in found[-4:]]

    class SloppyRetention(Trainer):
        def setup(self) -> None:
            self.checkpointer.__class__ = KeepsFour
            super().setup()

    from pvcontracts.runtime import ContractWarning

    with pytest.warns(ContractWarning, match="INV-CKPT-004"):
        sloppy = fit(tmp_path / "sloppy", max_epochs=5, trainer=SloppyRetention)
    assert sloppy.data["ledger"]["violations"] == {"INV-CKPT-004": 2}  # the 4th and 5th writes


@pytest.mark.discharges(gate="GATE-CKPT-003")
def test_resume_is_bit_identical(tmp_path: Path) -> None:
    """Four epochs straight; two, stop, resume to four: the same per-step losses, weights and optimizer state."""
    straight = fit(tmp_path / "straight", max_epochs=4)
    first = fit(tmp_path / "split", max_epochs=4, stop_after=2)
    assert first.status == "interrupted" and first.data["epochs_run"] == 2
    second = fit(tmp_path / "split", max_epochs=4, resume="latest")
    assert straight.status == second.status == "passed"
    assert second.data["curves"]["step"]["loss"] == straight.data["curves"]["step"]["loss"]
    assert second.data["curves"]["step"]["lr"] == straight.data["curves"]["step"]["lr"]
    a, b = final_state(tmp_path / "straight"), final_state(tmp_path / "split")
    assert_same_weights(a["model"], b["model"])
    for key, moments in a["optimizer"]["state"].items():
        for name, value in moments.items():
            assert torch.equal(value, b["optimizer"]["state"][key][name])
    assert a["rng"]["loader"].equal(b["rng"]["loader"]) and a["rng"]["torch_cpu"].equal(b["rng"]["torch_cpu"])
    stats = ledger_stats(tmp_path / "split")
    assert stats["INV-CKPT-007"] == {"evaluated": 1, "applicable": 1, "violated": 0, "unevaluable": 0, "not_supplied": 0, "enforced": True, "reason": None}


class _RecordsRng(Trainer):
    """Captures every RNG stream at the start of each epoch."""

    seen: dict[int, dict[str, Any]]

    def train_epoch(self, epoch: int) -> float:
        self.seen = getattr(self, "seen", {})
        self.seen[epoch] = rng.capture(self.loader_generator)
        return super().train_epoch(epoch)


@pytest.mark.discharges(gate="GATE-CKPT-003")
def test_resume_restores_every_rng_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each stream at the first epoch after a resume equals the uninterrupted run's at that epoch. A resume that
    skips the RNG is stopped by INV-CKPT-006; one that claims to restore it but does not is caught by the
    bit-identity comparison."""
    from _tinytask import build, config

    def run(out: Path, **kw: Any) -> _RecordsRng:
        trainer = _RecordsRng(config(max_epochs=3), build, out, **kw)
        trainer.result = trainer.fit()
        return trainer

    straight = run(tmp_path / "straight")
    run(tmp_path / "split", stop_after=2)
    resumed = run(tmp_path / "split", resume="latest")
    want, got = straight.seen[2], resumed.seen[2]
    assert set(got) == set(want) == {"torch_cpu", "numpy", "python_random", "loader"}
    assert got["torch_cpu"].equal(want["torch_cpu"]) and got["loader"].equal(want["loader"])
    assert got["numpy"] == want["numpy"] and got["python_random"] == want["python_random"]

    # The classic mistake, honestly reported: nothing restored. The contract stops the run at the resume.
    monkeypatch.setattr(rng, "restore", lambda state, generator: [])
    skipped = run(tmp_path / "split", resume=tmp_path / "split" / "checkpoints" / "epoch-0001.pt")
    assert skipped.result.status == "violation"
    assert skipped.result.data["violation"]["invariant"] == "INV-CKPT-006"

    # The same mistake, hidden (every stream claimed): the resumed run draws other batches and dropout masks.
    monkeypatch.setattr(rng, "restore", lambda state, generator: sorted(state))
    run(tmp_path / "lying", stop_after=2)
    lying = run(tmp_path / "lying", resume="latest")
    assert lying.result.status == "passed"  # no contract can see it ...
    assert lying.result.data["curves"]["step"]["loss"] != straight.result.data["curves"]["step"]["loss"]  # ... this test does


# ---------------------------------------------------------------------- the Checkpointer itself


def test_atomic_save_leaves_old_file_on_error(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    save_atomic({"format": "pv-train-checkpoint/1", "counters": {"epochs_completed": 1}}, path)
    before = path.read_bytes()

    class Unpicklable:
        def __reduce__(self) -> Any:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        save_atomic({"bad": Unpicklable()}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.pt"]  # no temp file left behind


def test_retention_after_a_kill_between_rename_and_retention(tmp_path: Path) -> None:
    """Four periodic checkpoints on disk (a kill skipped one retention): the next write brings it back to three."""
    c = Checkpointer(tmp_path, keep_last=3)
    for epoch in range(4):
        save_atomic({"format": "pv-train-checkpoint/1"}, c.path_for(epoch))
    report = c.save({"format": "pv-train-checkpoint/1"}, 4)
    assert [p.name for p in report.retained] == ["epoch-0002.pt", "epoch-0003.pt", "epoch-0004.pt"]
    c.mark_gate_pass(c.path_for(2))
    c.save({"format": "pv-train-checkpoint/1"}, 5)
    c.save({"format": "pv-train-checkpoint/1"}, 6)
    assert load_checkpoint(c.gate_pass_path)["format"] == "pv-train-checkpoint/1"
    assert c.discard_after(5, gate_epoch=None) == [c.path_for(6), c.gate_pass_path]


def test_load_refuses_what_is_not_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "garbage.pt").write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "garbage.pt")
    torch.save({"weights": torch.ones(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a pv-train checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
