"""Deferred step checks, evaluated at a sync point over all pending steps at once.

Each invariant is evaluated once over stacked values (one row per step), and
every invariant's "bad" rows travel to the host in one transfer per device:
that read is the only synchronisation a sync point makes.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

import torch


def _device_of(entries: Sequence[Any], names: Sequence[str]) -> torch.device:
    for entry in entries:
        for name in names:
            value = entry.env.get(name)
            if isinstance(value, torch.Tensor):
                return value.device
    return torch.device("cpu")


def _host_column(values: list[Any], device: torch.device) -> torch.Tensor:
    column = torch.tensor(values)
    if column.dtype == torch.float32:
        column = column.to(torch.float64)  # host floats are doubles; keep their precision
    if device.type == "cpu":
        return column
    # Pinned memory + non_blocking: the copy is queued on the stream, the host does not wait.
    return column.pin_memory().to(device, non_blocking=True)


def _stack(entries: Sequence[Any], names: Sequence[str], device: torch.device) -> dict[str, torch.Tensor] | None:
    stacked: dict[str, torch.Tensor] = {}
    for name in names:
        values = [entry.env[name] for entry in entries]
        if all(isinstance(v, (bool, int, float)) for v in values):
            stacked[name] = _host_column(values, device)
            continue
        tensors = []
        for v in values:
            if isinstance(v, torch.Tensor):
                if v.numel() != 1:
                    return None  # non-scalar metrics: rows would not broadcast; evaluate one by one
                tensors.append(v.detach().reshape(()).to(device))
            else:
                tensors.append(torch.as_tensor(v, device=device))
        dtype = tensors[0].dtype
        for t in tensors[1:]:
            dtype = torch.promote_types(dtype, t.dtype)
        stacked[name] = torch.stack([t.to(dtype) for t in tensors])
    return stacked


def _bad_rows(check: Any, entries: Sequence[Any], params: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    compiled = check.compiled
    names = sorted(n for n in compiled.names() if n in entries[0].env)
    device = _device_of(entries, names)
    n = len(entries)
    stacked = _stack(entries, names, device)
    if stacked is not None:
        applies, holds = compiled.evaluate_vectorised(stacked, params)
        applies_t = torch.as_tensor(applies, device=device).reshape(-1).expand(n) if not isinstance(applies, torch.Tensor) \
            else applies.reshape(n, -1).all(dim=1)
        holds_t = torch.as_tensor(holds, device=device).reshape(-1).expand(n) if not isinstance(holds, torch.Tensor) \
            else holds.reshape(n, -1).all(dim=1)
        return applies_t & ~holds_t, applies_t
    rows_bad, rows_applies = [], []
    for entry in entries:  # the slow path: one evaluation per pending step, still no host read
        applies, holds = compiled.evaluate_vectorised(entry.env, params)
        a = torch.as_tensor(applies, device=device).all()
        h = torch.as_tensor(holds, device=device).all()
        rows_bad.append(a & ~h)
        rows_applies.append(a)
    return torch.stack(rows_bad), torch.stack(rows_applies)


def evaluate_pending(pending: Sequence[Any], params: Mapping[str, Any]) -> Iterator[tuple[Any, Any, int]]:
    """For each check with pending rows: (check, first violating entry or None, rows where it applied)."""
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
    for device, indexes in by_device.items():
        sizes = [results[i][2].shape[1] for i in indexes]
        flat = torch.cat([results[i][2] for i in indexes], dim=1).cpu()  # the one sync of this sync point
        offset = 0
        for i, size in zip(indexes, sizes):
            host_rows[i] = flat[:, offset:offset + size].tolist()
            offset += size
    for i, (check, entries, _) in enumerate(results):
        bad_row, applies_row = host_rows[i]
        first = next((entries[j] for j, is_bad in enumerate(bad_row) if is_bad), None)
        yield check, first, sum(1 for a in applies_row if a)
