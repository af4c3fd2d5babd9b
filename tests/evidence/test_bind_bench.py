"""Smoke test of tools/bench/bind.py on a tiny tree: it runs, agrees with pytest, prints the ratio.

Not a timing test: the 10,000-test run is the benchmark, run by hand or in .ci/run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "tools" / "bench" / "bind.py"


def test_bind_benchmark_smoke() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS_"))}
    done = subprocess.run([sys.executable, str(BENCH), "--tests", "40"], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tree: 40 test references in 1 files (44 pytest items)" in done.stdout
    assert "(40 references, 0 problems)" in done.stdout and "(44 items)" in done.stdout
    assert re.search(r"ratio static / collect-only: \d+\.\d{3}", done.stdout)
