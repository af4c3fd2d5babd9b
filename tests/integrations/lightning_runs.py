"""Lightning runs for the adapter's tests (one process here, two in lightning_ranks.py): a tiny GPT-2 module.

Not a test module: imported by name from tests/integrations on sys.path.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

import tinylm

import lightning.pytorch as pl  # noqa: E402
from lightning.pytorch.callbacks import ModelCheckpoint  # noqa: E402

from pvcontracts.integrations.lightning import ContractsCallback  # noqa: E402

TRAIN, VAL, BATCH = 32, 8, 4


class TinyLM(pl.LightningModule):
    """A GPT-2 from config; HF's cosine schedule with warmup, stepped per step (or as ``interval`` says).

    ``loss_factor``: the accumulation fault, a module that multiplies its loss back by the accumulation steps
    (undoing Lightning's division, as code ported from a loop that summed its micro-batches does).
    """

    def __init__(self, interval: str = "step", loss_factor: float = 1.0, nan_at: int | None = None) -> None:
        super().__init__()
        self.model = tinylm.gpt2()
        self.config = self.model.config
        self.interval = interval
        self.loss_factor = loss_factor
        if nan_at is not None:
            tinylm.NanAt(self.model.transformer.wte, at=nan_at)

    def training_step(self, batch: dict[str, torch.Tensor], index: int) -> torch.Tensor:
        return self.model(**batch).loss * self.loss_factor

    def validation_step(self, batch: dict[str, torch.Tensor], index: int) -> None:
        self.log("val_loss", self.model(**batch).loss, sync_dist=True)

    def configure_optimizers(self) -> Any:
        from transformers import get_cosine_schedule_with_warmup

        optimizer = torch.optim.AdamW(self.parameters(), lr=3e-3)
        scheduler = get_cosine_schedule_with_warmup(optimizer, 2, int(self.trainer.estimated_stepping_batches))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": self.interval}}


def loaders() -> tuple[Any, Any]:
    torch.manual_seed(0)
    train = torch.utils.data.DataLoader(tinylm.LMData(0, TRAIN), batch_size=BATCH, shuffle=True)
    val = torch.utils.data.DataLoader(tinylm.LMData(TRAIN, VAL), batch_size=VAL)
    return train, val


def fit(out: Path, module: Any = None, *, epochs: int = 2, accumulation: int = 2, ckpt: str | None = None,
        devices: int = 1, **contracts: Any) -> ContractsCallback:
    """Fit ``module`` with the adapter; checkpoints of every epoch in out/checkpoints. Returns the callback."""
    contracts.setdefault("regime", "from_scratch")
    callback = ContractsCallback(**contracts)
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=devices, default_root_dir=str(out),
                         strategy="ddp" if devices > 1 else "auto",
                         callbacks=[callback, ModelCheckpoint(dirpath=str(out / "checkpoints"), save_top_k=-1,
                                                              filename="{epoch}")],
                         enable_progress_bar=False, logger=False, enable_model_summary=False,
                         accumulate_grad_batches=accumulation, gradient_clip_val=1.0, num_sanity_val_steps=0)
    train, val = loaders()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module if module is not None else TinyLM(), train, val, ckpt_path=ckpt)
    return callback
