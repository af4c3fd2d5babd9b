"""Fingerprints of the state a resume must restore: RNG streams, the LR scheduler, the optimizer.

The Monitor takes them itself when its state is saved (``state_dict``, which a
checkpoint carries) and compares them with the live objects at ``resume``, so a
resume that forgot one of them is caught without the loop reporting flags
(HF transformers #17032: RNG not restored; Lightning #5455: scheduler state lost).

A stream is compared only if it moved during the run (its fingerprint at the
checkpoint differs from the one taken when the run started): an unused,
unseeded stream differs between processes and says nothing about the resume.
Every digest is SHA-256 over a canonical byte form; reading the optimizer's
tensors is a sync, which is fine at a checkpoint or a resume.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any, Mapping

__all__ = ["ResumeFingerprints", "compare", "rng_fingerprints", "state_fingerprints"]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def rng_fingerprints() -> dict[str, str]:
    """Digests of the global RNG streams in use: torch CPU, each CUDA device (if initialised), NumPy, Python."""
    import random

    out = {"python": _digest(repr(random.getstate()).encode())}
    torch = sys.modules.get("torch")
    if torch is not None:
        # The generator's state is a host byte tensor; its storage's bytes, not a Tensor method that reads.
        out["torch"] = _digest(bytes(torch.get_rng_state().untyped_storage()))
        cuda = getattr(torch, "cuda", None)
        if cuda is not None and cuda.is_available() and cuda.is_initialized():
            for i, state in enumerate(cuda.get_rng_state_all()):
                out[f"cuda:{i}"] = _digest(bytes(state.untyped_storage()))
    np = sys.modules.get("numpy")  # never imported here: a run that does not use NumPy has no NumPy stream
    if np is not None:
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        out["numpy"] = _digest(str(kind).encode() + keys.tobytes() + repr((pos, has_gauss, cached)).encode())
    return out


def _canonical(value: Any, tensors: list[Any]) -> Any:
    """Plain data for hashing: numbers, strings and containers as they are, tensors by index, objects dropped."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _canonical(v, tensors) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v, tensors) for v in value]
    if hasattr(value, "detach") and hasattr(value, "dtype"):
        tensors.append(value.detach())
        return ["tensor", str(value.dtype), list(value.shape)]
    return None  # functions, lambdas, partials: their repr carries an address, never the same twice


def _state_digest(state: Any) -> str:
    tensors: list[Any] = []
    plain = _canonical(state, tensors)
    sums: list[float] = []
    if tensors:
        import torch

        # Content of every tensor as two float64 sums, read in one transfer: a sync, at a checkpoint.
        device = tensors[0].device
        stats = [torch.stack([t.double().sum(), t.double().square().sum()]).to(device) for t in tensors]
        sums = torch.cat(stats).tolist()
    return _digest(json.dumps([plain, sums], sort_keys=True, default=str).encode())


def scheduler_fingerprint(scheduler: Any) -> str:
    """Digest of an LR scheduler's state_dict (last_epoch, last LRs, nested schedulers), callables left out."""
    return _state_digest(scheduler.state_dict())


def optimizer_fingerprint(optimizer: Any) -> str:
    """Digest of an optimizer's state (step counts, moments by content) and its param groups' hyperparameters."""
    state = optimizer.state_dict()
    groups = [{k: v for k, v in g.items() if k != "params"} for g in state["param_groups"]]
    return _state_digest({"state": state["state"], "groups": groups})


def state_fingerprints(optimizers: list[Any], schedulers: list[Any]) -> dict[str, str]:
    """RNG streams, then ``optimizer`` and ``scheduler`` (one digest over every watched one)."""
    out = {f"rng:{k}": v for k, v in rng_fingerprints().items()}
    if optimizers:
        out["optimizer"] = _digest("".join(optimizer_fingerprint(o) for o in optimizers).encode())
    if schedulers:
        out["scheduler"] = _digest("".join(scheduler_fingerprint(s) for s in schedulers).encode())
    return out


def compare(saved: Mapping[str, str], start: Mapping[str, str], live: Mapping[str, str]) -> dict[str, Any]:
    """The resume metrics: whether each part the checkpoint saw in use matches the live state again.

    ``rng_restored``: every RNG stream that moved between the run's start and the checkpoint
    is back in the checkpoint's state. ``optimizer_state_restored`` / ``scheduler_state_restored``:
    the live optimizer and scheduler equal the checkpoint's. A part that was not fingerprinted on
    both sides gives no metric (the invariant reading it is then not enforced, and says so).
    """
    out: dict[str, Any] = {}
    used = [k for k in saved if k.startswith("rng:") and start.get(k) != saved[k]]
    if any(k.startswith("rng:") for k in saved):
        out["rng_restored"] = all(live.get(k) == saved[k] for k in used)
        out["rng_streams_compared"] = len(used)
    for part, name in (("optimizer", "optimizer_state_restored"), ("scheduler", "scheduler_state_restored")):
        if part in saved and part in live:
            out[name] = live[part] == saved[part]
    return out


class ResumeFingerprints:
    """A run's fingerprints for its resume checks: the RNG streams as the run started, and the
    RNG streams, optimizers and schedulers as they were when a checkpoint's state was taken.

    Both travel in the monitor's state, so a resumed process compares the live state with the
    checkpoint's (``resume_metrics``) and knows which streams the original run had moved.
    """

    def __init__(self) -> None:
        self.start: dict[str, str] = {f"rng:{k}": v for k, v in rng_fingerprints().items()}
        self.saved: dict[str, str] | None = None

    def take(self, optimizers: list[Any], schedulers: list[Any]) -> None:
        """A checkpoint is being taken: what a resume from it must find again."""
        self.saved = state_fingerprints(optimizers, schedulers)

    def resume_metrics(self, optimizers: list[Any], schedulers: list[Any]) -> dict[str, Any]:
        """The resume metrics against the live state (:func:`compare`); none before any checkpoint."""
        if not self.saved:
            return {}
        return compare(self.saved, self.start, state_fingerprints(optimizers, schedulers))

    def state_dict(self) -> dict[str, Any]:
        return {"start": dict(self.start), "saved": None if self.saved is None else dict(self.saved)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.start = dict(state.get("start") or {})
        self.saved = dict(state["saved"]) if state.get("saved") else None
