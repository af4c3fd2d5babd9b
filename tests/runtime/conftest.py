"""Fixtures for the runtime tests: the shipped contracts, and small contracts written on the spot.

Only fixtures live here (no helpers to import): test modules without
``__init__.py`` cannot import a conftest reliably.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml

import pvcontracts

REPO = Path(__file__).resolve().parents[2]
PACKAGE = str(Path(pvcontracts.__file__).resolve().parent)
# Tensor methods that read a value back to the host: on a GPU each is a synchronisation.
READS = ("item", "cpu", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__", "__repr__", "__format__")


@pytest.fixture
def shipped() -> Path:
    """The repository's ``contracts/`` directory, the contracts the runtime ships."""
    return REPO / "contracts"


@pytest.fixture
def make_contracts(tmp_path: Path) -> Callable[..., Path]:
    """``make_contracts(*invariants, params={...})``: a directory holding one contract with those invariants.

    Each invariant is a dict with at least ``check``; ``id`` defaults to INV-T-00n, ``at`` to
    step_end, ``on_violation`` to abort, ``title`` to the check. Returns the directory, ready for
    ``Monitor.from_contracts``.
    """
    counter = [0]

    def make(*invariants: dict[str, Any], params: dict[str, Any] | None = None, contract_id: str = "t-v1") -> Path:
        counter[0] += 1
        root = tmp_path / f"contracts{counter[0]}"
        root.mkdir()
        invs = []
        for i, inv in enumerate(invariants, 1):
            full = {"id": f"INV-T-{i:03d}", "title": str(inv["check"]), "at": "step_end", "on_violation": "abort"}
            full.update(inv)
            invs.append(full)
        doc: dict[str, Any] = {
            "schema_version": 1, "id": contract_id, "version": "1.0.0", "status": "active",
            "title": "Runtime test contract",
            "changelog": [{"version": "1.0.0", "date": "2026-01-01", "summary": "First"}],
            "invariants": invs,
        }
        if params:
            doc["params"] = params
        (root / f"{contract_id}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return root

    return make


def _from_pvcontracts() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.startswith(PACKAGE):
            return True
        frame = frame.f_back
    return False


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter]:
    """Counts tensor reads made from pvcontracts code (anywhere below a pvcontracts frame).

    On CPU a tensor read is not a synchronisation, so the CPU tests count the calls that
    would be one on a GPU (``.item()``, ``.cpu()``, ``.tolist()``, ``bool()`` and friends)
    made from inside pvcontracts, while the optimizer's own internals are left out.
    """
    import torch

    counts: Counter = Counter()
    for name in READS:
        original = getattr(torch.Tensor, name)

        def counting(self, *args, __original=original, __name=name, **kwargs):
            if _from_pvcontracts():
                counts[__name] += 1
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    yield counts
