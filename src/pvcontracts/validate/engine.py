"""`pv validate` as a library call: load, check, cross-check, resolve tests, compare with a base revision.

The walker owns positions and ordering; rules own only the question they ask.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from pvcontracts.contract.loading import discover, load_contract_bytes, parse_contract_bytes, read_bytes
from pvcontracts.contract.model import Contract, build_contract
from pvcontracts.contract.yamlload import DEFAULT_MAX_BYTES
from pvcontracts.diagnostic import Diagnostic, Severity, make, sort_diagnostics
from pvcontracts.validate.cache import ValidateCache
from pvcontracts.validate.rules import Project, run_project_rules

_TEST_CODES_RELAXED_FOR_DRAFTS = {"PV303", "PV304", "PV305", "PV307"}


@dataclass
class ValidateOptions:
    root: Path | None = None
    strict: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES
    cache_dir: Path | None = None
    against: str | None = None
    jobs: int | None = None  # worker processes for a cold run; None: one per usable CPU
    resolve_tests: bool = True  # False only where the tests cannot be present (the shipped contracts of an install)


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


def _reloader(raw: bytes, display: str):
    """Re-parse a contract's bytes on demand, for the positions of its diagnostics.

    The bytes are the ones validated (and hashed for the cache), so the positions
    always belong to the text that was checked, even if the file changes meanwhile.
    """
    def reload():
        doc, _ = parse_contract_bytes(raw, display)
        return doc
    return reload


def _load_all(files: list[Path], options: ValidateOptions, cache: ValidateCache, root: Path,
              ) -> tuple[list[Contract], list[Diagnostic], tuple[dict[str, str], dict[str, str]], dict[str, dict],
                         set[str]]:
    from pvcontracts.validate import parallel

    contracts: list[Contract] = []
    diagnostics: list[Diagnostic] = []
    unloadable: dict[str, str] = {}
    unloadable_invariants: dict[str, str] = {}
    entries: dict[str, dict] = {}  # contract file -> its cache entry, where the test results are kept
    partial: set[str] = set()  # files whose model is partial: they have errors, and are never handed on
    read: list[tuple[str, bytes, str, dict | None]] = []
    for path in files:
        display = display_path(path)
        raw, problems = read_bytes(path, display, options.max_bytes)
        if raw is None:
            diagnostics.extend(problems)
            continue
        digest = hashlib.sha256(raw).hexdigest()
        read.append((display, raw, digest, cache.get_contract(display, digest)))
    misses = [(display, raw, digest) for display, raw, digest, entry in read if entry is None]
    jobs = options.jobs if options.jobs is not None else parallel.default_jobs()
    computed = iter(parallel.contract_entries(misses, jobs, os.path.realpath(root), cache.test_indexes))
    for display, raw, digest, entry in read:
        if entry is None:
            entry = next(computed)
            cache.put_contract(display, digest, entry)
        diagnostics.extend(Diagnostic.from_dict(d) for d in entry["diagnostics"])
        if entry.get("data") is not None:
            # No node tree is kept: positions are re-parsed from these bytes only for the
            # contracts a later (project or test) rule reports on, which are few.
            contracts.append(build_contract(display, entry["data"], None, _reloader(raw, display)))
            entries[display] = entry
        elif entry.get("partial") is not None:
            # The parts of a file with errors that did load: the project rules and the test
            # references see them too, so every problem of the file shows in this one run.
            part = entry["partial"]
            contract = build_contract(display, part["data"], None, _reloader(raw, display),
                                      broken=frozenset(part["broken"]), broken_ids=tuple(part["broken_ids"]),
                                      broken_refs=tuple(part["broken_refs"]))
            contracts.append(contract)
            partial.add(display)
            entries[display] = entry
            if "id" in contract.broken and entry.get("declared_id"):
                unloadable[entry["declared_id"]] = display
            for ident in contract.broken_ids:
                unloadable_invariants[ident] = display
        else:
            if entry.get("declared_id"):
                unloadable[entry["declared_id"]] = display
            for ident in entry.get("declared_invariants", ()):
                unloadable_invariants[ident] = display
    return contracts, diagnostics, (unloadable, unloadable_invariants), entries, partial


def _test_ref_locations(contract: Contract):
    for g in contract.gates:
        for j, ref in enumerate(g.evidence):
            yield g.path + ("evidence_discharged_by", j), ref
    for f in contract.falsifiers:
        yield f.path + ("test",), f.test


class _TestFiles:
    """SHA-256 of test files, found the way TestResolver finds them; None where it would report a problem.

    Used only to decide whether a contract's saved test results still hold: any
    case other than a regular file inside the root is left to the resolver.
    """

    def __init__(self, root: Path) -> None:
        self.root_real = os.path.realpath(root)
        self._prefix = self.root_real if self.root_real.endswith(os.sep) else self.root_real + os.sep
        self._digests: dict[str, str | None] = {}

    def digest(self, path: str) -> str | None:
        if path not in self._digests:
            self._digests[path] = self._read(path)
        return self._digests[path]

    def _read(self, path: str) -> str | None:
        if not isinstance(path, str) or any(seg in ("", ".", "..") for seg in path.split("/")):
            return None
        try:
            real = os.path.realpath(os.path.join(self.root_real, *path.split("/")))
            if real != self.root_real and not real.startswith(self._prefix):
                return None
            if not stat.S_ISREG(os.stat(real).st_mode):
                return None
            with open(real, "rb") as fh:
                return hashlib.sha256(fh.read()).hexdigest()
        except (OSError, ValueError):
            return None

    def known(self) -> set[str]:
        return {d for d in self._digests.values() if d is not None}


def _saved_results_hold(saved: object, files: _TestFiles) -> bool:
    """Whether a contract's saved test results were made under this root from test files unchanged since."""
    if not isinstance(saved, dict) or saved.get("root") != files.root_real:
        return False
    named = saved.get("files")
    if not isinstance(named, dict) or not isinstance(saved.get("diagnostics"), list):
        return False
    return all(files.digest(path) == digest for path, digest in named.items())


