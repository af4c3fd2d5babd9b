"""What one pytest session said about each node id, whichever way we learnt it.

The plugin writes it, the report-log and JUnit ingesters parse into it, and
``status`` reads it. Plain data, JSON round-trippable, no pytest import: a
results file written by a pytest worker process is read back by ``pv``.

A node's outcome follows pytest's own reading of its three phases:
a failed setup or teardown is an *error*, a failed call a *failure*, a skip
carrying ``wasxfail`` an *xfail*, a pass carrying it an *xpass*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RESULTS_FORMAT = 1
# The user property under which the plugin attaches Hypothesis statistics to a test report.
USER_PROPERTY = "pv_hypothesis"

# Every outcome a single node id can have, most decisive first. ``deselected``,
# ``not_collected`` and ``not_run`` are what we know about a node that produced
# no verdict; ``missing`` (a reference that does not exist) is decided statically.
OUTCOMES = ("failed", "error", "missing", "skipped", "xfailed", "xpassed", "deselected", "not_collected",
            "not_run", "passed")
EXECUTED = frozenset({"passed", "failed", "error", "xfailed", "xpassed"})

MESSAGE_LIMIT = 2000

# What one test reference did against one mutant, most decisive first (see evidence.mutation).
MUTATION_VERDICTS = ("killed", "unstable", "survived", "unreached", "not_run")


def clip(text: str | None, limit: int = MESSAGE_LIMIT) -> str | None:
    """A message short enough to keep in evidence; None stays None."""
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= limit else text[: limit - 15] + " ... [clipped]"


@dataclass
class Phase:
    """One of setup / call / teardown as pytest reported it."""

    outcome: str  # passed | failed | skipped
    duration: float = 0.0
    wasxfail: str | None = None  # present (possibly "") only for xfail-marked tests
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "duration": self.duration, "wasxfail": self.wasxfail, "message": self.message}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Phase":
        return cls(str(data["outcome"]), float(data.get("duration") or 0.0), data.get("wasxfail"), data.get("message"))


@dataclass
class NodeResult:
    nodeid: str
    phases: dict[str, Phase] = field(default_factory=dict)
    collected: bool = False
    deselected: bool = False
    claims: set[str] = field(default_factory=set)  # gate ids from @pytest.mark.discharges
    bad_claims: list[str] = field(default_factory=list)  # markers without a usable gate id, as written
    hypothesis: dict[str, Any] | None = None  # falsifier statistics recorded by the plugin

    @property
    def reported(self) -> bool:
        return bool(self.phases)

    @property
    def duration(self) -> float:
        return sum(p.duration for p in self.phases.values())

    def outcome(self) -> tuple[str, str | None]:
        """(outcome, message) as pytest would summarise this node."""
        setup, call, teardown = (self.phases.get(w) for w in ("setup", "call", "teardown"))
        if setup is not None and setup.outcome == "failed":
            return "error", setup.message
        if setup is not None and setup.outcome == "skipped":
            return ("xfailed" if setup.wasxfail is not None else "skipped"), setup.message
        if call is None:
            if self.deselected:
                return "deselected", None
            if not self.phases:
                return ("not_run" if self.collected else "not_collected"), None
            if teardown is not None and teardown.outcome == "failed":
                return "error", teardown.message
            return "not_run", "the session ended before the test's call phase"
        if call.outcome == "failed":
            result = ("failed", call.message)
        elif call.outcome == "skipped":
            result = ("xfailed" if call.wasxfail is not None else "skipped", call.message or call.wasxfail)
        else:
            result = ("xpassed", call.wasxfail) if call.wasxfail is not None else ("passed", None)
        if teardown is not None and teardown.outcome == "failed" and result[0] in ("passed", "xpassed"):
            return "error", teardown.message
        return result

    def merge(self, other: "NodeResult") -> None:
        for when, phase in other.phases.items():
            self.phases.setdefault(when, phase)
        self.collected |= other.collected
        self.deselected |= other.deselected
        self.claims |= other.claims
        self.bad_claims.extend(c for c in other.bad_claims if c not in self.bad_claims)
        if self.hypothesis is None:
            self.hypothesis = other.hypothesis

    def to_json(self) -> dict[str, Any]:
        return {
            "phases": {w: p.to_json() for w, p in sorted(self.phases.items())},
            "collected": self.collected,
            "deselected": self.deselected,
            "claims": sorted(self.claims),
            "bad_claims": list(self.bad_claims),
            "hypothesis": self.hypothesis,
        }

    @classmethod
    def from_json(cls, nodeid: str, data: dict[str, Any]) -> "NodeResult":
        return cls(
            nodeid=nodeid,
            phases={w: Phase.from_json(p) for w, p in (data.get("phases") or {}).items()},
            collected=bool(data.get("collected")),
            deselected=bool(data.get("deselected")),
            claims=set(data.get("claims") or ()),
            bad_claims=list(data.get("bad_claims") or ()),
            hypothesis=data.get("hypothesis"),
        )


@dataclass
class RawResults:
    """Everything one session (or one ingested results file) told us, keyed by node id.

    ``collection_known`` says whether a missing node means "not collected"
    (we watched collection) or merely "no result" (an ingested file that does
    not list deselected tests). ``collect_errors`` maps a collector's node id
    (usually a file path) to its error message.
    """

    source: str  # run | reportlog | junit
    nodes: dict[str, NodeResult] = field(default_factory=dict)
    collect_errors: dict[str, str] = field(default_factory=dict)
    exitstatus: int | None = None
    collection_known: bool = False
    # Mutation checking (``--pv-mutate``): mutant id -> test reference -> verdict, and the seconds it took
    # (the longest worker's, under xdist). None when no mutation was asked for or it never ran.
    mutation: dict[str, dict[str, str]] | None = None
    mutation_seconds: float | None = None

    def node(self, nodeid: str) -> NodeResult:
        found = self.nodes.get(nodeid)
        if found is None:
            found = self.nodes[nodeid] = NodeResult(nodeid)
        return found

    def merge(self, other: "RawResults") -> None:
        for nodeid, result in other.nodes.items():
            self.node(nodeid).merge(result)
        for key, message in other.collect_errors.items():
            self.collect_errors.setdefault(key, message)
        if other.exitstatus is not None:
            # the worst exit status wins: a worker that crashed makes the session abnormal
            self.exitstatus = other.exitstatus if self.exitstatus in (None, 0) else max(self.exitstatus, other.exitstatus)
        self.collection_known |= other.collection_known
        if other.mutation is not None:
            if self.mutation is None:
                self.mutation = {}
            merge_verdicts(self.mutation, other.mutation)
        if other.mutation_seconds is not None:
            self.mutation_seconds = max(self.mutation_seconds or 0.0, other.mutation_seconds)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": RESULTS_FORMAT,
            "source": self.source,
            "nodes": {k: v.to_json() for k, v in sorted(self.nodes.items())},
            "collect_errors": dict(sorted(self.collect_errors.items())),
            "exitstatus": self.exitstatus,
            "collection_known": self.collection_known,
            "mutation": self.mutation,
            "mutation_seconds": self.mutation_seconds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RawResults":
        if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT:
            raise ValueError("not a pv-contracts results file of format 1")
        return cls(
            source=str(data.get("source", "run")),
            nodes={k: NodeResult.from_json(k, v) for k, v in (data.get("nodes") or {}).items()},
            collect_errors=dict(data.get("collect_errors") or {}),
            exitstatus=data.get("exitstatus"),
            collection_known=bool(data.get("collection_known")),
            mutation=_mutation_verdicts(data.get("mutation")),
            mutation_seconds=float(data["mutation_seconds"]) if isinstance(data.get("mutation_seconds"), (int, float))
            else None,
        )


def merge_verdicts(into: dict[str, dict[str, str]], other: dict[str, dict[str, str]]) -> None:
    """Combine two workers' mutation verdicts: per mutant and reference, the most decisive wins."""
    rank = {v: i for i, v in enumerate(MUTATION_VERDICTS)}
    for mutant, refs in other.items():
        mine = into.setdefault(mutant, {})
        for ref, verdict in refs.items():
            if ref not in mine or rank.get(verdict, len(rank)) < rank.get(mine[ref], len(rank)):
                mine[ref] = verdict


