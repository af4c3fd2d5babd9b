"""``pv verify EVIDENCE.json``: does this evidence still describe the tree in front of us?

Per gate, one verdict:

* **tampered**: the document does not match its ``content_digest``, the gate's
  record does not match its ``record_digest``, its status does not follow from
  its tests' recorded outcomes (or a test's outcome from its instances'), or an
  in-toto Statement's subjects disagree with the contracts it wraps;
* **stale**: something the gate rests on changed since the evidence was taken,
  whether or not anyone bumped the version: the contract's version or status,
  its params/metrics, the gate, one of its invariants, the set or text of the
  falsifiers of those invariants, or a bound test file; also when the
  contract file or the gate is gone;
* **valid** otherwise.

A gate a covered contract declares now but the evidence has no record of is a
finding too (PV632). Digests are recomputed from the current files under
``root``; nothing is run. A valid verdict says the record is intact and
current, not that the gate was discharged: the recorded status is shown
beside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pvcontracts.contract.loading import load_contract_file
from pvcontracts.contract.model import Contract
from pvcontracts.diagnostic import Diagnostic, make
from pvcontracts.evidence import fingerprint as fp
from pvcontracts.evidence.evidence import SCHEMA_VERSION, content_digest, load_schema, record_digest, unwrap
from pvcontracts.evidence.status import aggregate, gate_status

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


@dataclass
class GateVerdict:
    contract: str
    version: str
    gate: str
    verdict: str  # valid | stale | tampered
    recorded_status: str
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"contract": self.contract, "version": self.version, "gate": self.gate, "verdict": self.verdict,
                "recorded_status": self.recorded_status, "reasons": list(self.reasons)}


@dataclass
class VerifyReport:
    verdicts: list[GateVerdict] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    evidence_git: dict[str, Any] | None = None
    current_git: dict[str, Any] | None = None
    error: str | None = None  # the file is not evidence we can read: usage error

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return EXIT_USAGE
        if any(v.verdict != "valid" for v in self.verdicts) or self.diagnostics:
            return EXIT_FINDINGS
        return EXIT_OK

    def counts(self) -> dict[str, int]:
        return {k: sum(1 for v in self.verdicts if v.verdict == k) for k in ("valid", "stale", "tampered")}


def _schema_errors(doc: Any) -> list[str]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors[:5]]


def _tamper_reasons(g: dict[str, Any]) -> list[str]:
    reasons = []
    if record_digest(g) != g.get("record_digest"):
        reasons.append("its record was edited after it was written (record_digest does not match)")
    for t in g.get("tests", []):
        instances = t.get("instances") or []
        if instances and aggregate([i["outcome"] for i in instances]) != t["outcome"]:
            reasons.append(f"{t['ref']} says {t['outcome']} but its instances say "
                           f"{aggregate([i['outcome'] for i in instances])}")
    derived = gate_status([t["outcome"] for t in g.get("tests", [])])
    if derived != g.get("status"):
        reasons.append(f"status says {g.get('status')} but its tests' outcomes give {derived}")
    return reasons


class _Tree:
    """The current contracts the evidence names, loaded once, with id lookups across them."""

    def __init__(self, root: Path, files: list[str]) -> None:
        self.root = root
        self.by_file: dict[str, Contract | None] = {}
        for file in files:
            path = root / file
            loaded = load_contract_file(path, file) if path.is_file() else None
            self.by_file[file] = loaded.contract if loaded is not None else None
        contracts = [c for c in self.by_file.values() if c is not None]
        self.invariants = {i.id: i for c in contracts for i in c.invariants}
        self.falsifiers_of: dict[str, list[Any]] = {}
        for c in contracts:
            for f in c.falsifiers:
                self.falsifiers_of.setdefault(f.invariant, []).append(f)
        self._digests: dict[str, str | None] = {}

    def file_digest(self, path: str) -> str | None:
        if path not in self._digests:
            self._digests[path] = fp.file_digest(self.root / path)
        return self._digests[path]


def _stale_reasons(crec: dict[str, Any], g: dict[str, Any], tree: _Tree) -> list[str]:
    contract = tree.by_file.get(crec["file"])
    if contract is None:
        return [f"{crec['file']} is gone or no longer loads"]
    gate = next((x for x in contract.gates if x.id == g["id"]), None)
    if gate is None:
        return [f"{g['id']} is no longer in {crec['file']}"]
    inputs = g["inputs"]
    reasons = []
    if contract.version != inputs["contract_version"]:
        reasons.append(f"contract version {inputs['contract_version']} -> {contract.version}")
    if contract.status != inputs["contract_status"]:
        reasons.append(f"contract status {inputs['contract_status']} -> {contract.status}")
    if fp.context_fingerprint(contract) != inputs["context"]:
        reasons.append("the contract's params or metrics changed")
    if fp.gate_fingerprint(gate) != inputs["gate"]:
        reasons.append(f"{gate.id} changed")
    current_invs = sorted(gate.invariants)
    for inv_id in sorted(set(current_invs) | set(inputs["invariants"])):
        inv = tree.invariants.get(inv_id)
        now = fp.invariant_fingerprint(inv) if inv is not None and inv_id in current_invs else None
        if now != inputs["invariants"].get(inv_id):
            reasons.append(f"{inv_id} changed" if now and inputs["invariants"].get(inv_id) else
                           f"{inv_id} {'added to' if now else 'removed from'} the gate")
    falsifiers = {f.id: fp.falsifier_fingerprint(f) for inv in gate.invariants for f in tree.falsifiers_of.get(inv, [])}
    for fid in sorted(set(falsifiers) | set(inputs["falsifiers"])):
        if falsifiers.get(fid) != inputs["falsifiers"].get(fid):
            reasons.append(f"{fid} changed" if fid in falsifiers and fid in inputs["falsifiers"] else
                           f"{fid} {'added' if fid in falsifiers else 'removed'}")
    for path, digest in sorted(inputs["files"].items()):
        now = tree.file_digest(path)
        if now != digest:
            reasons.append(f"{path} {'changed' if now and digest else 'appeared' if now else 'is gone'}")
    return reasons


def verify_file(path: Path, root: Path) -> VerifyReport:
    from pvcontracts.evidence.provenance import git_state

    report = VerifyReport()
    try:
        data = json.loads(Path(path).read_bytes())
    except OSError as exc:
        report.error = f"cannot read {path}: {exc.strerror or exc}"
        return report
    except ValueError as exc:
        report.error = f"{path} is not JSON: {exc}"
        return report
    doc, statement = unwrap(data)
    if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA_VERSION or "contracts" not in doc:
        report.error = f"{path} is not pv-contracts evidence (schema_version {SCHEMA_VERSION})"
        return report
    display = str(path)
    whole: list[str] = []
    if content_digest(doc) != doc.get("content_digest"):
        whole.append("the evidence does not match its content_digest")
    problems = _schema_errors(doc)
    if problems:
        report.diagnostics.append(make("PV631", display, 0, 0, "the evidence does not match its schema: "
                                       + "; ".join(problems)))
        return report
    if statement is not None:
        subjects = {s.get("name"): (s.get("digest") or {}).get("sha256") for s in statement.get("subject") or ()}
        recorded = {c["file"]: (c["digest"] or "").split(":", 1)[-1] for c in doc["contracts"] if c.get("digest")}
        if subjects != recorded:
            whole.append("the in-toto subjects do not match the contracts in the predicate")
    report.evidence_git = (doc.get("source") or {}).get("git")
    report.current_git = git_state(root)
    tree = _Tree(root, [c["file"] for c in doc["contracts"]])
    for crec in doc["contracts"]:
        for g in crec["gates"]:
            verdict = GateVerdict(crec["id"], crec["version"], g["id"], "valid", g["status"])
            tampered = _tamper_reasons(g) + whole
            if tampered:
                verdict.verdict, verdict.reasons = "tampered", tampered
            else:
                stale = _stale_reasons(crec, g, tree)
                if stale:
                    verdict.verdict, verdict.reasons = "stale", stale
            report.verdicts.append(verdict)
        contract = tree.by_file.get(crec["file"])
        if contract is not None:
            recorded = {g["id"] for g in crec["gates"]}
            for gate in contract.gates:
                if gate.id not in recorded:
                    report.diagnostics.append(contract.diag(
                        "PV632", gate.path, f"{gate.id} has no record in {display}",
                        "run pv check again: the evidence predates this gate"))
    for v in report.verdicts:
        if v.verdict == "valid":
            continue
        contract = next((tree.by_file.get(c["file"]) for c in doc["contracts"] if c["id"] == v.contract), None)
        gate = next((x for x in contract.gates if x.id == v.gate), None) if contract is not None else None
        code = "PV631" if v.verdict == "tampered" else "PV630"
        message = f"{v.gate} evidence is {v.verdict}: " + "; ".join(v.reasons)
        hint = ("the evidence was edited or damaged; take it again with pv check" if v.verdict == "tampered"
                else "run pv check again to take evidence for the current tree")
        if gate is not None:
            report.diagnostics.append(contract.diag(code, gate.path, message, hint))
        else:
            report.diagnostics.append(make(code, display, 0, 0, message, hint))
    return report
