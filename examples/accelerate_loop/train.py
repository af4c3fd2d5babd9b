"""An Accelerate loop under the shipped contracts: a 2-layer Llama from config, bytes of Python's own source.

    python examples/accelerate_loop/train.py [--out DIR] [--quick] [--no-check]
    accelerate launch --cpu --num_processes 2 examples/accelerate_loop/train.py   # two ranks, one ledger each

The loop is Accelerate's own; the contracts add three calls: ``AcceleratorContracts(accelerator, ...)``
(which sees every ``accelerator.backward`` and registers itself for checkpointing),
``contracts.watch(model, optimizer, scheduler)`` after ``prepare``, and ``contracts.step_end()``
/ ``epoch_end`` / ``run_end`` at the loop's boundaries. ``accelerator.save_state`` carries the
monitor's state. The run ends with ``pv check`` taking the ledger as runtime evidence.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded: the model is built from a config
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from accelerate import Accelerator  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM, get_cosine_schedule_with_warmup  # noqa: E402

import _frameworks as fw  # noqa: E402
from pvcontracts.integrations.accelerate import AcceleratorContracts  # noqa: E402

SEQ = 64


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader: torch.utils.data.DataLoader, accelerator: Accelerator) -> float:
    model.eval()
    losses = [accelerator.gather(model(**batch).loss.reshape(1)) for batch in loader]
    model.train()
    return float(torch.cat(losses).mean())  # a read, once per epoch


def main() -> int:
    args = fw.arguments(__doc__.splitlines()[0], "accelerate_loop")
    out = Path(args.out)
    torch.manual_seed(0)
    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=2)
    contracts = AcceleratorContracts(accelerator, regime="from_scratch", output_dir=out)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=fw.VOCAB, hidden_size=64, intermediate_size=128,
                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                                         max_position_embeddings=SEQ, bos_token_id=0, eos_token_id=0, pad_token_id=0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    train = torch.utils.data.DataLoader(fw.Windows("train", SEQ, 64 if args.quick else None), batch_size=8,
                                        shuffle=True)
    val = torch.utils.data.DataLoader(fw.Windows("val", SEQ, 16 if args.quick else 64), batch_size=32)
    epochs = 1 if args.quick else 2
    steps = len(train) * epochs // 2  # the schedule in single-process steps, as Accelerate expects it
    scheduler = get_cosine_schedule_with_warmup(optimizer, min(10, steps // 4), steps)
    model, optimizer, train, val, scheduler = accelerator.prepare(model, optimizer, train, val, scheduler)
    contracts.watch(model, optimizer, scheduler, total_steps=steps)
    for epoch in range(epochs):
        for batch in train:
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    contracts.observe(grad_norm=accelerator.clip_grad_norm_(model.parameters(), 1.0))
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            contracts.step_end()
        contracts.epoch_end(val_loss=evaluate(model, val, accelerator))
        accelerator.save_state(str(out / "checkpoint"))
    contracts.run_end()
    fw.report(contracts.monitor, out / "ledger.jsonl")
    ledgers = sorted(out.glob("ledger*.jsonl"))
    if args.no_check or not accelerator.is_main_process:
        return 0
    return fw.pv_check(ledgers, out)


if __name__ == "__main__":
    sys.exit(main())
