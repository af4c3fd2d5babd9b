"""Standard step metrics collected through PyTorch's own optimizer hooks.

`Monitor.watch(model, optimizer, scheduler)` registers a step pre-hook and a
post-hook on the optimizer, so a team gets grad norm, applied LR, step
counts and gradient hygiene without threading values by hand. Every metric
stays a device tensor or a host number the hooks already had: no hook reads a
tensor back to the host.

What each metric means, exactly:

- ``grad_norm``: the global L2 norm of the gradients as ``optimizer.step()`` finds
  them, computed like ``clip_grad_norm_`` (per-tensor norms, then the norm of
  those). A loop that clips before the step shows the *clipped* norm here; pass
  ``grad_norm=`` the total norm ``clip_grad_norm_`` returned to check the norm
  before clipping (explicit metrics override collected ones).
- ``lr``: ``param_groups[0]["lr"]`` read in the step pre-hook, i.e. the LR the
  update used, before the loop's ``scheduler.step()`` moves it on.
- ``grads_cleared``: the gradients this step applies were not left over from the
  previous optimizer step: ``zero_grad()`` (of the optimizer or the model) ran
  since then, or the gradient tensors are new objects (``p.grad = None`` by hand).
  Accumulating over micro-batches between two optimizer steps is clearing once.
- ``trainable_params_optimized``: the fraction of the model's trainable
  parameter tensors (``requires_grad``) that the optimizer holds, by identity; 0
  when the optimizer was built for a copy of the model or a model since
  re-created. ``trainable_fraction``: trainable elements over all elements of
  the model. Both are host numbers computed when watching starts and again at
  every epoch-level boundary (a set of ids, never a device read).
- ``batch_fingerprint``: a float64 sum over up to 4096 evenly strided elements
  of the first tensor the model's first training-mode forward of the step
  received (a forward pre-hook; a device op, never read here).
- ``optimizer_steps`` / ``scheduler_steps``: ``optimizer.step()`` calls (counted
  from the scheduler's ``last_epoch`` when watching starts, so a resumed run
  continues the count) and the scheduler's ``last_epoch``.
- ``optimizer_stepped``: whether ``optimizer.step()`` ran since the last
  ``step_end``; false on a skipped step (a GradScaler that found inf/NaN does not
  call it). grad_norm, grads_cleared and update_ratio exist only on a real step.
- ``update_ratio``: ||W_after - W_before|| / ||W_before|| over the model's trainable
  parameters (the optimizer's when no model is watched), on the first optimizer
  step after watching starts and on every ``update_ratio_every``-th one (counted
  before the step; 0: the first only), which costs one copy of those parameters
  on those steps.

With ``guard_updates`` (a ``skip_step`` invariant is enforced) the watcher also
keeps what each optimizer step changes and the LR scheduler's state at each
step (:mod:`pvcontracts.runtime.skipping`), so the monitor can withhold a
step's update and undo its scheduler step; ``optimizer_steps`` then does not
count a skipped step once the monitor knows of it.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable, Mapping

import torch

from pvcontracts.runtime.skipping import ScheduleRewind, UpdateGuard
from pvcontracts.runtime.sources import MetricSource
from pvcontracts.runtime.values import global_norm

_FINGERPRINT_ELEMENTS = 4096


class Watcher(MetricSource):
    name = "watch"

    def __init__(self, model: Any, optimizer: Any, scheduler: Any = None, *, update_ratio_every: int = 0,
                 initial_optimizer_steps: int | None = None,
                 before_step: Callable[[dict[str, Any]], Any] | None = None,
                 given_grad_norm: Callable[[], Any] | None = None, guard_updates: bool = False,
                 rewind_schedule: bool = True) -> None:
        if isinstance(update_ratio_every, bool) or not isinstance(update_ratio_every, int) or update_ratio_every < 0:
            raise ValueError(f"update_ratio_every={update_ratio_every!r} must be a non-negative integer")
        self.model = model
        self._before_step_callback = before_step
        self._given_grad_norm = given_grad_norm
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.update_ratio_every = update_ratio_every
        base = initial_optimizer_steps
        if base is None:
            base = int(getattr(scheduler, "last_epoch", 0)) if scheduler is not None else 0
        self.optimizer_steps = base
        self._steps_watched = 0
        self._stepped = False
        self._cleared = True  # fresh gradients are None: as clear as zero_grad leaves them
        self._cleared_at_step = True
        self._grad_probe: Any = None  # one gradient tensor of the last step: a new object means it was cleared
        self._fingerprint: Any = None
        self._fingerprint_taken = False
        self._trainable = self._trainable_metrics()
        self._grad_norm: Any = None
        self._lr: Any = None
        self._update_ratio: Any = None
        self._snapshot: list[torch.Tensor] | None = None
        self.guard: UpdateGuard | None = UpdateGuard(optimizer) if guard_updates else None
        self.rewind: ScheduleRewind | None = (ScheduleRewind(scheduler, optimizer)
                                              if guard_updates and rewind_schedule and scheduler is not None else None)
        self._undecided: set[int] = set()  # guarded steps whose skip flag only the device knows yet
        self._handles = [optimizer.register_step_pre_hook(self._before_step),
                         optimizer.register_step_post_hook(self._after_step)]
        if model is not None and hasattr(model, "register_forward_pre_hook"):
            self._handles.append(model.register_forward_pre_hook(self._before_forward, with_kwargs=True))
        self._unwrap: list[tuple[Any, Any]] = []
        for owner in (optimizer, model):
            if owner is not None and hasattr(owner, "zero_grad"):
                self._wrap_zero_grad(owner)

    def _wrap_zero_grad(self, owner: Any) -> None:
        # There is no zero_grad hook in PyTorch; wrapping the bound method on this instance
        # only is the least invasive way to learn that gradients were cleared.
        own = vars(owner).get("zero_grad")  # set on the instance already (another watcher), or None
        original = owner.zero_grad

        def zero_grad(*args: Any, **kwargs: Any) -> Any:
            self._cleared = True
            return original(*args, **kwargs)

        owner.zero_grad = zero_grad
        self._unwrap.append((owner, own))

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    def _watched_params(self) -> list[torch.Tensor]:
        """What update_ratio measures: the model's trainable parameters, or the optimizer's without a model."""
        if self.model is not None and hasattr(self.model, "parameters"):
            return [p for p in self.model.parameters() if p.requires_grad]
        return self._params()

    def _trainable_metrics(self) -> dict[str, Any]:
        if self.model is None or not hasattr(self.model, "parameters"):
            return {}
        held = {id(p) for p in self._params()}
        params = list(self.model.parameters())
        trainable = [p for p in params if p.requires_grad]
        total = sum(p.numel() for p in params)
        return {"trainable_params_optimized": (sum(1 for p in trainable if id(p) in held) / len(trainable)
                                               if trainable else 1.0),
                "trainable_fraction": sum(p.numel() for p in trainable) / total if total else 1.0}

    def _before_forward(self, module: Any, args: Any, kwargs: Any) -> None:
        if self._fingerprint_taken or not getattr(module, "training", True):
            return
        tensor = next((a for a in args if isinstance(a, torch.Tensor)), None)
        if tensor is None:
            tensor = next((kwargs[k] for k in sorted(kwargs) if isinstance(kwargs[k], torch.Tensor)), None)
        if tensor is not None:
            self._take_fingerprint(tensor)

    def observe_batch(self, batch: Any) -> None:
        """The step's batch, for a loop whose watched model is not the module it calls (a Lightning module
        calling an inner model): its first tensor is fingerprinted as the forward pre-hook would (device op)."""
        if self._fingerprint_taken:
            return
        tensor = _first_tensor(batch)
        if tensor is not None:
            self._take_fingerprint(tensor)

    def _take_fingerprint(self, tensor: torch.Tensor) -> None:
        self._fingerprint_taken = True
        flat = tensor.detach().reshape(-1)
        stride = max(1, flat.numel() // _FINGERPRINT_ELEMENTS)
        # A device op on a strided sample: never read here, compared by the contract at the sync point.
        self._fingerprint = flat[::stride].sum(dtype=torch.float64)

    def _before_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        given = self._given_grad_norm() if self._given_grad_norm is not None else None
        grads = [] if given is not None else [p.grad for p in self._params() if p.grad is not None]
        if given is not None:
            # The loop already has the norm (clip_grad_norm_ returns it): computing it again
            # was a third of the monitor's cost per step on a small model.
            self._grad_norm = given
        elif grads:
            self._grad_norm = global_norm(grads)  # clip_grad_norm_'s fused kernels; stays on the device
        else:
            self._grad_norm = 0.0
        self._lr = self._current_lr()
        probe = self._grad_probe
        # Cleared by zero_grad, or the gradient is a new tensor (set to None by hand, then a fresh backward).
        self._cleared_at_step = self._cleared or probe is None or probe() is not _first_grad(self._params())
        if self._before_step_callback is not None:
            # fatal_before_step: the monitor checks what is known now and may raise, so the
            # optimizer never applies this update, or decide to withhold it (skip_step: the monitor
            # passes that decision to finish_step at step_end, a host bool, undone exactly there).
            self._before_step_callback(self.pre_step_metrics())
        if self.guard is not None:
            self.guard.before_step()
            if self.rewind is not None:
                self.rewind.before_step()
        due = self._steps_watched == 0 or (self.update_ratio_every and self.optimizer_steps % self.update_ratio_every == 0)
        self._snapshot = [p.detach().clone() for p in self._watched_params()] if due else None

    def _current_lr(self) -> Any:
        lr = self.optimizer.param_groups[0]["lr"]
        if isinstance(lr, torch.Tensor):
            # A tensor LR (capturable and fused optimizers) is updated in place by scheduler.step():
            # a reference would show the next step's LR by the time it is read. A copy on the device.
            return lr.detach().clone()
        return lr

    def pre_step_metrics(self) -> dict[str, Any]:
        """The step metrics as they stand inside the pre-hook, counting the step about to be taken."""
        return {"grad_norm": self._grad_norm, "lr": self._lr, "grads_cleared": self._cleared_at_step,
                "optimizer_stepped": True, "optimizer_steps": self.optimizer_steps + 1}

    def _after_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self.guard is not None:
            self.guard.after_step()
        self.optimizer_steps += 1
        self._steps_watched += 1
        self._stepped = True
        self._cleared = False
        grad = _first_grad(self._params())
        self._grad_probe = None if grad is None else weakref.ref(grad)
        if self._snapshot is not None:
            params = [p.detach() for p in self._watched_params()]
            if params and len(params) == len(self._snapshot):
                deltas = torch._foreach_sub(params, self._snapshot)
                delta, weight = global_norm(deltas), global_norm(self._snapshot)
                self._update_ratio = delta / weight.clamp_min(torch.finfo(weight.dtype).tiny)
            else:
                self._update_ratio = None
            self._snapshot = None
        else:
            self._update_ratio = None

    def collect(self, boundary: str = "step_end", consume: bool = True) -> dict[str, Any]:
        """Metrics of the step that just ended; called by the monitor at every boundary.

        ``consume``: this was the step's step_end, so the next one starts fresh (epoch-level
        boundaries only look, so they cannot steal a step's metrics from its step_end).
        """
        if not consume:  # an epoch-level boundary: a good moment to notice frozen or re-created parameters
            self._trainable = self._trainable_metrics()
        metrics: dict[str, Any] = {"optimizer_steps": self.optimizer_steps, "optimizer_stepped": self._stepped,
                                   **self._trainable}
        if self._fingerprint is not None and consume:
            metrics["batch_fingerprint"] = self._fingerprint
        if self.scheduler is not None:
            metrics["scheduler_steps"] = int(self.scheduler.last_epoch)
        if self._stepped:
            metrics["grad_norm"] = self._grad_norm
            metrics["lr"] = self._lr
            metrics["grads_cleared"] = self._cleared_at_step
            if self._update_ratio is not None:
                metrics["update_ratio"] = self._update_ratio
        else:
            metrics["lr"] = self._current_lr()
        if consume:
            self._stepped = False
            self._fingerprint = None
            self._fingerprint_taken = False
        return metrics

    def finish_step(self, step: int, skip: Any) -> None:
        """At step_end, with the step's skip flag (a host bool or a device bool): withhold its update.

        A flag the host knows is acted on at once: the update undone, the scheduler set back,
        the step not counted. A device flag is applied on the device (no read) and the rest
        waits for :meth:`settle_skips` at the next sync point.
        """
        if self.guard is None:
            return
        if not self.guard.pending:  # no optimizer step since the last step_end (a GradScaler skip, say)
            return
        skip = self.guard.finish(skip)
        if self.rewind is not None:
            self.rewind.finish(step)
        if skip is True:
            self._undo_counts({step})
        elif skip is not False:
            self._undecided.add(step)

    def settle_skips(self, skipped: set[int]) -> None:
        """At a sync point: the steps every rank agreed were skipped. Their counts and scheduler steps undone."""
        undecided, self._undecided = self._undecided, set()
        self._undo_counts(undecided & skipped)
        if self.rewind is not None:
            self.rewind.marks.clear()  # the window is settled: the next one starts here

    def _undo_counts(self, steps: set[int]) -> None:
        if not steps:
            return
        self.optimizer_steps -= len(steps)
        if self.rewind is not None:
            self.rewind.rewind(steps)

    def state_dict(self) -> dict[str, Any]:
        """What the watcher counts, so a fresh process resumes the count (not the scheduler's)."""
        return {"optimizer_steps": self.optimizer_steps}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if "optimizer_steps" in state:
            self.optimizer_steps = int(state["optimizer_steps"])

    def param_checksum(self) -> torch.Tensor:
        """An exact checksum of the parameters' bits, for comparing replicas across ranks.

        Each element's bit pattern is weighted by an odd number from its position, and each
        tensor by one from its index, so swapping two weights or moving one up an ulp and
        another down one changes the sum (a plain sum of bits would not notice). Integer
        arithmetic wraps identically on every rank, so equal replicas give equal sums.
        """
        total = torch.zeros((), dtype=torch.int64)
        for j, p in enumerate(self._params()):
            bits = p.detach().contiguous().reshape(-1)
            view = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[bits.element_size()]
            ints = bits.view(view).to(torch.int64)
            weights = torch.arange(1, 2 * ints.numel(), 2, dtype=torch.int64, device=ints.device)
            part = (ints * weights).sum() * (2 * j + 1)
            total = total.to(part.device) + part
        return total

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        for owner, own in reversed(self._unwrap):
            if own is None:
                del owner.zero_grad  # the class's method shows through again; no bound-method cycle left
            else:
                owner.zero_grad = own
        self._handles, self._unwrap = [], []


def _first_tensor(batch: Any, depth: int = 0) -> torch.Tensor | None:
    """The first tensor of a batch: itself, a mapping's by sorted key, a sequence's in order (bounded depth)."""
    if isinstance(batch, torch.Tensor):
        return batch
    if depth > 4:
        return None
    if isinstance(batch, Mapping):
        items = [batch[k] for k in sorted(batch, key=str)]
    elif isinstance(batch, (list, tuple)):
        items = list(batch)
    else:
        return None
    for item in items:
        found = _first_tensor(item, depth + 1)
        if found is not None:
            return found
    return None


def _first_grad(params: list[torch.Tensor]) -> Any:
    for p in params:
        if p.grad is not None:
            return p.grad
    return None
