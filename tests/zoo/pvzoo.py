"""The zoo: small CPU reproductions of classic silent training bugs, each with a clean twin, plus clean
loops driven by the ecosystem's real LR schedulers (transformers and torch) and the schedule faults.

Every case runs with ONE configuration (:data:`CONFIG`): every shipped contract, the default
supplied mode, the detection library's default thresholds, and one declared intent shared by
all loops here (they all train every parameter: ``min_trainable_fraction`` 1.0). A case may
only declare facts about its own loop, as a user would: its LR schedule (the scheduler's own
arguments, in lr-schedule-v1's terms) and what its loss is (``loss_kind``). No threshold is
tuned per case. ``tools/bench/detect.py`` and ``tests/zoo/test_zoo.py`` run the same cases.

Not a test module (no ``test_`` prefix): imported by name from ``tests/zoo`` being on sys.path.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from pvcontracts.runtime import ContractViolation, Monitor, Regime

SHIPPED = Path(__file__).resolve().parents[2] / "contracts"
CONFIG: dict[str, Any] = {"mode": "supplied", "sync_every": 4, "regime": Regime.finetune(),
                          "params": {"min_trainable_fraction": 1.0}}
DECLARABLE = {"loss_kind", "lr_schedule", "lr_interval", "step_indexing", "total_steps", "warmup_steps",
              "warmup_fraction", "warmup_start", "warmup_shape", "peak_lr", "min_lr", "decay_steps", "power",
              "cycles", "gamma", "step_size", "milestone_1", "milestone_2", "milestone_3"}
CLASSES, DIM, BATCH, TRAIN, VAL = 32, 32, 16, 256, 64
LR = 1e-2


def make_monitor(declared: dict[str, Any], ledger: Path | None = None) -> Monitor:
    """The one configuration, plus what the loop declares about itself."""
    unknown = set(declared) - DECLARABLE
    assert not unknown, f"a case may only declare facts about its loop, not {sorted(unknown)}"
    return Monitor.from_contracts(SHIPPED, regime=CONFIG["regime"], params={**CONFIG["params"], **declared},
                                  sync_every=CONFIG["sync_every"], mode=CONFIG["mode"], ledger=ledger)


@dataclass
class Case:
    name: str
    kind: str                  # "buggy" | "clean"
    bug_class: str
    run: Callable[[], Monitor]  # trains; returns the monitor (may raise ContractViolation)
    expect: tuple[str, ...] = ()  # for a buggy case, invariants that may catch it


@dataclass
class Outcome:
    case: Case
    caught: bool
    violations: list[str] = field(default_factory=list)
    message: str = ""


def run_case(case: Case) -> Outcome:
    """Run one case: caught when any invariant was violated (abort, warn or record alike)."""
    torch.manual_seed(0)
    random.seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads only contend on a shared machine
    try:
        monitor = case.run()
        ids = [v.invariant_id for v in monitor.violations]
        return Outcome(case, bool(ids), ids, monitor.violations[0].message() if ids else "")
    except ContractViolation as exc:
        return Outcome(case, True, [exc.invariant_id], str(exc))
    finally:
        torch.set_num_threads(threads)


# --------------------------------------------------------------------------- the task


def data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    teacher = torch.randn(DIM, CLASSES, generator=g)
    x = torch.randn(TRAIN + VAL, DIM, generator=g)
    y = (x @ teacher).argmax(dim=1)
    return x[:TRAIN], y[:TRAIN], x[TRAIN:], y[TRAIN:]


def model() -> torch.nn.Module:
    # Dropout draws from torch's global RNG every step: a resume must restore that stream.
    return torch.nn.Sequential(torch.nn.Linear(DIM, 64), torch.nn.ReLU(), torch.nn.Dropout(0.1),
                               torch.nn.Linear(64, CLASSES))


def batches(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    order = torch.randperm(len(x), generator=gen)
    return [(x[order[i:i + BATCH]], y[order[i:i + BATCH]]) for i in range(0, len(x), BATCH)]


@torch.no_grad()
def evaluate(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: Callable = F.cross_entropy) -> float:
    net.eval()
    loss = float(loss_fn(net(x), y))
    net.train()
    return loss


CE = {"loss_kind": "cross_entropy"}
CONSTANT = {"lr_interval": "none", "lr_schedule": "constant", "peak_lr": LR}


def loop(*, epochs: int = 3, bug: str = "", declared: dict[str, Any] | None = None,
         net: torch.nn.Module | None = None, sched: Callable[[Any], Any] | None = None,
         monitor: Monitor | None = None, state: dict[str, Any] | None = None,
         start_epoch: int = 0) -> tuple[Monitor, dict[str, Any]]:
    """The standard loop: watch, step_end(loss), epoch_end(val_loss). ``bug`` names the one fault injected."""
    x, y, vx, vy = data()
    tags = set(bug.split("+"))
    if bug == "val_misaligned":
        vy = vy[torch.randperm(len(vy), generator=torch.Generator().manual_seed(1))]
    net = net if net is not None else model()
    if bug == "frozen_body":
        for p in net[0].parameters():
            p.requires_grad = False
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=LR)
    if bug == "stale_optimizer":
        net = copy.deepcopy(net)  # the optimizer still holds the original's parameters
    if bug == "recreated_head":
        net[3] = torch.nn.Linear(64, CLASSES)
    scheduler = sched(optimizer) if sched is not None else None
    gen = torch.Generator().manual_seed(2)
    monitor = monitor or make_monitor({**CE, **CONSTANT, **(declared or {})})
    if state is not None:  # a resume: the caller restores what it restores, the monitor its own state
        state["restore"](net, optimizer, scheduler, gen, monitor)
    if "unwatched" not in tags:
        monitor.watch(net, optimizer, scheduler)
    if state is not None:
        monitor.resume()
    accum = 4 if bug == "accum_summed" else 1
    first = None
    for epoch in range(start_epoch, start_epoch + epochs):
        for i, (xb, yb) in enumerate(batches(x, y, gen)):
            if "same_batch" in tags:
                first = first or (xb, yb)
                xb, yb = first
            if bug != "no_zero_grad":
                optimizer.zero_grad(set_to_none=True)
            loss_total = torch.zeros(())
            for xm, ym in zip(xb.chunk(accum), yb.chunk(accum)):
                out = net(xm)
                if bug == "reduction_sum":
                    loss = F.cross_entropy(out, ym, reduction="sum")
                elif bug == "accum_summed":
                    loss = F.cross_entropy(out, ym)  # summed over micro-batches, never divided by accum
                else:
                    loss = F.cross_entropy(out, ym) / accum
                loss.backward()
                loss_total += loss.detach()
            step_ok = True
            if "inf_grad" in tags and epoch == 0 and i == 5:
                next(net.parameters()).grad[0, 0] = float("inf")  # an overflowing gradient
            norm = torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            if "skip_nonfinite" in tags:
                step_ok = bool(torch.isfinite(norm))  # a sync, as GradScaler does: skip the step
            if bug != "no_optimizer_step" and step_ok:
                optimizer.step()
            if scheduler is not None and (step_ok or "sched_on_skip" in tags) and bug != "sched_per_epoch":
                scheduler.step()
            monitor.step_end(loss=loss_total)
        if scheduler is not None and bug == "sched_per_epoch":
            scheduler.step()
        monitor.epoch_end(val_loss=evaluate(net, vx, vy))
    return monitor, {"net": net, "optimizer": optimizer, "scheduler": scheduler, "gen": gen}


def plain(bug: str = "", **kwargs: Any) -> Callable[[], Monitor]:
    def run() -> Monitor:
        monitor, _ = loop(bug=bug, **kwargs)
        monitor.run_end()
        return monitor
    return run


# --------------------------------------------------------------------------- resume


def resumed(forget: str = "", sched: Callable[[Any], Any] | None = None,
            declared: dict[str, Any] | None = None) -> Callable[[], Monitor]:
    """Train 2 epochs, checkpoint everything, 'restart' with fresh objects, restore all but ``forget``, train 1 more."""
    def run() -> Monitor:
        torch.manual_seed(0)
        monitor, live = loop(epochs=2, sched=sched, declared=declared)
        checkpoint = copy.deepcopy({
            "model": live["net"].state_dict(), "optimizer": live["optimizer"].state_dict(),
            "scheduler": live["scheduler"].state_dict() if live["scheduler"] is not None else None,
            "gen": live["gen"].get_state(), "rng": torch.get_rng_state(), "monitor": monitor.state_dict()})
        monitor.close()
        torch.manual_seed(0)  # the new process seeds as the old one did, then builds everything afresh
        net = model()

        def restore(net: Any, optimizer: Any, scheduler: Any, gen: Any, fresh: Monitor) -> None:
            net.load_state_dict(checkpoint["model"])
            if forget != "optimizer":
                optimizer.load_state_dict(checkpoint["optimizer"])
            if scheduler is not None and forget != "scheduler":
                scheduler.load_state_dict(checkpoint["scheduler"])
            gen.set_state(checkpoint["gen"])
            fresh.load_state_dict(checkpoint["monitor"])
            if forget != "rng":
                torch.set_rng_state(checkpoint["rng"])

        fresh = make_monitor({**CE, **CONSTANT, **(declared or {})})
        fresh, _ = loop(epochs=1, start_epoch=2, net=net, sched=sched, declared=declared, monitor=fresh,
                        state={"restore": restore})
        fresh.run_end()
        return fresh
    return run


# --------------------------------------------------------------------------- SimSiam


def simsiam(stop_gradient: bool) -> Callable[[], Monitor]:
    """A tiny SimSiam on augmented Gaussian clusters; without the stop-gradient it collapses."""
    def run() -> Monitor:
        from pvcontracts.runtime.providers import EmbeddingCollapse

        g = torch.Generator().manual_seed(0)
        centers = torch.randn(8, DIM, generator=g) * 3
        encoder = torch.nn.Sequential(torch.nn.Linear(DIM, 64), torch.nn.BatchNorm1d(64), torch.nn.ReLU(),
                                      torch.nn.Linear(64, 32))
        predictor = torch.nn.Sequential(torch.nn.Linear(32, 16), torch.nn.ReLU(), torch.nn.Linear(16, 32))
        net = torch.nn.ModuleDict({"encoder": encoder, "predictor": predictor})
        optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        monitor = make_monitor({"loss_kind": "other", "lr_interval": "none", "lr_schedule": "constant",
                                "peak_lr": 0.05})
        monitor.watch(net, optimizer)
        monitor.attach(EmbeddingCollapse(encoder))
        for epoch in range(3):
            for _ in range(20):
                base = centers[torch.randint(0, 8, (64,), generator=g)] + torch.randn(64, DIM, generator=g)
                x1 = base + 0.3 * torch.randn(64, DIM, generator=g)
                x2 = base + 0.3 * torch.randn(64, DIM, generator=g)
                z1, z2 = encoder(x1), encoder(x2)
                p1, p2 = predictor(z1), predictor(z2)
                t1, t2 = (z1.detach(), z2.detach()) if stop_gradient else (z1, z2)
                loss = -(F.cosine_similarity(p1, t2).mean() + F.cosine_similarity(p2, t1).mean()) / 2
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                monitor.step_end(loss=loss.detach())
            monitor.epoch_end()
        monitor.run_end()
        return monitor
    return run


# --------------------------------------------------------------------------- regression


def regression() -> Monitor:
    """An MSE regression in the default finetune regime: losses far above 10, and no cross-entropy cap applies."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=g)
    y = (x @ torch.randn(8, 1, generator=g)) * 5 + 3
    net = torch.nn.Linear(8, 1)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    monitor = make_monitor({"lr_interval": "none", "lr_schedule": "constant", "peak_lr": 0.01})
    monitor.watch(net, optimizer)
    for epoch in range(3):
        for i in range(0, 256, 16):
            loss = F.mse_loss(net(x[i:i + 16]), y[i:i + 16])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            monitor.step_end(loss=loss.detach())
        monitor.epoch_end(val_loss=evaluate(net, x[:64], y[:64], F.mse_loss))
    monitor.run_end()
    return monitor


