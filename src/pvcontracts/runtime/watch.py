"""Standard step metrics collected through PyTorch's own optimizer hooks.

`Monitor.watch(model, optimizer, scheduler)` registers a step pre-hook and a
post-hook on the optimizer, so a team gets grad norm, applied LR, step
counts and gradient hygiene without threading values by hand. Every metric
stays a device tensor or a host number the hooks already had: no hook reads a
tensor back to the host.
"""

from __future__ import annotations

from typing import Any

import torch


class Watcher:
    def __init__(self, model: Any, optimizer: Any, scheduler: Any = None, *, update_ratio_every: int = 0,
                 initial_optimizer_steps: int | None = None) -> None:
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.update_ratio_every = update_ratio_every
        base = initial_optimizer_steps
        if base is None:
            base = int(getattr(scheduler, "last_epoch", 0)) if scheduler is not None else 0
        self.optimizer_steps = base
        self._stepped = False
        self._cleared = True  # fresh gradients are None: as clear as zero_grad leaves them
        self._cleared_at_step = True
        self._grad_norm: Any = None
        self._lr: Any = None
        self._update_ratio: Any = None
        self._snapshot: list[torch.Tensor] | None = None
        self._handles = [optimizer.register_step_pre_hook(self._before_step),
                         optimizer.register_step_post_hook(self._after_step)]
        self._unwrap: list[tuple[Any, Any]] = []
        for owner in (optimizer, model):
            if owner is not None and hasattr(owner, "zero_grad"):
                self._wrap_zero_grad(owner)

    def _wrap_zero_grad(self, owner: Any) -> None:
        # There is no zero_grad hook in PyTorch; wrapping the bound method on this instance
        # only is the least invasive way to learn that gradients were cleared.
        original = owner.zero_grad

        def zero_grad(*args: Any, **kwargs: Any) -> Any:
            self._cleared = True
            return original(*args, **kwargs)

        owner.zero_grad = zero_grad
        self._unwrap.append((owner, original))

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    def _before_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        grads = [p.grad for p in self._params() if p.grad is not None]
        if grads:
            # The same fused kernels clip_grad_norm_ uses; the result stays on the device.
            norms = torch._foreach_norm(grads)
            self._grad_norm = torch.linalg.vector_norm(torch.stack([n.to(norms[0].device) for n in norms]))
        else:
            self._grad_norm = 0.0
        self._lr = optimizer.param_groups[0]["lr"]
        self._cleared_at_step = self._cleared
        due = self.update_ratio_every and (self.optimizer_steps % self.update_ratio_every == 0)
        self._snapshot = [p.detach().clone() for p in self._params()] if due else None

    def _after_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self.optimizer_steps += 1
        self._stepped = True
        self._cleared = False
        if self._snapshot is not None:
            params = [p.detach() for p in self._params()]
            deltas = torch._foreach_sub(params, self._snapshot)
            delta = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(deltas)))
            weight = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(self._snapshot)))
            self._update_ratio = delta / weight.clamp_min(torch.finfo(weight.dtype).tiny)
            self._snapshot = None
        else:
            self._update_ratio = None

    def collect(self) -> dict[str, Any]:
        """Metrics of the step that just ended; called by the monitor at every boundary."""
        metrics: dict[str, Any] = {"optimizer_steps": self.optimizer_steps, "optimizer_stepped": self._stepped}
        if self.scheduler is not None:
            metrics["scheduler_steps"] = int(self.scheduler.last_epoch)
        if self._stepped:
            metrics["grad_norm"] = self._grad_norm
            metrics["lr"] = self._lr
            metrics["grads_cleared"] = self._cleared_at_step
            if self._update_ratio is not None:
                metrics["update_ratio"] = self._update_ratio
        else:
            metrics["lr"] = self.optimizer.param_groups[0]["lr"]
        self._stepped = False
        return metrics

    def param_checksum(self) -> torch.Tensor:
        """An exact, order-independent checksum of the parameters' bits (for cross-rank comparison)."""
        total = None
        for p in self._params():
            bits = p.detach().contiguous()
            view = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[bits.element_size()]
            part = bits.view(view).to(torch.int64).sum()
            total = part if total is None else total + part.to(total.device)
        return total if total is not None else torch.zeros((), dtype=torch.int64)

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        for owner, original in self._unwrap:
            owner.zero_grad = original
        self._handles, self._unwrap = [], []
