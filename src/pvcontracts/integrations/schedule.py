"""A real LR scheduler object read as lr-schedule-v1's declaration, the way tests/runtime/test_real_schedulers.py
declares each one by hand.

The run declares its schedule in the scheduler's own terms; an adapter fills in
what the run did not say from the scheduler the framework built: HuggingFace's
``get_*_schedule`` factories (a ``LambdaLR`` over a ``functools.partial`` of
transformers' own lambda, whose keywords are the schedule's arguments), and
torch's ``CosineAnnealingLR``, ``SequentialLR(LinearLR, CosineAnnealingLR)``,
``OneCycleLR``, ``StepLR`` and ``MultiStepLR``. Anything else is not guessed:
:func:`declaration` returns None, and the adapter asks the run to declare it.

Reading the scheduler's arguments is a declaration, not a tautology: the
contract still catches the seam bugs between the scheduler and the loop (stepped
per epoch or per micro-batch, stepped on a skipped step, warmup restarting after
a resume without the scheduler's state, an LR changed behind the scheduler).
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["declaration", "peak_lr"]

_SHAPES = {"linear": "linear", "cosine": "cosine", "1-sqrt": "sqrt"}


def peak_lr(optimizer: Any) -> float | None:
    """The first param group's LR before any scheduler scaled it (``initial_lr``, set by every torch scheduler)."""
    if optimizer is None or not getattr(optimizer, "param_groups", None):
        return None
    group = optimizer.param_groups[0]
    value = group.get("initial_lr", group.get("lr"))
    return float(value) if value is not None else None


def declaration(scheduler: Any, optimizer: Any) -> dict[str, Any] | None:
    """lr-schedule-v1 params for ``scheduler`` (None: a scheduler this module cannot read exactly)."""
    if scheduler is None:
        return {"lr_interval": "none", "lr_schedule": "constant", **_peak(optimizer)}
    kind = type(scheduler).__name__
    reader = _TORCH.get(kind)
    if reader is not None and type(scheduler).__module__.startswith("torch.optim"):
        out = reader(scheduler)
        return None if out is None else {**_peak(optimizer), **out}
    if kind == "LambdaLR":
        out = _huggingface(scheduler)
        return None if out is None else {**_peak(optimizer), **out}
    return None


def _peak(optimizer: Any) -> dict[str, Any]:
    lr = peak_lr(optimizer)
    return {} if lr is None else {"peak_lr": lr}


def _huggingface(scheduler: Any) -> dict[str, Any] | None:
    lambdas = getattr(scheduler, "lr_lambdas", None) or []
    fn = lambdas[0] if lambdas else None
    if not all(f is fn for f in lambdas):
        return None  # a different schedule per group: declare it by hand
    if isinstance(fn, functools.partial):
        func, kw = fn.func, dict(fn.keywords)
    else:
        func, kw = fn, {}
    if not getattr(func, "__module__", "").startswith("transformers."):
        return None
    name = getattr(func, "__name__", "")
    w = kw.get("num_warmup_steps", 0)
    if name == "_get_constant_lambda":
        return {"lr_schedule": "constant"}
    if name == "_get_constant_schedule_with_warmup_lr_lambda":
        return {"lr_schedule": "constant", "warmup_steps": int(w)}
    if name == "_get_linear_schedule_with_warmup_lr_lambda":
        return {"lr_schedule": "linear", "warmup_steps": int(w), "total_steps": int(kw["num_training_steps"])}
    if name == "_get_cosine_schedule_with_warmup_lr_lambda" and kw.get("num_cycles", 0.5) == 0.5:
        out = {"lr_schedule": "cosine", "warmup_steps": int(w), "total_steps": int(kw["num_training_steps"])}
        rate = float(kw.get("min_lr_rate", 0.0))
        return {**out, "min_lr": rate * peak_lr(scheduler.optimizer)} if rate else out
    if name == "_get_cosine_with_hard_restarts_schedule_with_warmup_lr_lambda":
        return {"lr_schedule": "cosine_restarts", "warmup_steps": int(w), "total_steps": int(kw["num_training_steps"]),
                "cycles": float(kw["num_cycles"])}
    if name == "_get_polynomial_decay_schedule_with_warmup_lr_lambda":
        return {"lr_schedule": "polynomial", "warmup_steps": int(w), "total_steps": int(kw["num_training_steps"]),
                "power": float(kw["power"]), "min_lr": float(kw["lr_end"])}
    if name == "_get_wsd_scheduler_lambda" and kw.get("warmup_type") in _SHAPES and kw.get("decay_type") in _SHAPES \
            and (kw.get("decay_type") != "cosine" or kw.get("num_cycles", 0.5) == 0.5):
        ratio = float(kw.get("min_lr_ratio", 0.0))
        decay = int(kw["num_decay_steps"])
        return {"lr_schedule": _SHAPES[kw["decay_type"]], "warmup_shape": _SHAPES[kw["warmup_type"]],
                "warmup_steps": int(w), "decay_steps": decay,
                "total_steps": int(w) + int(kw["num_stable_steps"]) + decay,
                "warmup_start": ratio, "min_lr": ratio * peak_lr(scheduler.optimizer)}
    return None


