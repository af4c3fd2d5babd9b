"""The ids pytest gives parametrized tests, computed from the source as pytest computes them.

``parametrize_spec`` mirrors ``ParameterSet._for_parametrize`` and ``IdMaker``
(pytest >= 8): explicit ``pytest.param(id=...)``, then ``ids=[...]``, then each
value's own id, joined with '-', duplicates made unique. Anything only known at
run time yields ``ids=None``, which makes every id acceptable: a static checker
must not report errors it cannot prove.
"""

from __future__ import annotations

import ast
from collections import Counter
from typing import Any

from pvcontracts.validate.testrefs.records import ParamMark

__all__ = ["dotted", "parametrize_spec"]

# pytest's "short" strategy (the default since pytest 9) gives str/bytes values
# longer than this an ``argname<index>`` id, older pytest used the value itself:
# such ids depend on the pytest version and configuration, so they are not checked.
_LONG_STR_LIMIT = 100


def dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, the callee's for a call, None otherwise."""
    if isinstance(node, ast.Call):
        node = node.func
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None



_NON_PRINTABLE = {i: f"\\x{i:02x}" for i in range(128) if i not in range(32, 127)}
_NON_PRINTABLE.update({ord("\t"): "\\t", ord("\r"): "\\r", ord("\n"): "\\n"})


def _ascii_escaped(val: str | bytes) -> str:
    """pytest's ``_pytest.compat.ascii_escaped``: how a str/bytes appears in a test id."""
    if isinstance(val, bytes):
        ret = val.decode("ascii", "backslashreplace")
    else:
        ret = val.encode("unicode_escape").decode("ascii")
    return ret.translate(_NON_PRINTABLE)


class _Unknown(Exception):
    """Raised inside id computation when a value is only known at run time."""


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError, OverflowError) as exc:
        raise _Unknown from exc


def _value_id(node: ast.expr, argname: str, idx: int) -> str:
    """The id pytest generates for one value (``IdMaker._idval`` without a hook or idfn)."""
    value = _literal(node)
    if isinstance(value, (str, bytes)):
        if len(value) > _LONG_STR_LIMIT:
            raise _Unknown  # depends on the pytest version and parametrize_long_str_id_strategy
        return _ascii_escaped(value)
    if value is None or isinstance(value, (bool, int, float, complex)):
        return str(value)
    return f"{argname}{idx}"  # tuples, lists, dicts, sets: no id of their own


def _explicit_id(node: ast.expr) -> str | None:
    """An entry of ``ids=[...]`` (``IdMaker._idval_from_value_required``); None means 'generate'."""
    value = _literal(node)
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        return _ascii_escaped(value)
    if isinstance(value, (bool, int, float, complex)):
        return str(value)
    raise _Unknown  # a collection error in pytest; do not second-guess it


def _unique_ids(ids: list[str]) -> list[str]:
    """pytest's ``IdMaker.make_unique_parameterset_ids`` (pytest >= 8) for duplicate ids.

    Duplicates get a counter suffix, with '_' before it when the id ends in a
    digit ('1' -> '1_0', '1_1'; 'a' -> 'a0', 'a1'), skipping suffixed ids that
    another parameter set already has.
    """
    counts = Counter(ids)
    if len(counts) == len(ids):
        return ids
    result = list(ids)
    present = Counter(ids)  # the ids as they stand while renaming, as pytest's set(resolved_ids)
    suffixes: dict[str, int] = {}
    for index, i in enumerate(ids):
        if counts[i] > 1:
            sep = "_" if i and i[-1].isdigit() else ""
            n = suffixes.get(i, 0)
            new = f"{i}{sep}{n}"
            while present[new] > 0:
                n += 1
                new = f"{i}{sep}{n}"
            present[i] -= 1
            present[new] += 1
            result[index] = new
            suffixes[i] = n + 1
    return result


