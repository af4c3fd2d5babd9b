"""The one finding type every part of pv-contracts reports.

A leaf module: it imports nothing of ours, so the loader, the validator, the
evidence code and the runtime can all speak the same language without import
cycles. Text, JSON and SARIF output are renderings of this type, never of
anything richer, so the three formats cannot disagree.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any


class Severity(str, enum.Enum):
    """How much a finding matters; only ``error`` fails a run (``--strict`` promotes warnings)."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "note": 2}[self.value]


@dataclass(frozen=True)
class CodeInfo:
    """What a stable diagnostic code means; the registry below feeds SARIF rule metadata."""

    code: str
    name: str
    severity: Severity
    summary: str


# Stable codes. Never renumber: CI configurations and SARIF baselines refer to them.
_CODE_TABLE: tuple[tuple[str, str, Severity, str], ...] = (
    # PV0xx: reading the file
    ("PV001", "unreadable-file", Severity.ERROR, "The file cannot be read, is too large or is not a regular file."),
    ("PV002", "not-utf8", Severity.ERROR, "The file is not valid UTF-8."),
    ("PV003", "yaml-syntax", Severity.ERROR, "The file is not well-formed YAML."),
    ("PV004", "duplicate-key", Severity.ERROR, "A mapping repeats a key; YAML parsers silently keep only one."),
    ("PV005", "yaml11-boolean", Severity.ERROR, "A plain scalar such as no/yes/on/off that YAML 1.1 reads as a boolean."),
    ("PV006", "alias-limit", Severity.ERROR, "Aliases expand past the allowed size (an alias bomb)."),
    ("PV007", "nesting-too-deep", Severity.ERROR, "Collections nest deeper than the loader allows."),
    ("PV008", "not-a-contract-document", Severity.ERROR, "The document is empty, not a mapping, or has several documents."),
    ("PV009", "unsupported-yaml", Severity.ERROR, "A YAML feature the contract format does not accept (merge keys, custom tags, non-string keys)."),
    ("PV010", "nothing-to-validate", Severity.ERROR, "No contract files were found where some were expected."),
    ("PV011", "yaml11-number", Severity.ERROR, "A plain scalar YAML 1.1 reads as a number other than it looks (010 is 8, 1:30 is 90, 0x1F, 1_000)."),
    ("PV012", "bidi-control", Severity.ERROR, "A bidirectional control character, which makes text display other than it reads (Trojan Source)."),
    # PV1xx: the JSON Schema of the contract format
    ("PV101", "unknown-field", Severity.ERROR, "A field the contract format does not define."),
    ("PV102", "missing-field", Severity.ERROR, "A required field is absent."),
    ("PV103", "wrong-type", Severity.ERROR, "A value has the wrong type."),
    ("PV104", "invalid-value", Severity.ERROR, "A value breaks a constraint of the format (pattern, enum, range, length)."),
    ("PV105", "unsupported-schema-version", Severity.ERROR, "The contract declares a schema_version this tool does not read."),
    # PV2xx: identity and cross-references
    ("PV201", "id-not-file-stem", Severity.ERROR, "A contract id differs from its file name."),
    ("PV202", "id-format", Severity.ERROR, "An invariant, gate, falsifier or failure-mode id has the wrong shape or kind."),
    ("PV203", "duplicate-id", Severity.ERROR, "An id is declared twice across the contracts."),
    ("PV204", "unknown-invariant", Severity.ERROR, "A gate, falsifier or failure mode names an invariant that does not exist."),
    ("PV205", "uncovered-invariant", Severity.WARNING, "An invariant that no gate covers: nothing will ever discharge it."),
    ("PV206", "unknown-dependency", Severity.ERROR, "depends_on names a contract that does not exist."),
    ("PV207", "dependency-cycle", Severity.ERROR, "Contracts depend on each other in a cycle."),
    ("PV208", "gate-without-evidence", Severity.ERROR, "A gate names no test; it could never be discharged."),
    ("PV209", "deprecated-dependency", Severity.WARNING, "An active contract depends on a deprecated one."),
    ("PV210", "duplicate-reference", Severity.WARNING, "The same reference is listed twice."),
    ("PV211", "active-without-invariants", Severity.ERROR, "An active contract that declares no invariant: it enforces nothing."),
    # PV3xx: tests named by gates and falsifiers
    ("PV301", "malformed-test-ref", Severity.ERROR, "A test reference is not of the form path/to/test_file.py::name."),
    ("PV302", "test-path-escapes", Severity.ERROR, "A test reference points outside the repository."),
    ("PV303", "test-file-missing", Severity.ERROR, "The test file a reference names does not exist."),
    ("PV304", "test-missing", Severity.ERROR, "The test function or class a reference names does not exist in its file."),
    ("PV305", "test-param-id", Severity.ERROR, "A parametrized id that the test cannot produce, or an id on a test that is not parametrized."),
    ("PV306", "test-not-collected", Severity.WARNING, "The named function or class would not be collected by pytest's default rules."),
    ("PV307", "test-file-unparsable", Severity.ERROR, "The test file cannot be parsed as Python."),
    ("PV310", "test-asserts-nothing", Severity.WARNING, "A test a gate rests on contains no assertion at all (pass, a docstring, assert True, a return before its assert): it cannot fail."),
    # PV4xx: the expression language
    ("PV401", "expression-syntax", Severity.ERROR, "An expression is not valid syntax."),
    ("PV402", "expression-construct", Severity.ERROR, "An expression uses a construct outside the safe language."),
    ("PV403", "unknown-function", Severity.ERROR, "An expression calls a function the language does not have."),
    ("PV404", "function-arity", Severity.ERROR, "A function gets the wrong number or kind of arguments."),
    ("PV405", "unknown-name", Severity.ERROR, "A name that is not a declared param, a let, or a metric known at the boundary."),
    ("PV406", "regime-coverage", Severity.ERROR, "A regime-keyed let does not cover every regime."),
    ("PV407", "let-cycle", Severity.ERROR, "let values refer to each other in a cycle."),
    ("PV408", "string-literal", Severity.ERROR, "A string literal used other than compared with an enum param."),
    ("PV409", "param-declaration", Severity.ERROR, "A param declaration is inconsistent (min above max, default out of range, enum without values)."),
    ("PV410", "history-unguarded", Severity.WARNING, "A history function read where its history may not exist yet; the check is then skipped as unevaluable."),
    ("PV411", "expression-type", Severity.ERROR, "An expression mixes types: a bool or enum in arithmetic, a number as a condition, an enum compared with anything but its values."),
    ("PV412", "let-shadows-name", Severity.ERROR, "A let has the name of a param or of a metric at its boundary, whose value is then never read."),
    ("PV413", "let-limit", Severity.ERROR, "An invariant declares more lets than the limit; every evaluation computes them all."),
    ("PV414", "reaction-boundary", Severity.ERROR, "An on_violation action used at a boundary where it cannot act (skip_step outside step_end: there is no optimizer step to skip)."),
    # PV5xx: versions and history
    ("PV501", "changelog-missing-version", Severity.ERROR, "The changelog has no entry for the contract's current version."),
    ("PV502", "changelog-order", Severity.ERROR, "Changelog entries repeat a version, are out of order, or name a version above the contract's."),
    ("PV503", "version-bump-required", Severity.ERROR, "The contract's meaning changed since the base revision but its version did not rise enough."),
    ("PV504", "version-regressed", Severity.ERROR, "The contract's version is lower than at the base revision."),
    ("PV505", "git-revision", Severity.ERROR, "The base revision given to --against cannot be read."),
    # PV6xx: gate evidence (pv check, pv falsify, pv verify)
    ("PV601", "discharges-unknown-gate", Severity.ERROR, "A test's discharges marker names a gate that no checked contract declares."),
    ("PV602", "gate-test-unclaimed", Severity.ERROR, "A gate lists a test that does not carry @pytest.mark.discharges(gate=...) for it."),
    ("PV603", "test-claim-unlisted", Severity.ERROR, "A test claims a gate (discharges marker) that does not list it in evidence_discharged_by."),
    ("PV604", "discharges-marker-malformed", Severity.ERROR, "A discharges marker without exactly one gate id string."),
    ("PV605", "discharges-gate-not-checked", Severity.NOTE, "A test claims a gate of a contract this run does not check (pv check on some of the contracts)."),
    ("PV610", "gate-failed", Severity.ERROR, "A test bound to the gate, or a falsifier of its invariants, failed or errored."),
    ("PV611", "gate-incomplete", Severity.ERROR, "A test bound to the gate was skipped, xfailed, deselected, not collected or not run."),
    ("PV612", "gate-missing-evidence", Severity.ERROR, "A test the gate names does not exist, or the gate names none."),
    ("PV613", "falsifier-counterexample", Severity.ERROR, "A falsifier found a counterexample to its invariant."),
    ("PV614", "falsifier-not-run", Severity.ERROR, "A falsifier's test did not run to a verdict (missing, skipped, not collected)."),
    ("PV615", "gate-vacuous", Severity.ERROR, "Every test the gate rests on passed, but they pass against every mutant of its invariants too: they do not test the contract text."),
    ("PV616", "falsifier-not-hypothesis", Severity.ERROR, "A falsifier's test is not a Hypothesis property test (or its results carry no statistics to show that it is)."),
    ("PV617", "falsifier-no-examples", Severity.ERROR, "A falsifier's Hypothesis run tried no example."),
    ("PV618", "invariant-mutants-survived", Severity.WARNING, "A gate's tests kill no mutant of one of its invariants, though they kill mutants of others."),
    ("PV619", "mutation-not-checked", Severity.WARNING, "The gates' tests were not run against mutants of their invariants (--no-mutate or --results)."),
    ("PV620", "results-unreadable", Severity.ERROR, "A --results file cannot be read or is neither a pytest report log nor JUnit XML."),
    ("PV621", "test-session-error", Severity.ERROR, "The pytest session that gathers evidence ended abnormally."),
    ("PV630", "evidence-stale", Severity.ERROR, "The contract, invariant, gate or a bound test file changed since the evidence was taken."),
    ("PV631", "evidence-inconsistent", Severity.ERROR, "The evidence does not match its own digests, or a status, count or summary does not follow from what it records."),
    ("PV632", "gate-not-in-evidence", Severity.ERROR, "A gate of a covered contract that the evidence file has no record of."),
    ("PV633", "evidence-input-refused", Severity.ERROR, "The evidence names a file that is not a regular file inside the repository (absolute, '..', a symlink out, a FIFO, a device, too large)."),
    ("PV634", "evidence-signature-invalid", Severity.ERROR, "No signature of the DSSE envelope verifies with the given public key: the evidence was changed after signing, or someone else signed it."),
    ("PV635", "evidence-unsigned", Severity.ERROR, "pv verify --key was given evidence that carries no signature."),
    ("PV640", "ledger-unreadable", Severity.ERROR, "A --ledger file cannot be read or is not a pv-contracts ledger."),
    ("PV641", "runtime-violation-blocking", Severity.ERROR, "A run's ledger records a violation of an invariant a ship-blocking gate covers."),
    ("PV642", "ledger-version-mismatch", Severity.WARNING, "A run's ledger was written against another version of a contract."),
    ("PV643", "ledger-incomplete", Severity.WARNING, "A run's ledger has no run_end record: the run was killed or is still going."),
    ("PV644", "runtime-violation", Severity.WARNING, "A run's ledger records a violation of an invariant no ship-blocking gate covers."),
    ("PV645", "ledger-line-malformed", Severity.ERROR, "A ledger line is not JSON, not an object, nests too deeply, or is a record missing what its kind requires."),
    ("PV646", "ledger-torn-line", Severity.NOTE, "A ledger's last line (or the last line of a killed segment before its resume) was cut off mid-write; it is skipped."),
    ("PV647", "ledger-counts-disagree", Severity.ERROR, "A run's counts say an invariant was violated more often than the ledger has violation records for."),
    ("PV648", "ledger-other-contracts", Severity.WARNING, "A ledger was written by a run that enforced none of the checked contracts."),
    ("PV649", "invariant-never-enforced", Severity.NOTE, "No run in the given ledgers enforced an invariant a ship-blocking gate covers (or the ledger cannot say)."),
    ("PV650", "validate-cache-tracked", Severity.NOTE, "The validate cache is a file git tracks: it came with the repository, so it is ignored (neither read nor written)."),
    # PV72x: framework adapters (pvcontracts.integrations), raised as IntegrationError before the first step
    ("PV720", "integration-schedule-unknown", Severity.ERROR, "A framework adapter cannot read the LR schedule from the run's scheduler, and the run did not declare it (lr_schedule and its params)."),
    ("PV721", "integration-metric-unsupplied", Severity.ERROR, "Strict mode: an enforced invariant reads a metric the framework adapter cannot supply from the framework's hooks."),
    ("PV722", "integration-framework-missing", Severity.ERROR, "The framework an adapter is for is not installed (or too old); install the pv-contracts extra of that name."),
    ("PV723", "integration-regime", Severity.ERROR, "A from_scratch regime needs the vocabulary size, which neither the run nor the framework's model config gives."),
)

