"""Binding gates to tests and the `discharges` marker cross-check, both directions."""

from __future__ import annotations

from pathlib import Path

from pvcontracts.evidence.binding import Claims, scan_file
from pvcontracts.evidence.results import nodeid_keys, split_nodeid


def test_every_disagreement_between_gates_and_markers_is_a_finding(evproject) -> None:
    text = (evproject.root / "tests" / "test_demo.py").read_text()
    text = text.replace('@pytest.mark.discharges(gate="GATE-DEMO-001")\ndef test_b', "def test_b")  # PV602
    text = text.replace("def test_unbound", '@pytest.mark.discharges(gate="GATE-DEMO-001")\ndef test_unbound')  # PV603
    text += '\n\n@pytest.mark.discharges(gate="GATE-NOPE-001")\ndef test_stranger():\n    pass\n'  # PV601
    text += '\n\n@pytest.mark.discharges()\ndef test_empty_marker():\n    pass\n'  # PV604
    evproject.write("tests/test_demo.py", text)
    evproject.write("tests/elsewhere/test_far.py",  # never run: found by the static scan
                    'import pytest\n\n\n@pytest.mark.discharges(gate="GATE-DEMO-001")\ndef test_far():\n    pass\n')
    done = evproject.check()
    assert done.returncode == 1, done.stdout
    out = done.stdout
    assert ("contracts/demo-v1.yaml:21:9: error[PV602]: GATE-DEMO-001 lists tests/test_demo.py::test_b, "
            "which does not claim it") in out
    assert 'hint: mark the test @pytest.mark.discharges(gate="GATE-DEMO-001")' in out
    assert "tests/test_demo.py:30:1: error[PV603]: tests/test_demo.py::test_unbound claims GATE-DEMO-001, " \
           "which does not list it" in out
    assert "tests/elsewhere/test_far.py:4:1: error[PV603]: tests/elsewhere/test_far.py::test_far claims" in out
    assert "error[PV601]: tests/test_demo.py::test_stranger claims GATE-NOPE-001, which no checked contract" in out
    assert "error[PV604]: tests/test_demo.py::test_empty_marker has a discharges marker without exactly one gate" in out
    doc = evproject.evidence()
    assert evproject.gate(doc)["status"] == "discharged"  # findings do not change what ran
    assert sorted(f["code"] for f in doc["findings"]) == ["PV601", "PV602", "PV603", "PV603", "PV604"]
    assert all(not f["file"].startswith("/") for f in doc["findings"])


def test_cross_check_findings_in_a_draft_contract_are_warnings(evproject) -> None:
    evproject.contract(status="draft")
    evproject.tests(b_decorators="")
    text = (evproject.root / "tests" / "test_demo.py").read_text()
    evproject.write("tests/test_demo.py", text.replace(
        '@pytest.mark.discharges(gate="GATE-DEMO-001")\ndef test_b', "def test_b"))
    done = evproject.check()
    assert done.returncode == 0, done.stdout
    assert "warning[PV602]" in done.stdout


def test_class_marks_reach_the_tests_of_the_class_and_a_class_reference(evproject) -> None:
    evproject.contract(refs=("tests/test_demo.py::test_a", "tests/test_demo.py::TestGroup"))
    text = (evproject.root / "tests" / "test_demo.py").read_text()  # test_a evaluates the contract
    text = text.replace('@pytest.mark.discharges(gate="GATE-DEMO-001")\ndef test_b', "def test_b")
    evproject.write("tests/test_demo.py", text + (
        "\n\n@pytest.mark.discharges(gate='GATE-DEMO-001')\nclass TestGroup:\n"
        "    def test_one(self):\n        assert 1\n\n    def test_two(self):\n        assert 2\n"))
    done = evproject.check()
    assert done.returncode == 0, done.stdout
    entry = evproject.test(evproject.gate(evproject.evidence()), "tests/test_demo.py::TestGroup")
    assert [i["node_id"] for i in entry["instances"]] == ["tests/test_demo.py::TestGroup::test_one",
                                                          "tests/test_demo.py::TestGroup::test_two"]


# --------------------------------------------------------------------------- static scan and node ids


def _scan(source: str) -> Claims:
    claims = Claims()
    scan_file(source.encode(), "t/test_x.py", claims)
    return claims


def test_static_scan_reads_decorators_pytestmark_and_class_marks() -> None:
    claims = _scan(
        "import pytest\nfrom pytest import mark\n"
        "pytestmark = [pytest.mark.discharges(gate='GATE-M-001'), pytest.mark.slow]\n"
        "def helper():\n    pass\n"
        "@mark.discharges('GATE-F-001')\ndef test_f():\n    pass\n"
        "@pytest.mark.discharges(gate='GATE-C-001')\nclass TestC:\n"
        "    pytestmark = pytest.mark.discharges(gate='GATE-B-001')\n"
        "    def test_m(self):\n        pass\n"
        "    def _helper(self):\n        pass\n")
    assert claims.gates["t/test_x.py::test_f"] == {"GATE-F-001", "GATE-M-001"}
    assert claims.gates["t/test_x.py::TestC::test_m"] == {"GATE-M-001", "GATE-C-001", "GATE-B-001"}
    assert "t/test_x.py::helper" not in claims.gates  # module marks reach tests only
    assert "t/test_x.py::TestC::_helper" not in claims.gates
    assert "t/test_x.py::TestC" in claims.classes
    assert claims.where["t/test_x.py::test_f"] == ("t/test_x.py", 6)


def test_static_scan_reports_malformed_markers_and_skips_files_without_any() -> None:
    claims = _scan("import pytest\n@pytest.mark.discharges(gate=GATE)\ndef test_a():\n    pass\n"
                   "@pytest.mark.discharges(gate='G', extra=1)\ndef test_b():\n    pass\n")
    assert claims.bad == {"t/test_x.py::test_a": ["pytest.mark.discharges(gate=GATE)"],
                          "t/test_x.py::test_b": ["pytest.mark.discharges(gate='G', extra=1)"]}
    assert _scan("def test_a(:\n    discharges").gates == {}  # unparsable: pv validate reports it
    assert _scan("def test_a():\n    pass\n").gates == {}


def test_node_id_keys_select_parametrized_instances_and_enclosing_classes() -> None:
    assert nodeid_keys("f.py::C::t[a::b]") == ["f.py::C::t[a::b]", "f.py::C::t", "f.py::C"]
    assert nodeid_keys("d/f.py::t") == ["d/f.py::t"]
    assert split_nodeid("f.py::t[x[1]]") == ("f.py::t", "x[1]")
    assert split_nodeid("f.py") == ("f.py", None)


def test_binding_covers_falsifiers_of_the_gate_invariants(tmp_path: Path, evproject) -> None:
    from pvcontracts.contract.loading import load_contract_file
    from pvcontracts.evidence.binding import bind

    contract = load_contract_file(evproject.root / "contracts" / "demo-v1.yaml").contract
    binding = bind([contract], evproject.root)
    (gb,) = binding.gates
    assert gb.bound == ["tests/test_demo.py::test_a", "tests/test_demo.py::test_b"]
    assert [f.id for _, f in gb.falsifiers] == ["FALSIFY-DEMO-001"]
    assert binding.selectors(falsifiers_only=True) == ["tests/test_falsify.py::test_property"]
    assert binding.files() == ["tests/test_demo.py", "tests/test_falsify.py"]
    assert all(tb.file_digest.startswith("sha256:") for tb in binding.tests.values())
