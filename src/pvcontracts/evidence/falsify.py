"""Hypothesis profiles for falsifiers, and the statistics each falsifier run leaves in the evidence.

A *profile* is a policy applied on top of whatever settings a falsifier
declares (its ``@settings(...)``), because a falsifier pins the budget it was
written for and a profile decides how a run uses it:

* ``ci``: derandomized (examples follow from the test's source, so CI and a
  laptop find the same ones), the falsifier's own example budget, no database;
* ``thorough``: a random seed, chosen per run and recorded so a find can be
  replayed with ``--seed``, twenty times the budget, no database.

The override goes through the test's Hypothesis settings object the same way
Hypothesis's own pytest plugin adjusts it (``settings(parent=...)`` stored on
the test), so it composes with every other setting the falsifier keeps
(deadline, health checks, phases).

Statistics come from Hypothesis's documented observability callbacks
(``add_observability_callback``): one observation per test case with its
phase and status, the ``"minimal failing test case"`` replay with the
shrunk arguments, and the run's statistics message. Coverage collection,
which observability would otherwise switch on (slow on Python 3.11), is
turned off through the documented ``OBSERVABILITY_COLLECT_COVERAGE`` flag.

Nothing here imports Hypothesis at module import: the pytest plugin imports
this module only when a profile was asked for.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable

from pvcontracts.evidence.results import clip


@dataclass(frozen=True)
class Profile:
    name: str
    derandomize: bool
    scale: int  # multiplier on the falsifier's declared max_examples
    description: str


PROFILES: dict[str, Profile] = {
    "ci": Profile("ci", True, 1, "derandomized, the falsifier's declared example budget, no database"),
    "thorough": Profile("thorough", False, 20, "a recorded random seed, 20x the declared example budget, no database"),
}

_APPLIED = "_pv_contracts_profile"


def hypothesis_function(obj: Any) -> Any | None:
    """The Hypothesis-wrapped function behind a pytest item's ``obj``, or None when it is not one."""
    fn = getattr(obj, "__func__", obj)
    try:
        from hypothesis import is_hypothesis_test
    except ImportError:  # pragma: no cover - Hypothesis older than 6.87
        return fn if getattr(fn, "is_hypothesis_test", False) else None
    return fn if is_hypothesis_test(fn) else None


def apply_profile(fn: Any, profile: Profile, seed: int | None = None) -> dict[str, Any]:
    """Put ``profile`` (and, unless derandomized, ``seed``) on one Hypothesis test, once.

    Returns the effective settings. The seed goes through Hypothesis's public ``seed()``
    decorator, so it works whether or not Hypothesis's own pytest plugin is loaded.
    """
    from hypothesis import seed as use_seed
    from hypothesis import settings as Settings

    current = getattr(fn, "_hypothesis_internal_use_settings", None) or Settings.default
    if getattr(fn, _APPLIED, None) != profile.name:
        current = Settings(parent=current, derandomize=profile.derandomize, database=None,
                           max_examples=current.max_examples * profile.scale)
        fn._hypothesis_internal_use_settings = current
        setattr(fn, _APPLIED, profile.name)
    if seed is not None and not profile.derandomize:
        use_seed(seed)(fn)
    return {"max_examples": current.max_examples, "derandomize": bool(current.derandomize),
            "database": current.database is not None}


def disable_observability_coverage() -> None:
    """Observability would trace every test case for coverage; we need counts, not coverage."""
    from hypothesis.internal import observability

    observability.OBSERVABILITY_COLLECT_COVERAGE = False  # documented switch, read at each test case


def add_callback(callback: Callable[[Any], None]) -> Callable[[], None] | None:
    """Register an observability callback for this thread; returns its remover (None if unsupported)."""
    try:
        from hypothesis.internal.observability import add_observability_callback, remove_observability_callback
    except ImportError:  # pragma: no cover - Hypothesis older than 6.137
        return None
    add_observability_callback(callback)
    return lambda: remove_observability_callback(callback)


def _jsonable(value: Any, depth: int = 0) -> Any:
    """Arguments as JSON: numbers, strings, lists and dicts as they are; anything else as its repr."""
    if value is None or isinstance(value, (bool, str)):
        return clip(value, 500) if isinstance(value, str) else value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)  # JSON has no nan/inf
    if depth < 4 and isinstance(value, (list, tuple)) and len(value) <= 50:
        return [_jsonable(v, depth + 1) for v in value]
    if depth < 4 and isinstance(value, dict) and len(value) <= 50 and all(isinstance(k, str) for k in value):
        return {k: _jsonable(v, depth + 1) for k, v in value.items()}
    return clip(repr(value), 500)


def _relative(location: str | None, rootdir: str) -> str | None:
    """``/abs/repo/f.py:12`` -> ``f.py:12``, so evidence does not depend on where the repo was checked out."""
    if not location:
        return location
    path, sep, line = location.rpartition(":")
    if not sep:
        return location
    try:
        rel = os.path.relpath(path, rootdir)
    except ValueError:
        return location
    if rel.startswith(".."):
        return os.path.basename(path) + ":" + line
    return rel.replace(os.sep, "/") + ":" + line


class StatsCollector:
    """Collects the observations of one test's run and condenses them into evidence statistics."""

    MINIMAL = "minimal failing test case"

    def __init__(self) -> None:
        self.observations: list[Any] = []

    def __call__(self, observation: Any) -> None:
        self.observations.append(observation)

    def summary(self, *, profile: str | None, seed: int | None, effective: dict[str, Any] | None,
                rootdir: str) -> dict[str, Any]:
        phases: dict[str, int] = {}
        passed = failed = invalid = shrinks = 0
        counterexample: dict[str, Any] | None = None
        stopped: str | None = None
        for obs in self.observations:
            kind = getattr(obs, "type", None)
            if kind == "test_case":
                if getattr(obs, "how_generated", "") == self.MINIMAL:
                    meta = getattr(obs, "metadata", None)
                    counterexample = {
                        "representation": clip(getattr(obs, "representation", None), 4000),
                        "arguments": {str(k): _jsonable(v) for k, v in sorted((getattr(obs, "arguments", None) or {}).items())},
                        "reason": clip(getattr(obs, "status_reason", None), 500),
                        "location": _relative(getattr(meta, "status_reason_location", None), rootdir),
                    }
                    continue
                phase = getattr(getattr(obs, "metadata", None), "phase", None) or "other"
                phases[phase] = phases.get(phase, 0) + 1
                if phase == "shrink":
                    shrinks += 1
                    continue
                status = getattr(obs, "status", None)
                if status == "passed":
                    passed += 1
                elif status == "failed":
                    failed += 1
                else:
                    invalid += 1
            elif kind == "info" and getattr(obs, "title", "") == "Hypothesis Statistics":
                content = getattr(obs, "content", "")
                for line in str(content).splitlines():
                    marker = line.find("Stopped because ")
                    if marker >= 0:
                        stopped = line[marker + len("Stopped because "):].strip()
        effective = effective or {}
        return {
            "profile": profile,
            "seed": seed,
            "derandomize": effective.get("derandomize"),
            "max_examples": effective.get("max_examples"),
            "database": effective.get("database"),
            "examples": passed + failed + invalid,
            "passed_examples": passed,
            "failing_examples": failed,
            "invalid_examples": invalid,
            "shrinks": shrinks,
            "phases": dict(sorted(phases.items())),
            "stopped_because": stopped,
            "counterexample": counterexample,
        }
