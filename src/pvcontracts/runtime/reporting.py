"""What the Monitor says about a run: the ledger records, the violations in memory, and the one reaction table.

``on_violation`` means one thing everywhere, read from the one reaction table
(:mod:`pvcontracts.contract.reactions`) by every path (host checks, deferred
checks, the pre-step checks, the quiet recording on the way out of an
exception): every violation is counted, kept in ``violations`` and written to
the ledger first; then a reaction that ``warns`` (warn, skip_step) emits a
:class:`ContractWarning` and the earliest one that ``raises`` (abort) raises
:class:`ContractViolation`. What ``skip_step`` does to the update happened at
the step already (the Monitor and the watcher); here it is recorded, with its
values, like any violation. The ledger format is agreed in LEDGER.md: every record
carries the run id; ``run_start`` the mode and the selected invariants;
``counts`` per invariant whether it was enforced and, if not, why.
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any, Callable, Iterable

from pvcontracts.contract.reactions import reaction_of
from pvcontracts.runtime.ledger import Ledger
from pvcontracts.runtime.values import is_host
from pvcontracts.runtime.violation import ContractViolation, ContractWarning, Violation


class Reporter:
    """The run's voice: the JSONL ledger (may be None) and ``violations``, in the order they were acted on."""

    def __init__(self, ledger: Ledger | None, run_id: str) -> None:
        self.ledger = ledger
        self.run_id = run_id
        self.violations: list[Violation] = []

    def write(self, record: dict[str, Any]) -> None:
        if self.ledger is not None:
            self.ledger.write({**record, "run": self.run_id})

    def sync(self) -> None:
        if self.ledger is not None:
            self.ledger.sync()

    def run_start(self, *, regime: Any, params: dict[str, Any], contracts: Iterable[Any], invariants: list[str],
                  mode: str, sync_every: int, rank: int, world_size: int, resumed: bool = False) -> None:
        record = {"kind": "run_start", "time": time.time(), "regime": regime.to_dict(),
                  "params": {k: v for k, v in sorted(params.items()) if is_host(v) or isinstance(v, str)},
                  "contracts": [{"id": c.id, "version": c.version} for c in contracts],
                  "invariants": invariants, "mode": mode, "sync_every": sync_every, "rank": rank,
                  "world_size": world_size, "pid": os.getpid()}
        if resumed:
            record["resumed"] = True
        self.write(record)

    def counts(self, step: int, epoch: int, invariants: dict[str, dict[str, Any]]) -> None:
        self.write({"kind": "counts", "step": step, "epoch": epoch, "invariants": invariants})
        self.sync()  # at epoch and run boundaries: the counts survive a power cut

    def run_end(self, step: int, epoch: int, summary: dict[str, Any]) -> None:
        self.write({"kind": "run_end", "time": time.time(), "step": step, "epoch": epoch, **summary})
        self.sync()

    def act(self, found: list[Violation], count: Callable[[Violation], None], *, raise_abort: bool = True) -> None:
        """Every violation counted, kept and written, in step order; then warnings; then the first abort raised."""
        if not found:
            return
        found.sort(key=lambda v: (v.step if v.step is not None else -1, v.invariant_id))
        abort: Violation | None = None
        for v in found:
            count(v)
            self.violations.append(v)
            try:
                self.write(v.to_record())
            except Exception:
                if raise_abort:
                    raise
            reaction = reaction_of(v.on_violation)
            if reaction.raises and abort is None:
                abort = v
            elif reaction.warns and raise_abort:
                warnings.warn(ContractWarning(v.message()), stacklevel=5)
        if abort is not None and raise_abort:
            self.sync()
            raise ContractViolation(abort)
