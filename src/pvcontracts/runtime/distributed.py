"""Agreement across ranks under torch.distributed.

Every rank evaluates its own checks; at each sync point the ranks reduce
their findings so that all of them take the same decision at the same step.
One rank raising while the others wait in a collective is a hang, which is
worse than a crash, so no rank acts on a finding alone.

Cost: a sync point with nothing found makes exactly one ``all_reduce`` of five
int64 values; only when some rank found a violation does one
``all_gather_object`` follow, so that every rank acts on every violation with
the observing rank's values (the same messages, the same ledger records, the
same abort everywhere). Because the decision to gather is taken from the
reduced values, every rank makes the same collectives in the same order: the
precondition for never hanging.

The functions take an optional process ``group``: under hybrid parallelism
(FSDP, tensor or pipeline parallel) only the ranks of one data-parallel group
hold replicated parameters, so the checksum reduction must run over that group.
"""

from __future__ import annotations

import dataclasses
import math
import struct
import zlib
from typing import Any, Mapping, Sequence

import torch
import torch.distributed as dist

from pvcontracts.errors import PvError

_INT64_MAX = 2**63 - 1


class RankDisagreement(PvError):
    """The ranks reached a sync point in different states (other invariants loaded, other step counters).

    Raised on every rank at once, from the same reduced values, instead of letting the
    ranks go on with collectives that no longer line up. Load the same contracts on
    every rank and call the monitor's boundaries the same number of times on each.
    """


def _device(group: Any = None) -> torch.device:
    # NCCL reduces CUDA tensors only; gloo (and the CPU backends) reduce CPU tensors.
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _fingerprint(names: Sequence[str]) -> int:
    return zlib.crc32("\n".join(names).encode("utf-8"))


def _global_rank(group: Any, group_rank: int) -> int:
    return group_rank if group is None else dist.get_global_rank(group, group_rank)


def _host(value: Any) -> Any:
    """A value safe to pickle to another rank: tensors leave the device (this runs at a sync point)."""
    if isinstance(value, torch.Tensor):
        t = value.detach()
        return t.reshape(()).item() if t.numel() == 1 else t.cpu()
    return value


def _portable(violation: Any) -> Any:
    return dataclasses.replace(
        violation,
        values={k: _host(v) for k, v in violation.values.items()},
        let_inputs={name: {k: _host(v) for k, v in inputs.items()} for name, inputs in violation.let_inputs.items()},
    )


def agree_on_violations(found: Sequence[Any], checks: Sequence[Any], rank: int, world: int, *,
                        step: int | None = None, group: Any = None) -> list[Any]:
    """The violations every rank must act on: what any rank found, the same list on every rank.

    Each (step, epoch, invariant) appears once, with the values of the lowest rank that saw
    it; the list is sorted by (step, epoch, invariant), so every rank raises the same abort and
    writes the same records. ``rank`` and ``observed_on_rank`` are set on each: the
    receiving rank and the one whose values these are.

    ``step`` (the caller's step counter at this sync point), when given, is compared
    across ranks in the same collective: ranks at different steps raise
    :class:`RankDisagreement` together rather than pairing unrelated collectives.
    A collective: every rank of ``group`` must call it at the same point.
    """
    receiver = rank
    if group is not None:
        rank, world = dist.get_rank(group), dist.get_world_size(group)
        receiver = dist.get_global_rank(group, rank)
    ids = sorted({c.id for c in checks})
    local: dict[tuple[int, int, str], Any] = {}
    for v in found:
        local.setdefault(_key(v), v)  # one per (step, epoch, invariant): the first found
    fp = _fingerprint(ids)
    at = 0 if step is None else int(step)
    # MIN over (x, ~x) gives min(x) and ~max(x): agreement is checked in the same collective.
    reduced = torch.tensor([fp, ~fp, at, ~at, -len(local)], dtype=torch.int64).to(_device(group))
    dist.all_reduce(reduced, op=dist.ReduceOp.MIN, group=group)  # the one collective of a quiet sync point
    values = reduced.cpu().tolist()  # a host read; this is a sync point
    if values[0] != ~values[1]:
        raise RankDisagreement(f"rank {receiver} enforces {len(ids)} invariant(s) that differ from another "
                               "rank's; load the same contracts (and select=) on every rank")
    if step is not None and values[2] != ~values[3]:
        raise RankDisagreement(f"ranks reached one sync point at different steps (from {values[2]} to {~values[3]}); "
                               "every rank must call the monitor's boundaries the same number of times")
    if values[4] == 0:
        return []
    # Some rank found something, and every rank knows it from the reduced count, so all of
    # them enter this collective together: each sends what it found, all receive the union.
    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, [_portable(v) for v in local.values()], group=group)
    union: dict[tuple[int, int, str], tuple[int, Any]] = {}
    for source, violations in enumerate(gathered):  # lowest rank first: its values win a tie
        for v in violations:
            union.setdefault(_key(v), (source, v))
    return [dataclasses.replace(v, rank=receiver, observed_on_rank=_global_rank(group, source))
            for _, (source, v) in sorted(union.items(), key=lambda item: item[0])]


