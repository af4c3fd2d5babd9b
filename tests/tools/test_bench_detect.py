"""``tools/bench/detect.py`` runs every zoo case under one configuration and prints the summary line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parents[2]


def test_detect_prints_the_summary_and_catches_everything(tmp_path: Path) -> None:
    out = tmp_path / "detect.json"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "bench" / "detect.py"), "--json", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    line = re.search(r"^caught (\d+)/(\d+) buggy, false alarms (\d+)/(\d+) clean$", proc.stdout, re.M)
    assert line, proc.stdout + proc.stderr
    caught, buggy, alarms, clean = map(int, line.groups())
    data = json.loads(out.read_text())
    assert (data["caught"], data["buggy"], data["false_alarms"], data["clean"]) == (caught, buggy, alarms, clean)
    assert buggy >= 15 and clean >= buggy
    assert caught == buggy and alarms == 0, proc.stdout
    assert proc.returncode == 0
    kinds = {r["bug_class"] for r in data["cases"] if r["kind"] == "buggy"}
    assert {"gradients not cleared", "resume forgets the RNG state",
            "representation collapse (SimSiam without stop-gradient)"} <= kinds