# --------------------------------------------------------------------------- the real schedulers


STEPS_PER_EPOCH = TRAIN // BATCH   # 16
EPOCHS = 3
T = STEPS_PER_EPOCH * EPOCHS       # 48 optimizer steps
W = 5


def _hf(name: str) -> Callable[..., Any]:
    import transformers

    return getattr(transformers, name)


def schedulers() -> dict[str, tuple[Callable[[Any], Any], dict[str, Any]]]:
    """Each real scheduler, built from its own arguments, with its declaration in lr-schedule-v1's terms."""
    from torch.optim import lr_scheduler as L

    def titan(step: int, warmup: int = W, stable: int = T - W - 10, decay: int = 10) -> float:
        """torchtitan's linear_warmup_stable_decay (components/lr_scheduler.py), linear decay, lr_min 0.1."""
        if step >= warmup + stable + decay:
            step = warmup + stable + decay
        if step < warmup:
            return float((step + 1) / (warmup + 1))
        if step < warmup + stable or decay == 0:
            return 1.0
        progress = float((step + 1) - (warmup + stable)) / (decay + 1)
        return 0.1 + (1 - 0.1) * (1 - progress)

    def pv_lambda(opt: Any) -> Any:
        from pvcontracts.train.schedules import Schedule, build_scheduler

        return build_scheduler(opt, Schedule(kind="cosine", total_steps=T, warmup_fraction=W / T, peak_lr=LR,
                                             min_lr=LR / 10))

    base = {"peak_lr": LR, "total_steps": T, "warmup_steps": W}
    return {
        "hf_linear": (lambda o: _hf("get_linear_schedule_with_warmup")(o, W, T), {**base, "lr_schedule": "linear"}),
        "hf_cosine": (lambda o: _hf("get_cosine_schedule_with_warmup")(o, W, T), {**base, "lr_schedule": "cosine"}),
        "hf_cosine_hard_restarts": (lambda o: _hf("get_cosine_with_hard_restarts_schedule_with_warmup")(o, W, T, 3),
                                    {**base, "lr_schedule": "cosine_restarts", "cycles": 3.0}),
        "hf_constant": (lambda o: _hf("get_constant_schedule_with_warmup")(o, W), {**base, "lr_schedule": "constant"}),
        "hf_polynomial": (lambda o: _hf("get_polynomial_decay_schedule_with_warmup")(o, W, T, lr_end=1e-4, power=2.0),
                          {**base, "lr_schedule": "polynomial", "power": 2.0, "min_lr": 1e-4}),
        # Keywords only: older transformers releases order get_wsd_schedule's arguments differently.
        # Releases whose get_wsd_schedule takes warmup_type warm up from min_lr_ratio, older ones from 0. The run declares
        # what its library does, as a user would.
        "hf_wsd": (lambda o: _hf("get_wsd_schedule")(o, num_warmup_steps=W, num_stable_steps=T - W - 12,
                                                      num_decay_steps=12, min_lr_ratio=0.1),
                   {**base, "lr_schedule": "cosine", "decay_steps": 12, "min_lr": LR * 0.1,
                    "warmup_start": 0.1 if _hf_wsd_warms_from_min_lr() else 0.0}),
        "torch_sequential_linear_cosine": (
            lambda o: L.SequentialLR(o, [L.LinearLR(o, start_factor=0.1, total_iters=W),
                                         L.CosineAnnealingLR(o, T_max=T - W, eta_min=1e-4)], milestones=[W]),
            {**base, "lr_schedule": "cosine", "warmup_start": 0.1, "min_lr": 1e-4}),
        "torch_cosine_annealing": (lambda o: L.CosineAnnealingLR(o, T_max=T),
                                   {"peak_lr": LR, "total_steps": T, "lr_schedule": "cosine"}),
        "torch_onecycle": (lambda o: L.OneCycleLR(o, max_lr=LR, total_steps=T, pct_start=0.25),
                           {"peak_lr": LR, "total_steps": T, "warmup_fraction": 0.25, "step_indexing": "endpoints",
                            "warmup_shape": "cosine", "warmup_start": 1 / 25, "min_lr": LR / 25 / 1e4,
                            "lr_schedule": "cosine"}),
        "torch_lambda_pv_trainer": (pv_lambda, {**base, "lr_schedule": "cosine", "step_indexing": "one_based",
                                                "min_lr": LR / 10}),
        "torchtitan_wsd": (lambda o: L.LambdaLR(o, titan),
                           {"peak_lr": LR, "total_steps": T + 1, "warmup_steps": W + 1, "decay_steps": 11,
                            "step_indexing": "one_based", "lr_schedule": "linear", "min_lr": LR * 0.1}),
    }


