"""The view every report renders: the evidence document joined with ``pv verify``'s verdicts.

Reading is done once, here, for all three renderings (HTML, Markdown, the
terminal table), so they cannot disagree about a gate. Staleness is not
recomputed here: :func:`load_view` calls :func:`pvcontracts.evidence.verify.verify_file`,
the function behind ``pv verify``, and joins its per-gate verdicts to the gates.

Everything in the view is plain data taken from the evidence; nothing is
escaped yet (contract text is user input: each renderer escapes for its own
format) and nothing depends on the clock, so the same evidence and tree give
the same report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pvcontracts.diagnostic import Diagnostic
from pvcontracts.evidence.report.runs import RunView, build_runs
from pvcontracts.evidence.status import GATE_STATUSES
from pvcontracts.util.text import plural, unique_anchor

VERDICTS = ("valid", "stale", "inconsistent", "tampered")
OUTCOME_WORDS = {
    "passed": "passed", "failed": "failed", "error": "error", "missing": "missing", "skipped": "skipped",
    "xfailed": "xfailed", "xpassed": "xpassed", "deselected": "deselected", "not_collected": "not collected",
    "not_run": "not run",
}
# What a status means, in words an auditor reads without the README.
STATUS_MEANING = {
    "discharged": "every test it rests on exists, ran and passed",
    "failed": "a test failed or errored, or a falsifier found a counterexample",
    "incomplete": "a test was skipped, xfailed, deselected, not collected or did not run",
    "missing": "a test it names does not exist, or it names none",
    "vacuous": "every test passed, but they pass against every mutant of its invariants too: they do not test "
               "the contract text",
}
VERDICT_MEANING = {
    "valid": "the record agrees with itself, and the contract, invariants, falsifiers, test files and the modules "
             "they import are unchanged",
    "stale": "something the gate rests on changed since the evidence was taken",
    "inconsistent": "the record does not match its digests, or a status, count or summary does not follow from what "
                    "it records (without a signature, this is all a digest can show)",
    "tampered": "the signature does not verify with the given key: the file was changed after it was signed",
}
SIGNATURE_MEANING = {
    "verified": "signed, and the signature verifies with the given key: the named key's holder wrote this",
    "invalid": "signed, but no signature verifies with the given key",
    "unchecked": "signed, but no key was given to check it",
    "unsigned": "a DSSE envelope without a valid signature",
    "none": "not signed: its digests show it agrees with itself, not who wrote it",
}


@dataclass(frozen=True)
class Let:
    name: str
    value: str | None  # one expression for every regime
    by_regime: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class InvariantView:
    id: str
    title: str
    description: str | None
    at: str
    when: str | None
    check: str
    lets: tuple[Let, ...]
    on_violation: str
    contract: str  # the contract that declares it
    known: bool = True  # False: the gate names an id no contract in the evidence declares


@dataclass(frozen=True)
class InstanceView:
    node_id: str
    outcome: str
    message: str | None
    duration_s: float | None


@dataclass(frozen=True)
class TestView:
    __test__ = False

    ref: str
    roles: tuple[str, ...]
    falsifiers: tuple[str, ...]
    outcome: str
    message: str | None
    problem: dict[str, Any] | None
    duration_s: float | None
    instances: tuple[InstanceView, ...]


@dataclass(frozen=True)
class FalsifierView:
    id: str
    invariant: str
    prediction: str
    if_fails: str
    test: str
    outcome: str
    message: str | None
    statistics: dict[str, Any] | None
    counterexample: dict[str, Any] | None
    duration_s: float | None


@dataclass(frozen=True)
class ChangelogEntry:
    version: str
    date: str
    summary: str


@dataclass
class ContractView:
    file: str
    id: str
    version: str
    status: str
    title: str
    description: str | None
    depends_on: tuple[str, ...]
    changelog: tuple[ChangelogEntry, ...]
    changelog_entry: ChangelogEntry | None
    digest: str | None
    gates: list["GateView"] = field(default_factory=list)


@dataclass(frozen=True)
class RuntimeNote:
    """One run's word on one invariant of a gate: violated (how often), enforced, or not enforced (why)."""

    ledger: str
    run: str | None
    invariant: str
    violated: int
    enforced: bool | None
    reason: str | None

    @property
    def text(self) -> str:
        run = f"run {self.run[:12]}" if self.run else "a run"
        if self.violated:
            times = f"{self.violated} time{'s' if self.violated != 1 else ''}"
            return f"{self.invariant} violated {times} in {run} ({self.ledger})"
        if self.enforced is True:
            return f"{self.invariant} held in {run} ({self.ledger})"
        if self.enforced is False:
            return f"{self.invariant} not enforced in {run}: {self.reason or 'no reason given'} ({self.ledger})"
        return f"{self.invariant}: {run} cannot say whether it was enforced ({self.ledger})"


