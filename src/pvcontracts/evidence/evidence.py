"""The evidence document: deterministic JSON an auditor can check against the tree it covers.

Layout (the published schema is ``schemas/evidence-v2.schema.json``):

* ``tool``, ``schema_version``, ``kind`` (``check`` or ``falsify``), ``created_at``;
* ``source.git``: the commit and whether the tree was dirty; ``environment``;
* ``run``: how the outcomes were obtained (a session we ran, or ``--results``
  files with their digests), the falsifier profile and seed, whether the
  gates were mutation-checked;
* ``contracts[]``: id, version, status, file digest and fingerprints, the
  changelog and the entry for the current version, every invariant's text,
  expressions and fingerprint, every falsifier's prediction, outcome and
  statistics (examples tried, minimal counterexample), and every gate with its
  derived status, the bound tests with outcomes, durations and per-instance
  results, its ``mutation`` record (which mutants of its invariants its tests
  killed), and the ``inputs`` its staleness is judged by (test files, and the
  conftests and repository modules they import);
* ``runtime``: what training-run ledgers said, run by run;
* ``summary`` with the denominators, derived from the records and ``findings``
  (every diagnostic pv check reported);
* ``record_digest`` per gate and ``content_digest`` over the whole document.

The same inputs give byte-identical output: sorted keys, two-space indent,
paths relative to the repository root, lists in contract order or sorted,
non-finite numbers as the strings ``nan``/``inf``/``-inf``. ``reproducible``
drops what varies between identical runs: the timestamp and every duration.
The digests prove consistency, not authorship: anyone can recompute them. A
DSSE envelope signed with a key (:func:`write_evidence` with ``sign_key``)
around the in-toto Statement (:func:`to_in_toto`: the contract files and the
clean commit as subjects) proves who wrote it.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pvcontracts.contract.model import Contract, Falsifier
from pvcontracts.diagnostic import Diagnostic
from pvcontracts.evidence import fingerprint as fp
from pvcontracts.evidence.binding import Binding, GateBinding
from pvcontracts.evidence.provenance import TOOL
from pvcontracts.evidence.status import GATE_STATUSES, TestOutcome, executed, gate_status

SCHEMA_VERSION = 2
SCHEMA_NAME = "pv-contracts/evidence/v2"
SCHEMA_FILE = "evidence-v2.schema.json"
# The in-toto predicate type is the published schema itself (also the schema's $id): a policy engine that
# meets the statement can fetch what its predicate means.
PREDICATE_TYPE = ("https://github.com/pv-contracts/pv-contracts/blob/main/src/pvcontracts/evidence/schemas/"
                  + SCHEMA_FILE)
IN_TOTO_STATEMENT = "https://in-toto.io/Statement/v1"
GIT_SUBJECT = "git+commit"  # the subject whose digest is {"gitCommit": sha}


def schema_path() -> Path:
    return Path(__file__).with_name("schemas") / SCHEMA_FILE


def load_schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


def _round(seconds: float) -> float:
    return round(float(seconds), 6)


def repo_path(file: str, root: Path) -> str:
    """A contract's display path as a repository-relative posix path (the form evidence stores)."""
    path = Path(file)
    absolute = path if path.is_absolute() else Path.cwd() / path
    try:
        return absolute.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


# --------------------------------------------------------------------------- records


def _invariant_record(c: Contract) -> list[dict[str, Any]]:
    out = []
    for inv in c.invariants:
        lets = {name: (let.value if let.by_regime is None else dict(sorted(let.by_regime.items())))
                for name, let in inv.lets.items()}
        out.append({"id": inv.id, "title": inv.title, "description": inv.description, "at": inv.at,
                    "when": inv.when, "check": inv.check, "let": dict(sorted(lets.items())),
                    "on_violation": inv.on_violation, "fingerprint": fp.invariant_fingerprint(inv)})
    return out


def _instance_record(inst: Any, reproducible: bool) -> dict[str, Any]:
    rec: dict[str, Any] = {"node_id": inst.nodeid, "outcome": inst.outcome, "message": inst.message,
                           "hypothesis": inst.node.hypothesis if inst.node is not None else None}
    if not reproducible:
        rec["duration_s"] = _round(inst.duration)
    return rec


