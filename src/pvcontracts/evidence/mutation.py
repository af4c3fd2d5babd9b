"""Run a gate's tests against mutants of its invariants, inside the pytest session that just ran them.

``pv check`` passes the plugin a *plan* (``--pv-mutate FILE``): every mutant
(:mod:`pvcontracts.evidence.mutants`) with, per gate that covers its
invariant, the test references the gate rests on. The plugin's
:class:`Mutator` watches the session's own run (which invariants each test
compiles, the project's caches cleared before each test), then, for each
mutant:

1. switches the mutant on: every contract document built in this process
   from now on (``pvcontracts.contract.model.build_contract``, whoever calls
   it) gets the mutated expression when it is the mutant's contract;
2. clears the ``functools`` caches of the project's own test modules and
   helpers (not pvcontracts' own, which are keyed by text), so a test that
   memoised its contract loads it again;
3. reruns the bound tests that passed and that compiled the mutated
   invariant in their own run, tests that killed this invariant's mutants
   before first, then the fastest, with ``runtestprotocol`` (full fixture
   setup and teardown, nothing logged), and stops for a gate as soon as one
   of its tests fails.

A test *kills* a mutant when it fails and it did load the mutated contract
during that run; a failure without loading it is not the mutant's doing and
counts for nothing. The first time a test kills a mutant of an invariant it
is run once more under the identity mutant (the machinery in place, the
text unchanged): if it fails then too, its kills are void (``unstable``). A
test that never compiled an invariant in this process (it runs the contract in
a child process, say, or compiled it at import) cannot see its mutants
(``unreached``). A mutant's run that exceeds its time limit is a kill (the
test did not pass). Hypothesis tests run without shrinking and with a small
example budget first (:class:`_Budgets`).

Imported by the plugin only when a plan was given: nothing here is loaded in
an ordinary pytest run.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, Iterator

from pvcontracts.evidence.mutants import Mutant, apply, identity
from pvcontracts.evidence.results import nodeid_keys

MIN_TIMEOUT_S = 10.0
TIMEOUT_FACTOR = 20.0  # a mutant may make a test slower (a loop runs to its budget), not hang it
MUTANT_EXAMPLES = 20  # Hypothesis examples per test against a mutant first (at most the test's own budget)


class MutantTimeout(BaseException):
    """Raised into a test that ran past its limit under a mutant (BaseException: no test catches it)."""


class MutationSwitch:
    """Puts one mutant into every contract built in this process, and counts how often it did.

    It also notes which invariants are compiled (``compile_invariant``): the runtime, the
    falsifiers and the tests all evaluate contract text through a compiled invariant, so a test
    that compiled no invariant X in its own run never evaluated X's text.
    """

    def __init__(self) -> None:
        self.active: Mutant | None = None
        self.applied = 0
        self.built: set[str] = set()  # ids of the contracts built since the last reset
        self.compiled: set[tuple[str, str]] = set()  # (contract, invariant) compiled since the last reset
        self._patched: list[tuple[dict[str, Any], str, Any]] = []

    def install(self) -> None:
        from pvcontracts.contract import compiled, model

        switch = self
        build_original, compile_original = model.build_contract, compiled.compile_invariant

        @functools.wraps(build_original)
        def build_contract(file: Any, data: Any, *rest: Any, **kwargs: Any) -> Any:
            mutant = switch.active
            if isinstance(data, dict) and isinstance(data.get("id"), str):
                switch.built.add(data["id"])
            if mutant is not None and isinstance(data, dict):
                changed = apply(data, mutant)
                if changed is not None:
                    switch.applied += 1
                    data = changed
            return build_original(file, data, *rest, **kwargs)

        @functools.wraps(compile_original)
        def compile_invariant(contract: Any, inv: Any, *rest: Any, **kwargs: Any) -> Any:
            switch.compiled.add((getattr(contract, "id", None), getattr(inv, "id", None)))
            return compile_original(contract, inv, *rest, **kwargs)

        # Every module that imported a function by name holds its own reference to it.
        replace = {id(build_original): (build_original, build_contract),
                   id(compile_original): (compile_original, compile_invariant)}
        for module in list(sys.modules.values()):
            namespace = getattr(module, "__dict__", None)
            if not isinstance(namespace, dict):
                continue
            for name, value in list(namespace.items()):
                pair = replace.get(id(value))
                if pair is not None and value is pair[0]:
                    namespace[name] = pair[1]
                    self._patched.append((namespace, name, value))

    def uninstall(self) -> None:
        for namespace, name, original in reversed(self._patched):
            namespace[name] = original
        self._patched.clear()
        self.active = None


def _is_project_module(module: Any, rootdir: str) -> bool:
    name = getattr(module, "__name__", "") or ""
    if name == "pvcontracts" or name.startswith("pvcontracts."):
        return False  # our caches are keyed by text (expressions, the schema): a mutant never hits them
    path = getattr(module, "__file__", None)
    if not path:
        return False
    path = os.path.realpath(path)
    if not path.startswith(rootdir + os.sep):
        return False
    parts = path[len(rootdir):].split(os.sep)
    return not any(p in ("site-packages", "dist-packages") for p in parts)


def project_caches(rootdir: str) -> list[Any]:
    """The ``functools.lru_cache`` / ``cache`` wrappers of the project's own modules (tests, helpers)."""
    wrapper_type = type(functools.lru_cache(maxsize=None)(lambda: None))
    found: dict[int, Any] = {}
    for module in list(sys.modules.values()):
        if not _is_project_module(module, rootdir):
            continue
        for value in list(vars(module).values()):
            candidates = [value]
            if isinstance(value, type) and value.__module__ == module.__name__:
                candidates = [getattr(v, "__func__", v) for v in vars(value).values()]
            for candidate in candidates:
                if isinstance(candidate, wrapper_type):
                    found[id(candidate)] = candidate
    return list(found.values())


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise MutantTimeout into the running test after ``seconds`` (main thread, POSIX only)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise MutantTimeout(f"ran past {seconds:.0f} s under the mutant")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Mutator:
    """The plugin's mutation machinery for one session: watches the baseline run, then runs the plan.

    While the session's own tests run, every invariant each test compiles in this process is noted
    (the project's caches cleared before each test, so a memoised contract is built and compiled
    again): a test that compiled no invariant X there never evaluated X's text, cannot see X's
    mutants either, and is not run against them.
    """

    def __init__(self, rootdir: str, runtest: Callable[[Any], list[Any]] | None = None) -> None:
        self.rootdir = os.path.realpath(rootdir)
        self.switch = MutationSwitch()
        self.reach: dict[str, set[tuple[str, str]]] = {}  # node id -> (contract, invariant) its baseline compiled
        self._runtest = runtest or _runtestprotocol
        self._caches: list[Any] = []

    def start(self) -> None:
        """After collection, before the first test: every test module is imported by now."""
        self._caches = project_caches(self.rootdir)
        self.switch.install()

    def before_test(self) -> None:
        self._clear()
        self.switch.built.clear()
        self.switch.compiled.clear()

    def after_test(self, nodeid: str) -> None:
        self.reach[nodeid] = set(self.switch.compiled)

    def stop(self) -> None:
        self.switch.uninstall()
        self._clear()  # leave no mutated contract behind in a cache

    def _clear(self) -> None:
        for cache in self._caches:
            cache.cache_clear()

    def run(self, session: Any, results: Any, plan: dict[str, Any]) -> tuple[dict[str, dict[str, str]], float]:
        """Every mutant of ``plan`` against this session's passing items: (verdicts by mutant and ref, seconds)."""
        started = time.monotonic()
        verdicts = _PlanRun(self, session, results).run(plan)
        return verdicts, time.monotonic() - started


