"""AdamW with two parameter groups: weight decay on weight matrices, none on biases and norms.

Decaying a bias or a norm's gain towards zero only fights the model (a LayerNorm
whose gain shrinks rescales every activation after it); decay is meant to
regularise the weights that mix features. A parameter is left undecayed when it
belongs to a normalisation layer, is named ``bias``, or has fewer than two
dimensions (nanoGPT's rule, which catches custom norms too). Tied parameters
(an embedding shared with the output layer) appear once.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_optimizer", "param_groups"]


def _is_norm(module: Any) -> bool:
    import torch.nn as nn

    norms = (nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.modules.batchnorm._NormBase)
    rms = getattr(nn, "RMSNorm", None)
    return isinstance(module, norms + ((rms,) if rms is not None else ())) or "norm" in type(module).__name__.lower()


def param_groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    """``[{"params": decayed, "weight_decay": wd, "names": [...]}, {"params": rest, "weight_decay": 0.0, ...}]``."""
    no_decay_ids: set[int] = set()
    for module in model.modules():
        if _is_norm(module):
            no_decay_ids.update(id(p) for p in module.parameters(recurse=False))
    decay, rest, decay_names, rest_names = [], [], [], []
    seen: set[int] = set()
    for name, p in model.named_parameters():  # named_parameters already skips tied duplicates
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        if id(p) in no_decay_ids or name.endswith("bias") or p.dim() < 2:
            rest.append(p)
            rest_names.append(name)
        else:
            decay.append(p)
            decay_names.append(name)
    return [{"params": decay, "weight_decay": weight_decay, "names": decay_names},
            {"params": rest, "weight_decay": 0.0, "names": rest_names}]


def build_optimizer(model: Any, *, lr: float, weight_decay: float, betas: tuple[float, float] = (0.9, 0.95),
                    eps: float = 1e-8) -> Any:
    """AdamW over :func:`param_groups`; empty groups are dropped (a model without biases has one)."""
    import torch

    groups = [g for g in param_groups(model, weight_decay) if g["params"]]
    if not groups:
        raise ValueError("the model has no trainable parameters")
    # foreach: the multi-tensor kernels, one launch per group instead of one per parameter.
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, foreach=True)