@dataclass
class GateView:
    id: str
    anchor: str  # an HTML id made of safe characters, unique in the report
    title: str | None
    description: str | None
    status: str
    reason: str
    ship_blocking: bool
    blocking: bool  # ship-blocking in an active contract: it decides pv check's exit code
    contract: ContractView
    invariants: tuple[InvariantView, ...]
    falsifiers: tuple[FalsifierView, ...]
    tests: tuple[TestView, ...]
    counts: dict[str, int]
    verdict: str  # valid | stale | inconsistent | tampered, from pv verify
    verdict_reasons: tuple[str, ...]
    fingerprint: str
    record_digest: str
    mutation: dict[str, Any] | None = None  # which mutants of its invariants its tests killed
    runtime: tuple["RuntimeNote", ...] = ()  # what training runs said about its invariants

    @property
    def ready(self) -> bool:
        return self.status == "discharged" and self.verdict == "valid" and not self.runtime_violations

    @property
    def runtime_violations(self) -> int:
        return sum(n.violated for n in self.runtime)

    @property
    def mutation_text(self) -> str:
        m = self.mutation
        if not m:
            return "not mutation-checked"
        return f"{m['killed']} of {m['mutants']} mutants killed"

    @property
    def counterexamples(self) -> int:
        return sum(1 for f in self.falsifiers if f.counterexample is not None)

    @property
    def search_text(self) -> str:
        """What the page's search box matches: ids, titles, test references."""
        parts = [self.id, self.title or "", self.contract.id, *(i.id for i in self.invariants),
                 *(i.title for i in self.invariants), *(f.id for f in self.falsifiers), *(t.ref for t in self.tests)]
        return " ".join(parts).lower()


