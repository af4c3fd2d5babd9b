"""A synthetic, varied, valid corpus of contracts and the test tree they name.

Used by ``tools/bench/validate.py``. Every contract is different: ids, expressions,
constants, lets, params, changelog, dependencies and test references all vary with a
seeded random generator, so the benchmark exercises real parsing and checking rather
than one document copied many times (identical text would flatter any memo). The
corpus is deterministic for a given seed and size, and valid by construction:
``pv validate`` must report zero errors on it (the benchmark asserts that).

Layout under the corpus root::

    pyproject.toml                       (marks the repository root)
    contracts/bench-<n>-v1.yaml          (about 10 KB each)
    tests/bench_<n>/test_contract_<n>.py (the tests its gates and falsifiers name)
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

INVARIANTS_PER_CONTRACT = 20
GATES_PER_CONTRACT = 20


def q(text: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is a subset of it)."""
    return json.dumps(text, ensure_ascii=False)


def num(rng: random.Random, lo: float, hi: float, digits: int = 2) -> str:
    value = round(rng.uniform(lo, hi), digits)
    return f"{value:.{digits}f}"


# --------------------------------------------------------------------------- invariant templates
#
# Each template returns a dict: at, title, check, and optionally when, let (name -> text or
# {regime: text}), params (name -> YAML flow mapping text), metrics (name -> flow mapping),
# description. Metric names come from pvcontracts.contract.vocabulary at the right boundary.

_PARAMS = {
    "vocab_size": "{type: int, min: 2, description: Vocabulary size; supplied by the from_scratch regime.}",
    "peak_lr": "{type: float, min: 0.0, description: Peak learning rate of the schedule.}",
    "min_lr": "{type: float, min: 0.0, default: 0.0}",
    "warmup_steps": "{type: int, min: 0, default: 0, description: Linear warmup length in optimizer steps.}",
    "total_steps": "{type: int, min: 1, description: Optimizer steps in the whole run.}",
    "grad_window": "{type: int, min: 1, max: 1000, default: 50}",
    "keep_last": "{type: int, min: 1, max: 100, default: 3, description: Periodic checkpoints kept on disk.}",
    "lr_schedule": "{type: enum, values: [cosine, linear, constant], default: cosine}",
    "clip_norm": "{type: float, min: 0.0, default: 1.0}",
    "target_coverage": "{type: float, min: 0.0, max: 1.0, default: 0.9}",
    "strict_resume": "{type: bool, default: true}",
}

_METRICS = {
    "tokens_per_second": "{at: [step_end], unit: tokens/s, description: Training throughput.}",
    "loss_scale": "{at: [step_end], description: Dynamic loss scale of mixed precision.}",
    "eval_accuracy": "{at: [eval_end, epoch_end], description: Accuracy on the held-out split.}",
}


def _t_finite_loss(rng):
    return dict(at="step_end", title="Training loss is finite at every step", check="isfinite(loss)")


def _t_grad_norm(rng):
    c = num(rng, 10, 1000, 1)
    return dict(at="step_end", title=f"Gradient norm stays finite and under {c}", when="optimizer_stepped",
                check=f"isfinite(grad_norm) and grad_norm <= {c}",
                description="A non-finite or exploding gradient norm poisons the weights on the next update.")


def _t_peak_lr(rng):
    c = num(rng, 1.0, 1.1, 3)
    return dict(at="step_end", title="Learning rate never exceeds the schedule's peak",
                check=f"lr <= peak_lr * {c}", params=["peak_lr"])


def _t_update_ratio(rng):
    c = f"{rng.uniform(1e-3, 1e-1):.3g}"
    return dict(at="step_end", title="Relative update size stays small", when="optimizer_stepped",
                check=f"update_ratio < {c}")


def _t_loss_jump(rng):
    c = num(rng, 0.5, 4.0)
    floor = num(rng, 0.5, 2.0, 1)
    return dict(at="step_end", title="No single step multiplies the loss", when="step > 0",
                check=f"abs(loss - prev(loss)) <= {c} * max(abs(prev(loss)), {floor})")


