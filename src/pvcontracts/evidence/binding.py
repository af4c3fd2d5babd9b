"""Gates to tests and back: what each gate rests on, and whether the tests agree.

Forward, a gate is bound to the tests its ``evidence_discharged_by`` names and
to the tests of the falsifiers of its invariants (a falsifier that finds a
counterexample fails every gate covering that invariant). Each reference is
resolved statically with :class:`~pvcontracts.validate.testrefs.TestResolver`
(no import): one that does not resolve is *missing* evidence.

Backward, a test says which gates it is evidence for with
``@pytest.mark.discharges(gate="GATE-...")``. The cross-check reports

* PV602: a gate lists a test that does not claim it;
* PV603: a test claims a gate that does not list it;
* PV601: a test claims a gate no checked contract declares;
* PV604: a marker without exactly one gate id.

Claims come from two places, merged: the markers pytest saw on the items it
collected in the bound files (exact: class marks, ``pytestmark``,
parametrization), and a static AST scan of the test directories for
``discharges`` markers anywhere else, so an unbound test that claims a gate is
found without importing or running it.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from pathlib import Path

from pvcontracts.contract.model import Contract, Falsifier, Gate
from pvcontracts.diagnostic import Diagnostic, Severity, make
from pvcontracts.evidence.results import RawResults, nodeid_keys, split_nodeid
from pvcontracts.validate.testrefs import RefProblem, TestResolver, parse_test_ref
from pvcontracts.validate.testrefs.parametrize import dotted

# Static problems that mean "this test does not exist". PV306 (exists, not collected by default) and
# PV307 (the file does not parse: pytest will report a collection error) are left to the run to decide.
MISSING_CODES = frozenset({"PV301", "PV302", "PV303", "PV304", "PV305"})
_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "venv", "site-packages", "build", "dist"})


@dataclass
class TestBinding:
    """One test reference as written in a contract, resolved statically."""

    __test__ = False

    ref: str
    path: str | None  # repository-relative file path, None when the reference is malformed
    problems: list[RefProblem]
    file_digest: str | None = None

    @property
    def missing(self) -> RefProblem | None:
        return next((p for p in self.problems if p.code in MISSING_CODES), None)


@dataclass
class GateBinding:
    contract: Contract
    gate: Gate
    bound: list[str]  # evidence_discharged_by, in contract order, duplicates dropped
    falsifiers: list[tuple[Contract, Falsifier]]  # of the gate's invariants, wherever declared

    @property
    def blocking(self) -> bool:
        """Whether this gate decides pv check's exit code: ship-blocking in an active contract."""
        return self.gate.ship_blocking and self.contract.status == "active"


@dataclass
class Binding:
    root: Path
    contracts: list[Contract]
    gates: list[GateBinding]
    tests: dict[str, TestBinding]
    falsifier_refs: dict[str, tuple[Contract, Falsifier]] = field(default_factory=dict)  # falsifier id -> owner

    def selectors(self, *, falsifiers_only: bool = False) -> list[str]:
        refs = ({f.test for _, f in self.falsifier_refs.values()} if falsifiers_only else set(self.tests))
        return sorted(r for r in refs if self.tests[r].missing is None)

    def files(self, *, falsifiers_only: bool = False) -> list[str]:
        return sorted({self.tests[r].path for r in self.selectors(falsifiers_only=falsifiers_only)
                       if self.tests[r].path is not None})

    def known_gates(self) -> dict[str, GateBinding]:
        return {gb.gate.id: gb for gb in self.gates}


def bind(contracts: list[Contract], root: Path, resolver: TestResolver | None = None) -> Binding:
    """Resolve every gate's and falsifier's tests under ``root``."""
    resolver = resolver or TestResolver(root)
    tests: dict[str, TestBinding] = {}

    def resolve(ref: str) -> None:
        if ref in tests:
            return
        parsed = parse_test_ref(ref)
        problems = resolver.resolve(ref)
        path = None if isinstance(parsed, RefProblem) else parsed.path
        tests[ref] = TestBinding(ref, path, problems)

    by_invariant: dict[str, list[tuple[Contract, Falsifier]]] = {}
    falsifier_refs: dict[str, tuple[Contract, Falsifier]] = {}
    for c in contracts:
        for f in c.falsifiers:
            by_invariant.setdefault(f.invariant, []).append((c, f))
            falsifier_refs[f.id] = (c, f)
            resolve(f.test)
    gates: list[GateBinding] = []
    for c in contracts:
        for g in c.gates:
            bound = list(dict.fromkeys(g.evidence))
            for ref in bound:
                resolve(ref)
            fals = {pair[1].id: pair for inv in g.invariants for pair in by_invariant.get(inv, [])}
            gates.append(GateBinding(c, g, bound, list(fals.values())))
    digests = resolver.file_digests()  # each file was read and hashed once while resolving
    for tb in tests.values():
        if tb.path is not None and tb.path in digests:
            tb.file_digest = "sha256:" + digests[tb.path]
    return Binding(root, contracts, gates, tests, falsifier_refs)


