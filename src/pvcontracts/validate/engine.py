"""`pv validate` as a library call: load, check, cross-check, resolve tests, compare with a base revision.

The walker owns positions and ordering; rules own only the question they ask.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from pvcontracts.contract.loading import discover, load_contract_bytes, parse_contract_bytes, read_bytes
from pvcontracts.contract.model import Contract, build_contract
from pvcontracts.contract.yamlload import DEFAULT_MAX_BYTES
from pvcontracts.diagnostic import Diagnostic, Severity, make, sort_diagnostics
from pvcontracts.validate.cache import ValidateCache
from pvcontracts.validate.rules import Project, run_contract_rules, run_project_rules

_TEST_CODES_RELAXED_FOR_DRAFTS = {"PV303", "PV304", "PV305", "PV307"}


@dataclass
class ValidateOptions:
    root: Path | None = None
    strict: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES
    cache_dir: Path | None = None
    against: str | None = None


@dataclass
class Counts:
    contracts: int = 0
    invariants: int = 0
    gates: int = 0
    falsifiers: int = 0
    tests: int = 0
    errors: int = 0
    warnings: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class ValidationReport:
    diagnostics: list[Diagnostic]
    counts: Counts
    files: list[str]
    root: Path
    contracts: list[Contract] = field(default_factory=list)

    @property
    def nothing_to_validate(self) -> bool:
        return not self.files

    @property
    def ok(self) -> bool:
        return self.counts.errors == 0 and not self.nothing_to_validate


def find_root(paths: list[Path]) -> Path:
    """The repository root: nearest ancestor with .git or pyproject.toml, else the working directory."""
    start = (paths[0] if paths else Path.cwd()).resolve()
    if start.is_file():
        start = start.parent
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists() or (candidate / "pyproject.toml").exists():
            return candidate
    return Path.cwd().resolve()


def display_path(path: Path) -> str:
    """Paths as the user typed them relative to the working directory, like a compiler prints them."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def _reloader(path: Path, display: str, max_bytes: int):
    def reload():
        raw, _ = read_bytes(path, display, max_bytes)
        if raw is None:
            return None
        doc, _ = parse_contract_bytes(raw, display)
        return doc
    return reload


def _load_all(files: list[Path], options: ValidateOptions, cache: ValidateCache,
              ) -> tuple[list[Contract], list[Diagnostic], dict[str, str]]:
    contracts: list[Contract] = []
    diagnostics: list[Diagnostic] = []
    unloadable: dict[str, str] = {}
    for path in files:
        display = display_path(path)
        raw, problems = read_bytes(path, display, options.max_bytes)
        if raw is None:
            diagnostics.extend(problems)
            continue
        digest = hashlib.sha256(raw).hexdigest()
        entry = cache.get_contract(display, digest)
        if entry is not None:
            diagnostics.extend(Diagnostic.from_dict(d) for d in entry["diagnostics"])
            if entry.get("data") is not None:
                contracts.append(build_contract(display, entry["data"], None, _reloader(path, display, options.max_bytes)))
            elif entry.get("declared_id"):
                unloadable[entry["declared_id"]] = display
            continue
        loaded = load_contract_bytes(raw, display, digest)
        found = list(loaded.diagnostics)
        if loaded.contract is not None:
            found.extend(run_contract_rules(loaded.contract))
            contracts.append(loaded.contract)
        elif loaded.declared_id:
            unloadable[loaded.declared_id] = display
        diagnostics.extend(found)
        cache.put_contract(display, digest, {
            "data": loaded.contract.data if loaded.contract is not None else None,
            "declared_id": loaded.declared_id,
            "diagnostics": [d.to_dict() for d in found],
        })
    return contracts, diagnostics, unloadable


def _test_ref_locations(contract: Contract):
    for g in contract.gates:
        for j, ref in enumerate(g.evidence):
            yield g.path + ("evidence_discharged_by", j), ref
    for f in contract.falsifiers:
        yield f.path + ("test",), f.test


def _resolve_tests(contracts: list[Contract], root: Path, cache: ValidateCache) -> tuple[list[Diagnostic], int]:
    from pvcontracts.validate.testrefs import TestResolver

    before = set(cache.test_indexes)
    resolver = TestResolver(root, cache.test_indexes)
    memo: dict[str, list] = {}
    out: list[Diagnostic] = []
    refs = 0
    for c in contracts:
        for path, ref in _test_ref_locations(c):
            refs += 1
            problems = memo.get(ref)
            if problems is None:
                problems = memo[ref] = resolver.resolve(ref)
            for p in problems:
                d = c.diag(p.code, path, p.message, p.hint)
                if c.status == "draft" and p.code in _TEST_CODES_RELAXED_FOR_DRAFTS:
                    d = d.with_severity(Severity.WARNING)
                    d = type(d)(d.code, d.severity, d.file, d.line, d.column,
                                d.message + " (allowed while the contract is a draft)", d.hint, d.yaml_path)
                out.append(d)
    used = set(resolver.file_digests().values())
    for digest in set(cache.test_indexes) - used:  # forget indexes of files no longer named or changed
        del cache.test_indexes[digest]
    if set(cache.test_indexes) != before:
        cache.mark_indexes_dirty()
    return out, refs


