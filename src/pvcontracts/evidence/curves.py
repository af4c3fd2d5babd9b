"""A run's curve records, read strictly from its ledger and cut down to what a chart shows.

The ledger's ``curve`` records (format: :mod:`pvcontracts.util.summary`) are
read like every other record: one that lacks what its kind needs is a finding
with its line number (PV645), never silently used. A run's records are kept in
step order; a resumed segment redoes the steps after its checkpoint, so its
records replace the ones they cover. Memory stays bounded whatever the ledger
holds (adjacent records merge once :data:`MAX_KEPT` are kept), and the
evidence and the report get at most :data:`CHART_POINTS` points per run,
adjacent records merged evenly over the run's steps: older and newer windows
alike, so a chart has one resolution from the first step to the last.
"""

from __future__ import annotations

from typing import Any, Iterable

from pvcontracts.util.summary import merge_records

MAX_KEPT = 4096
CHART_POINTS = 200
CHARTED = ("loss", "lr", "grad_norm")  # always charted when a run has them; a violated invariant's metrics too
_SPECIAL = ("nan", "inf", "-inf")


def _is_int(value: Any, low: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _is_pair(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(_is_int(v) for v in value) and value[0] <= value[1]


def _is_summary(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 4 and all(
        v is None or v in _SPECIAL or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in value)


def malformed(record: dict[str, Any]) -> str | None:
    """Why a curve record cannot be used, or None."""
    if not _is_pair(record.get("steps")):
        return "a curve record whose steps is not [first, last]"
    if not _is_pair(record.get("epochs")):
        return "a curve record whose epochs is not [first, last]"
    if not _is_int(record.get("n"), 1):
        return "a curve record whose n is not a positive count of steps"
    for key in ("metrics", "expected"):
        table = record.get(key, {} if key == "expected" else None)
        if not isinstance(table, dict) or not all(isinstance(k, str) and _is_summary(v) for k, v in table.items()):
            return f"a curve record whose {key} is not an object of [first, min, max, last] summaries"
    by = record.get("expected_by", {})
    if not isinstance(by, dict) or not all(isinstance(v, str) for v in by.values()):
        return "a curve record whose expected_by is not an object of invariant ids"
    for key in ("nonfinite", "missing"):
        counts = record.get(key, {})
        if not isinstance(counts, dict) or not all(_is_int(v) for v in counts.values()):
            return f"a curve record whose {key} is not an object of counts"
    return None


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    """Only the keys of the format (a record is user input: nothing else travels on)."""
    out = {"kind": "curve", "steps": list(record["steps"]), "n": record["n"], "epochs": list(record["epochs"]),
           "metrics": dict(record["metrics"])}
    for key in ("expected", "expected_by", "nonfinite", "missing"):
        if record.get(key):
            out[key] = dict(record[key])
    return out


class CurveReader:
    """One run's curve records as the ledger streams past, in step order and bounded."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.read = 0

    def add(self, record: dict[str, Any]) -> None:
        self.read += 1
        record = _clean(record)
        # A resume redoes the steps after its checkpoint: the later records are the run as it went on.
        while self.records and self.records[-1]["steps"][0] >= record["steps"][0]:
            self.records.pop()
        self.records.append(record)
        if len(self.records) > MAX_KEPT:
            self.records = [merge_records(a, b) for a, b in zip(self.records[::2], self.records[1::2])] + (
                [self.records[-1]] if len(self.records) % 2 else [])

    def chart(self, metrics: Iterable[str], points: int = CHART_POINTS) -> dict[str, Any] | None:
        """What the evidence keeps: at most ``points`` points, each the merge of adjacent records, for ``metrics``."""
        if not self.records:
            return None
        wanted = set(metrics)
        out = []
        for group in _groups(self.records, points):
            merged = group[0]
            for rec in group[1:]:
                merged = merge_records(merged, rec)
            point: dict[str, Any] = {"steps": merged["steps"], "n": merged["n"], "epochs": merged["epochs"],
                                     "metrics": {k: v for k, v in merged["metrics"].items() if k in wanted}}
            for key in ("expected", "nonfinite", "missing"):
                kept = {k: v for k, v in merged.get(key, {}).items() if k in wanted}
                if kept:
                    point[key] = kept
            out.append(point)
        expected_by: dict[str, str] = {}
        for rec in self.records:
            for k, v in rec.get("expected_by", {}).items():
                if k in wanted:
                    expected_by.setdefault(k, v)
        return {"records": self.read, "expected_by": dict(sorted(expected_by.items())), "points": out}

    def metrics(self) -> set[str]:
        return {k for rec in self.records for k in rec["metrics"]}


def _groups(records: list[dict[str, Any]], points: int) -> list[list[dict[str, Any]]]:
    """Adjacent records grouped so that each group spans about an equal share of the steps, at most ``points``."""
    if len(records) <= points:
        return [[r] for r in records]
    start, end = records[0]["steps"][0], records[-1]["steps"][1]
    share = (end - start + 1) / points
    groups: list[list[dict[str, Any]]] = [[]]
    bound = start + share
    for rec in records:
        if groups[-1] and rec["steps"][1] >= bound:
            groups.append([])
        groups[-1].append(rec)
        while rec["steps"][1] >= bound:
            bound += share
    return [g for g in groups if g]