def _ref_file(ref: object) -> str | None:
    """The test file part of a reference when it needs no normalising (no '.', '..' or empty segments)."""
    if not isinstance(ref, str):
        return None
    sep = ref.find("::")
    if sep < 0:
        return None
    path = ref[:sep]
    if any(seg in ("", ".", "..") for seg in path.split("/")):
        return None
    return path


def _resolve_tests(contracts: list[Contract], root: Path, cache: ValidateCache,
                   entries: dict[str, dict]) -> tuple[list[Diagnostic], int]:
    """Diagnostics of every test reference; a contract whose test files are unchanged reuses its saved ones.

    What a reference resolves to depends only on the reference and on the bytes of
    the file it names (when that file is a regular file inside the root), so a
    contract's test diagnostics are saved with the digest of every file its
    references name and reused while all of them still match. Anything else
    (a missing file, a symlink out of the root, a path needing normalisation)
    always goes through the resolver.
    """
    from pvcontracts.validate.testrefs import TestResolver

    before = set(cache.test_indexes)
    resolver = TestResolver(root, cache.test_indexes)
    files = _TestFiles(root)
    memo: dict[str, list] = {}
    out: list[Diagnostic] = []
    refs = 0
    resolved: list[tuple[dict, list, list[Diagnostic]]] = []
    for c in contracts:
        locations = list(_test_ref_locations(c))
        refs += len(locations)
        entry = entries.get(c.file)
        if entry is not None and _saved_results_hold(entry.get("tests"), files):
            out.extend(Diagnostic.from_dict(d) for d in entry["tests"]["diagnostics"])
            continue
        found: list[Diagnostic] = []
        for path, ref in locations:
            problems = memo.get(ref)
            if problems is None:
                problems = memo[ref] = resolver.resolve(ref)
            for p in problems:
                if c.status == "draft" and p.code in _TEST_CODES_RELAXED_FOR_DRAFTS:
                    d = c.diag(p.code, path, p.message + " (allowed while the contract is a draft)", p.hint)
                    d = d.with_severity(Severity.WARNING)
                else:
                    d = c.diag(p.code, path, p.message, p.hint)
                found.append(d)
        out.extend(found)
        if entry is not None:
            resolved.append((entry, locations, found))
    read = resolver.file_digests()
    for entry, locations, found in resolved:
        named: dict[str, str] = {}
        for _, ref in locations:
            path = _ref_file(ref)
            if path is None or path not in read:
                break  # not a plain file the resolver read: never reuse, always resolve
            named[path] = read[path]
        else:
            cache.put_tests(entry, {"root": files.root_real, "files": named,
                                    "diagnostics": [d.to_dict() for d in found]})
    used = set(read.values()) | files.known()
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


@contextlib.contextmanager
def _collector_paused():
    """Pause CPython's cyclic garbage collector for one validation run.

    A run allocates millions of objects (YAML nodes, expression trees, ASTs of test
    files, model records, test indexes, the cache) and almost no cyclic garbage.
    The collector is triggered by allocation counts, so it would traverse the
    growing heap again and again: a quarter to a third of a cold run over 2,000
    contracts (tools/bench/validate.py). Reference counting still frees everything
    that is not in a cycle; the collector resumes, as it was, when the run ends.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def validate_paths(paths: list[Path], options: ValidateOptions | None = None) -> ValidationReport:
    """Validate the contracts under ``paths``; the report's ``ok`` is what the exit code reflects."""
    with _collector_paused():
        return _validate_paths(paths, options)


def _validate_paths(paths: list[Path], options: ValidateOptions | None) -> ValidationReport:
    options = options or ValidateOptions()
    root = (options.root or find_root(paths)).resolve()
    files, problems = discover(paths)
    diagnostics: list[Diagnostic] = list(problems)
    if not files and not problems:
        shown = ", ".join(display_path(p) for p in paths) or "."
        diagnostics.append(make("PV010", shown, 0, 0, f"no contract files (*.yaml, *.yml) found in {shown}",
                                "point pv validate at the directory that holds your contracts"))
    cache = ValidateCache(options.cache_dir)
    contracts, found, unloadable, entries, partial = _load_all(files, options, cache, root)
    diagnostics.extend(found)
    project = Project(contracts, unloadable[0], unloadable[1])
    diagnostics.extend(run_project_rules(project))
    test_diags, refs = _resolve_tests(contracts, root, cache, entries) if options.resolve_tests else ([], 0)
    diagnostics.extend(test_diags)
    complete = [c for c in contracts if c.file not in partial]
    if options.against:
        diagnostics.extend(_against(complete, options.against, root))
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
    return ValidationReport(diagnostics, counts, [display_path(f) for f in files], root, complete)
