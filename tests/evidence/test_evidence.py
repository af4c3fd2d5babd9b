"""The evidence document: digests, the in-toto wrapper, and the atomic write."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pvcontracts.evidence.evidence import (content_digest, dumps, record_digest, to_in_toto, unwrap,
                                           write_evidence)


def _doc() -> dict:
    gate = {"id": "GATE-X-001", "status": "discharged"}
    gate["record_digest"] = record_digest(gate)
    doc = {"schema_version": 1, "contracts": [{"file": "contracts/x.yaml", "digest": "sha256:" + "ab" * 32,
                                               "gates": [gate]}]}
    doc["content_digest"] = content_digest(doc)
    return doc


def test_content_digest_ignores_only_itself_and_key_order() -> None:
    doc = _doc()
    assert content_digest(doc) == doc["content_digest"]
    reordered = json.loads(json.dumps(doc, sort_keys=False))
    assert content_digest(dict(reversed(list(reordered.items())))) == doc["content_digest"]
    doc["contracts"][0]["gates"][0]["status"] = "failed"
    assert content_digest(doc) != doc["content_digest"]


def test_serialisation_is_sorted_indented_utf8_and_writes_non_finite_numbers_as_strings() -> None:
    assert dumps({"b": "é", "a": 1}) == '{\n  "a": 1,\n  "b": "é"\n}\n'
    # JSON has no NaN or infinity; a contract param may still hold one: written as the ledger writes it
    written = dumps({"x": [float("nan"), float("inf"), -float("inf"), 1.5]})
    assert json.loads(written) == {"x": ["nan", "inf", "-inf", 1.5]}
    doc = {"a": float("inf")}
    assert content_digest(doc) == content_digest(json.loads(dumps(doc)))  # digested as written


def test_in_toto_round_trip() -> None:
    doc = _doc()
    statement = to_in_toto(doc)
    assert statement["subject"] == [{"name": "contracts/x.yaml", "digest": {"sha256": "ab" * 32}}]
    read = unwrap(statement)
    assert (read.doc, read.statement, read.form) == (doc, statement, "in-toto")
    read = unwrap(doc)
    assert (read.doc, read.statement, read.form) == (doc, None, "bare")


def test_a_failed_write_leaves_the_previous_evidence_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out" / "evidence.json"
    write_evidence(target, _doc())
    good = target.read_bytes()

    def crash(fd: int) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", crash)  # the crash lands after the new bytes were written to the temp file
    changed = _doc()
    changed["contracts"] = []
    with pytest.raises(OSError):
        write_evidence(target, changed)
    assert target.read_bytes() == good
    assert sorted(p.name for p in target.parent.iterdir()) == ["evidence.json"]  # no temp file left behind
