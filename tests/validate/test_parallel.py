"""The cold run split over worker processes reports exactly what a single process reports."""

from __future__ import annotations

from pathlib import Path

from pvcontracts.validate.engine import ValidateOptions, validate_paths
from pvcontracts.validate.parallel import MIN_FILES_PER_JOB

CONTRACT = """\
schema_version: 1
id: c{n}
version: 1.0.0
status: active
title: contract {n}
changelog: [{{version: 1.0.0, date: 2026-11-21, summary: s}}]
invariants:
  - id: INV-P{n}-001
    title: t
    at: epoch_end
    check: "{check}"
gates:
  - id: GATE-P{n}-001
    invariants: [INV-P{n}-001]
    ship_blocking: true
    evidence_discharged_by: [tests/test_p.py::{test}]
"""


def _project(tmp_path: Path, count: int) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_p.py").write_text("def test_ok():\n    pass\n")
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    for n in range(count):
        check = "val_los < 1" if n % 7 == 3 else f"val_loss < {n}.5"  # every 7th has an unknown name
        test = "test_missing" if n % 11 == 5 else "test_ok"           # every 11th names a missing test
        (contracts / f"c{n}.yaml").write_text(CONTRACT.format(n=n, check=check, test=test))
    return contracts


def test_workers_report_the_same_diagnostics_as_one_process(tmp_path: Path) -> None:
    count = 2 * MIN_FILES_PER_JOB + 6  # enough to take the parallel path with 2 jobs
    contracts = _project(tmp_path, count)
    serial = validate_paths([contracts], ValidateOptions(root=tmp_path, jobs=1))
    parallel = validate_paths([contracts], ValidateOptions(root=tmp_path, jobs=2))
    assert serial.counts.contracts == count
    assert {d.code for d in serial.diagnostics} == {"PV405", "PV304"}
    assert serial.diagnostics == parallel.diagnostics
    assert serial.counts == parallel.counts


def test_parallel_cold_run_fills_the_cache_for_a_warm_run(tmp_path: Path) -> None:
    contracts = _project(tmp_path, 2 * MIN_FILES_PER_JOB + 1)
    cache = tmp_path / ".pv_cache"
    cold = validate_paths([contracts], ValidateOptions(root=tmp_path, jobs=2, cache_dir=cache))
    warm = validate_paths([contracts], ValidateOptions(root=tmp_path, jobs=2, cache_dir=cache))
    assert (cache / "validate-cache.json").exists()
    assert cold.diagnostics == warm.diagnostics
