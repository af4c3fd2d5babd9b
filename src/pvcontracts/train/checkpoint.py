"""Checkpoints on disk: written atomically, retained by policy, found again on resume.

Layout of a checkpoint directory::

    epoch-0007.pt     periodic checkpoints, one per epoch; the last ``keep_last`` are kept
    gate-pass.pt      the checkpoint at which the gate passed (a hard link: no second copy);
                      never deleted by retention
    .epoch-0008.pt.*.tmp   a write in progress (or killed mid-way): never loaded, removed on start

A checkpoint is written to a temp file in the same directory, fsynced, then renamed
over its name (:func:`pvcontracts.util.atomic.atomic_writer`), so a kill at any moment
leaves every ``*.pt`` complete. Retention runs after the rename: a kill between the two
leaves one checkpoint too many, which the next write's retention removes.

What goes into a checkpoint is the trainer's business (``Trainer.state_dict``); this
module only moves bytes, and loads with ``weights_only=True`` (tensors and plain data,
no arbitrary pickles).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from pvcontracts.train.faults import fault_point
from pvcontracts.util.atomic import atomic_writer

__all__ = ["CheckpointError", "Checkpointer", "SaveReport", "load_checkpoint", "save_atomic"]

_PERIODIC = re.compile(r"^epoch-(\d{4,})\.pt$")
GATE_PASS = "gate-pass.pt"


class CheckpointError(Exception):
    """A checkpoint could not be read: it is not a pv-train checkpoint, or it was written by another run."""


@dataclass
class SaveReport:
    """What one save did; the trainer hands it to the monitor's checkpoint boundary."""

    path: Path
    bytes: int
    seconds: float
    atomic: bool
    written: int                        # periodic checkpoints written by this run so far
    retained: list[Path] = field(default_factory=list)   # periodic checkpoints on disk after retention
    gate_pass: Path | None = None


class _CountingWriter:
    """File-object wrapper for torch.save: counts bytes, and is where a mid-write kill lands in the tests."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.bytes = 0
        self._writes = 0

    def write(self, data: Any) -> int:
        self._writes += 1
        if self._writes == 2:  # some bytes are in the temp file, most are not
            fault_point("checkpoint.mid_write")
        n = self._fh.write(data)
        self.bytes += len(data) if n is None else n
        return len(data) if n is None else n

    def flush(self) -> None:
        self._fh.flush()


def save_atomic(obj: Any, path: Path) -> int:
    """``torch.save(obj)`` to ``path`` atomically; returns the bytes written."""
    import torch

    with atomic_writer(path) as fh:
        writer = _CountingWriter(fh)
        torch.save(obj, writer)  # type: ignore[arg-type]
        fault_point("checkpoint.before_rename")
    return writer.bytes


def load_checkpoint(path: Path | str) -> dict[str, Any]:
    """Load a checkpoint onto the CPU, tensors and plain data only."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torn, truncated, foreign or hostile: whatever torch.load raised, it is not ours
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or state.get("format") != "pv-train-checkpoint/1":
        raise CheckpointError(f"{path}: not a pv-train checkpoint")
    return state


class Checkpointer:
    """Periodic checkpoints in ``directory`` with keep-last-N retention plus the gate-pass one."""

    def __init__(self, directory: Path | str, keep_last: int = 3) -> None:
        if keep_last < 1:
            raise ValueError(f"keep_last={keep_last!r} must be at least 1")
        self.directory = Path(directory)
        self.keep_last = keep_last
        self.written = 0  # restored from the checkpoint's counters on resume

    @property
    def gate_pass_path(self) -> Path:
        return self.directory / GATE_PASS

    def path_for(self, epoch: int) -> Path:
        return self.directory / f"epoch-{epoch:04d}.pt"

    def periodic(self) -> list[tuple[int, Path]]:
        """The periodic checkpoints on disk, oldest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for entry in os.scandir(self.directory):
            m = _PERIODIC.match(entry.name)
            if m:
                found.append((int(m.group(1)), Path(entry.path)))
        return sorted(found)

    def latest(self) -> Path | None:
        found = self.periodic()
        return found[-1][1] if found else None

    def clean_temp(self) -> list[Path]:
        """Remove temp files a killed writer left behind; returns what was removed."""
        removed = []
        if self.directory.is_dir():
            for entry in os.scandir(self.directory):
                if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
        return removed

    def discard_after(self, epoch: int, gate_epoch: int | None) -> list[Path]:
        """On a resume from an older checkpoint, drop the abandoned future's checkpoints.

        They would otherwise be counted by retention (and deleted in the wrong order);
        the resumed run rewrites those epochs anyway. A gate-pass checkpoint from that
        future goes too, unless the resumed state itself passed the gate.
        """
        removed = []
        for e, path in self.periodic():
            if e > epoch:
                os.unlink(path)
                removed.append(path)
        if gate_epoch is None and self.gate_pass_path.exists():
            os.unlink(self.gate_pass_path)
            removed.append(self.gate_pass_path)
        return removed

    def save(self, state: dict[str, Any], epoch: int, *, gate_pass: bool = False) -> SaveReport:
        """Write ``state`` as epoch ``epoch``'s checkpoint, mark it gate-pass if asked, apply retention."""
        start = time.perf_counter()
        path = self.path_for(epoch)
        size = save_atomic(state, path)
        self.written += 1
        fault_point("checkpoint.after_rename")
        gate_path = None
        if gate_pass:
            gate_path = self.mark_gate_pass(path)
        retained = self.retain()
        return SaveReport(path=path, bytes=size, seconds=time.perf_counter() - start, atomic=True,
                          written=self.written, retained=retained, gate_pass=gate_path)

    def retain(self) -> list[Path]:
        """Delete all but the newest ``keep_last`` periodic checkpoints; returns those kept."""
        found = self.periodic()
        doomed, kept = found[:-self.keep_last], found[-self.keep_last:]
        for i, (_, path) in enumerate(doomed):
            os.unlink(path)  # the gate-pass checkpoint is a separate link: deleting this name leaves it
            if i == 0:
                fault_point("checkpoint.mid_retention")
        return [p for _, p in kept]

    def mark_gate_pass(self, path: Path) -> Path:
        """Keep ``path`` as the gate-pass checkpoint, out of retention's reach."""
        target = self.gate_pass_path
        tmp = self.directory / f".{GATE_PASS}.{os.getpid()}.tmp"
        try:
            if tmp.exists():
                os.unlink(tmp)
            os.link(path, tmp)  # a second name for the same bytes: no copy, and atomic once renamed
        except OSError:  # a filesystem without hard links: copy, still atomically
            with atomic_writer(target) as fh, open(path, "rb") as src:
                while chunk := src.read(1 << 20):
                    fh.write(chunk)
            return target
        os.replace(tmp, target)  # atomic: the previous gate-pass file (if any) or this one, never none
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # persist the new name
        finally:
            os.close(dir_fd)
        return target
