"""Global gradient norm and parameter update ratio, as standalone device functions.

The same quantities the Watcher collects through optimizer hooks, for loops
that compute them by hand (or clip gradients and want the pre-clip norm).
Results are 0-d tensors on the parameters' device; nothing is read back.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import torch

from pvcontracts.runtime.values import global_norm

__all__ = ["global_grad_norm", "snapshot", "update_ratio"]


def _tensors(params: Iterable[torch.Tensor] | torch.Tensor) -> list[torch.Tensor]:
    if isinstance(params, torch.Tensor):
        return [params]
    return list(params)


def global_grad_norm(parameters: Iterable[torch.Tensor] | torch.Tensor, norm_type: float = 2.0) -> torch.Tensor:
    """The norm of all gradients together, as ``clip_grad_norm_`` computes it (before clipping).

    Parameters without a gradient are skipped; with none at all the norm is 0.
    Non-finite gradients give a non-finite norm (never an error): the contract decides.
    """
    params = _tensors(parameters)
    grads = [p.grad.detach() for p in params if p.grad is not None]
    if not grads:
        return torch.zeros((), device=params[0].device if params else None)
    # The fused per-device kernels clip_grad_norm_ uses; the result stays on the first grad's device.
    return torch.nn.utils.get_total_norm(grads, norm_type=norm_type, error_if_nonfinite=False)


def snapshot(parameters: Iterable[torch.Tensor] | torch.Tensor) -> list[torch.Tensor]:
    """Detached copies of the parameters, to compare with after an optimizer step."""
    return [p.detach().clone() for p in _tensors(parameters)]


def update_ratio(before: Sequence[torch.Tensor], after: Iterable[torch.Tensor] | torch.Tensor) -> torch.Tensor:
    """``||after - before|| / ||before||`` over all parameters together (global L2 norms).

    ``before`` comes from :func:`snapshot` taken just before ``optimizer.step()``; ``after``
    are the parameters themselves. A zero ``before`` divides by the smallest normal number,
    so a step away from all-zero weights reads as a huge ratio, not a NaN.
    """
    after_list = [p.detach() for p in _tensors(after)]
    if len(after_list) != len(before):
        raise ValueError(f"before has {len(before)} tensors, after has {len(after_list)}")
    if not before:
        return torch.zeros(())
    deltas = torch._foreach_sub(after_list, list(before))
    delta, weight = global_norm(deltas), global_norm(list(before))
    return delta / weight.clamp_min(torch.finfo(weight.dtype).tiny)
