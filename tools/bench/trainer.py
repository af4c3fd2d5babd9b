"""Benchmark the reference trainer's per-step cost against a bare hand-written loop.

    python tools/bench/trainer.py                        # 5 pairs of 1-epoch runs (58 steps each), CPU
    python tools/bench/trainer.py --threads 1            # steadier on a shared machine
    python tools/bench/trainer.py --pairs 1 --epochs 1 --max-bytes 20000 --n-layer 1 --n-embd 32  # smoke

Both sides train the same model on the same data with the same math, in one process:
the byte-level GPT of ``examples/pretrain_bytes`` (``examples/_models.py``) on its
standard-library corpus, batches in the same shuffled order (a DataLoader whose
generator is seeded from the run's ``data_order`` seed), the same initial weights (the
run's ``init`` seed), AdamW with the same two parameter groups, gradient clipping, and
linear warmup + cosine decay stepped once per optimizer step. The bench checks that the
two sides really did the same work: their per-step losses must agree to 1e-4 relative
(on one machine they are bit-identical: the bare loop even clips its gradients in the
optimizer's parameter order, as the trainer does, so the norm is summed the same way).

*Bare*: the loop a person writes by hand (forward, cross-entropy, backward, clip,
``optimizer.step()``, ``scheduler.step()``, ``zero_grad``), nothing else.

*Trainer*: ``pvcontracts.train.Trainer`` with every shipped contract it can feed active:
training-loop-pretrain, lr-schedule, checkpoint-resume and distributed-consistency
(always), early-stop-sufficiency (the task reports edge and rule compliance),
early-stop-coverage (``coverage_stop``), loss-curriculum (``curriculum``) and
rejection-penalty (``rejection_penalty``). The sufficiency thresholds are set to 1.0, which
no evaluation can exceed, so the gate never stops the run early: every run trains all its
epochs and ends ``failed`` (budget spent without a pass), by design. The task's
metrics are cheap stand-ins measured on a few validation windows (edge: the predicted
byte follows the input byte somewhere in the training text; rule: it is printable;
coverage: finite logits). representation-collapse-v1 is the one shipped contract the
trainer cannot feed (no hook gives it step-level prediction/target metrics); the bench
lists it as not enforced.

Timed: each run's training epochs (``Trainer.train_epoch`` and the bare loop's epochs),
which include data loading, the progress bar, logging, the monitor's ``step_end`` and
the sync points it takes inside the epoch, and the trainer's once-per-epoch read of the
step losses. Not timed: setup and preflight, evaluation, checkpoints, the result file
(once-per-epoch costs; their totals are reported separately). Runs alternate in ABBA order
after one untimed warm-up pair; the figure is the median over pairs of the per-step time
ratio trainer/bare, on the wall clock and on process CPU time, plus the median absolute
per-step CPU overhead (trainer minus bare): the ratio depends on the model's size, the
overhead much less (the ratio for a model whose step takes S ms is about 1 + overhead / S).
On a shared machine use ``--threads 1`` and read the CPU figures: other processes move the
wall clock of single pairs by tens of percent.

Exit 1 when the trainer run broke a contract, the two sides' losses disagree, or, with
``--enforce``, the median wall ratio is above the goal.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import itertools
import json
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
GOAL = 1.05


def _load(name: str, path: Path) -> Any:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def example_task_module() -> Any:
    return _load("_pv_bench_pretrain_bytes", ROOT / "examples" / "pretrain_bytes" / "task.py")


# --------------------------------------------------------------------------- the task


def make_build(args: argparse.Namespace) -> Callable[[dict[str, Any], int], Any]:
    """``build(config, seed)``: the pretrain_bytes task plus stand-in gate metrics and a weighted loss."""
    example = example_task_module()

    def build(config: dict[str, Any], seed: int) -> Any:
        task = example.build({"task_options": task_options(args)}, seed)
        rows = task.train_dataset.rows
        allowed = torch.zeros(256, 256, dtype=torch.bool)
        allowed[rows[:, :-1].reshape(-1), rows[:, 1:].reshape(-1)] = True
        probe = task.val_dataset.rows[: args.eval_windows]

        def evaluate(model: Any, epoch: int) -> dict[str, float]:
            device = next(model.parameters()).device
            x = probe[:, :-1].to(device)
            logits = model(x)
            pred = logits.argmax(dim=-1)
            edge = allowed.to(device)[x, pred].float().mean()
            rule = (((pred >= 32) & (pred < 127)) | (pred == 10)).float().mean()
            coverage = torch.isfinite(logits).all(dim=-1).float().mean()
            return {"edge_compliance": float(edge), "rule_compliance": float(rule), "coverage": float(coverage)}

        def loss_fn(logits: torch.Tensor, targets: torch.Tensor, weights: Any) -> torch.Tensor:
            # The curriculum's weight on the language-model term (1.0 here, by design of the bench).
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))
            return loss * weights.get("lm", 1.0) if weights else loss

        task.evaluate = evaluate
        task.loss_fn = loss_fn
        task.metrics = ("coverage", "edge_compliance", "rule_compliance")
        return task

    return build


def task_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"data": {"max_bytes": args.max_bytes, "val_fraction": 0.1, "block_size": args.block_size},
            "model": {"n_layer": args.n_layer, "n_head": args.n_head, "n_embd": args.n_embd, "dropout": 0.0}}


def trainer_config(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "task": "bench:build",  # informational; the bench hands Trainer its build function directly
        "task_options": task_options(args),
        "regime": {"kind": "from_scratch", "vocab_size": 256},
        "seed": args.seed, "max_epochs": args.epochs, "batch_size": args.batch_size,
        "lr": args.lr, "warmup_fraction": args.warmup_fraction, "min_lr_ratio": args.min_lr_ratio,
        "weight_decay": 0.1, "grad_clip": 1.0,
        "sufficiency": {"edge_compliance_min": 1.0, "rule_compliance_min": 1.0},  # never passes: all epochs run
        "coverage_stop": {"coverage_min": 0.5, "patience": 3},
        "curriculum": [{"lm": 1.0}],
        "rejection_penalty": {"target": 1.0, "init": 1.0, "floor": 0.0, "warmup_epochs": 1, "lr": 0.1},
        "sync_every": args.sync_every,
        "progress": not args.no_progress,
    }


# --------------------------------------------------------------------------- one run each


@dataclass
class Run:
    kind: str                   # "bare" | "trainer"
    steps: int
    wall_s: float               # training epochs only
    cpu_s: float
    losses: list[float]
    other_s: float = 0.0        # the rest of the run: setup, evaluation, checkpoints, result (trainer)
    status: str = ""
    reason: str = ""
    contracts: list[str] = field(default_factory=list)
    invariants: dict[str, dict[str, int]] = field(default_factory=dict)
    violation: Any = None

    @property
    def wall_ms(self) -> float:
        return 1000.0 * self.wall_s / max(self.steps, 1)

    @property
    def cpu_ms(self) -> float:
        return 1000.0 * self.cpu_s / max(self.steps, 1)


def _seed_everything(seed: int) -> None:
    import random

    import numpy as np

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def bare_run(args: argparse.Namespace, build: Callable[[dict[str, Any], int], Any]) -> Run:
    """The hand-written loop: the same model, data order, optimizer and schedule as the trainer's."""
    from pvcontracts.train.seeds import derive_seeds

    seeds = derive_seeds(args.seed)
    _seed_everything(seeds.init)
    task = build({}, seeds.task)
    model = task.model
    loader = torch.utils.data.DataLoader(task.train_dataset, batch_size=args.batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(seeds.data_order))
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=args.lr, betas=(0.9, 0.95), eps=1e-8, foreach=True)
    total = len(loader) * args.epochs
    warmup = int(args.warmup_fraction * total)

    def multiplier(s: int) -> float:
        if s + 1 <= warmup:
            return (s + 1) / warmup
        p = min(max((s + 1 - warmup) / (total - warmup), 0.0), 1.0)
        return args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)
    params = decay + no_decay  # the order the trainer clips in (its optimizer's groups): the same rounding
    _seed_everything(seeds.dropout)
    model.train()
    wall = cpu = 0.0
    losses: list[torch.Tensor] = []
    for _ in range(args.epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        # islice: exactly len(loader) batches, as the trainer takes them. A plain ``for`` would run the
        # sampler to its end, where RandomSampler draws one more (empty) randperm from the generator:
        # from the second epoch on, the batches would come in another order than the trainer's.
        for x, y in itertools.islice(loader, len(loader)):
            # No name holds the logits past the loss: kept alive through backward, a [B, T, 256]
            # float tensor changes what the allocator can reuse, and costs a few ms per step.
            loss = F.cross_entropy(model(x).flatten(0, 1).float(), y.flatten())
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.detach())
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
    return Run("bare", len(losses), wall, cpu, torch.stack(losses).tolist())


