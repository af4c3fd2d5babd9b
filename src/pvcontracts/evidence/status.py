"""A test reference's outcome and a gate's status, derived from what ran; never declared.

A reference's outcome is the most decisive outcome among the node ids it
selects (a parametrized test is all of its instances; a class, all of its
tests), in the order of :data:`~pvcontracts.evidence.results.OUTCOMES`:
one failed instance fails the reference, one skipped instance leaves it
incomplete. A gate is then

* **failed** when any of its tests (bound or falsifier) failed or errored;
* **missing** when a test it names does not exist, or it names none;
* **incomplete** when any was skipped, xfailed, xpassed, deselected, not
  collected or not run;
* **vacuous** when every one of them passed, but they pass against every
  mutant of the gate's invariants too (see ``mutation_plan``): they do not
  test the contract text;
* **discharged** only when every one of them exists, ran and passed, and
  (when mutation checking ran) they killed at least one mutant.

So a gate with no evidence, or with evidence that could not have failed, is never discharged.
``pv verify`` runs the same
functions over the recorded outcomes: a status that does not follow from
them is tampering.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pvcontracts.evidence.binding import TestBinding
from pvcontracts.evidence.results import EXECUTED, OUTCOMES, NodeResult, RawResults, nodeid_keys

GATE_STATUSES = ("discharged", "failed", "incomplete", "missing", "vacuous")
# The diagnostic pv check reports for a gate in each status but discharged.
STATUS_CODES = {"failed": "PV610", "incomplete": "PV611", "missing": "PV612", "vacuous": "PV615"}
FAILING = frozenset({"failed", "error"})
INCOMPLETE = frozenset({"skipped", "xfailed", "xpassed", "deselected", "not_collected", "not_run"})
_RANK = {o: i for i, o in enumerate(OUTCOMES)}


@dataclass
class Instance:
    nodeid: str
    outcome: str
    message: str | None
    duration: float
    node: NodeResult | None = None


@dataclass
class TestOutcome:
    __test__ = False

    ref: str
    outcome: str
    message: str | None
    instances: list[Instance] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return sum(i.duration for i in self.instances)


def aggregate(outcomes: list[str]) -> str:
    """The most decisive of several instance outcomes (``not_collected`` for none)."""
    return min(outcomes, key=lambda o: _RANK.get(o, 0)) if outcomes else "not_collected"


def index_nodes(results: RawResults) -> dict[str, list[str]]:
    """Reference -> the node ids it selects, for every reference that selects any."""
    index: dict[str, list[str]] = {}
    for nodeid in sorted(results.nodes):
        for key in nodeid_keys(nodeid):
            index.setdefault(key, []).append(nodeid)
    return index


def _collect_error(tb: TestBinding, results: RawResults) -> str | None:
    if tb.path is None:
        return None
    for key, message in results.collect_errors.items():
        # the file itself, a class in it, or a directory above it (a broken conftest.py)
        if key in (".", "", tb.path) or key.startswith(tb.path + "::") or tb.path.startswith(key.rstrip("/") + "/"):
            return message
    return None


def ref_outcome(tb: TestBinding, results: RawResults | None, index: dict[str, list[str]]) -> TestOutcome:
    missing = tb.missing
    if missing is not None:
        return TestOutcome(tb.ref, "missing", missing.message)
    if results is None:
        return TestOutcome(tb.ref, "not_run", "not part of this run")
    error = _collect_error(tb, results)
    if error is not None:
        return TestOutcome(tb.ref, "error", f"collecting {tb.path} failed: {error}")
    instances = []
    for nodeid in index.get(tb.ref, []):
        node = results.nodes[nodeid]
        outcome, message = node.outcome()
        if outcome == "not_collected":
            continue  # a node we only heard of, never collected: no instance
        instances.append(Instance(nodeid, outcome, message, node.duration, node))
    if not instances:
        why = ("pytest did not collect it (check python_functions / python_classes / __test__ and the file's "
               "collection)" if results.collection_known else "the results have no entry for it")
        return TestOutcome(tb.ref, "not_collected", why)
    outcome = aggregate([i.outcome for i in instances])
    message = next((i.message for i in instances if i.outcome == outcome and i.message), None)
    if outcome == "not_run" and message is None:
        message = "collected but never run (the session stopped early)"
    return TestOutcome(tb.ref, outcome, message, instances)


def gate_status(outcomes: list[str], mutation: dict | None = None) -> str:
    """A gate's status from its tests' outcomes and, when mutation checking ran, its mutation record."""
    if not outcomes:
        return "missing"
    if any(o in FAILING for o in outcomes):
        return "failed"
    if "missing" in outcomes:
        return "missing"
    if any(o in INCOMPLETE for o in outcomes):
        return "incomplete"
    if mutation is not None and mutation.get("mutants", 0) > 0 and mutation.get("killed", 0) == 0:
        return "vacuous"
    return "discharged"


def executed(outcome: str) -> bool:
    return outcome in EXECUTED
