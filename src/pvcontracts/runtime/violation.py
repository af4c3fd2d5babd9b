"""What a violated invariant says: which one, where, the expression, and every value in it.

Modelled on icontract's messages: the condition's source text, then one
``name = value`` per name, through a size-capped repr with sorted keys, so
the same violation always prints the same. Tensors are summarised (shape,
dtype, min, max, NaN count), never dumped; rendering happens only at a sync
point, so reading a tensor here never stalls a training step.
"""

from __future__ import annotations

import math
import reprlib
from dataclasses import dataclass, field
from typing import Any, Mapping

from pvcontracts.errors import PvError
from pvcontracts.util.text import int_text

_repr = reprlib.Repr()
_repr.maxstring = 80
_repr.maxother = 80
_repr.maxlist = 8


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "dtype") and hasattr(value, "shape")


def format_value(value: Any, digits: int = 4) -> str:
    """A short, stable rendering: ``digits`` significant digits for floats, summaries for tensors."""
    if _is_tensor(value):
        if value.numel() == 1:
            return format_value(value.detach().reshape(()).item(), digits)
        t = value.detach()
        floating = t.dtype.is_floating_point
        finite = t[~t.isnan()] if floating else t
        lo = format_value(finite.min().item(), digits) if finite.numel() else "nan"
        hi = format_value(finite.max().item(), digits) if finite.numel() else "nan"
        nans = int(t.isnan().sum().item()) if floating else 0
        return f"tensor(shape={tuple(t.shape)}, dtype={str(t.dtype).replace('torch.', '')}, min={lo}, max={hi}, nan={nans})"
    if isinstance(value, bool) or value is None:
        return str(value).lower() if isinstance(value, bool) else "none"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if digits >= 17:
            return repr(value)
        short = float(f"{value:.{digits}g}")
        return repr(short)
    if isinstance(value, int):
        return int_text(value)  # str() refuses past 4,300 digits: the message must never be what raises
    return _repr.repr(value)


def distinguishing_digits(values: Any, start: int = 4) -> int:
    """The fewest significant digits (at least ``start``) at which distinct floats also print distinctly.

    So a message never reads ``lr = 0.003, expected_lr = 0.003``: it prints as many digits as
    it takes to show the difference (up to the 17 that round-trip any double).
    """
    floats = sorted({float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
                     and not (isinstance(v, int) and v.bit_length() > 1023)  # past float range: int_text prints it
                     and math.isfinite(v)})
    for digits in range(start, 17):
        shown = {float(f"{v:.{digits}g}") for v in floats}
        if len(shown) == len(floats):
            return digits
    return 17


def plain_value(value: Any) -> Any:
    """A JSON-friendly copy of a value for the ledger (tensors become summaries or numbers)."""
    if _is_tensor(value):
        if value.numel() == 1:
            return plain_value(value.detach().reshape(()).item())
        return format_value(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 3000:
        return int_text(value)  # json.dumps of it would raise, and the ledger line be lost
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return _repr.repr(value)


@dataclass
class Violation:
    """One failed evaluation of an invariant, with everything needed to explain it."""

    invariant_id: str
    title: str
    contract_id: str
    contract_version: str
    boundary: str
    step: int | None
    epoch: int | None
    expression: str
    values: dict[str, Any]
    let_texts: dict[str, str] = field(default_factory=dict)
    let_inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    regime: str | None = None
    regime_keyed: frozenset[str] = frozenset()
    on_violation: str = "abort"
    rank: int | None = None
    observed_on_rank: int | None = None  # the rank whose values these are, when reduced across ranks
    name_order: tuple[str, ...] = ()

    def message(self) -> str:
        where = [self.boundary]
        if self.boundary == "step_end" and self.step is not None:
            where.append(f"step {self.step}")
        if self.epoch is not None:
            where.append(f"epoch {self.epoch}")
        head = f"{self.invariant_id} ({self.contract_id} {self.contract_version}) at {', '.join(where)}"
        if self.observed_on_rank is not None and self.observed_on_rank != self.rank:
            head += f" on rank {self.observed_on_rank}"
        parts = []
        shown = list(self.values.values()) + [v for inputs in self.let_inputs.values() for v in inputs.values()]
        digits = distinguishing_digits([_scalar(v) for v in shown])
        for name in self.ordered_names():
            text = f"{name} = {format_value(self.values[name], digits)}"
            if name in self.let_texts:
                literal = _is_number_literal(self.let_texts[name])
                detail = [] if literal else [self.let_texts[name]]
                detail += [f"{n} = {format_value(v, digits)}" for n, v in sorted(self.let_inputs.get(name, {}).items())]
                if name in self.regime_keyed and self.regime:
                    detail.append(f"regime {self.regime}")
                if detail:
                    text += f" ({', '.join(detail)})"
            parts.append(text)
        values = ", ".join(parts) if parts else "values only on the violating rank"
        return f"{head}: {self.expression} failed: {values}"

    def ordered_names(self) -> list[str]:
        """Names in the order the expression reads them, then the rest sorted: stable and readable."""
        first = [n for n in self.name_order if n in self.values]
        return first + sorted(n for n in self.values if n not in first)

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": "violation",
            "invariant": self.invariant_id,
            "contract": self.contract_id,
            "contract_version": self.contract_version,
            "boundary": self.boundary,
            "step": self.step,
            "epoch": self.epoch,
            "expression": self.expression,
            "values": {k: plain_value(v) for k, v in sorted(self.values.items())},
            "on_violation": self.on_violation,
            "rank": self.rank,
            "observed_on_rank": self.observed_on_rank,
            "message": self.message(),
        }


