"""Shared fixtures: a throwaway project to validate.

A *project* is a directory with ``pyproject.toml`` (so the engine finds its
root there), ``contracts/`` and one real test file, ``tests/test_x.py`` with
``test_ok``, so gates and falsifiers in contracts under test have evidence
that resolves and only the finding a test is about shows up.

Only fixtures live here (no helpers to import): test modules without
``__init__.py`` cannot import a conftest reliably.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pvcontracts.validate.engine import ValidateOptions, ValidationReport, validate_paths


class Project:
    """A scratch repository under tmp_path; the working directory while the test runs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.contracts = root / "contracts"
        self.contracts.mkdir()
        (root / "pyproject.toml").write_text("[project]\nname = 'scratch'\n", encoding="utf-8")
        (root / "tests").mkdir()
        (root / "tests" / "test_x.py").write_text("def test_ok():\n    pass\n", encoding="utf-8")

    def write(self, name: str, text: str | bytes) -> Path:
        path = self.contracts / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def copy_in(self, *sources: Path) -> None:
        """Copy contract files in under their own names."""
        for src in sources:
            shutil.copyfile(src, self.contracts / src.name)

    def validate(self, *paths: str, **options: object) -> ValidationReport:
        targets = [Path(p) for p in paths] or [Path("contracts")]
        return validate_paths(targets, ValidateOptions(root=self.root, **options))  # type: ignore[arg-type]


@pytest.fixture(autouse=True, scope="session")
def _user_cache(tmp_path_factory: pytest.TempPathFactory):
    """pv keeps its validate cache in the user's cache directory: the suite's runs (and the `pv` processes
    they start, which inherit the variable) use a scratch one instead of the real home's."""
    import os

    before = os.environ.get("PV_CACHE_DIR")
    os.environ["PV_CACHE_DIR"] = str(tmp_path_factory.mktemp("user-cache"))
    yield
    if before is None:
        os.environ.pop("PV_CACHE_DIR", None)
    else:
        os.environ["PV_CACHE_DIR"] = before


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    root = tmp_path / "repo"
    root.mkdir()
    monkeypatch.chdir(root)  # diagnostics name files relative to the working directory
    return Project(root)


MINIMAL_CONTRACT = """\
schema_version: 1
id: {id}
version: 1.0.0
status: active
title: A small valid contract
changelog:
  - {{version: 1.0.0, date: 2026-01-01, summary: First}}
invariants:
  - id: INV-{area}-001
    title: Loss is finite
    at: step_end
    check: "isfinite(loss)"
gates:
  - id: GATE-{area}-001
    invariants: [INV-{area}-001]
    ship_blocking: true
    evidence_discharged_by: [tests/test_x.py::test_ok]
"""


@pytest.fixture
def minimal_contract():
    """``minimal_contract(id, area="FIX")``: the text of a valid contract, for tests that vary one thing."""

    def make(contract_id: str, area: str = "FIX") -> str:
        return MINIMAL_CONTRACT.format(id=contract_id, area=area)

    return make
