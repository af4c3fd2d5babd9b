"""Reading a training run's ledger strictly, as evidence must be read.

The ledger is JSON lines written by :mod:`pvcontracts.runtime.ledger` (the
format both sides agreed on: records of kind ``run_start``, ``counts``,
``violation``, ``curve`` and ``run_end``, each with the run id ``run``). A reader that
skips what it does not understand can be made to say anything: delete the
violation record of a ship-blocking invariant, and the run looks clean. So
every line is accounted for:

* a line that is not JSON, not an object, nests deeper than ``MAX_DEPTH``, is
  longer than ``MAX_LINE_BYTES``, or is a record missing what its kind needs
  (a ``run_start`` whose ``contracts`` is not a list of ``{id, version}``,
  say) is a finding with its line number (PV645), and is not used;
* only a *torn* line is tolerated, with a note (PV646): the last line of the
  file without its newline (the writer was killed mid-write), or an
  unparseable line right before a ``run_start`` that resumes a run (a killed
  segment's torn tail, which the resuming writer ends with a newline);
* records are grouped into runs by their run id (several runs may append to
  one ledger; a resume continues its run in a new segment); a ledger older
  than run ids starts a new run at each ``run_start``.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pvcontracts.evidence.curves import CurveReader
from pvcontracts.evidence.curves import malformed as curve_problem

MAX_DEPTH = 32
MAX_LINE_BYTES = 4 * 1024 * 1024
KINDS = ("run_start", "counts", "violation", "curve", "run_end")
COUNT_KEYS = ("evaluated", "applicable", "violated", "unevaluable")


@dataclass(frozen=True)
class Problem:
    """One line the reader refused (PV645) or noted (PV646); line 0 is the ledger as a whole."""

    line: int
    code: str
    message: str
    severity: str = "error"  # error | note

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "code": self.code, "message": self.message}


KEEP_VIOLATIONS = 100  # violation records kept per run; the counts of them are always complete


@dataclass
class Segment:
    """One ``run_start`` and what followed it: a run killed and resumed has several."""

    start: dict[str, Any]
    line: int
    ended: bool = False
    end: dict[str, Any] | None = None  # its run_end record


@dataclass
class Run:
    """One run, its segments in file order, and what its records add up to (a ledger can be large:
    only the last counts, per-invariant totals and the first violations are kept)."""

    run_id: str | None
    segments: list[Segment] = field(default_factory=list)
    last_counts: dict[str, Any] | None = None
    enforced: dict[str, tuple[bool | None, str | None]] = field(default_factory=dict)
    violations_by_invariant: dict[str, int] = field(default_factory=dict)
    violations: list[dict[str, Any]] = field(default_factory=list)
    curves: CurveReader = field(default_factory=CurveReader)
    last_step: int | None = None  # steps taken, as far as a counts or run_end record says

    @property
    def violation_count(self) -> int:
        return sum(self.violations_by_invariant.values())

    def add(self, record: dict[str, Any]) -> None:
        kind = record["kind"]
        step = record.get("step")
        if kind in ("counts", "run_end") and isinstance(step, int) and not isinstance(step, bool):
            self.last_step = max(self.last_step or 0, step)
        if kind == "run_end":
            self.segments[-1].ended = True
            self.segments[-1].end = record
        elif kind == "curve":
            self.curves.add(record)
        elif kind == "violation":
            ident = record["invariant"]
            self.violations_by_invariant[ident] = self.violations_by_invariant.get(ident, 0) + 1
            if len(self.violations) < KEEP_VIOLATIONS:
                self.violations.append(record)
        elif kind == "counts":
            self.last_counts = record["invariants"]
            for ident, entry in record["invariants"].items():
                flag = entry.get("enforced")
                if self.enforced.get(ident, (None, None))[0] is True:
                    continue  # enforced once is enforced
                if flag is True:
                    self.enforced[ident] = (True, None)
                elif flag is False:
                    reason = entry.get("reason")
                    self.enforced[ident] = (False, reason if isinstance(reason, str) else None)
                else:
                    self.enforced.setdefault(ident, (None, None))


class LedgerUnreadable(Exception):
    """The ledger cannot be opened or is not a regular file; the message says why."""


def _depth(value: Any) -> int:
    depth, stack = 0, [(value, 1)]
    while stack:
        node, d = stack.pop()
        if isinstance(node, (dict, list)):
            depth = max(depth, d)
            if d > MAX_DEPTH:
                return d
            stack.extend((v, d + 1) for v in (node.values() if isinstance(node, dict) else node))
    return depth


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def malformed(record: dict[str, Any]) -> str | None:
    """Why a record cannot be used, or None. Only what readers rely on is demanded."""
    kind = record.get("kind")
    run = record.get("run")
    if run is not None and not isinstance(run, str):
        return "its run id is not a string"
    if kind == "run_start":
        contracts = record.get("contracts")
        if not isinstance(contracts, list) or not all(
                isinstance(c, dict) and isinstance(c.get("id"), str) and isinstance(c.get("version"), str)
                for c in contracts):
            return "a run_start whose contracts is not a list of {id, version}"
        if record.get("regime") is not None and not isinstance(record.get("regime"), dict):
            return "a run_start whose regime is not an object"
        selected = record.get("invariants")
        if selected is not None and not (isinstance(selected, list) and all(isinstance(i, str) for i in selected)):
            return "a run_start whose invariants is not a list of ids"
        if record.get("mode") is not None and not isinstance(record.get("mode"), str):
            return "a run_start whose mode is not a string"
    elif kind == "counts":
        invariants = record.get("invariants")
        if not isinstance(invariants, dict):
            return "a counts record whose invariants is not an object"
        for ident, entry in invariants.items():
            if not isinstance(entry, dict) or not all(_is_count(entry.get(k, 0)) for k in COUNT_KEYS):
                return f"a counts record whose entry for {ident} is not a set of non-negative counts"
            if entry.get("enforced") not in (None, True, False):
                return f"a counts record whose {ident}.enforced is not true, false or null"
    elif kind == "violation":
        if not isinstance(record.get("invariant"), str):
            return "a violation record without an invariant id"
    elif kind == "curve":
        return curve_problem(record)
    elif kind != "run_end":
        return f"an unknown kind {kind!r}" if kind is not None else "a record without a kind"
    return None


def _open(path: Path) -> Any:
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)  # O_NONBLOCK: a FIFO without a writer must not hang the reader
    except OSError as exc:
        raise LedgerUnreadable(exc.strerror or str(exc)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise LedgerUnreadable("not a regular file")
    return os.fdopen(fd, "rb")


def _lines(fh: Any, digest: Any) -> Any:
    """(line, bytes without the newline, whether it had one), reading at most MAX_LINE_BYTES of a line."""
    number = 0
    while True:
        raw = fh.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        digest.update(raw)
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # skip the rest of an overlong line, digesting it
                raw = fh.readline(1 << 20)
                digest.update(raw)
            yield number, None, True
            continue
        yield number, raw.rstrip(b"\n"), raw.endswith(b"\n")


class _Reader:
    """Groups records into runs as they stream past."""

    def __init__(self) -> None:
        self.runs: list[Run] = []
        self.by_id: dict[str, Run] = {}
        self.current: Run | None = None
        self.problems: list[Problem] = []

    def record(self, number: int, record: dict[str, Any]) -> None:
        problem = malformed(record)
        if problem is not None:
            unknown = problem.startswith("an unknown kind")
            self.problems.append(Problem(number, "PV645", f"line {number}: {problem}", "note" if unknown else "error"))
            return
        run_id = record.get("run")
        if record["kind"] == "run_start":
            if run_id is None:
                self.current = Run(None)
                self.runs.append(self.current)
            else:
                self.current = self.by_id.get(run_id)
                if self.current is None:
                    self.current = self.by_id[run_id] = Run(run_id)
                    self.runs.append(self.current)
            self.current.segments.append(Segment(record, number))
            return
        target = self.by_id.get(run_id) if run_id is not None else self.current
        if target is None or not target.segments:
            self.problems.append(Problem(number, "PV645", f"line {number}: a {record['kind']} record of no run "
                                         "that started before it"))
            return
        target.add(record)


def read(path: Path) -> tuple[list[Run], list[Problem], str]:
    """The runs of a ledger, the problems met reading it, and the SHA-256 of its bytes (hex)."""
    digest = hashlib.sha256()
    reader = _Reader()
    pending: tuple[int, str] | None = None  # an unparseable line: torn before a resume, or malformed
    with _open(path) as fh:
        for number, chunk, ended in _lines(fh, digest):
            if chunk is None:
                reader.problems.append(Problem(number, "PV645", f"line {number}: longer than {MAX_LINE_BYTES} bytes"))
                continue
            if not chunk.strip():
                continue  # an empty line holds no record to lose
            record, why = _parse(chunk)
            if record is None and not ended:
                reader.problems.append(Problem(number, "PV646", "the last line was cut off mid-write (the writer "
                                               "was killed); it is skipped", "note"))
                continue
            if pending is not None:
                resumed = record is not None and record.get("kind") == "run_start" and record.get("resumed") is True
                line, reason = pending
                reader.problems.append(
                    Problem(line, "PV646", "a line cut off mid-write by a killed run, before the run_start that "
                            "resumed it; it is skipped", "note") if resumed
                    else Problem(line, "PV645", f"line {line}: {reason}"))
                pending = None
            if record is None:
                if why == "unparseable":
                    pending = (number, why)
                else:
                    reader.problems.append(Problem(number, "PV645", f"line {number}: {why}"))
                continue
            reader.record(number, record)
    if pending is not None:
        reader.problems.append(Problem(pending[0], "PV645", f"line {pending[0]}: {pending[1]}"))
    reader.problems.sort(key=lambda p: p.line)
    return reader.runs, reader.problems, digest.hexdigest()


def _parse(chunk: bytes) -> tuple[dict[str, Any] | None, str | None]:
    if len(chunk) > MAX_LINE_BYTES:
        return None, f"a line of {len(chunk)} bytes, over the limit of {MAX_LINE_BYTES}"
    try:
        value = json.loads(chunk)
    except RecursionError:
        return None, f"nests deeper than {MAX_DEPTH} levels"
    except ValueError:
        return None, "unparseable"
    if not isinstance(value, dict):
        return None, f"not an object but {type(value).__name__ if value is not None else 'null'}"
    if _depth(value) > MAX_DEPTH:
        return None, f"nests deeper than {MAX_DEPTH} levels"
    return value, None
