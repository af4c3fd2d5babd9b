"""Resume: a checkpoint that does not fit the run is refused (exit 2, naming what), before anything is written.

And a bare ``--resume`` whose newest checkpoint is torn falls back to the newest one that loads, saying
which one it skipped and why.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from _tinytask import fit, snapshot
from pvcontracts.train.checkpoint import CheckpointError, Checkpointer, load_checkpoint, save_atomic
from pvcontracts.train.config import ConfigError
from pvcontracts.train.progress import epoch_label

EPOCHS = 3


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run stopped after two of three epochs: checkpoints epoch-0000 and epoch-0001."""
    out = tmp_path_factory.mktemp("interrupted")
    fit(out, max_epochs=EPOCHS, stop_after=2)
    return out


def doctored(interrupted: Path, tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the interrupted run whose newest checkpoint was changed by ``change``."""
    out = tmp_path / "run"
    out.mkdir()
    for name, data in snapshot(interrupted).items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    latest = Checkpointer(out / "checkpoints").latest()
    state = load_checkpoint(latest)
    change(state)
    save_atomic(state, latest)
    return out


def refused_resume(out: Path, error: type = CheckpointError, **overrides: Any) -> str:
    """The refusal's message; and the run directory is byte for byte what it was."""
    before = snapshot(out)
    with pytest.raises(error) as info:
        fit(out, max_epochs=EPOCHS, resume="latest", **overrides)
    assert snapshot(out) == before
    return str(info.value)


def first_param(state: dict[str, Any]) -> str:
    return next(iter(state["model"]))


@pytest.mark.parametrize("change, needle", [
    (lambda s: s["model"].__setitem__(first_param(s), torch.zeros(3, 5)), "is (3, 5) in the checkpoint"),
    (lambda s: s["model"].__setitem__(first_param(s), s["model"][first_param(s)].double()),
     "is float64 in the checkpoint, float32 in this run's model"),
    (lambda s: s["model"].pop(first_param(s)), "missing from the checkpoint"),
    (lambda s: s["model"].__setitem__("extra.weight", torch.zeros(1)), "this run's model does not have: extra.weight"),
    (lambda s: s["counters"].__setitem__("epochs_completed", 10 ** 9), "epochs_completed is 1000000000, outside 1..3"),
    (lambda s: s["counters"].__setitem__("optimizer_steps", 10 ** 6), "optimizer_steps is 1000000, outside 0..8"),
    (lambda s: s["counters"].__setitem__("optimizer_steps", -1), "optimizer_steps is -1"),
    (lambda s: s["counters"].__setitem__("checkpoints_written", 7), "checkpoints_written is 7"),
    (lambda s: s["policies"].__setitem__("gate_epoch", 5), "gate_epoch is 5"),
    (lambda s: s["scheduler"].__setitem__("last_epoch", 99), "scheduler.last_epoch is 99"),
    (lambda s: s.pop("optimizer"), "'optimizer' is missing"),
    (lambda s: s["counters"].pop("optimizer_steps"), "'counters.optimizer_steps' is missing"),
    (lambda s: s["counters"].__setitem__("epochs_completed", "2"), "'counters.epochs_completed' is str, not int"),
    (lambda s: s["optimizer"]["state"][0].__setitem__("exp_avg", torch.zeros(2)), "optimizer state 'exp_avg'"),
    (lambda s: s["optimizer"]["param_groups"].pop(), "optimizer parameter groups"),
    (lambda s: s["rng"].__setitem__("torch_cpu", torch.zeros(3, dtype=torch.uint8)), "its RNG state does not fit"),
    (lambda s: s["monitor"].__setitem__("stats", {"INV-TRAIN-001": {"bogus": 1}}), "its monitor state does not fit"),
])
def test_a_checkpoint_that_does_not_fit_is_refused_naming_what(interrupted: Path, tmp_path: Path,
                                                                change: Callable, needle: str) -> None:
    out = doctored(interrupted, tmp_path, change)
    message = refused_resume(out)
    assert needle in message, message


def test_a_changed_config_is_refused_and_writes_nothing(interrupted: Path, tmp_path: Path) -> None:
    out = doctored(interrupted, tmp_path, lambda s: None)
    assert "lr: 0.01 -> 0.02" in refused_resume(out, ConfigError, lr=0.02)


def test_pv_train_exits_2_with_the_message_not_a_traceback(interrupted: Path, tmp_path: Path) -> None:
    from test_command import pv, write_config

    config = write_config(tmp_path)
    out = tmp_path / "cli-run"
    code, _, _ = pv(str(config), "--out", str(out), "--max-epochs", "3")
    assert code in (0, 1)
    latest = Checkpointer(out / "checkpoints").latest()
    state = load_checkpoint(latest)
    state["model"][first_param(state)] = torch.zeros(2, 2)
    save_atomic(state, latest)
    before = snapshot(out)
    code, _, err = pv(str(config), "--out", str(out), "--max-epochs", "3", "--resume", str(latest))
    assert code == 2, err
    assert "does not fit this run" in err and "Traceback" not in err
    assert snapshot(out) == before


def test_bare_resume_falls_back_past_a_torn_checkpoint(interrupted: Path, tmp_path: Path) -> None:
    out = doctored(interrupted, tmp_path, lambda s: None)
    newest = Checkpointer(out / "checkpoints").latest()
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 3])  # torn, as a kill mid-write leaves it
    stream = io.StringIO()
    from _tinytask import build, config
    from pvcontracts.train.trainer import Trainer

    result = Trainer(config(max_epochs=EPOCHS), build, out, resume="latest", stream=stream).fit()
    said = stream.getvalue()
    assert f"skipped {newest}: not a readable checkpoint" in said
    assert "resumed from" in said and "epoch-0000.pt at epoch 1" in said
    assert result.data["epochs_run"] == EPOCHS


def test_bare_resume_refuses_when_no_checkpoint_loads(interrupted: Path, tmp_path: Path) -> None:
    out = doctored(interrupted, tmp_path, lambda s: None)
    for _, path in Checkpointer(out / "checkpoints").periodic():
        path.write_bytes(b"not a checkpoint")
    message = refused_resume(out)
    assert message.startswith("no checkpoint in the run directory loads")
    assert message.count("not a readable checkpoint") == 2


def test_the_progress_bar_numbers_epochs_as_the_messages_do(tmp_path: Path) -> None:
    assert epoch_label(1, 20) == "epoch 1 (2 of 20)"
    stream = io.StringIO()
    from _tinytask import build, config
    from pvcontracts.train.trainer import Trainer

    Trainer(config(max_epochs=1, progress=True), build, tmp_path, stream=stream).fit()
    assert "epoch 0 (1 of 1)" in stream.getvalue()
    assert "epoch 1/" not in stream.getvalue()
