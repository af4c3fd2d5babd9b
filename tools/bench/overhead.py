"""Benchmark the runtime's per-step cost: a small GPT trained with and without a Monitor.

    python tools/bench/overhead.py                       # 5 pairs of 200 steps on CPU
    python tools/bench/overhead.py --steps 20 --pairs 1  # smoke
    python tools/bench/overhead.py --profile             # + cProfile of step_end
    python tools/bench/overhead.py --device cuda         # where a GPU is lent: + sync count

A nanoGPT-style model (``_gpt.py``; nanoGPT's CPU configuration by default) is trained
on the bytes of some standard-library source with AdamW, a warmup + cosine (or
warmup-stable-decay) ``LambdaLR`` implementing lr-schedule-v1's formula, and gradient
clipping. Each *run* builds everything afresh from the same seed and trains ``--steps``
steps; a *monitored* run also builds ``Monitor.from_contracts`` over EVERY shipped
contract (from_scratch regime, vocab 256, every param the contracts declare), calls
``monitor.watch(model, optimizer, scheduler)`` and ``monitor.step_end(loss=...)`` after
every step, with the loop's host metrics for loss-curriculum-v1 (a one-entry curriculum)
and rejection-penalty-v1 (a constant penalty 0.0: the model cannot reject), plus
representation-collapse-v1's step metrics every ``check_every_steps`` steps, computed on
the device by the runtime's ``CollapseProvider`` via ``_gpt.CollapseProbe``. A newly
shipped contract whose step invariants read a metric this loop does not produce stops
the benchmark with the monitor's MissingMetricError, naming it: teach the loop that
metric, do not ``select=`` the contract away.

Timed region: the training steps only, including every sync point the monitor takes
inside ``step_end`` (every ``sync_every`` steps), so its cost is amortised into the
per-step time. A *pair* is a bare and a monitored run in this one process, interleaved
in blocks of ``--interleave`` steps whose order alternates (ABBA), so load that drifts on
a shared machine slows both alike; untimed warm-up pairs (one per schedule shape) come
first. Each pair also trains a third run, interleaved with the two: monitored with its
curve records switched off (``Monitor(curves=False)``), so the cost of the curves (the
per-window summaries of the step metrics that ride in each sync point's transfer) is
printed as a ratio, curves on over curves off, from the same process and blocks. The
goal is judged on the monitored run with curves on, the default. The time per step of a run is its total time over its steps (a median of single
steps would hide the sync points); the reported figures are medians over pairs. Both
wall-clock and process CPU time are measured (``--clock`` picks the one the goal is
judged on); the time of the monitor's parts is measured directly too, in an untimed
instrumented run (thread CPU time per call of step_end, the watcher's hooks and the
collapse probe).

After its timed steps each monitored run (untimed) goes through every other boundary
with values it measured: ``eval_end`` (held-out loss, collapse metrics, a bigram-graph
"edge compliance" and a printable-byte "rule compliance" with the trainer's gate
verdict), ``epoch_end`` (val_loss, coverage of the logits by the runtime's
``CoverageProvider``), a real atomic ``checkpoint`` (temp file, fsync, rename) and
``resume`` from it, and ``run_end``. The benchmark fails (exit 1) if any invariant raised
or warned, if a step_end invariant of a shipped contract was not evaluated at every step
or never applied across the monitored runs, or, with ``--enforce``, if the ratio is
above the goal.

Host reads and synchronisations: an extra untimed pair counts, per step, calls to
``Tensor.item/.tolist/.cpu/.numpy/__bool__`` (CPU and CUDA) and, on CUDA, the
synchronisations ``torch.cuda.set_sync_debug_mode("warn")`` reports, split between
sync-point steps and the steps between them (goal: zero between sync points).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import json
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from _gpt import GPT, CollapseProbe, GPTConfig, Schedule, corpus_bytes, make_batches  # noqa: E402
from pvcontracts.runtime import ContractWarning, Monitor, Regime  # noqa: E402
from pvcontracts.runtime.providers import EmbeddingCollapse  # noqa: E402
from pvcontracts.runtime.curves import Curves, Window  # noqa: E402
from pvcontracts.runtime.watch import Watcher  # noqa: E402

GOAL = 1.02
PEAK_LR = 1e-3
MIN_LR = 1e-4
CLIP = 1.0
# The loop's loss curriculum (loss-curriculum-v1): one entry, repeated every epoch, for its one
# loss term. The model cannot reject, so its rejection penalty (rejection-penalty-v1) is a
# constant 0.0, at its floor. Both runs weight the loss the same way.
CURRICULUM = ({"cross_entropy": 1.0},)
REJECTION_LAMBDA = 0.0


def curriculum_metrics(epoch: int) -> dict[str, Any]:
    """What the loop reports to step_end about the curriculum entry that weighted this epoch's steps."""
    index = min(epoch, len(CURRICULUM) - 1)
    weights = CURRICULUM[index].values()
    return {"curriculum_epoch": epoch, "curriculum_weight_min": min(weights), "curriculum_weight_max": max(weights)}


# --------------------------------------------------------------------------- setup


