"""Curves in the ledger, at no extra sync: what each step metric the invariants read looked like, window by window.

At ``step_end`` the monitor keeps a reference to the step's metrics (one list
append, nothing read). When a window ends (a sync point that settles the step
checks: every ``sync_every`` steps, an epoch-level boundary, an abort), each
tracked metric's window is summarised where its values live, on the device for
tensors: first, min and max over the finite values, last, and how many were not
finite. The summaries of one device travel to the host in the same transfer as
the sync point's flag vector (:func:`pvcontracts.runtime.deferred.evaluate_pending`
takes this window as its ``rider``), so the curves add no synchronisation.

*Tracked* metrics are the numeric metrics the active ``step_end`` invariants read
(``step``, ``epoch``, ``rank`` and ``world_size`` excepted). Where an invariant
computes what a metric should have been, as a ``let`` named ``expected_<metric>``
(lr-schedule-v1's ``expected_lr``, the scheduled LR), that let is evaluated over
the window's stacked inputs, vectorised, and summarised beside the metric.

Bounded for a million-step run: the ledger is append-only, so a window once
written stays as written; instead, windows are merged into records of at least
``width`` steps (``sync_every`` at first), and after every
:data:`RECORDS_PER_LEVEL` records the width doubles. A run of N windows writes at
most about ``RECORDS_PER_LEVEL * (1 + log2(N / RECORDS_PER_LEVEL))`` records,
whatever ``sync_every`` is. The record format and the merge are
:mod:`pvcontracts.util.summary`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from pvcontracts.contract.expr import Expression
from pvcontracts.contract.model import Contract
from pvcontracts.contract.vocabulary import METRICS
from pvcontracts.errors import PvError
from pvcontracts.runtime.checks import Check
from pvcontracts.runtime.values import is_host
from pvcontracts.util.summary import merge_records, rounded, summarise

__all__ = ["RECORDS_PER_LEVEL", "Curves", "Window"]

RECORDS_PER_LEVEL = 256
_FRAME = frozenset({"step", "epoch", "rank", "world_size"})  # the record's own coordinates, or constant


@dataclass(frozen=True)
class Expected:
    """How to compute what ``metric`` should have been: the ``expected_<metric>`` let and the lets it reads."""

    metric: str
    invariant: str
    lets: tuple[tuple[str, Expression], ...]  # in evaluation order, ending with expected_<metric>
    inputs: frozenset[str]                    # the metrics it reads (params come from static)
    static: Mapping[str, Any] = field(default_factory=dict)


def tracked_metrics(checks: Iterable[Check], contracts: Sequence[Contract]) -> list[str]:
    """The numeric metrics the active step checks read: what a curve is kept for."""
    declared = {name: decl.type for c in contracts for name, decl in c.metrics.items()}

    def numeric(name: str) -> bool:
        if name in declared:
            return declared[name] == "number"
        metric = METRICS.get(name)
        return metric is not None and metric.kind == "number"

    return sorted({n for c in checks if c.inactive is None for n in c.inputs - _FRAME if numeric(n)})


def expected_for(checks: Iterable[Check], tracked: Sequence[str]) -> dict[str, Expected]:
    """Per tracked metric, the first active invariant (by id) with a history-free ``expected_<metric>`` let."""
    out: dict[str, Expected] = {}
    for check in sorted((c for c in checks if c.inactive is None), key=lambda c: c.id):
        lets = dict(check.compiled.lets)
        for metric in tracked:
            name = f"expected_{metric}"
            if metric in out or name not in lets or metric not in check.inputs:
                continue
            needed, frontier = set(), [name]
            while frontier:  # the let and every let it reads, transitively
                let = frontier.pop()
                if let not in needed:
                    needed.add(let)
                    frontier.extend(n for n in lets[let].names if n in lets)
            ordered = tuple((n, e) for n, e in check.compiled.lets if n in needed)
            if any(e.history for _, e in ordered):
                continue  # history is only valid at its own step: nothing to evaluate over a window
            free = {n for _, e in ordered for n in e.names} - set(lets)
            out[metric] = Expected(metric, check.id, ordered, frozenset(free - check.static_names), check.static_env)
    return out


class Curves:
    """The run's curves: rows kept by reference until a window ends, then summarised and written, merged to bound.

    ``write`` receives each finished curve record (the reporter adds the run id).
    """

    def __init__(self, checks: Iterable[Check], contracts: Sequence[Contract], write: Callable[[dict[str, Any]], None],
                 sync_every: int) -> None:
        checks = list(checks)
        self.metrics = tracked_metrics(checks, contracts)
        self.expected = expected_for(checks, self.metrics)
        self._write = write
        self.sync_every = sync_every
        self.rows: list[Mapping[str, Any]] = []
        self.width = sync_every   # steps a record covers at least, doubling every RECORDS_PER_LEVEL records
        self.written = 0          # records written at this width
        self._bucket: dict[str, Any] | None = None

    def add(self, env: Mapping[str, Any]) -> None:
        """One step's metrics, by reference: nothing is read or copied (the hot path)."""
        self.rows.append(env)

    def window(self, *, full_only: bool = False) -> Window | None:
        """The rows since the last window, summarised on their devices (queued, nothing read yet).

        ``full_only``: only once ``sync_every`` rows are waiting (the pre-step syncs of
        ``fatal_before_step`` come every step: a window per step would cost a summary per step).
        """
        if full_only and len(self.rows) < self.sync_every:
            return None
        if not self.rows or not self.metrics:
            self.rows = []
            return None
        rows, self.rows = self.rows, []
        return Window(self, rows)

    def absorb(self, record: dict[str, Any]) -> None:
        """A finished window joins the current record; the record is written once it covers ``width`` steps."""
        self._bucket = record if self._bucket is None else merge_records(self._bucket, record)
        if self._bucket["n"] >= self.width:
            self.flush()

    def flush(self) -> None:
        """Write the record in progress, however few steps it covers (run end, checkpoint, close)."""
        if self._bucket is None:
            return
        record, self._bucket = self._bucket, None
        self._write(record)
        self.written += 1
        if self.written >= RECORDS_PER_LEVEL:
            self.width *= 2
            self.written = 0

    def close(self) -> None:
        """Leaving: whatever rows are left, summarised with their own transfer, and the last record written."""
        window = self.window()
        if window is not None:
            window.finish()
        self.flush()

    def state_dict(self) -> dict[str, int]:
        """The resolution reached, so a resumed run keeps the ledger's bound instead of starting fine again."""
        return {"width": self.width, "written": self.written}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.width = max(self.width, int(state.get("width", self.width)))
        self.written = int(state.get("written", 0))


