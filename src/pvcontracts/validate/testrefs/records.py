"""What the index of a test file records: functions, classes, other names, and parametrize marks.

Plain frozen records shared by the AST indexer that builds them, the index that
answers questions about them, and the JSON form that caches them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

__all__ = ["Chain", "ClassInfo", "FuncInfo", "Member", "OtherName", "ParamMark"]


@dataclass(frozen=True, slots=True)
class ParamMark:
    """One parametrize mark: the ids it yields in order, or None when they are only known at run time."""

    ids: tuple[str, ...] | None
    line: int


@dataclass(frozen=True, slots=True)
class FuncInfo:
    line: int
    is_async: bool
    args: tuple[str, ...]
    params: tuple[ParamMark, ...]  # closest decorator first, the order pytest applies them
    fixture: bool


@dataclass(frozen=True, slots=True)
class ClassInfo:
    line: int
    bases: tuple[str, ...]  # dotted names as written; "?" for anything else
    members: dict[str, "Member"]
    params: tuple[ParamMark, ...]  # body ``pytestmark`` then decorators closest first
    test_attr: bool | None  # a literal ``__test__`` in the body (None: not set or not literal)


@dataclass(frozen=True, slots=True)
class OtherName:
    """A name bound by an import or an assignment: it exists, but what it is cannot be seen."""

    line: int


Member = Union[FuncInfo, ClassInfo, OtherName]
# The classes a reference passes through, outermost first, each with its MRO
# (within this file) and the dotted names of bases defined elsewhere.
Chain = list[tuple[ClassInfo, list[ClassInfo], list[str]]]
