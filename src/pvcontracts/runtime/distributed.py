"""Agreement across ranks under torch.distributed.

Every rank evaluates its own checks; at each sync point the ranks reduce
their findings so that all of them take the same decision at the same step.
One rank raising while the others wait in a collective is a hang, which is
worse than a crash, so no rank acts on a finding alone.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.distributed as dist

_NONE = 2**62  # "no violation" in a MIN reduction over steps


def _device() -> torch.device:
    # NCCL reduces CUDA tensors only; gloo reduces CPU tensors.
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def agree_on_violations(found: Sequence[Any], checks: Sequence[Any], rank: int, world: int) -> list[Any]:
    """The violations every rank must act on: for each invariant, the earliest step any rank saw it."""
    ids = sorted({c.id for c in checks})
    index = {ident: i for i, ident in enumerate(ids)}
    device = _device()
    first = torch.full((len(ids),), _NONE, dtype=torch.int64)
    local: dict[str, Any] = {}
    for v in found:
        key = v.step if v.step is not None else -1
        i = index[v.invariant_id]
        if key < first[i].item() or v.invariant_id not in local:
            first[i] = min(key, int(first[i]))
            local[v.invariant_id] = v
    first = first.to(device)
    dist.all_reduce(first, op=dist.ReduceOp.MIN)
    first_host = first.cpu().tolist()
    who = torch.full((len(ids),), world, dtype=torch.int64)
    for ident, v in local.items():
        key = v.step if v.step is not None else -1
        if key == first_host[index[ident]]:
            who[index[ident]] = rank
    who = who.to(device)
    dist.all_reduce(who, op=dist.ReduceOp.MIN)
    who_host = who.cpu().tolist()
    agreed: list[Any] = []
    for i, ident in enumerate(ids):
        if first_host[i] == _NONE:
            continue
        source = who_host[i]
        box = [local.get(ident) if rank == source else None]
        dist.broadcast_object_list(box, src=source)  # the observing rank's values, for the same message everywhere
        violation = box[0]
        violation.rank = rank
        violation.observed_on_rank = source
        agreed.append(violation)
    return agreed


def checksum_extremes(checksum: torch.Tensor) -> dict[str, Any]:
    device = _device()
    low = checksum.detach().to(device=device, dtype=torch.int64).reshape(1).clone()
    high = low.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    return {"param_checksum": int(checksum.item()), "param_checksum_min": int(low.item()),
            "param_checksum_max": int(high.item())}
