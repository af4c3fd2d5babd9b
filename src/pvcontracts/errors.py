"""One exception hierarchy for everything pv-contracts raises.

Catch :class:`PvError` to handle any of them. Each subclass says, in its
docstring, what the user should do about it.
"""

from __future__ import annotations


class PvError(Exception):
    """Root of every error pv-contracts raises on purpose."""


class ExpressionError(PvError):
    """An expression is outside the safe language; fix the contract text.

    ``code`` is the stable diagnostic code (PV401-PV408) and ``offset`` the
    0-based character offset in the expression text, so the validator can turn
    it into a file:line:column diagnostic.
    """

    def __init__(self, code: str, message: str, offset: int = 0, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.offset = offset
        self.hint = hint


class EvaluationError(PvError):
    """An expression could not be evaluated: a name had no value. Pass the metric, or fix the contract."""

    def __init__(self, message: str, missing: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.missing = missing


class HistoryUnavailable(EvaluationError):
    """A history function (prev, first, window_*) asked for more values than have been observed.

    Guard the invariant with a ``when`` such as ``epoch > 0``.
    """


class ContractLoadError(PvError):
    """Contracts could not be loaded; ``diagnostics`` says where and why. Run `pv validate` for the full list."""

    def __init__(self, message: str, diagnostics: list | None = None) -> None:
        super().__init__(message)
        self.diagnostics = list(diagnostics or [])


class ParamError(PvError, ValueError):
    """Runtime params do not match the contracts' declarations. Every problem is listed; fix the values given."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} problem(s) with the params given to the Monitor:\n"
                         + "\n".join(f"  - {p}" for p in problems))
        self.problems = list(problems)


class IntegrationError(PvError):
    """A framework adapter cannot monitor this run as configured; the message says what to declare or change.

    ``code`` is the stable diagnostic code (PV720-PV739) naming the kind of problem.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message
