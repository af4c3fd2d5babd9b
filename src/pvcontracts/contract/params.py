"""Param values: checked as `pv validate` checks declarations, and layered in one fixed order.

Two questions have their one answer here, so a new param rule or a new source
of values is added once:

- *Is this value acceptable for this param?* :func:`param_problems` checks
  runtime values against the declarations (type, min/max, enum values, unknown
  names with a "did you mean"), returning every problem at once; the runtime
  raises them together as one :class:`~pvcontracts.errors.ParamError`. Each
  value is judged by :func:`pvcontracts.contract.paramcheck.value_problem`, the
  rule ``pv validate`` applies to a declaration's default.
- *Which value wins?* :func:`layered`: declared defaults < the regime's fields <
  the caller's params < the metrics of one boundary call.

Also the one test of "is this a host value" (a Python number or bool, as
opposed to a tensor), which decides everywhere whether reading a value costs a
device synchronisation. Imports nothing heavy.
"""

from __future__ import annotations

import difflib
from typing import Any, Iterable, Mapping

from pvcontracts.contract.model import Contract, Param
from pvcontracts.contract.paramcheck import value_problem

__all__ = ["HOST_TYPES", "is_host", "layered", "param_problems", "declared_params"]

HOST_TYPES = (bool, int, float)


def is_host(value: Any) -> bool:
    """A Python bool, int or float: reading it never touches a device."""
    return isinstance(value, HOST_TYPES)


def layered(defaults: Mapping[str, Any] | Iterable[tuple[str, Any]], regime: Mapping[str, Any],
            params: Mapping[str, Any] | None = None, metrics: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One environment, later layers winning: defaults < regime < params < metrics."""
    env = dict(defaults)
    env.update(regime)
    if params:
        env.update(params)
    if metrics:
        env.update(metrics)
    return env


def declared_params(contracts: Iterable[Contract]) -> dict[str, list[tuple[Contract, Param]]]:
    """Every declared param name with the contracts that declare it (a name may be shared)."""
    out: dict[str, list[tuple[Contract, Param]]] = {}
    for contract in contracts:
        for name, p in contract.params.items():
            out.setdefault(name, []).append((contract, p))
    return out


def param_problems(contracts: Iterable[Contract], params: Mapping[str, Any],
                   allowed_extra: Iterable[str] = ()) -> list[str]:
    """Every problem with runtime ``params`` against the contracts' declarations, in a stable order.

    A name no contract declares is a problem (with a "did you mean"), unless it is in
    ``allowed_extra`` (the regime's fields). A name several contracts declare must satisfy
    each declaration.
    """
    declared = declared_params(contracts)
    extra = set(allowed_extra)
    problems: list[str] = []
    for name in sorted(params):
        value = params[name]
        if name not in declared:
            if name in extra:
                continue
            close = difflib.get_close_matches(name, sorted(declared), n=1, cutoff=0.6)
            problems.append(f"{name}: no loaded contract declares a param of that name"
                            + (f" (did you mean {close[0]!r}?)" if close else ""))
            continue
        seen = set()
        for contract, p in declared[name]:
            problem = value_problem(p, value)
            if problem is not None and problem not in seen:
                seen.add(problem)
                problems.append(f"{problem} (declared by {contract.id})")
    return problems
