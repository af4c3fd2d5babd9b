"""What every framework adapter does, whatever the framework calls it.

An adapter is built by the user before the framework knows anything about the run
(no rank, no optimizer, no output directory), so the shared core splits the work:

* at construction, the contracts are loaded and the run's own params checked, so a
  misspelt param fails in the user's first line, not an hour into the run;
* when the framework has built the run (its optimizer, scheduler and config), the
  Monitor is built with the framework's defaults under the run's declarations:
  ``defaults < framework config < the scheduler object's own arguments < params=``
  (:mod:`.schedule`), and the regime's vocabulary from the model's config;
* when the rank is known, the run starts: ledger (one per rank) in the run's output
  directory, ``run_start``.

The step's loss is the sum of what each micro-batch backpropagated (each already
divided for accumulation by the framework), kept on the device by :class:`StepLoss`,
a metric source: one optimizer step, one loss, no sync.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from pvcontracts.contract.contractset import load_contracts
from pvcontracts.contract.regime import Regime
from pvcontracts.errors import IntegrationError
from pvcontracts.integrations.schedule import declaration
from pvcontracts.runtime.checks import check_runtime_params
from pvcontracts.runtime.monitor import Monitor
from pvcontracts.runtime.sources import MetricSource
from pvcontracts.runtime.values import global_norm

__all__ = ["AdapterCore", "StepLoss", "finishing_on", "gradient_norm", "require"]

LEDGER_NAME = "ledger.jsonl"
_SCHEDULE_CONTRACT = "lr-schedule-v1"


@contextmanager
def finishing_on(finish: Callable[..., None],
                 kinds: type[BaseException] | tuple[type[BaseException], ...] = BaseException) -> Iterator[None]:
    """Around a framework hook: an exception of ``kinds`` raised in it ends the run first
    (``finish(error=exc)``: the ledger records and closes), then propagates to the framework."""
    try:
        yield
    except kinds as exc:
        finish(error=exc)
        raise


def require(module: str, extra: str, minimum: str, *, fallback: str | None = None) -> Any:
    """Import a framework, or say which extra installs it (PV722); one older than ``minimum`` is refused too.

    The minimum is the lowest version the adapter's tests ran against (requirements/lowest.in):
    below it, failures are upstream's and would surface mid-run (transformers < 4.50 cannot
    resume its own checkpoint under torch >= 2.6), so they are refused at import, by name.
    ``fallback``: a second module with the same API (``pytorch_lightning`` for ``lightning.pytorch``).
    """
    import importlib

    try:
        framework = importlib.import_module(module)
    except ImportError as exc:
        if fallback is not None:
            return require(fallback, extra, minimum)
        raise IntegrationError("PV722", f"{module} is not installed ({exc}); install it with "
                                        f"pip install \"pv-contracts[{extra}]\" ({extra} >= {minimum})") from None
    installed = str(getattr(framework, "__version__", ""))
    if installed and _older(installed, minimum):
        raise IntegrationError("PV722", f"{module} {installed} is older than the adapter supports ({minimum}); "
                                        f"upgrade it with pip install \"pv-contracts[{extra}]\"")
    return framework


def _older(installed: str, minimum: str) -> bool:
    from packaging.version import InvalidVersion, Version  # every supported framework depends on packaging

    try:
        return Version(installed) < Version(minimum)
    except InvalidVersion:
        return False  # a version nobody can order (a local build): let it try


class StepLoss(MetricSource):
    """The optimizer step's loss from its micro-batches' losses, on the device.

    ``add(loss)`` once per backward with what was backpropagated (already divided for
    accumulation: the step's loss is their sum); ``add(loss, mean=True)`` with a micro-batch's
    own mean loss that the framework divides by the number of micro-batches (the step's loss
    is then their mean). ``collect`` at the step's step_end gives ``loss`` and ``micro_batches``
    and starts the next window.
    """

    name = "step_loss"

    def __init__(self) -> None:
        self.reset()

    def add(self, loss: Any, *, mean: bool = False) -> None:
        value = loss.detach() if hasattr(loss, "detach") else loss
        if hasattr(value, "reshape"):
            value = value.reshape(())
        self._sum = value if self._sum is None else self._sum + value  # a device add: no read
        self._count += 1
        self._mean = self._mean or mean

    def collect(self, boundary: str, consume: bool) -> dict[str, Any]:
        if boundary != "step_end" or self._sum is None:
            return {}
        loss = self._sum / self._count if self._mean else self._sum
        out = {"loss": loss, "micro_batches": self._count}
        if consume:
            self.reset()
        return out

    def reset(self) -> None:
        self._sum: Any = None
        self._count = 0
        self._mean = False


def gradient_norm(parameters: Iterable[Any]) -> Any:
    """The global L2 norm of the gradients as clip_grad_norm_ computes it, on the device (no read)."""
    grads = [p.grad for p in parameters if getattr(p, "grad", None) is not None]
    return global_norm(grads) if grads else 0.0


def _regime(regime: Regime | str | Mapping[str, Any] | None) -> Regime | str | None:
    if regime is None or isinstance(regime, Regime):
        return regime
    if isinstance(regime, Mapping):
        if regime.get("kind") == "from_scratch" and regime.get("vocab_size") is None:
            return "from_scratch"
        return Regime.from_dict(regime)
    kind = str(regime).replace("-", "_")
    return kind if kind == "from_scratch" else Regime.from_dict({"kind": kind})


class AdapterCore:
    """The Monitor's arguments until the framework knows the run, then the Monitor (module docstring)."""

    def __init__(self, *, contracts: Path | str | None = None, select: Iterable[str] | None = None,
                 include_drafts: bool = True, regime: Regime | str | Mapping[str, Any] | None = None,
                 params: Mapping[str, Any] | None = None, mode: str = "supplied", sync_every: int = 100,
                 fatal_before_step: bool = False, max_consecutive_skips: int = 5,
                 ledger: Path | str | bool | None = True, update_ratio_every: int = 0) -> None:
        self.contracts = load_contracts(contracts, list(select) if select is not None else None, include_drafts)
        self.regime = _regime(regime)
        self.params = dict(params or {})
        declared = {n for c in self.contracts for n in c.params}
        # The run's own params, checked now against what the contracts declare (a regime field is allowed):
        # the framework's defaults join later, and cannot make a misspelt param right.
        check_runtime_params(self.contracts, self.regime if isinstance(self.regime, Regime) else Regime.finetune(),
                             {k: v for k, v in self.params.items() if k != "vocab_size"})
        self.options = {"mode": mode, "sync_every": sync_every, "fatal_before_step": fatal_before_step,
                        "max_consecutive_skips": max_consecutive_skips}
        self.ledger = ledger
        self.update_ratio_every = update_ratio_every
        self.declared = declared
        self.monitor: Monitor | None = None
        self.pending_state: Mapping[str, Any] | None = None
        self.step_loss = StepLoss()

    @property
    def selected(self) -> set[str]:
        return {c.id for c in self.contracts}

    def build(self, *, optimizer: Any, scheduler: Any, config: Mapping[str, Any] | None = None,
              vocab_size: int | None = None, process_group: Any = None) -> Monitor:
        """The Monitor for this run, with the framework's config under the run's declarations."""
        params = {k: v for k, v in (config or {}).items() if k in self.declared and v is not None}
        if _SCHEDULE_CONTRACT in self.selected and "lr_schedule" not in self.params:
            read = declaration(scheduler, optimizer)
            if read is None:
                raise IntegrationError("PV720", f"cannot read the LR schedule of {type(scheduler).__name__} "
                                       f"({type(scheduler).__module__}); declare it: params={{'lr_schedule': ..., "
                                       "'warmup_steps': ..., 'total_steps': ..., 'peak_lr': ...}} in lr-schedule-v1's "
                                       "terms (see its description), or leave lr-schedule-v1 out with select=")
            params.update({k: v for k, v in read.items() if k in self.declared})
        params.update(self.params)
        regime = self.regime
        if regime == "from_scratch":
            vocab = self.params.get("vocab_size", vocab_size)
            if not vocab:
                raise IntegrationError("PV723", "regime from_scratch needs vocab_size: pass "
                                       "regime=Regime.from_scratch(vocab_size=N), or a model whose config has it")
            regime = Regime.from_scratch(vocab_size=int(vocab))
            params.pop("vocab_size", None)
        monitor = Monitor(self.contracts, regime if isinstance(regime, Regime) else None, params,
                          process_group=process_group, **self.options)
        if self.pending_state is not None:
            monitor.load_state_dict(self.pending_state)
            self.pending_state = None
        self.monitor = monitor
        return monitor

    def watch(self, model: Any, optimizer: Any, scheduler: Any) -> Any:
        assert self.monitor is not None
        watcher = self.monitor.watch(model, optimizer, scheduler, update_ratio_every=self.update_ratio_every)
        self.monitor.attach(self.step_loss)
        return watcher

    def start(self, *, rank: int, world_size: int, output_dir: Path | str | None,
              unsupplied: Mapping[str, str] | None = None) -> None:
        """Start the run (ledger in ``output_dir``); strict mode refuses here what the adapter cannot supply."""
        assert self.monitor is not None
        if self.ledger is True:
            ledger = Path(output_dir) / LEDGER_NAME if output_dir is not None else None
        elif self.ledger in (False, None):
            ledger = None
        else:
            ledger = Path(self.ledger)  # type: ignore[arg-type]
        if self.options["mode"] == "strict" and unsupplied:
            needs = self.monitor.required_metrics("step_end")
            missing = {n: why for n, why in unsupplied.items() if n in needs}
            if missing:
                listed = "; ".join(f"{n} (read by {', '.join(needs[n])}): {why}" for n, why in sorted(missing.items()))
                raise IntegrationError("PV721", f"strict mode, but this adapter cannot supply {listed}; pass the "
                                       "metric yourself, select= fewer contracts, or use mode='supplied'")
        self.monitor.start(rank=rank, world_size=world_size, ledger=ledger)

    def state_dict(self) -> dict[str, Any]:
        if self.monitor is None:
            return dict(self.pending_state or {})
        return self.monitor.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if self.monitor is None:
            self.pending_state = state
        else:
            self.monitor.load_state_dict(state)
