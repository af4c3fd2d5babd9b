"""What a training task gives the reference trainer: a model, data, and how to judge it.

The trainer owns the loop (optimizer, schedule, checkpoints, contracts); a
task owns only what is specific to the problem. ``pv train CONFIG.yaml``
finds the task through ``task: path/to/file.py:build`` (relative to the
config file), where ``build(config: dict, seed: int) -> Task``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

__all__ = ["Task", "cross_entropy", "dataset_len"]


@dataclass
class Task:
    """One training problem.

    ``train_dataset`` and ``val_dataset`` yield ``(input_ids, target_ids)`` pairs of
    LongTensors of shape ``[T]``; ``model(input_ids[B, T])`` returns logits ``[B, T, V]``.
    ``evaluate(model, epoch)`` returns extra validation metrics in the shared vocabulary
    (``edge_compliance``, ``rule_compliance``, ``coverage``, ...); it runs under
    ``torch.no_grad()`` with the model in eval mode.
    """

    name: str
    model: Any
    train_dataset: Any
    val_dataset: Any
    vocab_size: int
    evaluate: Callable[[Any, int], Mapping[str, float]] | None = None
    # (logits, targets, weights) -> scalar loss; default: cross-entropy. ``weights`` is a mapping: this epoch's
    # curriculum entry and ``rejection_lambda`` in training, empty for the validation loss (the task's
    # unweighted objective, comparable from one epoch to the next).
    loss_fn: Callable[..., Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)  # recorded in result.json (dataset sizes, sources)
    # Optional, added later (keep new fields optional): the names ``evaluate`` returns. The trainer picks the
    # contracts to enforce from them before training starts (edge_compliance and rule_compliance select
    # early-stop-sufficiency-v1); left None, the trainer calls ``evaluate`` once before training to learn them,
    # with every RNG stream saved and restored around the call so the run is unaffected.
    metrics: tuple[str, ...] | None = None


# The task's defaults, here so that every part of the trainer that needs them (the loop, preflight's
# model check, result.json) imports them from the task's own module and none from another part.


def cross_entropy(logits: Any, targets: Any, weights: Mapping[str, float] | None = None) -> Any:
    """The default ``loss_fn``: mean token cross-entropy, in float32 whatever the autocast dtype."""
    import torch.nn.functional as F  # here, so that importing a task file stays free of torch

    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))


def dataset_len(dataset: Any) -> int | None:
    """The number of examples, or None for an iterable dataset (no length, so no steps per epoch)."""
    try:
        return len(dataset)
    except TypeError:
        return None