@dataclass
class ReportView:
    source: str  # the evidence file as the user named it
    kind: str  # check | falsify
    created_at: str | None
    reproducible: bool
    tool: dict[str, Any]
    git: dict[str, Any] | None  # where the evidence was taken
    current_git: dict[str, Any] | None  # the tree staleness was judged against
    environment: dict[str, Any]
    run: dict[str, Any]
    summary: dict[str, Any]
    content_digest: str
    in_toto: bool
    findings: tuple[Diagnostic, ...]  # pv check's own findings, recorded in the evidence
    verify_findings: tuple[Diagnostic, ...]  # pv verify's findings that no gate row shows (PV632, whole file)
    contracts: list[ContractView]
    gates: list[GateView]
    signature: Any = None  # verify's SignatureState
    form: str = "bare"  # bare | in-toto | dsse
    mutation: dict[str, Any] | None = None  # the run's mutation settings
    runtime_errors: int = 0  # violations of ship-blocking invariants in the recorded runs
    runs: list[RunView] = field(default_factory=list)  # the recorded training runs, as the runs section shows them

    def run_anchor(self, ledger: str, run: str | None) -> str | None:
        """The runs section's anchor of one recorded run (a gate's training-run notes link to it)."""
        return next((r.anchor for r in self.runs if r.ledger == ledger and r.run == run), None)

    @property
    def runtime_named(self) -> str:
        """Which ship-blocking invariants a run violated, and where first: the headline names them."""
        parts = []
        for ident in sorted({i for r in self.runs for i in r.blocking_violated}):
            run, v = next(((r, v) for r in self.runs for v in r.violations if v.invariant == ident and v.blocking),
                          (None, None))
            parts.append(f"{ident} in {run.name} at {v.where}" if run is not None else ident)
        return "; ".join(parts)

    def status_counts(self) -> dict[str, int]:
        return {s: sum(1 for g in self.gates if g.status == s) for s in GATE_STATUSES}

    def verdict_counts(self) -> dict[str, int]:
        return {v: sum(1 for g in self.gates if g.verdict == v) for v in VERDICTS}

    @property
    def blocking(self) -> list[GateView]:
        return [g for g in self.gates if g.blocking]

    @property
    def headline(self) -> tuple[str, str]:
        """(tone, sentence): the one line an auditor reads first. tone is good | warn | bad."""
        verdicts = self.verdict_counts()
        blocking = self.blocking
        done = sum(1 for g in blocking if g.status == "discharged")
        if verdicts["tampered"]:
            return "bad", ("Do not trust this evidence: its signature does not verify with the given key; it was "
                           "changed after it was signed, or someone else signed it.")
        if verdicts["inconsistent"]:
            return "bad", (f"Do not trust this evidence: {plural(verdicts['inconsistent'], 'gate')} "
                           f"{'disagrees' if verdicts['inconsistent'] == 1 else 'disagree'} with what the file "
                           "itself records.")
        if self.kind == "falsify":
            s = self.summary
            tone = "good" if s.get("ok") else "bad"
            return tone, (f"Falsifier run: {s.get('falsifiers_passed', 0)} of "
                          f"{plural(s.get('falsifiers', 0), 'falsifier')} passed, "
                          f"{plural(s.get('counterexamples', 0), 'counterexample')}. "
                          "A falsifier run alone discharges no gate.")
        stale = (f", and {plural(verdicts['stale'], 'gate')} changed since the evidence was taken" if verdicts["stale"]
                 else "")
        who = self.authorship
        if self.summary.get("ok"):
            if verdicts["stale"]:
                return "warn", (f"All {plural(len(blocking), 'ship-blocking gate')} were discharged{stale}: "
                                f"take the evidence again before relying on it.")
            return "good", (f"Ready: all {plural(len(blocking), 'ship-blocking gate')} discharged, and the evidence "
                            f"matches the current tree ({who}).")
        if self.runtime_errors:
            named = f"{self.runtime_named}; " if self.runtime_named else ""
            return "bad", (f"Not ready: a training run violated {plural(self.runtime_errors, 'ship-blocking invariant')}"
                           f" ({named}{done} of {plural(len(blocking), 'ship-blocking gate')} discharged by tests){stale}.")
        errors = self.summary.get("errors", 0)
        extra = f"; pv check reported {plural(errors, 'error')}" if errors and done == len(blocking) else ""
        return "bad", f"Not ready: {done} of {plural(len(blocking), 'ship-blocking gate')} discharged{extra}{stale}."

    @property
    def authorship(self) -> str:
        """Who wrote the file, as far as anything here proves it."""
        sig = self.signature
        if sig is not None and sig.state == "verified":
            return f"signed with key {sig.key_id[:16]}, verified"
        if sig is not None and sig.state == "unchecked":
            return "signed, but the signature was not checked (no key given)"
        return "unsigned: it agrees with itself, which does not show who wrote it"


def _entry(e: dict[str, Any] | None) -> ChangelogEntry | None:
    return None if e is None else ChangelogEntry(str(e["version"]), str(e["date"]), str(e["summary"]).strip())


def _invariant(rec: dict[str, Any], contract: str) -> InvariantView:
    lets = []
    for name, value in sorted((rec.get("let") or {}).items()):
        if isinstance(value, dict):
            lets.append(Let(name, None, tuple(sorted((str(k), str(v)) for k, v in value.items()))))
        else:
            lets.append(Let(name, str(value)))
    return InvariantView(rec["id"], rec["title"], rec.get("description"), rec["at"], rec.get("when"), rec["check"],
                         tuple(lets), rec["on_violation"], contract)


