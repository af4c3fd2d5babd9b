"""pv-contracts: contract-first invariant verification for machine-learning training.

The public API is re-exported here; everything else is private and may change.
Names are resolved lazily (PEP 562) so that `pv --version` and `pv validate`
pay only for what they use, and importing this package never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from pvcontracts._version import __version__

_EXPORTS: dict[str, str] = {
    "CODES": "pvcontracts.diagnostic",
    "Diagnostic": "pvcontracts.diagnostic",
    "Severity": "pvcontracts.diagnostic",
    "PvError": "pvcontracts.errors",
    "ContractLoadError": "pvcontracts.errors",
    "EvaluationError": "pvcontracts.errors",
    "ExpressionError": "pvcontracts.errors",
    "HistoryUnavailable": "pvcontracts.errors",
    "Expression": "pvcontracts.contract.expr",
    "parse_expression": "pvcontracts.contract.expr",
    "Contract": "pvcontracts.contract.model",
    "Invariant": "pvcontracts.contract.model",
    "Gate": "pvcontracts.contract.model",
    "Falsifier": "pvcontracts.contract.model",
    "LoadedFile": "pvcontracts.contract.loading",
    "load_contract_file": "pvcontracts.contract.loading",
    "ValidateOptions": "pvcontracts.validate.engine",
    "ValidationReport": "pvcontracts.validate.engine",
    "validate_paths": "pvcontracts.validate.engine",
    # the runtime: importing these never imports torch either (the Monitor imports it when a tensor arrives)
    "Monitor": "pvcontracts.runtime.monitor",
    "Regime": "pvcontracts.contract.regime",
    "ContractViolation": "pvcontracts.runtime.violation",
    "ContractWarning": "pvcontracts.runtime.violation",
    "MissingMetricError": "pvcontracts.runtime.violation",
    "SkipLimitExceeded": "pvcontracts.runtime.violation",
    "MetricSource": "pvcontracts.runtime.sources",
    "IntegrationError": "pvcontracts.errors",
    "ParamError": "pvcontracts.errors",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pvcontracts' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