def agree_on_flag(flag: Any, *, group: Any = None) -> torch.Tensor:
    """A step's skip flag OR-ed across the ranks of ``group``, as a 0-d bool tensor on the device: no host read.

    The one collective a step makes when a skip_step invariant is enforced across ranks: every rank
    must withhold the same update, or the replicas part. On NCCL it is queued on the stream like the
    gradient all-reduce (the host does not wait); gloo reduces CPU tensors. A collective: every rank
    calls it at every step_end.
    """
    device = _device(group)
    if isinstance(flag, torch.Tensor):
        value = flag.reshape(()).to(device=device, dtype=torch.int32)
    else:
        value = torch.full((), int(bool(flag)), dtype=torch.int32, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX, group=group)
    return value.bool()


def _key(violation: Any) -> tuple[int, int, str]:
    """Where a violation sits in the run: its order on every rank, and its identity across ranks."""
    step = violation.step if violation.step is not None else -1
    epoch = violation.epoch if violation.epoch is not None else -1
    return step, epoch, violation.invariant_id


def _ordered_bits(x: float) -> int:
    """An int64 with the same order as the double ``x`` (NaN excluded), so MIN reduces floats exactly."""
    i = struct.unpack("<q", struct.pack("<d", x))[0]
    return i ^ _INT64_MAX if i < 0 else i


def _from_ordered_bits(i: int) -> float:
    i = i ^ _INT64_MAX if i < 0 else i
    return struct.unpack("<d", struct.pack("<q", i))[0]


def rank_extremes(values: Mapping[str, Any], *, group: Any = None) -> dict[str, Any]:
    """``<name>_min`` and ``<name>_max`` of each value across the ranks of ``group``, exactly, in one collective.

    Values are host numbers, bools or one-element tensors (read to the host: call this at
    a sync point). Integers and bools reduce exactly as int64; floats reduce exactly through
    an order-preserving int64 view of their bits, and a NaN on any rank makes both results
    NaN. Every rank must pass the same names with the same kinds of value. A collective.

    A value this rank cannot reduce (a string, an int beyond int64) is not an error raised
    before the collective, which would leave the other ranks waiting in it: every rank
    takes part, and then every rank raises.
    """
    names = sorted(values)
    kinds: list[str] = []
    slots: list[int] = []
    problems: list[str] = []
    for name in names:
        value = _host(values[name])
        kind = "bool" if isinstance(value, bool) else "int" if isinstance(value, int) else \
            "float" if isinstance(value, float) else "invalid"
        if kind == "int" and not -(2**63) <= value <= _INT64_MAX:
            kind = "invalid"
        nan = kind == "float" and math.isnan(value)
        if kind == "invalid":
            problems.append(f"{name}={value!r} is not a number, a bool or a one-element tensor within int64")
            number = 0
        elif kind == "float":
            number = 0 if nan else _ordered_bits(value)
        else:
            number = int(value)
        kinds.append(kind)
        slots += [number, ~number, -int(nan)]  # the same three slots for every kind: the layout never differs
    fp = _fingerprint([f"{n}:{k}" for n, k in zip(names, kinds)])
    reduced = torch.tensor([fp, ~fp, -int(bool(problems))] + slots, dtype=torch.int64).to(_device(group))
    dist.all_reduce(reduced, op=dist.ReduceOp.MIN, group=group)
    got = reduced.cpu().tolist()  # a host read; callers are at a sync point
    if problems:
        raise ValueError("; ".join(problems))
    if got[2] < 0:
        raise RankDisagreement("another rank passed a value that cannot be reduced (see its error)")
    if got[0] != ~got[1]:
        listed = ", ".join(f"{n} ({k})" for n, k in zip(names, kinds)) or "none"
        raise RankDisagreement(f"ranks reduce different metrics or kinds of value; this rank has {listed}")
    out: dict[str, Any] = {}
    for i, (name, kind) in enumerate(zip(names, kinds)):
        low, high, nan = got[3 + 3 * i], ~got[4 + 3 * i], got[5 + 3 * i] < 0
        if kind == "float":
            out[f"{name}_min"] = math.nan if nan else _from_ordered_bits(low)
            out[f"{name}_max"] = math.nan if nan else _from_ordered_bits(high)
        else:
            out[f"{name}_min"] = bool(low) if kind == "bool" else low
            out[f"{name}_max"] = bool(high) if kind == "bool" else high
    return out


def checksum_extremes(checksum: torch.Tensor, *, group: Any = None) -> dict[str, Any]:
    """``param_checksum`` of this rank and its min and max across ranks, for the rank-consistency invariant.

    A collective (one all_reduce) and a host read: call it at an epoch boundary, on every rank.
    """
    local = int(_host(checksum))
    out = {"param_checksum": local}
    out.update(rank_extremes({"param_checksum": local}, group=group))
    return out
