"""``pv check`` and ``pv falsify`` as library calls: validate, bind, run or ingest, derive, write.

``check`` runs every gate's bound tests and every falsifier; its verdict is
whether each ship-blocking gate of each active contract is discharged (and
the marker cross-check is clean). ``falsify`` runs only the falsifiers; its
verdict is whether every falsifier of an active contract ran and found no
counterexample. Both write the same evidence document; in a ``falsify``
file, tests that are not falsifiers read ``not_run``, so it never
discharges a gate by omission.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from pvcontracts.contract.yamlload import DEFAULT_MAX_BYTES
from pvcontracts.diagnostic import Diagnostic, Severity, make, sort_diagnostics
from pvcontracts.evidence.mutants import DEFAULT_PER_INVARIANT
from pvcontracts.evidence.results import RawResults

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


@dataclass
class CheckOptions:
    paths: list[Path]
    kind: str = "check"  # check | falsify
    root: Path | None = None
    output: Path | None = None
    results: list[Path] = field(default_factory=list)
    profile: str | None = "ci"
    seed: int | None = None
    workers: int | None = None
    reproducible: bool = False
    in_toto: bool = False
    pytest_args: list[str] = field(default_factory=list)
    stream: TextIO | None = None  # live pytest output (pv check -v)
    progress: TextIO | None = None  # one line before the session starts, so a long run is not silent
    max_bytes: int = DEFAULT_MAX_BYTES
    cache_dir: Path | None = None
    ledgers: list[Path] = field(default_factory=list)  # training-run ledgers to include as runtime evidence
    mutate: bool = True  # run each gate's passing tests against mutants of its invariants (check only)
    mutants_per_invariant: int = DEFAULT_PER_INVARIANT
    sign_key: Path | None = None  # sign the evidence: a DSSE envelope around the in-toto statement


@dataclass
class CheckOutcome:
    exit_code: int
    diagnostics: list[Diagnostic]
    evidence: dict[str, Any] | None = None
    output: Path | None = None
    message: str | None = None  # one line for the user when there is no evidence (usage problems)


def _status_diagnostics(contracts: list[dict[str, Any]], binding: Any, kind: str, run: dict[str, Any]
                        ) -> list[Diagnostic]:
    """One diagnostic per gate that is not discharged (check) or falsifier that did not pass (falsify),
    and per falsifier that is not a property test at all."""
    from pvcontracts.evidence.status import STATUS_CODES

    out: list[Diagnostic] = []
    owners = {c.id: c for c in binding.contracts}
    for crec in contracts:
        contract = owners[crec["id"]]
        if kind == "check":
            gates = {g.id: g for g in contract.gates}
            for g in crec["gates"]:
                if g["status"] == "discharged":
                    survivors = _survivors(contract, gates[g["id"]], g)
                    out.extend(_graded(d, g["blocking"], contract.status) for d in survivors)
                    continue
                d = contract.diag(STATUS_CODES[g["status"]], gates[g["id"]].path,
                                  f"{g['id']} is {g['status']}: {g['reason']}", _gate_hint(g))
                out.append(_graded(d, g["blocking"], contract.status))
        for f, model in zip(crec["falsifiers"], contract.falsifiers):
            if f["outcome"] == "passed":
                d = _property_test_finding(contract, model, f, run)
                if d is not None:
                    out.append(_graded(d, True, contract.status))
                continue
            if kind == "check" and f["outcome"] != "failed":
                continue  # in pv check a falsifier that did not run to a verdict already shows on its gates
            cx = f["counterexample"]
            if cx is not None:
                shown = f": {cx['representation']}" if cx.get("representation") else ""
                d = contract.diag("PV613", model.path, f"{f['id']} found a counterexample to {f['invariant']}{shown}",
                                  f"if it fails: {f['if_fails']}")
            elif f["outcome"] == "failed":
                d = contract.diag("PV613", model.path, f"{f['id']} failed: {f['message'] or f['test']}",
                                  f"if it fails: {f['if_fails']}")
            else:
                d = contract.diag("PV614", model.path, f"{f['id']} {f['outcome'].replace('_', ' ')}: "
                                  f"{f['message'] or f['test']}", None)
            out.append(_graded(d, True, contract.status))
    return out


def _survivors(contract: Any, gate: Any, g: dict[str, Any]) -> list[Diagnostic]:
    """PV618 per invariant of a discharged gate whose mutants all survived (the goal: each is tested)."""
    record = g.get("mutation")
    if not record:
        return []
    out = []
    for inv_id, counts in record["invariants"].items():
        if counts["mutants"] and not counts["killed"]:
            out.append(contract.diag("PV618", gate.path, f"{g['id']}: its tests kill none of the {counts['mutants']} "
                                     f"mutants of {inv_id}: nothing shows they test that invariant's text",
                                     f"add a test that evaluates {inv_id} from the contract and checks its verdict"))
    return out


def _property_test_finding(contract: Any, model: Any, f: dict[str, Any], run: dict[str, Any]) -> Diagnostic | None:
    """A falsifier that passed without being a property test, or without trying a single example."""
    stats = f["statistics"]
    if stats is None:
        if run["mode"] == "results" and run.get("profile") is None:
            # the CI job ran pytest without --pv-profile: its results carry no statistics for any test
            d = contract.diag("PV616", model.path, f"{f['id']}: the results carry no Hypothesis statistics, so "
                              f"nothing shows that {f['test']} is a property test",
                              "run pytest with --pv-profile ci (pv-contracts' plugin) to record them")
            return d.with_severity(Severity.NOTE)
        return contract.diag("PV616", model.path, f"{f['id']}: {f['test']} passed but is not a Hypothesis test: "
                             "a falsifier must try many generated cases, not one",
                             "decorate it with @hypothesis.given(...), or bind it to the gate as a plain test instead")
    if not stats.get("examples"):
        return contract.diag("PV617", model.path, f"{f['id']}: {f['test']} ran no example "
                             f"(stopped because {stats.get('stopped_because') or 'it never generated one'})",
                             "a falsifier that tries nothing falsifies nothing: check its strategies and settings")
    return None


def _gate_hint(g: dict[str, Any]) -> str | None:
    for t in g["tests"]:
        if t["problem"] is not None:
            return t["problem"]["hint"]
        if t["outcome"] == "deselected":
            return "a -k/-m option or the project's addopts deselected it; evidence must run it"
    return None


def _graded(d: Diagnostic, blocking: bool, contract_status: str) -> Diagnostic:
    if contract_status != "active":
        return d.with_severity(Severity.NOTE)
    return d if blocking else d.with_severity(Severity.WARNING)


@dataclass
class _Gathered:
    """What a session or the --results files told us, and how to describe that in the evidence."""

    results: RawResults
    run: dict[str, Any]
    findings: list[Diagnostic] = field(default_factory=list)
    broken: str | None = None  # why the session could not run at all (its tests errored)


def _load(options: CheckOptions, root: Path, verb: str) -> Any:
    """Validate and bind; a CheckOutcome instead when there is nothing sound to check."""
    from pvcontracts.evidence.binding import bind
    from pvcontracts.validate.cache import ValidateCache, default_cache_dir
    from pvcontracts.validate.engine import ValidateOptions, validate_paths
    from pvcontracts.validate.testrefs import TestResolver

    cache_dir = options.cache_dir or default_cache_dir(root)
    report = validate_paths(list(options.paths), ValidateOptions(root=root, max_bytes=options.max_bytes,
                                                                 cache_dir=cache_dir))
    if report.nothing_to_validate:
        return CheckOutcome(EXIT_USAGE, report.diagnostics, message=f"{verb}: no contracts to check")
    # A test that does not exist (PV3xx) is evidence of something: a missing gate. Anything else wrong
    # with the contracts means there is nothing sound to take evidence about.
    blocking = [d for d in report.diagnostics if d.severity == Severity.ERROR and not d.code.startswith("PV3")]
    if blocking:
        return CheckOutcome(EXIT_FINDINGS, blocking,
                            message=f"{verb}: the contracts do not validate; fix them first (pv validate)")
    # validate just indexed every named test file (keyed by content digest): reuse, do not re-parse
    binding = bind(report.contracts, root, TestResolver(root, dict(ValidateCache(cache_dir).test_indexes)))
    if options.kind == "check" and not binding.gates:
        return CheckOutcome(EXIT_USAGE, [], message=f"{verb}: the contracts declare no gates: nothing to check")
    if options.kind == "falsify" and not binding.falsifier_refs:
        return CheckOutcome(EXIT_USAGE, [], message=f"{verb}: the contracts declare no falsifiers: nothing to run")
    return binding


def _ingest(options: CheckOptions, root: Path, selected: set[str], verb: str) -> _Gathered | CheckOutcome:
    from pvcontracts.evidence.fingerprint import file_digest
    from pvcontracts.evidence.ingest import ResultsError, read_results

    results = RawResults(source="results")
    files = []
    for path in options.results:
        try:
            part = read_results(path, root)
        except ResultsError as exc:
            d = make("PV620", str(path), 0, 0, str(exc), "pass the file pytest wrote with --report-log or --junitxml")
            return CheckOutcome(EXIT_USAGE, [d], message=f"{verb}: cannot use {path}")
        results.merge(part)
        files.append({"path": Path(path).name, "format": part.source, "digest": file_digest(Path(path))})
    profiles = sorted({n.hypothesis["profile"] for n in results.nodes.values()
                       if n.hypothesis and n.hypothesis.get("profile")})
    run = {"mode": "results", "results": sorted(files, key=lambda f: f["path"]),
           "profile": profiles[0] if len(profiles) == 1 else None, "seed": None, "workers": None,
           "pytest_exitstatus": results.exitstatus, "selected": len(selected)}
    return _Gathered(results, run)


def _run(options: CheckOptions, root: Path, binding: Any, selected: set[str], verb: str,
         plan: dict[str, Any] | None) -> _Gathered | CheckOutcome:
    from pvcontracts.evidence.runner import RunnerError, run_session

    files = binding.files(falsifiers_only=options.kind == "falsify")
    seed = options.seed
    if options.profile == "thorough" and seed is None:
        seed = secrets.randbelow(2**32)  # recorded in the evidence so the run can be replayed
    if options.progress is not None:
        how = f", falsifier profile {options.profile}" + (f" seed {seed}" if seed is not None else "")
        then = f", then against {len(plan['mutants'])} mutants" if plan is not None else ""
        options.progress.write(f"{verb}: running {len(selected)} test reference(s) from {len(files)} file(s)"
                               f"{how if options.profile else ''}{then} ...\n")
        options.progress.flush()
    try:
        session = run_session(root, sorted(selected), files, profile=options.profile, seed=seed,
                              workers=options.workers, pytest_args=options.pytest_args, stream=options.stream,
                              mutation_plan=plan)
    except RunnerError as exc:
        return CheckOutcome(EXIT_USAGE, [], message=f"{verb}: {exc}")
    gathered = _Gathered(session.results, {
        "mode": "session", "results": [], "profile": options.profile, "seed": seed, "workers": options.workers,
        "pytest_exitstatus": session.exitstatus, "selected": len(selected)})
    if not options.reproducible:
        gathered.run["duration_s"] = round(session.duration, 3)
    if session.abnormal is not None:
        tail = session.log_tail.strip().splitlines()
        gathered.findings.append(make(
            "PV621", ".", 0, 0, f"the pytest session ended abnormally ({session.abnormal}, exit status "
            f"{session.exitstatus}): " + " | ".join(tail[-12:]),
            "run pytest on the bound files yourself to see why; pv check -v shows its output"))
        if session.exitstatus in (3, 4):
            last = next((line.strip() for line in reversed(tail) if line.strip()), "")
            gathered.broken = f"the pytest session could not run ({session.abnormal}): {last}"
    return gathered


def _outcomes(binding: Any, selected: set[str], gathered: _Gathered, verb: str) -> dict[str, Any]:
    from pvcontracts.evidence.status import TestOutcome, index_nodes, ref_outcome

    index = index_nodes(gathered.results)
    outcomes: dict[str, TestOutcome] = {}
    for ref, tb in binding.tests.items():
        if ref in selected or tb.missing is not None:
            outcomes[ref] = ref_outcome(tb, gathered.results, index)
        else:
            outcomes[ref] = TestOutcome(ref, "not_run", f"not part of this run ({verb} runs falsifiers only)")
        if gathered.broken is not None and ref in selected and outcomes[ref].outcome in ("not_collected", "not_run"):
            # pytest could not even start (a conftest that does not import, a bad option): as pytest
            # itself would say, these tests errored; they did not merely go unrun
            outcomes[ref] = TestOutcome(ref, "error", gathered.broken)
    return outcomes


def _cross_check(binding: Any, results: RawResults, others: dict[str, str]) -> list[Diagnostic]:
    from pvcontracts.evidence.binding import cross_check, merge_run_claims, scan_claims
    from pvcontracts.evidence.status import index_nodes

    claims = scan_claims(binding.root, sorted({tb.path for tb in binding.tests.values() if tb.path is not None}))
    run_claims = merge_run_claims(claims, results)
    index = index_nodes(results)
    return cross_check(binding, claims, run_claims, {ref: index.get(ref, []) for ref in binding.tests}, others)


def _mutation_settings(options: CheckOptions) -> dict[str, Any]:
    if options.kind != "check":
        return {"enabled": False, "per_invariant": None, "reason": "pv falsify runs falsifiers only"}
    if options.results:
        return {"enabled": False, "per_invariant": None, "reason": "--results: nothing was run, so nothing was mutated"}
    if not options.mutate:
        return {"enabled": False, "per_invariant": None, "reason": "--no-mutate"}
    return {"enabled": True, "per_invariant": options.mutants_per_invariant, "reason": None}


def _not_mutated(settings: dict[str, Any], kind: str) -> list[Diagnostic]:
    if settings["enabled"] or kind != "check":
        return []
    return [make("PV619", ".", 0, 0, f"the gates' tests were not run against mutants of their invariants "
                 f"({settings['reason']}): a discharged gate here rests on tests that passed, not on tests shown to "
                 "fail when the contract text is wrong", "run pv check without --no-mutate (and without --results)")]


def run_check(options: CheckOptions) -> CheckOutcome:
    from pvcontracts.evidence import provenance
    from pvcontracts.evidence.assertions import assertion_findings
    from pvcontracts.evidence.evidence import assemble, contract_records, repo_path, write_evidence
    from pvcontracts.evidence.sources import SourceGraph
    from pvcontracts.evidence.subset import other_gates
    from pvcontracts.validate.engine import find_root

    root = (options.root or find_root(options.paths)).resolve()
    verb = "pv " + options.kind
    sign_key = None
    if options.sign_key is not None:
        from pvcontracts.evidence.signing import SigningError, load_private_key

        try:  # before anything runs: a key that cannot sign should not cost a test session
            sign_key = load_private_key(options.sign_key)
        except SigningError as exc:
            return CheckOutcome(EXIT_USAGE, [], message=f"{verb}: {exc}")
    binding = _load(options, root, verb)
    if isinstance(binding, CheckOutcome):
        return binding
    git = provenance.git_state(root)  # before running: tests may write files
    selected = set(binding.selectors(falsifiers_only=options.kind == "falsify"))
    settings = _mutation_settings(options)
    plan = None
    if settings["enabled"]:
        from pvcontracts.evidence.mutation_plan import build_plan

        plan = build_plan(binding, options.mutants_per_invariant)
    gathered = (_ingest(options, root, selected, verb) if options.results
                else _run(options, root, binding, selected, verb, plan))
    if isinstance(gathered, CheckOutcome):
        return gathered
    run = dict(gathered.run)
    run["mutation"] = dict(settings)
    if plan is not None and not options.reproducible and gathered.results.mutation_seconds is not None:
        run["mutation"]["duration_s"] = round(gathered.results.mutation_seconds, 3)
    outcomes = _outcomes(binding, selected, gathered, verb)
    from pvcontracts.validate.cache import cache_findings, default_cache_dir

    findings = list(gathered.findings) + _not_mutated(settings, options.kind)
    findings += cache_findings(options.cache_dir or default_cache_dir(root))
    if options.kind == "check":
        findings.extend(_cross_check(binding, gathered.results, other_gates(options.paths, root, binding)))
        findings.extend(assertion_findings(binding))
    runtime: list[dict[str, Any]] = []
    for ledger in options.ledgers:
        from pvcontracts.evidence.runtime import ledger_evidence

        record, found = ledger_evidence(ledger, root, binding.contracts)
        findings.extend(found)
        if record is not None:
            runtime.append(record)
    if runtime:
        from pvcontracts.evidence.runtime import unenforced

        findings.extend(unenforced(runtime, binding.contracts))
    mutation = (plan, gathered.results.mutation) if plan is not None else None
    contracts = contract_records(binding, outcomes, reproducible=options.reproducible, mutation=mutation,
                                 sources=SourceGraph(root) if options.kind == "check" else None)
    # Every diagnostic printed is recorded and counted: the status findings too.
    shown = sort_diagnostics(findings + _status_diagnostics(contracts, binding, options.kind, run))
    # evidence names files relative to the repository root, whatever the working directory was
    recorded = [replace(d, file=repo_path(d.file, root)) if d.file not in (".", "") else d for d in shown]
    doc = assemble(kind=options.kind, contracts=contracts, findings=recorded, run=run, git=git,
                   environment=provenance.environment(), reproducible=options.reproducible, runtime=runtime)
    if options.output is not None:
        try:
            write_evidence(options.output, doc, in_toto=options.in_toto, sign_key=sign_key)
        except OSError as exc:
            return CheckOutcome(EXIT_USAGE, shown, doc, None,
                                message=f"{verb}: cannot write {options.output}: {exc.strerror or exc}")
    return CheckOutcome(EXIT_OK if doc["summary"]["ok"] else EXIT_FINDINGS, shown, doc, options.output)
