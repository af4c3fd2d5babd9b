"""Forging evidence, as a hostile reviewer would, and what `pv verify` says about each forgery.

Every forgery here re-seals what it changed (record digests, the content digest), as anyone who can
write the file can. What cannot be forged consistently is caught as *inconsistent*; the one forgery that
is entirely consistent (an outcome flipped with everything that follows from it) is caught only by a
signature: :func:`test_a_consistent_forgery_passes_without_a_signature_and_fails_with_one`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pvcontracts.evidence.evidence import content_digest, gate_counts, gate_reason, record_digest, summarise

B = "tests/test_demo.py::test_b"


@pytest.fixture(scope="module")
def failed_checked(tmp_path_factory: pytest.TempPathFactory, evproject_class) -> Path:
    """A project whose gate failed (test_b fails), checked once: out/evidence.json."""
    root = tmp_path_factory.mktemp("forge") / "repo"
    root.mkdir()
    project = evproject_class(root)
    project.tests(b_body="    assert 1 + 1 == 3, 'arithmetic'")
    done = project.check("--reproducible")
    assert done.returncode == 1, done.stdout + done.stderr
    return root


@pytest.fixture
def copy(failed_checked: Path, tmp_path: Path, evproject_class):
    root = tmp_path / "copy"
    shutil.copytree(failed_checked, root)
    return evproject_class.at(root)


def _forge(project, change, *, reseal: bool = True) -> None:
    path = project.root / "out" / "evidence.json"
    doc = json.loads(path.read_text())
    change(doc)
    if reseal:
        for c in doc["contracts"]:
            for g in c["gates"]:
                g["record_digest"] = record_digest(g)
        doc["content_digest"] = content_digest(doc)
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def _gate(doc):
    return doc["contracts"][0]["gates"][0]


def test_a_flipped_summary_is_inconsistent_and_the_page_does_not_say_ready(copy) -> None:
    _forge(copy, lambda d: d["summary"].update(ok=True, blocking_discharged=1, failed=0, discharged=1))
    done = copy.pv("verify", "out/evidence.json")
    assert done.returncode == 1
    assert "inconsistent GATE-DEMO-001" in done.stdout
    assert "the summary does not follow from the records and findings (" in done.stdout
    page = copy.pv("report", "out/evidence.json", "--html", "-").stdout
    assert "Ready" not in page and "Do not trust this evidence" in page


def test_a_dropped_failing_test_is_inconsistent(copy) -> None:
    def drop(doc):
        gate = _gate(doc)
        gate["tests"] = [t for t in gate["tests"] if t["ref"] != B]
        gate["status"], gate["counts"] = "discharged", gate_counts(gate["tests"])
        gate["reason"] = gate_reason("discharged", gate["tests"])
        doc["findings"] = [f for f in doc["findings"] if f["code"] != "PV610"]
        doc["summary"] = summarise(doc["contracts"], doc["findings"], doc["kind"])

    _forge(copy, drop)
    done = copy.pv("verify", "out/evidence.json")
    assert done.returncode == 1
    assert f"{B} is in evidence_discharged_by but not among its tests" in done.stdout
    assert "the run mutation-checked its gates but this one has no mutation record" in done.stdout


def _flip_to_passed(doc) -> None:
    """The forgery nothing inside the file can catch: B passed, and everything that follows from that."""
    from pvcontracts.evidence.mutation_plan import summarise_record

    gate = _gate(doc)
    test = next(t for t in gate["tests"] if t["ref"] == B)
    test["outcome"], test["message"] = "passed", None
    for i in test["instances"]:
        i["outcome"], i["message"] = "passed", None
    gate["mutation"] = summarise_record([{
        "id": "INV-DEMO-001/M1", "invariant": "INV-DEMO-001", "operator": "negate-check", "where": "check",
        "from": "isfinite(loss)", "to": "not (isfinite(loss))", "outcome": "killed",
        "killed_by": "tests/test_demo.py::test_a"}])
    gate["status"], gate["counts"] = "discharged", gate_counts(gate["tests"])
    gate["reason"] = gate_reason("discharged", gate["tests"], gate["mutation"])
    doc["findings"] = [f for f in doc["findings"] if f["code"] != "PV610"]
    doc["summary"] = summarise(doc["contracts"], doc["findings"], doc["kind"])


def test_a_consistent_forgery_passes_without_a_signature_and_fails_with_one(copy, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    (tmp_path / "k.pub").write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
    # Unsigned: the forgery is consistent with itself, and a digest can show nothing more.
    _forge(copy, _flip_to_passed)
    unsigned = copy.pv("verify", "out/evidence.json")
    assert unsigned.returncode == 0, unsigned.stdout
    assert "valid        GATE-DEMO-001" in unsigned.stdout and "not signed" in unsigned.stdout
    # Signed: take the real (failed) evidence again, signed; forge its payload; the signature catches it.
    done = copy.check("--reproducible", "--sign", str(tmp_path / "k.pem"))
    assert done.returncode == 1
    path = copy.root / "out" / "evidence.json"
    envelope = json.loads(path.read_text())
    import base64

    statement = json.loads(base64.b64decode(envelope["payload"]))
    _flip_to_passed(statement["predicate"])
    for g in statement["predicate"]["contracts"][0]["gates"]:
        g["record_digest"] = record_digest(g)
    statement["predicate"]["content_digest"] = content_digest(statement["predicate"])
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    path.write_text(json.dumps(envelope))
    assert copy.pv("verify", "out/evidence.json").returncode == 0  # consistent, and nobody asked who signed it
    signed = copy.pv("verify", "out/evidence.json", "--key", str(tmp_path / "k.pub"))
    assert signed.returncode == 1
    assert "tampered     GATE-DEMO-001" in signed.stdout and "error[PV634]" in signed.stdout


# --------------------------------------------------------------------------- what evidence may name


def _name_input(copy, path: str) -> None:
    _forge(copy, lambda d: _gate(d)["inputs"]["files"].update({path: "sha256:" + "0" * 64}))


def _verify_quickly(copy, *args: str) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    done = copy.pv("verify", *args, timeout=60)
    assert time.monotonic() - started < 60
    return done


@pytest.mark.parametrize("target", ["fifo", "dev-zero-link", "passwd-link", "dotdot", "absolute", "dev-zero"])
def test_inputs_that_are_not_regular_files_inside_the_repository_are_refused_never_read(copy, target) -> None:
    tests = copy.root / "tests"
    named = {"fifo": "tests/pipe.py", "dev-zero-link": "tests/zero.py", "passwd-link": "tests/passwd.py",
             "dotdot": "tests/../../../etc/passwd", "absolute": "/etc/passwd", "dev-zero": "/dev/zero"}[target]
    if target == "fifo":
        os.mkfifo(tests / "pipe.py")  # no writer: a blocking open would wait forever
    elif target == "dev-zero-link":
        os.symlink("/dev/zero", tests / "zero.py")  # reading it would never end
    elif target == "passwd-link":
        os.symlink("/etc/passwd", tests / "passwd.py")
    _name_input(copy, named)
    done = _verify_quickly(copy, "out/evidence.json")
    assert done.returncode == 1
    assert f"error[PV633]: the evidence names {named}, which it may not" in done.stdout
    assert "inconsistent GATE-DEMO-001" in done.stdout


def test_a_contract_path_out_of_the_repository_is_refused(copy) -> None:
    _forge(copy, lambda d: d["contracts"][0].update(file="../../../../etc/passwd"))
    done = _verify_quickly(copy, "out/evidence.json")
    assert done.returncode == 1 and "error[PV633]: the evidence names ../../../../etc/passwd" in done.stdout


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_an_evidence_file_that_is_a_fifo_or_a_device_is_a_usage_error_not_a_hang(copy, kind) -> None:
    path = "/dev/zero"
    if kind == "fifo":
        os.mkfifo(copy.root / "out" / "pipe.json")
        path = "out/pipe.json"
    done = _verify_quickly(copy, path)
    assert done.returncode == 2 and "not a regular file" in done.stderr


# --------------------------------------------------------------------------- what the tests import


HELPER_TEST = '''\
from pathlib import Path

import pytest

import demo_helper
from pvcontracts.contract.compiled import compile_invariant
from pvcontracts.contract.loading import load_contract_file


@pytest.mark.discharges(gate="GATE-DEMO-001")
def test_a():
    contract = load_contract_file(Path(__file__).resolve().parents[1] / "contracts" / "demo-v1.yaml").contract
    inv = compile_invariant(contract, contract.invariants[0])
    assert inv.evaluate({"loss": demo_helper.A_LOSS}).holds is True
    assert inv.evaluate({"loss": float("nan")}).holds is False


@pytest.mark.discharges(gate="GATE-DEMO-001")
def test_b(limit):
    assert limit > 0
'''


def test_a_changed_helper_module_or_conftest_makes_the_gate_stale(evproject) -> None:
    evproject.write("tests/test_demo.py", HELPER_TEST)
    evproject.write("tests/demo_helper.py", "A_LOSS = 1.0\n")
    evproject.write("tests/conftest.py", "import pytest\n\n\n@pytest.fixture\ndef limit():\n    return 3\n")
    assert evproject.check().returncode == 0
    gate = evproject.gate(evproject.evidence())
    assert sorted(gate["inputs"]["imports"]) == ["tests/conftest.py", "tests/demo_helper.py"]
    assert evproject.pv("verify", "out/evidence.json").returncode == 0
    # a change that would make a re-check fail: the helper now hands the test a NaN loss
    evproject.write("tests/demo_helper.py", "A_LOSS = float('nan')\n")
    done = evproject.pv("verify", "out/evidence.json")
    assert done.returncode == 1
    assert "stale: tests/demo_helper.py (imported by its tests) changed" in done.stdout
    evproject.write("tests/demo_helper.py", "A_LOSS = 1.0\n")
    evproject.write("tests/conftest.py", "import pytest\n\n\n@pytest.fixture\ndef limit():\n    return -3\n")
    done = evproject.pv("verify", "out/evidence.json")
    assert "stale: tests/conftest.py (imported by its tests) changed" in done.stdout


@pytest.mark.parametrize("reseal", [True, False], ids=["resealed", "as-is"])
def test_evidence_with_its_contracts_removed_is_not_valid(copy, reseal: bool) -> None:
    def empty(doc):
        doc["contracts"] = []
        doc["summary"] = summarise(doc["contracts"], doc["findings"], doc["kind"])

    _forge(copy, empty, reseal=reseal)
    done = copy.pv("verify", "out/evidence.json")
    assert done.returncode == 1
    assert "error[PV631]: the evidence is inconsistent: " in done.stdout
    assert ("it records no gate at all" if reseal else "does not match its content_digest") in done.stdout


def test_evidence_without_gates_is_not_rendered_as_ready(copy) -> None:
    _forge(copy, lambda d: (d.update(contracts=[]), d.update(summary=summarise([], d["findings"], d["kind"]))))
    done = copy.pv("report", "out/evidence.json", "--html", "-")
    assert done.returncode == 1 and "Ready" not in done.stdout
    assert "records no gate: it is not what pv check wrote" in done.stderr
