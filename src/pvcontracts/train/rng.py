"""Every RNG stream a run draws from, captured and restored as plain data.

The streams: the global torch CPU generator (dropout, and anything else the model
samples), each CUDA device's generator once CUDA is in use, NumPy's and Python's
global generators (tasks and augmentations use them), and the DataLoader's own
generator (the shuffle order and the workers' base seed). Missing any one of them
makes a resumed run draw other batches or other dropout masks than the run it
continues; checkpoint-resume-v1 counts them (INV-CKPT-002, INV-CKPT-006).

States are stored as tensors, lists and ints only, so a checkpoint loads with
``torch.load(weights_only=True)`` (no pickled NumPy objects).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = ["capture", "required_streams", "restore"]


def _cuda_in_use() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_initialized()


def required_streams(loader_generator: torch.Generator | None) -> list[str]:
    """Names of the streams this process uses now."""
    names = ["torch_cpu", "numpy", "python_random"]
    if _cuda_in_use():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if loader_generator is not None:
        names.append("loader")
    return names


def capture(loader_generator: torch.Generator | None) -> dict[str, Any]:
    """The state of every stream in :func:`required_streams`, keyed by stream name."""
    state: dict[str, Any] = {"torch_cpu": torch.get_rng_state()}
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state["numpy"] = {"kind": str(kind), "keys": [int(k) for k in keys], "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}
    version, internal, gauss = random.getstate()
    state["python_random"] = {"version": version, "internal": list(internal), "gauss_next": gauss}
    if _cuda_in_use():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            state[f"cuda:{i}"] = s
    if loader_generator is not None:
        state["loader"] = loader_generator.get_state()
    return state


def restore(state: dict[str, Any], loader_generator: torch.Generator | None) -> list[str]:
    """Restore every stream present in ``state`` that this process uses; returns the names restored."""
    restored = []
    if "torch_cpu" in state:
        torch.set_rng_state(state["torch_cpu"])
        restored.append("torch_cpu")
    if "numpy" in state:
        s = state["numpy"]
        np.random.set_state((s["kind"], np.asarray(s["keys"], dtype=np.uint32), s["pos"], s["has_gauss"],
                             s["cached_gaussian"]))
        restored.append("numpy")
    if "python_random" in state:
        s = state["python_random"]
        random.setstate((s["version"], tuple(s["internal"]), s["gauss_next"]))
        restored.append("python_random")
    cuda = sorted(k for k in state if k.startswith("cuda:"))
    if cuda and torch.cuda.is_available():
        for name in cuda:
            index = int(name.split(":")[1])
            if index < torch.cuda.device_count():
                torch.cuda.set_rng_state(state[name], index)
                restored.append(name)
    if loader_generator is not None and "loader" in state:
        loader_generator.set_state(state["loader"])
        restored.append("loader")
    return restored
