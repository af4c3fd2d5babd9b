"""The contract format's JSON Schema (Draft 2020-12) and its diagnostics.

Two validators over the one schema file: fastjsonschema compiles it to Python
and answers "valid?" about 50x faster than jsonschema, which matters when a
monorepo holds thousands of contracts; only when that says "invalid" does
jsonschema walk the document to report *every* error with its path, which
the compiled validator (first error only) cannot do.
"""

from __future__ import annotations

import datetime
import difflib
import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any, Callable

from pvcontracts.contract import ids
from pvcontracts.contract.yamlload import LoadedYaml
from pvcontracts.diagnostic import Diagnostic, make

SCHEMA_VERSION = 1
_SCHEMA_FILE = "contract-v1.schema.json"

_JSON_TYPES = {"string": "text", "number": "a number", "integer": "an integer", "boolean": "a boolean",
               "object": "a mapping", "array": "a list", "null": "null"}


@functools.lru_cache(maxsize=None)
def schema_text() -> str:
    """The schema exactly as shipped, for `pv schema` and editors."""
    return resources.files("pvcontracts.contract").joinpath("schemas").joinpath(_SCHEMA_FILE).read_text("utf-8")


@functools.lru_cache(maxsize=None)
def contract_schema() -> dict[str, Any]:
    return json.loads(schema_text())


@functools.lru_cache(maxsize=None)
def _fast_validator() -> Callable[[Any], Any]:
    import fastjsonschema

    # a copy: fastjsonschema rewrites every $ref in place to an absolute URI, and contract_schema() is shared
    return fastjsonschema.compile(json.loads(schema_text()))


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    from jsonschema.exceptions import ValidationError

    # ECMA-262's `$` (the true end), as fastjsonschema reads it: "1.0.0\n" fails both validators alike.
    if validator.is_type(instance, "string") and not ids.ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@functools.lru_cache(maxsize=None)
def _full_validator() -> Any:
    import jsonschema

    cls = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _pattern})
    return cls(contract_schema())


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty (null)"
    return type(value).__name__


def _field_name(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path) if path else "the document"


def _deepest(error: Any) -> list[Any]:
    """Pick the most specific sub-error of an anyOf/oneOf, as best_match does when it descends.

    That is the *smallest* by jsonschema's relevance key: the deepest error, and
    among equals one from the branch of the instance's own type, so a mapping
    under ``let`` is judged as regime-keyed, not as "not text". (Calling
    best_match on the context itself takes the largest, the opposite branch.)
    """
    if not error.context:
        return [error]
    from jsonschema.exceptions import relevance

    return _deepest(min(error.context, key=relevance))


def _is_version_path(path: tuple[Any, ...]) -> bool:
    return path == ("version",) or (len(path) == 3 and path[0] == "changelog" and path[2] == "version")


def _version_hint(raw: str) -> str | None:
    """For a version YAML read as a number (``1.2``, ``1``): the semantic version it stands for."""
    parts = raw.strip().split(".")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() and p.isascii() for p in parts):
        return None
    full = ".".join(str(int(p)) for p in parts + ["0"] * (3 - len(parts)))
    return f"YAML reads {raw} as a number; a version is MAJOR.MINOR.PATCH: write {full}"


def _type_hint(doc: LoadedYaml, path: tuple[Any, ...], expected: Any, value: Any) -> str | None:
    if value is None and not doc.scalar_text(path):  # `title:` with nothing after the colon
        return "the value is empty; write one after the colon"
    raw = doc.scalar_text(path)
    wants_text = expected == "string" or (isinstance(expected, list) and "string" in expected)
    if wants_text and raw is not None and _is_version_path(path) and isinstance(value, (int, float)):
        hint = _version_hint(raw)  # quoting "1.2" would only trade this error for "not a semantic version"
        if hint is not None:
            return hint
    if wants_text and raw is not None and not isinstance(value, str):
        if isinstance(value, float) and raw != repr(value):
            return f"YAML reads {raw} as the number {value!r}; quote it: \"{raw}\""
        return f"quote it to make it text: \"{raw}\""
    if value is None:
        return "the value is empty; write one after the colon"
    return None