def _test_record(ref: str, outcome: TestOutcome, binding: Binding, roles: list[str], falsifiers: list[str],
                 reproducible: bool) -> dict[str, Any]:
    tb = binding.tests[ref]
    problem = tb.missing
    rec: dict[str, Any] = {
        "ref": ref,
        "roles": roles,
        "falsifiers": falsifiers,
        "file": tb.path,
        "file_digest": tb.file_digest,
        "outcome": outcome.outcome,
        "message": outcome.message,
        "problem": None if problem is None else {"code": problem.code, "message": problem.message,
                                                 "hint": problem.hint},
        "instances": [_instance_record(i, reproducible) for i in outcome.instances],
    }
    if not reproducible:
        rec["duration_s"] = _round(outcome.duration)
    return rec


def gate_reason(status: str, tests: list[dict[str, Any]], mutation: dict[str, Any] | None = None) -> str:
    if not tests:
        return "the gate names no test and no falsifier covers its invariants"
    if status == "vacuous" and mutation is not None:
        from pvcontracts.evidence.mutation_plan import vacuous_reason

        return vacuous_reason(mutation)
    if status == "discharged":
        base = f"all {len(tests)} test{'s' if len(tests) != 1 else ''} exist, ran and passed"
        if mutation is not None and mutation["mutants"]:
            base += f", and they kill {mutation['killed']} of {mutation['mutants']} mutants of its invariants"
        return base
    wanted = {"failed": ("failed", "error"), "missing": ("missing",)}.get(status)
    for t in tests:
        bad = t["outcome"] in wanted if wanted else t["outcome"] not in ("passed", "failed", "error", "missing")
        if bad:
            what = {"failed": "failed", "error": "errored", "missing": "is missing", "skipped": "was skipped",
                    "xfailed": "xfailed", "xpassed": "xpassed (marked xfail)", "deselected": "was deselected",
                    "not_collected": "was not collected", "not_run": "did not run"}[t["outcome"]]
            others = sum(1 for u in tests if u["outcome"] == t["outcome"]) - 1
            more = f" (and {others} more)" if others > 0 else ""
            detail = f": {t['message'].splitlines()[0]}" if t.get("message") else ""
            return f"{t['ref']} {what}{more}{detail}"
    return status  # pragma: no cover - a status always has a test that explains it


def _gate_record(gb: GateBinding, outcomes: dict[str, TestOutcome], binding: Binding, reproducible: bool,
                 mutation: Any, sources: Any) -> dict[str, Any]:
    from pvcontracts.evidence.mutation_plan import gate_mutation

    roles: dict[str, list[str]] = {}
    fals_of: dict[str, list[str]] = {}
    for ref in gb.bound:
        roles.setdefault(ref, []).append("bound")
    for _, f in gb.falsifiers:
        if "falsifier" not in roles.setdefault(f.test, []):
            roles[f.test].append("falsifier")
        fals_of.setdefault(f.test, []).append(f.id)
    tests = [_test_record(ref, outcomes[ref], binding, r, sorted(fals_of.get(ref, [])), reproducible)
             for ref, r in roles.items()]
    status = gate_status([t["outcome"] for t in tests])
    record_mutation = None
    if status == "discharged" and mutation is not None:  # only a gate whose tests all passed is worth mutating
        plan, verdicts = mutation
        record_mutation = gate_mutation(gb, plan, verdicts)
        status = gate_status([t["outcome"] for t in tests], record_mutation)
    inv_by_id = {i.id: i for c in binding.contracts for i in c.invariants}
    files = {t["file"]: t["file_digest"] for t in tests if t["file"] is not None}
    imports = {}
    if sources is not None:
        imports = {p: fp.file_digest(binding.root / p) for p in sources.support(sorted(files))}
    record = {
        "id": gb.gate.id,
        "title": gb.gate.title,
        "description": gb.gate.description,
        "ship_blocking": gb.gate.ship_blocking,
        "blocking": gb.blocking,
        "invariants": list(gb.gate.invariants),
        "falsifiers": [f.id for _, f in gb.falsifiers],
        "evidence_discharged_by": list(gb.gate.evidence),
        "status": status,
        "reason": gate_reason(status, tests, record_mutation),
        "tests": tests,
        "counts": gate_counts(tests),
        "mutation": record_mutation,
        "fingerprint": fp.gate_fingerprint(gb.gate),
        "inputs": {
            "contract_version": gb.contract.version,
            "contract_status": gb.contract.status,
            "context": fp.context_fingerprint(gb.contract),
            "gate": fp.gate_fingerprint(gb.gate),
            "invariants": {i: (fp.invariant_fingerprint(inv_by_id[i]) if i in inv_by_id else None)
                           for i in sorted(gb.gate.invariants)},
            "falsifiers": {f.id: fp.falsifier_fingerprint(f) for _, f in sorted(gb.falsifiers, key=lambda p: p[1].id)},
            "files": dict(sorted(files.items())),
            "imports": dict(sorted(imports.items())),
        },
    }
    record["record_digest"] = fp.digest_value(record)
    return record


