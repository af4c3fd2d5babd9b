"""Digests that tie evidence to exactly what it covers.

* a contract's ``digest`` is the SHA-256 of its file's bytes (what in-toto
  subjects name); its ``fingerprint`` is the digest of the parsed document, so
  comments and formatting do not count;
* an invariant's, gate's and falsifier's ``fingerprint`` is the digest of its
  normalised body: every field, defaults filled in (``on_violation: abort``),
  expressions compared by their parsed form so ``a<=b`` and ``a <= b`` agree;
* a contract's ``context`` fingerprint covers what invariants read besides
  their own text: the declared ``params`` (ranges, defaults) and ``metrics``;
* a test file's digest is the SHA-256 of its bytes.

A gate's evidence is stale when any of these that it rests on changed, even
if nobody bumped the contract's version. Every digest is ``sha256:<hex>``.
"""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path
from typing import Any

from pvcontracts.contract.model import Contract, Falsifier, Gate, Invariant
from pvcontracts.util.jsonsafe import finite  # evidence writes NaN and infinities as the ledger does


def canonical_json(value: Any) -> bytes:
    """One byte string per value: sorted keys, no spaces, UTF-8; the input of every digest."""
    return json.dumps(finite(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                      default=str).encode("utf-8")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest_value(value: Any) -> str:
    return sha256(canonical_json(value))


def file_digest(path: Path) -> str | None:
    """The digest of a file's bytes, None when it cannot be read (missing, a directory)."""
    try:
        return sha256(Path(path).read_bytes())
    except OSError:
        return None


def normalise_expression(text: str | None) -> str | None:
    """An expression's parsed form, so whitespace and redundant parentheses do not count as a change."""
    if text is None:
        return None
    try:
        return ast.dump(ast.parse(text.strip(), mode="eval"))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return text.strip()


def invariant_body(inv: Invariant) -> dict[str, Any]:
    lets: dict[str, Any] = {}
    for name, let in inv.lets.items():
        if let.by_regime is None:
            lets[name] = normalise_expression(let.value)
        else:
            lets[name] = {k: normalise_expression(v) for k, v in let.by_regime.items()}
    return {"id": inv.id, "title": inv.title, "description": inv.description, "at": inv.at,
            "when": normalise_expression(inv.when), "check": normalise_expression(inv.check), "let": lets,
            "on_violation": inv.on_violation}


def gate_body(gate: Gate) -> dict[str, Any]:
    return {"id": gate.id, "title": gate.title, "description": gate.description, "invariants": list(gate.invariants),
            "ship_blocking": gate.ship_blocking, "evidence_discharged_by": list(gate.evidence)}


def falsifier_body(f: Falsifier) -> dict[str, Any]:
    return {"id": f.id, "invariant": f.invariant, "prediction": f.prediction, "if_fails": f.if_fails, "test": f.test}


def invariant_fingerprint(inv: Invariant) -> str:
    return digest_value(invariant_body(inv))


def gate_fingerprint(gate: Gate) -> str:
    return digest_value(gate_body(gate))


def falsifier_fingerprint(f: Falsifier) -> str:
    return digest_value(falsifier_body(f))


def context_fingerprint(contract: Contract) -> str:
    return digest_value({"params": contract.data.get("params") or {}, "metrics": contract.data.get("metrics") or {}})


def contract_fingerprint(contract: Contract) -> str:
    return digest_value(contract.data)