CODES: dict[str, CodeInfo] = {row[0]: CodeInfo(*row) for row in _CODE_TABLE}


@dataclass(frozen=True)
class Diagnostic:
    """One finding: where it is, what is wrong, and what to do about it.

    ``line`` and ``column`` are 1-based like every editor's; 0 means "the
    whole file". ``yaml_path`` is the path of keys and indexes from the
    document root, kept so that JSON consumers can point at the node even
    after the file was reformatted.
    """

    code: str
    severity: Severity
    file: str
    line: int
    column: int
    message: str
    hint: str | None = None
    yaml_path: tuple[str | int, ...] = field(default=())

    @property
    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line, self.column, self.code, self.message)

    def with_severity(self, severity: Severity) -> "Diagnostic":
        return replace(self, severity=severity)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "hint": self.hint,
            "yaml_path": list(self.yaml_path),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Diagnostic":
        return cls(
            code=data["code"],
            severity=Severity(data["severity"]),
            file=data["file"],
            line=data["line"],
            column=data["column"],
            message=data["message"],
            hint=data.get("hint"),
            yaml_path=tuple(data.get("yaml_path", ())),
        )


def make(code: str, file: str, line: int, column: int, message: str, hint: str | None = None,
         yaml_path: tuple[str | int, ...] = ()) -> Diagnostic:
    """Build a diagnostic at the code's registered severity (unknown codes are a bug, so KeyError)."""
    return Diagnostic(code, CODES[code].severity, file, line, column, message, hint, yaml_path)


def sort_diagnostics(diagnostics: "list[Diagnostic]") -> list[Diagnostic]:
    """Deterministic order (file, line, column, code) with exact duplicates removed."""
    return sorted(set(diagnostics), key=lambda d: d.sort_key)
