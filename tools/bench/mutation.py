"""What mutation checking adds to `pv check`: the same check with and without mutants, in one run.

    python tools/bench/mutation.py                       # the shipped contracts, 2 interleaved pairs
    python tools/bench/mutation.py --pairs 3 --root DIR  # another repository's contracts/

Runs ``pv check`` (the library call, which runs the bound tests in one pytest
subprocess) on the contracts twice per pair, interleaved so drift of a shared
machine falls on both alike: once with ``--no-mutate`` (the baseline: what the
check cost before) and once as shipped (mutants on). Prints each wall time,
the ratio of the medians (mutating / plain), how much of the mutating run was
the mutation phase itself, and per gate the mutants its tests killed, with the
invariants none of whose mutants died. Exits 1 when the two runs disagree on
any gate's tests or a ship-blocking gate is not discharged with mutation on.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def one_check(root: Path, out: Path, *, mutate: bool, per_invariant: int | None) -> tuple[float, dict[str, Any]]:
    from pvcontracts.evidence.check import CheckOptions, run_check

    options = CheckOptions(paths=[root / "contracts"], root=root, output=out, mutate=mutate)
    if per_invariant:
        options.mutants_per_invariant = per_invariant
    started = time.perf_counter()
    outcome = run_check(options)
    elapsed = time.perf_counter() - started
    if outcome.evidence is None:
        raise SystemExit(f"pv check wrote no evidence: {outcome.message}")
    return elapsed, outcome.evidence


def gate_rows(doc: dict[str, Any]) -> list[tuple[str, bool, str, dict[str, Any] | None]]:
    return [(g["id"], g["blocking"], g["status"], g["mutation"]) for c in doc["contracts"] for g in c["gates"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO, help="repository whose contracts/ to check")
    parser.add_argument("--pairs", type=int, default=2, help="interleaved (plain, mutating) pairs")
    parser.add_argument("--mutants", type=int, default=None, help="mutants per invariant (default: pv's)")
    args = parser.parse_args(argv)
    plain_times: list[float] = []
    mutating_times: list[float] = []
    phase: list[float] = []
    plain_doc = mutating_doc = None
    with tempfile.TemporaryDirectory(prefix="pv-mutation-bench-") as tmp:
        for i in range(args.pairs):
            seconds, plain_doc = one_check(args.root, Path(tmp) / f"plain-{i}.json", mutate=False,
                                           per_invariant=None)
            plain_times.append(seconds)
            seconds, mutating_doc = one_check(args.root, Path(tmp) / f"mutating-{i}.json", mutate=True,
                                              per_invariant=args.mutants)
            mutating_times.append(seconds)
            phase.append(mutating_doc["run"]["mutation"].get("duration_s") or 0.0)
            print(f"pair {i + 1}: plain {plain_times[-1]:.1f} s, mutating {mutating_times[-1]:.1f} s", flush=True)
    assert plain_doc is not None and mutating_doc is not None
    plain, mutating = statistics.median(plain_times), statistics.median(mutating_times)
    s = mutating_doc["summary"]
    print(f"pv check on {args.root / 'contracts'}: {s['gates']} gates, {s['bound_tests']} bound tests, "
          f"{s['mutants']} mutants ({mutating_doc['run']['mutation']['per_invariant']} per invariant at most)")
    print(f"median plain {plain:.1f} s, median mutating {mutating:.1f} s; ratio mutating / plain: "
          f"{mutating / plain:.2f}")
    print(f"the mutation phase (inside the pytest session) took a median {statistics.median(phase):.1f} s")
    print(f"mutants killed: {s['mutants_killed']} of {s['mutants']} "
          f"({100 * s['mutants_killed'] / max(s['mutants'], 1):.0f}%)")
    problems = 0
    width = max(len(r[0]) for r in gate_rows(mutating_doc))
    for (gid, blocking, status, m), (_, _, plain_status, _) in zip(gate_rows(mutating_doc), gate_rows(plain_doc)):
        weak = [i for i, e in (m or {}).get("invariants", {}).items() if e["mutants"] and not e["killed"]]
        score = f"{m['killed']:>3}/{m['mutants']:<3}" if m else "   -   "
        print(f"  {gid:<{width}}  {'blocking' if blocking else '        '}  {status:<10} {score}"
              + (f"  none killed: {', '.join(weak)}" if weak else ""))
        if blocking and status != "discharged":
            problems += 1
        if plain_status != "discharged" and status == "discharged":
            problems += 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
