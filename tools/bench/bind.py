"""Benchmark static gate binding against `pytest --collect-only` on the same generated test tree.

    python tools/bench/bind.py                    # 10,000 tests in 100 files, in a temp dir
    python tools/bench/bind.py --tests 200 --keep /tmp/tree

Generates a repository with ``--tests`` test functions (a tenth of them
methods of test classes, a tenth parametrized), each carrying a
``discharges`` marker, and contracts whose gates list every one of them.
Then, in one run:

* static: what ``pv check`` does before running anything: load the contracts,
  resolve every gate's references with the AST resolver (no import) and scan
  the test files for ``discharges`` markers, in this process;
* baseline: ``python -m pytest --collect-only -q`` on the same tree, the
  cheapest way pytest itself has to say which tests exist (a subprocess, so
  it includes interpreter start-up, as a user's collection run would).

It prints both times and their ratio (static / collect-only; below 1 is
faster), and exits 1 if static binding found a problem with any reference or
pytest collected a different number of tests than were generated.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PER_FILE = 100
PER_GATE = 250


def build_tree(root: Path, tests: int) -> list[str]:
    """Write the test files and contracts; returns every reference the gates list."""
    (root / "tests").mkdir(parents=True)
    (root / "contracts").mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "bench"\n\n[tool.pytest.ini_options]\n'
                                         'python_files = ["test_*.py"]\n', encoding="utf-8")
    refs: list[str] = []
    made = 0
    file_no = 0
    while made < tests:
        n = min(PER_FILE, tests - made)
        path = f"tests/pkg{file_no // 20:03d}/test_bench_{file_no:04d}.py"
        lines = ["import pytest", "", ""]
        for i in range(n):
            gate = f"GATE-BENCH-{(made + i) // PER_GATE + 1:03d}"
            mark = f'@pytest.mark.discharges(gate="{gate}")'
            if i % 10 == 9:  # a method of a test class
                lines += [mark, f"class TestBench{i}:", f"    def test_m{i}(self):", f"        assert {i} >= 0", ""]
                refs.append(f"{path}::TestBench{i}::test_m{i}")
            elif i % 10 == 8:  # parametrized: the reference names all instances
                lines += [mark, f"@pytest.mark.parametrize('x', [1, 2])", f"def test_p{i}(x):", "    assert x", ""]
                refs.append(f"{path}::test_p{i}")
            else:
                lines += [mark, f"def test_f{i}():", f"    assert {i} + 1 > {i}", ""]
                refs.append(f"{path}::test_f{i}")
        full = root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text("\n".join(lines) + "\n", encoding="utf-8")
        made += n
        file_no += 1
    gates = [refs[i:i + PER_GATE] for i in range(0, len(refs), PER_GATE)]
    per_contract = 10
    for c in range(0, len(gates), per_contract):
        cid = f"bench-{c // per_contract + 1:03d}-v1"
        out = ["schema_version: 1", f"id: {cid}", "version: 1.0.0", "status: active", "title: Bench",
               "changelog:", "  - {version: 1.0.0, date: 2026-01-01, summary: Bench}", "invariants:"]
        chunk = gates[c:c + per_contract]
        for g in range(len(chunk)):
            out += [f"  - id: INV-BENCH-{c + g + 1:03d}", "    title: Finite", "    at: step_end",
                    '    check: "isfinite(loss)"']
        out.append("gates:")
        for g, gate_refs in enumerate(chunk):
            out += [f"  - id: GATE-BENCH-{c + g + 1:03d}", f"    invariants: [INV-BENCH-{c + g + 1:03d}]",
                    "    ship_blocking: true", "    evidence_discharged_by:"]
            out += [f"      - {r}" for r in gate_refs]
        (root / "contracts" / f"{cid}.yaml").write_text("\n".join(out) + "\n", encoding="utf-8")
    return refs


def static_binding(root: Path) -> tuple[float, int, int]:
    """Seconds to load, bind and scan; (seconds, references, problems)."""
    from pvcontracts.contract.loading import discover, load_contract_file
    from pvcontracts.evidence.binding import bind, scan_claims

    started = time.perf_counter()
    files, _ = discover([root / "contracts"])
    contracts = [c for c in (load_contract_file(f).contract for f in files) if c is not None]
    binding = bind(contracts, root)
    claims = scan_claims(root, sorted({tb.path for tb in binding.tests.values() if tb.path}))
    elapsed = time.perf_counter() - started
    problems = sum(1 for tb in binding.tests.values() if tb.problems)
    assert len(claims.gates) >= len(binding.tests)
    return elapsed, len(binding.tests), problems


def collect_only(root: Path) -> tuple[float, int]:
    """Seconds for `pytest --collect-only -q` in a subprocess; (seconds, tests collected)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS_"))}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           f"--rootdir={root}", "tests"], cwd=root, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    collected = sum(1 for line in done.stdout.splitlines() if "::" in line)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-2000:])
    return elapsed, collected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=10_000, help="test references to generate (default 10,000)")
    parser.add_argument("--keep", type=Path, default=None, help="build the tree here and keep it")
    args = parser.parse_args(argv)
    if args.tests < 1:
        parser.error("--tests must be positive")
    tmp = None
    if args.keep is not None:
        if args.keep.exists():
            shutil.rmtree(args.keep)
        root = args.keep
    else:
        tmp = tempfile.TemporaryDirectory(prefix="pv-bind-bench-")
        root = Path(tmp.name) / "repo"
    try:
        refs = build_tree(root, args.tests)
        expected_items = len(refs) + sum(1 for r in refs if "::test_p" in r)  # parametrized twice
        static_s, bound, problems = static_binding(root)
        collect_s, collected = collect_only(root)
        files = len({r.split("::")[0] for r in refs})
        print(f"tree: {len(refs):,} test references in {files} files ({expected_items:,} pytest items)")
        print(f"static binding (load + resolve + marker scan): {static_s:8.3f} s  ({bound:,} references, "
              f"{problems} problems)")
        print(f"pytest --collect-only -q:                      {collect_s:8.3f} s  ({collected:,} items)")
        print(f"ratio static / collect-only: {static_s / collect_s:.3f} ({collect_s / static_s:.1f}x faster)")
        ok = problems == 0 and collected == expected_items
        if not ok:
            print("FAILED: static binding found problems or pytest collected a different number of items")
        return 0 if ok else 1
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