def _error_diagnostics(doc: LoadedYaml, error: Any) -> list[Diagnostic]:
    path = tuple(error.absolute_path)
    validator = error.validator
    file = doc.file
    out: list[Diagnostic] = []
    if validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        for key in sorted(set(error.instance) - set(allowed)):
            line, col = doc.position(path + (key,), key=True)
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed fields: {', '.join(sorted(allowed))}"
            where = f" in {_field_name(path)}" if path else ""
            out.append(make("PV101", file, line, col, f"unknown field '{key}'{where}", hint, path + (key,)))
        return out
    if validator == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        line, col = doc.position(path)
        for name in missing:
            where = f"{_field_name(path)}" if path else "the contract"
            out.append(make("PV102", file, line, col, f"{where} is missing required field '{name}'",
                            None, path))
        return out
    line, col = doc.position(path)
    if path == ("schema_version",):
        return [make("PV105", file, line, col,
                     f"schema_version {error.instance!r} is not supported; this tool reads version {SCHEMA_VERSION}",
                     "write schema_version: 1, or upgrade pv-contracts", path)]
    if validator == "type":
        expected = error.validator_value
        names = expected if isinstance(expected, list) else [expected]
        wanted = " or ".join(_JSON_TYPES.get(n, n) for n in names)
        return [make("PV103", file, line, col,
                     f"{_field_name(path)} must be {wanted}, not {_describe(error.instance)}",
                     _type_hint(doc, path, expected, error.instance), path)]
    if validator in ("enum", "const"):
        options = error.validator_value if validator == "enum" else [error.validator_value]
        shown = ", ".join(repr(o) for o in options)
        hint = None
        if isinstance(error.instance, str):
            close = difflib.get_close_matches(error.instance, [str(o) for o in options], n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'?" if close else None
        return [make("PV104", file, line, col,
                     f"{_field_name(path)} is {error.instance!r}; expected one of {shown}", hint, path)]
    if validator == "pattern" and ids.kind_of_path(path) is not None and isinstance(error.instance, str):
        kind = ids.kind_of_path(path)
        return [make("PV202", file, line, col, ids.describe_invalid(kind, error.instance),  # type: ignore[arg-type]
                     ids.suggest(kind, error.instance), path)]  # type: ignore[arg-type]
    if validator == "pattern":
        what = {"^(0|[1-9]": "a semantic version like 1.2.0",
                "^[0-9]{4}": "a date like 2026-11-21",
                "^[a-z][a-z0-9]*(-": "a kebab-case id like training-loop-pretrain-v1",
                "^[a-z_][a-z0-9_]*$": "a snake_case name like vocab_size"}
        desc = next((v for k, v in what.items() if error.validator_value.startswith(k)), f"text matching {error.validator_value}")
        if "propertyNames" in error.absolute_schema_path and isinstance(error.instance, str):
            # the offending value is a key of the mapping at `path`: point at it, and say so
            line, col = doc.position(path + (error.instance,), key=True)
            return [make("PV104", file, line, col, f"key {error.instance!r} in {_field_name(path)} is not "
                         f"{desc}", None, path + (error.instance,))]
        return [make("PV104", file, line, col, f"{_field_name(path)} is {error.instance!r}; expected {desc}", None, path)]
    return [make("PV104", file, line, col, f"{_field_name(path)}: {error.message}", None, path)]


def _format_diagnostics(doc: LoadedYaml) -> list[Diagnostic]:
    """What JSON Schema cannot say: schema_version is the integer 1 (not 1.0), dates are calendar dates."""
    data = doc.data
    out: list[Diagnostic] = []
    version = data.get("schema_version")
    if isinstance(version, float) and version == SCHEMA_VERSION:  # JSON Schema's const takes 1.0 for 1
        line, col = doc.position(("schema_version",))
        out.append(make("PV105", doc.file, line, col,
                        f"schema_version is the float {version!r}; the format's version is the integer {SCHEMA_VERSION}",
                        f"write schema_version: {SCHEMA_VERSION}", ("schema_version",)))
    changelog = data.get("changelog")
    for i, entry in enumerate(changelog if isinstance(changelog, list) else ()):
        date = entry.get("date") if isinstance(entry, dict) else None
        if isinstance(date, str) and len(date) == 10 and date[4:5] == "-" and date[7:8] == "-":
            try:
                datetime.date.fromisoformat(date)
            except ValueError as exc:
                path = ("changelog", i, "date")
                line, col = doc.position(path)
                out.append(make("PV104", doc.file, line, col, f"changelog.{i}.date {date!r} is not a calendar date "
                                f"({exc})", "write a real date, YYYY-MM-DD", path))
    return out


@dataclass(frozen=True)
class SchemaFault:
    """Where the document breaks the schema, for telling the parts that loaded from those that did not.

    ``kind`` is ``unknown-field`` (``keys`` are fields to ignore in the mapping at
    ``path``), ``missing-field`` (``keys`` are absent from it), ``bad-key`` (``keys`` is
    a key of the mapping at ``path`` that is not an identifier), ``id-format`` (the
    record at ``path[:2]`` is usable, only its id is malformed) or ``invalid`` (the
    value at ``path`` is unusable).
    """

    path: tuple[Any, ...]
    kind: str
    keys: tuple[str, ...] = ()


def _fault(error: Any) -> SchemaFault:
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        return SchemaFault(path, "unknown-field", tuple(sorted(str(k) for k in set(error.instance) - allowed)))
    if error.validator == "required" and isinstance(error.instance, dict):
        return SchemaFault(path, "missing-field", tuple(n for n in error.validator_value if n not in error.instance))
    if error.validator == "pattern" and "propertyNames" in error.absolute_schema_path:
        return SchemaFault(path, "bad-key", (str(error.instance),))
    if error.validator == "pattern" and ids.kind_of_path(path) is not None:
        return SchemaFault(path, "id-format")
    return SchemaFault(path, "invalid")


def check_schema(doc: LoadedYaml) -> tuple[list[Diagnostic], list[SchemaFault]]:
    """Every schema violation of one loaded document, as diagnostics and as faults; both empty when it conforms."""
    import fastjsonschema

    try:
        _fast_validator()(doc.data)
        return _format_diagnostics(doc), []
    except fastjsonschema.JsonSchemaException as exc:
        fast_error = exc
    out: list[Diagnostic] = []
    faults: list[SchemaFault] = []
    for error in _full_validator().iter_errors(doc.data):
        for specific in _deepest(error):
            out.extend(_error_diagnostics(doc, specific))
            faults.append(_fault(specific))
    out = list(dict.fromkeys(out))  # `required` reports once per missing field, and each names them all
    if not out:  # the two validators disagree: never let a document the fast one refused through unreported
        path = tuple(int(p) if isinstance(p, str) and p.isdigit() else p  # fastjsonschema spells indexes as text
                     for p in getattr(fast_error, "path", ())[1:])
        line, col = doc.position(path)
        out.append(make("PV104", doc.file, line, col, f"{_field_name(path)}: {fast_error.message}", None, path))
        faults.append(SchemaFault(path, "invalid"))
    return _format_diagnostics(doc) + out, faults


def schema_diagnostics(doc: LoadedYaml) -> list[Diagnostic]:
    """Every schema violation of one loaded document; empty when it conforms."""
    return check_schema(doc)[0]