# --------------------------------------------------------------------------- static marker scan


@dataclass
class Claims:
    """Which gates each test claims, by unparametrized node id, with where the marker is."""

    gates: dict[str, set[str]] = field(default_factory=dict)
    bad: dict[str, list[str]] = field(default_factory=dict)
    where: dict[str, tuple[str, int]] = field(default_factory=dict)  # base id -> (path, line)
    classes: set[str] = field(default_factory=set)  # keys that are classes: their tests inherit their claims

    def add(self, key: str, gates: set[str], bad: list[str], where: tuple[str, int] | None) -> None:
        if gates:
            self.gates.setdefault(key, set()).update(gates)
        if bad:
            self.bad.setdefault(key, [])
            self.bad[key].extend(b for b in bad if b not in self.bad[key])
        if where is not None and (gates or bad):
            self.where.setdefault(key, where)


def _marks(expr: ast.expr) -> tuple[set[str], list[str]]:
    """Gates named by ``discharges`` markers in a decorator or ``pytestmark`` value."""
    good: set[str] = set()
    bad: list[str] = []
    items = expr.elts if isinstance(expr, (ast.List, ast.Tuple)) else [expr]
    for item in items:
        call = item if isinstance(item, ast.Call) else None
        target = call.func if call is not None else item
        name = dotted(target) or ""
        if not name.endswith("mark.discharges"):
            continue
        if call is None:
            bad.append("discharges (no gate)")
            continue
        values = list(call.args) + [k.value for k in call.keywords if k.arg == "gate"]
        others = [k.arg for k in call.keywords if k.arg != "gate"]
        if (len(values) == 1 and not others and isinstance(values[0], ast.Constant)
                and isinstance(values[0].value, str) and values[0].value):
            good.add(values[0].value)
        else:
            try:
                bad.append(ast.unparse(call))
            except Exception:  # noqa: BLE001 - only for the message
                bad.append("discharges(...)")
    return good, bad


def _scan_body(body: list[ast.stmt], prefix: str, path: str, inherited: tuple[set[str], list[str]],
               claims: Claims, depth: int = 0) -> None:
    """Record claims in one module or class body.

    Marks a test inherits (module or class ``pytestmark``, class decorators) count only for names
    pytest collects by default (``test*`` functions, ``Test*`` classes); a decorator on a function
    counts wherever it is.
    """
    if depth > 20:
        return
    own_good, own_bad = set(inherited[0]), list(inherited[1])
    for stmt in body:  # pytestmark in this body applies to every test in it
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in stmt.targets):
            g, b = _marks(stmt.value)
            own_good |= g
            own_bad += b
    for stmt in body:
        if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        is_test = stmt.name.startswith("Test" if isinstance(stmt, ast.ClassDef) else "test")
        good, bad = (set(own_good), list(own_bad)) if is_test else (set(), [])
        line = stmt.lineno
        for deco in stmt.decorator_list:
            g, b = _marks(deco)
            if (g or b) and line == stmt.lineno:
                line = deco.lineno  # point at the marker itself
            good |= g
            bad += b
        key = f"{prefix}::{stmt.name}"
        claims.add(key, good, bad, (path, line))
        if isinstance(stmt, ast.ClassDef):
            claims.classes.add(key)
            _scan_body(stmt.body, key, path, (good, bad), claims, depth + 1)


def scan_file(source: bytes, path: str, claims: Claims) -> None:
    if b"discharges" not in source:
        return  # the common case: no marker, no parse
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return  # an unparsable file is reported by pv validate (PV307) when it matters
    _scan_body(tree.body, path, path, (set(), []), claims)


def scan_claims(root: Path, paths: list[str]) -> Claims:
    """Scan the top-level test directories of ``paths`` (repository-relative) for discharges markers."""
    claims = Claims()
    tops: set[str] = set()
    singles: set[str] = set()
    for p in paths:
        head, sep, _ = p.partition("/")
        (tops if sep else singles).add(head)
    files: set[str] = set(singles)
    for top in sorted(tops):
        base = root / top
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS)
            rel = Path(dirpath).relative_to(root).as_posix()
            files.update(f"{rel}/{n}" for n in filenames if n.endswith(".py"))
    for rel in sorted(files):
        try:
            source = (root / rel).read_bytes()
        except OSError:
            continue
        scan_file(source, rel, claims)
    return claims


