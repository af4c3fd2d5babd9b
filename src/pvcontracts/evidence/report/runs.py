"""The training runs a report shows: each recorded run, its invariants, its violations and its curves, as plain data.

Built from the evidence's ``runtime`` section (``pv report``) or straight from a
ledger (``pv plot``), by the same function, so both pages show a run the same
way. Nothing is escaped here and nothing depends on the clock: the renderers
escape for their format, and the same records give the same view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from pvcontracts.util.summary import as_number as number
from pvcontracts.util.text import unique_anchor  # the evidence writes NaN and infinities as strings

# How each charted metric is labelled: a title and the y axis with its unit. Others show their own name.
METRIC_LABELS: dict[str, tuple[str, str]] = {
    "loss": ("Training loss", "loss per step (loop's loss fn)"),
    "lr": ("Learning rate", "learning rate (no unit)"),
    "grad_norm": ("Gradient norm", "gradient norm (global L2)"),
}
CHART_ORDER = ("loss", "lr", "grad_norm")


def show(value: Any) -> str:
    """A value as a reader sees it: numbers to 7 significant digits, the rest as compact JSON-ish text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.7g}" if math.isfinite(value) else str(value)
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in sorted(value.items())) + "}"
    return str(value)


@dataclass(frozen=True)
class Point:
    """One window of a series: its steps, and the metric's first, min, max and last value over them."""

    first_step: int
    last_step: int
    first: float | None
    low: float | None
    high: float | None
    last: float | None
    nonfinite: int = 0


@dataclass(frozen=True)
class Series:
    metric: str
    title: str
    axis: str  # the y axis label, with its unit
    points: tuple[Point, ...]
    expected: tuple[Point, ...] = ()
    expected_by: str | None = None


@dataclass(frozen=True)
class ViolationView:
    anchor: str  # an HTML id made of safe characters
    invariant: str
    contract: str | None
    version: str | None
    boundary: str | None
    step: int | None
    epoch: int | None
    expression: str | None
    values: tuple[tuple[str, Any], ...]
    message: str
    on_violation: str | None
    blocking: bool

    @property
    def where(self) -> str:
        parts = [self.boundary or "?"]
        if self.step is not None:
            parts.append(f"step {self.step}")
        if self.epoch is not None:
            parts.append(f"epoch {self.epoch}")
        return ", ".join(parts)


@dataclass(frozen=True)
class InvariantRow:
    id: str
    enforced: bool | None
    reason: str | None
    evaluated: int
    applicable: int
    violated: int
    blocking: bool

    @property
    def held(self) -> int:
        """Evaluations where it applied and held (applicable minus violated)."""
        return max(0, self.applicable - self.violated)

    @property
    def state(self) -> str:
        if self.violated:
            return "violated"
        if self.enforced is True:
            return "held"
        if self.enforced is False:
            return "not enforced"
        return "unknown"


@dataclass(frozen=True)
class ContractUse:
    id: str
    version: str
    current: str | None  # the contract's version now, where the report knows it


@dataclass
class RunView:
    ledger: str
    run: str | None
    anchor: str
    segments: int
    complete: bool
    mode: str | None
    regime: str
    contracts: tuple[ContractUse, ...]
    started: str | None
    ended: str | None
    last_step: int | None
    invariants: tuple[InvariantRow, ...]
    violations: tuple[ViolationView, ...]
    violation_count: int
    violations_by_invariant: dict[str, int]
    series: tuple[Series, ...]
    curve_records: int

    @property
    def name(self) -> str:
        return f"run {self.run[:12]}" if self.run else "a run (ledger without run ids)"

    @property
    def blocking_violated(self) -> list[str]:
        """Ship-blocking invariants this run violated."""
        blocking = {i.id for i in self.invariants if i.blocking} | {v.invariant for v in self.violations if v.blocking}
        return sorted(i for i, n in self.violations_by_invariant.items() if n and i in blocking)

    @property
    def first_blocking(self) -> ViolationView | None:
        return next((v for v in self.violations if v.blocking), None)

    @property
    def not_enforced(self) -> list[InvariantRow]:
        return [i for i in self.invariants if i.enforced is not True and not i.violated]


