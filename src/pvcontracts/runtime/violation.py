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
from typing import Any

from pvcontracts.errors import PvError
from pvcontracts.util.text import int_text

_repr = reprlib.Repr()
_repr.maxstring = 80
_repr.maxother = 80
_repr.maxlist = 8


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "dtype") and hasattr(value, "shape")


def format_value(value: Any) -> str:
    """A short, stable rendering: 4 significant digits for floats, summaries for tensors."""
    if _is_tensor(value):
        if value.numel() == 1:
            return format_value(value.detach().reshape(()).item())
        t = value.detach()
        floating = t.dtype.is_floating_point
        finite = t[~t.isnan()] if floating else t
        lo = format_value(finite.min().item()) if finite.numel() else "nan"
        hi = format_value(finite.max().item()) if finite.numel() else "nan"
        nans = int(t.isnan().sum().item()) if floating else 0
        return f"tensor(shape={tuple(t.shape)}, dtype={str(t.dtype).replace('torch.', '')}, min={lo}, max={hi}, nan={nans})"
    if isinstance(value, bool) or value is None:
        return str(value).lower() if isinstance(value, bool) else "none"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        short = float(f"{value:.4g}")
        return repr(short)
    if isinstance(value, int):
        return int_text(value)  # str() refuses past 4,300 digits: the message must never be what raises
    return _repr.repr(value)


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
        for name in self.ordered_names():
            text = f"{name} = {format_value(self.values[name])}"
            if name in self.let_texts:
                literal = _is_number_literal(self.let_texts[name])
                detail = [] if literal else [self.let_texts[name]]
                detail += [f"{n} = {format_value(v)}" for n, v in sorted(self.let_inputs.get(name, {}).items())]
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


class ContractWarning(UserWarning):
    """An invariant declared ``on_violation: warn`` failed; the run goes on, the ledger records it."""


class MissingMetricError(PvError):
    """An invariant needs a metric (or param) the caller did not pass. Pass it, or select fewer contracts."""

    def __init__(self, invariant_id: str, boundary: str, names: tuple[str, ...], hint: str) -> None:
        listed = ", ".join(repr(n) for n in names)
        super().__init__(f"{invariant_id} at {boundary} needs {listed}, which {boundary}() was not given; {hint}")
        self.invariant_id = invariant_id
        self.boundary = boundary
        self.names = names


class MissingParamError(MissingMetricError):
    """The loaded contracts declare params that were given no value and have no default. Pass params=."""

    def __init__(self, needed: dict[str, list[str]]) -> None:
        lines = "; ".join(f"'{n}' (needed by {', '.join(sorted(set(ids)))})" for n, ids in sorted(needed.items()))
        PvError.__init__(self, f"the contracts need params that were not given: {lines}; "
                               "pass params={...} to the Monitor, or select= fewer contracts")
        self.invariant_id = ""
        self.boundary = "construction"
        self.names = tuple(sorted(needed))