def merge_run_claims(claims: Claims, results: RawResults | None) -> dict[str, set[str]]:
    """Per node id (as collected), the gates it claims: the run's markers where it saw the test."""
    out: dict[str, set[str]] = {}
    if results is None or results.source != "run":
        return out  # report logs and JUnit XML carry no markers: there, the static scan decides
    for nodeid, node in results.nodes.items():
        if node.collected:
            out[nodeid] = set(node.claims)
            base = split_nodeid(nodeid)[0]
            if node.claims:
                claims.add(base, node.claims, [], None)
            if node.bad_claims:
                claims.add(base, set(), node.bad_claims, None)
    return out


# --------------------------------------------------------------------------- cross-check


def _severity_for(contract: Contract, code: str) -> Severity:
    from pvcontracts.diagnostic import CODES

    return CODES[code].severity if contract.status == "active" else Severity.WARNING


def _test_diag(code: str, root: Path, key: str, claims: Claims, message: str, hint: str | None,
               severity: Severity | None = None) -> Diagnostic:
    from pvcontracts.validate.engine import display_path

    path, line = claims.where.get(key, (key.partition("::")[0], 0))
    d = make(code, display_path(root / path), line, 1 if line else 0, message, hint)
    return d if severity is None else d.with_severity(severity)


def cross_check(binding: Binding, claims: Claims, run_claims: dict[str, set[str]],
                matched: dict[str, list[str]], others: dict[str, str] | None = None) -> list[Diagnostic]:
    """Findings where gates and ``discharges`` markers disagree.

    ``matched`` maps each bound reference to the node ids the run attributed
    to it; when the run saw the test, its markers decide, else the static scan.
    ``others`` maps the gates of contracts this run does not check (``pv check
    PATHS`` on a subset) to their files: a claim of one of them is a note.
    """
    others = others or {}
    out: list[Diagnostic] = []
    known = binding.known_gates()
    listed: dict[str, set[str]] = {gid: set() for gid in known}
    for gb in binding.gates:
        for ref in gb.bound:
            listed[gb.gate.id].add(ref)
            listed[gb.gate.id].add(split_nodeid(ref)[0])

    # Forward: every test a gate lists must claim that gate.
    for gb in binding.gates:
        for j, ref in enumerate(gb.gate.evidence):
            tb = binding.tests.get(ref)
            if tb is None or tb.missing is not None or ref in gb.gate.evidence[:j]:
                continue
            nodes = [n for n in matched.get(ref, []) if n in run_claims]
            if nodes:
                have = set.intersection(*(run_claims[n] for n in nodes))
            else:
                have = claims.gates.get(split_nodeid(ref)[0], set()) | claims.gates.get(ref, set())
            if gb.gate.id not in have:
                d = gb.contract.diag("PV602", gb.gate.path + ("evidence_discharged_by", j),
                                     f"{gb.gate.id} lists {ref}, which does not claim it",
                                     f'mark the test @pytest.mark.discharges(gate="{gb.gate.id}")')
                out.append(d.with_severity(_severity_for(gb.contract, "PV602")))

    # Backward: every claim must name a known gate that lists the test.
    for key in sorted(claims.gates):
        if key in claims.classes:
            continue  # a class's claims are its tests' claims; each test is checked on its own
        for gate_id in sorted(claims.gates[key]):
            gb = known.get(gate_id)
            if gb is None and gate_id in others:
                out.append(_test_diag("PV605", binding.root, key, claims,
                                      f"{key} claims {gate_id} of {others[gate_id]}, which this run does not check",
                                      None))
                continue
            if gb is None:
                out.append(_test_diag("PV601", binding.root, key, claims,
                                      f"{key} claims {gate_id}, which no checked contract declares",
                                      "fix the gate id in the marker, or check the contract that declares it"))
                continue
            refs = listed[gate_id]
            if any(k in refs for k in nodeid_keys(key)) or any(split_nodeid(r)[0] == key for r in refs):
                continue
            out.append(_test_diag("PV603", binding.root, key, claims,
                                  f"{key} claims {gate_id}, which does not list it",
                                  f"add {key} to {gate_id}'s evidence_discharged_by in {gb.contract.file}, "
                                  "or remove the marker",
                                  _severity_for(gb.contract, "PV603")))
    for key in sorted(claims.bad):
        for text in claims.bad[key]:
            out.append(_test_diag("PV604", binding.root, key, claims,
                                  f"{key} has a discharges marker without exactly one gate id: {text}",
                                  'write @pytest.mark.discharges(gate="GATE-AREA-NNN"), one marker per gate'))
    return out