@dataclass
class Setup:
    args: argparse.Namespace
    cfg: GPTConfig
    device: torch.device
    x: torch.Tensor
    y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    allowed: torch.Tensor  # (256, 256) bool: bigram (a, b) occurs in the training bytes
    tmp: Path

    def schedule(self, shape: str) -> Schedule:
        return Schedule(shape, self.args.steps, PEAK_LR, MIN_LR, self.args.warmup_fraction, self.args.decay_fraction)

    def params(self, shape: str) -> dict[str, Any]:
        """A value for every param of every shipped contract (the defaults, said out loud)."""
        return {**self.schedule(shape).params(), "lr_tolerance": 1e-6,
                "check_every_steps": self.args.check_every, "min_var_ratio": 0.5, "min_dist_ratio": 0.5,
                "max_kl_reg": 10.0, "coverage_min": 0.5, "patience": 3, "keep_last": 3,
                "edge_compliance_min": 0.95, "rule_compliance_min": 0.80, "expected_world_size": 1,
                "coverage_target": 0.9, "lambda_floor": 0.0, "lambda_warmup_epochs": 1, "gap_tolerance": 0.02}


def build_setup(args: argparse.Namespace, tmp: Path) -> Setup:
    device = torch.device(args.device)
    cfg = GPTConfig(vocab_size=256, block_size=args.block_size, n_layer=args.n_layer, n_head=args.n_head,
                    n_embd=args.n_embd)
    data = torch.frombuffer(bytearray(corpus_bytes()), dtype=torch.uint8).to(torch.long)
    split = int(0.9 * len(data))
    train, val = data[:split], data[split:]
    x, y = make_batches(train, args.steps, args.batch_size, args.block_size, args.seed)
    val_x, val_y = make_batches(val, args.val_batches, args.batch_size, args.block_size, args.seed + 1)
    allowed = torch.zeros(256, 256, dtype=torch.bool)
    allowed[train[:-1], train[1:]] = True
    return Setup(args, cfg, device, x.to(device), y.to(device), val_x.to(device), val_y.to(device),
                 allowed.to(device), tmp)


# --------------------------------------------------------------------------- one run


@dataclass
class RunResult:
    kind: str                 # "bare" | "monitored" | "monitored, no curves"
    shape: str
    seconds: float           # wall clock
    cpu_seconds: float       # process CPU time (all threads)
    steps: int
    final_loss: float
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    step_ids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tail: dict[str, Any] = field(default_factory=dict)

    @property
    def ms_per_step(self) -> float:
        return 1000.0 * self.seconds / self.steps

    @property
    def cpu_ms_per_step(self) -> float:
        return 1000.0 * self.cpu_seconds / self.steps

    def ms(self, clock: str) -> float:
        return self.cpu_ms_per_step if clock == "cpu" else self.ms_per_step


