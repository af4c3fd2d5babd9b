"""``tools/bench/validate.py``: the benchmark runs and its corpus is valid; the warm cache it relies on is exact.

No timing is asserted (a loaded CI machine must not fail a build over timings).
What is asserted is that the benchmark is *valid*: it prints its table and both
ratio lines, its corpus validates with zero errors and pytest collects every
test the corpus names, `pv` does not import torch, and a broken corpus fails
the benchmark instead of being timed.

The second half guards the engine optimisations the benchmark measures: a
cold run keeps no YAML node trees (positions come from a re-parse on demand),
and a warm run reuses a contract's saved test-reference results only while
every test file they read is byte-for-byte the same, under the same root.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pvcontracts.validate import testrefs
from pvcontracts.validate.engine import ValidateOptions, validate_paths

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "tools" / "bench"


def _load(name: str):
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- the benchmark itself


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    keep = tmp_path_factory.mktemp("bench") / "corpus"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "validate.py"), "--contracts", "20", "--repeat", "1", "--startup-runs", "2",
         "--check-pytest", "--keep", str(keep)],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    return proc, keep


def test_the_benchmark_runs_and_prints_its_ratios(bench_run) -> None:
    proc, _ = bench_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert re.search(r"^ratio cold/baseline: \d+\.\d\dx \(goal <= 1\.5x\): (PASS|FAIL)$", out, re.M), out
    assert re.search(r"^ratio warm/cold: \d+\.\d\dx \(goal <= 0\.2x\): (PASS|FAIL)$", out, re.M), out
    header = next(line for line in out.splitlines() if line.startswith("| files"))
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "files", "total MB", "baseline s", "cold s", "ratio", "warm s", "warm/cold", "goal"]
    row = out.splitlines()[out.splitlines().index(header) + 2]
    assert row.strip("|").split("|")[0].strip() == "20"


def test_the_corpus_validates_with_zero_errors_and_pytest_collects_its_tests(bench_run) -> None:
    proc, _ = bench_run
    assert "pv validate: 20 contracts, 400 invariants, 400 gates" in proc.stdout
    assert re.search(r"test references; 0 errors, 0 warnings", proc.stdout), proc.stdout
    assert re.search(r"^pytest collects all \d+ distinct test references of the corpus$", proc.stdout, re.M)


def test_pv_does_not_import_torch(bench_run) -> None:
    proc, _ = bench_run
    line = next(line for line in proc.stdout.splitlines() if line.startswith("pv --version:"))
    assert re.match(r"pv --version: median \d+ ms over 2 runs", line)
    assert "torch imported by --version: no, by validate: no" in line


def test_keep_leaves_the_corpus_where_asked(bench_run) -> None:
    _, keep = bench_run
    assert len(list((keep / "contracts").glob("bench-*-v1.yaml"))) == 20
    assert (keep / "tests" / "bench_7" / "test_contract_7.py").is_file()


def test_the_corpus_is_varied_and_deterministic(tmp_path: Path) -> None:
    corpus_mod = _load("validate_corpus")
    a = corpus_mod.build_corpus(tmp_path / "a", 12)
    b = corpus_mod.build_corpus(tmp_path / "b", 12)
    texts = [p.read_text("utf-8") for p in a.files]
    assert texts == [p.read_text("utf-8") for p in b.files]
    assert len(set(texts)) == 12
    assert all(6_000 < len(t) < 16_000 for t in texts)  # "about 10 KB"
    checks = set(re.findall(r'^    check: (".*")$', "".join(texts), re.M))
    assert len(checks) > 100  # expressions differ, not one contract copied
    ids = re.findall(r"^  - id: ((?:INV|GATE|FALSIFY)-\S+)$", "".join(texts), re.M)
    assert len(ids) == len(set(ids)) and sum(i.startswith("INV-B") for i in ids) == 12 * 20


def test_a_broken_corpus_fails_the_benchmark(tmp_path: Path) -> None:
    bench = _load("validate")
    corpus = bench.build_corpus(tmp_path / "corpus", 3)
    first = corpus.files[0]
    first.write_text(first.read_text("utf-8").replace("check: ", "check: not_a_metric + ", 1), "utf-8")
    with pytest.raises(bench.BenchError, match="does not validate"):
        bench.run_rounds(corpus, tmp_path / "work", repeat=1)


# --------------------------------------------------------------------------- what the optimisations must keep


GATE_WITH = """\
schema_version: 1
id: {id}
version: 1.0.0
status: {status}
title: A contract naming tests
changelog:
  - {{version: 1.0.0, date: 2026-01-01, summary: First}}
invariants:
  - id: INV-{area}-001
    title: Loss is finite
    at: step_end
    check: "isfinite(loss)"
