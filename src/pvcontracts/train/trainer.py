"""The reference trainer: a thin loop with every shipped contract enforced at its boundaries.

Read :meth:`Trainer.fit` first: it is the whole run on one screen. Everything else is
a small method it calls (``train_step`` is one optimizer step, ``end_epoch`` the
evaluation, stopping rules and checkpoint) or a component in a module of its own
(schedules, optim, checkpoint, rng, early_stop, policies, preflight, result).

Where each contract is asserted (the contract text is the check, through the Monitor):

- ``step_end`` (every optimizer step, deferred to sync points): training-loop-pretrain
  (finite loss and grad norm), lr-schedule (the LR applied, the scheduler stepped once
  per optimizer step), loss-curriculum and rejection-penalty when configured.
- ``eval_end`` / ``epoch_end`` (every epoch): finite and non-divergent validation loss
  with the regime's epoch-zero cap, the sufficiency gate and its stop, coverage
  patience, the penalty's floor, warmup and gap.
- ``checkpoint`` (after every save): complete state, every RNG stream, atomic write,
  retention, the gate-pass checkpoint kept.
- ``resume``: optimizer, scheduler and RNG restored, parameters bit-identical.
- ``run_end``: a passed gate still has its checkpoint; a failed run recorded why.
"""

from __future__ import annotations

import math
import sys
import time
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Mapping, TextIO

import torch

from pvcontracts.runtime import ContractViolation, Monitor
from pvcontracts.train import rng
from pvcontracts.train.checkpoint import CheckpointError, Checkpointer, SaveReport
from pvcontracts.train.config import ConfigError, TrainConfig
from pvcontracts.train.early_stop import CoverageStopper, SufficiencyGate, TargetLossGate
from pvcontracts.train.optim import build_optimizer
from pvcontracts.train.policies import LossCurriculum, RejectionPenalty
from pvcontracts.train.preflight import (
    Check,
    PreflightError,
    PreflightReport,
    determinism_report,
    run_checks,
    trainer_checks,
    write_report,
)
from pvcontracts.train.progress import NoBar, epoch_label, format_metric, progress_bar
from pvcontracts.train.resume import fit_problems, pick_checkpoint
from pvcontracts.train.result import RunResult, result_data, write_json_atomic
from pvcontracts.train.schedules import Schedule, build_scheduler
from pvcontracts.train.seeds import Seeds, derive_seeds
from pvcontracts.train.task import Task, cross_entropy, dataset_len

__all__ = ["Trainer", "cross_entropy"]

ALWAYS = ("training-loop-pretrain-v1", "lr-schedule-v1", "checkpoint-resume-v1", "distributed-consistency-v1")
# Files whose presence means the directory holds a run: a refused run must leave them as they are.
_RUN_FILES = ("preflight.json", "result.json", "ledger.jsonl", "determinism.json", "failure.json", "checkpoints")
# Config fields a resume must share with the checkpoint: any of them changed, and the continued run is another run.
_RESUME_FIXED = ("task", "task_options", "regime", "seed", "max_epochs", "batch_size", "grad_accum_steps", "lr",
                 "min_lr_ratio", "warmup_fraction", "lr_schedule", "decay_fraction", "weight_decay", "betas", "eps",
                 "grad_clip", "mixed_precision", "amp_dtype", "curriculum", "rejection_penalty")