def trainer_run(args: argparse.Namespace, build: Callable[[dict[str, Any], int], Any], out_dir: Path) -> Run:
    """The reference trainer, every contract it can feed active; only its training epochs are timed."""
    from pvcontracts.train import TrainConfig
    from pvcontracts.train.trainer import Trainer

    class TimedTrainer(Trainer):
        epoch_times: list[tuple[float, float]]

        def train_epoch(self, epoch: int) -> float:
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return super().train_epoch(epoch)
            finally:
                self.epoch_times.append((time.perf_counter() - t0, time.process_time() - c0))

    config = TrainConfig.from_mapping(trainer_config(args), base_dir=out_dir)
    trainer = TimedTrainer(config, build, out_dir, stream=io.StringIO())
    trainer.epoch_times = []
    start = time.perf_counter()
    result = trainer.fit()
    elapsed = time.perf_counter() - start
    data = result.data
    wall = sum(t for t, _ in trainer.epoch_times)
    cpu = sum(c for _, c in trainer.epoch_times)
    losses = [float(v) for v in data["curves"]["step"]["loss"]]
    return Run("trainer", len(losses), wall, cpu, losses, other_s=elapsed - wall, status=result.status,
               reason=result.reason, contracts=[f"{c['id']} {c['version']}" for c in data["contracts"]],
               invariants=data["ledger"]["invariants"], violation=data.get("violation"))


