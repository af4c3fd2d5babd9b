"""Benchmark the framework adapters: the same run with and without the contracts, per framework, as a ratio.

    python tools/bench/adapters.py                                  # 3 pairs of 60 steps, every framework
    python tools/bench/adapters.py --frameworks lightning --steps 10 --pairs 1   # smoke

For each framework (HuggingFace ``Trainer``, PyTorch Lightning, an ``Accelerator`` loop) a
*run* builds a GPT-2 from config (4 layers, 128 wide, sequences of 128 bytes of the
standard library's source, batch 8, gradient accumulation 2, AdamW, HF's cosine schedule
with warmup, clipping at 1.0) from the same seed and trains ``--steps`` optimizer steps;
a *monitored* run adds the framework's adapter with every shipped contract (from_scratch
regime; the adapter's defaults from the framework), ledger included. Timed: from building
the trainer (and the adapter) to the end of training, so the adapter's one-off cost
(loading and compiling the contracts) counts too. A *pair* is a bare and a monitored
run in this process, in alternating order (ABBA) so drifting load on a shared machine
slows both alike; one untimed warm-up pair per framework comes first. The ratio is
monitored / bare of the median run times; the goal is at most 1.03. A monitored run with
a violation fails the benchmark (exit 1), as does ``--enforce`` with a ratio above the goal.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

GOAL = 1.03
SEQ, BATCH, ACCUMULATION = 128, 8, 2


def corpus() -> torch.Tensor:
    import importlib

    text = b"\n".join(inspect.getsource(importlib.import_module(m)).encode() for m in ("argparse", "difflib", "textwrap"))
    return torch.frombuffer(bytearray(text), dtype=torch.uint8).long()


class Windows(torch.utils.data.Dataset):
    def __init__(self, count: int) -> None:
        self.data = corpus()
        self.count = min(count, len(self.data) // SEQ)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        x = self.data[i * SEQ:(i + 1) * SEQ]
        return {"input_ids": x, "labels": x.clone()}


def gpt2() -> torch.nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=256, n_positions=SEQ, n_embd=128, n_layer=4, n_head=4,
                                      bos_token_id=0, eos_token_id=0))


def _samples(steps: int) -> int:
    return steps * BATCH * ACCUMULATION


# =============================================================================== one run per framework


def run_transformers(steps: int, monitored: bool, out: Path) -> Any:
    from transformers import Trainer, TrainingArguments

    from pvcontracts.integrations.transformers import ContractsCallback

    args = TrainingArguments(output_dir=str(out), max_steps=steps, per_device_train_batch_size=BATCH,
                             gradient_accumulation_steps=ACCUMULATION, learning_rate=1e-3, lr_scheduler_type="cosine",
                             warmup_steps=steps // 10, max_grad_norm=1.0, eval_strategy="no", save_strategy="no",
                             logging_strategy="no", report_to=[], use_cpu=True, seed=0, disable_tqdm=True,
                             dataloader_num_workers=0)
    callback = ContractsCallback(regime="from_scratch") if monitored else None
    trainer = Trainer(model=gpt2(), args=args, train_dataset=Windows(_samples(steps)),
                      callbacks=[callback] if callback else None)
    trainer.train()
    return callback.monitor if callback else None


def run_lightning(steps: int, monitored: bool, out: Path) -> Any:
    import lightning.pytorch as pl
    from transformers import get_cosine_schedule_with_warmup

    from pvcontracts.integrations.lightning import ContractsCallback

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = gpt2()
            self.config = self.model.config

        def training_step(self, batch: dict[str, torch.Tensor], index: int) -> torch.Tensor:
            return self.model(**batch).loss

        def configure_optimizers(self) -> Any:
            opt = torch.optim.AdamW(self.parameters(), lr=1e-3)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": get_cosine_schedule_with_warmup(
                opt, steps // 10, steps), "interval": "step"}}

    callback = ContractsCallback(regime="from_scratch") if monitored else None
    trainer = pl.Trainer(max_steps=steps, accelerator="cpu", devices=1, default_root_dir=str(out),
                         callbacks=[callback] if callback else [], accumulate_grad_batches=ACCUMULATION,
                         gradient_clip_val=1.0, enable_progress_bar=False, logger=False, enable_checkpointing=False,
                         enable_model_summary=False, num_sanity_val_steps=0)
    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(Windows(_samples(steps)), batch_size=BATCH, shuffle=True)
    trainer.fit(Module(), loader)
    return callback.monitor if callback else None


def run_accelerate(steps: int, monitored: bool, out: Path) -> Any:
    from accelerate import Accelerator
    from transformers import get_cosine_schedule_with_warmup

    from pvcontracts.integrations.accelerate import AcceleratorContracts

    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=ACCUMULATION)
    contracts = AcceleratorContracts(accelerator, regime="from_scratch", output_dir=out) if monitored else None
    model = gpt2()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(Windows(_samples(steps)), batch_size=BATCH, shuffle=True)
    scheduler = get_cosine_schedule_with_warmup(optimizer, steps // 10, steps)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    if contracts is not None:
        contracts.watch(model, optimizer, scheduler, total_steps=steps)
    for batch in loader:
        with accelerator.accumulate(model):
            loss = model(**batch).loss
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                norm = accelerator.clip_grad_norm_(model.parameters(), 1.0)
                if contracts is not None:
                    contracts.observe(grad_norm=norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        if contracts is not None:
            contracts.step_end()
    if contracts is not None:
        contracts.epoch_end()
        contracts.run_end()
        return contracts.monitor
    return None


RUNS: dict[str, Callable[[int, bool, Path], Any]] = {
    "transformers": run_transformers, "lightning": run_lightning, "accelerate": run_accelerate}


# =============================================================================== timing


def timed(fn: Callable[[int, bool, Path], Any], steps: int, monitored: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gc.collect()
        start = time.perf_counter()
        monitor = fn(steps, monitored, Path(tmp))
        elapsed = time.perf_counter() - start
    if monitored:
        if monitor is None or monitor.violations:
            raise SystemExit(f"a monitored run found violations: {[v.message() for v in (monitor.violations or [])]}")
        if monitor.step != steps:
            raise SystemExit(f"the monitor counted {monitor.step} steps, the run took {steps}")
    return elapsed


def bench(name: str, steps: int, pairs: int) -> dict[str, Any]:
    fn = RUNS[name]
    timed(fn, steps, False)  # warm-up: imports, allocator, first-call costs
    timed(fn, steps, True)
    bare: list[float] = []
    monitored: list[float] = []
    for i in range(pairs):
        order = [False, True] if i % 2 == 0 else [True, False]  # ABBA
        for with_contracts in order:
            (monitored if with_contracts else bare).append(timed(fn, steps, with_contracts))
    ratio = statistics.median(monitored) / statistics.median(bare)
    return {"framework": name, "steps": steps, "bare_s": bare, "monitored_s": monitored, "ratio": round(ratio, 4)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frameworks", default=",".join(RUNS), help="comma-separated: " + ", ".join(RUNS))
    p.add_argument("--steps", type=int, default=60, help="optimizer steps per run")
    p.add_argument("--pairs", type=int, default=3, help="timed bare/monitored pairs per framework")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: no fighting on shared cores)")
    p.add_argument("--json", type=Path, default=None, help="also write the results to this file as JSON")
    p.add_argument("--enforce", action="store_true", help=f"exit 1 when a ratio is above {GOAL}")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    results = []
    for name in [n.strip() for n in args.frameworks.split(",") if n.strip()]:
        if name not in RUNS:
            print(f"unknown framework {name!r}; choose from {', '.join(RUNS)}", file=sys.stderr)
            return 2
        result = bench(name, args.steps, args.pairs)
        results.append(result)
        print(f"{name:13s} {args.steps} steps: bare {statistics.median(result['bare_s']):.2f} s, with the "
              f"contracts {statistics.median(result['monitored_s']):.2f} s (medians of {args.pairs}): "
              f"ratio {result['ratio']:.3f} (goal <= {GOAL})", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    if args.enforce and any(r["ratio"] > GOAL for r in results):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