def _cosine_annealing(s: Any) -> dict[str, Any]:
    return {"lr_schedule": "cosine", "total_steps": int(s.T_max), "min_lr": float(s.eta_min)}


def _sequential(s: Any) -> dict[str, Any] | None:
    parts = list(getattr(s, "_schedulers", []))
    milestones = list(getattr(s, "_milestones", []))
    if len(parts) != 2 or len(milestones) != 1:
        return None
    warm, decay = parts
    if type(warm).__name__ != "LinearLR" or type(decay).__name__ != "CosineAnnealingLR":
        return None
    if float(warm.end_factor) != 1.0 or int(warm.total_iters) != int(milestones[0]):
        return None
    w = int(milestones[0])
    return {"lr_schedule": "cosine", "warmup_steps": w, "warmup_start": float(warm.start_factor),
            "total_steps": w + int(decay.T_max), "min_lr": float(decay.eta_min)}


def _one_cycle(s: Any) -> dict[str, Any] | None:
    if getattr(s, "_schedule_phases", None) is None or len(s._schedule_phases) != 2:
        return None  # three_phase: not a shape of lr-schedule-v1
    group = s.optimizer.param_groups[0]
    max_lr, initial, final = float(group["max_lr"]), float(group["initial_lr"]), float(group["min_lr"])
    shape = "cosine" if getattr(s._anneal_func, "__name__", "").endswith("cos") or \
        getattr(s, "_anneal_func_type", "cos") == "cos" else "linear"
    total = int(s.total_steps)
    warm_end = float(s._schedule_phases[0]["end_step"])
    return {"peak_lr": max_lr, "lr_schedule": shape, "warmup_shape": shape, "step_indexing": "endpoints",
            "total_steps": total, "warmup_fraction": (warm_end + 1) / total, "warmup_start": initial / max_lr,
            "min_lr": final}


def _step(s: Any) -> dict[str, Any]:
    return {"lr_schedule": "step", "step_size": int(s.step_size), "gamma": float(s.gamma)}


def _multistep(s: Any) -> dict[str, Any] | None:
    milestones = sorted(s.milestones.elements()) if hasattr(s.milestones, "elements") else sorted(s.milestones)
    if len(milestones) > 3 or len(set(milestones)) != len(milestones):
        return None
    out: dict[str, Any] = {"lr_schedule": "multistep", "gamma": float(s.gamma)}
    for i, m in enumerate(milestones, 1):
        out[f"milestone_{i}"] = int(m)
    return out


_TORCH = {"CosineAnnealingLR": _cosine_annealing, "SequentialLR": _sequential, "OneCycleLR": _one_cycle,
          "StepLR": _step, "MultiStepLR": _multistep}