def _t_sched_sync(rng):
    k = rng.randint(0, 3)
    return dict(at="step_end", title="Scheduler steps track optimizer steps",
                check=f"optimizer_steps <= scheduler_steps + {k}" if k else "optimizer_steps == scheduler_steps",
                description="A skipped scheduler.step() silently stretches the schedule.")


def _t_window_loss(rng):
    w = rng.choice((10, 20, 50, 100, 200))
    c = num(rng, 1.0, 3.0)
    return dict(at="step_end", title=f"Mean loss over {w} steps stays near its start", when=f"step >= {w}",
                check=f"window_mean(loss, {w}) <= {c} * first(loss)")


def _t_grads_cleared(rng):
    return dict(at="step_end", title="Gradients are cleared before every optimizer step",
                check="not optimizer_stepped or grads_cleared")


def _t_warmup(rng):
    c = num(rng, 1.0, 1.05, 3)
    return dict(at="step_end", title="Warmup ramps linearly to the peak", when="step < warmup_steps",
                check=f"lr <= peak_lr * (step + 1) / warmup_steps * {c}", params=["peak_lr", "warmup_steps"])


def _t_clip_window(rng):
    c = num(rng, 1.5, 20.0, 1)
    return dict(at="step_end", title="Gradient norm over a window stays within the clip budget",
                when="step >= grad_window", check="window_max(grad_norm, grad_window) <= budget",
                let={"budget": f"clip_norm * {c}"}, params=["grad_window", "clip_norm"])


def _t_throughput(rng):
    c = rng.choice((100, 250, 500, 1000, 2000, 5000))
    return dict(at="step_end", title="Throughput does not collapse", when=f"step > {rng.randint(5, 50)}",
                check=f"tokens_per_second >= {c}", metrics=["tokens_per_second"], on_violation="warn")


def _t_loss_scale(rng):
    lo = rng.choice(("1.0", "0.5", "0.125"))
    return dict(at="step_end", title="Mixed-precision loss scale stays above its floor",
                check=f"loss_scale >= {lo} and isfinite(loss_scale)", metrics=["loss_scale"], on_violation="record")


def _t_cosine_floor(rng):
    c = num(rng, 0.9, 1.0, 3)
    return dict(at="step_end", title="Cosine schedule never goes below its floor",
                when='lr_schedule == "cosine" and step >= warmup_steps',
                check=f"lr >= min_lr * {c}", params=["lr_schedule", "warmup_steps", "min_lr"])


def _t_epoch0_cap(rng):
    c = num(rng, 6.0, 14.0, 1)
    k = num(rng, 1.5, 2.5, 2)
    return dict(at="epoch_end", title="Epoch-zero validation loss stays under the regime's cap", when="epoch == 0",
                check="val_loss <= cap", let={"cap": {"finetune": c, "from_scratch": f"{k} * ln(vocab_size)"}},
                params=["vocab_size"],
                description=(f"Fine-tuning starts from a trained model, so a first validation loss above {c} means "
                             f"the run is broken. Pretraining from scratch starts near ln(vocab_size); {k} times "
                             "that is the cap."))


def _t_growth(rng):
    c = num(rng, 1.2, 2.0, 2)
    return dict(at="epoch_end", title="Validation loss does not blow up between epochs", when="epoch > 0",
                check="val_loss < growth_limit * prev(val_loss)", let={"growth_limit": c})


def _t_coverage(rng):
    c = num(rng, 0.5, 0.99, 2)
    return dict(at="epoch_end", title=f"Coverage stays at or above {c}", when=f"epoch >= {rng.randint(1, 5)}",
                check=f"coverage >= {c}")


def _t_compliance(rng):
    return dict(at=rng.choice(("epoch_end", "eval_end")), title="Generated outputs follow the graph and the rules",
                check=f"edge_compliance >= {num(rng, 0.8, 0.999, 3)} and rule_compliance >= {num(rng, 0.8, 0.999, 3)}")


def _t_overfit(rng):
    return dict(at="epoch_end", title="Training loss does not run away below validation loss",
                check=f"train_loss >= val_loss * {num(rng, 0.2, 0.8)} - {num(rng, 0.0, 1.0)}")


