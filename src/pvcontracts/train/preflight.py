"""Checks before the first step: the report says what the run will use, and refuses a run that cannot succeed.

Each check is a small function returning a :class:`Check` (its name, whether it
passed, what it found); a failing check whose ``fatal`` is set refuses the run.
The report is written to ``preflight.json`` in the run directory *before*
training; a refused run leaves its reason there too, unless the directory holds
a run already (whose evidence a refusal must not touch: then the reasons are
only in the error). The determinism report (``determinism.json``) is written
with it: the seeds, the deterministic-algorithms flag and what CUDA needs for it.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable

from pvcontracts.errors import PvError
from pvcontracts.train.task import cross_entropy, dataset_len
from pvcontracts.util.atomic import write_text_atomic

__all__ = ["Check", "PreflightError", "PreflightReport", "determinism_report", "environment", "run_checks",
           "trainer_checks", "write_report"]


class PreflightError(PvError):
    """Preflight refused the run: each failed check says why. Fix those, then run again.

    ``report_path`` is where the report was written, None when it was not (the run
    directory already held a run, or cannot be written).
    """

    def __init__(self, report: "PreflightReport", report_path: Path | None = None) -> None:
        failed = [c for c in report.checks if not c.ok and c.fatal]
        lines = [f"  - {c.name}: {c.detail}" for c in failed]
        super().__init__("preflight refused the run:\n" + "\n".join(lines))
        self.report = report
        self.report_path = report_path


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fatal: bool = True
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class PreflightReport:
    ok: bool
    checks: list[Check]
    environment: dict[str, Any]
    time: float

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "time": self.time, "environment": self.environment,
                "checks": [asdict(c) for c in self.checks]}


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """Python, platform, the versions of the packages a run depends on, and the accelerator."""
    import torch

    env: dict[str, Any] = {
        "python": sys.version.split()[0], "platform": platform.platform(), "executable": sys.executable,
        "packages": {d: _version(d) for d in ("pv-contracts", "torch", "numpy", "tqdm", "PyYAML")},
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        env["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        env["cuda_version"] = torch.version.cuda
    return env


def run_checks(checks: Iterable[tuple[str, Callable[[], Check]]]) -> PreflightReport:
    """Run every (name, check) (an exception in one is that check failing); writes nothing, refuses nothing.

    The caller decides: write the report (:func:`write_report`) and go on, or refuse.
    """
    results = []
    for name, check in checks:
        try:
            results.append(check())
        except Exception as exc:  # a check that crashed found a problem; say which, do not hide the others
            results.append(Check(name, False, f"{type(exc).__name__}: {exc}"))
    ok = all(c.ok or not c.fatal for c in results)
    return PreflightReport(ok=ok, checks=results, environment=environment(), time=time.time())


def write_report(report: PreflightReport, path: Path) -> None:
    """``preflight.json``: sorted keys, written atomically."""
    import json

    write_text_atomic(path, json.dumps(report.to_dict(), indent=2, sort_keys=True, default=str) + "\n")


def check_writable(directory: Path) -> Check:
    """The run directory exists (or can be made) and takes an atomic write; the probe is removed again."""
    directory.mkdir(parents=True, exist_ok=True)
    probe = directory / ".pv-preflight-probe"
    write_text_atomic(probe, "ok\n")
    probe.unlink()
    return Check("run directory writable", True, str(directory))


def check_disk_space(directory: Path, checkpoint_bytes: int, keep: int) -> Check:
    """Room for the retained checkpoints, one being written, and the gate-pass one, twice over."""
    free = shutil.disk_usage(directory).free
    need = 2 * checkpoint_bytes * (keep + 2)
    ok = free >= need
    return Check("disk space", ok, f"{free / 2**20:.0f} MiB free, {need / 2**20:.1f} MiB needed for checkpoints",
                 data={"free_bytes": free, "needed_bytes": need})


def determinism_report(seeds: dict[str, int], deterministic: bool, device: str) -> dict[str, Any]:
    """What makes this run repeatable, and what would not."""
    import torch

    report: dict[str, Any] = {
        "seeds": seeds,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "deterministic_algorithms_warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "requested": deterministic,
        "device": device,
        "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "torch_threads": torch.get_num_threads(),
    }
    notes = []
    if device.startswith("cuda") and os.environ.get("CUBLAS_WORKSPACE_CONFIG") not in (":4096:8", ":16:8"):
        notes.append("CUBLAS_WORKSPACE_CONFIG is not :4096:8 or :16:8: cuBLAS may be non-deterministic")
    if not deterministic:
        notes.append("deterministic: false; bit-identical resume is not promised")
    report["notes"] = notes
    return report


# ---------------------------------------------------------------------- the trainer's checks


def trainer_checks(t: Any, determinism: dict[str, Any]) -> list[tuple[str, Callable[[], Check]]]:
    """The checks of a built :class:`~pvcontracts.train.trainer.Trainer` ``t``, in report order."""
    return [("run directory writable", lambda: check_writable(t.out_dir)),
            ("run directory", lambda: _run_directory(t)),
            ("dataset found and sized", lambda: _data(t)),
            ("model output", lambda: _model(t)),
            ("regime", lambda: _regime(t)),
            ("mixed precision", lambda: _precision(t)),
            ("task metrics", lambda: _task_metrics(t)),
            ("disk space", lambda: check_disk_space(t.out_dir, 4 * _param_bytes(t.model) + (1 << 20),
                                                    t.config.keep_last)),
            ("contracts valid", t.build_monitor),
            ("determinism", lambda: Check("determinism", not determinism["notes"], "; ".join(determinism["notes"])
                                          or "seeds derived and recorded, deterministic algorithms on",
                                          fatal=False, data=determinism))]  # never refuses: it records


def _param_bytes(model: Any) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def _run_directory(t: Any) -> Check:
    existing = t.checkpointer.periodic()
    ok = not existing or t.resume_from is not None
    return Check("run directory", ok, f"{t.out_dir}" + ("" if ok else
                 f" already holds {len(existing)} checkpoint(s) of another run: pass --resume to continue it, "
                 "or choose another --out"))


def _data(t: Any) -> Check:
    sizes = {"train": dataset_len(t.task.train_dataset), "val": dataset_len(t.task.val_dataset)}
    ok = bool(sizes["train"]) and bool(sizes["val"]) and t.steps_per_epoch > 0
    return Check("dataset found and sized", ok, f"train {sizes['train']} examples, val {sizes['val']}, "
                 f"{t.steps_per_epoch} optimizer steps per epoch, {t.total_steps} in all",
                 data={**sizes, "steps_per_epoch": t.steps_per_epoch, "total_steps": t.total_steps})


def _model(t: Any) -> Check:
    """One validation batch through the model: the output matches the vocabulary and the loss is finite."""
    import math

    import torch

    x, y = next(iter(t.val_loader))
    was = t.model.training
    t.model.eval()
    with torch.no_grad():  # eval mode: no dropout, so no random number is drawn
        logits = t.model(x.to(t.device))
        loss = float(cross_entropy(logits, y.to(t.device)))
    t.model.train(was)
    v = t.task.vocab_size
    ok = logits.shape[-1] == v and math.isfinite(loss)
    return Check("model output", ok, f"logits {tuple(logits.shape)} for vocab_size {v}; first-batch loss "
                 f"{loss:.4f} (ln(vocab_size) = {math.log(v):.4f})", data={"initial_loss": loss})


def _regime(t: Any) -> Check:
    v = t.regime.vocab_size
    ok = v is None or v == t.task.vocab_size
    return Check("regime", ok, f"{t.regime}; the task's vocab_size is {t.task.vocab_size}"
                 + ("" if ok else ": they must agree"))


def _precision(t: Any) -> Check:
    c = t.config
    ok = not (c.mixed_precision and c.amp_dtype == "float16" and t.device.type != "cuda")
    return Check("mixed precision", ok, ("off" if not c.mixed_precision else f"{c.amp_dtype} autocast on "
                 f"{t.device}" + (", GradScaler" if t.scaler is not None else ""))
                 + ("" if ok else ": float16 needs CUDA; use amp_dtype: bfloat16 on the CPU"))


def _task_metrics(t: Any) -> Check:
    needed = {"coverage"} if (t.coverage_stopper or t.penalty) else set()
    missing = needed - set(t.eval_metrics)
    return Check("task metrics", not missing, f"evaluate() reports {', '.join(t.eval_metrics) or 'nothing'}"
                 + (f"; coverage_stop and rejection_penalty need {', '.join(sorted(missing))}" if missing else ""))
