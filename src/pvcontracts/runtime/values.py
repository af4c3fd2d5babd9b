"""Moving values between the device and the host, and deciding when that costs a sync.

"Is this a host value" itself is answered once, in :func:`pvcontracts.contract.params.is_host`;
this module holds what the runtime does with the answer.
"""

from __future__ import annotations

from typing import Any, Mapping

from pvcontracts.contract.params import HOST_TYPES, is_host

__all__ = ["any_flag", "bad_flag", "detached", "global_norm", "host_state", "is_host", "not_flag", "read_scalars",
           "tensor_names", "to_host", "truth"]


def tensor_names(env: Mapping[str, Any]) -> frozenset[str]:
    """Names whose values are not host values (tensors): a check reading one is deferred."""
    return frozenset([k for k, v in env.items() if not isinstance(v, HOST_TYPES)])


def detached(value: Any) -> Any:
    """A pending step must not keep its autograd graph alive until the sync point."""
    if getattr(value, "requires_grad", False):
        return value.detach()
    return value


def to_host(value: Any) -> Any:
    """A one-element tensor as a Python number (a sync when it is on a device); anything else unchanged."""
    if hasattr(value, "detach") and hasattr(value, "numel") and value.numel() == 1:
        return value.detach().reshape(()).item()
    return value


def truth(value: Any) -> bool:
    if is_host(value):
        return bool(value)
    return bool(value.all().item()) if hasattr(value, "all") else bool(value)


def read_scalars(tensors: Mapping[str, Any]) -> dict[str, Any]:
    """One-element tensors as host numbers, read with one transfer per (device, dtype) group."""
    groups: dict[tuple[Any, Any], list[str]] = {}
    for name, value in tensors.items():
        if hasattr(value, "numel") and value.numel() == 1:
            groups.setdefault((value.device, value.dtype), []).append(name)
    out: dict[str, Any] = {}
    if not groups:
        return out
    import torch

    for names in groups.values():
        values = torch.stack([tensors[n].detach().reshape(()) for n in names]).tolist()  # a sync, on purpose
        out.update(zip(names, values))
    return out


def host_state(state: dict[str, Any]) -> dict[str, Any]:
    """A history's state with scalar tensors as numbers: it loads on any device and serialises as JSON."""
    return {"values": {k: [to_host(v) for v in vs] for k, vs in state["values"].items()},
            "first": {k: to_host(v) for k, v in state["first"].items()}}


# Flags: a step's "skip this update" decision, a host bool or a 0-d bool tensor. Combining them never reads a
# tensor, and never makes a tensor out of a host bool (a host-to-device copy of a Python value can wait for the
# device's queue): host values short-circuit instead.

def any_flag(a: Any, b: Any) -> Any:
    """a or b."""
    if is_host(a):
        return True if a else b
    if is_host(b):
        return True if b else a
    return a.logical_or(b.to(a.device))


def not_flag(flag: Any) -> Any:
    return (not flag) if is_host(flag) else flag.logical_not()


def bad_flag(applies: Any, holds: Any) -> Any:
    """applies and not holds: where a check failed. Every element of a tensor must hold, as on the host."""
    if is_host(applies):
        if not applies:
            return False
        return (not holds) if is_host(holds) else _as_flag(holds).logical_not()
    if is_host(holds):
        return False if holds else _as_flag(applies)
    applies_t = _as_flag(applies)
    return applies_t.logical_and(_as_flag(holds).to(applies_t.device).logical_not())


def _as_flag(value: Any) -> Any:
    if str(value.dtype) != "torch.bool":
        value = value != 0  # a number's truth, as the host reads it (NaN is true)
    return value.all()


def global_norm(tensors: list[Any]) -> Any:
    """The L2 norm of all ``tensors`` together, on the device (no read): the fused per-tensor norms
    clip_grad_norm_ uses, gathered on the first tensor's device when the tensors are spread over several.

    Not torch.nn.utils.get_total_norm: its grouping by device and dtype made it 307 us a call
    against 258 us here (100 tensors, CPU), and the watcher calls this at every step.
    """
    import torch

    norms = list(torch._foreach_norm(tensors))
    device = norms[0].device
    if any(n.device != device for n in norms):
        norms = [n.to(device) for n in norms]
    return torch.linalg.vector_norm(torch.stack(norms))
