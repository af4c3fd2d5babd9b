"""Moving values between the device and the host, and deciding when that costs a sync.

"Is this a host value" itself is answered once, in :func:`pvcontracts.contract.params.is_host`;
this module holds what the runtime does with the answer.
"""

from __future__ import annotations

from typing import Any, Mapping

from pvcontracts.contract.params import HOST_TYPES, is_host

__all__ = ["detached", "host_state", "is_host", "read_scalars", "tensor_names", "to_host", "truth"]


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
