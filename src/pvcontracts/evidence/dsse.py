"""DSSE envelopes (Dead Simple Signing Envelope, v1): the standard wrapper of a signed in-toto statement.

An envelope is ``{"payloadType", "payload", "signatures": [{"keyid", "sig"}]}``
with the payload and each signature in standard base64. A signature is over
the *pre-authentication encoding* (PAE) of the payload type and the payload's
bytes, never over the JSON of the envelope, so re-serialising an envelope
cannot break or forge a signature:

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

(``LEN`` in ASCII decimal, ``SP`` one space). Spec:
https://github.com/secure-systems-lab/dsse/blob/master/protocol.md and
envelope.md. This module only encodes and decodes; :mod:`signing` signs and
verifies with the ``cryptography`` library.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


class EnvelopeError(ValueError):
    """Something that claims to be a DSSE envelope but is not a well-formed one; the message says why."""


@dataclass(frozen=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {"payloadType": self.payload_type, "payload": base64.b64encode(self.payload).decode("ascii"),
                "signatures": [{"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode("ascii")}
                               for s in self.signatures]}


def pae(payload_type: str, payload: bytes) -> bytes:
    """The bytes a DSSE signature is over."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def is_envelope(data: Any) -> bool:
    return isinstance(data, dict) and "payloadType" in data and "payload" in data


def _b64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise EnvelopeError(f"{what} is not a base64 string")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        try:  # DSSE allows URL-safe base64 too
            return base64.urlsafe_b64decode(text.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise EnvelopeError(f"{what} is not valid base64") from None


def decode(data: dict[str, Any]) -> Envelope:
    """A parsed envelope; EnvelopeError for anything malformed."""
    payload_type = data.get("payloadType")
    if not isinstance(payload_type, str):
        raise EnvelopeError("payloadType is not a string")
    payload = _b64(data.get("payload"), "payload")
    signatures = data.get("signatures", [])
    if not isinstance(signatures, list):
        raise EnvelopeError("signatures is not a list")
    out = []
    for i, s in enumerate(signatures):
        if not isinstance(s, dict):
            raise EnvelopeError(f"signatures[{i}] is not an object")
        keyid = s.get("keyid", "")
        if not isinstance(keyid, str):
            raise EnvelopeError(f"signatures[{i}].keyid is not a string")
        out.append(Signature(keyid, _b64(s.get("sig"), f"signatures[{i}].sig")))
    return Envelope(payload_type, payload, tuple(out))
