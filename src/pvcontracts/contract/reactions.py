"""What each ``on_violation`` means: the one table every part reads.

icontract turns a declared reaction into what happens in one function
(``_create_violation_error``); here that decision is one row of a table. The
runtime's reporter reads ``raises`` and ``warns``, its pre-step path reads
``before_update``, its step path reads ``prevents_update`` and ``urgent``, and
``pv validate`` reads ``boundaries`` (an action that only makes sense at some
boundaries is an error elsewhere, PV414). The schema's enum of
``on_violation`` is this table's keys (a test keeps them equal). A new action
is one row here and the code its new field asks for, never another comparison
of the string somewhere.

Pure data, no torch: the validator and the runtime share it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_REACTION", "REACTIONS", "Reaction", "reaction_of"]


@dataclass(frozen=True)
class Reaction:
    """What a violation does once it is counted, kept in ``monitor.violations`` and written to the ledger.

    ``raises``: the first one found raises ContractViolation (the run stops).
    ``warns``: each one emits a ContractWarning (a skipped step too: the user sees it in the log).
    ``prevents_update``: the optimizer update of the violating step is not applied, on every
    rank, decided on the device at the step (no host read), the step recorded as skipped.
    ``before_update``: with ``fatal_before_step`` the monitor evaluates it in the optimizer's
    step pre-hook (a sync per step), so it acts before the weights change.
    ``urgent``: a violation found on the host at step_end settles the pending steps at once,
    so the earliest violating step is the one acted on (warn and record wait for the next
    sync point: a check failing every step must not make every step a sync).
    ``boundaries``: where the action is legal (None: every boundary).
    """

    name: str
    raises: bool = False
    warns: bool = False
    prevents_update: bool = False
    before_update: bool = False
    urgent: bool = False
    boundaries: tuple[str, ...] | None = None


REACTIONS: dict[str, Reaction] = {r.name: r for r in (
    Reaction("abort", raises=True, before_update=True, urgent=True),
    Reaction("warn", warns=True),
    Reaction("record"),
    Reaction("skip_step", warns=True, prevents_update=True, before_update=True, urgent=True, boundaries=("step_end",)),
)}

DEFAULT_REACTION = "abort"  # an invariant without on_violation


def reaction_of(name: str | None) -> Reaction:
    """The row for ``name``; an unknown name (a contract the schema refused) reads as the default, abort."""
    return REACTIONS.get(name or DEFAULT_REACTION, REACTIONS[DEFAULT_REACTION])
