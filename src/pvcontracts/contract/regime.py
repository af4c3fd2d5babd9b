"""The training regime: a tagged value that picks which branch of a regime-keyed ``let`` applies.

``{kind: finetune}`` or ``{kind: from_scratch, vocab_size: 50257}``, the same
in YAML, JSON and on the command line (``--regime from-scratch --vocab-size 50257``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from pvcontracts.contract.vocabulary import REGIMES
from pvcontracts.errors import PvError


class RegimeError(PvError, ValueError):
    """A regime value is malformed: unknown kind, missing or invalid field. Fix the value given."""


@dataclass(frozen=True)
class Regime:
    kind: str = "finetune"
    vocab_size: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in REGIMES:
            import difflib

            close = difflib.get_close_matches(self.kind.replace("-", "_"), list(REGIMES), n=1)
            raise RegimeError(f"regime kind={self.kind!r} is unknown; expected one of {', '.join(REGIMES)}"
                              + (f" (did you mean {close[0]!r}?)" if close else ""))
        if self.kind == "from_scratch":
            v = self.vocab_size
            if v is None:
                raise RegimeError("regime from_scratch needs vocab_size")
            if isinstance(v, bool) or not isinstance(v, int):
                raise RegimeError(f"vocab_size={v!r} must be an integer")
            if v < 2:
                raise RegimeError(f"vocab_size={v!r} must be at least 2")
        elif self.vocab_size is not None:
            raise RegimeError(f"regime {self.kind} takes no vocab_size (got {self.vocab_size!r})")

    @classmethod
    def finetune(cls) -> "Regime":
        return cls("finetune")

    @classmethod
    def from_scratch(cls, vocab_size: int) -> "Regime":
        return cls("from_scratch", vocab_size)

    def params(self) -> dict[str, Any]:
        """The params this regime supplies (its fields other than the kind)."""
        return {name: getattr(self, name) for name in REGIMES[self.kind]}

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.params()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Regime":
        if not isinstance(data, Mapping):
            raise RegimeError(f"a regime is a mapping like {{kind: finetune}}, not {type(data).__name__}")
        unknown = set(data) - {"kind", "vocab_size"}
        if unknown:
            raise RegimeError(f"unknown regime field(s): {', '.join(sorted(unknown))}")
        kind = data.get("kind")
        if not isinstance(kind, str):
            raise RegimeError("a regime needs kind: finetune or from_scratch")
        return cls(kind.replace("-", "_"), data.get("vocab_size"))

    @classmethod
    def from_cli(cls, regime: str | None, vocab_size: int | None) -> "Regime":
        """From ``--regime from-scratch --vocab-size N`` (dashes or underscores)."""
        return cls((regime or "finetune").replace("-", "_"), vocab_size)

    def cli_args(self) -> list[str]:
        args = ["--regime", self.kind.replace("_", "-")]
        if self.vocab_size is not None:
            args += ["--vocab-size", str(self.vocab_size)]
        return args

    def __str__(self) -> str:
        return self.kind if self.vocab_size is None else f"{self.kind} (vocab_size={self.vocab_size})"
