"""Which mutants ``pv check`` runs against which tests, and what a gate's record says about them.

:func:`build_plan` turns a binding into the plan the plugin runs
(``--pv-mutate``): every mutant of every invariant a gate covers, with the
test references of each gate that covers it (its bound tests and the tests of
its invariants' falsifiers). :func:`gate_mutation` turns the verdicts the
session sent back into a gate's ``mutation`` record; :func:`summarise_record`
recomputes that record's counts from its per-mutant results, which is what
``pv verify`` checks it against.

A gate's mutant is *killed* when one of the gate's tests failed against it
(having loaded the mutated contract, and passing without the mutation);
*survived* when a test that loaded it passed; *unreached* when no test of the
gate loaded the mutated contract in the session's process; *unstable* when
the only tests that failed also fail without a mutation; *not run* when the
session never got to it.
"""

from __future__ import annotations

from typing import Any

from pvcontracts.evidence.mutants import DEFAULT_PER_INVARIANT, Mutant, mutants_of
from pvcontracts.evidence.results import MUTATION_VERDICTS

PLAN_FORMAT = 1
# A gate's outcome for one mutant; the same words as a test's verdicts, in the order a gate reads them.
OUTCOMES = ("killed", "survived", "unstable", "unreached", "not_run")
assert set(OUTCOMES) == set(MUTATION_VERDICTS)  # one vocabulary: a new verdict needs a place here


def gate_refs(gb: Any) -> list[str]:
    """The references a gate rests on, in the order its evidence lists them: bound tests, then falsifiers."""
    refs = list(gb.bound)
    for _, f in gb.falsifiers:
        if f.test not in refs:
            refs.append(f.test)
    return refs


def build_plan(binding: Any, per_invariant: int = DEFAULT_PER_INVARIANT) -> dict[str, Any]:
    """Every mutant of every invariant some gate covers, with the tests of each such gate."""
    declared = {inv.id: (c, inv) for c in binding.contracts for inv in c.invariants}
    mutants: dict[str, list[Mutant]] = {}
    gates_of: dict[str, dict[str, list[str]]] = {}
    for gb in binding.gates:
        refs = [r for r in gate_refs(gb) if binding.tests[r].missing is None]
        for inv_id in gb.gate.invariants:
            if inv_id not in declared:
                continue
            if inv_id not in mutants:
                contract, inv = declared[inv_id]
                mutants[inv_id] = mutants_of(contract.id, inv, per_invariant)
            gates_of.setdefault(inv_id, {})[gb.gate.id] = refs
    jobs = [{"mutant": m.to_json(), "gates": gates_of[inv_id]}
            for inv_id in sorted(mutants) for m in mutants[inv_id]]
    return {"format": PLAN_FORMAT, "per_invariant": per_invariant, "mutants": jobs}


def _outcome(verdicts: dict[str, str], refs: list[str]) -> tuple[str, str | None]:
    mine = {r: verdicts.get(r, "not_run") for r in refs}
    killer = next((r for r in refs if mine[r] == "killed"), None)
    if killer is not None:
        return "killed", killer
    for outcome in ("survived", "unstable", "unreached"):
        if outcome in mine.values():
            return outcome, None
    return "not_run", None


def _mutated_text(m: Mutant) -> Any:
    return dict(sorted(m.mutated.items())) if isinstance(m.mutated, dict) else m.mutated


def gate_mutation(gb: Any, plan: dict[str, Any], verdicts: dict[str, dict[str, str]] | None) -> dict[str, Any]:
    """The ``mutation`` record of one gate whose tests all passed."""
    refs = gate_refs(gb)
    results = []
    for job in plan["mutants"]:
        if gb.gate.id not in job["gates"]:
            continue
        m = Mutant.from_json(job["mutant"])
        outcome, killer = _outcome((verdicts or {}).get(m.id, {}), refs)
        results.append({"id": m.id, "invariant": m.invariant, "operator": m.operator, "where": m.where,
                        "from": m.original, "to": _mutated_text(m), "outcome": outcome, "killed_by": killer})
    return summarise_record(results)


def summarise_record(results: list[dict[str, Any]]) -> dict[str, Any]:
    """A mutation record from its per-mutant results: the counts, the score, per invariant."""
    invariants: dict[str, dict[str, int]] = {}
    for r in results:
        entry = invariants.setdefault(r["invariant"], {"mutants": 0, "killed": 0})
        entry["mutants"] += 1
        entry["killed"] += r["outcome"] == "killed"
    killed = sum(1 for r in results if r["outcome"] == "killed")
    return {"mutants": len(results), "killed": killed,
            "score": round(killed / len(results), 4) if results else None,
            "outcomes": {o: sum(1 for r in results if r["outcome"] == o) for o in OUTCOMES},
            "invariants": dict(sorted(invariants.items())), "results": results}


def vacuous_reason(record: dict[str, Any]) -> str:
    o = record["outcomes"]
    n = record["mutants"]
    parts = [f"its tests pass against {'the one mutant' if n == 1 else f'all {n} mutants'} of its invariants"]
    if o.get("unreached"):
        parts.append(f"{o['unreached']} never reached: no test loaded the mutated contract in the session's process")
    if o.get("not_run"):
        parts.append(f"{o['not_run']} not run")
    if o.get("unstable"):
        parts.append(f"{o['unstable']} only failed tests that fail without a mutation too")
    return "; ".join(parts) + ": they do not test the contract text"

