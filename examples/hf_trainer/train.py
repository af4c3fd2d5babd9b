"""A HuggingFace Trainer run under the shipped contracts: a 2-layer GPT-2 from config, bytes of Python's own source.

    python examples/hf_trainer/train.py [--out DIR] [--quick] [--no-check]

One line turns the run into a monitored one: ``callbacks=[ContractsCallback(regime="from_scratch")]``.
The adapter reads the schedule from the Trainer's own scheduler (cosine with warmup), the
total steps and peak LR from its arguments, the vocabulary from the model's config, and
writes ``ledger.jsonl`` into the run's output directory. The run ends with ``pv check``
taking that ledger as runtime evidence.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded: the model is built from a config
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments  # noqa: E402

import _frameworks as fw  # noqa: E402
from pvcontracts.integrations.transformers import ContractsCallback  # noqa: E402

SEQ = 64


def main() -> int:
    args = fw.arguments(__doc__.splitlines()[0], "hf_trainer")
    out = Path(args.out)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=fw.VOCAB, n_positions=SEQ, n_embd=64, n_layer=2, n_head=4,
                                       bos_token_id=0, eos_token_id=0))
    training = TrainingArguments(
        output_dir=str(out), num_train_epochs=1 if args.quick else 2, max_steps=4 if args.quick else -1,
        per_device_train_batch_size=8, per_device_eval_batch_size=32, gradient_accumulation_steps=2,
        learning_rate=2e-3, lr_scheduler_type="cosine", warmup_steps=1 if args.quick else 10, weight_decay=0.01,
        max_grad_norm=1.0, eval_strategy="epoch", save_strategy="epoch", logging_steps=20, report_to=[],
        use_cpu=True, seed=0,
        disable_tqdm=True, dataloader_num_workers=0)
    contracts = ContractsCallback(regime="from_scratch")  # the one line
    trainer = Trainer(model=model, args=training, train_dataset=fw.Windows("train", SEQ, 64 if args.quick else None),
                      eval_dataset=fw.Windows("val", SEQ, 16 if args.quick else 64), callbacks=[contracts])
    trainer.train()
    fw.report(contracts.monitor, out / "ledger.jsonl")
    return 0 if args.no_check else fw.pv_check([out / "ledger.jsonl"], out)


if __name__ == "__main__":
    sys.exit(main())