def gate_counts(tests: list[dict[str, Any]]) -> dict[str, int]:
    return {"tests": len(tests), "executed": sum(1 for t in tests if executed(t["outcome"])),
            "passed": sum(1 for t in tests if t["outcome"] == "passed")}


def falsifier_statistics(outcome: TestOutcome) -> dict[str, Any] | None:
    """One falsifier's statistics: its instances' Hypothesis runs combined (most falsifiers have one)."""
    stats = [i.node.hypothesis for i in outcome.instances if i.node is not None and i.node.hypothesis]
    if not stats:
        return None
    first = dict(stats[0])
    for key in ("examples", "passed_examples", "failing_examples", "invalid_examples", "shrinks"):
        first[key] = sum(int(s.get(key) or 0) for s in stats)
    phases: dict[str, int] = {}
    for s in stats:
        for k, v in (s.get("phases") or {}).items():
            phases[k] = phases.get(k, 0) + int(v)
    first["phases"] = dict(sorted(phases.items()))
    first["counterexample"] = next((s["counterexample"] for s in stats if s.get("counterexample")), None)
    first["instances"] = len(stats)
    return first


def _falsifier_record(f: Falsifier, outcome: TestOutcome, reproducible: bool) -> dict[str, Any]:
    stats = falsifier_statistics(outcome)
    rec = {"id": f.id, "invariant": f.invariant, "prediction": f.prediction, "if_fails": f.if_fails,
           "test": f.test, "fingerprint": fp.falsifier_fingerprint(f), "outcome": outcome.outcome,
           "message": outcome.message, "statistics": stats,
           "counterexample": None if stats is None else stats.get("counterexample")}
    if not reproducible:
        rec["duration_s"] = _round(outcome.duration)
    return rec


def _contract_record(c: Contract, root: Path, binding: Binding, outcomes: dict[str, TestOutcome],
                     reproducible: bool, mutation: Any, sources: Any) -> dict[str, Any]:
    file = repo_path(c.file, root)
    entry = next((e for e in c.changelog if e.version == c.version), None)
    return {
        "file": file,
        "id": c.id,
        "version": c.version,
        "status": c.status,
        "title": c.title,
        "description": c.description,
        "depends_on": list(c.depends_on),
        "digest": fp.file_digest(root / file),
        "fingerprint": fp.contract_fingerprint(c),
        "context_fingerprint": fp.context_fingerprint(c),
        "changelog": [{"version": e.version, "date": e.date, "summary": e.summary} for e in c.changelog],
        "changelog_entry": None if entry is None else {"version": entry.version, "date": entry.date,
                                                         "summary": entry.summary},
        "invariants": _invariant_record(c),
        "falsifiers": [_falsifier_record(f, outcomes[f.test], reproducible) for f in c.falsifiers],
        "gates": [_gate_record(gb, outcomes, binding, reproducible, mutation, sources)
                  for gb in binding.gates if gb.contract is c],
    }


