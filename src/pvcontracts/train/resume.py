"""Which checkpoint a resume continues from, and whether it fits the run: decided before anything is written.

``--resume PATH`` takes that checkpoint or refuses; a bare ``--resume`` takes the
newest periodic checkpoint that loads, skipping (and naming) the ones that do
not: a kill during the last write leaves a torn file, and the previous epoch's
checkpoint is the one to continue from. A checkpoint that loads but does not fit
the run (another run's config, a model of another shape or dtype, counters past
the run's budget, missing state) is refused with everything that does not fit
named, so ``pv train`` exits 2 with a message instead of a traceback in the
middle of restoring, and the run directory is left as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, TextIO

from pvcontracts.train.checkpoint import CheckpointError, Checkpointer, load_checkpoint

__all__ = ["fit_problems", "pick_checkpoint"]


def pick_checkpoint(checkpointer: Checkpointer, resume_from: str | Path | None,
                    stream: TextIO) -> tuple[Path, dict[str, Any]] | None:
    """The checkpoint to resume from and its state; None for a fresh run. Raises CheckpointError to refuse."""
    if resume_from is None:
        return None
    if str(resume_from) != "latest":
        path = Path(resume_from)
        if not path.is_file():
            raise CheckpointError(f"--resume {path}: no such checkpoint")
        return path, load_checkpoint(path)
    skipped: list[str] = []
    for _, path in reversed(checkpointer.periodic()):
        try:
            state = load_checkpoint(path)
        except CheckpointError as exc:
            skipped.append(str(exc))
            continue
        for reason in skipped:
            stream.write(f"skipped {reason}\n")
        return path, state
    if skipped:
        raise CheckpointError("no checkpoint in the run directory loads: " + "; ".join(skipped))
    return None  # nothing to resume: a fresh run


def _shape(value: Any) -> str:
    return str(tuple(value.shape)) if hasattr(value, "shape") else type(value).__name__


def _dtype(value: Any) -> str:
    return str(getattr(value, "dtype", type(value).__name__)).replace("torch.", "")


def _layout_problems(state: Mapping[str, Any]) -> list[str]:
    """Keys and kinds of value every checkpoint of this trainer has."""
    required: dict[str, Any] = {
        "counters": {"epochs_completed": int, "optimizer_steps": int, "checkpoints_written": int},
        "model": dict, "optimizer": {"state": dict, "param_groups": list}, "scheduler": dict, "rng": dict,
        "curves": {"step_loss": list, "step_lr": list, "epochs": list}, "timing": dict, "monitor": dict,
        "policies": {"gate_epoch": (int, type(None)), "stopped_by": (str, type(None))}, "param_checksum": int,
        "config": dict,
    }
    out: list[str] = []

    def walk(value: Any, spec: Any, where: str) -> None:
        if isinstance(spec, dict):
            if not isinstance(value, dict):
                out.append(f"'{where}' is {type(value).__name__}, not a mapping")
                return
            for key, inner in spec.items():
                name = f"{where}.{key}" if where else key
                if key not in value:
                    out.append(f"'{name}' is missing")
                else:
                    walk(value[key], inner, name)
        elif not isinstance(value, spec) or (spec is int and isinstance(value, bool)):
            kinds = spec if isinstance(spec, tuple) else (spec,)
            out.append(f"'{where}' is {type(value).__name__}, not {' or '.join(k.__name__ for k in kinds)}")

    walk(state, required, "")
    return out


def _budget_problems(state: Mapping[str, Any], max_epochs: int, steps_per_epoch: int) -> list[str]:
    """Counters a run of this budget can reach: nothing past its last epoch or its last step."""
    counters = state["counters"]
    epochs, steps, written = counters["epochs_completed"], counters["optimizer_steps"], counters["checkpoints_written"]
    out = []
    if not 1 <= epochs <= max_epochs:
        out.append(f"counters.epochs_completed is {epochs}, outside 1..{max_epochs} (the run's max_epochs)")
    elif not 0 <= steps <= epochs * steps_per_epoch:
        out.append(f"counters.optimizer_steps is {steps}, outside 0..{epochs * steps_per_epoch} "
                   f"({epochs} epochs of {steps_per_epoch} steps)")
    if not 0 <= written <= max(epochs, 0):
        out.append(f"counters.checkpoints_written is {written}, outside 0..{epochs} (one per epoch completed)")
    gate = state["policies"]["gate_epoch"]
    if gate is not None and not 0 <= gate < epochs:
        out.append(f"policies.gate_epoch is {gate}, not an epoch completed (0..{epochs - 1})")
    curves = state["curves"]["epochs"]
    if len(curves) > epochs:
        out.append(f"curves.epochs holds {len(curves)} epochs, more than the {epochs} completed")
    last = state["scheduler"].get("last_epoch")
    if not isinstance(last, int) or isinstance(last, bool) or not 0 <= last <= epochs * steps_per_epoch:
        out.append(f"scheduler.last_epoch is {last!r}, not a step count within 0..{epochs * steps_per_epoch}")
    return out


def _model_problems(saved: Mapping[str, Any], model_state: Mapping[str, Any]) -> list[str]:
    """Every tensor of the model, by name, with its shape and dtype."""
    out = []
    missing = [k for k in model_state if k not in saved]
    unexpected = [k for k in saved if k not in model_state]
    if missing:
        out.append(f"model tensor(s) missing from the checkpoint: {', '.join(missing[:5])}"
                   + (f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""))
    if unexpected:
        out.append(f"model tensor(s) this run's model does not have: {', '.join(unexpected[:5])}"
                   + (f" (and {len(unexpected) - 5} more)" if len(unexpected) > 5 else ""))
    for name, mine in model_state.items():
        theirs = saved.get(name)
        if theirs is None:
            continue
        if not hasattr(theirs, "shape") or tuple(theirs.shape) != tuple(mine.shape):
            out.append(f"model tensor '{name}' is {_shape(theirs)} in the checkpoint, {_shape(mine)} in this run's model")
        elif getattr(theirs, "dtype", None) != mine.dtype:
            out.append(f"model tensor '{name}' is {_dtype(theirs)} in the checkpoint, {_dtype(mine)} in this run's model")
    return out


def _optimizer_problems(saved: Mapping[str, Any], optimizer: Any) -> list[str]:
    """The checkpoint's optimizer state per parameter, against this run's parameters (torch checks only the counts)."""
    groups = saved["param_groups"]
    mine = optimizer.param_groups
    if len(groups) != len(mine) or any(not isinstance(g, dict) or len(g.get("params", ())) != len(m["params"])
                                       for g, m in zip(groups, mine)):
        sizes = [len(g.get("params", ())) if isinstance(g, dict) else "?" for g in groups]
        return [f"optimizer parameter groups hold {sizes} parameters in the checkpoint, "
                f"{[len(m['params']) for m in mine]} in this run"]
    params = {pid: p for g, m in zip(groups, mine) for pid, p in zip(g["params"], m["params"])}
    out = []
    for pid, entry in saved["state"].items():
        param = params.get(pid)
        if param is None:
            out.append(f"optimizer state for parameter {pid!r}, which no parameter group lists")
            continue
        for key, value in (entry.items() if isinstance(entry, dict) else ()):
            if getattr(value, "ndim", 0) == 0:
                continue  # the step count
            if tuple(value.shape) != tuple(param.shape) or value.dtype != param.dtype:
                out.append(f"optimizer state '{key}' of parameter {pid} is {_shape(value)} {_dtype(value)} in the "
                           f"checkpoint, for a parameter of {_shape(param)} {_dtype(param)}")
    return out


def fit_problems(state: Mapping[str, Any], *, model: Any, optimizer: Any, max_epochs: int,
                 steps_per_epoch: int) -> list[str]:
    """Everything in ``state`` that does not fit this run's components and budget (empty when it fits)."""
    out = _layout_problems(state)
    if out:
        return out  # the rest reads these keys
    out += _budget_problems(state, max_epochs, steps_per_epoch)
    out += _model_problems(state["model"], model.state_dict())
    out += _optimizer_problems(state["optimizer"], optimizer)
    return out
