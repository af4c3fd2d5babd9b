"""Fingerprints: what counts as a change to an invariant, a gate, a contract."""

from __future__ import annotations

from pathlib import Path

from pvcontracts.contract.loading import load_contract_bytes
from pvcontracts.evidence import fingerprint as fp

BASE = """\
schema_version: 1
id: fp-v1
version: 1.0.0
status: active
title: Fingerprints
changelog:
  - {version: 1.0.0, date: 2026-01-01, summary: First}
params:
  cap: {type: float, min: 0, default: 10.0}
invariants:
  - id: INV-FP-001
    title: Under the cap
    at: epoch_end
    check: "val_loss <= cap"
gates:
  - id: GATE-FP-001
    invariants: [INV-FP-001]
    ship_blocking: true
    evidence_discharged_by: [tests/test_x.py::test_ok]
"""


def _contract(text: str):
    loaded = load_contract_bytes(text.encode(), "contracts/fp-v1.yaml")
    assert loaded.contract is not None, loaded.diagnostics
    return loaded.contract


def _prints(text: str) -> tuple[str, str, str, str]:
    c = _contract(text)
    return (fp.invariant_fingerprint(c.invariants[0]), fp.gate_fingerprint(c.gates[0]), fp.context_fingerprint(c),
            fp.contract_fingerprint(c))


def test_formatting_comments_and_defaults_do_not_change_fingerprints() -> None:
    base = _prints(BASE)
    same = _prints("# comment\n" + BASE.replace('"val_loss <= cap"', '"(val_loss)<=cap"  # reformatted')
                   .replace("    check:", "    on_violation: abort\n    check:"))
    assert same[:3] == base[:3]


def test_each_part_changes_its_own_fingerprint() -> None:
    inv, gate, ctx, whole = _prints(BASE)
    changed = _prints(BASE.replace('"val_loss <= cap"', '"val_loss < cap"'))
    assert changed[0] != inv and changed[1] == gate and changed[2] == ctx and changed[3] != whole
    changed = _prints(BASE.replace("ship_blocking: true", "ship_blocking: false"))
    assert changed[0] == inv and changed[1] != gate
    changed = _prints(BASE.replace("default: 10.0", "default: 12.0"))
    assert changed[0] == inv and changed[2] != ctx
    changed = _prints(BASE.replace("title: Fingerprints", "title: Renamed"))
    assert changed[:3] == (inv, gate, ctx) and changed[3] != whole


def test_digests_are_sha256_and_canonical(tmp_path: Path) -> None:
    assert fp.digest_value({"b": 1, "a": [1, 2]}) == fp.digest_value({"a": [1, 2], "b": 1})
    assert fp.canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()
    (tmp_path / "f").write_bytes(b"x")
    assert fp.file_digest(tmp_path / "f") == "sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
    assert fp.file_digest(tmp_path / "absent") is None
    assert fp.normalise_expression("a <= (b)") == fp.normalise_expression("a<=b")
    assert fp.normalise_expression("a <=") == "a <="