def _t_collapse(rng):
    c = f"{rng.uniform(1e-4, 1e-1):.2g}"
    return dict(at=rng.choice(("epoch_end", "step_end")), title="Predictions do not collapse to a point",
                check=f"pred_var_per_dim >= {c} * target_var_per_dim",
                description="Representation collapse shows first as a vanishing per-dimension variance.")


def _t_pairwise(rng):
    c = num(rng, 0.05, 0.5)
    return dict(at="epoch_end", title="Pairwise prediction distance keeps a fraction of its start",
                check=f"pairwise_pred_dist_mean >= {c} * initial_pairwise_pred_dist_mean")


def _t_ranks_agree(rng):
    return dict(at="epoch_end", title="All ranks hold the same parameters", when="world_size > 1",
                check="param_checksum_min == param_checksum_max")


def _t_relative_best(rng):
    c = num(rng, 1.05, 1.6, 2)
    return dict(at="epoch_end", title="Validation loss stays near its first value", when="epoch >= 1",
                check="val_loss <= limit", let={"base": "first(val_loss)", "limit": f"base * {c}"})


def _t_train_floor(rng):
    c = num(rng, 0.05, 0.5, 2)
    return dict(at="epoch_end", title="Training loss stays above the regime's floor",
                check="train_loss >= loss_floor", params=["vocab_size"],
                let={"loss_floor": {"finetune": "0.0", "from_scratch": f"{c} / vocab_size"}})


def _t_coverage_gap(rng):
    return dict(at="eval_end", title="Coverage stays near its target",
                check=f"coverage_gap <= {num(rng, 0.01, 0.2, 3)}")


def _t_accuracy(rng):
    return dict(at="eval_end", title="Held-out accuracy does not regress", when="epoch > 0",
                check=f"eval_accuracy >= prev(eval_accuracy) - {num(rng, 0.01, 0.1, 3)}", metrics=["eval_accuracy"],
                on_violation="warn")


def _t_target_cov(rng):
    return dict(at="epoch_end", title="Coverage converges to its target",
                when=f"epoch >= {rng.randint(3, 10)}", check=f"abs(coverage - target_coverage) <= {num(rng, 0.01, 0.1, 3)}",
                params=["target_coverage"])


def _t_ckpt_state(rng):
    extra = rng.choice(("", " and state_has_counters"))
    return dict(at="checkpoint", title="A checkpoint holds everything a resume needs",
                check=f"state_has_model and state_has_optimizer and state_has_scheduler{extra}")


def _t_ckpt_rng(rng):
    return dict(at="checkpoint", title="Every RNG stream in use is saved", check="rng_states_saved >= rng_states_required")


def _t_ckpt_retained(rng):
    return dict(at="checkpoint", title="Retention keeps at most keep_last checkpoints",
                check="checkpoints_retained <= keep_last", params=["keep_last"])


def _t_ckpt_atomic(rng):
    return dict(at="checkpoint", title="Checkpoints are written atomically", check="checkpoint_atomic")


def _t_resume_step(rng):
    return dict(at="resume", title="Resuming restores the step counter", check="resumed_step == checkpoint_step")


def _t_resume_params(rng):
    return dict(at="resume", title="Resuming restores the parameters bit for bit",
                check=f"abs(param_checksum - checkpoint_param_checksum) <= {rng.choice(('0.0', '1e-06', '1e-09'))}")


def _t_resume_state(rng):
    return dict(at="resume", title="Resuming restores optimizer, scheduler and RNG state",
                when="strict_resume", params=["strict_resume"],
                check="optimizer_restored and scheduler_restored and rng_states_restored >= rng_states_required")


def _t_run_budget(rng):
    return dict(at="run_end", title="A run never exceeds its epoch budget", check="epochs_run <= max_epochs")


def _t_run_failure(rng):
    return dict(at="run_end", title="A short run records why it stopped",
                check=f"failure_recorded or epochs_run >= {rng.randint(1, 20)}")


def _t_gate_retained(rng):
    return dict(at="run_end", title="The checkpoint that passed the gate survives retention",
                check="gate_pass_retained or not gate_passed")


