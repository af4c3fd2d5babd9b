"""Collapse of self-supervised embeddings, measured where the embeddings are made: a forward hook.

``monitor.attach(EmbeddingCollapse(model.projector))`` is the one line. On the
first training-mode forward of the module and then every ``every`` optimizer
steps it measures ``embedding_std``: the per-dimension standard deviation of the
L2-normalised outputs over the batch, averaged over dimensions (SimSiam,
Chen & He 2021, section 4.1: about 1/sqrt(d) when healthy, 0 when collapsed).
The first value is kept as ``initial_embedding_std``. Both are device tensors,
given at every step_end (the latest measurement), never read here.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from pvcontracts.runtime.sources import MetricSource

__all__ = ["EmbeddingCollapse", "embedding_std"]


def embedding_std(embeddings: torch.Tensor) -> torch.Tensor:
    """Mean over dimensions of the std over rows of the L2-normalised rows (last dimension = embedding)."""
    x = embeddings.detach().reshape(-1, embeddings.shape[-1]).float()
    x = torch.nn.functional.normalize(x, dim=-1)
    return x.std(dim=0, unbiased=False).mean()


class EmbeddingCollapse(MetricSource):
    name = "embedding_collapse"

    def __init__(self, module: Any, every: int = 1) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every={every!r} must be an int of at least 1")
        self.every = every
        self.calls = 0          # step_end calls seen: the sampling schedule, a host counter
        self.latest: torch.Tensor | None = None
        self.initial: torch.Tensor | None = None
        self._due = True
        self._handle = module.register_forward_hook(self._after_forward)

    def _after_forward(self, module: Any, args: Any, output: Any) -> None:
        if not self._due or not module.training:
            return
        out = output[0] if isinstance(output, (tuple, list)) else output
        if not isinstance(out, torch.Tensor) or out.dim() < 2 or out.shape[0] < 2:
            return
        self._due = False
        self.latest = embedding_std(out)  # a device op, read only at the sync point
        if self.initial is None:
            self.initial = self.latest

    def collect(self, boundary: str, consume: bool) -> dict[str, Any]:
        if boundary != "step_end" or self.latest is None:
            return {}
        out = {"embedding_std": self.latest, "initial_embedding_std": self.initial}
        if consume:
            self.calls += 1
            self._due = self.calls % self.every == 0
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "initial": None if self.initial is None else float(self.initial)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.calls = int(state.get("calls", 0))
        if state.get("initial") is not None:
            self.initial = torch.tensor(float(state["initial"]))

    def remove(self) -> None:
        self._handle.remove()