def _test(rec: dict[str, Any]) -> TestView:
    instances = tuple(InstanceView(i["node_id"], i["outcome"], i.get("message"), i.get("duration_s"))
                      for i in rec.get("instances") or ())
    return TestView(rec["ref"], tuple(rec["roles"]), tuple(rec.get("falsifiers") or ()), rec["outcome"],
                    rec.get("message"), rec.get("problem"), rec.get("duration_s"), instances)


def _falsifier(rec: dict[str, Any]) -> FalsifierView:
    return FalsifierView(rec["id"], rec["invariant"], rec["prediction"], rec["if_fails"], rec["test"],
                         rec["outcome"], rec.get("message"), rec.get("statistics"), rec.get("counterexample"),
                         rec.get("duration_s"))


def _runtime_notes(doc: dict[str, Any]) -> dict[str, list[RuntimeNote]]:
    """Per invariant, what each recorded run said about it."""
    out: dict[str, list[RuntimeNote]] = {}
    for rec in doc.get("runtime") or ():
        for run in rec.get("runs", ()):
            for ident, entry in run.get("invariants", {}).items():
                n = int(run.get("violations_by_invariant", {}).get(ident, 0))
                out.setdefault(ident, []).append(RuntimeNote(rec.get("path", "?"), run.get("run"), ident, n,
                                                             entry.get("enforced"), entry.get("reason")))
            for ident, n in run.get("violations_by_invariant", {}).items():
                if ident not in run.get("invariants", {}):
                    out.setdefault(ident, []).append(RuntimeNote(rec.get("path", "?"), run.get("run"), ident, int(n),
                                                                 None, None))
    return out


def build_view(doc: dict[str, Any], verify: Any, *, source: str, in_toto: bool = False) -> ReportView:
    """Join a schema-valid evidence document with a :class:`~pvcontracts.evidence.verify.VerifyReport`."""
    from pvcontracts.evidence.status import STATUS_CODES

    runtime = _runtime_notes(doc)
    invariants = {i["id"]: _invariant(i, c["id"]) for c in doc["contracts"] for i in c["invariants"]}
    falsifiers = {f["id"]: _falsifier(f) for c in doc["contracts"] for f in c["falsifiers"]}
    verdicts = {(v.contract, v.gate): v for v in verify.verdicts}
    contracts: list[ContractView] = []
    gates: list[GateView] = []
    taken: set[str] = set()
    for c in doc["contracts"]:
        cv = ContractView(c["file"], c["id"], c["version"], c["status"], c["title"], c.get("description"),
                          tuple(c.get("depends_on") or ()),
                          tuple(e for e in (_entry(x) for x in c.get("changelog") or ()) if e is not None),
                          _entry(c.get("changelog_entry")), c.get("digest"))
        contracts.append(cv)
        for g in c["gates"]:
            v = verdicts.get((c["id"], g["id"]))
            gate = GateView(
                id=g["id"], anchor=unique_anchor("g-", g["id"], taken), title=g.get("title"), description=g.get("description"),
                status=g["status"], reason=g["reason"], ship_blocking=bool(g["ship_blocking"]),
                blocking=bool(g["blocking"]), contract=cv,
                invariants=tuple(invariants.get(i) or InvariantView(i, "(not in this evidence)", None, "", None, "",
                                                                    (), "", "", known=False)
                                 for i in g["invariants"]),
                falsifiers=tuple(falsifiers[f] for f in g["falsifiers"] if f in falsifiers),
                tests=tuple(_test(t) for t in g["tests"]), counts=dict(g["counts"]),
                verdict=v.verdict if v is not None else "stale",
                verdict_reasons=tuple(v.reasons) if v is not None else ("pv verify has no verdict for it",),
                fingerprint=g["fingerprint"], record_digest=g["record_digest"], mutation=g.get("mutation"),
                runtime=tuple(n for i in g["invariants"] for n in runtime.get(i, ())))
            cv.gates.append(gate)
            gates.append(gate)
    # pv verify turns each stale or tampered verdict into a PV630/PV631 diagnostic too; the gate rows show
    # those, so only the rest (a gate the evidence lacks, a damaged file) is listed separately.
    shown = {(v.gate, v.verdict) for v in verify.verdicts if v.verdict != "valid"}
    rest = tuple(d for d in verify.diagnostics
                 if not (d.code in ("PV630", "PV631", "PV634")
                         and any(d.message.startswith(f"{gate} evidence is {verdict}:") for gate, verdict in shown)))
    # pv check records every diagnostic it printed, the gates' own status findings too: the gate rows show those.
    own = {(STATUS_CODES[g.status], g.id) for g in gates if g.status in STATUS_CODES}
    findings = tuple(d for d in (Diagnostic.from_dict(f) for f in doc["findings"])
                     if not any(d.code == code and d.message.startswith(f"{gid} is ") for code, gid in own))
    blocking_invariants = {i for g in gates if g.blocking for i in (x.id for x in g.invariants)}
    runtime_errors = len({i for i, notes in runtime.items() if i in blocking_invariants
                          and any(n.violated for n in notes)})
    return ReportView(
        source=source, kind=doc["kind"], created_at=doc.get("created_at"), reproducible=bool(doc["reproducible"]),
        tool=dict(doc["tool"]), git=(doc.get("source") or {}).get("git"), current_git=verify.current_git,
        environment=dict(doc["environment"]), run=dict(doc["run"]), summary=dict(doc["summary"]),
        content_digest=doc["content_digest"], in_toto=in_toto,
        findings=findings, verify_findings=rest, contracts=contracts, gates=gates,
        signature=getattr(verify, "signature", None), form=getattr(verify, "form", "in-toto" if in_toto else "bare"),
        mutation=(doc["run"].get("mutation") or None), runtime_errors=runtime_errors,
        runs=build_runs(doc.get("runtime") or (), blocking_invariants))


