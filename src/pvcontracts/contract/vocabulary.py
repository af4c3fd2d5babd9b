"""The shared vocabulary: boundaries, regimes and metric names.

One table shared by contracts, runtime and trainer, so an expression means
the same thing everywhere. Names are snake_case with the unit in the name
where there is one. A contract may add its own metrics under ``metrics:``.
"""

from __future__ import annotations

from dataclasses import dataclass

BOUNDARIES: tuple[str, ...] = ("step_end", "epoch_end", "eval_end", "checkpoint", "resume", "run_end")

# Each regime kind and the fields it carries; a regime field is supplied as the param of the same name.
REGIMES: dict[str, tuple[str, ...]] = {
    "finetune": (),
    "from_scratch": ("vocab_size",),
}


@dataclass(frozen=True)
class Metric:
    name: str
    boundaries: tuple[str, ...]
    kind: str  # "number" | "bool"
    description: str


_ALL = BOUNDARIES
_EPOCH = ("epoch_end", "eval_end")
_RUN = ("run_end",)

_METRICS: tuple[Metric, ...] = (
    # every boundary
    Metric("step", _ALL, "number", "optimizer steps taken so far, from 0"),
    Metric("epoch", _ALL, "number", "current epoch, from 0"),
    Metric("rank", _ALL, "number", "this process's rank under torch.distributed (0 when not distributed)"),
    Metric("world_size", _ALL, "number", "number of ranks (1 when not distributed)"),
    # step_end
    Metric("loss", ("step_end",), "number", "training loss of the step, before any accumulation scaling"),
    Metric("lr", ("step_end",), "number", "learning rate the optimizer actually applied at this step"),
    Metric("grad_norm", ("step_end",), "number", "global L2 norm of the gradients before clipping"),
    Metric("update_ratio", ("step_end",), "number", "||delta W|| / ||W|| of the step's update"),
    Metric("grads_cleared", ("step_end",), "bool", "gradients were zeroed since the previous optimizer step"),
    Metric("optimizer_steps", ("step_end", "epoch_end", "checkpoint", "run_end"), "number", "optimizer.step() calls so far"),
    Metric("scheduler_steps", ("step_end", "epoch_end", "checkpoint", "run_end"), "number", "scheduler.step() calls so far"),
    Metric("optimizer_stepped", ("step_end",), "bool", "false when the step was skipped (e.g. fp16 overflow)"),
    Metric("micro_batches", ("step_end",), "number", "micro-batches accumulated into this optimizer step"),
    # epoch_end / eval_end
    Metric("train_loss", _EPOCH, "number", "mean training loss over the epoch"),
    Metric("val_loss", _EPOCH, "number", "validation loss"),
    Metric("edge_compliance", _EPOCH, "number", "fraction of generated steps that follow an edge of the graph"),
    Metric("rule_compliance", _EPOCH, "number", "fraction of rule-bearing positions where the rule held"),
    Metric("coverage", _EPOCH + ("step_end",), "number", "fraction of outputs that are REAL (not rejected)"),
    Metric("stop_requested", _EPOCH, "bool", "the trainer decided to stop after this epoch"),
    Metric("epochs_below_coverage", _EPOCH, "number", "consecutive epochs with coverage under its threshold"),
    Metric("rejection_lambda", ("step_end",) + _EPOCH, "number", "the adaptive rejection penalty's weight"),
    Metric("coverage_gap", _EPOCH, "number", "|coverage target - coverage| this epoch"),
    # representation collapse
    Metric("pred_var_per_dim", ("step_end",) + _EPOCH, "number", "mean per-dimension variance of predictions"),
    Metric("target_var_per_dim", ("step_end",) + _EPOCH, "number", "mean per-dimension variance of targets"),
    Metric("pairwise_pred_dist_mean", ("step_end",) + _EPOCH, "number", "mean pairwise L2 distance between predictions"),
    Metric("initial_pairwise_pred_dist_mean", ("step_end",) + _EPOCH, "number", "pairwise_pred_dist_mean of the first observed batch"),
    Metric("kl_reg", ("step_end",) + _EPOCH, "number", "KL regulariser term"),
    Metric("pred_target_cosine", ("step_end",) + _EPOCH, "number", "mean cosine similarity of prediction and target"),
    Metric("pred_target_dist_mean", ("step_end",) + _EPOCH, "number", "mean L2 distance between prediction and target"),
    Metric("pred_target_correlation", ("step_end",) + _EPOCH, "number", "mean per-dimension Pearson correlation of prediction and target"),
    # coverage provider detail
    Metric("coverage_cumulative", _EPOCH + ("step_end",), "number", "fraction REAL since the provider was last reset"),
    Metric("coverage_window", _EPOCH + ("step_end",), "number", "fraction REAL over the provider's last N batches"),
    Metric("real_count", _EPOCH + ("step_end",), "number", "outputs tagged REAL in the batch"),
    Metric("pinf_count", _EPOCH + ("step_end",), "number", "outputs tagged PINF in the batch"),
    Metric("ninf_count", _EPOCH + ("step_end",), "number", "outputs tagged NINF in the batch"),
    Metric("phi_count", _EPOCH + ("step_end",), "number", "outputs tagged PHI (rejected; NaN counts here) in the batch"),
    # checkpoint
    Metric("state_has_model", ("checkpoint",), "bool", "checkpoint holds the model state"),
    Metric("state_has_optimizer", ("checkpoint",), "bool", "checkpoint holds the optimizer state"),
    Metric("state_has_scheduler", ("checkpoint",), "bool", "checkpoint holds the LR scheduler state"),
    Metric("state_has_counters", ("checkpoint",), "bool", "checkpoint holds epoch and step counters"),
    Metric("rng_states_saved", ("checkpoint",), "number", "RNG streams captured (torch, cuda, numpy, python, loader)"),
    Metric("rng_states_required", ("checkpoint", "resume"), "number", "RNG streams in use by this run"),
    Metric("checkpoint_atomic", ("checkpoint",), "bool", "the file was written to a temp file, fsynced and renamed"),
    Metric("checkpoints_retained", ("checkpoint", "run_end"), "number", "periodic checkpoints on disk after retention"),
    Metric("checkpoints_written", ("checkpoint", "run_end"), "number", "periodic checkpoints written so far"),
    Metric("gate_pass_retained", ("checkpoint", "run_end"), "bool", "the checkpoint that passed the gate is still on disk"),
    Metric("gate_passed", ("checkpoint", "eval_end", "run_end"), "bool", "the sufficiency gate has passed at some epoch"),
    # resume
    Metric("resumed_step", ("resume",), "number", "step counter after restoring"),
    Metric("checkpoint_step", ("resume",), "number", "step counter recorded in the checkpoint"),
    Metric("param_checksum", ("resume", "epoch_end", "checkpoint"), "number", "checksum of the parameters"),
    Metric("checkpoint_param_checksum", ("resume",), "number", "parameter checksum recorded in the checkpoint"),
    Metric("rng_states_restored", ("resume",), "number", "RNG streams restored from the checkpoint"),
    Metric("scheduler_restored", ("resume",), "bool", "the LR scheduler state was restored"),
    Metric("optimizer_restored", ("resume",), "bool", "the optimizer state was restored"),
    Metric("param_checksum_min", ("epoch_end",), "number", "smallest param_checksum across ranks"),
    Metric("param_checksum_max", ("epoch_end",), "number", "largest param_checksum across ranks"),
    # run_end
    Metric("failure_recorded", _RUN, "bool", "a failed run wrote its reason and final metrics"),
    Metric("epochs_run", _RUN, "number", "epochs completed"),
    Metric("max_epochs", _RUN, "number", "the run's epoch budget"),
)

METRICS: dict[str, Metric] = {m.name: m for m in _METRICS}


def metrics_at(boundary: str) -> frozenset[str]:
    """Names of the built-in metrics defined at a boundary."""
    return _BY_BOUNDARY[boundary]


_BY_BOUNDARY: dict[str, frozenset[str]] = {
    b: frozenset(m.name for m in _METRICS if b in m.boundaries) for b in BOUNDARIES
}