def contract_records(binding: Binding, outcomes: dict[str, TestOutcome], *, reproducible: bool,
                     mutation: tuple[dict[str, Any], dict[str, dict[str, str]] | None] | None = None,
                     sources: Any = None) -> list[dict[str, Any]]:
    """One record per contract, in file order. ``mutation`` is (plan, verdicts) when mutation checking ran;
    ``sources`` (a :class:`~pvcontracts.evidence.sources.SourceGraph`) adds each gate's imported files as inputs."""
    root = binding.root
    return [_contract_record(c, root, binding, outcomes, reproducible, mutation, sources)
            for c in sorted(binding.contracts, key=lambda c: repo_path(c.file, root))]


# --------------------------------------------------------------------------- the document


def test_outcomes(contracts: list[dict[str, Any]]) -> dict[str, str]:
    """Every test reference the document records, with its outcome (gate tests and falsifier tests)."""
    out: dict[str, str] = {}
    for c in contracts:
        for g in c["gates"]:
            for t in g["tests"]:
                out.setdefault(t["ref"], t["outcome"])
        for f in c["falsifiers"]:
            out.setdefault(f["test"], f["outcome"])
    return out


def summarise(contracts: list[dict[str, Any]], findings: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The summary, from the records and findings alone: pv verify recomputes it the same way."""
    gates = [g for c in contracts for g in c["gates"]]
    falsifiers = [(c, f) for c in contracts for f in c["falsifiers"]]
    counts = {s: sum(1 for g in gates if g["status"] == s) for s in GATE_STATUSES}
    blocking = [g for g in gates if g["blocking"]]
    errors = sum(1 for d in findings if d["severity"] == "error")
    active_falsifiers = [f for c, f in falsifiers if c["status"] == "active"]
    if kind == "falsify":
        ok = errors == 0 and all(f["outcome"] == "passed" for f in active_falsifiers)
    else:
        ok = errors == 0 and all(g["status"] == "discharged" for g in blocking)
    outcomes = test_outcomes(contracts)
    mutated = [g["mutation"] for g in gates if g.get("mutation")]
    return {
        "contracts": len(contracts),
        "gates": len(gates),
        **counts,
        "blocking_gates": len(blocking),
        "blocking_discharged": sum(1 for g in blocking if g["status"] == "discharged"),
        "bound_tests": len(outcomes),
        "executed": sum(1 for o in outcomes.values() if executed(o)),
        "passed": sum(1 for o in outcomes.values() if o == "passed"),
        "falsifiers": len(falsifiers),
        "falsifiers_passed": sum(1 for _, f in falsifiers if f["outcome"] == "passed"),
        "counterexamples": sum(1 for _, f in falsifiers if f["counterexample"] is not None),
        "examples": sum(int((f["statistics"] or {}).get("examples") or 0) for _, f in falsifiers),
        "mutated_gates": len(mutated),
        "mutants": sum(m["mutants"] for m in mutated),
        "mutants_killed": sum(m["killed"] for m in mutated),
        "errors": errors,
        "warnings": sum(1 for d in findings if d["severity"] == "warning"),
        "ok": ok,
    }


def assemble(*, kind: str, contracts: list[dict[str, Any]], findings: list[Diagnostic], run: dict[str, Any],
             git: dict[str, Any] | None, environment: dict[str, Any], reproducible: bool,
             now: _dt.datetime | None = None, runtime: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The whole document: ``findings`` are every diagnostic pv check reported, status findings included."""
    recorded = [d.to_dict() for d in findings]
    doc: dict[str, Any] = {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "tool": dict(TOOL),
        "reproducible": reproducible,
        "source": {"git": git},
        "environment": environment,
        "run": run,
        "contracts": contracts,
        "summary": summarise(contracts, recorded, kind),
        "findings": recorded,
    }
    if runtime:
        doc["runtime"] = runtime
    if not reproducible:
        moment = now or _dt.datetime.now(_dt.timezone.utc)
        doc["created_at"] = moment.astimezone(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    doc = fp.finite(doc)
    doc["content_digest"] = content_digest(doc)
    return doc


def content_digest(doc: dict[str, Any]) -> str:
    return fp.digest_value({k: v for k, v in doc.items() if k != "content_digest"})


def record_digest(record: dict[str, Any]) -> str:
    return fp.digest_value({k: v for k, v in record.items() if k != "record_digest"})


# --------------------------------------------------------------------------- in-toto statement and DSSE envelope


def statement_subjects(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The statement's subjects: each contract file, and the git commit when the tree was clean.

    A dirty tree is not the commit: evidence taken from one names no commit, so a policy
    that asks "is there evidence for commit X" cannot be satisfied by it.
    """
    subjects = [{"name": c["file"], "digest": {"sha256": c["digest"].split(":", 1)[1]}}
                for c in doc["contracts"] if c.get("digest")]
    git = (doc.get("source") or {}).get("git") or {}
    if git.get("commit") and not git.get("dirty"):
        subjects.append({"name": GIT_SUBJECT, "digest": {"gitCommit": git["commit"]}})
    return subjects


def to_in_toto(doc: dict[str, Any]) -> dict[str, Any]:
    """An in-toto Statement v1: the contract files and the commit as subjects, the evidence as predicate."""
    return {"_type": IN_TOTO_STATEMENT, "subject": statement_subjects(doc), "predicateType": PREDICATE_TYPE,
            "predicate": doc}


class NotEvidence(ValueError):
    """A file that is not pv-contracts evidence in any wrapping we read; the message says why."""


@dataclass
class Unwrapped:
    """Evidence as read: the document, and what it came wrapped in (statement, DSSE envelope)."""

    doc: Any
    statement: dict[str, Any] | None = None
    envelope: Any = None  # a dsse.Envelope

    @property
    def form(self) -> str:
        return "dsse" if self.envelope is not None else "in-toto" if self.statement is not None else "bare"


def unwrap(data: Any) -> Unwrapped:
    """Bare evidence, an in-toto Statement, or a DSSE envelope (signed or not) around a statement."""
    from pvcontracts.evidence import dsse

    envelope = None
    if dsse.is_envelope(data):
        try:
            envelope = dsse.decode(data)
        except dsse.EnvelopeError as exc:
            raise NotEvidence(f"a malformed DSSE envelope: {exc}") from None
        if envelope.payload_type != dsse.IN_TOTO_PAYLOAD_TYPE:
            raise NotEvidence(f"a DSSE envelope of {envelope.payload_type!r}, not an in-toto statement")
        try:
            data = json.loads(envelope.payload)
        except (ValueError, RecursionError):
            raise NotEvidence("the DSSE envelope's payload is not JSON") from None
    if isinstance(data, dict) and data.get("_type") == IN_TOTO_STATEMENT:
        return Unwrapped(data.get("predicate"), data, envelope)
    if envelope is not None:
        raise NotEvidence("the DSSE envelope's payload is not an in-toto Statement v1")
    return Unwrapped(data, None, None)


def load_bytes(raw: bytes) -> Unwrapped:
    """Parse an evidence file's bytes in any wrapping; NotEvidence when it is not JSON at all."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise NotEvidence(f"not JSON: {exc}") from None
    return unwrap(data)


def dumps(value: dict[str, Any]) -> str:
    """The one serialisation: sorted keys, two-space indent, UTF-8 text, a final newline."""
    return json.dumps(fp.finite(value), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def statement_bytes(doc: dict[str, Any]) -> bytes:
    return dumps(to_in_toto(doc)).encode("utf-8")


def write_evidence(path: Path, doc: dict[str, Any], *, in_toto: bool = False, sign_key: Any = None) -> None:
    """Write bare evidence, an in-toto statement, or (with ``sign_key``) a signed DSSE envelope."""
    from pvcontracts.util.atomic import write_text_atomic

    if sign_key is not None:
        from pvcontracts.evidence.signing import sign_statement

        text = dumps(sign_statement(statement_bytes(doc), sign_key).to_json())
    else:
        text = dumps(to_in_toto(doc) if in_toto else doc)
    write_text_atomic(path, text)