def _against(contracts: list[Contract], rev: str, root: Path) -> list[Diagnostic]:
    from pvcontracts.validate import gitrev
    from pvcontracts.validate.diff import judge_bump

    out: list[Diagnostic] = []
    try:
        top = gitrev.toplevel(root)
        commit = gitrev.resolve_revision(rev, top)
    except gitrev.GitError as exc:
        return [make("PV505", display_path(root), 0, 0, f"cannot read revision {rev!r}: {exc}",
                     "pass a commit, branch or tag that exists in this repository")]
    for c in contracts:
        abs_path = Path(c.file).resolve()
        try:
            rel = abs_path.relative_to(top).as_posix()
        except ValueError:
            continue
        try:
            old_bytes = gitrev.show(commit, rel, top)
        except gitrev.GitError as exc:
            out.append(make("PV505", c.file, 0, 0, f"cannot read {rel} at {rev}: {exc}"))
            continue
        if old_bytes is None:
            continue  # a new contract: any version will do
        old_loaded = load_contract_bytes(old_bytes, f"{rev}:{rel}")
        if old_loaded.contract is None:
            continue  # the old one was broken; nothing meaningful to compare with
        verdict = judge_bump(old_loaded.contract, c)
        if verdict.regressed:
            out.append(c.diag("PV504", ("version",), f"version {c.version} is lower than {verdict.old_version} at {rev}",
                              "versions only go up"))
        elif not verdict.sufficient:
            worst = [ch for ch in verdict.changes if ch.level == max(
                (x.level for x in verdict.changes), key=lambda lvl: {"patch": 1, "minor": 2, "major": 3}[lvl])]
            listed = "; ".join(f"{ch.subject}: {ch.description}" for ch in worst[:3])
            more = f" (and {len(worst) - 3} more)" if len(worst) > 3 else ""
            got = "unchanged" if verdict.actual == "none" else f"a {verdict.actual} bump"
            out.append(c.diag("PV503", ("version",),
                              f"meaning changed since {rev} ({listed}{more}), which needs a {verdict.required} bump; "
                              f"version {verdict.old_version} -> {c.version} is {got}",
                              f"set version to the next {verdict.required} version and add a changelog entry"))
    return out


def validate_paths(paths: list[Path], options: ValidateOptions | None = None) -> ValidationReport:
    """Validate the contracts under ``paths``; the report's ``ok`` is what the exit code reflects."""
    options = options or ValidateOptions()
    root = (options.root or find_root(paths)).resolve()
    files, problems = discover(paths)
    diagnostics: list[Diagnostic] = list(problems)
    if not files and not problems:
        shown = ", ".join(display_path(p) for p in paths) or "."
        diagnostics.append(make("PV010", shown, 0, 0, f"no contract files (*.yaml, *.yml) found in {shown}",
                                "point pv validate at the directory that holds your contracts"))
    cache = ValidateCache(options.cache_dir)
    contracts, found, unloadable = _load_all(files, options, cache)
    diagnostics.extend(found)
    project = Project(contracts, unloadable)
    diagnostics.extend(run_project_rules(project))
    test_diags, refs = _resolve_tests(contracts, root, cache)
    diagnostics.extend(test_diags)
    if options.against:
        diagnostics.extend(_against(contracts, options.against, root))
    cache.save()
    if options.strict:
        diagnostics = [d.with_severity(Severity.ERROR) if d.severity == Severity.WARNING else d for d in diagnostics]
    diagnostics = sort_diagnostics(diagnostics)
    counts = Counts(
        contracts=len(files),
        invariants=sum(len(c.invariants) for c in contracts),
        gates=sum(len(c.gates) for c in contracts),
        falsifiers=sum(len(c.falsifiers) for c in contracts),
        tests=refs,
        errors=sum(1 for d in diagnostics if d.severity == Severity.ERROR),
        warnings=sum(1 for d in diagnostics if d.severity == Severity.WARNING),
    )
    return ValidationReport(diagnostics, counts, [display_path(f) for f in files], root, contracts)