def _device_sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _seed(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover
        pass


class Run:
    """One training run of ``--steps`` steps, advanced a block of steps at a time.

    Built afresh from the seed, so every run trains the same model on the same batches.
    ``step_hook(i, caught)`` (counting passes) runs after step i with the warnings recorded
    so far; ``profiler`` is enabled around ``step_end`` calls only; ``timers`` (instrumented
    pass) collects step_end and probe times per call. None of these is used in a timed pair.
    """

    def __init__(self, s: Setup, shape: str, monitored: bool, *, curves: bool = True,
                 step_hook: Callable[[int, list[warnings.WarningMessage]], None] | None = None,
                 profiler: cProfile.Profile | None = None, timers: dict[str, list[float]] | None = None) -> None:
        args = s.args
        self.s, self.shape, self.monitored, self.curves = s, shape, monitored, curves
        self.step_hook, self.profiler, self.timers = step_hook, profiler, timers
        _seed(args.seed)
        self.model = GPT(s.cfg).to(s.device)
        self.optimizer = self.model.configure_optimizer(PEAK_LR)
        self.scheduler = s.schedule(shape).scheduler(self.optimizer)
        self.params = list(self.model.parameters())
        self.monitor: Monitor | None = None
        self.probe: CollapseProbe | None = None
        self.ledger = s.tmp / f"ledger-{time.monotonic_ns()}.jsonl"
        if monitored:
            # Strict: every invariant of every shipped contract must get its metrics from this loop.
            self.monitor = Monitor.from_contracts(
                args.contracts, regime=Regime.from_scratch(vocab_size=s.cfg.vocab_size), params=s.params(shape),
                sync_every=args.sync_every, ledger=self.ledger, mode="strict", curves=curves)
            self.monitor.watch(self.model, self.optimizer, self.scheduler)
            # training-health-v1's collapse check, in one line, on the token embeddings. (Not on the residual
            # stream: a language model's hidden states share one growing direction early on, which this
            # self-supervised measure would read as collapse; that is what representation-collapse-v1 is for.)
            self.monitor.attach(EmbeddingCollapse(self.model.wte, every=args.check_every))
            self.probe = CollapseProbe(self.model, args.check_every)
        # Host values the loop knows for the whole epoch (one epoch, 0): built once, passed every step.
        self.step_metrics = {**curriculum_metrics(0), "rejection_lambda": REJECTION_LAMBDA}
        self.loss_weight = CURRICULUM[0]["cross_entropy"]
        self.done = 0
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.loss: torch.Tensor | None = None
        self.caught: list[warnings.WarningMessage] = []

    def advance(self, n: int) -> None:
        """Train the next ``n`` steps, adding their wall and CPU time to this run's."""
        x, y, model, optimizer, scheduler, params = self.s.x, self.s.y, self.model, self.optimizer, self.scheduler, self.params
        monitor, probe, timers, profiler, hook = self.monitor, self.probe, self.timers, self.profiler, self.step_hook
        weight, step_metrics = self.loss_weight, self.step_metrics
        tick = time.thread_time  # instrumented pass: this thread's CPU time (steadier on a loaded machine)
        lo, hi = self.done, min(self.done + n, self.s.args.steps)
        _device_sync(self.s.device)
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(lo, hi):
            logits, ce, hidden = model(x[i], y[i])
            loss = weight * ce
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, CLIP)
            if monitor is not None:
                # The norm clip_grad_norm_ already computed (before clipping): the watcher reuses it.
                monitor.observe(grad_norm=grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if monitor is not None:
                if timers is not None:
                    t1 = tick()
                if i == 0:  # the baseline, and every metric at the first call, as strict mode asks
                    extra = probe.measure(hidden, logits, y[i])
                else:  # optimizer_steps after this step is i + 1 (every step steps): the contract's schedule
                    extra = probe.observe(i + 1, hidden, logits, y[i])
                if timers is not None:
                    t2 = tick()
                    if extra or i == 0:
                        timers.setdefault("probe", []).append(t2 - t1)
                if profiler is not None:
                    profiler.enable()
                monitor.step_end(loss=loss.detach(), **step_metrics, **extra)
                if profiler is not None:
                    profiler.disable()
                if timers is not None:
                    t3 = tick()
                    key = "step_end_sync" if monitor.step % monitor.sync_every == 0 else "step_end"
                    timers.setdefault(key, []).append(t3 - t2)
            if hook is not None:
                hook(i, self.caught)
        _device_sync(self.s.device)
        self.seconds += time.perf_counter() - t0
        self.cpu_seconds += time.process_time() - c0
        self.loss = loss
        self.done = hi

    def finish(self) -> RunResult:
        """After the last step (untimed): every other boundary, then the run's result."""
        assert self.done == self.s.args.steps
        kind = ("monitored" if self.curves else "monitored, no curves") if self.monitored else "bare"
        result = RunResult(kind, self.shape, self.seconds, self.cpu_seconds,
                           self.done, float(self.loss.detach().cpu()))
        if self.monitor is not None:
            result.step_ids = [inv.id for c in self.monitor.contracts for inv in c.invariants if inv.at == "step_end"]
            result.tail = epoch_tail(self.s, self.monitor, self.model, self.optimizer, self.scheduler, self.probe,
                                     self.ledger)
            result.stats = self.monitor.stats()  # the tail adds no step_end evaluations
        result.warnings = [str(w.message) for w in self.caught if issubclass(w.category, ContractWarning)]
        return result


@contextlib.contextmanager
def recording(runs: list[Run]) -> Iterator[None]:
    """Record every warning (each occurrence: CUDA sync warnings come from a few call sites) for these runs."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for run in runs:
            run.caught = caught  # interleaved runs share one record; only a monitored run warns
        gc.collect()
        yield


def train_run(s: Setup, shape: str, monitored: bool, **options: Any) -> RunResult:
    """One run, all its steps in one go."""
    run = Run(s, shape, monitored, **options)
    with recording([run]):
        run.advance(s.args.steps)
        return run.finish()


def timed_pair(s: Setup, shape: str, bare_first: bool) -> tuple[RunResult, RunResult, RunResult]:
    """A bare and a monitored run, and a monitored run without curves, interleaved in blocks of ``--interleave`` steps.

    Blocks alternate which of bare and monitored goes first (ABBA), so a machine whose load
    drifts during the pair slows both runs alike; the run without curves goes between them,
    its own order against the monitored run alternating too. Each run trains all its steps in order.
    """
    bare, mon, plain = Run(s, shape, False), Run(s, shape, True), Run(s, shape, True, curves=False)
    block = s.args.interleave or s.args.steps
    with recording([bare, mon, plain]):
        for k in range(0, s.args.steps, block):
            order = (bare, plain, mon) if (k // block) % 2 == (0 if bare_first else 1) else (mon, plain, bare)
            for run in order:
                run.advance(block)
        return bare.finish(), mon.finish(), plain.finish()


# --------------------------------------------------------------------------- the other boundaries


def _param_checksum(model: torch.nn.Module) -> int:
    """Order-independent sum of the parameters' bits (the same as Watcher.param_checksum)."""
    total = 0
    for p in model.parameters():
        bits = p.detach().contiguous()
        view = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[bits.element_size()]
        total += int(bits.view(view).to(torch.int64).sum())
    return total


def _rng_state(device: torch.device) -> dict[str, Any]:
    import numpy as np

    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate(),
                             "numpy": np.random.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict[str, Any]) -> int:
    import numpy as np

    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])
    return len(state)


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@torch.no_grad()
def epoch_tail(s: Setup, monitor: Monitor, model: GPT, optimizer: Any, scheduler: Any, probe: CollapseProbe,
               ledger: Path) -> dict[str, Any]:
    """eval_end, epoch_end, checkpoint, resume and run_end with values this run measured (untimed)."""
    from pvcontracts.runtime.providers import CoverageProvider

    model.eval()
    cover = CoverageProvider(window=s.val_x.shape[0])  # every logit is an output: REAL unless inf/NaN
    losses, edge_ok, rule_ok, positions = [], 0, 0, 0
    for i in range(s.val_x.shape[0]):
        logits, loss, hidden = model(s.val_x[i], s.val_y[i])
        losses.append(float(loss))
        cover.observe(logits)
        pred = logits.argmax(dim=-1)
        edge_ok += int(s.allowed[s.val_x[i], pred].sum())
        rule_ok += int((((pred >= 32) & (pred < 127)) | (pred == 10)).sum())
        positions += pred.numel()
    val_loss = sum(losses) / len(losses)
    collapse = {k: float(v) for k, v in probe.measure(hidden, logits, s.val_y[-1]).items()}
    edge, rule = edge_ok / positions, rule_ok / positions
    gate_passed = edge > 0.95 and rule > 0.80  # the trainer's own verdict; INV-SUFF-001 checks it
    coverage = float(cover.summary()["coverage"])
    monitor.eval_end(val_loss=val_loss, edge_compliance=edge, rule_compliance=rule, gate_passed=gate_passed,
                     stop_requested=gate_passed, **collapse)
    below = int(coverage < 0.5)
    monitor.epoch_end(val_loss=val_loss, train_loss=None, coverage=coverage, epochs_below_coverage=below,
                      coverage_stop_requested=False, stop_requested=gate_passed, rejection_lambda=REJECTION_LAMBDA)

    step = int(scheduler.last_epoch)
    checksum = _param_checksum(model)
    ckpt = s.tmp / "ckpt.pt"
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "counters": {"step": step, "epoch": 0}, "rng": _rng_state(s.device), "param_checksum": checksum,
             "monitor": monitor.state_dict()}  # fingerprints of the RNG, optimizer and scheduler, compared at resume
    _atomic_save(state, ckpt)
    saved = torch.load(ckpt, weights_only=False)
    required = len(_rng_state(s.device))
    monitor.checkpoint(state_has_model="model" in saved, state_has_optimizer="optimizer" in saved,
                       state_has_scheduler="scheduler" in saved, state_has_counters="counters" in saved,
                       rng_states_saved=len(saved["rng"]), rng_states_required=required,
                       checkpoint_atomic=not ckpt.with_name(ckpt.name + ".tmp").exists(),
                       checkpoints_written=1, checkpoints_retained=len(list(s.tmp.glob("ckpt*.pt"))),
                       gate_passed=gate_passed, gate_pass_retained=gate_passed)

    fresh = GPT(s.cfg).to(s.device)
    fresh.load_state_dict(saved["model"])
    fresh_opt = fresh.configure_optimizer(PEAK_LR)
    fresh_opt.load_state_dict(saved["optimizer"])
    fresh_sched = s.schedule(monitor.params["lr_schedule"]).scheduler(fresh_opt)
    fresh_sched.load_state_dict(saved["scheduler"])
    restored = _restore_rng(saved["rng"])
    monitor.resume(optimizer_restored=len(fresh_opt.state) == len(optimizer.state),
                   scheduler_restored=fresh_sched.last_epoch == scheduler.last_epoch,
                   rng_states_restored=restored, rng_states_required=required,
                   param_checksum=_param_checksum(fresh), checkpoint_param_checksum=saved["param_checksum"],
                   resumed_step=int(fresh_sched.last_epoch), checkpoint_step=saved["counters"]["step"])
    monitor.run_end(gate_passed=gate_passed, gate_pass_retained=gate_passed, failure_recorded=not gate_passed)
    monitor.close()
    ckpt.unlink()
    lines = open(ledger, encoding="utf-8").read().splitlines()
    curve_records = sum(1 for line in lines if '"kind": "curve"' in line)
    return {"val_loss": val_loss, "coverage": coverage, "edge_compliance": edge, "rule_compliance": rule,
            "gate_passed": gate_passed, "ledger_records": len(lines), "curve_records": curve_records,
            "ledger_bytes": ledger.stat().st_size, **collapse}


