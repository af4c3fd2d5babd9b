"""What the trainer shows while it runs: the progress bar and the line per epoch.

Epochs are numbered from 0 here as everywhere else (contracts, violation
messages, the ledger, ``resumed from ... at epoch N``), with the count beside
it: ``epoch 1 (2 of 20)`` is the second of twenty epochs, the one a violation
message calls epoch 1.
"""

from __future__ import annotations

from typing import Any, TextIO

__all__ = ["NoBar", "epoch_label", "format_metric", "progress_bar"]


class NoBar:
    """progress: false. Not tqdm(disable=True): that still creates tqdm's multiprocessing lock."""

    def update(self, n: int) -> None:
        pass

    def set_postfix(self, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass


def epoch_label(epoch: int, max_epochs: int) -> str:
    """``epoch 1 (2 of 20)``: the epoch numbered from 0, as contracts, messages and the ledger number it."""
    return f"epoch {epoch} ({epoch + 1} of {max_epochs})"


def progress_bar(steps: int, epoch: int, max_epochs: int, stream: TextIO) -> Any:
    from tqdm import tqdm

    return tqdm(total=steps, desc=epoch_label(epoch, max_epochs), unit="step", leave=False, file=stream,
                dynamic_ncols=True)


def format_metric(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
