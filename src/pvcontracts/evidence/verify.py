"""``pv verify EVIDENCE``: what can be proven about this evidence, against the tree in front of us.

The evidence is read as untrusted input (a regular file under a size limit;
bare, an in-toto Statement, or a DSSE envelope, signed or not) and everything
it claims that can be recomputed is recomputed. Per gate, one verdict, named
for what it proves:

* **tampered**: only with ``--key``: no signature of the envelope verifies
  with the key, so the file was changed after it was signed (or someone else
  signed it). Only a signature can prove tampering;
* **inconsistent**: the file disagrees with itself: it does not match its
  content digest or a gate its record digest; a test's outcome does not follow
  from its instances, a status from its tests' outcomes and mutation record, a
  count, reason or mutation score from what it counts; a gate's ``tests`` do
  not cover its ``evidence_discharged_by`` and falsifiers; the summary does not
  follow from the records and findings; a statement's subjects disagree with
  the predicate; or a path it names is not a regular file inside the
  repository (PV633: absolute, ``..``, a symlink out, a FIFO, a device, too
  large). Without a signature this is all a digest can show: anyone who can
  write the file can also make it consistent;
* **stale**: something the gate rests on changed since: the contract's
  version, status, params or metrics, the gate, an invariant, the falsifiers
  of its invariants, a bound test file, or a conftest or repository module
  the tests import;
* **valid** otherwise: consistent and current. Not discharged: the recorded
  status is shown beside it.

Runtime evidence is judged again from what the evidence records: a violation
of an invariant a ship-blocking gate covers fails ``pv verify`` (PV641) as it
failed ``pv check``. A gate a covered contract declares now but the evidence
has no record of is PV632. Nothing is run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pvcontracts.contract.model import Contract
from pvcontracts.diagnostic import Diagnostic, Severity, make
from pvcontracts.evidence import fingerprint as fp
from pvcontracts.evidence.evidence import (PREDICATE_TYPE, SCHEMA_VERSION, NotEvidence, content_digest, gate_counts,
                                           gate_reason, load_bytes, load_schema, record_digest, statement_subjects,
                                           summarise)
from pvcontracts.evidence.safefile import Gone, Refused, check_form, digest_inside, read_file, read_inside
from pvcontracts.evidence.status import STATUS_CODES, aggregate, gate_status

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
VERDICTS = ("valid", "stale", "inconsistent", "tampered")
MAX_CONTRACT_BYTES = 1024 * 1024


@dataclass
class GateVerdict:
    contract: str
    version: str
    gate: str
    verdict: str  # valid | stale | inconsistent | tampered
    recorded_status: str
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"contract": self.contract, "version": self.version, "gate": self.gate, "verdict": self.verdict,
                "recorded_status": self.recorded_status, "reasons": list(self.reasons)}


@dataclass
class SignatureState:
    """What is known about who wrote the file: ``verified``, ``invalid``, ``unchecked`` (signed, no key
    given), ``unsigned`` (an envelope without signatures) or ``none`` (not an envelope)."""

    state: str
    detail: str
    key_id: str | None = None
    signers: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "detail": self.detail, "key_id": self.key_id, "signers": list(self.signers)}


@dataclass
class VerifyReport:
    verdicts: list[GateVerdict] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    evidence_git: dict[str, Any] | None = None
    current_git: dict[str, Any] | None = None
    signature: SignatureState = field(default_factory=lambda: SignatureState("none", "not signed"))
    form: str = "bare"  # bare | in-toto | dsse
    error: str | None = None  # the file is not evidence we can read: usage error

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return EXIT_USAGE
        if any(v.verdict != "valid" for v in self.verdicts):
            return EXIT_FINDINGS
        if any(d.severity == Severity.ERROR for d in self.diagnostics):
            return EXIT_FINDINGS
        return EXIT_OK

    def counts(self) -> dict[str, int]:
        return {k: sum(1 for v in self.verdicts if v.verdict == k) for k in VERDICTS}


def _schema_errors(doc: Any) -> list[str]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors[:5]]


# --------------------------------------------------------------------------- consistency


def _mutation_reasons(g: dict[str, Any], base: str, mutation_enabled: bool) -> list[str]:
    from pvcontracts.evidence.mutation_plan import summarise_record

    record = g.get("mutation")
    if record is None:
        if base == "discharged" and mutation_enabled:
            return ["the run mutation-checked its gates but this one has no mutation record"]
        return []
    if base != "discharged":
        return [f"it has a mutation record though its tests make it {base}"]
    reasons = []
    derived = summarise_record(record["results"])
    for key in ("mutants", "killed", "score", "outcomes", "invariants"):
        if derived[key] != record.get(key):
            reasons.append(f"mutation {key} says {record.get(key)!r} but its mutant results give {derived[key]!r}")
    refs = {t["ref"] for t in g.get("tests", [])}
    for r in record["results"]:
        if r["outcome"] == "killed" and r["killed_by"] not in refs:
            reasons.append(f"{r['id']} is killed by {r['killed_by']}, which is not one of the gate's tests")
        if r["invariant"] not in g.get("invariants", []):
            reasons.append(f"{r['id']} mutates {r['invariant']}, which the gate does not cover")
    return reasons


def _coverage_reasons(g: dict[str, Any], falsifier_tests: dict[str, str]) -> list[str]:
    """The gate's tests must be exactly what it lists plus the tests of its falsifiers."""
    reasons = []
    tests = {t["ref"]: t for t in g.get("tests", [])}
    for ref in g.get("evidence_discharged_by", []):
        if ref not in tests or "bound" not in tests[ref]["roles"]:
            reasons.append(f"{ref} is in evidence_discharged_by but not among its tests")
    for fid in g.get("falsifiers", []):
        ref = falsifier_tests.get(fid)
        if ref is None:
            reasons.append(f"its falsifier {fid} is not recorded in the evidence")
        elif ref not in tests or "falsifier" not in tests[ref]["roles"]:
            reasons.append(f"{ref}, the test of its falsifier {fid}, is not among its tests")
    listed = set(g.get("evidence_discharged_by", []))
    expected = listed | {falsifier_tests[f] for f in g.get("falsifiers", []) if f in falsifier_tests}
    for ref in sorted(set(tests) - expected):
        reasons.append(f"{ref} is among its tests but neither listed nor a falsifier's test")
    return reasons