# --------------------------------------------------------------------------- counting host reads and syncs


_READS = ("item", "tolist", "cpu", "numpy", "__bool__")


@contextlib.contextmanager
def count_host_reads(counts: dict[str, int]) -> Iterator[None]:
    """Count Python-level calls of the tensor methods that read a value back to the host."""
    originals = {name: getattr(torch.Tensor, name) for name in _READS}

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def counted(self: Any, *a: Any, **k: Any) -> Any:
            counts[name] = counts.get(name, 0) + 1
            return fn(self, *a, **k)
        return counted

    for name, fn in originals.items():
        setattr(torch.Tensor, name, wrap(name, fn))
    try:
        yield
    finally:
        for name, fn in originals.items():
            setattr(torch.Tensor, name, fn)


@dataclass
class SyncCount:
    kind: str
    reads_sync_steps: int = 0    # host reads on steps where the monitor took a sync point
    reads_other_steps: int = 0
    cuda_sync_steps: int | None = None
    cuda_other_steps: int | None = None
    sync_steps: int = 0
    other_steps: int = 0


def count_syncs(s: Setup, shape: str, monitored: bool) -> SyncCount:
    """One untimed run counting host reads (and CUDA syncs) per step."""
    out = SyncCount("monitored" if monitored else "bare")
    reads: dict[str, int] = {}
    cuda = s.device.type == "cuda"
    seen = {"reads": 0, "cuda": 0}
    sync_every = s.args.sync_every

    def hook(i: int, recorded: list[warnings.WarningMessage]) -> None:
        n_reads = sum(reads.values())
        n_cuda = sum(1 for w in recorded if "synchroniz" in str(w.message))
        at_sync = monitored and (i + 1) % sync_every == 0
        if at_sync:
            out.sync_steps += 1
            out.reads_sync_steps += n_reads - seen["reads"]
        else:
            out.other_steps += 1
            out.reads_other_steps += n_reads - seen["reads"]
        if cuda:
            if at_sync:
                out.cuda_sync_steps = (out.cuda_sync_steps or 0) + n_cuda - seen["cuda"]
            else:
                out.cuda_other_steps = (out.cuda_other_steps or 0) + n_cuda - seen["cuda"]
        seen["reads"], seen["cuda"] = n_reads, n_cuda

    if cuda:
        torch.cuda.set_sync_debug_mode("warn")
        out.cuda_sync_steps, out.cuda_other_steps = 0, 0
    try:
        with count_host_reads(reads):
            train_run(s, shape, monitored, step_hook=hook)
    finally:
        if cuda:
            torch.cuda.set_sync_debug_mode(0)
    return out


