"""Deferred step checks, evaluated at a sync point over all pending steps at once.

Each invariant is evaluated once over stacked values (one row per step), and
every invariant's "bad" rows travel to the host in one transfer per device:
that read is the only synchronisation a sync point makes. Checks that read
history arrive already evaluated (their verdict computed on the device at the
step itself); for them only the verdicts are stacked.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

import torch

from pvcontracts.contract.params import is_host


def _device_of(entries: Sequence[Any], names: Sequence[str]) -> torch.device:
    for entry in entries:
        for name in names:
            value = entry.env.get(name)
            if isinstance(value, torch.Tensor):
                return value.device
    return torch.device("cpu")


def _host_column(values: list[Any], device: torch.device) -> torch.Tensor:
    if any(isinstance(v, float) for v in values):
        column = torch.tensor(values, dtype=torch.float64)  # host floats are doubles: built as such, never via float32
    else:
        column = torch.tensor(values)  # bools stay bool, ints int64
    if device.type == "cpu":
        return column
    # Pinned memory + non_blocking: the copy is queued on the stream, the host does not wait.
    return column.pin_memory().to(device, non_blocking=True)


def _stack(entries: Sequence[Any], names: Sequence[str], device: torch.device,
           static: Mapping[str, Any]) -> dict[str, torch.Tensor] | None:
    stacked: dict[str, torch.Tensor] = {}
    for name in names:
        # A step that did not pass the name reads the param of that name (checked when it was queued).
        values = [entry.env[name] if name in entry.env else static[name] for entry in entries]
        if all(is_host(v) for v in values):
            stacked[name] = _host_column(values, device)
            continue
        tensors = []
        for v in values:
            if isinstance(v, torch.Tensor):
                if v.dim() != 0:
                    if v.numel() != 1:
                        return None  # non-scalar metrics: rows would not broadcast; evaluate one by one
                    v = v.reshape(())
                if v.device != device:
                    v = v.to(device)
                tensors.append(v)
            else:
                tensors.append(torch.as_tensor(v, device=device))
        stacked[name] = torch.stack(tensors)  # promotes mixed dtypes as arithmetic would
    return stacked


def _flag(value: Any, device: torch.device) -> torch.Tensor:
    """One row's truth as a 0-d bool tensor on ``device``: all elements true, as the host reads a check."""
    if not isinstance(value, torch.Tensor):
        return torch.tensor(bool(value), device=device)
    if value.dtype != torch.bool:
        value = value != 0  # a number's truth; NaN is true, as bool(nan) is on the host
    return value.all().to(device)


def _rows(value: Any, n: int, device: torch.device) -> torch.Tensor:
    """Per-row truth of a vectorised result: a host value holds for every row, a tensor row by row."""
    if not isinstance(value, torch.Tensor):
        return torch.tensor(bool(value), device=device).expand(n)
    if value.dtype != torch.bool:
        value = value != 0
    if value.numel() == 1:  # read only params and constants: one verdict for every row
        return value.reshape(()).expand(n)
    return value.reshape(n, -1).all(dim=1)


def _bad_rows(check: Any, entries: Sequence[Any], params: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    compiled = check.compiled
    n = len(entries)
    if entries[0].result is not None:  # evaluated at the step (history checks): stack the verdicts
        device = next((v.device for e in entries for v in e.result if isinstance(v, torch.Tensor)), torch.device("cpu"))
        applies_t = torch.stack([_flag(e.result[0], device) for e in entries])
        holds_t = torch.stack([_flag(e.result[1], device) for e in entries])
        return applies_t & ~holds_t, applies_t
    names = sorted(n for n in check.names if any(n in entry.env for entry in entries))
    device = _device_of(entries, names)
    stacked = _stack(entries, names, device, check.static_env)
    if stacked is not None:
        applies, holds = compiled.evaluate_vectorised(stacked, params)
        applies_t, holds_t = _rows(applies, n, device), _rows(holds, n, device)
        return applies_t & ~holds_t, applies_t
    rows_bad, rows_applies = [], []
    for entry in entries:  # the slow path: one evaluation per pending step, still no host read
        applies, holds = compiled.evaluate_vectorised(entry.env, params)
        a, h = _flag(applies, device), _flag(holds, device)
        rows_bad.append(a & ~h)
        rows_applies.append(a)
    return torch.stack(rows_bad), torch.stack(rows_applies)


def _read(flags: torch.Tensor | None, payload: torch.Tensor | None) -> tuple[list[list[Any]], list[float]]:
    """The one sync of a sync point on one device: the flags ``[bad, applies]`` and a rider's payload, one transfer."""
    if payload is None:
        return flags.cpu().tolist(), []
    if flags is None:
        return [[], []], payload.cpu().tolist()
    width = flags.shape[1]
    values = torch.cat([flags.reshape(-1).to(payload.dtype), payload]).cpu().tolist()
    return [[v != 0 for v in values[:width]], [v != 0 for v in values[width:2 * width]]], values[2 * width:]


def evaluate_pending(pending: Sequence[Any], params: Mapping[str, Any],
                     rider: Any = None) -> Iterator[tuple[Any, list[Any], int]]:
    """For each check with pending rows: (check, every violating entry in step order, rows where it applied).

    ``rider`` (the curves' window, :class:`pvcontracts.runtime.curves.Window`) travels in the same
    transfer: ``rider.payloads()`` gives one vector per device, ``rider.receive(device, values)``
    gets its host values back.
    """
    groups: dict[int, tuple[Any, list[Any]]] = {}
    for entry in pending:
        groups.setdefault(id(entry.check), (entry.check, []))[1].append(entry)
    results = []
    for check, entries in groups.values():
        bad, applies = _bad_rows(check, entries, params)
        results.append((check, entries, torch.stack([bad, applies])))
    by_device: dict[torch.device, list[int]] = {}
    for i, (_, _, rows) in enumerate(results):
        by_device.setdefault(rows.device, []).append(i)
    host_rows: dict[int, list[list[bool]]] = {}
    riding = rider.payloads() if rider is not None else {}
    for device in [*by_device, *(d for d in riding if d not in by_device)]:
        indexes = by_device.get(device, [])
        flat = torch.cat([results[i][2] for i in indexes], dim=1) if indexes else None
        # The one sync of this sync point (per device): every check's flags, and the curves, in one transfer.
        rows, carried = _read(flat, riding.get(device))
        if device in riding:
            rider.receive(device, carried)
        offset = 0
        for i in indexes:
            size = results[i][2].shape[1]
            host_rows[i] = [rows[0][offset:offset + size], rows[1][offset:offset + size]]
            offset += size
    for i, (check, entries, _) in enumerate(results):
        bad_row, applies_row = host_rows[i]
        bad = [entries[j] for j, is_bad in enumerate(bad_row) if is_bad]
        yield check, bad, sum(1 for a in applies_row if a)