TEMPLATES = (
    _t_finite_loss, _t_grad_norm, _t_peak_lr, _t_update_ratio, _t_loss_jump, _t_sched_sync, _t_window_loss,
    _t_grads_cleared, _t_warmup, _t_clip_window, _t_throughput, _t_loss_scale, _t_cosine_floor,
    _t_epoch0_cap, _t_growth, _t_coverage, _t_compliance, _t_overfit, _t_collapse, _t_pairwise, _t_ranks_agree,
    _t_relative_best, _t_train_floor, _t_coverage_gap, _t_accuracy, _t_target_cov,
    _t_ckpt_state, _t_ckpt_rng, _t_ckpt_retained, _t_ckpt_atomic,
    _t_resume_step, _t_resume_params, _t_resume_state,
    _t_run_budget, _t_run_failure, _t_gate_retained,
)

_AREAS = ("training loop", "learning-rate schedule", "checkpointing", "resume", "evaluation", "distributed training",
          "representation learning", "mixed precision", "data pipeline", "early stopping")
_NOUNS = ("divergence", "collapse", "drift", "overflow", "stall", "regression", "corruption", "skew")


# --------------------------------------------------------------------------- tests named by gates


@dataclass
class _TestFile:
    """The test module of one contract, grown as gates and falsifiers name tests in it."""

    n: int
    rng: random.Random
    blocks: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"tests/bench_{self.n}/test_contract_{self.n}.py"

    def ref(self, name: str) -> str:
        return f"{self.path}::{name}"

    def function(self, name: str, body: str) -> str:
        self.blocks.append(f"def {name}():\n{body}\n")
        return self.ref(name)

    def parametrized(self, name: str) -> str:
        """A parametrized test and one of the ids pytest gives it."""
        style = self.rng.randrange(4)
        if style == 0:
            scales = ("0.5", "1.0", "2.0")
            ids = ("half", "unit", "double")
            deco = f'@pytest.mark.parametrize("scale", [{", ".join(scales)}], ids={list(ids)!r})'
            sig, pick = "scale", self.rng.choice(ids)
            body = "    assert scale > 0\n    assert math.isfinite(math.log(scale))\n"
        elif style == 1:
            steps = sorted(self.rng.sample((1, 2, 5, 10, 50, 100, 500, 1000), 3))
            deco = f'@pytest.mark.parametrize("steps", {steps!r})'
            sig, pick = "steps", str(self.rng.choice(steps))
            body = "    schedule = [1.0 / (1 + s) for s in range(steps)]\n    assert all(a >= b for a, b in zip(schedule, schedule[1:]))\n"
        elif style == 2:
            deco = '@pytest.mark.parametrize("regime", ["finetune", "from_scratch"])'
            sig, pick = "regime", self.rng.choice(("finetune", "from_scratch"))
            body = ("    cap = 10.0 if regime == \"finetune\" else 2.0 * math.log(50257)\n"
                    "    assert cap >= 10.0\n")
        else:
            deco = ('@pytest.mark.parametrize("world_size", [1, 2, 8])\n'
                    '@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])')
            sig = "world_size, dtype"
            pick = f"{self.rng.choice(('float32', 'bfloat16'))}-{self.rng.choice((1, 2, 8))}"  # closest mark first
            body = "    checksums = [float(world_size)] * world_size\n    assert min(checksums) == max(checksums)\n    assert dtype\n"
        self.blocks.append(f"{deco}\ndef {name}({sig}):\n{body}\n")
        return f"{self.ref(name)}[{pick}]"

    def klass(self, cls: str, methods: list[str]) -> list[str]:
        lines = [f"class {cls}:", f'    """Checks of {cls[4:]} at the boundaries the contract names."""', ""]
        for m in methods:
            c = num(self.rng, 0.1, 10.0)
            lines += [f"    def {m}(self):", f"        value = {c}", "        assert math.isfinite(value)", ""]
        self.blocks.append("\n".join(lines) + "\n")
        return [f"{self.path}::{cls}::{m}" for m in methods]

    def render(self) -> str:
        head = (f'"""Evidence for contract bench-{self.n}-v1 (generated by tools/bench/validate_corpus.py)."""\n\n'
                "import math\n\nimport pytest\n\n\n"
                "def _helper_loss(values):\n    return sum(values) / max(len(values), 1)\n\n\n")
        return head + "\n\n".join(self.blocks)