def _hf_wsd_warms_from_min_lr() -> bool:
    import inspect

    return "warmup_type" in inspect.signature(_hf("get_wsd_schedule")).parameters


def per_epoch_schedulers() -> dict[str, tuple[Callable[[Any], Any], dict[str, Any]]]:
    from torch.optim import lr_scheduler as L

    return {
        "torch_steplr_per_epoch": (lambda o: L.StepLR(o, step_size=1, gamma=0.5),
                                   {"peak_lr": LR, "lr_interval": "epoch", "lr_schedule": "step", "gamma": 0.5}),
        "torch_multisteplr_per_epoch": (lambda o: L.MultiStepLR(o, milestones=[1, 2], gamma=0.3),
                                        {"peak_lr": LR, "lr_interval": "epoch", "lr_schedule": "multistep",
                                         "gamma": 0.3, "milestone_1": 1, "milestone_2": 2}),
    }


def scheduled(make: Callable[[Any], Any], declared: dict[str, Any], bug: str = "") -> Callable[[], Monitor]:
    if declared.get("lr_interval") == "epoch":
        bug = bug or "sched_per_epoch"  # the loop steps this scheduler once per epoch, as declared
    def run() -> Monitor:
        monitor = make_monitor({**CE, **declared})
        monitor, _ = loop(bug=bug, sched=make, monitor=monitor)
        monitor.run_end()
        return monitor
    return run


