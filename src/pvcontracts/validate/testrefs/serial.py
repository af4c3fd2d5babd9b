"""The JSON form of a test file's index, for the warm-run cache.

Plain lists, strings, ints, bools and None, keyed by the file's SHA-256 by the
caller. Reading is strict: anything that is not exactly what :func:`dump`
writes (another :data:`INDEX_FORMAT`, a damaged entry) raises ValueError, and
the caller parses the file again instead of trusting it.
"""

from __future__ import annotations

from typing import Any

from pvcontracts.validate.testrefs.records import ClassInfo, FuncInfo, Member, OtherName, ParamMark

__all__ = ["INDEX_FORMAT", "BadIndex", "dump", "load_fields"]

#: Version of the JSON written by :func:`dump`. Bump it whenever the layout or
#: the meaning of an index changes, so that persisted caches made by an older
#: pv-contracts are re-parsed instead of trusted.
INDEX_FORMAT = 1


class BadIndex(ValueError):
    """A cached index that does not have the expected shape."""


def _req(cond: bool, what: str) -> None:
    if not cond:
        raise BadIndex(what)


def _str_tuple(data: Any, what: str) -> tuple[str, ...]:
    _req(isinstance(data, list) and all(isinstance(x, str) for x in data), what)
    return tuple(data)


def _int(data: Any, what: str) -> int:
    _req(isinstance(data, int) and not isinstance(data, bool), what)
    return int(data)


def _param_to_json(p: ParamMark) -> dict[str, Any]:
    return {"ids": None if p.ids is None else list(p.ids), "line": p.line}


def _param_from_json(data: Any) -> ParamMark:
    _req(isinstance(data, dict), "param")
    ids = data.get("ids")
    return ParamMark(None if ids is None else _str_tuple(ids, "param ids"), _int(data.get("line"), "param line"))


def _params_from_json(data: Any) -> tuple[ParamMark, ...]:
    _req(isinstance(data, list), "params")
    return tuple(_param_from_json(p) for p in data)


def _member_to_json(m: Member) -> dict[str, Any]:
    if isinstance(m, FuncInfo):
        return {"k": "f", "line": m.line, "async": m.is_async, "args": list(m.args),
                "params": [_param_to_json(p) for p in m.params], "fixture": m.fixture}
    if isinstance(m, ClassInfo):
        return {"k": "c", "line": m.line, "bases": list(m.bases),
                "members": {n: _member_to_json(x) for n, x in m.members.items()},
                "params": [_param_to_json(p) for p in m.params], "test": m.test_attr}
    return {"k": "o", "line": m.line}


def _member_from_json(data: Any, depth: int = 0) -> Member:
    _req(isinstance(data, dict) and depth < 200, "member")
    kind = data.get("k")
    line = _int(data.get("line"), "member line")
    if kind == "f":
        _req(isinstance(data.get("async"), bool) and isinstance(data.get("fixture"), bool), "function flags")
        return FuncInfo(line, data["async"], _str_tuple(data.get("args"), "args"),
                        _params_from_json(data.get("params")), data["fixture"])
    if kind == "c":
        test_attr = data.get("test")
        _req(test_attr is None or isinstance(test_attr, bool), "class __test__")
        return ClassInfo(line, _str_tuple(data.get("bases"), "bases"),
                         _members_from_json(data.get("members"), depth + 1),
                         _params_from_json(data.get("params")), test_attr)
    _req(kind == "o", "member kind")
    return OtherName(line)


def _members_from_json(data: Any, depth: int = 0) -> dict[str, Member]:
    _req(isinstance(data, dict), "members")
    out: dict[str, Member] = {}
    for name, m in data.items():
        _req(isinstance(name, str), "member name")
        out[name] = _member_from_json(m, depth)
    return out


def dump(index: Any) -> dict[str, Any]:
    """A :class:`~pvcontracts.validate.testrefs.index.TestIndex` as plain data, for ``json.dump``."""
    return {
        "format": INDEX_FORMAT,
        "error": None if index.error is None else {"message": index.error[0], "line": index.error[1]},
        "members": {n: _member_to_json(m) for n, m in index.members.items()},
        "params": [_param_to_json(p) for p in index.params],
        "test": index.test_attr,
        "star_import": index.star_import,
        "generate_tests": index.generate_tests,
        "param_fixtures": sorted(index.param_fixtures),
    }


def load_fields(data: Any) -> dict[str, Any]:
    """The constructor arguments of a TestIndex from :func:`dump` output; BadIndex (a ValueError) otherwise."""
    try:
        _req(isinstance(data, dict) and data.get("format") == INDEX_FORMAT, "index format")
        err = data.get("error")
        error: tuple[str, int] | None = None
        if err is not None:
            _req(isinstance(err, dict) and isinstance(err.get("message"), str), "error")
            error = (err["message"], _int(err.get("line"), "error line"))
        test_attr = data.get("test")
        _req(test_attr is None or isinstance(test_attr, bool), "module __test__")
        _req(isinstance(data.get("star_import"), bool) and isinstance(data.get("generate_tests"), bool),
             "module flags")
        return dict(
            members=_members_from_json(data.get("members")),
            params=_params_from_json(data.get("params")),
            test_attr=test_attr,
            star_import=data["star_import"],
            generate_tests=data["generate_tests"],
            param_fixtures=frozenset(_str_tuple(data.get("param_fixtures"), "param_fixtures")),
            error=error,
        )
    except RecursionError as exc:
        raise BadIndex("index nests too deeply") from exc