@dataclass
class Loaded:
    """What :func:`load_view` found: a view, or why there is none (``usage`` when the file is not evidence)."""

    view: ReportView | None = None
    error: str | None = None
    usage: bool = False
    diagnostics: list[Diagnostic] = field(default_factory=list)


def load_view(path: Path, root: Path, *, source: str | None = None, key: Path | None = None) -> Loaded:
    """Read evidence (bare, in-toto or a DSSE envelope), verify it against the tree under ``root``, build the view."""
    from pvcontracts.evidence.evidence import NotEvidence, load_bytes
    from pvcontracts.evidence.safefile import Gone, Refused, read_file
    from pvcontracts.evidence.verify import verify_file

    # The same recomputation pv verify does: digests, fingerprints, signature and schema, against the current tree.
    report = verify_file(path, root, key=key)
    if report.error is not None:
        return Loaded(error=report.error, usage=True)
    if not report.verdicts and any(d.code == "PV631" for d in report.diagnostics):
        # verify_file stops at a schema mismatch before judging any gate, and evidence without a gate is not
        # what pv check writes: nothing safe to render
        schema = any(d.message.startswith("the evidence does not match its schema") for d in report.diagnostics)
        why = "does not match the evidence schema" if schema else "records no gate: it is not what pv check wrote"
        return Loaded(error=f"{path} {why}", diagnostics=list(report.diagnostics))
    try:
        unwrapped = load_bytes(read_file(Path(path)))
    except (Refused, Gone, NotEvidence) as exc:  # replaced or removed between the two reads
        return Loaded(error=f"cannot read {path}: {exc}", usage=True)
    try:
        view = build_view(unwrapped.doc, report, source=source or str(path),
                          in_toto=unwrapped.statement is not None)
    except (KeyError, TypeError, AttributeError):  # replaced between the two reads by something else
        return Loaded(error=f"{path} changed while it was being read; run pv report again", usage=True)
    return Loaded(view=view)
