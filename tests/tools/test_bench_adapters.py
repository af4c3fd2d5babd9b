"""Smoke test of ``tools/bench/adapters.py``: it runs each framework with and without its adapter and prints ratios.

No timing is asserted (a loaded CI machine must not fail a build over timings). What is
asserted is that the comparison is valid: every monitored run trained the steps it was
asked for under the shipped contracts without a violation (the benchmark exits 1
otherwise), and a ratio is printed per framework.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("lightning")
pytest.importorskip("accelerate")

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "bench" / "adapters.py"


def test_each_framework_runs_clean_with_and_without_its_adapter(tmp_path: Path) -> None:
    out = tmp_path / "adapters.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--steps", "3", "--pairs", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(out.read_text(encoding="utf-8"))
    assert proc.stdout.count("ratio") == 3
    assert [r["framework"] for r in results] == ["transformers", "lightning", "accelerate"]
    for r in results:
        assert len(r["bare_s"]) == len(r["monitored_s"]) == 1 and r["ratio"] > 0


def test_an_unknown_framework_is_a_usage_error() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--frameworks", "keras"], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert proc.returncode == 2 and "unknown framework 'keras'" in proc.stderr
