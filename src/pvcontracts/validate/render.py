"""Renderings of diagnostics: compiler-style text, JSON, and SARIF 2.1.0 for code scanning.

All three render the same list of :class:`Diagnostic`; none adds facts of its own.
Output is deterministic: sorted input, sorted keys, no timestamps.

SARIF is meant for GitHub code scanning, which asks more than the 2.1.0
schema: every rule has a ``fullDescription``, ``help`` (text and Markdown)
and a ``helpUri`` to its own section of ``docs/codes.md`` (generated from the
code table by :func:`codes_markdown`); every result has a
``partialFingerprints`` entry that stays the same across runs (no column, the
YAML path rather than the line where there is one), so re-uploads do not
duplicate alerts; regions have end positions; the ``SRCROOT`` base of the
relative URIs is declared in ``originalUriBaseIds``.
"""

from __future__ import annotations

import hashlib
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


# --------------------------------------------------------------------------- the code table as documentation

# What a family of codes is about and what to do about one, by the code's hundreds digit.
SECTIONS: dict[str, tuple[str, str]] = {
    "0": ("Reading the file", "Fix the file so it is small, UTF-8, well-formed YAML with one mapping document and "
          "none of the YAML features the contract format refuses."),
    "1": ("The closed schema", "Correct the field the message names; `pv schema` prints the full format, and an "
          "unknown field comes with a \"did you mean\" hint."),
    "2": ("Identity and cross-references", "Make the ids unique and well-formed and every reference point at "
          "something that exists."),
    "3": ("Tests named by gates and falsifiers", "Point the reference at a test that exists and is collected by "
          "pytest, and make that test able to fail."),
    "4": ("The expression language", "Rewrite the expression within the safe language: the message shows where, "
          "and README.md lists the functions and the names in scope."),
    "5": ("Versions and history", "Bump the contract's version as far as its change of meaning requires and add a "
          "changelog entry for it."),
    "6": ("Gate evidence", "Read the gate's reason in the evidence (`pv status`, `pv report`): fix the test, the "
          "marker or the run it names, then take the evidence again with `pv check`."),
}
SEVERITY_MEANING = {"error": "An error: the command exits 1.",
                    "warning": "A warning: reported, and an error under --strict.",
                    "note": "A note: for information; it never fails a command."}
DOCS_PATH = "docs/codes.md"
DOCS_URI = f"{INFORMATION_URI}/blob/main/{DOCS_PATH}"


def help_uri(code: str) -> str:
    """The code's own section of docs/codes.md (its heading is the code, so the anchor is the code in lower case)."""
    return f"{DOCS_URI}#{code.lower()}"


def _section(code: str) -> tuple[str, str]:
    return SECTIONS.get(code[2:3], ("Other", "See the message and its hint."))


def rule_help(code: str) -> tuple[str, str]:
    """(plain text, Markdown) help for one code, from the code table and its family's guidance."""
    info = CODES[code]
    family, todo = _section(code)
    sev = SEVERITY_MEANING[info.severity.value]
    text = f"{code} {info.name} ({family}). {info.summary} {sev} {todo} Documentation: {help_uri(code)}"
    markdown = (f"**{code} `{info.name}`** ({family.lower()}, {info.severity.value})\n\n{info.summary}\n\n{sev} "
                f"{todo}\n\n[Documentation]({help_uri(code)})")
    return text, markdown


def codes_markdown() -> str:
    """docs/codes.md: one section per code, anchored by the code. Generated; a test keeps the file in step."""
    out = ["# Diagnostic codes", "",
           "Every finding pv-contracts reports carries one of these stable codes (never renumbered). This file is "
           "generated from the code table in `src/pvcontracts/diagnostic.py` by "
           "`python tools/gen_codes_doc.py`; `tests/validate/test_render.py` fails when it is out of date. SARIF "
           "output links each rule here (`helpUri`).", ""]
    current = None
    for code in sorted(CODES):
        family, todo = _section(code)
        if family != current:
            current = family
            out += [f"## PV{code[2]}xx: {family}", "", todo, ""]
        info = CODES[code]
        out += [f"### {code}", "", f"`{info.name}` \u00b7 {info.severity.value}", "", info.summary, "",
                SEVERITY_MEANING[info.severity.value], ""]
    return "\n".join(out)


