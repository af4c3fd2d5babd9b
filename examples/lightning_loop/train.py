"""A PyTorch Lightning run under the shipped contracts: the examples' nanoGPT-style decoder, bytes of Python's source.

    python examples/lightning_loop/train.py [--out DIR] [--quick] [--no-check]

One line turns the run into a monitored one: ``Trainer(callbacks=[ContractsCallback(regime=...)])``.
The module is plain PyTorch (examples/_models.py), so the regime names the vocabulary. The
adapter reads the schedule from the configured scheduler (torch's warmup-then-cosine
``SequentialLR``, stepped per step), the total steps from ``trainer.estimated_stepping_batches``,
and writes ``ledger.jsonl`` into ``default_root_dir``; its state (and the RNG streams, which
Lightning's checkpoints do not hold) goes into every checkpoint. The run ends with ``pv check``
taking the ledger as runtime evidence.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lightning.pytorch as pl  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import _frameworks as fw  # noqa: E402
from _models import GPT, GPTConfig  # noqa: E402
from pvcontracts import Regime  # noqa: E402
from pvcontracts.integrations.lightning import ContractsCallback  # noqa: E402

SEQ = 64


class ByteLM(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.model = GPT(GPTConfig(vocab_size=fw.VOCAB, block_size=SEQ - 1, n_layer=2, n_head=4, n_embd=64))

    def _loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        ids = batch["input_ids"]
        logits = self.model(ids[:, :-1])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))

    def training_step(self, batch: dict[str, torch.Tensor], index: int) -> torch.Tensor:
        return self._loss(batch)

    def validation_step(self, batch: dict[str, torch.Tensor], index: int) -> None:
        self.log("val_loss", self._loss(batch))

    def configure_optimizers(self) -> Any:
        from torch.optim import lr_scheduler as L

        optimizer = torch.optim.AdamW(self.parameters(), lr=2e-3, weight_decay=0.01)
        total = int(self.trainer.estimated_stepping_batches)
        warmup = min(10, total // 4)  # a few steps in --quick mode
        scheduler = L.SequentialLR(optimizer, [L.LinearLR(optimizer, start_factor=0.1, total_iters=warmup),
                                               L.CosineAnnealingLR(optimizer, T_max=total - warmup)],
                                   milestones=[warmup])
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def main() -> int:
    args = fw.arguments(__doc__.splitlines()[0], "lightning_loop")
    out = Path(args.out)
    torch.manual_seed(0)
    train = torch.utils.data.DataLoader(fw.Windows("train", SEQ, 64 if args.quick else None), batch_size=8,
                                        shuffle=True)
    val = torch.utils.data.DataLoader(fw.Windows("val", SEQ, 16 if args.quick else 64), batch_size=32)
    contracts = ContractsCallback(regime=Regime.from_scratch(vocab_size=fw.VOCAB))  # the one line
    trainer = pl.Trainer(max_epochs=1 if args.quick else 2, max_steps=4 if args.quick else -1, accelerator="cpu",
                         devices=1, default_root_dir=str(out), callbacks=[contracts], accumulate_grad_batches=2,
                         gradient_clip_val=1.0, enable_progress_bar=False, logger=False, num_sanity_val_steps=0)
    trainer.fit(ByteLM(), train, val)
    fw.report(contracts.monitor, out / "ledger.jsonl")
    return 0 if args.no_check else fw.pv_check([out / "ledger.jsonl"], out)


if __name__ == "__main__":
    sys.exit(main())
