"""Evaluating invariants at one boundary call: host values now, tensors deferred to the next sync point.

One place decides, per check and per call: whether the loop supplied its inputs
(strict mode: it must, from the very first call of the boundary, whatever the
check's ``when`` says; supplied mode: a check without its inputs is skipped and
counted), whether history exists yet, whether it applies, and whether it is
checked on the host now or queued for the sync point. A violation found here
is rendered once (:func:`pvcontracts.runtime.violation.render`) and handed back;
what happens next (raise, warn, record) is the reporter's single table.

At ``step_end`` the invariants whose reaction withholds the update
(``skip_step``) are evaluated first, at the step, on the device: their verdicts
make the step's skip flag (never read here), and the other invariants then see
the step as one the optimizer did not take (``optimizer_stepped`` false where
the flag holds), as they see a step a GradScaler skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from pvcontracts.contract.reactions import reaction_of
from pvcontracts.contract.vocabulary import BOUNDARIES, metrics_at
from pvcontracts.errors import EvaluationError, HistoryUnavailable
from pvcontracts.runtime.checks import Check
from pvcontracts.runtime.history import BoundedHistory
from pvcontracts.runtime.values import any_flag, bad_flag, is_host, not_flag, tensor_names, to_host, truth
from pvcontracts.runtime.violation import MissingMetricError, Violation

_NO_NAMES: frozenset[str] = frozenset()
WATCHED = frozenset({"grad_norm", "lr", "optimizer_steps", "scheduler_steps", "optimizer_stepped", "grads_cleared",
                     "update_ratio"})


@dataclass
class Pending:
    """A deferred step check: the metric references of one step, evaluated at the next sync point.

    ``result`` is set for checks that read history: (applies, holds), already
    computed on the device at the step, with ``reads`` the history values used.
    """

    check: Check
    step: int
    epoch: int
    env: dict[str, Any]
    result: tuple[Any, Any] | None = None
    reads: dict[tuple[Any, ...], Any] | None = None


class RecordingHistory:
    """Reads through to the live history and remembers what it returned, for a later message."""

    def __init__(self, history: BoundedHistory) -> None:
        self._history = history
        self.reads: dict[tuple[Any, ...], Any] = {}

    def prev(self, metric: str) -> Any:
        value = self.reads[("prev", metric)] = self._history.prev(metric)
        return value

    def first(self, metric: str) -> Any:
        value = self.reads[("first", metric)] = self._history.first(metric)
        return value

    def window(self, metric: str, n: int) -> list[Any]:
        values = self.reads[("window", metric, n)] = self._history.window(metric, n)
        return values


class ReplayHistory:
    """The history a deferred evaluation saw, as host values: the message shows what the check read."""

    def __init__(self, reads: Mapping[tuple[Any, ...], Any]) -> None:
        self._reads = {k: ([to_host(x) for x in v] if k[0] == "window" else to_host(v)) for k, v in reads.items()}

    def _get(self, key: tuple[Any, ...]) -> Any:
        if key not in self._reads:
            raise HistoryUnavailable(f"{key[0]}({key[1]}) was not read at that step", (key[1],))
        return self._reads[key]

    def prev(self, metric: str) -> Any:
        return self._get(("prev", metric))

    def first(self, metric: str) -> Any:
        return self._get(("first", metric))

    def window(self, metric: str, n: int) -> list[Any]:
        return self._get(("window", metric, n))


class Evaluator:
    """Holds the checks, their history and the pending step checks; finds violations, never acts on them.

    ``render(check, env, values, step, epoch, history)`` turns a failed evaluation into a
    :class:`Violation` (the Monitor binds the run's params, regime and rank into it).
    """

    def __init__(self, checks: dict[str, list[Check]], history: dict[str, BoundedHistory], params: Mapping[str, Any],
                 mode: str, render_violation: Callable[..., Violation]) -> None:
        self.checks = checks
        self.active = {b: [c for c in cs if c.inactive is None] for b, cs in checks.items()}
        # step_end checks whose violation withholds the step's update: evaluated first, at the step.
        self.skip_checks = [c for c in self.active["step_end"] if reaction_of(c.on_violation).prevents_update]
        self._other_step_checks = [c for c in self.active["step_end"] if c not in self.skip_checks]
        self.history = history
        self.params = params
        self.strict = mode == "strict"
        self.render = render_violation
        self.pending: list[Pending] = []
        self.found: list[Violation] = []   # host violations waiting for the next sync point
        self.called: set[str] = set()

    # ------------------------------------------------------------------ one boundary call

    def evaluate(self, boundary: str, env: dict[str, Any], *, defer_tensors: bool) -> bool:
        """Evaluate every active check of ``boundary``; True when an abort-level step violation wants a sync now."""
        checks = self.active[boundary]
        if boundary not in self.called:
            self.called.add(boundary)
            if self.strict:
                self._require_first_call(boundary, env, checks)
        if not checks:
            return False
        history = self.history[boundary]
        history.push(env)
        # Names holding tensors, found once per boundary call: each check then asks a set, not every value.
        tensors = tensor_names(env) if defer_tensors else _NO_NAMES
        urgent = False
        for check in checks:
            if check.pre_done:  # already evaluated before this step's optimizer step
                continue
            urgent |= self.evaluate_one(check, env, history, tensors)
        return urgent

    def evaluate_step(self, env: dict[str, Any], *, preset_skip: Any = False,
                      agree: Callable[[Any], Any] | None = None) -> tuple[bool, Any]:
        """step_end: (an urgent host violation wants a sync now, the step's skip flag).

        ``preset_skip``: the step is already known to be skipped (decided before its update).
        ``agree``: OR of the flag across ranks (a device collective), called at every step where
        a skip check is active, so every rank withholds the same updates.
        """
        boundary = "step_end"
        if boundary not in self.called:
            self.called.add(boundary)
            if self.strict:
                self._require_first_call(boundary, env, self.active[boundary])
        if not self.active[boundary]:
            return False, preset_skip
        history = self.history[boundary]
        history.push(env)
        tensors = tensor_names(env)
        urgent = False
        skip = preset_skip
        for check in self.skip_checks:
            if check.pre_done:  # decided before the update (fatal_before_step): part of preset_skip
                continue
            bad, wants_sync = self._skip_verdict(check, env, history, tensors)
            urgent |= wants_sync
            skip = any_flag(skip, bad)
        if agree is not None and self.skip_checks:
            skip = agree(skip)
        if skip is not False:
            # The other checks see the step as not taken where the flag holds (a device bool when it is one).
            stepped = env.get("optimizer_stepped")
            if stepped is not None and stepped is not False:
                env["optimizer_stepped"] = not_flag(skip) if stepped is True else stepped.logical_and(not_flag(skip))
            history.withhold_newest(skip)
            tensors = tensor_names(env)
        for check in self._other_step_checks:
            if check.pre_done:
                continue
            urgent |= self.evaluate_one(check, env, history, tensors)
        return urgent, skip

    def _skip_verdict(self, check: Check, env: dict[str, Any], history: BoundedHistory,
                      tensors: frozenset[str]) -> tuple[Any, bool]:
        """A skip_step check at its step: (its bad flag, whether a host violation wants a sync at once).

        Tensor verdicts are computed now, on the device, and queued with the step so that the
        sync point reports the very verdict the update was withheld on.
        """
        if not check.inputs.issubset(env):
            self._unsupplied(check, env, history)
            return False, False
        check.stats.evaluated += 1
        try:
            if check.names.isdisjoint(tensors):
                violated = self._on_host(check, env, history)
                return violated, violated and self._urgent(check)
            recorder = RecordingHistory(history)
            verdict = check.compiled.verdict({**check.static_env, **env}, recorder, branch_on_guard=False)
        except HistoryUnavailable:
            check.stats.unevaluable += 1
            return False, False
        except EvaluationError as exc:
            raise self.missing(check, exc.missing) from None
        if verdict is None:
            return False, False
        self.pending.append(Pending(check, int(env["step"]), int(env["epoch"]), env, verdict, recorder.reads))
        return bad_flag(*verdict), False

    @staticmethod
    def _urgent(check: Check) -> bool:
        return check.boundary == "step_end" and reaction_of(check.on_violation).urgent

    def _require_first_call(self, boundary: str, env: Mapping[str, Any], checks: list[Check]) -> None:
        """Strict mode: at the first call of a boundary every input of every check must be there, now."""
        missing: dict[str, list[str]] = {}
        for check in checks:
            for name in check.inputs:
                if name not in env:
                    missing.setdefault(name, []).append(check.id)
        if missing:
            first = next(c for c in checks if c.id == sorted(missing.values())[0][0])
            names = tuple(sorted(missing))
            ids = sorted({i for v in missing.values() for i in v})
            raise MissingMetricError(", ".join(ids), boundary, names, _hint(first, names),
                                     needed_by={n: sorted(v) for n, v in missing.items()})

    def evaluate_one(self, check: Check, env: dict[str, Any], history: BoundedHistory | None,
                     tensors: frozenset[str]) -> bool:
        """Host values are checked now; a check reading a tensor in ``tensors`` is deferred.

        Returns True when a host violation of an abort-level step check wants a sync at once.
        """
        if not check.inputs.issubset(env):
            return self._unsupplied(check, env, history)
        check.stats.evaluated += 1
        try:
            if check.names.isdisjoint(tensors):
                # An urgent host violation (abort, skip_step) at step_end is a sync point anyway: settle the
                # deferred steps first, so the earliest violation is the one acted on. warn/record wait for the
                # next sync point: a host check failing every step must not make every step a synchronisation.
                return self._on_host(check, env, history) and self._urgent(check)
            self._deferred(check, env, history)
            return False
        except HistoryUnavailable:
            check.stats.unevaluable += 1
            return False
        except EvaluationError as exc:
            raise self.missing(check, exc.missing) from None

    def _unsupplied(self, check: Check, env: Mapping[str, Any], history: BoundedHistory | None) -> bool:
        """An input is missing at this call: skipped and counted, unless `when` rules the check out here."""
        absent = tuple(sorted(n for n in check.inputs if n not in env))
        if check.compiled.when is not None and all(n in env or n in check.static_names for n in check.guard_names):
            try:
                applies = check.compiled.guard({**check.static_env, **env}, history)
            except HistoryUnavailable:
                applies = True  # cannot tell: treat as needing the input
            if is_host(applies) and not applies:
                check.stats.evaluated += 1  # decided: it does not apply here, so nothing was missing
                return False
        # Strict mode asked for every input at the boundary's first call; a metric that comes and goes
        # (a provider's sampled steps, update_ratio) is counted as not supplied at the calls it skips.
        check.stats.not_supplied += 1
        check.missing_seen.update(absent)
        return False

    def _on_host(self, check: Check, env: dict[str, Any], history: BoundedHistory | None) -> bool:
        """Checked now, on host values; True when it was violated (the violation joins ``found``)."""
        verdict = check.compiled.verdict({**check.static_env, **env}, history, branch_on_guard=True)
        if verdict is None:
            return False
        check.stats.applicable += 1
        if truth(verdict[1]):
            return False
        values = check.compiled.evaluate(env, self.params, history).values  # for the message, only now
        self.found.append(self.render(check, env, values, int(env.get("step", 0)), int(env.get("epoch", 0)), history))
        return True

    def _deferred(self, check: Check, env: dict[str, Any], history: BoundedHistory | None) -> None:
        """Tensors at step_end: decide on the host only what the host already knows, queue the rest."""
        compiled = check.compiled
        if compiled.when is not None and all(is_host(env[n]) for n in check.guard_names if n in env):
            applies = compiled.guard({**check.static_env, **env}, history)
            if is_host(applies) and not applies:
                return
        step, epoch = int(env["step"]), int(env["epoch"])
        if not check.uses_history or history is None:
            self.pending.append(Pending(check, step, epoch, env))
            return
        # History is only valid now: evaluate on the device at this step, settle the verdict later.
        recorder = RecordingHistory(history)
        verdict = compiled.verdict({**check.static_env, **env}, recorder, branch_on_guard=False)
        if verdict is not None:
            self.pending.append(Pending(check, step, epoch, env, verdict, recorder.reads))

    # ------------------------------------------------------------------ the sync point

    def settle(self, rider: Any = None) -> list[Violation]:
        """Every deferred check evaluated (the one host read of a sync point), with the host findings.

        ``rider``: what else travels in that read (the curves' window; see ``evaluate_pending``).
        """
        found, self.found = self.found, []
        if self.pending:
            found = self.flush_pending(rider) + found
        return found

    def flush_pending(self, rider: Any = None) -> list[Violation]:
        from pvcontracts.runtime.deferred import evaluate_pending

        pending, self.pending = self.pending, []
        out: list[Violation] = []
        for check, bad_entries, count in evaluate_pending(pending, self.params, rider):
            check.stats.applicable += count
            for entry in bad_entries:  # every violating step is recorded, not only the first
                host_env = {k: to_host(v) for k, v in entry.env.items()}
                history = ReplayHistory(entry.reads) if entry.reads is not None else None
                try:
                    values = check.compiled.evaluate(host_env, self.params, history).values
                except EvaluationError:  # the verdict is taken; the message shows what it can
                    values = {n: host_env[n] for n in check.compiled.check.names if n in host_env}
                out.append(self.render(check, host_env, values, entry.step, entry.epoch, history))
        return out

    def missing(self, check: Check, names: tuple[str, ...]) -> MissingMetricError:
        names = names or ("?",)
        return MissingMetricError(check.id, check.boundary, names, _hint(check, names))

    def all_checks(self) -> list[Check]:
        return [c for b in BOUNDARIES for c in self.checks[b]]


def _hint(check: Check, names: tuple[str, ...]) -> str:
    if set(names) & WATCHED and check.boundary == "step_end":
        return "pass it, or call monitor.watch(model, optimizer, scheduler) to collect it"
    if all(n in metrics_at(check.boundary) for n in names):
        return (f"pass it to {check.boundary}(), leave {check.contract.id} out with select=, "
                "or use mode='supplied' to enforce only what the loop supplies")
    return f"pass it (declared by {check.contract.id}), or leave that contract out with select="
