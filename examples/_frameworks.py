"""What the three framework examples share: byte-level text that ships with Python, and the closing `pv check`.

Not an example itself: each example's ``train.py`` puts this directory on sys.path. The
corpus is the source of a few standard-library modules (bytes: a vocabulary of 256), the
first 90% for training and the rest for validation, cut into windows of ``seq`` bytes.
Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
VOCAB = 256
MODULES = ("json.decoder", "json.encoder", "textwrap", "string", "shlex", "fnmatch")
# The contracts `pv check` binds to their tests at the end: the two every example's run enforces most of
# (the ledger names all the shipped ones it ran). Mutation checking is left to CI's full `pv check`.
CHECKED = ("training-loop-pretrain-v1", "lr-schedule-v1")


def corpus() -> torch.Tensor:
    import importlib

    text = b"\n".join(inspect.getsource(importlib.import_module(name)).encode("utf-8") for name in MODULES)
    return torch.frombuffer(bytearray(text), dtype=torch.uint8).long()


class Windows(torch.utils.data.Dataset):
    """Non-overlapping windows of ``seq`` tokens; ``part`` is "train" (first 90%) or "val"."""

    def __init__(self, part: str, seq: int, limit: int | None = None) -> None:
        data = corpus()
        cut = int(len(data) * 0.9)
        data = data[:cut] if part == "train" else data[cut:]
        self.data, self.seq = data, seq
        self.count = len(data) // seq if limit is None else min(limit, len(data) // seq)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        x = self.data[i * self.seq:(i + 1) * self.seq]
        return {"input_ids": x, "labels": x.clone()}


def arguments(description: str, default_out: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / default_out / "runs" / "run"),
                        help="the run directory (ledger.jsonl, checkpoints, evidence.json)")
    parser.add_argument("--quick", action="store_true", help="a few steps only (the tests use it)")
    parser.add_argument("--no-check", action="store_true", help="skip the closing pv check")
    return parser.parse_args()


def pv_check(ledgers: list[Path], out: Path) -> int:
    """`pv check` of the contracts the run enforced, with the run's ledger as runtime evidence."""
    command = [sys.executable, "-m", "pvcontracts", "check", *(str(REPO / "contracts" / f"{c}.yaml") for c in CHECKED),
               "--no-mutate", "-o", str(out / "evidence.json"), "--root", str(REPO)]
    for ledger in ledgers:
        command += ["--ledger", str(ledger)]
    print("$ pv check " + " ".join(command[4:]), flush=True)
    return subprocess.run(command, cwd=REPO).returncode


def report(monitor: Any, ledger: Path) -> None:
    stats = monitor.stats()
    enforced = sorted(k for k, v in stats.items() if v["enforced"])
    print(f"{len(monitor.violations)} violations; {len(enforced)} of {len(stats)} invariants enforced "
          f"(the ledger says why each other one was not): {ledger}", flush=True)