# --------------------------------------------------------------------------- one contract


def _let_yaml(lines: list[str], let: dict) -> None:
    lines.append("    let:")
    for name, value in let.items():
        if isinstance(value, dict):
            lines.append(f"      {name}:")
            for regime, text in value.items():
                lines.append(f"        {regime}: {q(text)}")
        else:
            lines.append(f"      {name}: {q(value)}")


def _contract(n: int, rng: random.Random, deps: list[int], dep_invariants: list[str], status: str) -> tuple[str, str]:
    area = f"B{n}"
    cid = f"bench-{n}-v1"
    tests = _TestFile(n, rng)
    topic = rng.choice(_AREAS)

    # changelog: newest first, the first entry is the current version
    major, minor = rng.randint(1, 3), rng.randint(0, 9)
    versions = []
    for p in range(rng.randint(0, 2), -1, -1):
        versions.append(f"{major}.{minor}.{p}")
    for m in range(minor - 1, max(minor - 3, -1), -1):
        versions.append(f"{major}.{m}.0")
    year, month = 2026, 12
    changelog = []
    for i, v in enumerate(versions):
        day = 28 - i * 3 % 27
        month_i = max(1, month - i)
        changelog.append((v, f"{year}-{month_i:02d}-{day:02d}",
                          f"{'Initial release' if i == len(versions) - 1 else rng.choice(_NOUNS).capitalize() + ' guard'} "
                          f"of the {topic}; invariant INV-{area}-{rng.randint(1, INVARIANTS_PER_CONTRACT):03d} "
                          f"tightened to {num(rng, 0.1, 20.0)}."))

    invariants = []
    params: dict[str, str] = {}
    metrics: dict[str, str] = {}
    for k in range(1, INVARIANTS_PER_CONTRACT + 1):
        t = rng.choice(TEMPLATES)(rng)
        t["id"] = f"INV-{area}-{k:03d}"
        for p in t.get("params", ()):
            params[p] = _PARAMS[p]
        for m in t.get("metrics", ()):
            metrics[m] = _METRICS[m]
        invariants.append(t)

    lines = [
        "# yaml-language-server: $schema=../src/pvcontracts/contract/schemas/contract-v1.schema.json",
        "schema_version: 1",
        f"id: {cid}",
        f"version: {versions[0]}",
        f"status: {status}",
        f"title: {rng.choice(_NOUNS).capitalize()} guards of the {topic} (bench {n})",
        "description: >",
        f"  Synthetic contract {n} of the validate benchmark. It guards the {topic} against",
        f"  {rng.choice(_NOUNS)} and {rng.choice(_NOUNS)}, with invariants at every boundary the runtime knows",
        "  and gates discharged by the generated tests under tests/.",
    ]
    if deps:
        lines.append(f"depends_on: [{', '.join(f'bench-{d}-v1' for d in deps)}]")
    lines.append("changelog:")
    for v, date, summary in changelog:
        lines += [f"  - version: {v}", f"    date: {date}", f"    summary: {q(summary)}"]
    if params:
        lines.append("params:")
        lines += [f"  {name}: {decl}" for name, decl in sorted(params.items())]
    if metrics:
        lines.append("metrics:")
        lines += [f"  {name}: {decl}" for name, decl in sorted(metrics.items())]
    lines.append("invariants:")
    for t in invariants:
        lines += [f"  - id: {t['id']}", f"    title: {q(t['title'])}"]
        if t.get("description"):
            lines.append(f"    description: {q(t['description'])}")
        lines.append(f"    at: {t['at']}")
        if t.get("when"):
            lines.append(f"    when: {q(t['when'])}")
        lines.append(f"    check: {q(t['check'])}")
        if t.get("let"):
            _let_yaml(lines, t["let"])
        if "on_violation" in t or rng.random() < 0.7:
            lines.append(f"    on_violation: {t.get('on_violation', 'abort')}")

    lines.append("gates:")
    for k in range(1, GATES_PER_CONTRACT + 1):
        inv = f"INV-{area}-{k:03d}"
        covered = [inv]
        if rng.random() < 0.3:
            other = f"INV-{area}-{rng.randint(1, INVARIANTS_PER_CONTRACT):03d}"
            if other != inv:
                covered.append(other)
        if dep_invariants and rng.random() < 0.15:
            covered.append(rng.choice(dep_invariants))
        stem = f"inv_{k:03d}"
        refs = [tests.function(f"test_{stem}_holds",
                               f"    losses = [2.5, 2.1, 1.9]\n    assert _helper_loss(losses) < {num(rng, 3, 9)}")]
        kind = rng.random()
        if kind < 0.4:
            refs.append(tests.parametrized(f"test_{stem}_edge"))
        elif kind < 0.75:
            refs += tests.klass(f"TestInvariant{k:03d}", [f"test_rejects_{stem}",
                                                         f"test_reports_values_{k}"])[: rng.randint(1, 2)]
        elif kind < 0.85:
            refs.append(tests.function(f"test_{stem}_reported",
                                       f"    observed = {{'step': {rng.randint(0, 10000)}, 'epoch': {rng.randint(0, 90)}}}\n"
                                       "    assert observed['step'] >= 0"))
        lines.append(f"  - id: GATE-{area}-{k:03d}")
        if rng.random() < 0.25:
            lines.append(f"    title: {q(invariants[k - 1]['title'] + ' is shown by tests')}")
        lines += [f"    invariants: [{', '.join(covered)}]",
                  f"    ship_blocking: {'true' if rng.random() < 0.7 else 'false'}",
                  "    evidence_discharged_by:"]
        lines += [f"      - {r}" for r in refs]

    falsified = sorted(rng.sample(range(1, INVARIANTS_PER_CONTRACT + 1), rng.randint(2, 5)))
    lines.append("falsifiers:")
    for k in falsified:
        t = invariants[k - 1]
        ref = tests.function(f"test_falsify_{k:03d}_property",
                             f"    for x in range({rng.randint(5, 50)}):\n        assert x * x >= 0")
        lines += [f"  - id: FALSIFY-{area}-{k:03d}",
                  f"    invariant: INV-{area}-{k:03d}",
                  f"    prediction: {q('No healthy run violates: ' + t['check'])}",
                  f"    if_fails: {q('The check of INV-' + area + f'-{k:03d} drifted from the contract')}",
                  f"    test: {ref}"]
    return "\n".join(lines) + "\n", tests.render()