def parametrize_spec(call: ast.Call) -> ParamMark:
    """The ids one ``parametrize(...)`` call produces, or ``ids=None`` when not fully literal.

    Mirrors ``ParameterSet._for_parametrize`` and ``IdMaker``: argnames as a
    comma-separated string (one name and no trailing comma means each value is
    the single argument) or a list/tuple of strings; each value set's id is its
    ``pytest.param(id=...)``, else its ``ids=[...]`` entry, else its values'
    ids joined with '-'; then duplicates are made unique.
    """
    line = call.lineno
    try:
        args = call.args
        kws = {k.arg: k.value for k in call.keywords}
        if any(isinstance(a, ast.Starred) for a in args) or None in kws:
            raise _Unknown
        argnames_node = args[0] if len(args) > 0 else kws.get("argnames")
        argvalues_node = args[1] if len(args) > 1 else kws.get("argvalues")
        ids_node = args[3] if len(args) > 3 else kws.get("ids")
        if argnames_node is None or argvalues_node is None:
            raise _Unknown

        if isinstance(argnames_node, ast.Constant) and isinstance(argnames_node.value, str):
            raw = argnames_node.value
            argnames = [x.strip() for x in raw.split(",") if x.strip()]
            force_tuple = len(argnames) == 1 and not raw.rstrip().endswith(",")
        elif isinstance(argnames_node, (ast.List, ast.Tuple)) and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in argnames_node.elts):
            argnames = [e.value for e in argnames_node.elts]  # type: ignore[attr-defined]
            force_tuple = False
        else:
            raise _Unknown
        if not argnames or not isinstance(argvalues_node, (ast.List, ast.Tuple)):
            raise _Unknown
        elements = argvalues_node.elts
        if not elements or any(isinstance(e, ast.Starred) for e in elements):
            raise _Unknown  # empty sets get a version-dependent placeholder id

        sets: list[tuple[list[ast.expr], str | None]] = []
        for element in elements:
            if isinstance(element, ast.Call) and dotted(element) in ("pytest.param", "param"):
                pkws = {k.arg: k.value for k in element.keywords}
                if any(isinstance(a, ast.Starred) for a in element.args) or None in pkws:
                    raise _Unknown
                values = list(element.args)
                id_node = pkws.get("id")
                explicit: str | None = None
                if id_node is not None:
                    if not isinstance(id_node, ast.Constant) or not isinstance(id_node.value, (str, type(None))):
                        raise _Unknown  # pytest.HIDDEN_PARAM, a variable, or a TypeError at collection
                    explicit = None if id_node.value is None else _ascii_escaped(id_node.value)
            elif force_tuple:
                values, explicit = [element], None
            elif isinstance(element, (ast.Tuple, ast.List)) and not any(
                    isinstance(e, ast.Starred) for e in element.elts):
                values, explicit = list(element.elts), None
            else:
                raise _Unknown
            if len(values) != len(argnames):
                raise _Unknown  # pytest fails collection; that is not ours to report
            sets.append((values, explicit))

        explicit_ids: list[str | None] | None = None
        if ids_node is not None and not (isinstance(ids_node, ast.Constant) and ids_node.value is None):
            if not isinstance(ids_node, (ast.List, ast.Tuple)):
                raise _Unknown  # a callable or a computed iterable
            if ids_node.elts:  # ids=[] is treated as no ids (pytest issue #1849)
                if len(ids_node.elts) != len(sets):
                    raise _Unknown
                explicit_ids = [_explicit_id(e) for e in ids_node.elts]

        ids: list[str] = []
        for idx, (values, explicit) in enumerate(sets):
            if explicit is not None:
                ids.append(explicit)
            elif explicit_ids is not None and explicit_ids[idx] is not None:
                ids.append(explicit_ids[idx])  # type: ignore[arg-type]
            else:
                ids.append("-".join(_value_id(v, n, idx) for v, n in zip(values, argnames)))
        return ParamMark(tuple(_unique_ids(ids)), line)
    except (_Unknown, ValueError, TypeError, RecursionError, MemoryError):
        # ValueError: e.g. str() of an int past sys.get_int_max_str_digits(), which fails
        # pytest's collection as well; either way no id can be promised.
        return ParamMark(None, line)