def _inconsistencies(g: dict[str, Any], contract_status: str, falsifier_tests: dict[str, str],
                     mutation_enabled: bool) -> list[str]:
    reasons = []
    if record_digest(g) != g.get("record_digest"):
        reasons.append("its record does not match its record_digest")
    for t in g.get("tests", []):
        instances = t.get("instances") or []
        if instances and aggregate([i["outcome"] for i in instances]) != t["outcome"]:
            reasons.append(f"{t['ref']} says {t['outcome']} but its instances say "
                           f"{aggregate([i['outcome'] for i in instances])}")
    reasons += _coverage_reasons(g, falsifier_tests)
    outcomes = [t["outcome"] for t in g.get("tests", [])]
    base = gate_status(outcomes)
    reasons += _mutation_reasons(g, base, mutation_enabled)
    derived = gate_status(outcomes, g.get("mutation")) if base == "discharged" else base
    if derived != g.get("status"):
        reasons.append(f"status says {g.get('status')} but its tests' outcomes give {derived}")
    if gate_counts(g.get("tests", [])) != g.get("counts"):
        reasons.append(f"counts say {g.get('counts')} but its tests give {gate_counts(g.get('tests', []))}")
    if gate_reason(derived, g.get("tests", []), g.get("mutation")) != g.get("reason"):
        reasons.append("its reason does not follow from its tests")
    blocking = bool(g.get("ship_blocking")) and contract_status == "active"
    if blocking != g.get("blocking"):
        reasons.append(f"blocking says {g.get('blocking')} but the gate is "
                       f"{'ship-blocking' if g.get('ship_blocking') else 'not ship-blocking'} in a {contract_status} "
                       "contract")
    return reasons


def _document_reasons(doc: dict[str, Any], unwrapped: Any) -> list[str]:
    """What makes the whole file inconsistent, whichever gate one looks at."""
    reasons = []
    if content_digest(doc) != doc.get("content_digest"):
        reasons.append("the evidence does not match its content_digest")
    derived = summarise(doc["contracts"], doc["findings"], doc["kind"])
    wrong = [k for k in derived if derived[k] != doc["summary"].get(k)]
    if wrong:
        reasons.append("the summary does not follow from the records and findings ("
                       + ", ".join(f"{k} says {doc['summary'].get(k)!r}, the records give {derived[k]!r}"
                                   for k in wrong[:4]) + ")")
    if doc["kind"] == "check":
        for c in doc["contracts"]:
            for g in c["gates"]:
                code = STATUS_CODES.get(g["status"])
                if code and not any(f["code"] == code and f["message"].startswith(f"{g['id']} is {g['status']}")
                                    for f in doc["findings"]):
                    reasons.append(f"{g['id']} is {g['status']} but the findings have no {code} for it")
    statement = unwrapped.statement
    if statement is not None:
        subject = statement.get("subject")
        subjects = sorted((str(s.get("name")), tuple(sorted((str(k), str(v)) for k, v in s["digest"].items())))
                          for s in (subject if isinstance(subject, list) else ())
                          if isinstance(s, dict) and isinstance(s.get("digest"), dict))
        expected = sorted((s["name"], tuple(sorted(s["digest"].items()))) for s in statement_subjects(doc))
        if subjects != expected:
            reasons.append("the in-toto subjects do not match the contracts and commit in the predicate")
        if statement.get("predicateType") != PREDICATE_TYPE:
            reasons.append(f"the statement's predicateType is {statement.get('predicateType')!r}, not {PREDICATE_TYPE}")
    return reasons


