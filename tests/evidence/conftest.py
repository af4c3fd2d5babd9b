"""Fixture projects for the evidence tests: a contract, the tests its gate names, a falsifier.

``evproject`` is a scratch repository in tmp_path with its own pytest
configuration (so the session ``pv check`` starts there never reads this
repository's), one active contract ``demo-v1`` whose gate ``GATE-DEMO-001``
lists ``tests/test_demo.py::test_a`` (which evaluates the contract's own
invariant, so it kills its mutants) and ``::test_b`` (which asserts something
unrelated), and a falsifier ``FALSIFY-DEMO-001`` whose Hypothesis test passes
unless told otherwise.
Tests change one thing (a test body, a marker, the contract) and run the real
``pv`` on it as a subprocess.

Only fixtures live here; test modules have no ``__init__.py`` to import helpers through.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

_SCRIPT = Path(sys.executable).with_name("pv")
PV = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pvcontracts"]

CONTRACT = """\
schema_version: 1
id: demo-v1
version: 1.0.0
status: {status}
title: Demo contract
changelog:
  - {{version: 1.0.0, date: 2026-01-01, summary: First version}}
invariants:
  - id: INV-DEMO-001
    title: Loss is finite
    at: step_end
    check: "isfinite(loss)"
    on_violation: abort
gates:
  - id: GATE-DEMO-001
    title: Loss stays finite
    invariants: [INV-DEMO-001]
    ship_blocking: {ship_blocking}
    evidence_discharged_by:
{refs}
falsifiers:
  - id: FALSIFY-DEMO-001
    invariant: INV-DEMO-001
    prediction: "Every drawn value is below the limit"
    if_fails: "The limit is wrong"
    test: tests/test_falsify.py::test_property
"""

TESTS = '''\
from pathlib import Path

import pytest

from pvcontracts.contract.compiled import compile_invariant
from pvcontracts.contract.loading import load_contract_file


def finite_loss():
    """INV-DEMO-001 as the contract in this project writes it."""
    contract = load_contract_file(Path(__file__).resolve().parents[1] / "contracts" / "demo-v1.yaml").contract
    return compile_invariant(contract, contract.invariants[0])


@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")


@pytest.mark.discharges(gate="GATE-DEMO-001")
def test_a():
    assert finite_loss().evaluate({{"loss": 1.0}}).holds is True
    assert finite_loss().evaluate({{"loss": float("nan")}}).holds is False


{b_decorators}@pytest.mark.discharges(gate="GATE-DEMO-001")
def {b_name}({b_args}):
{b_body}


def test_unbound():
    pass
'''

FALSIFIER = '''\
from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=50, deadline=None)
@given(x=st.integers(min_value=0, max_value=1000))
def test_property(x):
    assert x < {limit}
'''


class EvProject:
    """A scratch repository: write files, run ``pv``, read the evidence."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "contracts").mkdir()
        (root / "tests").mkdir()
        self.write("pyproject.toml", textwrap.dedent("""\
            [project]
            name = "scratch"

            [tool.pytest.ini_options]
            markers = ["slow: a slow test"]
            """))
        self.contract()
        self.tests()
        self.falsifier()

    @classmethod
    def at(cls, root: Path) -> "EvProject":
        """Wrap an existing project directory (a copy) without writing anything."""
        project = cls.__new__(cls)
        project.root = root
        return project

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def contract(self, *, status: str = "active", ship_blocking: bool = True,
                 refs: tuple[str, ...] = ("tests/test_demo.py::test_a", "tests/test_demo.py::test_b")) -> None:
        listed = "\n".join(f"      - {r}" for r in refs)
        self.write("contracts/demo-v1.yaml", CONTRACT.format(status=status, ship_blocking=str(ship_blocking).lower(),
                                                             refs=listed))

    def tests(self, *, b_body: str = "    assert 1 + 1 == 2", b_name: str = "test_b", b_decorators: str = "",
              b_args: str = "") -> None:
        self.write("tests/test_demo.py", TESTS.format(b_body=b_body, b_name=b_name, b_decorators=b_decorators,
                                                      b_args=b_args))

    def falsifier(self, limit: int = 2000) -> None:
        self.write("tests/test_falsify.py", FALSIFIER.format(limit=limit))

    def pv(self, *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
        # The session pv starts must see this project only: no outer pytest or Hypothesis settings.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS_"))}
        return subprocess.run([*PV, *args], cwd=self.root, capture_output=True, text=True, timeout=timeout,
                              env=env, stdin=subprocess.DEVNULL)

    def check(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.pv("check", "contracts/", *args)

    def evidence(self, rel: str = "out/evidence.json") -> dict[str, Any]:
        return json.loads((self.root / rel).read_text(encoding="utf-8"))

    @staticmethod
    def gate(doc: dict[str, Any], gate_id: str = "GATE-DEMO-001") -> dict[str, Any]:
        return next(g for c in doc["contracts"] for g in c["gates"] if g["id"] == gate_id)

    @staticmethod
    def test(gate: dict[str, Any], ref: str) -> dict[str, Any]:
        return next(t for t in gate["tests"] if t["ref"] == ref)

    @staticmethod
    def falsifier_record(doc: dict[str, Any], fid: str = "FALSIFY-DEMO-001") -> dict[str, Any]:
        return next(f for c in doc["contracts"] for f in c["falsifiers"] if f["id"] == fid)


@pytest.fixture
def evproject(tmp_path: Path) -> EvProject:
    root = tmp_path / "repo"
    root.mkdir()
    return EvProject(root)


@pytest.fixture(scope="session")
def evproject_class() -> type[EvProject]:
    """The project class itself, for fixtures of wider scope than a test."""
    return EvProject


@pytest.fixture(scope="session")
def evidence_schema() -> dict[str, Any]:
    from pvcontracts.evidence.evidence import load_schema

    return load_schema()
