"""Representation-collapse metrics: predicted embeddings against their targets.

Everything here is a device op: tensors in, 0-d tensors out, no host read, so
a provider can be called inside the training step and its metrics handed to
``Monitor.step_end`` (deferred to the next sync point) or ``eval_end``.

Definitions, chosen to match ``representation-collapse-v1`` and its falsifiers:

- embeddings are the last dimension; leading dimensions are flattened into rows
- ``*_var_per_dim``: population variance (``unbiased=False``) of each
  dimension over the rows, then the mean over dimensions
- ``pairwise_pred_dist_mean``: mean L2 distance over all pairs of prediction
  rows (``torch.pdist``); ``initial_pairwise_pred_dist_mean`` is the same on the
  first batch this provider observed
- ``kl_reg``: KL(N(mu, exp(logvar)) || N(0, I)), summed over latent dimensions
  and averaged over rows
- ``pred_target_cosine``: mean cosine similarity of each prediction with its target
- ``pred_target_dist_mean``: mean L2 distance of each prediction from its target
- ``pred_target_correlation``: Pearson correlation of prediction and target per
  dimension, averaged over dimensions; a constant dimension contributes 0

NaN anywhere in the inputs propagates into the metrics (NaN fails every
collapse check), it is never masked.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

__all__ = ["CollapseProvider", "collapse_metrics", "gaussian_kl", "pairwise_dist_mean"]


def _rows(x: torch.Tensor, name: str) -> torch.Tensor:
    if x.dim() < 2:
        raise ValueError(f"{name} must have shape (..., dim), got {tuple(x.shape)}")
    x = x.detach().reshape(-1, x.shape[-1])
    if not x.dtype.is_floating_point or torch.finfo(x.dtype).bits < 32:
        x = x.float()  # half-precision sums of squares lose the variance they are meant to measure
    return x


def pairwise_dist_mean(x: torch.Tensor, max_rows: int | None = None) -> torch.Tensor:
    """Mean L2 distance over all pairs of rows of ``x`` (shape (..., dim), at least 2 rows).

    ``max_rows`` bounds the O(rows^2) cost by using the first ``max_rows`` rows only
    (a fixed subset: no random numbers are drawn, so the run's RNG streams are untouched).
    """
    rows = _rows(x, "x")
    if max_rows is not None:
        if max_rows < 2:
            raise ValueError(f"max_rows={max_rows!r} must be at least 2")
        rows = rows[:max_rows]
    if rows.shape[0] < 2:
        raise ValueError(f"a pairwise distance needs at least 2 rows, got {rows.shape[0]}")
    return torch.pdist(rows).mean()


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)): summed over the last dimension, mean over the rest."""
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    mu = _rows(mu, "mu")
    logvar = _rows(logvar, "logvar")
    return (0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(dim=-1)).mean()


def collapse_metrics(pred: torch.Tensor, target: torch.Tensor, mu: torch.Tensor | None = None,
                     logvar: torch.Tensor | None = None, *, max_rows: int | None = None) -> dict[str, torch.Tensor]:
    """Every collapse metric of one batch except the baseline, as 0-d tensors on the inputs' device."""
    p = _rows(pred, "pred")
    t = _rows(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    if p.shape[0] < 2:
        raise ValueError(f"collapse metrics need at least 2 rows (embeddings), got {p.shape[0]}")
    if (mu is None) != (logvar is None):
        raise ValueError("pass both mu and logvar for kl_reg, or neither")
    t = t.to(p.dtype)
    pred_var = p.var(dim=0, unbiased=False)
    target_var = t.var(dim=0, unbiased=False)
    pc = p - p.mean(dim=0)
    tc = t - t.mean(dim=0)
    cov = (pc * tc).mean(dim=0)
    # A constant dimension has cov 0: the clamp turns 0/0 into 0, while NaN inputs stay NaN.
    corr = cov / (pred_var * target_var).sqrt().clamp_min(torch.finfo(p.dtype).tiny)
    out = {
        "pred_var_per_dim": pred_var.mean(),
        "target_var_per_dim": target_var.mean(),
        "pairwise_pred_dist_mean": pairwise_dist_mean(p, max_rows),
        "pred_target_cosine": torch.nn.functional.cosine_similarity(p, t, dim=-1).mean(),
        "pred_target_dist_mean": torch.linalg.vector_norm(p - t, dim=-1).mean(),
        "pred_target_correlation": corr.mean(),
    }
    if mu is not None and logvar is not None:
        out["kl_reg"] = gaussian_kl(mu, logvar)
    return out


class CollapseProvider:
    """Collapse metrics on a schedule, with the pairwise-distance baseline of the first observed batch.

    ``observe(step, pred, target)`` returns the metrics when ``step % every == 0`` and
    ``{}`` otherwise, so ``monitor.step_end(**provider.observe(...))`` costs nothing on
    other steps. Pass as ``step`` the counter the contract's schedule reads: for
    ``representation-collapse-v1`` that is ``optimizer_steps`` with
    ``every = check_every_steps``. ``measure`` computes unconditionally (for
    ``eval_end``). The baseline is kept in ``state_dict`` so that it survives a resume.
    """

    def __init__(self, every: int = 500, *, max_rows: int | None = None,
                 initial_pairwise_pred_dist_mean: torch.Tensor | float | None = None) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every={every!r} must be an int of at least 1")
        self.every = every
        self.max_rows = max_rows
        self.baseline: torch.Tensor | None = None
        if initial_pairwise_pred_dist_mean is not None:
            self.baseline = torch.as_tensor(initial_pairwise_pred_dist_mean).detach().clone()

    def due(self, step: int) -> bool:
        """Whether ``observe`` computes at this step (a host decision on a host counter)."""
        return step % self.every == 0

    def observe(self, step: int, pred: torch.Tensor, target: torch.Tensor, mu: torch.Tensor | None = None,
                logvar: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The metrics at scheduled steps, ``{}`` at the others (nothing is computed then)."""
        if isinstance(step, torch.Tensor):
            raise TypeError("step must be a host int (the optimizer step counter), not a tensor: "
                            "deciding on a tensor would read it back to the host")
        if not self.due(step):
            return {}
        return self.measure(pred, target, mu, logvar)

    def measure(self, pred: torch.Tensor, target: torch.Tensor, mu: torch.Tensor | None = None,
                logvar: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The metrics of this batch now, whatever the schedule; the first call sets the baseline."""
        metrics = collapse_metrics(pred, target, mu, logvar, max_rows=self.max_rows)
        current = metrics["pairwise_pred_dist_mean"]
        if self.baseline is None:
            self.baseline = current.detach().clone()
        metrics["initial_pairwise_pred_dist_mean"] = self.baseline.to(device=current.device, dtype=current.dtype)
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {"every": self.every, "initial_pairwise_pred_dist_mean": self.baseline}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        baseline = state.get("initial_pairwise_pred_dist_mean")
        self.baseline = None if baseline is None else torch.as_tensor(baseline).detach().clone()
