"""The contract model: plain, typed records built from a schema-valid document.

Every record remembers its index in the document so that rules can name a
YAML path and let the contract resolve it to a line and column, lazily, only
when a diagnostic is actually produced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from pvcontracts.contract.yamlload import LoadedYaml
from pvcontracts.diagnostic import Diagnostic, make

YamlPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    min: float | None = None
    max: float | None = None
    default: Any = None
    values: tuple[str, ...] = ()
    description: str | None = None


@dataclass(frozen=True)
class MetricDecl:
    name: str
    at: tuple[str, ...]
    type: str = "number"
    unit: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Let:
    """A named value: one expression for every regime, or one per regime kind."""

    name: str
    value: str | None = None
    by_regime: dict[str, str] | None = None

    def expression_for(self, regime_kind: str) -> str | None:
        if self.by_regime is None:
            return self.value
        return self.by_regime.get(regime_kind)

    def texts(self) -> list[tuple[str | None, str]]:
        """(regime or None, text) for every expression this let holds."""
        if self.by_regime is None:
            return [(None, self.value or "")]
        return list(self.by_regime.items())


@dataclass(frozen=True)
class Invariant:
    id: str
    title: str
    at: str
    check: str
    when: str | None
    lets: dict[str, Let]
    on_violation: str
    index: int
    description: str | None = None
    scope: str | None = None  # which runs it applies to: an expression over params, decided once per run

    @property
    def path(self) -> YamlPath:
        return ("invariants", self.index)


@dataclass(frozen=True)
class Gate:
    id: str
    invariants: tuple[str, ...]
    ship_blocking: bool
    evidence: tuple[str, ...]
    index: int
    title: str | None = None
    description: str | None = None

    @property
    def path(self) -> YamlPath:
        return ("gates", self.index)


@dataclass(frozen=True)
class Falsifier:
    id: str
    invariant: str
    prediction: str
    if_fails: str
    test: str
    index: int

    @property
    def path(self) -> YamlPath:
        return ("falsifiers", self.index)


@dataclass(frozen=True)
class FailureMode:
    id: str
    title: str
    invariants: tuple[str, ...]
    index: int
    description: str | None = None

    @property
    def path(self) -> YamlPath:
        return ("failure_modes", self.index)


@dataclass(frozen=True)
class ChangelogEntry:
    version: str
    date: str
    summary: str


@dataclass
class Contract:
    """One contract file. ``source`` is loaded on demand when only cached data was available."""

    file: str
    id: str
    version: str
    status: str
    title: str
    depends_on: tuple[str, ...]
    changelog: tuple[ChangelogEntry, ...]
    params: dict[str, Param]
    metrics: dict[str, MetricDecl]
    invariants: tuple[Invariant, ...]
    gates: tuple[Gate, ...]
    falsifiers: tuple[Falsifier, ...]
    failure_modes: tuple[FailureMode, ...]
    data: dict[str, Any]
    description: str | None = None
    # A contract with schema errors is still built from the parts that loaded, so that `pv validate`
    # reports every problem of a file in one pass; such a partial model is never enforced or bound.
    broken: frozenset[str] = frozenset()   # top-level fields that did not load completely
    broken_ids: tuple[str, ...] = ()       # ids of invariants that did not load: known, so not "unknown"
    broken_refs: tuple[str, ...] = ()      # invariants named by gates that did not load: covered, not "uncovered"
    _source: LoadedYaml | None = field(default=None, repr=False)
    _reload: Callable[[], LoadedYaml | None] | None = field(default=None, repr=False)

    @property
    def source(self) -> LoadedYaml | None:
        if self._source is None and self._reload is not None:
            self._source = self._reload()
            self._reload = None
        return self._source

    def locate(self, path: YamlPath, *, key: bool = False) -> tuple[int, int]:
        src = self.source
        return src.position(path, key=key) if src is not None else (1, 1)

    def diag(self, code: str, path: YamlPath, message: str, hint: str | None = None, *, key: bool = False,
             offset: int | None = None) -> Diagnostic:
        """A diagnostic at the node ``path`` names (or ``offset`` characters into its text)."""
        src = self.source
        if src is None:
            line, col = 1, 1
        elif offset is not None:
            line, col = src.expression_position(path, offset)
        else:
            line, col = src.position(path, key=key)
        return make(code, self.file, line, col, message, hint, path)

    def expression_text(self, path: YamlPath, value: Any) -> str:
        """Expression text as written: a YAML number keeps its spelling (``10.0`` stays ``10.0``)."""
        if isinstance(value, str):
            return value
        src = self.source
        raw = src.scalar_text(path) if src is not None else None
        return raw if raw is not None else repr(value)

    @property
    def all_invariant_ids(self) -> list[str]:
        return [inv.id for inv in self.invariants]


def _expr(value: Any, raw: Callable[[YamlPath], str | None], path: YamlPath) -> str:
    if isinstance(value, str):
        return value
    text = raw(path)
    return text if text is not None else repr(value)


def build_contract(file: str, data: dict[str, Any], source: LoadedYaml | None,
                   reload: Callable[[], LoadedYaml | None] | None = None, *,
                   broken: frozenset[str] = frozenset(), broken_ids: tuple[str, ...] = (),
                   broken_refs: tuple[str, ...] = ()) -> Contract:
    """Build the model from a document that passed the schema (shape is guaranteed, values are not).

    Or from the usable parts of one that did not (:mod:`pvcontracts.contract.partial`): records
    that did not load are None in their lists and skipped, keeping every other record's index,
    and a required field that did not load is named in ``broken`` and given an empty value.
    """

    def raw(path: YamlPath) -> str | None:
        return source.scalar_text(path) if source is not None else None

    invariants = []
    for i, item in enumerate(data.get("invariants", [])):
        if item is None:
            continue
        lets: dict[str, Let] = {}
        for name, value in (item.get("let") or {}).items():
            base = ("invariants", i, "let", name)
            if isinstance(value, dict):
                lets[name] = Let(name, by_regime={k: _expr(v, raw, base + (k,)) for k, v in value.items()})
            else:
                lets[name] = Let(name, value=_expr(value, raw, base))
        when = item.get("when")
        scope = item.get("scope")
        invariants.append(Invariant(
            id=item["id"], title=item["title"], at=item["at"],
            check=_expr(item["check"], raw, ("invariants", i, "check")),
            when=None if when is None else _expr(when, raw, ("invariants", i, "when")),
            lets=lets, on_violation=item.get("on_violation", "abort"), index=i,
            description=item.get("description"),
            scope=None if scope is None else _expr(scope, raw, ("invariants", i, "scope")),
        ))
    gates = tuple(
        Gate(id=g["id"], invariants=tuple(g["invariants"]), ship_blocking=g["ship_blocking"],
             evidence=tuple(g["evidence_discharged_by"]), index=i, title=g.get("title"), description=g.get("description"))
        for i, g in enumerate(data.get("gates", [])) if g is not None
    )
    falsifiers = tuple(
        Falsifier(id=f["id"], invariant=f["invariant"], prediction=f["prediction"], if_fails=f["if_fails"],
                  test=f["test"], index=i)
        for i, f in enumerate(data.get("falsifiers", [])) if f is not None
    )
    failure_modes = tuple(
        FailureMode(id=m["id"], title=m["title"], invariants=tuple(m["invariants"]), index=i,
                    description=m.get("description"))
        for i, m in enumerate(data.get("failure_modes", [])) if m is not None
    )
    params = {
        name: Param(name, p["type"], p.get("min"), p.get("max"), p.get("default"), tuple(p.get("values", ())),
                    p.get("description"))
        for name, p in (data.get("params") or {}).items()
    }
    metrics = {
        name: MetricDecl(name, tuple(m["at"]), m.get("type", "number"), m.get("unit"), m.get("description"))
        for name, m in (data.get("metrics") or {}).items()
    }
    contract = Contract(
        file=file, id=data.get("id", ""), version=data.get("version", "0.0.0"), status=data.get("status", "active"),
        title=data.get("title", ""), depends_on=tuple(data.get("depends_on", ())),
        changelog=tuple(ChangelogEntry(e["version"], e["date"], e["summary"]) for e in data.get("changelog", ())
                        if e is not None),
        params=params, metrics=metrics, invariants=tuple(invariants), gates=gates, falsifiers=falsifiers,
        failure_modes=failure_modes, data=data, description=data.get("description"),
        broken=frozenset(broken), broken_ids=tuple(broken_ids), broken_refs=tuple(broken_refs),
    )
    contract._source = source
    contract._reload = reload
    return contract
