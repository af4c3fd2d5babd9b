"""Detection benchmark: the zoo of silent training bugs and clean loops, under ONE monitor configuration.

    python tools/bench/detect.py            # every case; a table, then the summary line
    python tools/bench/detect.py --json F   # also the per-case outcomes as JSON

Each buggy case is a small CPU reproduction of a classic silent bug (tests/zoo/pvzoo.py), each with
a clean twin; the clean set also has loops driven by the ecosystem's real LR schedulers. Every case
runs with the same configuration (pvzoo.CONFIG: every shipped contract, supplied mode, the
detection library's defaults), declaring only facts about its own loop. A buggy case is caught
when the Monitor recorded any violation; a clean case with any violation is a false alarm.
Exit 1 unless every buggy case is caught and no clean case alarmed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "zoo"))

import pvzoo  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the per-case outcomes here")
    args = parser.parse_args(argv)
    cases = pvzoo.cases()
    print(f"pv-contracts detection benchmark: {len(cases)} cases, one configuration "
          f"(mode {pvzoo.CONFIG['mode']}, sync_every {pvzoo.CONFIG['sync_every']}, "
          f"params {pvzoo.CONFIG['params']}, every contract in contracts/)")
    print(f"{'kind':<6} {'case':<44} {'result':<12} {'first violation':<18} seconds")
    rows = []
    for case in cases:
        start = time.perf_counter()
        outcome = pvzoo.run_case(case)
        seconds = time.perf_counter() - start
        if case.kind == "buggy":
            result = "caught" if outcome.caught else "MISSED"
        else:
            result = "FALSE ALARM" if outcome.caught else "clean"
        print(f"{case.kind:<6} {case.name:<44} {result:<12} {(outcome.violations or ['-'])[0]:<18} {seconds:.2f}")
        rows.append({"case": case.name, "kind": case.kind, "bug_class": case.bug_class, "caught": outcome.caught,
                     "violations": outcome.violations, "message": outcome.message, "seconds": seconds})
    buggy = [r for r in rows if r["kind"] == "buggy"]
    clean = [r for r in rows if r["kind"] == "clean"]
    caught = sum(r["caught"] for r in buggy)
    alarms = sum(r["caught"] for r in clean)
    print()
    print(f"caught {caught}/{len(buggy)} buggy, false alarms {alarms}/{len(clean)} clean")
    if args.json is not None:
        args.json.write_text(json.dumps({"caught": caught, "buggy": len(buggy), "false_alarms": alarms,
                                         "clean": len(clean), "cases": rows}, indent=2, sort_keys=True) + "\n")
    return 0 if caught == len(buggy) and alarms == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