def cases() -> list[Case]:
    out: list[Case] = []

    def pair(bug_class: str, bug: Callable[[], Monitor], clean: Callable[[], Monitor], expect: tuple[str, ...],
             name: str) -> None:
        out.append(Case(f"{name}", "buggy", bug_class, bug, expect))
        out.append(Case(f"{name}-clean-twin", "clean", bug_class, clean))

    pair("gradients not cleared", plain("no_zero_grad"), plain(), ("INV-HEALTH-001",), "no-zero-grad")
    pair("optimizer holds a copy's parameters", plain("stale_optimizer"), plain(), ("INV-HEALTH-002", "INV-HEALTH-003"),
         "stale-optimizer")
    pair("head re-created after the optimizer", plain("recreated_head"), plain(), ("INV-HEALTH-002",), "recreated-head")
    pair("parameters frozen by mistake", plain("frozen_body"), plain(), ("INV-HEALTH-004",), "frozen-body")
    pair("loss does not progress (optimizer.step never runs)", plain("no_optimizer_step"), plain(),
         ("INV-HEALTH-005",), "no-optimizer-step")
    pair("accumulated losses summed, not averaged (HF #34191)", plain("accum_summed"), plain(),
         ("INV-TRAIN-007",), "accum-summed")
    pair("reduction='sum' per token", plain("reduction_sum"), plain(), ("INV-TRAIN-007",), "reduction-sum")
    pair("the same batch every step", plain("same_batch"), plain(), ("INV-HEALTH-006",), "same-batch")
    pair("a generalisation gap at once (one batch memorised, model not watched)", plain("same_batch+unwatched"),
         plain("unwatched"), ("INV-HEALTH-007",), "same-batch-unwatched")
    pair("non-finite gradients clipped silently", plain("inf_grad"), plain("inf_grad+skip_nonfinite"),
         ("INV-TRAIN-002", "INV-TRAIN-001"), "nonfinite-clipped")
    pair("resume forgets the RNG state", resumed("rng"), resumed(), ("INV-HEALTH-008",), "resume-rng")
    pair("resume forgets the optimizer state", resumed("optimizer"), resumed(), ("INV-HEALTH-009",),
         "resume-optimizer")
    pair("representation collapse (SimSiam without stop-gradient)", simsiam(False), simsiam(True),
         ("INV-HEALTH-011",), "simsiam")
    # schedules: the four faults, each with a clean twin
    hf_cos, hf_cos_decl = schedulers()["hf_cosine"]
    pair("per-step schedule stepped per epoch", scheduled(hf_cos, hf_cos_decl, "sched_per_epoch"),
         scheduled(hf_cos, hf_cos_decl), ("INV-LR-002", "INV-LR-003"), "sched-per-epoch")
    from torch.optim import lr_scheduler as L

    pair("T_max counted in epochs, stepped per batch",
         scheduled(lambda o: L.CosineAnnealingLR(o, T_max=EPOCHS), {"peak_lr": LR, "total_steps": T,
                                                                     "lr_schedule": "cosine"}),
         scheduled(lambda o: L.CosineAnnealingLR(o, T_max=T), {"peak_lr": LR, "total_steps": T,
                                                                "lr_schedule": "cosine"}),
         ("INV-LR-003",), "tmax-in-epochs")
    pair("scheduler advancing on a skipped step", scheduled(hf_cos, hf_cos_decl, "inf_grad+skip_nonfinite+sched_on_skip"),
         scheduled(hf_cos, hf_cos_decl, "inf_grad+skip_nonfinite"), ("INV-LR-002",), "sched-on-skip")
    pair("warmup restarting after a resume (scheduler state not restored)",
         resumed("scheduler", hf_cos, hf_cos_decl), resumed("", hf_cos, hf_cos_decl),
         ("INV-HEALTH-010", "INV-LR-002", "INV-LR-003"), "resume-scheduler")
    # clean loops with every real scheduler, and special clean runs
    for name, (make, declared) in {**schedulers(), **per_epoch_schedulers()}.items():
        out.append(Case(name, "clean", "real scheduler", scheduled(make, declared)))
    out.append(Case("constant-lr-no-scheduler", "clean", "real scheduler", plain()))
    out.append(Case("mse-regression-finetune", "clean", "loss out of the cap's scope", regression))
    return out
