"""Signing evidence: a DSSE envelope around the in-toto statement, with a local ed25519 or ECDSA key.

The digests inside evidence prove only that a file agrees with itself: anyone
who can write the file can recompute them. A signature proves who wrote it.
``pv check --sign KEY`` and ``pv sign EVIDENCE --key KEY`` sign with a PEM
private key (Ed25519, or ECDSA on P-256/P-384/P-521 with SHA-256/384/512);
``pv verify --key PUB`` checks the envelope against a PEM public key before
anything else. Make a key pair with OpenSSL::

    openssl genpkey -algorithm ed25519 -out pv-signing.pem
    openssl pkey -in pv-signing.pem -pubout -out pv-signing.pub

The crypto is the ``cryptography`` library's (optional extra ``sign``); it is
imported only when a key is used. A key id is the SHA-256 of the public key's
DER SubjectPublicKeyInfo, in hex, so the same key always has the same id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pvcontracts.evidence.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope, Signature, pae

_HASHES = {"secp256r1": "SHA256", "secp384r1": "SHA384", "secp521r1": "SHA512"}
MAX_KEY_BYTES = 64 * 1024


class SigningError(Exception):
    """A key that cannot be used, or signing that is not available; the message says what to do."""


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        raise SigningError("signing needs the 'cryptography' package: pip install 'pv-contracts[sign]'") from None
    return serialization


def _read_key(path: Path) -> bytes:
    from pvcontracts.evidence.safefile import Gone, Refused, read_file

    try:
        return read_file(Path(path), MAX_KEY_BYTES)
    except (Refused, Gone) as exc:
        raise SigningError(f"cannot read key {path}: {exc}") from None


def _public_der(public_key: Any) -> bytes:
    serialization = _crypto()
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(public_key: Any) -> str:
    return hashlib.sha256(_public_der(public_key)).hexdigest()


def _check_kind(key: Any, path: Path) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return "ed25519"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        if key.curve.name not in _HASHES:
            raise SigningError(f"{path}: ECDSA curve {key.curve.name} is not supported (use P-256, P-384 or P-521)")
        return "ecdsa"
    raise SigningError(f"{path} is not an Ed25519 or ECDSA key")


def load_private_key(path: Path) -> Any:
    serialization = _crypto()
    raw = _read_key(path)
    try:
        key = serialization.load_pem_private_key(raw, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    _check_kind(key, path)
    return key


def load_public_key(path: Path) -> Any:
    serialization = _crypto()
    raw = _read_key(path)
    try:
        key = serialization.load_pem_public_key(raw)
    except (ValueError, TypeError):
        try:  # a private key names its public half too
            key = serialization.load_pem_private_key(raw, password=None).public_key()
        except (ValueError, TypeError) as exc:
            raise SigningError(f"{path} is not a PEM public key: {exc}") from None
    _check_kind(key, path)
    return key


def _sign_bytes(key: Any, data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(getattr(hashes, _HASHES[key.curve.name])()))
    return key.sign(data)


def _verify_bytes(key: Any, sig: bytes, data: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, data, ec.ECDSA(getattr(hashes, _HASHES[key.curve.name])()))
        else:
            key.verify(sig, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def sign_statement(statement_bytes: bytes, key: Any) -> Envelope:
    """A DSSE envelope of the statement's exact bytes, signed with ``key``."""
    sig = _sign_bytes(key, pae(IN_TOTO_PAYLOAD_TYPE, statement_bytes))
    return Envelope(IN_TOTO_PAYLOAD_TYPE, statement_bytes, (Signature(key_id(key.public_key()), sig),))


@dataclass(frozen=True)
class SignatureCheck:
    """What checking an envelope's signatures against one public key found."""

    ok: bool
    key_id: str
    reason: str


def verify_envelope(envelope: Envelope, public_key: Any) -> SignatureCheck:
    kid = key_id(public_key)
    if not envelope.signatures:
        return SignatureCheck(False, kid, "the envelope carries no signature")
    data = pae(envelope.payload_type, envelope.payload)
    # Try every signature (a key id is a hint, not a proof): one made by this key over these bytes suffices.
    for s in envelope.signatures:
        if _verify_bytes(public_key, s.sig, data):
            return SignatureCheck(True, kid, f"signed by key {kid[:16]}")
    ids = ", ".join(sorted({s.keyid[:16] or "(no key id)" for s in envelope.signatures}))
    return SignatureCheck(False, kid, f"no signature verifies with key {kid[:16]} (signatures by {ids}): the payload "
                          "was changed after signing, or another key signed it")


def sign_file(evidence: Path, key_path: Path, output: Path) -> str:
    """Sign an evidence file (bare, in-toto, or an envelope that gets one more signature); returns the key id.

    The envelope's payload is the statement's exact bytes: an in-toto file is signed as it is, bare
    evidence is wrapped first, and an envelope keeps its payload (a signature by the same key is replaced).
    """
    from pvcontracts.evidence.evidence import (SCHEMA_VERSION, NotEvidence, dumps, load_bytes, statement_bytes)
    from pvcontracts.evidence.safefile import Gone, Refused, read_file
    from pvcontracts.util.atomic import write_text_atomic

    key = load_private_key(key_path)
    try:
        raw = read_file(Path(evidence))
        unwrapped = load_bytes(raw)
    except (Refused, Gone, NotEvidence) as exc:
        raise SigningError(f"cannot sign {evidence}: {exc}") from None
    doc = unwrapped.doc
    if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA_VERSION:
        raise SigningError(f"{evidence} is not pv-contracts evidence (schema_version {SCHEMA_VERSION})")
    kid = key_id(key.public_key())
    if unwrapped.envelope is not None:
        payload = unwrapped.envelope.payload
        others = tuple(s for s in unwrapped.envelope.signatures if s.keyid != kid)
    else:
        payload = raw if unwrapped.statement is not None else statement_bytes(doc)
        others = ()
    signed = sign_statement(payload, key)
    envelope = Envelope(signed.payload_type, signed.payload, others + signed.signatures)
    try:
        write_text_atomic(Path(output), dumps(envelope.to_json()))
    except OSError as exc:
        raise SigningError(f"cannot write {output}: {exc.strerror or exc}") from None
    return kid
