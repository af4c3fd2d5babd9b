"""Rule: a history read has the guard it needs (PV410, a warning), or the Monitor silently skips the check.

``prev(val_loss)`` at the first epoch has no previous value: the runtime counts
the check "unevaluable" and moves on, so a contract without ``when: "epoch >
0"`` is simply not enforced at epoch 0, and nobody is told. The analysis is in
:mod:`pvcontracts.contract.exprguards`; here each expression gets the guard
the runtime gives it (``compiled.CompiledInvariant.verdict``): ``when`` first,
with only the lets it reads evaluated before it, then the other lets and
``check`` under ``when``.
"""

from __future__ import annotations

from typing import Iterator

from pvcontracts.contract.exprguards import guard_bounds, unguarded_reads
from pvcontracts.contract.model import Contract, Invariant
from pvcontracts.contract.vocabulary import metrics_at
from pvcontracts.diagnostic import Diagnostic
from pvcontracts.validate.rules.parsed import parse_invariant


def _hint(function: str, needed: int, counter: str, boundary: str) -> str:
    if boundary == "run_end":
        return "run_end happens once per run, so there is no earlier value to read; check it at epoch_end instead"
    guard = f"{counter} > 0" if needed == 1 else f"{counter} >= {needed}"
    return f"add when: \"{guard}\" (or put the read behind '{guard} and ...')"


def check_history_guards(contract: Contract) -> Iterator[Diagnostic]:
    """prev() and window functions only where their history exists."""
    windows = {name: (int(p.max) if p.type == "int" and p.max is not None and p.max == p.max else None)
               for name, p in contract.params.items()}
    for inv in contract.invariants:
        if not _reads_history(inv):
            continue  # most invariants read no history: nothing to guard, nothing to parse or walk
        parsed = parse_invariant(inv)
        metrics = set(metrics_at(inv.at)) | {m for m, d in contract.metrics.items() if inv.at in d.at}
        metrics -= set(contract.params) | set(inv.lets)  # history of a param or a let is PV404's to report
        seen: set[tuple[tuple[str | int, ...], int]] = set()
        for regime in parsed.regimes:
            lets = parsed.lets_for(regime)
            read_by_when = _lets_read(parsed.when, lets)
            known = guard_bounds(parsed.when, inv.at, lets)
            sites = [(inv.path + ("when",), parsed.when, {})] if parsed.when is not None else []
            if parsed.check is not None:
                sites.append((inv.path + ("check",), parsed.check, known))
            for name, texts in parsed.lets.items():
                for text in texts:
                    if text.regime in (None, regime):
                        sites.append((text.path, text.expr, {} if name in read_by_when else known))
            for path, expr, bounds in sites:
                for read in unguarded_reads(expr, inv.at, bounds, lets=lets, window_max=windows):
                    if (path, read.offset) in seen or read.metric not in metrics:
                        continue
                    seen.add((path, read.offset))
                    if read.function == "prev":
                        what, exist = f"the previous value of {read.metric}", "exists"
                    else:
                        what, exist = f"the last {read.needed + 1} values of {read.metric}", "exist"
                    if inv.at == "run_end":
                        message = f"{read.text} needs {what} at run_end, which happens once per run: never there"
                    else:
                        message = (f"{read.text} needs {what} at {inv.at}, which {exist} only from {read.counter} "
                                   f"{read.needed} on; unguarded, the check is counted unevaluable, and not "
                                   "checked, until then")
                    yield contract.diag(
                        "PV410", path, message,
                        _hint(read.function, read.needed, read.counter, inv.at), offset=read.offset)


_NEEDS_HISTORY = ("prev", "window_")  # first() needs no guard: the current value is its first


def _reads_history(inv: Invariant) -> bool:
    texts = [inv.check, inv.when or ""] + [text for let in inv.lets.values() for _, text in let.texts()]
    return any(word in text for text in texts for word in _NEEDS_HISTORY)


def _lets_read(when, lets) -> set[str]:
    """The lets ``when`` reads, transitively: the runtime evaluates them before ``when``, so unguarded."""
    if when is None:
        return set()
    found: set[str] = set()
    frontier = [n for n in when.names if n in lets]
    while frontier:
        name = frontier.pop()
        if name not in found:
            found.add(name)
            frontier.extend(n for n in lets[name].names if n in lets)
    return found