def _scalar(value: Any) -> Any:
    if _is_tensor(value) and value.numel() == 1:
        return value.detach().reshape(()).item()
    return value


def render(check: Any, env: Mapping[str, Any], values: dict[str, Any], step: int | None, epoch: int | None,
           history: Any = None, *, params: Mapping[str, Any], regime: Any, rank: int) -> Violation:
    """A failed evaluation as a :class:`Violation`: the one renderer every path of the checker calls.

    ``check`` is the runtime's compiled check; ``env`` the boundary's metrics; ``values`` the
    names the evaluation saw. Lets are shown with their text and inputs; history calls of the
    check (``prev(x)``) with the values they read.
    """
    from pvcontracts.runtime.checks import resolve

    compiled = check.compiled
    inv = compiled.invariant
    let_texts: dict[str, str] = {}
    let_inputs: dict[str, dict[str, Any]] = {}
    keyed = set()
    lets = dict(compiled.lets)
    read = set(compiled.check.names)
    # The message shows what the check reads: its names, and each let it reads with that let's inputs.
    values = {k: v for k, v in values.items() if k in read}
    for name, expr in compiled.lets:
        if name not in read:
            continue
        let_texts[name] = one_line(expr.text)
        let_inputs[name] = {n: resolve(n, env, params, compiled) for n in expr.names if n not in lets}
        if inv.lets[name].by_regime is not None:
            keyed.add(name)
    if history is not None and check.history_labels:
        from pvcontracts.contract.params import layered

        full = layered(compiled.defaults, compiled.regime.params(), params, env)
        for label, expr in check.history_labels:
            try:  # best effort in a message; the verdict is already taken
                values[label] = _scalar(expr.evaluate(full, history))
            except Exception:
                pass
    order = tuple(sorted(compiled.check.names, key=lambda n: compiled.check.names[n]))
    return Violation(
        name_order=order,
        invariant_id=inv.id, title=inv.title, contract_id=compiled.contract_id,
        contract_version=compiled.contract_version, boundary=check.boundary,
        step=step, epoch=epoch, expression=one_line(compiled.check.text),
        values=values, let_texts=let_texts, let_inputs=let_inputs,
        regime=regime.kind, regime_keyed=frozenset(keyed), on_violation=inv.on_violation,
        rank=rank, observed_on_rank=rank,
    )


def one_line(text: str) -> str:
    """Expression text as one line: a folded YAML block keeps its line breaks, a message should not."""
    return " ".join(text.split())


def _is_number_literal(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class ContractViolation(PvError):
    """An invariant declared ``on_violation: abort`` failed. Training must stop: the run broke its contract.

    The attributes carry the details for programs; ``str()`` is the readable message.
    """

    def __init__(self, violation: Violation) -> None:
        super().__init__(violation.message())
        self.violation = violation
        self.invariant_id = violation.invariant_id
        self.contract_id = violation.contract_id
        self.contract_version = violation.contract_version
        self.boundary = violation.boundary
        self.step = violation.step
        self.epoch = violation.epoch
        self.expression = violation.expression
        self.values = violation.values


class SkipLimitExceeded(ContractViolation):
    """More consecutive steps were skipped (``on_violation: skip_step``) than ``max_consecutive_skips`` allows.

    A run that withholds update after update is not training; skipping would only hide it. The
    violation is the one of the step that went past the bound; fix what makes the steps fail.
    """

    def __init__(self, violation: Violation, streak: int, first_step: int, limit: int) -> None:
        super().__init__(violation)
        self.streak = streak
        self.first_step = first_step
        self.limit = limit
        self.args = (f"{streak} consecutive steps skipped (steps {first_step} to {violation.step}), more than "
                     f"max_consecutive_skips={limit}; the last: {violation.message()}",)


class ContractWarning(UserWarning):
    """An invariant declared ``on_violation: warn`` failed; the run goes on, the ledger records it."""


class MissingMetricError(PvError):
    """An invariant needs a metric (or param) the caller did not pass. Pass it, or select fewer contracts."""

    def __init__(self, invariant_id: str, boundary: str, names: tuple[str, ...], hint: str,
                 needed_by: dict[str, list[str]] | None = None) -> None:
        if needed_by:
            listed = "; ".join(f"'{n}' (needed by {', '.join(ids)})" for n, ids in sorted(needed_by.items()))
            super().__init__(f"the first {boundary}() call lacks metrics the selected invariants read (strict mode "
                             f"asks for them at once, whatever their `when` says): {listed}; {hint}")
        else:
            listed = ", ".join(repr(n) for n in names)
            super().__init__(f"{invariant_id} at {boundary} needs {listed}, which {boundary}() was not given; {hint}")
        self.invariant_id = invariant_id
        self.boundary = boundary
        self.names = names
        self.needed_by = dict(needed_by or {})


class MissingParamError(MissingMetricError):
    """The loaded contracts declare params that were given no value and have no default. Pass params=."""

    def __init__(self, needed: dict[str, list[str]]) -> None:
        lines = "; ".join(f"'{n}' (needed by {', '.join(sorted(set(ids)))})" for n, ids in sorted(needed.items()))
        PvError.__init__(self, f"the contracts need params that were not given: {lines}; "
                               "pass params={...} to the Monitor, or select= fewer contracts")
        self.invariant_id = ""
        self.boundary = "construction"
        self.names = tuple(sorted(needed))
        self.needed_by = {n: sorted(set(ids)) for n, ids in needed.items()}
