"""The training runtime: the contracts' own invariant text evaluated inside a PyTorch loop.

Importing this package imports no torch; the monitor imports it only when a
tensor or a watched model arrives.
"""

from pvcontracts.contract.regime import Regime
from pvcontracts.runtime.ledger import Ledger, read_ledger
from pvcontracts.runtime.monitor import InvariantStats, Monitor
from pvcontracts.runtime.sources import MetricSource
from pvcontracts.runtime.violation import (
    ContractViolation,
    ContractWarning,
    MissingMetricError,
    MissingParamError,
    SkipLimitExceeded,
    Violation,
)

__all__ = ["ContractViolation", "ContractWarning", "InvariantStats", "Ledger", "MetricSource", "MissingMetricError",
           "MissingParamError", "Monitor", "Regime", "SkipLimitExceeded", "Violation", "read_ledger"]