def _paths_named(crec: dict[str, Any], g: dict[str, Any]) -> list[str]:
    inputs = g.get("inputs") or {}
    paths = [crec["file"], *inputs.get("files", {}), *inputs.get("imports", {})]
    paths += [t["file"] for t in g.get("tests", []) if t.get("file")]
    return list(dict.fromkeys(paths))


# --------------------------------------------------------------------------- the current tree


class _Tree:
    """The current contracts and files the evidence names, read safely, each once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.by_file: dict[str, Contract | None] = {}
        self._digests: dict[str, str | None] = {}
        self.refused: dict[str, str] = {}
        self._contracts: list[Contract] | None = None

    def contract(self, file: str) -> Contract | None:
        from pvcontracts.contract.loading import load_contract_bytes

        if file not in self.by_file:
            self.by_file[file] = None
            try:
                raw = read_inside(self.root, file, MAX_CONTRACT_BYTES)
            except Refused as exc:
                self.refused[file] = str(exc)
            except Gone:
                pass
            else:
                self.by_file[file] = load_contract_bytes(raw, file).contract
            self._contracts = None
        return self.by_file[file]

    def load(self, files: list[str]) -> None:
        for f in files:
            self.contract(f)
        contracts = [c for c in self.by_file.values() if c is not None]
        self.invariants = {i.id: i for c in contracts for i in c.invariants}
        self.falsifiers_of: dict[str, list[Any]] = {}
        for c in contracts:
            for f in c.falsifiers:
                self.falsifiers_of.setdefault(f.invariant, []).append(f)

    def file_digest(self, path: str) -> str | None:
        if path not in self._digests:
            try:
                self._digests[path] = digest_inside(self.root, path)
            except Refused as exc:
                self.refused[path] = str(exc)
                self._digests[path] = None
        return self._digests[path]


def _stale_reasons(crec: dict[str, Any], g: dict[str, Any], tree: _Tree) -> list[str]:
    contract = tree.contract(crec["file"])
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
    for key, what in (("files", ""), ("imports", " (imported by its tests)")):
        for path, digest in sorted(inputs.get(key, {}).items()):
            now = tree.file_digest(path)
            if path in tree.refused:
                continue  # reported as a refusal, not as a change
            if now != digest:
                reasons.append(f"{path}{what} {'changed' if now and digest else 'appeared' if now else 'is gone'}")
    return reasons


# --------------------------------------------------------------------------- signatures


def _signature(unwrapped: Any, key: Path | None, report: VerifyReport) -> str | None:
    """Fill ``report.signature``; returns a usage error, if any."""
    envelope = unwrapped.envelope
    signers = tuple(s.keyid for s in envelope.signatures) if envelope is not None else ()
    if key is None:
        if envelope is None:
            report.signature = SignatureState("none", "not signed: the digests show consistency, not who wrote it")
        elif not envelope.signatures:
            report.signature = SignatureState("unsigned", "a DSSE envelope without a signature")
        else:
            shown = ", ".join(s[:16] or "(no key id)" for s in signers)
            report.signature = SignatureState("unchecked", f"signed by {shown}; not checked (pass --key)",
                                              signers=signers)
        return None
    from pvcontracts.evidence.signing import SigningError, key_id, load_public_key, verify_envelope

    try:
        public = load_public_key(key)
    except SigningError as exc:
        return str(exc)
    kid = key_id(public)
    if envelope is None or not envelope.signatures:
        report.signature = SignatureState("unsigned", "the evidence carries no signature", kid, signers)
        return None
    check = verify_envelope(envelope, public)
    report.signature = SignatureState("verified" if check.ok else "invalid", check.reason, kid, signers)
    return None


# --------------------------------------------------------------------------- the verb


def verify_file(path: Path, root: Path, key: Path | None = None) -> VerifyReport:
    from pvcontracts.evidence.provenance import git_state

    report = VerifyReport()
    try:
        raw = read_file(Path(path))
        unwrapped = load_bytes(raw)
    except (Refused, Gone) as exc:
        report.error = f"cannot read {path}: {exc}"
        return report
    except NotEvidence as exc:
        report.error = f"{path} is not pv-contracts evidence: {exc}"
        return report
    doc = unwrapped.doc
    report.form = unwrapped.form
    if isinstance(doc, dict) and isinstance(doc.get("schema_version"), int) and doc["schema_version"] < SCHEMA_VERSION:
        report.error = (f"{path} is evidence version {doc['schema_version']}, written by an older pv-contracts; "
                        "take it again with pv check")
        return report
    if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA_VERSION or "contracts" not in doc:
        report.error = f"{path} is not pv-contracts evidence (schema_version {SCHEMA_VERSION})"
        return report
    problem = _signature(unwrapped, key, report)
    if problem is not None:
        report.error = problem
        return report
    display = str(path)
    if report.signature.state == "invalid":
        report.diagnostics.append(make("PV634", display, 0, 0, f"the signature does not verify: "
                                       f"{report.signature.detail}", "do not use this evidence; take it again"))
    elif key is not None and report.signature.state == "unsigned":
        report.diagnostics.append(make("PV635", display, 0, 0, "--key was given, but the evidence is not signed",
                                       "sign it with pv sign (or pv check --sign)"))
    problems = _schema_errors(doc)
    if problems:
        report.diagnostics.append(make("PV631", display, 0, 0, "the evidence does not match its schema: "
                                       + "; ".join(problems)))
        return report
    whole = _document_reasons(doc, unwrapped)
    report.evidence_git = (doc.get("source") or {}).get("git")
    report.current_git = git_state(root)
    tree = _Tree(root)
    safe_files = []
    for crec in doc["contracts"]:
        try:
            safe_files.append(check_form(crec["file"]))
        except Refused as exc:
            tree.refused[crec["file"]] = str(exc)
    tree.load(safe_files)
    falsifier_tests = {f["id"]: f["test"] for c in doc["contracts"] for f in c["falsifiers"]}
    mutation_enabled = bool(((doc.get("run") or {}).get("mutation") or {}).get("enabled"))
    for crec in doc["contracts"]:
        for g in crec["gates"]:
            verdict = GateVerdict(crec["id"], crec["version"], g["id"], "valid", g["status"])
            for p in _paths_named(crec, g):
                try:
                    check_form(p)
                except Refused as exc:
                    tree.refused.setdefault(p, str(exc))
            stale = _stale_reasons(crec, g, tree) if crec["file"] not in tree.refused else []
            refused = [f"{p}: {tree.refused[p]}" for p in _paths_named(crec, g) if p in tree.refused]
            inconsistent = whole + _inconsistencies(g, crec["status"], falsifier_tests, mutation_enabled) + refused
            if report.signature.state == "invalid":
                verdict.verdict, verdict.reasons = "tampered", [report.signature.detail]
            elif inconsistent:
                verdict.verdict, verdict.reasons = "inconsistent", inconsistent
            elif stale:
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
    if not report.verdicts:
        # pv check never writes evidence without a gate: with no gate to carry a verdict, the file itself does
        why = "; ".join(whole) if whole else "it records no gate at all"
        report.diagnostics.append(make("PV631", display, 0, 0, f"the evidence is inconsistent: {why}",
                                       "the evidence was edited or damaged; take it again with pv check"))
    for p, why in sorted(tree.refused.items()):
        report.diagnostics.append(make("PV633", display, 0, 0, f"the evidence names {p}, which it may not: {why}",
                                       "evidence names only regular files inside the repository"))
    report.diagnostics.extend(_runtime_findings(doc, display))
    _verdict_diagnostics(report, doc, tree, display)
    return report


def _runtime_findings(doc: dict[str, Any], display: str) -> list[Diagnostic]:
    from pvcontracts.evidence.runtime import judge_recorded

    blocking = {i for c in doc["contracts"] if c["status"] == "active" for g in c["gates"] if g["ship_blocking"]
                for i in g["invariants"]}
    return judge_recorded(doc.get("runtime") or [], blocking, display)


def _verdict_diagnostics(report: VerifyReport, doc: dict[str, Any], tree: _Tree, display: str) -> None:
    for v in report.verdicts:
        if v.verdict == "valid":
            continue
        contract = next((tree.by_file.get(c["file"]) for c in doc["contracts"] if c["id"] == v.contract), None)
        gate = next((x for x in contract.gates if x.id == v.gate), None) if contract is not None else None
        code = {"tampered": "PV634", "inconsistent": "PV631", "stale": "PV630"}[v.verdict]
        message = f"{v.gate} evidence is {v.verdict}: " + "; ".join(v.reasons)
        hint = {"tampered": "the file was changed after it was signed; do not use it",
                "inconsistent": "the evidence was edited or damaged; take it again with pv check",
                "stale": "run pv check again to take evidence for the current tree"}[v.verdict]
        if gate is not None:
            report.diagnostics.append(contract.diag(code, gate.path, message, hint))
        else:
            report.diagnostics.append(make(code, display, 0, 0, message, hint))
