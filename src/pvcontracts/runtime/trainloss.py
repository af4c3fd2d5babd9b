"""The epoch's mean training loss, from the step losses, without a sync per step.

Host numbers are summed at once; tensors are kept by reference and every
``CHUNK`` of them summed into one device tensor, so memory stays bounded. A step
whose update was withheld (``skip_step``) never happened: its loss is left out,
by a host decision or, for a device flag, by ``where`` and a device count, still
without a read. The mean is read once, at the epoch's end (a sync point).
"""

from __future__ import annotations

from typing import Any

from pvcontracts.runtime.values import is_host, not_flag

CHUNK = 1024  # step losses kept by reference before they are summed into one device tensor


class EpochLoss:
    def __init__(self) -> None:
        self._losses: list[Any] = []   # tensors, each a loss (0 where a device flag withheld the step)
        self._counts: list[Any] = []   # device counts for the tensors of steps with a device skip flag
        self._host = 0.0
        self._count = 0

    def add(self, loss: Any, skip: Any = False) -> None:
        if loss is None or skip is True:
            return
        if is_host(loss) and skip is False:
            self._host += float(loss)
            self._count += 1
            return
        if skip is False:
            self._losses.append(loss)  # by reference: no device op on the quiet path
            self._count += 1
        else:  # a device flag: the loss counts where the flag does not hold (no read)
            import torch

            keep = not_flag(skip)
            value = loss if not is_host(loss) else torch.full((), float(loss), dtype=torch.float64, device=skip.device)
            self._losses.append(torch.where(keep, _scalar(value).to(keep.device), 0.0))
            self._counts.append(keep)
        if len(self._losses) >= CHUNK:
            self._losses = [_sum(self._losses)]
        if len(self._counts) >= CHUNK:
            self._counts = [_sum(self._counts)]

    def mean(self) -> float | None:
        """The epoch's mean (read to the host: call it at a sync point), and a fresh epoch starts."""
        losses, counts, host, count = self._losses, self._counts, self._host, self._count
        self.__init__()
        if losses:
            host += float(_sum(losses))  # a read, at the epoch's end: a sync point
        if counts:
            count += float(_sum(counts))
        if not count:
            return None
        return host / count


def _scalar(value: Any) -> Any:
    return value.detach().reshape(()).double()


def _sum(values: list[Any]) -> Any:
    import torch

    device = values[0].device
    return torch.stack([_scalar(v).to(device) for v in values]).sum()
