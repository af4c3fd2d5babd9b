"""The three framework examples (examples/hf_trainer, lightning_loop, accelerate_loop) end to end, shrunk.

Each runs as its README says, with ``--quick`` (a few steps) and without its closing ``pv check``
(CI's full ``pv check`` is slow enough); its ledger is then judged by the code ``pv check --ledger``
runs (:func:`pvcontracts.evidence.runtime.ledger_evidence`): a clean run of the shipped
contracts, read strictly, with the invariants it enforced and no error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("example, framework", [("hf_trainer", "transformers"), ("lightning_loop", "lightning"),
                                                ("accelerate_loop", "accelerate")])
def test_the_example_trains_clean_and_its_ledger_is_runtime_evidence(tmp_path: Path, example: str,
                                                                     framework: str) -> None:
    pytest.importorskip(framework)
    from pvcontracts.contract.contractset import load_contracts
    from pvcontracts.diagnostic import Severity
    from pvcontracts.evidence.runtime import ledger_evidence

    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(REPO / "examples" / example / "train.py"), "--quick", "--no-check",
                           "--out", str(tmp_path)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "0 violations" in proc.stdout
    record, findings = ledger_evidence(tmp_path / "ledger.jsonl", REPO, load_contracts(REPO / "contracts"))
    assert [f for f in findings if f.severity == Severity.ERROR] == [], findings
    assert record is not None and len(record["runs"]) == 1
    run = record["runs"][0]
    assert run["complete"] and run["violation_count"] == 0 and run["mode"] == "supplied"
    enforced = {ident for ident, entry in run["invariants"].items() if entry["enforced"]}
    assert {"INV-TRAIN-001", "INV-TRAIN-002", "INV-LR-002", "INV-LR-003", "INV-HEALTH-001"} <= enforced
