"""Signed evidence: DSSE envelopes, pv check --sign, pv sign, pv verify --key, and envelopes in pv report/status."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path

import pytest

serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
from cryptography.hazmat.primitives.asymmetric import ec, ed25519  # noqa: E402

from pvcontracts.evidence.dsse import Envelope, decode, pae  # noqa: E402


def _keypair(directory: Path, name: str, kind: str = "ed25519") -> tuple[Path, Path]:
    key = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else ec.generate_private_key(ec.SECP256R1())
    private, public = directory / f"{name}.pem", directory / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def test_pae_is_the_dsse_encoding() -> None:
    # the example of the DSSE protocol document
    assert pae("http://example.com/HelloWorld", b"hello world") == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    envelope = Envelope("application/vnd.in-toto+json", b'{"a": 1}')
    assert decode(envelope.to_json()) == envelope


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    directory = tmp_path_factory.mktemp("keys")
    return {"ed25519": _keypair(directory, "ed"), "ecdsa": _keypair(directory, "ec", "ecdsa"),
            "other": _keypair(directory, "other")}


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, evproject_class, keys) -> Path:
    root = tmp_path_factory.mktemp("signed") / "repo"
    root.mkdir()
    project = evproject_class(root)
    done = project.check("--reproducible", "--sign", str(keys["ed25519"][0]))
    assert done.returncode == 0, done.stdout + done.stderr
    return root


@pytest.fixture
def copy(signed: Path, tmp_path: Path, evproject_class):
    root = tmp_path / "copy"
    shutil.copytree(signed, root)
    return evproject_class.at(root)


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa"])
def test_a_signed_round_trip(copy, keys, kind: str) -> None:
    private, public = keys[kind]
    if kind != "ed25519":
        assert copy.pv("sign", "out/evidence.json", "--key", str(private)).returncode == 0  # a second signature
    envelope = json.loads((copy.root / "out" / "evidence.json").read_text())
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    der = serialization.load_pem_public_key(public.read_bytes()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert hashlib.sha256(der).hexdigest() in [s["keyid"] for s in envelope["signatures"]]
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1" and statement["predicate"]["schema_version"] == 2
    done = copy.pv("verify", "out/evidence.json", "--key", str(public))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid        GATE-DEMO-001" in done.stdout and "signed by key" in done.stdout
    report = json.loads(copy.pv("verify", "out/evidence.json", "--key", str(public), "--format", "json").stdout)
    assert report["signature"]["state"] == "verified" and report["form"] == "dsse"


def test_the_wrong_key_is_tampering(copy, keys) -> None:
    done = copy.pv("verify", "out/evidence.json", "--key", str(keys["other"][1]))
    assert done.returncode == 1
    assert "tampered     GATE-DEMO-001" in done.stdout and "error[PV634]" in done.stdout


def test_one_changed_byte_is_tampering(copy, keys) -> None:
    path = copy.root / "out" / "evidence.json"
    envelope = json.loads(path.read_text())
    payload = bytearray(base64.b64decode(envelope["payload"]))
    at = payload.index(b"Demo contract")
    payload[at] = ord("d")  # one byte of the contract's title, still valid JSON
    envelope["payload"] = base64.b64encode(bytes(payload)).decode()
    path.write_text(json.dumps(envelope))
    done = copy.pv("verify", "out/evidence.json", "--key", str(keys["ed25519"][1]))
    assert done.returncode == 1 and "tampered     GATE-DEMO-001" in done.stdout


def test_without_a_key_a_signature_is_reported_not_checked(copy) -> None:
    done = copy.pv("verify", "out/evidence.json")
    assert done.returncode == 0
    assert "signed by " in done.stdout and "not checked (pass --key)" in done.stdout


def test_key_given_but_no_signature_is_an_error(copy, keys, tmp_path: Path) -> None:
    path = copy.root / "out" / "evidence.json"
    envelope = json.loads(path.read_text())
    envelope["signatures"] = []
    path.write_text(json.dumps(envelope))
    assert copy.pv("verify", "out/evidence.json").returncode == 0  # an unsigned envelope is still evidence
    done = copy.pv("verify", "out/evidence.json", "--key", str(keys["ed25519"][1]))
    assert done.returncode == 1 and "error[PV635]" in done.stdout


def test_the_envelope_goes_through_pv_report_and_pv_status(copy, keys) -> None:
    done = copy.pv("report", "out/evidence.json", "--html", "out/r.html", "--markdown", "out/r.md",
                   "--key", str(keys["ed25519"][1]))
    assert done.returncode == 0, done.stderr
    html = (copy.root / "out" / "r.html").read_text()
    assert "a DSSE envelope around an in-toto Statement" in html and "signed with key" in html
    assert "signed with key" in (copy.root / "out" / "r.md").read_text()
    status = copy.pv("status", "out/evidence.json")
    assert status.returncode == 0 and status.stdout.splitlines()[1].split()[:2] == ["discharged", "GATE-DEMO-001"]
    assert "signed, but the signature was not checked" in status.stdout
    wrong = copy.pv("status", "out/evidence.json", "--key", str(keys["other"][1]))
    assert wrong.returncode == 0 and "tampered" in wrong.stdout.splitlines()[1]


def test_pv_sign_wraps_bare_evidence(evproject, keys) -> None:
    assert evproject.check().returncode == 0
    done = evproject.pv("sign", "out/evidence.json", "--key", str(keys["ecdsa"][0]), "-o", "out/signed.json")
    assert done.returncode == 0 and "signed by key" in done.stdout
    assert evproject.pv("verify", "out/signed.json", "--key", str(keys["ecdsa"][1])).returncode == 0
    assert evproject.pv("verify", "out/evidence.json", "--key", str(keys["ecdsa"][1])).returncode == 1  # bare


@pytest.mark.parametrize("verb", ["sign", "verify"])
def test_a_bad_key_is_a_usage_error(evproject, verb, tmp_path: Path) -> None:
    assert evproject.check().returncode == 0
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    done = evproject.pv(verb, "out/evidence.json", "--key", str(bad))
    assert done.returncode == 2 and "PEM" in done.stderr
    done = evproject.pv(verb, "out/evidence.json", "--key", str(tmp_path / "absent.pem"))
    assert done.returncode == 2 and "cannot read key" in done.stderr


def test_check_refuses_a_bad_signing_key_before_running_anything(evproject, tmp_path: Path) -> None:
    done = evproject.check("--sign", str(tmp_path / "absent.pem"))
    assert done.returncode == 2 and "cannot read key" in done.stderr and "running" not in done.stderr


def test_the_statement_names_the_clean_commit_and_its_predicate_type_is_the_schema(evproject, evidence_schema) -> None:
    import os
    import subprocess

    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=evproject.root, env=env, check=True, capture_output=True,
                              text=True).stdout.strip()

    evproject.write(".gitignore", "out/\n__pycache__/\n.hypothesis/\n")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "contracts and tests")
    head = git("rev-parse", "HEAD")
    assert evproject.check("--in-toto").returncode == 0
    statement = evproject.evidence()
    assert statement["predicateType"] == evidence_schema["$id"]
    assert {"name": "git+commit", "digest": {"gitCommit": head}} in statement["subject"]
    assert statement["predicate"]["source"]["git"] == {"commit": head, "dirty": False}
    assert evproject.pv("verify", "out/evidence.json").returncode == 0
    # a statement that claims another commit than its predicate says is inconsistent
    statement["subject"][-1]["digest"]["gitCommit"] = "0" * 40
    evproject.write("out/evidence.json", json.dumps(statement))
    done = evproject.pv("verify", "out/evidence.json")
    assert done.returncode == 1 and "in-toto subjects do not match the contracts and commit" in done.stdout
    # evidence taken from a dirty tree names no commit: it is not evidence for the commit
    evproject.write("tests/untracked_helper.py", "X = 1\n")
    assert evproject.check("--in-toto").returncode == 0
    statement = evproject.evidence()
    assert statement["predicate"]["source"]["git"]["dirty"] is True
    assert not any(s["name"] == "git+commit" for s in statement["subject"])
