"""Renderings of diagnostics: compiler-style text, JSON, and SARIF 2.1.0 for code scanning.

All three render the same list of :class:`Diagnostic`; none adds facts of its own.
Output is deterministic: sorted input, sorted keys, no timestamps.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pvcontracts._version import __version__
from pvcontracts.diagnostic import CODES, Diagnostic

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/pv-contracts/pv-contracts"


def summary_line(counts: dict[str, int], verb: str = "pv validate") -> str:
    c = counts
    return (f"{verb}: {c['contracts']} contracts, {c['invariants']} invariants, {c['gates']} gates, "
            f"{c['falsifiers']} falsifiers, {c['tests']} test references; "
            f"{c['errors']} error{'s' if c['errors'] != 1 else ''}, "
            f"{c['warnings']} warning{'s' if c['warnings'] != 1 else ''}")


def render_text(diagnostics: list[Diagnostic], counts: dict[str, int], *, color: bool = False) -> str:
    lines: list[str] = []
    for d in diagnostics:
        where = f"{d.file}:{d.line}:{d.column}" if d.line > 0 else d.file
        sev = d.severity.value
        if color:
            sev = {"error": "\x1b[1;31merror\x1b[0m", "warning": "\x1b[1;33mwarning\x1b[0m"}.get(sev, sev)
        lines.append(f"{where}: {sev}[{d.code}]: {d.message}")
        if d.hint:
            lines.append(f"  hint: {d.hint}")
    lines.append(summary_line(counts))
    return "\n".join(lines) + "\n"


def render_json(diagnostics: list[Diagnostic], counts: dict[str, int]) -> str:
    payload = {
        "tool": {"name": "pv-contracts", "version": __version__},
        "summary": counts,
        "diagnostics": [d.to_dict() for d in diagnostics],
    }
    return json.dumps(payload, indent=2, sort_keys=True) + "\n"


def _uri(file: str, root: Path) -> str:
    path = Path(file)
    absolute = path if path.is_absolute() else Path.cwd() / path
    try:
        rel = Path(os.path.relpath(absolute, root)).as_posix()
    except ValueError:
        rel = absolute.as_posix()
    if rel.startswith("../"):
        return absolute.resolve().as_uri()
    return quote(rel)


def render_sarif(diagnostics: list[Diagnostic], root: Path) -> str:
    """One SARIF run; rules carry every code's metadata so viewers can explain a finding."""
    rule_ids = sorted(CODES)
    index = {code: i for i, code in enumerate(rule_ids)}
    rules = [{
        "id": code,
        "name": CODES[code].name,
        "shortDescription": {"text": CODES[code].summary},
        "defaultConfiguration": {"level": CODES[code].severity.value},
        "helpUri": f"{INFORMATION_URI}#{code.lower()}",
    } for code in rule_ids]
    results: list[dict[str, Any]] = []
    for d in diagnostics:
        text = d.message + (f" (hint: {d.hint})" if d.hint else "")
        uri = _uri(d.file, root)
        # SARIF 3.4.4: an absolute uri (a file outside the root) must not carry a uriBaseId.
        artifact = {"uri": uri} if uri.startswith("file:") else {"uri": uri, "uriBaseId": "SRCROOT"}
        location: dict[str, Any] = {"artifactLocation": artifact}
        if d.line > 0:
            location["region"] = {"startLine": d.line, "startColumn": max(d.column, 1)}
        result: dict[str, Any] = {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": d.severity.value,
            "message": {"text": text},
            "locations": [{"physicalLocation": location}],
        }
        if d.yaml_path:
            result["properties"] = {"yamlPath": list(d.yaml_path)}  # indexes stay ints, as in JSON
        results.append(result)
    sarif = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "pv-contracts", "version": __version__, "semanticVersion": __version__,
                                "informationUri": INFORMATION_URI, "rules": rules}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }
    return json.dumps(sarif, indent=2, sort_keys=True) + "\n"
