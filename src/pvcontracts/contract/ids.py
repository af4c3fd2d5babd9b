"""Ids of invariants, gates, falsifiers and failure modes: one rule, the schema's, read by everyone.

The patterns live in the contract schema (``$defs``: ``invariant_id``,
``gate_id``, ...), so editors flag a bad id as it is typed, and the schema's
validators report it (as PV202, with a suggestion from :func:`suggest`). They
are ASCII only (``[0-9]``, never ``\\d``, which takes ``𝟶`` for a digit) and
anchored at the true end of the text (``$`` is read as ``\\Z``, so
``"INV-LOOP-001\\n"`` is not an id): two ids that look the same are the same.
"""

from __future__ import annotations

import functools
import re

__all__ = ["ID_KINDS", "PREFIXES", "describe_invalid", "id_pattern", "is_valid_id", "kind_of_path", "suggest"]

# The list a record lives in -> the schema $defs entry of its id.
ID_KINDS: dict[str, str] = {"invariants": "invariant_id", "gates": "gate_id", "falsifiers": "falsifier_id",
                            "failure_modes": "failure_mode_id"}
PREFIXES: dict[str, str] = {"invariants": "INV", "gates": "GATE", "falsifiers": "FALSIFY", "failure_modes": "FM"}


def ecma_regex(pattern: str) -> "re.Pattern[str]":
    """A JSON Schema (ECMA-262) pattern for Python's ``re``: ``$`` matches only at the very end, as in ECMA.

    Python's ``$`` also matches before a final newline. fastjsonschema makes the same
    substitution, so the fast and the full validator, and every rule, agree.
    """
    return _compiled(pattern)


@functools.lru_cache(maxsize=None)
def _compiled(pattern: str) -> "re.Pattern[str]":
    return re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))


def id_pattern(kind: str) -> "re.Pattern[str]":
    """The compiled id pattern of a record list (``invariants``, ``gates``, ...), from the schema."""
    from pvcontracts.contract.schema import contract_schema

    return ecma_regex(contract_schema()["$defs"][ID_KINDS[kind]]["pattern"])


def is_valid_id(kind: str, value: object) -> bool:
    return isinstance(value, str) and id_pattern(kind).search(value) is not None


def kind_of_path(path: tuple) -> str | None:
    """The record list when ``path`` is the id of a record (``("gates", 2, "id")``), else None."""
    if len(path) == 3 and path[0] in ID_KINDS and isinstance(path[1], int) and path[2] == "id":
        return path[0]
    return None


def describe_invalid(kind: str, value: str) -> str:
    """Why ``value`` is not an id of its kind, naming an invisible or non-ASCII character if that is the reason."""
    what = kind[:-1].replace("_", " ")
    base = f"{value!r} is not a valid {what} id ({PREFIXES[kind]}-<AREA>-<NNN>)"
    odd = next((ch for ch in value if not ch.isascii() or not ch.isprintable()), None)
    if odd is not None:
        base += f": it contains {odd!r} (U+{ord(odd):04X}); ids are printable ASCII"
    return base


def suggest(kind: str, value: str) -> str:
    """How to write ``value`` as an id of its kind (``inv_train_5`` -> ``INV-TRAIN-005``)."""
    prefix = PREFIXES[kind]
    m = re.match(r"^([A-Za-z]+)[-_ ]?([A-Za-z][A-Za-z0-9]*)[-_ ]?(\d+)\s*\Z", value)
    if m:
        try:
            number = int(m.group(3))  # int() reads any Unicode digits: '𝟶𝟶𝟷' suggests 001
        except ValueError:
            number = None
        if number is not None:
            return f"write it as {prefix}-{m.group(2).upper()}-{number:03d}"
    return f"ids of {kind.replace('_', ' ')} look like {prefix}-<AREA>-<NNN>, e.g. {prefix}-TRAIN-005"