class Window:
    """One window's summaries: computed where the values are when the window is cut, read with the flags.

    The rider protocol of :func:`pvcontracts.runtime.deferred.evaluate_pending`: ``payloads()``
    gives one float64 vector per device, ``receive(device, values)`` takes its host values.
    """

    def __init__(self, curves: Curves, rows: Sequence[Mapping[str, Any]]) -> None:
        self.curves = curves
        self.n = len(rows)
        self.steps = [int(rows[0]["step"]), int(rows[-1]["step"])]
        self.epochs = [int(rows[0]["epoch"]), int(rows[-1]["epoch"])]
        self.host: dict[tuple[str, str], tuple[list[Any], int]] = {}  # (kind, metric) -> (summary, non-finite)
        self.missing: dict[str, int] = {}
        self._parts: dict[Any, list[tuple[tuple[str, str], Any]]] = {}  # device -> [(key, 5-vector)]
        self._payloads: dict[Any, Any] | None = None
        for name in curves.metrics:
            values = [row[name] for row in rows if name in row]
            if not values:
                continue  # not supplied in this window: the record leaves it out
            if len(values) < self.n:
                self.missing[name] = self.n - len(values)
            self._summarise(("metrics", name), values)
        for metric, spec in curves.expected.items():
            self._expected(spec, [row for row in rows if spec.inputs.issubset(row)])

    def _summarise(self, key: tuple[str, str], values: list[Any]) -> None:
        try:
            if all(is_host(v) for v in values):
                self.host[key] = summarise([float(v) for v in values])
                return
            column = _column(values)
        except (TypeError, ValueError, RuntimeError):
            return  # a value no number can be made of: the checks say what is wrong; a curve only shows
        if column is not None:
            self._parts.setdefault(column.device, []).append((key, _five(column)))

    def _expected(self, spec: Expected, rows: list[Mapping[str, Any]]) -> None:
        if not rows:
            return
        env: dict[str, Any] = dict(spec.static)
        try:
            for name in spec.inputs:
                column = _column([row[name] for row in rows])
                if column is None:
                    return
                env[name] = column
            for name, expr in spec.lets:
                env[name] = expr.evaluate(env, None)
        except (PvError, ArithmeticError, RuntimeError, TypeError, ValueError):
            return  # the contract's own check reports what is wrong with its inputs; a curve only shows
        value = env[f"expected_{spec.metric}"]
        key = ("expected", spec.metric)
        if is_host(value):  # read only params: the same value at every step
            self.host[key] = summarise([float(value)])
            return
        column = value.reshape(-1)
        if column.numel() == 1 and len(rows) > 1:
            column = column.expand(len(rows))
        self._parts.setdefault(column.device, []).append((key, _five(column.to(_float64()))))

    # ---------------------------------------------------------------- the rider protocol

    def payloads(self) -> dict[Any, Any]:
        """Per device, every summary of this window in one float64 vector (device ops only, nothing read)."""
        if self._payloads is None:
            import torch

            self._payloads = {device: torch.cat([v for _, v in parts]) for device, parts in self._parts.items()}
        return self._payloads

    def receive(self, device: Any, values: list[float]) -> None:
        """The host values of ``payloads()[device]``, read by whoever made the sync point's transfer."""
        for i, (key, _) in enumerate(self._parts.pop(device, [])):
            first, low, high, last, nonfinite = values[5 * i:5 * i + 5]
            self.host[key] = ([rounded(first), rounded(low) if math.isfinite(low) else None,
                               rounded(high) if math.isfinite(high) else None, rounded(last)], int(nonfinite))

    def finish(self) -> None:
        """Read what no transfer carried (a sync point without deferred flags), build the record, hand it over."""
        if self._parts:
            payloads = self.payloads()
            for device in list(self._parts):
                # A sync point with no flag vector on this device to ride with: this window's own single read.
                self.receive(device, payloads[device].cpu().tolist())
        record: dict[str, Any] = {"kind": "curve", "steps": self.steps, "n": self.n, "epochs": self.epochs,
                                  "metrics": {}}
        nonfinite: dict[str, int] = {}
        for (kind, name), (summary, bad) in sorted(self.host.items()):
            record.setdefault(kind, {})[name] = summary
            if kind == "metrics" and bad:
                nonfinite[name] = bad
        if "expected" in record:
            record["expected_by"] = {m: self.curves.expected[m].invariant for m in sorted(record["expected"])}
        if nonfinite:
            record["nonfinite"] = nonfinite
        if self.missing:
            record["missing"] = dict(sorted(self.missing.items()))
        self.curves.absorb(record)


def _float64() -> Any:
    import torch

    return torch.float64


def _column(values: list[Any]) -> Any:
    """One metric's values over the window as a float64 vector on the device of its tensors (None: not scalars)."""
    import torch

    tensors = [v for v in values if isinstance(v, torch.Tensor)]
    if not tensors:
        return torch.tensor([float(v) for v in values], dtype=torch.float64)
    if any(t.numel() != 1 for t in tensors):
        return None  # a per-element metric has no single curve
    device = tensors[0].device
    if len(tensors) == len(values) and all(t.dim() == 0 and t.device == device for t in tensors):
        return torch.stack(tensors).to(torch.float64)  # the common case: one stack, one cast
    return torch.stack([v.detach().reshape(()).to(device, torch.float64) if isinstance(v, torch.Tensor)
                        else torch.tensor(float(v), dtype=torch.float64, device=device) for v in values])


def _five(column: Any) -> Any:
    """first, min and max over the finite values (+inf/-inf when none), last, and the count of non-finite values."""
    import torch

    finite = torch.isfinite(column)
    low = torch.where(finite, column, math.inf).min()
    high = torch.where(finite, column, -math.inf).max()
    return torch.stack([column[0], low, high, column[-1], (~finite).sum().to(column.dtype)])
