"""Reading a training run's ledger strictly, as evidence must be read.

The ledger is JSON lines written by :mod:`pvcontracts.runtime.ledger` (the
format both sides agreed on: records of kind ``run_start``, ``counts``,
``violation`` and ``run_end``, each with the run id ``run``). A reader that
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

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_DEPTH = 32
MAX_LINE_BYTES = 4 * 1024 * 1024
KINDS = ("run_start", "counts", "violation", "run_end")
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


@dataclass
class Segment:
    start: dict[str, Any]
    line: int
    records: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        return any(r.get("kind") == "run_end" for _, r in self.records)


@dataclass
class Run:
    """One run: its id (None for a ledger older than run ids) and its segments in file order."""

    run_id: str | None
    segments: list[Segment] = field(default_factory=list)

    def records(self, kind: str) -> list[tuple[int, dict[str, Any]]]:
        return [(n, r) for s in self.segments for n, r in s.records if r.get("kind") == kind]


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
    elif kind != "run_end":
        return f"an unknown kind {kind!r}" if kind is not None else "a record without a kind"
    return None


def _lines(path: Path) -> list[bytes]:
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)  # O_NONBLOCK: a FIFO without a writer must not hang the reader
    except OSError as exc:
        raise LedgerUnreadable(exc.strerror or str(exc)) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise LedgerUnreadable("not a regular file")
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read().split(b"\n")
    finally:
        os.close(fd)


def read(path: Path) -> tuple[list[Run], list[Problem], bytes]:
    """The runs of a ledger, the problems met reading it, and its bytes (for the digest)."""
    chunks = _lines(path)
    raw = b"\n".join(chunks)
    problems: list[Problem] = []
    parsed: list[tuple[int, dict[str, Any] | None, str | None]] = []  # (line, record or None, why not)
    last = len(chunks) - 1
    for number, chunk in enumerate(chunks, 1):
        if number - 1 == last and not chunk:
            break  # the final newline
        torn_tail = number - 1 == last  # no newline after it: cut off mid-write
        if not chunk.strip():
            continue  # an empty line holds no record to lose
        record, why = _parse(chunk)
        if record is None and torn_tail:
            problems.append(Problem(number, "PV646", "the last line was cut off mid-write (the writer was killed); "
                                    "it is skipped", "note"))
            continue
        parsed.append((number, record, why))
    runs: list[Run] = []
    by_id: dict[str, Run] = {}
    current: Run | None = None
    for index, (number, record, why) in enumerate(parsed):
        if record is None:
            following = next((r for _, r, _ in parsed[index + 1:] if r is not None), None)
            if (why == "unparseable" and following is not None and following.get("kind") == "run_start"
                    and following.get("resumed") is True):
                problems.append(Problem(number, "PV646", "a line cut off mid-write by a killed run, before the "
                                        "run_start that resumed it; it is skipped", "note"))
            else:
                problems.append(Problem(number, "PV645", f"line {number}: {why or 'malformed'}"))
            continue
        problem = malformed(record)
        if problem is not None:
            unknown = problem.startswith("an unknown kind")
            problems.append(Problem(number, "PV645", f"line {number}: {problem}", "note" if unknown else "error"))
            continue
        run_id = record.get("run")
        if record["kind"] == "run_start":
            if run_id is None:
                current = Run(None)
                runs.append(current)
            else:
                current = by_id.get(run_id)
                if current is None:
                    current = by_id[run_id] = Run(run_id)
                    runs.append(current)
            current.segments.append(Segment(record, number))
            continue
        target = by_id.get(run_id) if run_id is not None else current
        if target is None or not target.segments:
            problems.append(Problem(number, "PV645", f"line {number}: a {record['kind']} record of no run that "
                                    "started before it"))
            continue
        target.segments[-1].records.append((number, record))
    return runs, problems, raw


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
