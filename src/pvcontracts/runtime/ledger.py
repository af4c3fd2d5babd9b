"""The per-run JSONL ledger: every evaluation counted, every violation written.

Each record is one line written with a single ``os.write`` on an O_APPEND
descriptor, so a killed process leaves whole lines behind (a torn tail, if a
kill lands mid-write of a large record, is skipped by the reader; a ledger
reopened after such a kill first ends the torn line, so the next record starts
on a line of its own). ``pv check`` can later include a ledger as runtime
evidence.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

from pvcontracts.util.jsonsafe import finite


class Ledger:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if _ends_torn(self.path):
            os.write(self._fd, b"\n")  # isolate a torn tail left by a killed writer: it stays one bad line

    def write(self, record: dict[str, Any]) -> None:
        if self._fd is None:
            raise ValueError(f"ledger {self.path} is closed")
        line = (json.dumps(finite(record), sort_keys=True, default=str, allow_nan=False) + "\n").encode("utf-8")
        view = memoryview(line)
        while view:  # one write in practice; the loop only guards a short write
            written = os.write(self._fd, view)
            view = view[written:]

    def sync(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)  # at epoch and run boundaries: the record survives a power cut

    def close(self) -> None:
        if self._fd is not None:
            self.sync()
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ends_torn(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() == 0:
            return False
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) != b"\n"


def read_ledger(path: Path | str) -> Iterator[dict[str, Any]]:
    """Records of a ledger, skipping a torn last line (and a torn line a later writer isolated)."""
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                return  # torn tail from a kill mid-write
            try:
                yield json.loads(raw)
            except ValueError:
                continue