class _PlanRun:
    """One plan against the items of one session (one xdist worker's, under xdist)."""

    def __init__(self, mutator: Mutator, session: Any, results: Any) -> None:
        self.m = mutator
        self.results = results
        self.items: dict[str, list[Any]] = {}
        for item in session.items:
            node = results.nodes.get(item.nodeid)
            if node is None or not node.reported:
                continue  # not run here (another worker's, or deselected)
            for key in nodeid_keys(item.nodeid):
                self.items.setdefault(key, []).append(item)
        self._identity: dict[tuple[str, str], bool] = {}  # (ref, invariant) -> passes under the identity mutant
        self._killers: dict[str, dict[str, int]] = {}  # invariant -> ref -> mutants of it the ref killed

    def passed(self, ref: str) -> bool:
        items = self.items.get(ref)
        return bool(items) and all(self.results.nodes[i.nodeid].outcome()[0] == "passed" for i in items)

    def duration(self, ref: str) -> float:
        return sum(self.results.nodes[i.nodeid].duration for i in self.items.get(ref, ()))

    def reaches(self, ref: str, mutant: Mutant) -> bool:
        key = (mutant.contract, mutant.invariant)
        return any(key in self.m.reach.get(i.nodeid, ()) for i in self.items.get(ref, ()))

    def _run(self, ref: str, mutant: Mutant) -> str:
        started = time.monotonic()
        verdict = self._run_once(ref, mutant)
        if os.environ.get("PV_MUTATION_LOG"):  # a developer's timing log: one line per run
            with open(os.environ["PV_MUTATION_LOG"], "a", encoding="utf-8") as fh:
                fh.write(f"{time.monotonic() - started:.3f}\t{mutant.id}\t{ref}\t{verdict}\n")
        return verdict

    def _run_once(self, ref: str, mutant: Mutant) -> str:
        """killed | survived | unreached | unstable for one reference under one mutant."""
        switch = self.m.switch
        self.m._clear()
        switch.active, switch.applied = mutant, 0
        failed = False
        limit = max(MIN_TIMEOUT_S, TIMEOUT_FACTOR * self.duration(ref))
        try:
            for item in self.items[ref]:
                with _time_limit(limit):
                    try:
                        reports = self.m._runtest(item)
                    except MutantTimeout:
                        reports = None
                if reports is None or any(r.failed for r in reports):
                    failed = True
                    break
        finally:
            reached = switch.applied > 0
            switch.active = None
        if not reached:
            return "unstable" if failed else "unreached"
        return "killed" if failed else "survived"

    def run(self, plan: dict[str, Any]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        if not self.items:
            return out
        self.budgets = _Budgets(i for items in self.items.values() for i in items)
        try:
            for job in plan.get("mutants", ()):
                mutant = Mutant.from_json(job["mutant"])
                out[mutant.id] = self._job(mutant, {g: list(refs) for g, refs in job["gates"].items()})
        finally:
            self.budgets.restore()
        return out

    def _order(self, refs: set[str], invariant: str) -> list[str]:
        """Tests that killed this invariant's mutants before go first (most kills first), then the fastest."""
        kills = self._killers.get(invariant, {})
        return sorted(refs, key=lambda r: (-kills.get(r, 0), self.duration(r), r))

    def _job(self, mutant: Mutant, gates: dict[str, list[str]]) -> dict[str, str]:
        verdicts: dict[str, str] = {}
        # A gate with a test that did not pass is not discharged whatever its mutants do: spend nothing on it.
        # (Under xdist a reference another worker ran is unknown here and given the benefit of the doubt.)
        live = {g for g, refs in gates.items() if all(self.passed(r) for r in refs if r in self.items)}
        killed: set[str] = set()
        order = self._order({r for refs in gates.values() for r in refs}, mutant.invariant)
        for ref in order:
            self._try(ref, mutant, gates, live, killed, verdicts)
        # Survivors of the small Hypothesis budget get each property test's full budget before they count.
        again = [r for r in order if verdicts.get(r) == "survived"
                 and any(i.nodeid in self.budgets.reduced for i in self.items[r])]
        if again and not live <= killed:
            with self.budgets.full():
                for ref in again:
                    self._try(ref, mutant, gates, live, killed, verdicts)
        return verdicts

    def _try(self, ref: str, mutant: Mutant, gates: dict[str, list[str]], live: set[str], killed: set[str],
             verdicts: dict[str, str]) -> None:
        owners = {g for g, rs in gates.items() if ref in rs and g in live}
        if ref not in self.items:
            return  # another worker's test: it reports this one
        if owners <= killed or not self.passed(ref):
            verdicts.setdefault(ref, "not_run")
            return
        if not self.reaches(ref, mutant):
            verdicts[ref] = "unreached"  # it never compiled this invariant here: the mutant cannot reach it
            return
        verdict = self._run(ref, mutant)
        if verdict == "killed":
            key = (ref, mutant.invariant)
            if key not in self._identity:
                self._identity[key] = self._run(ref, identity(mutant.contract, mutant.invariant)) == "survived"
            if not self._identity[key]:
                verdict = "unstable"
        verdicts[ref] = verdict
        if verdict == "killed":
            killed |= owners
            counts = self._killers.setdefault(mutant.invariant, {})
            counts[ref] = counts.get(ref, 0) + 1


class _Budgets:
    """Hypothesis settings while mutants run: no shrinking, and a small example budget first.

    Under a mutant only whether a test fails matters: shrinking the counterexample (and explaining
    it) would cost many times the run that found it, for a minimal example nobody reads. Most mutants
    fail a property test within a few examples, so each is first tried with ``MUTANT_EXAMPLES``;
    only a mutant that survives that is tried again with the test's own full budget
    (:meth:`full`), so the small budget changes the cost, never the verdict.
    """

    def __init__(self, items: Any) -> None:
        self.saved: dict[int, tuple[Any, Any, Any, Any]] = {}  # id(fn) -> (fn, own, small, full)
        self.reduced: set[str] = set()  # node ids whose test got a smaller budget than its own
        if "hypothesis" not in sys.modules:
            return
        from hypothesis import Phase
        from hypothesis import settings as Settings

        from pvcontracts.evidence.falsify import hypothesis_function

        for item in items:
            fn = hypothesis_function(getattr(item, "obj", None))
            if fn is None:
                continue
            if id(fn) not in self.saved:
                own = getattr(fn, "_hypothesis_internal_use_settings", None) or Settings.default
                phases = [p for p in own.phases if p not in (Phase.shrink, Phase.explain)]
                full = Settings(parent=own, phases=phases, report_multiple_bugs=False)
                small = Settings(parent=full, max_examples=min(own.max_examples, MUTANT_EXAMPLES))
                self.saved[id(fn)] = (fn, own, small, full)
                fn._hypothesis_internal_use_settings = small
            if self.saved[id(fn)][1].max_examples > MUTANT_EXAMPLES:
                self.reduced.add(item.nodeid)

    @contextlib.contextmanager
    def full(self) -> Iterator[None]:
        for fn, _, _, full in self.saved.values():
            fn._hypothesis_internal_use_settings = full
        try:
            yield
        finally:
            for fn, _, small, _ in self.saved.values():
                fn._hypothesis_internal_use_settings = small

    def restore(self) -> None:
        for fn, own, _, _ in self.saved.values():
            fn._hypothesis_internal_use_settings = own


def _runtestprotocol(item: Any) -> list[Any]:
    from _pytest.runner import runtestprotocol

    # nextitem=None: every fixture is torn down after the run, so nothing built from the
    # previous mutant's contract (a module- or session-scoped fixture) survives into the next.
    return runtestprotocol(item, log=False, nextitem=None)