# --------------------------------------------------------------------------- the corpus


@dataclass
class Corpus:
    root: Path
    contracts_dir: Path
    files: list[Path]
    test_files: int
    total_bytes: int


def build_corpus(root: Path, count: int, seed: int = 20261121) -> Corpus:
    """Write ``count`` contracts and their test tree under ``root``; deterministic for a seed."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text('[project]\nname = "bench-corpus"\nversion = "0"\n', encoding="utf-8")
    contracts_dir = root / "contracts"
    contracts_dir.mkdir(exist_ok=True)
    statuses: dict[int, str] = {}
    files: list[Path] = []
    total = 0
    for n in range(1, count + 1):
        r = rng.random()
        statuses[n] = "active" if r < 0.85 else ("draft" if r < 0.95 else "deprecated")
        candidates = [d for d in range(max(1, n - 40), n) if statuses[d] != "deprecated"]
        deps = sorted(rng.sample(candidates, min(len(candidates), rng.randint(0, 3))))
        dep_invariants = [f"INV-B{d}-{rng.randint(1, INVARIANTS_PER_CONTRACT):03d}" for d in deps]
        text, test_source = _contract(n, rng, deps, dep_invariants, statuses[n])
        path = contracts_dir / f"bench-{n}-v1.yaml"
        data = text.encode("utf-8")
        path.write_bytes(data)
        total += len(data)
        files.append(path)
        test_dir = root / "tests" / f"bench_{n}"
        test_dir.mkdir(parents=True, exist_ok=True)
        (test_dir / f"test_contract_{n}.py").write_text(test_source, encoding="utf-8")
    return Corpus(root, contracts_dir, sorted(files), count, total)
