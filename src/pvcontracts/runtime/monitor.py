"""`Monitor`: the contract's own invariant text, evaluated at the boundaries of a training loop.

Boundaries are method calls (`step_end`, `epoch_end`, `eval_end`,
`checkpoint`, `resume`, `run_end`). Host values are checked at once. Checks
that read tensors are *deferred*: at `step_end` the monitor only keeps
references to the metrics, and at a sync point (every `sync_every` steps and
at every epoch-level boundary) it evaluates each deferred invariant once over
the stacked values of all pending steps, reads one flag vector to the host,
and reports the exact first step that violated. So a step costs a few list
appends, never a host-device synchronisation.

The Monitor only orchestrates; each job has its own room: ``checks`` (what is
enforced, compiled once, with counts and why anything is not enforced),
``evaluation`` (one boundary call: supplied or not, host or deferred),
``deferred`` (the sync point's stacked evaluation), ``violation`` (rendering),
``reporting`` (the ledger, ``violations`` and the one table of what each
``on_violation`` does), ``sources`` and ``watch`` (metrics collected by hooks),
``fingerprint`` (what a resume must restore).

A run starts at :meth:`Monitor.start` (or at the first boundary): constructing
a Monitor checks the contracts and params and writes nothing, so a framework
adapter can build it before the framework has launched its processes, and start
it once the rank is known. ``on_violation: skip_step`` withholds a violating
step's update on every rank, decided on the device (:mod:`.skipping`,
:mod:`.skipbook`).

Modes. ``mode="supplied"`` (the default) enforces what the loop supplies: an
invariant whose inputs never arrive is not enforced, and the ledger and
``stats()`` say so and why. ``mode="strict"`` wants every selected invariant:
a declared param without a value fails at construction, and a metric any
invariant of a boundary reads must be there at the first call of that
boundary, whatever its ``when`` says.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from pvcontracts.contract.contractset import load_contracts
from pvcontracts.contract.model import Contract
from pvcontracts.contract.regime import Regime
from pvcontracts.contract.reactions import reaction_of
from pvcontracts.runtime.checks import MODES, Check, InvariantStats, build_checks, check_runtime_params
from pvcontracts.runtime.curves import Curves
from pvcontracts.runtime.evaluation import Evaluator
from pvcontracts.runtime.history import BoundedHistory
from pvcontracts.runtime.ledger import Ledger
from pvcontracts.runtime.reporting import Reporter
from pvcontracts.runtime.skipbook import SkipBook
from pvcontracts.runtime.sources import MetricSource
from pvcontracts.runtime.trainloss import EpochLoss
from pvcontracts.runtime.values import detached, host_state, is_host, read_scalars, to_host
from pvcontracts.runtime.violation import Violation, render

if TYPE_CHECKING:
    from pvcontracts.runtime.watch import Watcher

__all__ = ["InvariantStats", "Monitor"]

_NO_NAMES: frozenset[str] = frozenset()
_CONSTANTS = frozenset({"rank", "world_size"})  # metrics the monitor itself supplies at every boundary


class Monitor:
    """Enforces loaded contracts at training boundaries. Build it with :meth:`from_contracts`.

    ``sync_every``: deferred tensor checks are settled every that many ``step_end``
    calls (and at every epoch-level boundary). ``fatal_before_step``: the default
    for :meth:`watch`. ``mode``: ``"supplied"`` or ``"strict"`` (module docstring).
    ``max_consecutive_skips``: more consecutive steps skipped by ``skip_step``
    invariants than this ends the run (:class:`SkipLimitExceeded`).
    ``process_group``: the group the ranks agree over (the framework's; default the world).
    ``curves``: with a ledger, also write curve records of the step metrics
    (:mod:`pvcontracts.runtime.curves`).
    Metric values of ``None`` count as not given. Params are checked at construction
    as `pv validate` checks declarations; every problem is listed in one ParamError.
    Construction writes nothing: the ledger is opened when the run starts.
    """

    def __init__(self, contracts: list[Contract], regime: Regime | None = None,
                 params: Mapping[str, Any] | None = None, *, sync_every: int = 100,
                 ledger: Path | str | Ledger | None = None, distributed: bool | None = None,
                 fatal_before_step: bool = False, mode: str = "supplied", max_consecutive_skips: int = 5,
                 process_group: Any = None, curves: bool = True) -> None:
        if isinstance(sync_every, bool) or not isinstance(sync_every, int) or sync_every < 1:
            raise ValueError(f"sync_every={sync_every!r} must be an integer of at least 1")
        if mode not in MODES:
            raise ValueError(f"mode={mode!r} must be one of {', '.join(MODES)}")
        self.regime = regime or Regime.finetune()
        self.params: dict[str, Any] = dict(params or {})
        check_runtime_params(contracts, self.regime, self.params)
        self.mode = mode
        self.sync_every = sync_every
        self.fatal_before_step = fatal_before_step
        self.contracts = contracts
        self.step = 0
        self.epoch = 0
        self.run_id = uuid.uuid4().hex
        self._since_sync = 0  # step_end calls since the last sync point
        self._observed: dict[str, Any] = {}
        self._watchers: list[Watcher] = []
        self._sources: list[MetricSource] = []
        self._source_states: list[dict[str, Any]] = []  # loaded before the watchers they belong to exist
        self._closed = False
        self._started = False
        self._announced = False
        self._resumed = False
        self._loaded: Mapping[str, Any] | None = None  # a state loaded before the run started (re-applied at start)
        self._epoch_loss = EpochLoss()  # train_loss when the loop gives none
        self._skips = SkipBook(max_consecutive_skips)
        self._skip_pre: Any = False     # this step's update was withheld before it happened (fatal_before_step)
        self._distributed = distributed
        self._group = process_group
        self._ledger_spec: Path | str | Ledger | None = ledger
        self._want_curves = curves
        self._curves: Curves | None = None  # built when the run starts, with its ledger
        self._build(*self._distributed_info(distributed))
        from pvcontracts.runtime.fingerprint import ResumeFingerprints

        self._fingerprints = ResumeFingerprints()
        self._reporter = Reporter(None, self.run_id)

    def _build(self, rank: int, world: int) -> None:
        """Compile the checks for this rank and world size (a `when` over them is decided once per run)."""
        self._rank, self._world = rank, world
        checks, history_sizes = build_checks(self.contracts, self.regime, self.params, self.mode,
                                             constants={"rank": rank, "world_size": world})
        self._history = {b: BoundedHistory(sizes) for b, sizes in history_sizes.items()}
        self._eval = Evaluator(checks, self._history, self.params, self.mode, self._render)
        self._by_id = {c.id: c for c in self._eval.all_checks()}
        # The step checks that can act before the update (abort, skip_step) and read no history: the ones
        # fatal_before_step evaluates in the optimizer's pre-hook.
        self._fatal_checks = [c for c in self._eval.active["step_end"]
                              if reaction_of(c.on_violation).before_update and not c.uses_history]

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_contracts(cls, path: Path | str | None = None, regime: Regime | None = None,
                       params: Mapping[str, Any] | None = None, *, select: Iterable[str] | None = None,
                       include_drafts: bool = True, **kwargs: Any) -> "Monitor":
        """Load contracts from a directory (default: the shipped ones) and enforce them.

        ``select`` limits enforcement to some contract ids. In the default supplied mode an
        invariant whose metrics the loop never produces is reported as not enforced; in
        strict mode (``mode="strict"``) every selected invariant must get its metrics.
        """
        return cls(load_contracts(path, select, include_drafts), regime, params, **kwargs)

    def _distributed_info(self, distributed: bool | None) -> tuple[int, int]:
        if distributed is False:
            return 0, 1
        try:
            import torch.distributed as dist
        except ImportError:
            return 0, 1
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size(self._group)
        return 0, 1

    def _open_ledger(self, ledger: Path | str | Ledger | None) -> Ledger | None:
        if ledger is None or isinstance(ledger, Ledger):
            return ledger
        path = Path(ledger)
        if self._world > 1:  # one ledger per rank: no two processes append to one file
            path = path.with_name(f"{path.stem}.rank{self._rank}{path.suffix}")
        return Ledger(path)

    def start(self, *, rank: int | None = None, world_size: int | None = None,
              ledger: Path | str | Ledger | None = None, process_group: Any = None) -> "Monitor":
        """Start the run: fix the rank and world size, open the ledger, write ``run_start``. Idempotent.

        Called by the first boundary when the loop does not call it. A framework adapter calls it
        once the framework knows the rank (``rank``/``world_size``, else torch.distributed's) and the
        run's output directory (``ledger``, which replaces the one given at construction; a
        per-rank file when the world is larger than one). A state loaded with :meth:`load_state_dict`
        before the first boundary is kept; ``run_start`` is written at that boundary.
        """
        if self._started:
            return self
        if process_group is not None:
            self._group = process_group
        found_rank, found_world = self._distributed_info(self._distributed)
        rank = found_rank if rank is None else int(rank)
        world = found_world if world_size is None else int(world_size)
        if (rank, world) != (self._rank, self._world):
            self._build(rank, world)
            if self._loaded is not None:
                self._apply_state(self._loaded)
        self._started = True
        self._reporter.ledger = self._open_ledger(ledger if ledger is not None else self._ledger_spec)
        # Curve records of the step metrics, riding in the sync points' transfers; only where a ledger keeps them.
        if self._want_curves and self._reporter.ledger is not None:
            self._curves = Curves(self._eval.active["step_end"], self.contracts, self._reporter.write, self.sync_every)
            if self._loaded is not None and self._loaded.get("curves"):
                self._curves.load_state_dict(self._loaded["curves"])
        return self

    def _announce(self) -> None:
        """The run_start record, written at the first boundary: a state loaded after :meth:`start` and before
        it (a framework restoring its checkpoint) still gives the run its saved id."""
        self.start()
        if self._announced:
            return
        self._announced = True
        self._reporter.run_start(regime=self.regime, params=self.params, contracts=self.contracts,
                                 invariants=sorted(self._by_id), mode=self.mode, sync_every=self.sync_every,
                                 rank=self._rank, world_size=self._world, resumed=self._resumed)

    @property
    def started(self) -> bool:
        return self._started

    @property
    def rank(self) -> int:
        return self._rank

    @property
    def world_size(self) -> int:
        return self._world

    @property
    def violations(self) -> list[Violation]:
        """Every violation acted on so far (abort, warn, record and skip_step alike), in the order they were found."""
        return self._reporter.violations

    @property
    def skipped_steps(self) -> list[int]:
        """Steps whose update a skip_step invariant withheld, as far as the sync points so far know."""
        return list(self._skips.skipped)

    def required_metrics(self, boundary: str) -> dict[str, list[str]]:
        """The metrics this run's enforced invariants at ``boundary`` read: name -> the invariants reading it.

        For an adapter to check up front what it must supply (or report what it cannot). Params,
        regime fields and what the monitor supplies itself (rank, world_size) are not listed;
        what watched sources collect is (subtract what the adapter's sources provide).
        """
        if boundary not in self._eval.active:
            raise ValueError(f"boundary={boundary!r} must be one of {', '.join(self._eval.active)}")
        out: dict[str, list[str]] = {}
        for check in self._eval.active[boundary]:
            for name in sorted(check.inputs - _CONSTANTS):
                out.setdefault(name, []).append(check.id)
        return {name: sorted(ids) for name, ids in sorted(out.items())}

    # ------------------------------------------------------------------ boundaries

    def observe(self, **metrics: Any) -> None:
        """Metrics of the current step known before ``optimizer.step()``, typically ``loss``.

        They join the next :meth:`step_end` (whose own arguments override them), and with
        ``fatal_before_step`` they are what the pre-step checks can read besides the
        watched grad_norm and lr. Never synchronises.
        """
        for name, value in metrics.items():
            if value is not None:
                self._observed[name] = detached(value)

    def step_end(self, **metrics: Any) -> None:
        """After an optimizer step (or a skipped one). Never synchronises, except every `sync_every` steps.

        ``step`` and ``epoch``, when given, must be host integers (a tensor would be a sync).
        With skip_step invariants the step's update is withheld here where they fail (on the
        device, every rank alike), and the epoch's train_loss leaves that step out.
        """
        self._announce()
        env = self._collect("step_end", metrics, consume=True)
        env.setdefault("step", self.step)
        env.setdefault("epoch", self.epoch)
        step = int(env["step"])
        preset, self._skip_pre = self._skip_pre, False
        try:
            urgent, skip = self._eval.evaluate_step(env, preset_skip=preset, agree=self._skip_agreement())
        finally:
            self._observed = {}
            for check in self._fatal_checks:
                check.pre_done = False
        self._epoch_loss.add(env.get("loss"), skip)
        for watcher in self._watchers:
            watcher.finish_step(step, skip)
        self._skips.step_done(step)
        if self._curves is not None:
            self._curves.add(env)
        if urgent and self._world == 1:
            # Across ranks every decision waits for the next scheduled sync point, or one rank
            # would raise while the others block in a collective: a hang is worse than a crash.
            self.sync()
        self.step = step + 1
        self._since_sync += 1
        if self._since_sync >= self.sync_every:
            self.sync()

    def epoch_end(self, **metrics: Any) -> None:
        """End of an epoch: a sync point; the epoch counter moves on afterwards.

        Without a ``train_loss`` argument, the mean of this epoch's ``loss`` values at
        step_end is given as ``train_loss`` (read here, at the sync point).
        """
        self._announce()
        metrics = dict(metrics)
        if self._world > 1:
            metrics.update(self._rank_checksums())
        train_loss = self._epoch_loss.mean()
        if train_loss is not None and metrics.get("train_loss") is None:
            metrics["train_loss"] = train_loss
        env = self._epoch_level("epoch_end", metrics)
        self._write_counts()
        self.epoch = int(env["epoch"]) + 1

    def eval_end(self, **metrics: Any) -> None:
        self._epoch_level("eval_end", metrics)

    def checkpoint(self, **metrics: Any) -> None:
        self._epoch_level("checkpoint", metrics)
        if self._curves is not None:  # the curve up to the checkpoint is on disk before a resume could need it
            self._curves.flush()

    def resume(self, **metrics: Any) -> None:
        """After restoring a checkpoint (and :meth:`load_state_dict`).

        The monitor compares the live RNG streams, optimizer and scheduler with the fingerprints
        its saved state carries (``rng_restored``, ``optimizer_state_restored``,
        ``scheduler_state_restored``); ``step`` and ``epoch`` given here reset its counters.
        A metric given as None here is not supplied (an adapter that knows a fingerprint cannot
        be compared says so).
        """
        own = self._resume_metrics()
        self._epoch_level("resume", {**own, **metrics})
        if metrics.get("step") is not None:
            self.step = int(metrics["step"])
        if metrics.get("epoch") is not None:
            self.epoch = int(metrics["epoch"])

    def run_end(self, **metrics: Any) -> None:
        self._epoch_level("run_end", metrics)
        if self._curves is not None:
            self._curves.flush()
        self._write_counts()
        stats = self.stats()
        self._reporter.run_end(self.step, self.epoch, {
            "enforced": sorted(k for k, v in stats.items() if v["enforced"]),
            "not_enforced": {k: v["reason"] for k, v in sorted(stats.items()) if not v["enforced"]}})

    def _epoch_level(self, boundary: str, metrics: Mapping[str, Any]) -> dict[str, Any]:
        self._announce()
        self.sync()
        # Epoch-level boundaries are sync points: reading tensors here is allowed and expected.
        env = {k: to_host(v) for k, v in self._collect(boundary, metrics, consume=False).items()}
        env.setdefault("step", self.step)
        env.setdefault("epoch", self.epoch)
        self._eval.evaluate(boundary, env, defer_tensors=False)
        self.sync()  # act on what this boundary found (and, across ranks, agree on it) before returning
        return env

    def _collect(self, boundary: str, metrics: Mapping[str, Any], *, consume: bool) -> dict[str, Any]:
        env: dict[str, Any] = {"rank": self._rank, "world_size": self._world}
        for source in self._sources:
            env.update(source.collect(boundary, consume))
        if consume:
            env.update(self._observed)
        for name, value in metrics.items():  # explicit metrics override collected and observed ones
            if value is not None:
                env[name] = detached(value)
            else:
                env.pop(name, None)  # None: not supplied, whatever a source collected
        return env

    # ------------------------------------------------------------------ the sync point and acting

    def sync(self) -> None:
        """A synchronisation point: evaluate deferred step checks and act on what they found."""
        self._sync(window_end=True)

    def _sync(self, *, window_end: bool) -> list[Violation]:
        self._since_sync = 0
        # The curves' window (ended here, or full) rides in the flags' transfer: no read of its own.
        window = self._curves.window(full_only=not window_end) if self._curves is not None else None
        found = self._eval.settle(window)
        if window is not None:
            window.finish()  # written before acting: an abort leaves the curve up to its step in the ledger
        if self._world > 1:
            found = self._agree_across_ranks(found)
        # Skipped steps first: the counters and the scheduler are set back before anything raises.
        skipped, exceeded = self._skips.settle(found)
        for watcher in self._watchers:
            watcher.settle_skips(skipped)
        self._reporter.act(found, self._count)
        if exceeded is not None:
            self._reporter.sync()
            raise exceeded
        return found

    def _skip_agreement(self) -> Any:
        """Across ranks, the step's skip flag is OR-ed on the device (one all_reduce per step); alone, nothing."""
        if self._world == 1 or not self._eval.skip_checks:
            return None
        from pvcontracts.runtime.distributed import agree_on_flag

        group = self._group
        return lambda flag: agree_on_flag(flag, group=group)

    def _count(self, violation: Violation) -> None:
        check = self._by_id.get(violation.invariant_id)
        if check is not None:
            check.stats.violated += 1

    def _render(self, check: Check, env: Mapping[str, Any], values: dict[str, Any], step: int | None,
                epoch: int | None, history: Any = None) -> Violation:
        return render(check, env, values, step, epoch, history, params=self.params, regime=self.regime,
                      rank=self._rank)

    def _rank_checksums(self) -> dict[str, Any]:
        """param_checksum_min/max across ranks, for the rank-consistency invariant (a collective)."""
        if not self._watchers:
            return {}
        from pvcontracts.runtime.distributed import checksum_extremes

        return checksum_extremes(self._watchers[0].param_checksum(), group=self._group)

    def _agree_across_ranks(self, found: list[Violation]) -> list[Violation]:
        from pvcontracts.runtime.distributed import agree_on_violations

        # The step lets ranks that fell out of step fail together and clearly, not pair unrelated collectives.
        return agree_on_violations(found, self._eval.all_checks(), self._rank, self._world, step=self.step,
                                   group=self._group)

    # ------------------------------------------------------------------ before the optimizer step

    def _before_optimizer_step(self, collected: Mapping[str, Any]) -> bool:
        """The optimizer's step pre-hook, with ``fatal_before_step``: act before the weights change.

        Evaluates the step checks whose reaction acts before the update (abort, skip_step) and
        whose inputs exist now (the watched grad_norm, lr, grads_cleared, optimizer_steps counting
        this step, and what the loop passed to :meth:`observe`), then syncs: an abort raises from
        ``optimizer.step()``; a skip_step violation (on any rank) returns True, and the update is
        withheld and its scheduler step undone on the host, exactly. Those checks are not
        evaluated again at step_end.
        """
        self._announce()
        env: dict[str, Any] = {"rank": self._rank, "world_size": self._world, **collected, **self._observed}
        env.setdefault("step", self.step)
        env.setdefault("epoch", self.epoch)
        for check in self._fatal_checks:
            check.pre_done = False
        # An input that arrives only at step_end (scheduler_steps, say) leaves its check to step_end.
        ready = [c for c in self._fatal_checks if c.inputs.issubset(env)]
        needed = {n for c in ready for n in c.names if n in env and not is_host(env[n])}
        # The price of fatal_before_step: the tensors these checks read, brought to the host in one
        # transfer per device and dtype (a sync), then checked on the host like any host value.
        env.update(read_scalars({n: env[n] for n in needed}))
        for check in ready:
            check.pre_done = True
            self._eval.evaluate_one(check, env, None, _NO_NAMES)
        # Settle earlier steps' deferred checks too, so none of them is left to act after this update
        # (and across ranks, agree here: one rank's finding stops, or skips, every rank's step).
        found = self._sync(window_end=False)
        step = int(env["step"])
        self._skip_pre = any(v.step == step and v.boundary == "step_end" and reaction_of(v.on_violation).prevents_update
                             for v in found)
        return self._skip_pre

    # ------------------------------------------------------------------ sources

    def watch(self, model: Any, optimizer: Any, scheduler: Any = None, *, fatal_before_step: bool | None = None,
              **options: Any) -> "Watcher":
        """Collect the standard step metrics through PyTorch's own optimizer and module hooks.

        grad_norm is the global L2 norm of the gradients as ``optimizer.step()`` finds them:
        if the loop clips first, that is the clipped norm. Call
        ``monitor.observe(grad_norm=clip_grad_norm_(...))`` before ``optimizer.step()`` to check
        the norm before clipping; the watcher then reuses it instead of computing it again
        (explicit metrics override collected ones). ``update_ratio_every=N`` measures ||delta W|| / ||W||
        on every N-th optimizer step besides the first (it copies the parameters on those steps).
        See :mod:`pvcontracts.runtime.watch` for every metric.

        ``fatal_before_step=True``: abort-level and skip_step step checks whose inputs exist before
        the update (grad_norm, lr, and metrics given to :meth:`observe`) are evaluated in the
        optimizer's step pre-hook, with a sync; a violation is raised from ``optimizer.step()``
        before the weights change (abort) or the update is withheld (skip_step).

        With a skip_step invariant enforced, the watcher keeps what each step changes so the
        update can be withheld (a copy of the stepped parameters and their optimizer state).
        """
        from pvcontracts.runtime.watch import Watcher

        fatal = self.fatal_before_step if fatal_before_step is None else fatal_before_step
        interval = self.params.get("lr_interval", "step")
        watcher = Watcher(model, optimizer, scheduler, before_step=self._before_optimizer_step if fatal else None,
                          given_grad_norm=lambda: self._observed.get("grad_norm"),
                          guard_updates=bool(self._eval.skip_checks),
                          rewind_schedule=interval not in ("epoch", "none"), **options)
        index = len(self._watchers)
        if index < len(self._source_states):  # the restored count of the watcher in this position
            watcher.load_state_dict(self._source_states[index])
        self._watchers.append(watcher)
        self._sources.append(watcher)
        return watcher

    def attach(self, source: MetricSource) -> MetricSource:
        """Add a metric source (a provider such as ``EmbeddingCollapse(model.encoder)``, an adapter's); returns it."""
        if not isinstance(source, MetricSource):
            raise TypeError(f"source={source!r} must be a pvcontracts.runtime.MetricSource (collect, state_dict, "
                            "load_state_dict, remove)")
        self._sources.append(source)
        return source

    def _resume_metrics(self) -> dict[str, Any]:
        return self._fingerprints.resume_metrics(*self._watched_state())

    def _watched_state(self) -> tuple[list[Any], list[Any]]:
        """The watched optimizers and schedulers: what a resume must restore besides the RNG streams."""
        return [w.optimizer for w in self._watchers], [w.scheduler for w in self._watchers if w.scheduler is not None]

    # ------------------------------------------------------------------ counts and state

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per invariant: evaluated, applicable, violated, unevaluable, not_supplied, enforced, reason.

        A deferred step check is counted as evaluated at its step, and as applicable or
        violated when the next sync point settles it (call :meth:`sync` for exact counts).
        """
        called = self._eval.called
        return {c.id: c.record(c.boundary in called) for c in sorted(self._eval.all_checks(), key=lambda c: c.id)}

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue this one: counters, counts, history, the run id,
        what the watchers count, the skip streak, and fingerprints of the state a resume must restore.

        Scalar tensors in the history become host numbers (a checkpoint is a sync point anyway),
        so the state loads on any device. Taking it fingerprints the RNG streams, the watched
        optimizers and schedulers as they are now: call it when the checkpoint is taken.
        """
        # What a checkpoint saves now; a resume in this process (or one that loads this state) compares with it.
        self._fingerprints.take(*self._watched_state())
        return {"step": self.step, "epoch": self.epoch, "run": self.run_id,
                "stats": {c.id: c.stats.to_dict() for c in self._eval.all_checks()},
                "history": {b: host_state(h.state_dict()) for b, h in self._history.items()},
                "sources": [w.state_dict() for w in self._watchers],
                "skips": self._skips.state_dict(),
                "fingerprints": self._fingerprints.state_dict(),
                **({"curves": self._curves.state_dict()} if self._curves is not None else {})}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        if state.get("run"):
            self.run_id = self._reporter.run_id = str(state["run"])
            self._resumed = True
        self._source_states = [dict(s) for s in state.get("sources", [])]
        for watcher, source_state in zip(self._watchers, self._source_states):
            watcher.load_state_dict(source_state)
        if state.get("fingerprints"):
            self._fingerprints.load_state_dict(state["fingerprints"])
        self._skips.load_state_dict(state.get("skips", {}))
        self._apply_state(state)
        if not self._started:
            self._loaded = state

    def _apply_state(self, state: Mapping[str, Any]) -> None:
        """The counts and history of a saved state, into this run's checks."""
        for ident, counts in state.get("stats", {}).items():
            if ident in self._by_id:
                self._by_id[ident].stats = InvariantStats(**counts)
        for b, h in state.get("history", {}).items():
            if b in self._history:
                self._history[b].load_state_dict(h)
        if self._curves is not None and state.get("curves"):
            self._curves.load_state_dict(state["curves"])

    def _write_counts(self) -> None:
        self._reporter.counts(self.step, self.epoch, self.stats())

    def close(self, error: BaseException | None = None) -> None:
        """End the run: a final sync, then release hooks and the ledger. Idempotent.

        ``error``: the run is ending on this exception (a framework's ``on_exception``). What the
        pending steps found is recorded without raising (the run's own exception is the one that
        matters) and without a collective (the other ranks may not be here), then the counts are
        written and the ledger closed.
        """
        if error is not None:
            self._record_quietly()
        self._close(settle=error is None)

    def _close(self, *, settle: bool) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if settle and self._started:
                self.sync()
        finally:
            for source in reversed(self._sources):  # unwrap zero_grad in the reverse order of wrapping
                source.remove()
            if self._started and self._reporter.ledger is not None:
                self._announce()
                if self._curves is not None:
                    self._close_curves(quietly=not settle)
                self._write_counts()
                self._reporter.ledger.close()

    def _close_curves(self, *, quietly: bool) -> None:
        try:
            self._curves.close()
        except Exception:
            if not quietly:
                raise
            # Leaving on the loop's own exception: a curve is a picture, never worth a second error.

    def _record_quietly(self) -> None:
        """Leaving on an exception: record what the pending steps found, raise nothing."""
        if self._world > 1:  # the ranks may not all be here: a collective now could hang
            self._eval.pending, self._eval.found = [], []
            return
        try:
            found = self._eval.settle()
        except Exception:  # the loop's own exception is the one that matters
            found, self._eval.pending = list(self._eval.found), []
            self._eval.found = []
        self._reporter.act(found, self._count, raise_abort=False)

    def __enter__(self) -> "Monitor":
        return self

    def __exit__(self, exc_type: Any, exc: Any = None, *rest: Any) -> None:
        # Leaving on an exception: don't mask it with a second violation, or hang in a collective.
        self.close(error=exc if exc_type is not None else None)
