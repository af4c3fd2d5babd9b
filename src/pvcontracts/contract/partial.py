"""The parts of a schema-invalid contract that did load, so one `pv validate` run shows every problem.

A misspelt field used to stop every other rule for its contract: its unknown
references and missing tests surfaced only once the typo was fixed. Instead,
the schema's faults say exactly which parts are unusable, and everything else
is kept:

* an unknown field of the document or of a record is ignored (PV101 reported
  it); one deeper (a regime key of a let) makes its record unusable;
* a record (invariant, gate, falsifier, failure mode, changelog entry) with an
  error inside becomes None in its list, so every other record keeps its index
  and the positions of its diagnostics; a record whose only fault is the shape
  of its id is kept (PV202 reported it);
* a param or metric with an error is left out;
* any other field with an error is left out and named in ``broken``, as is a
  missing required field.

The rules skip what depends on a broken field (no changelog rule without a
version). A partial model is for the validator only: the runtime and `pv
check` refuse a file with errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pvcontracts.contract.schema import SchemaFault

__all__ = ["RECORD_LISTS", "UsableParts", "usable_parts"]

RECORD_LISTS = ("invariants", "gates", "falsifiers", "failure_modes", "changelog")
_ENTRY_MAPS = ("params", "metrics")


@dataclass
class UsableParts:
    """A copy of the document with the unusable parts taken out, and what was taken."""

    data: dict[str, Any]
    broken: set[str] = field(default_factory=set)
    broken_ids: list[str] = field(default_factory=list)   # invariant ids of records left out
    broken_refs: list[str] = field(default_factory=list)  # invariants named by gates left out ("*": unreadable)


def usable_parts(document: dict[str, Any], faults: list[SchemaFault]) -> UsableParts:
    """What of ``document`` can be built into a model, given the schema's ``faults``; ``document`` is not changed."""
    bad_records: dict[str, set[int]] = {}
    bad_entries: dict[str, set[str]] = {}
    strip: dict[tuple[Any, ...], set[str]] = {}
    out = UsableParts(dict(document))
    for fault in faults:
        path = fault.path
        if fault.kind == "unknown-field" and (len(path) == 0 or (len(path) == 2 and path[0] in RECORD_LISTS + _ENTRY_MAPS)):
            strip.setdefault(path, set()).update(fault.keys)  # the document's or a record's own field: ignore it
            continue
        if not path:  # the document itself: a required field is missing
            out.broken.update(fault.keys)
            continue
        top = path[0]
        if top in RECORD_LISTS and len(path) >= 2 and isinstance(path[1], int):
            if fault.kind != "id-format":
                bad_records.setdefault(top, set()).add(path[1])
        elif top in _ENTRY_MAPS and (len(path) >= 2 or fault.kind == "bad-key"):
            bad_entries.setdefault(top, set()).add(str(path[1]) if len(path) >= 2 else fault.keys[0])
        else:
            out.broken.add(str(top))
    data = out.data
    for key in strip.get((), ()):
        data.pop(key, None)
    for name in list(out.broken):
        data.pop(name, None)
    for top in RECORD_LISTS:
        items = data.get(top)
        if not isinstance(items, list):
            continue
        records = []
        for i, item in enumerate(items):
            if i in bad_records.get(top, ()):
                _remember(out, top, item)
                records.append(None)
                continue
            unknown = strip.get((top, i))
            records.append({k: v for k, v in item.items() if k not in unknown} if unknown else item)
        data[top] = records
        if top in bad_records:
            out.broken.add(top)
    for top in _ENTRY_MAPS:
        entries = data.get(top)
        if not isinstance(entries, dict):
            continue
        kept = {}
        for name, entry in entries.items():
            if str(name) in bad_entries.get(top, ()):
                continue
            unknown = strip.get((top, name))
            kept[name] = {k: v for k, v in entry.items() if k not in unknown} if unknown else entry
        data[top] = kept
        if top in bad_entries:
            out.broken.add(top)
    return out


def _remember(out: UsableParts, top: str, item: Any) -> None:
    """Keep the ids a record left out declares or names, so other rules do not report them as unknown."""
    if not isinstance(item, dict):
        return
    if top == "invariants" and isinstance(item.get("id"), str):
        out.broken_ids.append(item["id"])
    if top == "gates":
        refs = item.get("invariants")
        if isinstance(refs, list):
            out.broken_refs.extend(ref for ref in refs if isinstance(ref, str))
        else:
            out.broken_refs.append("*")  # what it was meant to cover cannot be read: it may be anything