def _regime(regime: Any) -> str:
    if not isinstance(regime, dict) or not regime.get("kind"):
        return "not recorded"
    rest = ", ".join(f"{k} {show(v)}" for k, v in sorted(regime.items()) if k != "kind")
    return str(regime["kind"]) + (f" ({rest})" if rest else "")


def _points(points: list[dict[str, Any]], metric: str, key: str) -> tuple[Point, ...]:
    out = []
    for p in points:
        s = (p.get(key) or {}).get(metric)
        if s is None:
            continue
        first, low, high, last = (number(v) for v in s)
        out.append(Point(int(p["steps"][0]), int(p["steps"][1]), first, low, high, last,
                         int((p.get("nonfinite") or {}).get(metric, 0)) if key == "metrics" else 0))
    return tuple(out)


def _series(curves: dict[str, Any] | None) -> tuple[Series, ...]:
    if not curves:
        return ()
    points = curves.get("points") or []
    metrics = sorted({m for p in points for m in p.get("metrics", {})},
                     key=lambda m: (CHART_ORDER.index(m) if m in CHART_ORDER else len(CHART_ORDER), m))
    out = []
    for metric in metrics:
        title, axis = METRIC_LABELS.get(metric, (metric, metric))
        by = (curves.get("expected_by") or {}).get(metric)
        out.append(Series(metric, title, axis, _points(points, metric, "metrics"), _points(points, metric, "expected"),
                          by))
    return tuple(out)


def build_run(rec: dict[str, Any], ledger: str, blocking: set[str], taken: set[str]) -> RunView:
    """One run's view from its evidence record (``evidence.runtime.run_record``'s shape)."""
    anchor = unique_anchor("run-", str(rec.get("run") or ledger)[:24], taken)
    recorded = rec.get("violations_by_invariant") or {}
    # The counts say how often it was violated; a resume that redid steps can leave more records than counts.
    invariants = tuple(
        InvariantRow(ident, e.get("enforced"), e.get("reason"), int(e.get("evaluated", 0)), int(e.get("applicable", 0)),
                     max(int(e.get("violated", 0)), int(recorded.get(ident, 0))), ident in blocking)
        for ident, e in sorted((rec.get("invariants") or {}).items()))
    violations = []
    for i, v in enumerate(rec.get("violations") or ()):
        values = v.get("values") if isinstance(v.get("values"), dict) else {}
        violations.append(ViolationView(
            anchor=f"{anchor}-v{i + 1}", invariant=str(v.get("invariant")), contract=v.get("contract"),
            version=v.get("contract_version"), boundary=v.get("boundary"),
            step=v.get("step") if isinstance(v.get("step"), int) else None,
            epoch=v.get("epoch") if isinstance(v.get("epoch"), int) else None,
            expression=v.get("expression") if isinstance(v.get("expression"), str) else None,
            values=tuple(sorted(values.items())), message=str(v.get("message") or ""),
            on_violation=v.get("on_violation"), blocking=str(v.get("invariant")) in blocking))
    contracts = tuple(ContractUse(c["id"], c["version"], c.get("current_version")) for c in rec.get("contracts") or ())
    curves = rec.get("curves")
    return RunView(
        ledger=ledger, run=rec.get("run"), anchor=anchor, segments=int(rec.get("segments", 1)),
        complete=bool(rec.get("complete")), mode=rec.get("mode"), regime=_regime(rec.get("regime")),
        contracts=contracts, started=rec.get("started"), ended=rec.get("ended"), last_step=rec.get("last_step"),
        invariants=invariants, violations=tuple(violations), violation_count=int(rec.get("violation_count", 0)),
        violations_by_invariant=dict(rec.get("violations_by_invariant") or {}), series=_series(curves),
        curve_records=int((curves or {}).get("records", 0)))


def build_runs(runtime: Iterable[dict[str, Any]], blocking: set[str]) -> list[RunView]:
    """Every run of every recorded ledger, in the evidence's order."""
    taken: set[str] = set()
    return [build_run(run, rec.get("path", "?"), blocking, taken) for rec in runtime for run in rec.get("runs", ())]