gates:
  - id: GATE-{area}-001
    invariants: [INV-{area}-001]
    ship_blocking: true
    evidence_discharged_by:
{refs}
"""


def _contract(cid: str, area: str, *refs: str, status: str = "active") -> str:
    return GATE_WITH.format(id=cid, area=area, status=status, refs="\n".join(f"      - {r}" for r in refs))


def _where(report) -> list[tuple]:
    return [(d.file, d.code, d.severity.value, d.line, d.column, d.message) for d in report.diagnostics]


def test_a_cold_run_keeps_no_node_trees_but_still_places_diagnostics(project) -> None:
    project.write("a.yaml", _contract("a", "A", "tests/test_x.py::test_ok", "tests/test_x.py::test_gone"))
    report = project.validate()
    assert _where(report) == [("contracts/a.yaml", "PV304", "error", 19, 9,
                               "test 'test_gone' not found in tests/test_x.py")]
    contract = report.contracts[0]
    assert contract.source is not None and contract.source.position(("id",)) == (2, 5)


def test_warm_test_results_are_reused_only_while_the_test_files_are_unchanged(project, monkeypatch) -> None:
    cache = project.root / ".cache"
    (project.root / "tests" / "test_y.py").write_text(
        "import pytest\n\nclass TestY:\n    @pytest.mark.parametrize('n', [1, 2])\n    def test_n(self, n):\n        pass\n")
    project.write("a.yaml", _contract("a", "A", "tests/test_x.py::test_ok", "tests/test_y.py::TestY::test_n[2]"))
    project.write("b.yaml", _contract("b", "B", "tests/test_y.py::TestY::test_n[3]", status="draft"))
    cold = project.validate()
    assert [(d.file, d.code, d.severity.value) for d in cold.diagnostics] == [("contracts/b.yaml", "PV305", "warning")]
    assert _where(project.validate(cache_dir=cache)) == _where(cold)

    calls: list[str] = []
    real_resolve = testrefs.TestResolver.resolve
    monkeypatch.setattr(testrefs.TestResolver, "resolve", lambda self, ref: calls.append(ref) or real_resolve(self, ref))
    warm = project.validate(cache_dir=cache)
    assert _where(warm) == _where(cold) and warm.counts == cold.counts
    assert calls == []  # nothing changed: no reference was resolved again

    (project.root / "tests" / "test_y.py").write_text("class TestY:\n    def test_n(self):\n        pass\n")
    edited = project.validate(cache_dir=cache)
    assert [(d.file, d.code) for d in edited.diagnostics] == [("contracts/a.yaml", "PV305"), ("contracts/b.yaml", "PV305")]
    assert sorted(set(calls)) == ["tests/test_x.py::test_ok", "tests/test_y.py::TestY::test_n[2]",
                                  "tests/test_y.py::TestY::test_n[3]"]  # both contracts name the edited file
    assert _where(edited) == _where(project.validate())  # the same as a cold run
    calls.clear()
    assert _where(project.validate(cache_dir=cache)) == _where(edited) and calls == []

    (project.root / "tests" / "test_x.py").unlink()
    gone = project.validate(cache_dir=cache)
    assert ("contracts/a.yaml", "PV303") in [(d.file, d.code) for d in gone.diagnostics]
    assert _where(gone) == _where(project.validate())


def test_warm_test_results_are_not_reused_under_another_root(project, tmp_path) -> None:
    cache = tmp_path / "shared-cache"
    project.write("a.yaml", _contract("a", "A", "tests/test_x.py::test_ok"))
    assert project.validate(cache_dir=cache).diagnostics == []
    other = tmp_path / "other-root"
    other.mkdir()
    moved = validate_paths([Path("contracts")], ValidateOptions(root=other, cache_dir=cache))
    assert [d.code for d in moved.diagnostics] == ["PV303"]
    cold = validate_paths([Path("contracts")], ValidateOptions(root=other))
    assert _where(moved) == _where(cold)


def test_a_link_out_of_the_root_is_never_trusted_from_the_cache(project, tmp_path) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text("def test_ok():\n    pass\n")
    (project.root / "tests" / "test_link.py").symlink_to(outside)
    cache = project.root / ".cache"
    project.write("a.yaml", _contract("a", "A", "tests/test_link.py::test_ok", "tests/test_x.py::test_ok"))
    cold = project.validate()
    assert [d.code for d in cold.diagnostics] == ["PV302"]
    for _ in range(2):
        assert _where(project.validate(cache_dir=cache)) == _where(cold)
    (project.root / "tests" / "test_link.py").unlink()
    (project.root / "tests" / "test_link.py").write_text("def test_ok():\n    pass\n")
    assert project.validate(cache_dir=cache).diagnostics == []
