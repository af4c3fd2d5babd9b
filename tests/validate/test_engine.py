"""`validate_paths`: discovery, hostile files on disk, ordering, counts, strictness and the warm cache."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from pvcontracts.diagnostic import Severity
from pvcontracts.validate.engine import ValidateOptions, validate_paths

DATA = Path(__file__).resolve().parents[1] / "data"
INVALID = DATA / "invalid"


def codes(report) -> list[str]:
    return [d.code for d in report.diagnostics]


def where(report) -> list[tuple[str, str, int, int]]:
    return [(d.file, d.code, d.line, d.column) for d in report.diagnostics]


class TestDiscovery:
    def test_yaml_and_yml_are_found_hidden_ones_are_not(self, project, minimal_contract) -> None:
        project.write("alpha.yaml", minimal_contract("alpha", "A"))
        (project.contracts / "nested").mkdir()
        (project.contracts / "nested" / "beta.yml").write_text(minimal_contract("beta", "B"))
        (project.contracts / ".hidden").mkdir()
        (project.contracts / ".hidden" / "gamma.yaml").write_text("not: [even yaml")
        project.write(".dotfile.yaml", "not: [even yaml")
        project.write("notes.txt", "not: [even yaml")
        project.write("README.md", "# not a contract")
        report = project.validate()
        assert report.files == ["contracts/alpha.yaml", "contracts/nested/beta.yml"]
        assert report.diagnostics == [] and report.ok

    def test_an_empty_directory_is_not_a_pass(self, project) -> None:
        report = project.validate()
        assert codes(report) == ["PV010"]
        assert report.nothing_to_validate and not report.ok

    def test_a_missing_path(self, project) -> None:
        report = project.validate("nowhere")
        assert where(report) == [("nowhere", "PV010", 0, 0)]
        assert not report.ok

    def test_an_explicit_file_is_validated_whatever_its_name(self, project, minimal_contract) -> None:
        path = project.root / "odd.txt"
        path.write_text(minimal_contract("odd"))
        assert project.validate("odd.txt").diagnostics == []

    @pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
    def test_a_fifo_is_refused_without_hanging(self, project, minimal_contract) -> None:
        project.write("good.yaml", minimal_contract("good"))
        os.mkfifo(project.contracts / "pipe.yaml")
        reports: list = []
        worker = threading.Thread(target=lambda: reports.extend([project.validate(), project.validate("contracts/pipe.yaml")]),
                                  daemon=True)
        worker.start()
        worker.join(10)
        assert not worker.is_alive(), "validate hung on a FIFO"
        in_dir, explicit = reports
        assert where(in_dir) == [("contracts/pipe.yaml", "PV001", 0, 0)]
        assert where(explicit) == [("contracts/pipe.yaml", "PV001", 0, 0)]
        assert explicit.diagnostics[0].message == "not a regular file"

    def test_a_directory_named_like_a_contract_is_searched_not_read(self, project, minimal_contract) -> None:
        (project.contracts / "folder.yaml").mkdir()
        (project.contracts / "folder.yaml" / "inner.yaml").write_text(minimal_contract("inner"))
        report = project.validate()
        assert report.files == ["contracts/folder.yaml/inner.yaml"] and report.diagnostics == []

    def test_a_dangling_link(self, project, minimal_contract) -> None:
        (project.contracts / "gone.yaml").symlink_to(project.root / "nowhere.yaml")
        assert where(project.validate()) == [("contracts/gone.yaml", "PV001", 0, 0)]

    def test_size_limit(self, project, minimal_contract) -> None:
        text = minimal_contract("big")
        project.write("big.yaml", text + "#" * 2000 + "\n")
        report = project.validate(max_bytes=1000)
        assert where(report) == [("contracts/big.yaml", "PV001", 0, 0)]
        assert "over the limit of 1000" in report.diagnostics[0].message
        assert project.validate(max_bytes=1 << 20).diagnostics == []


class TestReport:
    def test_diagnostics_are_sorted_and_unique(self, project) -> None:
        for name in ("pv405-unknown-name.yaml", "pv409-param-declaration.yaml", "pv210-duplicate-reference.yaml",
                     "pv004-duplicate-nested-key.yaml", "pv102-missing-field.yaml"):
            project.copy_in(INVALID / name)
        report = project.validate()
        keys = [d.sort_key for d in report.diagnostics]
        assert keys == sorted(keys) and len(set(report.diagnostics)) == len(report.diagnostics)
        assert {d.file for d in report.diagnostics} == {
            "contracts/pv405-unknown-name.yaml", "contracts/pv409-param-declaration.yaml",
            "contracts/pv210-duplicate-reference.yaml", "contracts/pv004-duplicate-nested-key.yaml",
            "contracts/pv102-missing-field.yaml"}

    def test_the_same_input_gives_the_same_report(self, project) -> None:
        for fixture in sorted(INVALID.glob("pv4*.yaml")):
            project.copy_in(fixture)
        first = [d.to_dict() for d in project.validate().diagnostics]
        second = [d.to_dict() for d in project.validate().diagnostics]
        assert first == second and first

    def test_counts(self, project) -> None:
        project.copy_in(DATA / "valid" / "full-featured.yaml", INVALID / "pv205-uncovered-invariant.yaml",
                        INVALID / "pv003-tab-indent.yaml")
        report = project.validate()
        counts = report.counts.to_dict()
        assert counts == {"contracts": 3, "invariants": 5 + 2, "gates": 2 + 1, "falsifiers": 1,
                          "tests": 2 + 1 + 1, "errors": 1, "warnings": 1}
        assert not report.ok

    def test_a_schema_error_hides_no_other_problem_and_the_contract_is_counted(self, project, minimal_contract) -> None:
        project.copy_in(INVALID / "all-errors-at-once.yaml")
        project.write("fine.yaml", minimal_contract("fine", "F"))
        report = project.validate()
        assert codes(report) == ["PV501", "PV206", "PV101", "PV405", "PV104", "PV204", "PV304"]
        # the invariant whose own field is wrong did not load; everything else of the file did
        assert report.counts.to_dict() == {"contracts": 2, "invariants": 1 + 1, "gates": 1 + 1, "falsifiers": 0,
                                           "tests": 1 + 1, "errors": 7, "warnings": 0}
        # a model with errors is never handed on (to `pv check`, say): only the complete one is
        assert [c.id for c in report.contracts] == ["fine"]

    def test_a_reference_to_an_invariant_that_did_not_load_is_not_unknown(self, project, minimal_contract) -> None:
        broken = minimal_contract("broken", "B").replace("at: step_end", "at: step_ending")
        project.write("broken.yaml", broken)
        project.write("user.yaml", minimal_contract("user", "U").replace("[INV-U-001]", "[INV-U-001, INV-B-001]"))
        assert codes(project.validate()) == ["PV104"]

    def test_warnings_alone_pass_unless_strict(self, project) -> None:
        project.copy_in(INVALID / "pv205-uncovered-invariant.yaml")
        relaxed = project.validate()
        assert [(d.code, d.severity) for d in relaxed.diagnostics] == [("PV205", Severity.WARNING)]
        assert relaxed.ok
        strict = project.validate(strict=True)
        assert [(d.code, d.severity) for d in strict.diagnostics] == [("PV205", Severity.ERROR)]
        assert not strict.ok and strict.counts.errors == 1 and strict.counts.warnings == 0

    def test_missing_tests_are_warnings_in_a_draft(self, project, minimal_contract) -> None:
        text = minimal_contract("drafty").replace("status: active", "status: draft").replace(
            "tests/test_x.py::test_ok", "tests/test_later.py::test_not_written_yet")
        project.write("drafty.yaml", text)
        report = project.validate()
        assert [(d.code, d.severity) for d in report.diagnostics] == [("PV303", Severity.WARNING)]
        assert report.ok
        project.write("drafty.yaml", text.replace("status: draft", "status: active"))
        assert [(d.code, d.severity) for d in project.validate().diagnostics] == [("PV303", Severity.ERROR)]

    def test_files_are_named_relative_to_the_working_directory(self, project, minimal_contract, monkeypatch) -> None:
        project.write("pv201-x.yaml", minimal_contract("other"))
        monkeypatch.chdir(project.contracts)
        report = validate_paths([Path(".")], ValidateOptions(root=project.root))
        assert [d.file for d in report.diagnostics] == ["pv201-x.yaml"]


class TestCrossFile:
    def test_a_dependency_on_a_broken_contract_does_not_cascade(self, project, minimal_contract) -> None:
        project.write("broken.yaml", minimal_contract("broken", "B").replace("ship_blocking: true", "ship_blocking: yes"))
        project.write("user.yaml", minimal_contract("user", "U").replace("title: A", "depends_on: [broken]\ntitle: A"))
        assert where(project.validate()) == [("contracts/broken.yaml", "PV005", 16, 20)]

    def test_a_gate_covering_an_invariant_of_a_broken_contract_does_not_cascade(self, project, minimal_contract) -> None:
        project.write("broken.yaml", minimal_contract("broken", "B").replace("ship_blocking: true", "ship_blocking: yes"))
        project.write("user.yaml", minimal_contract("user", "U").replace("[INV-U-001]", "[INV-U-001, INV-B-001]"))
        assert codes(project.validate()) == ["PV005"]

    def test_a_cycle_among_many_is_reported_once(self, project, minimal_contract) -> None:
        for name, dep in [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]:
            project.write(f"{name}.yaml", minimal_contract(name, name.upper()).replace("title: A", f"depends_on: [{dep}]\ntitle: A"))
        report = project.validate()
        assert codes(report) == ["PV207"]
        assert report.diagnostics[0].message == "dependency cycle: a -> b -> c -> a"


class TestCache:
    FIXTURES = ["pv405-scalar-styles.yaml", "pv408-string-literal.yaml", "pv409-param-declaration.yaml",
                "pv502-changelog-order.yaml", "pv004-duplicate-nested-key.yaml", "pv101-unknown-field.yaml",
                "pv203-across-files", "pv207-cycle-of-three", "pv205-uncovered-invariant.yaml",
                "all-errors-at-once.yaml", "pv202-lookalike-ids.yaml", "pv012-bidi-control.yaml"]

    def _copy(self, project, name: str) -> None:
        src = INVALID / name
        project.copy_in(*(sorted(src.iterdir()) if src.is_dir() else [src]))

    @pytest.mark.parametrize("name", FIXTURES)
    def test_a_warm_run_reports_exactly_what_a_cold_run_does(self, project, name: str) -> None:
        self._copy(project, name)
        cache = project.root / ".cache"
        cold = project.validate()
        first = project.validate(cache_dir=cache)
        assert (cache / "validate-cache.json").exists()
        warm = project.validate(cache_dir=cache)  # positions now come from re-reading the file lazily
        assert [d.to_dict() for d in warm.diagnostics] == [d.to_dict() for d in cold.diagnostics]
        assert [d.to_dict() for d in first.diagnostics] == [d.to_dict() for d in cold.diagnostics]
        assert warm.counts == cold.counts

    def test_an_edit_is_seen(self, project, minimal_contract) -> None:
        cache = project.root / ".cache"
        project.write("edited.yaml", minimal_contract("edited"))
        assert project.validate(cache_dir=cache).diagnostics == []
        project.write("edited.yaml", minimal_contract("edited").replace("isfinite(loss)", "isfinite(los)"))
        assert codes(project.validate(cache_dir=cache)) == ["PV405"]
        shutil.rmtree(project.contracts)
        project.contracts.mkdir()
        assert codes(project.validate(cache_dir=cache)) == ["PV010"]

    def test_a_corrupt_cache_is_a_cold_run(self, project, minimal_contract) -> None:
        cache = project.root / ".cache"
        cache.mkdir()
        (cache / "validate-cache.json").write_text("{not json")
        project.write("fine.yaml", minimal_contract("fine"))
        assert project.validate(cache_dir=cache).diagnostics == []