# --------------------------------------------------------------------------- the harness


def shipped_contract_ids() -> list[str]:
    from pvcontracts.contract.contractset import load_contracts

    return sorted(c.id for c in load_contracts())


def compare_losses(a: list[float], b: list[float]) -> float:
    """Largest relative difference between two loss curves (inf when their lengths differ)."""
    if len(a) != len(b) or not a:
        return math.inf
    return max(abs(x - y) / max(abs(x), 1e-12) for x, y in zip(a, b))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5, help="timed bare/trainer pairs, ABBA order (default 5)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per run (default 1)")
    parser.add_argument("--max-bytes", type=int, default=131072, help="corpus size in bytes (default 128 KiB)")
    parser.add_argument("--block-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--n-layer", type=int, default=2)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--n-embd", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup-fraction", type=float, default=0.05)
    parser.add_argument("--min-lr-ratio", type=float, default=0.1)
    parser.add_argument("--sync-every", type=int, default=100, help="the monitor's sync_every (trainer default 100)")
    parser.add_argument("--eval-windows", type=int, default=16, help="validation windows the stand-in metrics read")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--no-progress", action="store_true", help="run the trainer without its progress bar")
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up pair")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--enforce", action="store_true", help=f"exit 1 when the median wall ratio is above {GOAL}")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    build = make_build(args)
    failures: list[str] = []
    runs: list[tuple[Run, Run]] = []
    with tempfile.TemporaryDirectory(prefix="pv-bench-trainer-") as tmp:
        counter = [0]

        def run(kind: str) -> Run:
            if kind == "bare":
                return bare_run(args, build)
            counter[0] += 1
            return trainer_run(args, build, Path(tmp) / f"run{counter[0]}")

        if not args.no_warmup:
            run("bare"), run("trainer")
        for i in range(args.pairs):
            order = ("bare", "trainer") if i % 2 == 0 else ("trainer", "bare")
            done = {kind: run(kind) for kind in order}
            runs.append((done["bare"], done["trainer"]))

    shipped = shipped_contract_ids()
    first_trainer = runs[0][1]
    enforced = sorted(c.split()[0] for c in first_trainer.contracts)
    not_enforced = [c for c in shipped if c not in enforced]
    wall_ratios = [t.wall_ms / b.wall_ms for b, t in runs]
    cpu_ratios = [t.cpu_ms / b.cpu_ms for b, t in runs]
    loss_diff = max(compare_losses(b.losses, t.losses) for b, t in runs)
    for b, t in runs:
        if t.violation is not None or t.status == "violation":
            failures.append(f"trainer run broke a contract: {t.reason}")
        if b.steps != t.steps:
            failures.append(f"step counts differ: bare {b.steps}, trainer {t.steps}")
    if loss_diff > 1e-4:
        failures.append(f"the two sides' step losses differ (max relative difference {loss_diff:.3g}): "
                        "they did not train the same model on the same data")
    evaluated = {k: v for k, v in first_trainer.invariants.items() if v.get("evaluated", 0) > 0}
    median_wall = statistics.median(wall_ratios)
    median_cpu = statistics.median(cpu_ratios)
    median_overhead = statistics.median(t.cpu_ms - b.cpu_ms for b, t in runs)

    print(f"model: GPT {args.n_layer}x{args.n_embd} (heads {args.n_head}), block {args.block_size}, "
          f"batch {args.batch_size}; corpus {args.max_bytes} bytes; {args.epochs} epoch(s) = "
          f"{runs[0][0].steps} steps per run; torch threads {torch.get_num_threads()}")
    print(f"contracts enforced by the trainer ({len(enforced)}/{len(shipped)} shipped): {', '.join(first_trainer.contracts)}")
    if not_enforced:
        print(f"not enforced: {', '.join(not_enforced)} (the trainer has no way to feed its metrics)")
    print(f"invariants evaluated: {len(evaluated)} "
          f"({sum(v['evaluated'] for v in evaluated.values())} evaluations in the first timed trainer run)")
    print(f"trainer run status: {first_trainer.status} ({first_trainer.reason})")
    print(f"max relative step-loss difference bare vs trainer: {loss_diff:.3g}")
    print(f"{'pair':>4}  {'bare ms/step':>12}  {'trainer ms/step':>15}  {'wall ratio':>10}  {'cpu ratio':>9}  "
          f"{'cpu overhead ms/step':>20}  {'trainer other s':>15}")
    for i, ((b, t), wr, cr) in enumerate(zip(runs, wall_ratios, cpu_ratios)):
        print(f"{i:>4}  {b.wall_ms:>12.2f}  {t.wall_ms:>15.2f}  {wr:>10.3f}  {cr:>9.3f}  {t.cpu_ms - b.cpu_ms:>20.3f}  "
              f"{t.other_s:>15.2f}")
    print(f"median  wall {median_wall:.3f}  cpu {median_cpu:.3f}")
    print(f"median cpu overhead per step: {median_overhead:.3f} ms (trainer - bare, process CPU time)")
    verdict = "PASS" if median_wall <= GOAL else "FAIL"
    print(f"goal <= {GOAL:.2f}x: {verdict} (median pair ratio {median_wall:.3f}, wall clock)")
    for f in failures:
        print(f"FAILURE: {f}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "goal": GOAL, "median_wall_ratio": median_wall, "median_cpu_ratio": median_cpu, "median_cpu_overhead_ms": median_overhead,
            "wall_ratios": wall_ratios, "cpu_ratios": cpu_ratios,
            "bare_ms_per_step": [b.wall_ms for b, _ in runs], "trainer_ms_per_step": [t.wall_ms for _, t in runs],
            "trainer_other_s": [t.other_s for _, t in runs], "steps_per_run": runs[0][0].steps,
            "max_loss_rel_diff": loss_diff, "contracts_enforced": first_trainer.contracts,
            "contracts_not_enforced": not_enforced, "invariants": first_trainer.invariants,
            "trainer_status": first_trainer.status, "threads": torch.get_num_threads(),
            "failures": failures, "args": {k: str(v) for k, v in vars(args).items()},
        }, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if failures or (args.enforce and verdict == "FAIL"):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
