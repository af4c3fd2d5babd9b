"""The pytest plugin behind ``pv check``: records bound tests' outcomes by node id.

Loaded in every pytest session through the ``pytest11`` entry point, so it is
built to cost nothing there: it imports only pytest (already loaded) at module
import, and until one of its options is given all it does is register the
``discharges`` marker, so ``--strict-markers`` accepts
``@pytest.mark.discharges(gate="GATE-...")`` in any project.

Options (``pv check`` passes them; a CI job may pass them itself):

``--pv-record DIR``
    write what this process saw to ``DIR/results-<worker>.json``: every
    collected node id with its ``discharges`` claims, which were deselected,
    each phase's outcome, duration and message, and collection errors. Under
    pytest-xdist each worker writes its own file (collection happens there)
    and the controller one more (it alone sees a worker crash); ``pv`` merges
    them.
``--pv-select FILE``
    a JSON list of test references; only the tests they select run, the rest
    of the collected files are deselected (after their markers were read).
``--pv-profile ci|thorough``
    apply that falsifier profile (see ``pvcontracts.evidence.falsify``) to
    every Hypothesis test and attach its statistics to the test report as the
    user property ``pv_hypothesis`` (a JSON string), which pytest's report log
    and JUnit XML carry, so ``pv check --results`` can read them later.
``--pv-seed N``
    with ``--pv-profile thorough``, the seed every Hypothesis test runs with.
``--pv-mutate FILE``
    after the run, rerun the tests that passed against each mutant of the
    contracts' invariants listed in the JSON plan FILE (see
    ``pvcontracts.evidence.mutation``) and record which tests killed which
    mutants. Under pytest-xdist each worker mutates the tests it ran.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from pvcontracts.evidence.results import USER_PROPERTY  # a leaf module: dataclasses and typing only

MARKER_HELP = ("discharges(gate): this test is evidence for the named pv-contracts gate; "
               "the gate must list it in evidence_discharged_by")
_RECORDER = "pv-contracts-recorder"


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("pv-contracts", "gate evidence (pv-contracts)")
    group.addoption("--pv-record", metavar="DIR", default=None,
                    help="write each bound test's outcome, duration and discharges claims to DIR (used by pv check)")
    group.addoption("--pv-select", metavar="FILE", default=None,
                    help="run only the tests selected by the JSON list of test references in FILE")
    group.addoption("--pv-profile", choices=("ci", "thorough"), default=None,
                    help="run Hypothesis tests under this falsifier profile and record their statistics")
    group.addoption("--pv-seed", type=int, default=None,
                    help="with --pv-profile thorough: the seed every Hypothesis test runs with (replays a run)")
    group.addoption("--pv-mutate", metavar="FILE", default=None,
                    help="after the run, rerun the passing tests against the mutants in the JSON plan FILE "
                    "(used by pv check)")


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    opts = config.option
    if (opts.pv_record is None and opts.pv_select is None and opts.pv_profile is None and opts.pv_seed is None
            and opts.pv_mutate is None):
        return  # inert: the plugin only ever registers the marker unless asked
    config.pluginmanager.register(_Recorder(config), _RECORDER)


def _message(report: Any) -> str | None:
    from pvcontracts.evidence.results import clip

    longrepr = report.longrepr
    if longrepr is None:
        return None
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, line, reason)
        return clip(str(longrepr[2]))
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return clip(crash.message)
    return clip(str(longrepr))


def claims_of(item: Any) -> tuple[set[str], list[str]]:
    """Gate ids an item's ``discharges`` markers name, and the markers that name none usably."""
    good: set[str] = set()
    bad: list[str] = []
    for mark in item.iter_markers("discharges"):
        values = list(mark.args) + [v for k, v in mark.kwargs.items() if k == "gate"]
        extra = [k for k in mark.kwargs if k != "gate"]
        if len(values) == 1 and isinstance(values[0], str) and values[0] and not extra:
            good.add(values[0])
        else:
            shown = ", ".join([repr(a) for a in mark.args] + [f"{k}={v!r}" for k, v in mark.kwargs.items()])
            bad.append(f"discharges({shown})")
    return good, bad