# --------------------------------------------------------------------------- instrumentation


def instrumented_run(s: Setup, shape: str, profile: bool) -> tuple[dict[str, tuple[float, float, int]], str]:
    """An untimed monitored run: where the monitor's time goes (and a cProfile of step_end).

    Per component: (thread CPU us per step amortised over the run, median us per call, calls).
    """
    timers: dict[str, list[float]] = {}
    targets = [(Watcher, name, name) for name in ("_before_step", "_after_step", "collect")]
    targets += [(Curves, "add", "curves.add"), (Curves, "window", "curves.window"), (Window, "finish", "curves.finish")]
    originals = {key: (owner, name, getattr(owner, name)) for owner, name, key in targets}

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*a: Any, **k: Any) -> Any:
            t = time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                timers.setdefault(name, []).append(time.thread_time() - t)
        return timed

    for key, (owner, name, fn) in originals.items():
        setattr(owner, name, wrap(key, fn))
    profiler = cProfile.Profile() if profile else None
    try:
        train_run(s, shape, True, profiler=profiler, timers=timers)
    finally:
        for key, (owner, name, fn) in originals.items():
            setattr(owner, name, fn)
    text = ""
    if profiler is not None:
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).strip_dirs().sort_stats("tottime").print_stats(25)
        text = buf.getvalue()
    return {k: (1e6 * sum(v) / s.args.steps, 1e6 * statistics.median(v), len(v)) for k, v in timers.items()}, text


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=200, help="optimizer steps per run (the schedule's total_steps)")
    p.add_argument("--pairs", type=int, default=5, help="timed bare/monitored pairs")
    p.add_argument("--interleave", type=int, default=10,
                   help="steps per block: a pair's two runs advance in alternating blocks, ABBA "
                        "(0: one run after the other)")
    p.add_argument("--warmup-pairs", type=int, default=None,
                   help="untimed pairs first (default: one per schedule shape)")
    p.add_argument("--schedules", default="cosine,wsd", help="schedule shapes, cycled over pairs")
    p.add_argument("--device", default="cpu", help="cpu or cuda (cuda also counts synchronisations)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch.set_num_threads for every run (default 1: intra-op threads on a shared machine "
                        "spin and wait on each other; the monitor's own cost is single-threaded Python either way)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="which time the goal is judged on: wall clock, or process CPU time (steadier on a "
                        "loaded machine with --threads 1); both are printed")
    p.add_argument("--contracts", default=None, help="contracts directory (default: the shipped contracts)")
    p.add_argument("--sync-every", type=int, default=100, help="Monitor(sync_every=...)")
    p.add_argument("--check-every", type=int, default=None,
                   help="representation-collapse-v1 check_every_steps (default: min(100, steps // 2))")
    p.add_argument("--warmup-fraction", type=float, default=0.05)
    p.add_argument("--decay-fraction", type=float, default=0.2)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=12)
    p.add_argument("--val-batches", type=int, default=4)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--profile", action="store_true", help="print a cProfile of step_end (top 25 by own time)")
    p.add_argument("--no-count", action="store_true", help="skip the host-read / sync counting pair")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    p.add_argument("--enforce", action="store_true", help=f"exit 1 when the ratio is above {GOAL}x")
    args = p.parse_args(argv)
    if args.steps < 2 or args.pairs < 1:
        p.error("--steps must be at least 2 and --pairs at least 1")
    args.schedules = [x.strip() for x in args.schedules.split(",") if x.strip()]
    if not args.schedules or any(x not in ("cosine", "wsd") for x in args.schedules):
        p.error("--schedules takes cosine and/or wsd")
    if args.check_every is None:
        args.check_every = max(1, min(100, args.steps // 2))
    if args.warmup_pairs is None:
        args.warmup_pairs = len(args.schedules)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("--device cuda: no CUDA device available here; skipped")
        return 0
    threads = args.threads
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # refused once parallel work has started (a second main())
        torch.set_num_interop_threads(1)
    with tempfile.TemporaryDirectory(prefix="pv-overhead-") as tmp:
        s = build_setup(args, Path(tmp))
        return _bench(s, threads)


def _bench(s: Setup, threads: int) -> int:
    args = s.args
    n_params = sum(p.numel() for p in GPT(s.cfg).parameters())
    t = time.perf_counter()
    probe_monitor = Monitor.from_contracts(args.contracts, regime=Regime.from_scratch(vocab_size=s.cfg.vocab_size),
                                           params=s.params("cosine"), sync_every=args.sync_every)
    build_ms = 1000 * (time.perf_counter() - t)
    contracts = probe_monitor.contracts
    n_inv = sum(len(c.invariants) for c in contracts)
    step_ids = [inv.id for c in contracts for inv in c.invariants if inv.at == "step_end"]
    owner = {inv.id: c.id for c in contracts for inv in c.invariants}
    probe_monitor.close()

    print(f"pv-contracts runtime overhead: nanoGPT-style model on {s.device} "
          f"({threads} thread{'s' if threads != 1 else ''}), torch {torch.__version__}")
    print(f"model: {s.cfg.n_layer} layer(s), {s.cfg.n_head} head(s), n_embd {s.cfg.n_embd}, block {s.cfg.block_size}, "
          f"batch {args.batch_size}, vocab {s.cfg.vocab_size} (bytes of stdlib source), {n_params / 1e6:.2f}M params; "
          f"AdamW + LambdaLR (warmup {args.warmup_fraction:g}, peak {PEAK_LR:g}, min {MIN_LR:g}), clip {CLIP:g}")
    print(f"monitor: {len(contracts)} contracts ({', '.join(c.id for c in contracts)}), {n_inv} invariants, "
          f"{len(step_ids)} at step_end; regime from_scratch(vocab 256); sync_every {args.sync_every}, "
          f"check_every_steps {args.check_every}; built in {build_ms:.0f} ms (once per run, untimed)")
    print(f"runs: {args.warmup_pairs} untimed warm-up pair(s), then {args.pairs} timed pair(s) of {args.steps} "
          f"steps (+ a monitored run without curves in each), interleaved in blocks of "
          f"{args.interleave or args.steps} steps (ABBA), "
          f"schedules cycled {'/'.join(args.schedules)}")
    load = os.getloadavg()[0]
    cores = len(os.sched_getaffinity(0))
    print(f"machine: {cores} usable CPU(s), load average {load:.2f} at start"
          + ("  (LOADED: wall-clock ratios are noisy; compare --clock cpu)" if load > cores - 0.5 else ""))
    print()

    failures: list[str] = []
    monitored_runs: list[RunResult] = []

    def checked(r: RunResult) -> RunResult:
        if r.warnings:
            failures.append(f"{r.kind} {r.shape} run warned: {r.warnings[0]}")
        if r.kind == "monitored":
            monitored_runs.append(r)
        return r

    try:
        for w in range(args.warmup_pairs):
            shape = args.schedules[w % len(args.schedules)]
            for r in timed_pair(s, shape, bare_first=True):
                checked(r)
        warm_runs = len(monitored_runs)
        pairs: list[tuple[RunResult, RunResult]] = []
        plain_runs: list[RunResult] = []  # monitored without curves, one per pair
        for i in range(args.pairs):
            shape = args.schedules[i % len(args.schedules)]
            bare, mon, plain = timed_pair(s, shape, bare_first=i % 2 == 0)
            pairs.append((checked(bare), checked(mon)))
            plain_runs.append(checked(plain))
    except Exception as exc:  # a violation or a missing metric: the benchmark is invalid
        print(f"FAILED: {type(exc).__name__}: {exc}")
        return 1

    # ---- timing table
    clock = args.clock
    print(f"{'pair':>4}  {'shape':<6}  {'order':<5}  {'bare ms/step':>12}  {'monitored':>9}  {'ratio':>6}  "
          f"{'bare cpu ms':>11}  {'monitored':>9}  {'ratio':>6}")
    wall_ratios, cpu_ratios = [], []
    for i, (bare, mon) in enumerate(pairs):
        wall_ratios.append(mon.ms_per_step / bare.ms_per_step)
        cpu_ratios.append(mon.cpu_ms_per_step / bare.cpu_ms_per_step)
        print(f"{i + 1:>4}  {bare.shape:<6}  {'BM' if i % 2 == 0 else 'MB':<5}  {bare.ms_per_step:>12.3f}  "
              f"{mon.ms_per_step:>9.3f}  {wall_ratios[-1]:>6.3f}  {bare.cpu_ms_per_step:>11.3f}  "
              f"{mon.cpu_ms_per_step:>9.3f}  {cpu_ratios[-1]:>6.3f}")
    med = {c: (statistics.median(b.ms(c) for b, _ in pairs), statistics.median(m.ms(c) for _, m in pairs))
           for c in ("wall", "cpu")}
    ratio_of = {"wall": statistics.median(wall_ratios), "cpu": statistics.median(cpu_ratios)}
    print(f"{'median':>4}  {'':<6}  {'':<5}  {med['wall'][0]:>12.3f}  {med['wall'][1]:>9.3f}  {ratio_of['wall']:>6.3f}  "
          f"{med['cpu'][0]:>11.3f}  {med['cpu'][1]:>9.3f}  {ratio_of['cpu']:>6.3f}")
    ratios = wall_ratios if clock == "wall" else cpu_ratios
    ratio_med = ratio_of[clock]
    bare_med, mon_med = med[clock]
    print(f"median monitored - bare: {1000 * (med['wall'][1] - med['wall'][0]):+.0f} us/step wall, "
          f"{1000 * (med['cpu'][1] - med['cpu'][0]):+.0f} us/step cpu; {clock} pair ratios "
          f"{min(ratios):.3f} .. {max(ratios):.3f}")
    print(f"final train loss {pairs[-1][0].final_loss:.4f} bare, {pairs[-1][1].final_loss:.4f} monitored "
          f"(same seed, same batches)")
    curve_ratios = {c: [m.ms(c) / p.ms(c) for (_, m), p in zip(pairs, plain_runs)] for c in ("wall", "cpu")}
    curves_med = {c: statistics.median(v) for c, v in curve_ratios.items()}
    print(f"curves on / curves off (the same monitor without its curve records, in the same blocks): median "
          f"{curves_med['wall']:.3f} wall, {curves_med['cpu']:.3f} cpu; {clock} pair ratios "
          + " ".join(f"{r:.3f}" for r in curve_ratios[clock])
          + f"; monitored without curves / bare {statistics.median(p.ms(clock) / b.ms(clock) for (b, _), p in zip(pairs, plain_runs)):.3f}")
    print()

    # ---- every step_end invariant ran
    timed = [m for _, m in pairs]
    calls = sum(r.steps for r in timed)
    print(f"step_end invariants over the {len(timed)} timed monitored runs ({calls} step_end calls); "
          f"'warm-up' = applicable in the {warm_runs} warm-up monitored runs")
    print(f"{'invariant':<17} {'contract':<27} {'evaluated':>9} {'applicable':>10} {'per step':>8} {'warm-up':>7}")
    ev_total = ap_total = 0
    for inv_id in step_ids:
        ev = sum(r.stats[inv_id]["evaluated"] for r in timed)
        ap = sum(r.stats[inv_id]["applicable"] for r in timed)
        warm = sum(r.stats[inv_id]["applicable"] for r in monitored_runs[:warm_runs])
        ev_total += ev
        ap_total += ap
        print(f"{inv_id:<17} {owner[inv_id]:<27} {ev:>9} {ap:>10} {ap / calls:>8.3f} {warm:>7}")
        skipped = sum(r.stats[inv_id]["not_supplied"] for r in timed)
        if ev + skipped != calls:
            failures.append(f"{inv_id} considered {ev + skipped} times in {calls} step_end calls")
        if ap + warm == 0:
            failures.append(f"{inv_id} never applied: the benchmark does not exercise it")
    print(f"per step: {ev_total / calls:.2f} step invariants evaluated, {ap_total / calls:.2f} applicable "
          f"(their `when` held)")
    other = sorted({k for r in monitored_runs for k in r.stats} - set(step_ids))
    tail_ap = {k: sum(r.stats[k]["applicable"] for r in monitored_runs) for k in other}
    print(f"other boundaries (untimed, after each monitored run): {sum(1 for v in tail_ap.values() if v)}/{len(other)} "
          f"invariants applied ({', '.join(k for k, v in tail_ap.items() if not v) or 'all'}"
          f"{' not applicable in a one-epoch, one-rank run' if any(not v for v in tail_ap.values()) else ''})")
    tail = timed[-1].tail
    print(f"last run: val_loss {tail['val_loss']:.3f}, coverage {tail['coverage']:.3f}, edge {tail['edge_compliance']:.3f}, "
          f"rule {tail['rule_compliance']:.3f}, gate {'passed' if tail['gate_passed'] else 'not passed'}, "
          f"ledger {tail['ledger_records']} records ({tail['curve_records']} curve), {tail['ledger_bytes']} bytes; "
          f"contract warnings: "
          f"{sum(len(r.warnings) for r in monitored_runs)}")
    print()

    # ---- host reads and syncs
    counts: list[SyncCount] = []
    if not args.no_count:
        shape = args.schedules[0]
        counts = [count_syncs(s, shape, False), count_syncs(s, shape, True)]
        bare_c, mon_c = counts
        print(f"host reads per run of {args.steps} steps (Tensor.item/tolist/cpu/numpy/__bool__ from Python):")
        print(f"  bare: {bare_c.reads_other_steps} ({bare_c.reads_other_steps / args.steps:.2f}/step, "
              f"from torch's own AdamW/clip code)")
        print(f"  monitored: {mon_c.reads_other_steps} on {mon_c.other_steps} steps between sync points "
              f"({(mon_c.reads_other_steps - bare_c.reads_other_steps * mon_c.other_steps / args.steps) / max(mon_c.other_steps, 1):+.2f}/step vs bare), "
              f"{mon_c.reads_sync_steps} on {mon_c.sync_steps} sync-point steps")
        if mon_c.cuda_other_steps is not None:
            print(f"CUDA synchronisations (set_sync_debug_mode('warn')): bare {bare_c.cuda_other_steps} in "
                  f"{args.steps} steps; monitored {mon_c.cuda_other_steps} between sync points "
                  f"({mon_c.cuda_other_steps / max(mon_c.other_steps, 1):.2f}/step, goal 0), "
                  f"{mon_c.cuda_sync_steps} at {mon_c.sync_steps} sync points")
            if mon_c.cuda_other_steps > (bare_c.cuda_other_steps or 0):
                failures.append(f"monitored run synchronised {mon_c.cuda_other_steps} times between sync points")
        else:
            print("CUDA synchronisations: n/a on this device (run with --device cuda where a GPU is lent)")
        print()

    # ---- where the monitor's time goes
    per_step, prof = instrumented_run(s, args.schedules[0], args.profile)
    print("monitor cost breakdown (an instrumented, untimed monitored run; thread CPU time):")
    labels = {"step_end": "step_end, steps between sync points", "step_end_sync": "step_end at sync points",
              "_before_step": "watch: optimizer pre-hook (grad norm)", "_after_step": "watch: optimizer post-hook",
              "collect": "watch: collect (inside step_end)", "probe": "collapse probe (its due steps + baseline)",
              "curves.add": "curves: keep the step's row (in step_end)",
              "curves.window": "curves: summarise a window (at sync points)",
              "curves.finish": "curves: read back, write the record (ditto)"}
    print(f"  {'component':<42} {'us/step':>8} {'us/call':>8} {'calls':>6}")
    for key in ("step_end", "step_end_sync", "collect", "_before_step", "_after_step", "probe", "curves.add",
                "curves.window", "curves.finish"):
        amort, median, n = per_step.get(key, (0.0, 0.0, 0))
        print(f"  {labels[key]:<42} {amort:>8.1f} {median:>8.1f} {n:>6}")
    direct = sum(per_step.get(k, (0.0,))[0] for k in ("step_end", "step_end_sync", "_before_step", "_after_step", "probe"))
    print(f"  {'total (collect, curves are inside step_end)':<42} {direct:>8.1f}   = {direct / (10 * med['cpu'][0]):.2f}% of the "
          f"{med['cpu'][0]:.2f} ms (cpu) bare step; break-even step for {GOAL:.2f}x: "
          f"{direct / (1000 * (GOAL - 1)):.1f} ms")
    if prof:
        print()
        print("cProfile of monitor.step_end only (whole run; includes the sync points):")
        print(prof)
    print()

    ok = ratio_med <= GOAL
    print(f"goal <= {GOAL:.2f}x: {'PASS' if ok else 'FAIL'} (median pair ratio {ratio_med:.3f}, {clock} clock)")
    if args.json is not None:
        args.json.write_text(json.dumps({
            "device": str(s.device), "threads": threads, "steps": args.steps, "pairs": args.pairs,
            "bare_ms_per_step": [b.ms_per_step for b, _ in pairs], "monitored_ms_per_step": [m.ms_per_step for _, m in pairs],
            "bare_cpu_ms_per_step": [b.cpu_ms_per_step for b, _ in pairs],
            "monitored_cpu_ms_per_step": [m.cpu_ms_per_step for _, m in pairs],
            "clock": clock, "wall_ratios": wall_ratios, "cpu_ratios": cpu_ratios,
            "median_ratio": ratio_med, "goal": GOAL, "pass": ok, "loadavg": load,
            "no_curves_ms_per_step": [p.ms_per_step for p in plain_runs],
            "no_curves_cpu_ms_per_step": [p.cpu_ms_per_step for p in plain_runs],
            "curves_ratios": curve_ratios, "curves_median_ratio": curves_med,
            "curve_records": timed[-1].tail["curve_records"],
            "step_invariants": {i: {k: sum(r.stats[i][k] for r in timed) for k in ("evaluated", "applicable",
                                                                                   "not_supplied")}
                                for i in step_ids},
            "breakdown_us": {k: {"per_step": v[0], "median_per_call": v[1], "calls": v[2]} for k, v in per_step.items()},
            "counts": [c.__dict__ for c in counts], "failures": failures,
        }, indent=2, sort_keys=True) + "\n")
    for f in failures:
        print(f"INVALID: {f}")
    if failures or (args.enforce and not ok):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