class Trainer:
    """One run: ``Trainer(config, build, out_dir).fit()`` returns a :class:`RunResult`.

    ``build(config_dict, seed) -> Task`` makes the task (``pv train`` imports it from the
    config's ``task:``). ``resume``: None (a fresh run), ``"latest"`` (the newest checkpoint
    in ``out_dir``, or a fresh run when there is none) or a checkpoint path.
    ``log_hook(metrics)`` gets step metrics every ``log_every`` steps and, once per epoch,
    the validation metrics prefixed ``val_``. ``stop_after`` interrupts the run after that
    many epochs, as a kill would (no verdict): the first half of a resume test.
    """

    def __init__(self, config: TrainConfig, build: Callable[[dict[str, Any], int], Task], out_dir: Path | str, *,
                 resume: str | Path | None = None, log_hook: Callable[[dict[str, Any]], None] | None = None,
                 stop_after: int | None = None, stream: TextIO | None = None) -> None:
        self.config = config
        self.build = build
        self.out_dir = Path(out_dir)
        self.resume_from = resume
        self.log_hook = log_hook
        self.stop_after = stop_after
        self.stream = stream or sys.stderr
        self.checkpointer = Checkpointer(self.out_dir / "checkpoints", config.keep_last)
        self.start_epoch = 0
        self.gate_epoch: int | None = None      # the first epoch at which the gate passed
        self.stopped_by: str | None = None      # "gate", "coverage", "interrupted": why the loop ended early
        self.curves: dict[str, Any] = {"step_loss": [], "step_lr": [], "epochs": []}
        self.timing = {"steps": 0, "step_s": 0.0, "data_s": 0.0, "optimizer_s": 0.0, "eval_s": 0.0,
                       "checkpoint_s": 0.0, "checkpoints": 0, "checkpoint_bytes": 0}
        self.violation: Any = None

    # ================================================================== the run

    def fit(self) -> RunResult:
        """Set up (preflight included), then train epoch by epoch until a stop, the budget, or a violation."""
        try:
            self.setup()
        except BaseException:
            self._restore_global_flags()
            raise
        try:
            with self.monitor:  # on an exception the monitor records what it found and releases its hooks
                if self.resumed is not None:
                    self.monitor.resume(**self.resumed)  # optimizer, scheduler, RNG and weights all restored?
                for epoch in range(self.start_epoch, self.config.max_epochs):
                    if self.stopped_by is not None:  # a stop rule fired (also: resumed from a stopped run)
                        break
                    if self.stop_after is not None and epoch >= self.stop_after:
                        self.stopped_by = "interrupted"
                        break
                    train_loss = self.train_epoch(epoch)
                    self.end_epoch(epoch, train_loss)  # eval, gates, policies, checkpoint; may set stopped_by
                status, reason = self.finish(self.stopped_by)  # run_end: the verdict, checked by the contracts
        except ContractViolation as exc:
            self.violation = exc.violation
            status, reason = "violation", str(exc)
        except KeyboardInterrupt:
            status, reason = "interrupted", "interrupted (KeyboardInterrupt); resume with --resume"
        finally:
            self._restore_global_flags()
        return self.write_result(status, reason, self.stopped_by)

    def train_epoch(self, epoch: int) -> float:
        """One pass over the training data, ``grad_accum_steps`` micro-batches per optimizer step."""
        self.model.train()
        weights = self.loss_weights(epoch)
        policy_metrics = self.step_policy_metrics(epoch)
        batches = iter(self.train_loader)
        losses: list[torch.Tensor] = []
        bar = self.progress_bar(epoch)
        for _ in range(self.steps_per_epoch):
            start = time.perf_counter()
            micro = list(islice(batches, self.config.grad_accum_steps))
            self.timing["data_s"] += time.perf_counter() - start
            loss = self.train_step(micro, weights, epoch, policy_metrics)
            losses.append(loss)
            self.timing["step_s"] += time.perf_counter() - start
            self.timing["steps"] += 1
            bar.update(1)
            if self.optimizer_steps % self.config.log_every == 0:
                self.log_step(loss, epoch, bar)
        bar.close()
        # One read of every step's loss at the epoch's end: a sync point, instead of one per step.
        step_losses = torch.stack(losses).tolist() if losses else []
        self.curves["step_loss"].extend(step_losses)
        return math.fsum(step_losses) / len(step_losses) if step_losses else math.nan

    def train_step(self, micro_batches: list[Any], weights: Mapping[str, float], epoch: int,
                   policy_metrics: Mapping[str, Any]) -> torch.Tensor:
        """Forward and backward over the micro-batches, one optimizer step, one scheduler step. Returns the loss."""
        total = sum(y.numel() for _, y in micro_batches)  # host: from the shapes, no sync
        loss_sum = torch.zeros((), device=self.device)
        for x, y in micro_batches:
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.config.mixed_precision):
                loss = self.loss_fn(self.model(x), y, weights)
            # Each micro-batch's mean loss weighted by its share of the targets: the summed gradients are
            # the gradient of the mean over the whole large batch, not grad_accum_steps times it.
            scaled = loss.float() * self.accumulation_weight(y.numel(), total)
            (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
            loss_sum += scaled.detach()
        start = time.perf_counter()
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)  # clip and check the true gradients, not the scaled ones
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        if self.config.grad_clip > 0:
            grad_norm = torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip, foreach=True)
        else:
            grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None], foreach=True)
        self.curves["step_lr"].append(self.optimizer.param_groups[0]["lr"])
        # Known before the update: with fatal_before_step the monitor checks them in the optimizer's pre-hook.
        self.monitor.observe(loss=loss_sum, grad_norm=grad_norm)
        before = self.watcher.optimizer_steps
        if self.scaler is not None:
            self.scaler.step(self.optimizer)  # skips optimizer.step() when it found inf/NaN gradients
            self.scaler.update()
        else:
            self.optimizer.step()
        if self.watcher.optimizer_steps > before:  # a step the scaler skipped moves neither counter
            self.step_scheduler()
        self.optimizer.zero_grad(set_to_none=True)
        self.timing["optimizer_s"] += time.perf_counter() - start
        # Deferred: the loss and grad norm stay on the device until the monitor's next sync point.
        self.monitor.step_end(loss=loss_sum, grad_norm=grad_norm, micro_batches=len(micro_batches), epoch=epoch,
                              **policy_metrics)
        return loss_sum

    def end_epoch(self, epoch: int, train_loss: float) -> None:
        """Evaluate, decide (gate, coverage, penalty), check the epoch's invariants, checkpoint."""
        start = time.perf_counter()
        metrics = self.evaluate(epoch)
        self.timing["eval_s"] += time.perf_counter() - start
        passed_now = self.gate is not None and self.gate.passes(metrics)
        first_pass = passed_now and self.gate_epoch is None
        if first_pass:
            self.gate_epoch = epoch
        stop_for_gate = first_pass and (self.gate.kind == "sufficiency" or self.config.stop_on_target)
        coverage_stop = self.coverage_stopper.update(metrics["coverage"]) if self.coverage_stopper else False
        self.stopped_by = ("gate" if stop_for_gate else None) or ("coverage" if coverage_stop else None)
        decisions: dict[str, Any] = {"stop_requested": self.stopped_by is not None,
                                     "gate_passed": self.gate_epoch is not None}
        if self.coverage_stopper is not None:
            decisions.update(coverage_stop_requested=coverage_stop,
                             epochs_below_coverage=self.coverage_stopper.epochs_below)
        if self.penalty is not None:
            decisions["rejection_lambda"] = self.penalty.value  # the weight this epoch trained with
        self.monitor.eval_end(epoch=epoch, **metrics, **decisions)
        self.monitor.epoch_end(epoch=epoch, train_loss=train_loss, **metrics, **decisions)
        record = {"epoch": epoch, "train_loss": train_loss, **metrics, **decisions,
                  "lr": self.curves["step_lr"][-1] if self.curves["step_lr"] else math.nan,
                  "optimizer_steps": self.optimizer_steps}
        self.curves["epochs"].append(record)
        self.log_epoch(record)
        if self.penalty is not None:
            self.penalty.update(epoch, metrics["coverage"])  # the multiplier the next epoch trains with
        self.save_checkpoint(epoch, gate_pass=first_pass)

    def finish(self, stopped_by: str | None) -> tuple[str, str]:
        """The verdict; a failed run writes failure.json before run_end checks that it did."""
        if stopped_by == "interrupted":
            return "interrupted", f"stopped after {self.stop_after} epochs (stop_after); resume it to go on"
        final = self.curves["epochs"][-1] if self.curves["epochs"] else {}
        if stopped_by == "coverage":
            status, reason = "failed", (f"coverage stayed below {self.coverage_stopper.coverage_min} for "
                                        f"{self.coverage_stopper.patience} epochs")
        elif self.gate is None:
            status, reason = "passed", f"completed {len(self.curves['epochs'])} epochs with every contract held"
        elif self.gate_epoch is not None:
            status, reason = "passed", f"{self.gate.kind} gate passed at epoch {self.gate_epoch}"
        else:
            status, reason = "failed", (f"{self.gate.kind} gate not passed within {self.config.max_epochs} epochs "
                                        f"({_gate_text(self.gate)})")
        failure_recorded = False
        if status == "failed":
            write_json_atomic(self.out_dir / "failure.json", {"reason": reason, "final_metrics": final})
            failure_recorded = (self.out_dir / "failure.json").is_file()
        self.monitor.run_end(gate_passed=self.gate_epoch is not None, failure_recorded=failure_recorded,
                             gate_pass_retained=self.checkpointer.gate_pass_path.is_file(),
                             epochs_run=len(self.curves["epochs"]), max_epochs=self.config.max_epochs,
                             checkpoints_written=self.checkpointer.written,
                             checkpoints_retained=len(self.checkpointer.periodic()))
        return status, reason

    # ================================================================== seams: one decision each

    def accumulation_weight(self, targets: int, total: int) -> float:
        """This micro-batch's share of the optimizer step's targets (1.0 without accumulation)."""
        return targets / total

    def step_scheduler(self) -> None:
        """Once after every optimizer step that happened: the schedule is indexed by optimizer steps."""
        self.scheduler.step()

    def make_schedule(self, total_steps: int) -> Schedule:
        c = self.config
        return Schedule(kind=c.lr_schedule, total_steps=total_steps, warmup_fraction=c.warmup_fraction,
                        peak_lr=c.peak_lr, min_lr=c.min_lr, decay_fraction=c.decay_fraction)

    def curriculum_index(self, epoch: int) -> int:
        """The curriculum entry an epoch trains with: its own (the last entry repeats past the list's end)."""
        return epoch

    def loss_weights(self, epoch: int) -> dict[str, float]:
        """What the task's loss_fn gets as ``weights`` this epoch."""
        weights = self.curriculum.weights_for(self.curriculum_index(epoch)) if self.curriculum is not None else {}
        if self.penalty is not None:
            weights["rejection_lambda"] = self.penalty.value
        return weights

    def step_policy_metrics(self, epoch: int) -> dict[str, Any]:
        metrics: dict[str, Any] = {}
        if self.curriculum is not None:
            metrics.update(self.curriculum.metrics(self.curriculum_index(epoch)))
        if self.penalty is not None:
            metrics["rejection_lambda"] = self.penalty.value
        return metrics

    # ================================================================== evaluation and logging

    @torch.no_grad()
    def evaluate(self, epoch: int) -> dict[str, Any]:
        """Validation loss plus the task's own metrics.

        The loss function gets empty ``weights`` here: the curriculum and the penalty change the training
        objective from epoch to epoch, and a validation loss measured with them would move for that reason
        alone (a rising penalty weight would read as divergence to INV-TRAIN-006).
        """
        self.model.eval()
        weights: dict[str, float] = {}
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        count = 0
        for x, y in self.val_loader:
            x, y = x.to(self.device), y.to(self.device)
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.config.mixed_precision):
                loss = self.loss_fn(self.model(x), y, weights)
            total += loss.double() * y.numel()
            count += y.numel()
        metrics = {"val_loss": float(total / max(count, 1))}  # a sync point: the epoch's end
        if self.task.evaluate is not None:
            metrics.update({k: float(v) for k, v in self.task.evaluate(self.model, epoch).items()})
        self.model.train()
        return metrics

    def progress_bar(self, epoch: int) -> Any:
        if not self.config.progress:
            return NoBar()
        return progress_bar(self.steps_per_epoch, epoch, self.config.max_epochs, self.stream)

    def log_step(self, loss: torch.Tensor, epoch: int, bar: Any) -> None:
        if self.log_hook is None and not self.config.progress:
            return
        # A sync point, every log_every steps only: the step's loss and LR read to the host for the log.
        metrics = {"step": self.optimizer_steps, "epoch": epoch, "loss": float(loss),
                   "lr": self.curves["step_lr"][-1]}
        bar.set_postfix(loss=f"{metrics['loss']:.4f}", lr=f"{metrics['lr']:.2e}", refresh=False)
        if self.log_hook is not None:
            self.log_hook(metrics)

    def log_epoch(self, record: Mapping[str, Any]) -> None:
        if self.log_hook is not None:
            self.log_hook({"step": self.optimizer_steps, "epoch": record["epoch"],
                           **{f"val_{k}": v for k, v in record.items() if k not in ("epoch", "optimizer_steps")}})
        if self.config.progress:
            shown = " ".join(f"{k} {format_metric(v)}" for k, v in record.items()
                             if k not in ("epoch", "optimizer_steps", "stop_requested", "gate_passed"))
            self.stream.write(f"{epoch_label(record['epoch'], self.config.max_epochs)}  {shown}\n")
            self.stream.flush()

    # ================================================================== checkpoints

    def state_dict(self, epoch: int) -> dict[str, Any]:
        """Everything a resume needs, after epoch ``epoch`` completed."""
        return {
            "format": "pv-train-checkpoint/1",
            "counters": {"epochs_completed": epoch + 1, "optimizer_steps": self.optimizer_steps,
                         "checkpoints_written": self.checkpointer.written + 1},
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": rng.capture(self.loader_generator),
            "curves": self.curves,
            "timing": self.timing,
            "monitor": self.monitor.state_dict(),
            "policies": {"gate_epoch": self.gate_epoch, "stopped_by": self.stopped_by,
                         "coverage_stop": self.coverage_stopper.state_dict() if self.coverage_stopper else None,
                         "rejection_penalty": self.penalty.state_dict() if self.penalty else None},
            "param_checksum": int(self.watcher.param_checksum()),
            "config": self.config.to_dict(),
            "seeds": self.seeds.to_dict(),
        }

    def save_checkpoint(self, epoch: int, *, gate_pass: bool) -> SaveReport:
        state = self.state_dict(epoch)
        report = self.checkpointer.save(state, epoch, gate_pass=gate_pass)
        self.timing["checkpoint_s"] += report.seconds
        self.timing["checkpoints"] += 1
        self.timing["checkpoint_bytes"] = report.bytes
        counters = state["counters"]
        self.monitor.checkpoint(
            epoch=epoch, state_has_model=bool(state["model"]), state_has_optimizer=bool(state["optimizer"]["state"]),
            state_has_scheduler=bool(state["scheduler"]),
            state_has_counters=all(counters.get(k) is not None for k in ("epochs_completed", "optimizer_steps")),
            rng_states_saved=len(state["rng"]), rng_states_required=len(rng.required_streams(self.loader_generator)),
            checkpoint_atomic=report.atomic, checkpoints_written=report.written,
            checkpoints_retained=len(report.retained), gate_passed=self.gate_epoch is not None,
            gate_pass_retained=self.checkpointer.gate_pass_path.is_file(),
            optimizer_steps=self.optimizer_steps, scheduler_steps=self.scheduler.last_epoch)
        return report

    def load_state(self, state: Mapping[str, Any], path: Path | str = "the checkpoint") -> list[str]:
        """Restore a checkpoint's state into the built components; returns the RNG streams restored.

        Refuses (CheckpointError, naming what does not fit) a checkpoint of another shape, dtype or
        budget before touching anything, and one that still fails to load, part by part: a resume
        is refused with a message, never a traceback from halfway through restoring.
        """
        problems = fit_problems(state, model=self.model, optimizer=self.optimizer, max_epochs=self.config.max_epochs,
                                steps_per_epoch=self.steps_per_epoch)
        if problems:
            raise CheckpointError(f"{path} does not fit this run: " + "; ".join(problems))
        policies = state["policies"]
        parts: list[tuple[str, Callable[[], Any]]] = [
            ("model", lambda: self.model.load_state_dict(state["model"])),
            ("optimizer state", lambda: self.optimizer.load_state_dict(state["optimizer"])),
            ("scheduler state", lambda: self.scheduler.load_state_dict(state["scheduler"])),
            ("monitor state", lambda: self.monitor.load_state_dict(state["monitor"])),
        ]
        if self.scaler is not None and state.get("scaler"):
            parts.append(("gradient scaler state", lambda: self.scaler.load_state_dict(state["scaler"])))
        if self.coverage_stopper is not None and policies.get("coverage_stop"):
            parts.append(("coverage stop state", lambda: self.coverage_stopper.load_state_dict(policies["coverage_stop"])))
        if self.penalty is not None and policies.get("rejection_penalty"):
            parts.append(("rejection penalty state", lambda: self.penalty.load_state_dict(policies["rejection_penalty"])))
        restored: list[str] = []
        parts.append(("RNG state", lambda: restored.extend(rng.restore(state["rng"], self.loader_generator))))
        for what, load in parts:  # the RNG last: nothing after it may draw a number
            try:
                load()
            except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
                raise CheckpointError(f"{path}: its {what} does not fit this run ({type(exc).__name__}: "
                                      f"{str(exc).splitlines()[0] if str(exc) else exc!r})") from None
        self.curves = state["curves"]
        self.timing = state["timing"]
        self.gate_epoch = policies["gate_epoch"]
        self.stopped_by = policies["stopped_by"]
        self.start_epoch = int(state["counters"]["epochs_completed"])
        self.checkpointer.written = int(state["counters"]["checkpoints_written"])
        return restored

    # ================================================================== setup

    def setup(self) -> None:
        """Seeds, task, components, contracts, preflight, then resume. Deterministic in this order."""
        c = self.config
        self.seeds: Seeds = derive_seeds(c.seed)
        self._set_global_flags(c.deterministic)
        _seed_everything(self.seeds.init)  # weight initialisation draws from the init stream
        try:
            task = self.build(c.to_dict(), self.seeds.task)
        except Exception as exc:  # most often bad task_options: a message with where it was raised, no traceback
            raise ConfigError(f"the task's build() raised {type(exc).__name__}: {exc} ({_raised_at(exc)})",
                              "task") from exc
        if not isinstance(task, Task):
            raise ConfigError(f"the task's build() returned {type(task).__name__}, not a pvcontracts.train.Task",
                              "task")
        self.task = task
        self.config = c = c.resolve(task.vocab_size)
        self.regime = c.make_regime()
        self.device = _device(c.device)
        self.amp_dtype = torch.bfloat16 if c.amp_dtype == "bfloat16" else torch.float16
        self.model = task.model.to(self.device)
        self.loss_fn = task.loss_fn or cross_entropy
        self.loader_generator = torch.Generator().manual_seed(self.seeds.data_order)
        # generator=: the shuffle order and the workers' base seed come from the data-order stream only.
        sized = dataset_len(task.train_dataset) is not None
        self.train_loader = torch.utils.data.DataLoader(  # (an empty dataset cannot be shuffled: preflight refuses it)
            task.train_dataset, batch_size=c.batch_size, shuffle=bool(sized and len(task.train_dataset)),
            generator=self.loader_generator, num_workers=c.num_workers)
        self.val_loader = torch.utils.data.DataLoader(task.val_dataset, batch_size=c.batch_size, shuffle=False)
        self.steps_per_epoch = -(-len(self.train_loader) // c.grad_accum_steps) if sized else 0
        self.total_steps = self.steps_per_epoch * c.max_epochs
        self.optimizer = build_optimizer(self.model, lr=c.peak_lr, weight_decay=c.weight_decay, betas=c.betas,
                                         eps=c.eps)
        self.schedule = self.make_schedule(max(self.total_steps, 1))
        self.scheduler = build_scheduler(self.optimizer, self.schedule)
        fp16_cuda = c.mixed_precision and c.amp_dtype == "float16" and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if fp16_cuda else None
        self.curriculum = LossCurriculum(c.curriculum) if c.curriculum is not None else None
        self.penalty = RejectionPenalty.from_config(c.rejection_penalty) if c.rejection_penalty is not None else None
        self.coverage_stopper = CoverageStopper(**c.coverage_stop) if c.coverage_stop is not None else None
        self.eval_metrics = self._eval_metric_names()
        # Until the run is accepted nothing is written: a refusal leaves the run directory as it was.
        determinism = determinism_report(self.seeds.to_dict(), self.config.deterministic, str(self.device))
        report = self.preflight(determinism)  # builds a monitor without a ledger; may refuse
        _seed_everything(self.seeds.dropout)  # from here on the global streams drive dropout and sampling
        picked = pick_checkpoint(self.checkpointer, self.resume_from, self.stream)
        checkpoint, state = picked if picked is not None else (None, None)
        if state is not None:
            self._check_resumable(state, checkpoint)
            restored = self.load_state(state, checkpoint)  # refuses what does not fit, before any write
        # Accepted: the reports, then the monitor that writes the ledger (its run_start) and enforces the contracts.
        self._write_reports(report, determinism)
        self.monitor = self.make_monitor(ledger=self.out_dir / "ledger.jsonl")
        self.gate = self._make_gate()
        if state is not None:
            self.monitor.load_state_dict(state["monitor"])  # fits: the preflight monitor took it
            self.checkpointer.discard_after(self.start_epoch - 1, self.gate_epoch)
            if self.gate_epoch == self.start_epoch - 1 and not self.checkpointer.gate_pass_path.is_file():
                # Killed between writing the gate-pass epoch's checkpoint and linking it: link it now.
                self.checkpointer.mark_gate_pass(checkpoint)
        self.watcher = self.monitor.watch(self.model, self.optimizer, self.scheduler)
        self.resumed: dict[str, Any] | None = None  # the resume boundary's metrics, checked first thing in fit
        if state is not None:
            self.resumed = dict(
                step=self.monitor.step, epoch=self.start_epoch,
                optimizer_restored=len(self.optimizer.state) == len(state["optimizer"]["state"]),
                scheduler_restored=self.scheduler.last_epoch == state["scheduler"]["last_epoch"],
                rng_states_restored=len(restored), rng_states_required=len(rng.required_streams(self.loader_generator)),
                param_checksum=int(self.watcher.param_checksum()), checkpoint_param_checksum=state["param_checksum"],
                resumed_step=self.watcher.optimizer_steps, checkpoint_step=state["counters"]["optimizer_steps"])
            self.stream.write(f"resumed from {checkpoint} at epoch {self.start_epoch}, "
                              f"step {self.optimizer_steps}\n")

    @property
    def optimizer_steps(self) -> int:
        return self.watcher.optimizer_steps

    def _eval_metric_names(self) -> tuple[str, ...]:
        if self.task.metrics is not None or self.task.evaluate is None:
            return tuple(self.task.metrics or ())
        # Learn the names from one evaluation of the untrained model, with every RNG stream put back.
        saved = rng.capture(self.loader_generator)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                names = tuple(sorted(self.task.evaluate(self.model, 0)))
        finally:
            self.model.train(was_training)
            rng.restore(saved, self.loader_generator)
        return names

    def contract_selection(self, available: set[str]) -> tuple[list[str], dict[str, Any]]:
        """The contracts this run can feed, and their params."""
        c = self.config
        params: dict[str, Any] = {**self.schedule.contract_params(), "keep_last": c.keep_last}
        if self.task.vocab_size:  # a model over a vocabulary: the epoch-zero caps (cross-entropy units) apply
            params["vocab_size"] = self.task.vocab_size
        if c.lr_tolerance is not None:
            params["lr_tolerance"] = c.lr_tolerance
        wanted = list(ALWAYS)
        if {"edge_compliance", "rule_compliance"} <= set(self.eval_metrics):
            wanted.append("early-stop-sufficiency-v1")
            params.update(c.sufficiency)
        if self.coverage_stopper is not None:
            wanted.append("early-stop-coverage-v1")
            params.update(coverage_min=self.coverage_stopper.coverage_min, patience=self.coverage_stopper.patience)
        if self.penalty is not None:
            wanted.append("rejection-penalty-v1")
            params.update(self.penalty.contract_params())
        if self.curriculum is not None:
            wanted.append("loss-curriculum-v1")
        selected = list(c.select) if c.select is not None else [w for w in wanted if w in available]
        return selected, params

    def preflight(self, determinism: dict[str, Any]) -> PreflightReport:
        """Every check of preflight.trainer_checks; the run refused (PreflightError) if one failed.

        A refusal writes its report to ``preflight.json`` only into a directory that holds no run:
        re-running into a finished run's directory must not overwrite that run's evidence.
        """
        report = run_checks(trainer_checks(self, determinism))
        if not report.ok:
            raise PreflightError(report, self._write_refusal(report))
        return report

    def _write_refusal(self, report: PreflightReport) -> Path | None:
        if any((self.out_dir / name).exists() for name in _RUN_FILES):
            return None
        try:
            write_report(report, self.out_dir / "preflight.json")
        except OSError:
            return None  # an unwritable run directory is itself one of the reasons given
        return self.out_dir / "preflight.json"

    def _write_reports(self, report: PreflightReport, determinism: dict[str, Any]) -> None:
        """The accepted run's first writes: leftovers of a killed writer removed, then the two reports."""
        removed = self.checkpointer.clean_temp()  # a killed writer's leftovers are never a checkpoint
        if removed:
            self.stream.write(f"removed {len(removed)} partial checkpoint write(s) left by an interrupted run\n")
        write_report(report, self.out_dir / "preflight.json")
        write_json_atomic(self.out_dir / "determinism.json", determinism)

    def build_monitor(self) -> Check:
        """Load the contracts, select what this run can feed, and build a monitor from them (a preflight check).

        This monitor has no ledger, so a refused run writes nothing; the accepted run gets its own
        (:meth:`make_monitor`), built from the same selection.
        """
        from pvcontracts.contract.contractset import load_contracts, shipped_contracts_dir

        c = self.config
        directory = c.path(c.contracts) if c.contracts else shipped_contracts_dir()
        contracts = load_contracts(directory)
        selected, params = self.contract_selection({x.id for x in contracts})
        unknown = sorted(set(selected) - {x.id for x in contracts})
        if unknown:
            return Check("contracts valid", False, f"select names unknown contract(s) {', '.join(unknown)}")
        self._monitor_inputs = ([x for x in contracts if x.id in selected], params)
        self.monitor = self.make_monitor(ledger=None)
        return Check("contracts valid", True, f"{len(self.monitor.contracts)} enforced from {directory}",
                     data={"contracts": [f"{x.id} {x.version}" for x in self.monitor.contracts]})

    def make_monitor(self, ledger: Path | None) -> Monitor:
        contracts, params = self._monitor_inputs
        c = self.config
        return Monitor(contracts, self.regime, params, sync_every=c.sync_every, ledger=ledger,
                       fatal_before_step=c.fatal_before_step, mode="strict")

    def _make_gate(self) -> SufficiencyGate | TargetLossGate | None:
        by_id = {x.id: x for x in self.monitor.contracts}
        if "early-stop-sufficiency-v1" in by_id:
            return SufficiencyGate(by_id["early-stop-sufficiency-v1"], self.monitor.params)
        if self.config.target_val_loss is not None:
            return TargetLossGate(self.config.target_val_loss)
        return None

    def _check_resumable(self, state: Mapping[str, Any], path: Path) -> None:
        saved, now = state.get("config", {}), self.config.to_dict()
        changed = [k for k in _RESUME_FIXED if saved.get(k) != now.get(k)]
        if changed:
            details = ", ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in changed)
            raise ConfigError(f"{path} was written by a different run ({details}); a resume must continue the "
                              "same run", "resume")

    def _set_global_flags(self, deterministic: bool) -> None:
        import os

        self._saved_flags = (torch.are_deterministic_algorithms_enabled(),
                             torch.is_deterministic_algorithms_warn_only_enabled(), torch.backends.cudnn.benchmark)
        if deterministic:
            # Must be set before cuBLAS initialises; without it deterministic cuBLAS is not available.
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False

    def _restore_global_flags(self) -> None:
        if not hasattr(self, "_saved_flags"):
            return
        enabled, warn_only, benchmark = self._saved_flags
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
        torch.backends.cudnn.benchmark = benchmark

    # ================================================================== result

    def write_result(self, status: str, reason: str, stopped_by: str | None) -> RunResult:
        data = result_data(self, status, reason, stopped_by)
        write_json_atomic(self.out_dir / "result.json", data)
        return RunResult(status, reason, self.out_dir, data)


# ---------------------------------------------------------------------- helpers


def _seed_everything(seed: int) -> None:
    import random

    import numpy as np

    torch.manual_seed(seed)  # CPU and every CUDA device
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} but CUDA is not available here", "device")
    return torch.device(name)


def _raised_at(exc: BaseException) -> str:
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"


def _gate_text(gate: Any) -> str:  # "edge_compliance_min 0.95, rule_compliance_min 0.8"
    return ", ".join(f"{k} {v}" for k, v in gate.params.items())
