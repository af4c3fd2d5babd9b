"""Smoke test of tools/bench/mutation.py on a fixture project: it runs both checks and prints the ratio.

Not a timing test: the run on the shipped contracts is the benchmark, run by hand (see README).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "tools" / "bench" / "mutation.py"


def test_mutation_benchmark_smoke(evproject) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS_"))}
    done = subprocess.run([sys.executable, str(BENCH), "--root", str(evproject.root), "--pairs", "1"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=evproject.root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"ratio mutating / plain: \d+\.\d\d", done.stdout)
    assert "mutants killed: 1 of 1 (100%)" in done.stdout
    assert re.search(r"GATE-DEMO-001\s+blocking\s+discharged\s+1/1", done.stdout)