class _Recorder:
    def __init__(self, config: Any) -> None:
        from pvcontracts.evidence.results import RawResults

        self.config = config
        self.results = RawResults(source="run")
        self.record_dir = config.option.pv_record
        self.selectors: set[str] | None = None
        if config.option.pv_select is not None:
            with open(config.option.pv_select, encoding="utf-8") as fh:
                self.selectors = set(json.load(fh))
        self.profile_name = config.option.pv_profile
        self._own_deselect = False
        self.mutation_plan: dict[str, Any] | None = None
        self.mutator: Any = None
        if config.option.pv_mutate is not None:
            with open(config.option.pv_mutate, encoding="utf-8") as fh:
                self.mutation_plan = json.load(fh)
        self._mutating = False  # while rerunning tests against mutants: record nothing about them

    # ---- collection

    @pytest.hookimpl(tryfirst=True)  # before -k/-m deselect, so every collected item's markers are read
    def pytest_collection_modifyitems(self, session: Any, config: Any, items: list[Any]) -> None:
        from pvcontracts.evidence.results import nodeid_keys

        self.results.collection_known = True
        for item in items:
            node = self.results.node(item.nodeid)
            node.collected = True
            node.claims, node.bad_claims = claims_of(item)
        if self.selectors is None:
            return
        keep, drop = [], []
        for item in items:
            (keep if any(k in self.selectors for k in nodeid_keys(item.nodeid)) else drop).append(item)
        if drop:
            items[:] = keep
            for item in drop:  # not bound: forget it, it is not evidence of anything
                del self.results.nodes[item.nodeid]
            self._own_deselect = True
            try:
                config.hook.pytest_deselected(items=drop)
            finally:
                self._own_deselect = False

    def pytest_deselected(self, items: list[Any]) -> None:
        if self._own_deselect:
            return
        for item in items:  # deselected by someone else (-k, -m, a plugin): a bound test that will not run
            self.results.node(item.nodeid).deselected = True

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.results.collect_errors.setdefault(report.nodeid or ".", _message(report) or "collection failed")

    # ---- running

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: Any) -> None:
        if self.profile_name is None or "hypothesis" not in sys.modules:
            return
        from pvcontracts.evidence.falsify import PROFILES, apply_profile, hypothesis_function

        fn = hypothesis_function(getattr(item, "obj", None))
        if fn is not None:
            apply_profile(fn, PROFILES[self.profile_name], seed=self.config.option.pv_seed)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: Any) -> Any:
        if self.mutation_plan is None or not session.items:  # (the xdist controller runs no item itself)
            return (yield)
        from pvcontracts.evidence.mutation import Mutator

        self.mutator = Mutator(str(self.config.rootpath))
        self.mutator.start()
        try:
            result = yield
            if not (session.shouldfail or session.shouldstop):
                self._mutating = True
                self.results.mutation, self.results.mutation_seconds = self.mutator.run(
                    session, self.results, self.mutation_plan)
        finally:
            self._mutating = False
            self.mutator.stop()
            self.mutator = None
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: Any, nextitem: Any) -> Any:
        if self.mutator is None or self._mutating:
            return (yield)
        # Which contracts does this test build in this process? (its caches emptied first, so it builds them)
        self.mutator.before_test()
        try:
            return (yield)
        finally:
            self.mutator.after_test(item.nodeid)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: Any) -> Any:
        if self._mutating:
            return (yield)
        fn = None
        if "hypothesis" in sys.modules:  # a Hypothesis test has imported it; others never pay for it
            from pvcontracts.evidence.falsify import hypothesis_function

            fn = hypothesis_function(getattr(item, "obj", None))
        if fn is None:
            return (yield)
        from pvcontracts.evidence import falsify

        collector = falsify.StatsCollector()
        falsify.disable_observability_coverage()
        remove = falsify.add_callback(collector)
        try:
            return (yield)
        finally:
            if remove is not None:
                remove()
            settings = getattr(fn, "_hypothesis_internal_use_settings", None)
            effective = None if settings is None else {
                "max_examples": settings.max_examples, "derandomize": bool(settings.derandomize),
                "database": settings.database is not None}
            stats = collector.summary(profile=self.profile_name, seed=self._seed(fn, effective),
                                      effective=effective, rootdir=str(item.config.rootpath))
            # user_properties travel with the report: to the xdist controller, the report log and JUnit XML
            item.user_properties.append((USER_PROPERTY, json.dumps(stats, sort_keys=True)))

    def _seed(self, fn: Any, effective: dict[str, Any] | None) -> int | None:
        if effective and effective["derandomize"]:
            return None  # the examples follow from the test's source; there is no seed to record
        if self.config.option.pv_seed is not None:
            return int(self.config.option.pv_seed)
        forced = self.config.getoption("hypothesis_seed", None)  # Hypothesis's own --hypothesis-seed
        if forced is not None:
            try:
                return int(forced)
            except ValueError:
                return None
        generated = getattr(fn, "_hypothesis_internal_use_generated_seed", None)
        return int(generated) if isinstance(generated, int) else None

    def pytest_runtest_logreport(self, report: Any) -> None:
        from pvcontracts.evidence.results import Phase

        node = self.results.node(report.nodeid)
        when = report.when if report.when in ("setup", "call", "teardown") else "call"  # xdist crash: "???"
        wasxfail = getattr(report, "wasxfail", None)
        node.phases.setdefault(when, Phase(report.outcome, float(report.duration or 0.0),
                                           None if wasxfail is None else str(wasxfail), _message(report)))
        for name, value in getattr(report, "user_properties", ()):
            if name == USER_PROPERTY and node.hypothesis is None:
                try:
                    node.hypothesis = json.loads(value)
                except (TypeError, ValueError):
                    pass

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: Any, exitstatus: Any) -> None:
        if self.record_dir is None:
            return
        from pathlib import Path

        from pvcontracts.util.atomic import write_text_atomic

        self.results.exitstatus = int(exitstatus)
        # workerinput, not the PYTEST_XDIST_WORKER variable: a session started from inside an xdist worker inherits
        # that variable, and its controller would then overwrite its own first worker's file
        worker = getattr(self.config, "workerinput", {}).get("workerid") or "main"
        path = Path(self.record_dir) / f"results-{worker}.json"
        write_text_atomic(path, json.dumps(self.results.to_json(), sort_keys=True))
