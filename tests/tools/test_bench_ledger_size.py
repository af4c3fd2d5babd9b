"""Smoke test of ``tools/bench/ledger_size.py``: it writes a real ledger, reports its size and the page's render time.

No timing is asserted (a loaded machine must not fail a build over timings); what is asserted is that the
benchmark measures what it says: a ledger with its curve records within the bound, read back and rendered.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("light", [False, True], ids=["shipped", "light"])
def test_the_benchmark_prints_the_size_the_bound_and_the_render_time(tmp_path: Path, light: bool) -> None:
    steps = 1500 if not light else 30_000
    args = [sys.executable, str(ROOT / "tools" / "bench" / "ledger_size.py"), "--steps", str(steps), "--repeats", "1",
            "--keep", str(tmp_path)] + (["--light", "--sync-every", "10"] if light else [])
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    size = re.search(r"^ledger: ([\d,]+) bytes", proc.stdout, re.M)
    curves = re.search(r"^curve records: (\d+) .* for ([\d,]+) windows; bound (\d+)", proc.stdout, re.M)
    assert size and curves, proc.stdout
    assert int(size.group(1).replace(",", "")) == (tmp_path / "ledger.jsonl").stat().st_size
    records, windows, bound = int(curves.group(1)), int(curves.group(2).replace(",", "")), int(curves.group(3))
    assert 0 < records <= bound
    if light:  # 3,000 windows of 10 steps: past the first level, the records already cover more than a window
        assert windows == 3000 and records < windows
    assert re.search(r"^pv plot in process .* median \d+ ms of 1; .* ratio \d+\.\d\d$", proc.stdout, re.M)
    assert re.search(r"^goal ledger < [\d,]+ bytes: (PASS|FAIL); goal page < 1 s: (PASS|FAIL)$", proc.stdout, re.M)
    assert '<svg class="chart"' in (tmp_path / "ledger.html").read_text()