# --------------------------------------------------------------------------- SARIF


class _Lines:
    """Source lines for end positions, each file read once (a regular file under the size limit only)."""

    def __init__(self) -> None:
        self._files: dict[str, list[str] | None] = {}

    def line(self, file: str, number: int) -> str | None:
        if file not in self._files:
            from pvcontracts.contract.loading import read_bytes

            raw, _ = read_bytes(Path(file), file)
            self._files[file] = None if raw is None else raw.decode("utf-8", "replace").splitlines()
        lines = self._files[file]
        return lines[number - 1] if lines is not None and 0 < number <= len(lines) else None


def _region(d: Diagnostic, lines: _Lines) -> dict[str, int]:
    start = max(d.column, 1)
    text = lines.line(d.file, d.line)
    # The finding runs to the end of its line's text (a YAML value, an expression); columns are code points.
    end = len(text.rstrip()) + 1 if text is not None else start + 1
    return {"startLine": d.line, "startColumn": start, "endLine": d.line, "endColumn": max(end, start + 1)}


def _fingerprint(d: Diagnostic, uri: str) -> str:
    """Stable across runs: the code, the file, where in the YAML (or the line) and the message; no column."""
    where = "/".join(str(p) for p in d.yaml_path) if d.yaml_path else f"line {d.line}"
    return hashlib.sha256(f"{d.code}\0{uri}\0{where}\0{d.message}".encode()).hexdigest()[:32]


def _rule(code: str) -> dict[str, Any]:
    info = CODES[code]
    text, markdown = rule_help(code)
    return {
        "id": code,
        "name": info.name,
        "shortDescription": {"text": info.summary},
        "fullDescription": {"text": f"{info.summary} {SEVERITY_MEANING[info.severity.value]}"},
        "help": {"text": text, "markdown": markdown},
        "helpUri": help_uri(code),
        "defaultConfiguration": {"level": info.severity.value},
        "properties": {"tags": ["pv-contracts", _section(code)[0].lower()]},
    }


def render_sarif(diagnostics: list[Diagnostic], root: Path) -> str:
    """One SARIF run for code scanning: every rule described and documented, results fingerprinted."""
    rule_ids = sorted(CODES)
    index = {code: i for i, code in enumerate(rule_ids)}
    lines = _Lines()
    results: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for d in diagnostics:
        text = d.message + (f" (hint: {d.hint})" if d.hint else "")
        uri = _uri(d.file, root)
        # SARIF 3.4.4: an absolute uri (a file outside the root) must not carry a uriBaseId.
        artifact = {"uri": uri} if uri.startswith("file:") else {"uri": uri, "uriBaseId": "SRCROOT"}
        location: dict[str, Any] = {"artifactLocation": artifact}
        if d.line > 0:
            location["region"] = _region(d, lines)
        fingerprint = _fingerprint(d, uri)
        seen[fingerprint] = seen.get(fingerprint, 0) + 1
        if seen[fingerprint] > 1:  # the same finding twice in one place: keep both alerts apart
            fingerprint += f":{seen[fingerprint]}"
        result: dict[str, Any] = {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": d.severity.value,
            "message": {"text": text},
            "locations": [{"physicalLocation": location}],
            "partialFingerprints": {"pvContractsFinding/v1": fingerprint},
        }
        if d.yaml_path:
            result["properties"] = {"yamlPath": list(d.yaml_path)}  # indexes stay ints, as in JSON
        results.append(result)
    sarif = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "pv-contracts", "version": __version__, "semanticVersion": __version__,
                                "informationUri": INFORMATION_URI, "rules": [_rule(c) for c in rule_ids]}},
            "originalUriBaseIds": {"SRCROOT": {"uri": Path(root).resolve().as_uri().rstrip("/") + "/",
                                               "description": {"text": "The repository root."}}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }
    return json.dumps(sarif, indent=2, sort_keys=True) + "\n"