def _mutation_verdicts(data: Any) -> dict[str, dict[str, str]] | None:
    if not isinstance(data, dict):
        return None
    return {str(m): {str(r): str(v) for r, v in refs.items()} for m, refs in data.items() if isinstance(refs, dict)}


def split_nodeid(nodeid: str) -> tuple[str, str | None]:
    """(base, param id): ``f.py::C::t[a-b]`` -> (``f.py::C::t``, ``a-b``)."""
    sep = nodeid.find("::")
    bracket = nodeid.find("[", sep if sep >= 0 else 0)
    if sep < 0 or bracket < 0 or not nodeid.endswith("]"):
        return nodeid, None
    return nodeid[:bracket], nodeid[bracket + 1:-1]


def nodeid_keys(nodeid: str) -> list[str]:
    """The references that select ``nodeid``: itself, its unparametrized base, and each enclosing class.

    ``f.py::C::t[x]`` is selected by ``f.py::C::t[x]``, ``f.py::C::t`` and ``f.py::C``.
    """
    base, param = split_nodeid(nodeid)
    keys = [nodeid] if param is not None else []
    keys.append(base)
    path, _, rest = base.partition("::")
    names = rest.split("::") if rest else []
    for i in range(len(names) - 1, 0, -1):
        keys.append(path + "::" + "::".join(names[:i]))
    return keys
