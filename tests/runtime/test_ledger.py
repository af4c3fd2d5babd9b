"""The JSONL ledger: whole lines, strict JSON, and a reader that survives a writer killed mid-line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pvcontracts.runtime import Ledger, read_ledger

# A child that appends records as fast as it can, each large enough (~64 KiB) that a kill can land
# mid-write if a write could ever be torn; it says "ready" once the first record is written.
WRITER = r"""
import sys
from pvcontracts.runtime.ledger import Ledger
ledger = Ledger(sys.argv[1])
pad = "x" * 65536
i = 0
while True:
    ledger.write({"kind": "tick", "i": i, "pad": pad, "nan": float("nan")})
    if i == 0:
        print("ready", flush=True)
    i += 1
"""


def parse_all_but_last(path: Path) -> list[dict]:
    lines = path.read_bytes().split(b"\n")
    *whole, tail = lines  # tail: b"" after a final newline, else a torn last line
    records = [json.loads(line) for line in whole]  # every whole line must parse
    if tail:
        with pytest.raises(ValueError):
            json.loads(tail)
    return records


def test_sigkill_leaves_whole_lines(tmp_path: Path) -> None:
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for kill in range(4):
        path = tmp_path / f"kill{kill}.jsonl"
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, env=env)
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(0.02 * kill)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL
        records = parse_all_but_last(path)
        assert records and [r["i"] for r in records] == list(range(len(records)))
        assert records[0]["nan"] == "nan"  # strict JSON: NaN written as a string
        assert [r["i"] for r in read_ledger(path)] == [r["i"] for r in records]


def test_reader_skips_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    with Ledger(path) as ledger:
        ledger.write({"kind": "a"})
        ledger.write({"kind": "b"})
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"kind": "c", "val')  # a kill mid-write
    assert [r["kind"] for r in read_ledger(path)] == ["a", "b"]
    path.write_bytes(whole[:-3])  # torn inside the last record, newline gone
    assert [r["kind"] for r in read_ledger(path)] == ["a"]


def test_reopening_after_a_torn_tail_starts_on_a_fresh_line(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    path.write_bytes(b'{"kind": "a"}\n{"kind": "b", "to')
    with Ledger(path) as ledger:  # a resumed run appends to the same ledger
        ledger.write({"kind": "c"})
    assert path.read_bytes().endswith(b'"to\n{"kind": "c"}\n')
    assert [r["kind"] for r in read_ledger(path)] == ["a", "c"]


def test_records_are_strict_sorted_json(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "l.jsonl"  # parent directories are created
    with Ledger(path) as ledger:
        ledger.write({"z": 1, "a": [float("inf"), -float("inf")], "path": Path("a/b"), "nested": {"x": float("nan")}})
    line = path.read_text(encoding="utf-8")
    assert line.startswith('{"a": ["inf", "-inf"]')
    assert json.loads(line)["nested"] == {"x": "nan"}
    assert json.loads(line)["path"] == "a/b"  # other objects as their str()


def test_appends_and_rejects_writes_after_close(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    for i in range(2):
        with Ledger(path) as ledger:
            ledger.write({"i": i})
    assert [r["i"] for r in read_ledger(path)] == [0, 1]
    ledger.close()  # twice is fine
    with pytest.raises(ValueError, match="closed"):
        ledger.write({"i": 2})
