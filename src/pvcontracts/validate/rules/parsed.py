"""An invariant's expressions, parsed once for the rules that analyse them (types, history guards).

Text that does not parse is left out silently: the ``expressions`` rule reports it.
Parsing is cached per text (:func:`~pvcontracts.contract.expr.parse_expression`),
so every rule asking costs a dictionary lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pvcontracts.contract.expr import Expression, parse_expression
from pvcontracts.contract.model import Invariant
from pvcontracts.contract.vocabulary import REGIMES
from pvcontracts.errors import ExpressionError

YamlPath = tuple[str | int, ...]


@dataclass(frozen=True)
class LetText:
    """One expression of a let: for every regime (``regime`` None), or for one regime kind."""

    path: YamlPath
    regime: str | None
    expr: Expression


@dataclass
class ParsedInvariant:
    invariant: Invariant
    check: Expression | None = None
    when: Expression | None = None
    lets: dict[str, list[LetText]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # lets in dependency order; lets in a cycle are left out

    def lets_for(self, regime: str) -> dict[str, Expression]:
        """The let expressions that apply under ``regime``."""
        out = {}
        for name, texts in self.lets.items():
            for t in texts:
                if t.regime in (None, regime):
                    out[name] = t.expr
        return out

    @property
    def regimes(self) -> tuple[str, ...]:
        """The regimes whose lets differ: every regime when a let is keyed by one, else just one."""
        keyed = any(t.regime is not None for texts in self.lets.values() for t in texts)
        return tuple(REGIMES) if keyed else (next(iter(REGIMES)),)


def _parse(text: str | None) -> Expression | None:
    if text is None:
        return None
    try:
        return parse_expression(text)
    except ExpressionError:
        return None


def parse_invariant(inv: Invariant) -> ParsedInvariant:
    parsed = ParsedInvariant(inv, _parse(inv.check), _parse(inv.when))
    for name, let in inv.lets.items():
        texts = []
        for regime, text in let.texts():
            expr = _parse(text)
            if expr is not None:
                texts.append(LetText(inv.path + ("let", name) + ((regime,) if regime else ()), regime, expr))
        parsed.lets[name] = texts
    parsed.order = _dependency_order(parsed.lets)
    return parsed


def _dependency_order(lets: dict[str, list[LetText]]) -> list[str]:
    """Lets ordered so that each comes after the lets it reads; a let in (or behind) a cycle is left out.

    Kahn's algorithm, without recursion: a contract may chain thousands of lets.
    """
    if len(lets) < 2:
        return list(lets)  # nothing to order
    deps = {name: {n for t in texts for n in t.expr.names if n in lets and n != name} for name, texts in lets.items()}
    readers: dict[str, list[str]] = {name: [] for name in lets}
    waiting = {name: len(d) for name, d in deps.items()}
    for name, d in deps.items():
        for dep in d:
            readers[dep].append(name)
    ready = sorted((name for name, n in waiting.items() if n == 0), reverse=True)
    order: list[str] = []
    while ready:
        name = ready.pop()
        order.append(name)
        for reader in readers[name]:
            waiting[reader] -= 1
            if waiting[reader] == 0:
                ready.append(reader)
    return order
