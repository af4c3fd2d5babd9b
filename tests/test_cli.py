"""The real `pv` program, driven as a user drives it: a subprocess on a fixture project.

Each test builds a small project in tmp_path (a contract plus the test file its
gates name) and checks exit codes, the compiler-style text, the JSON report, the
--output file and the start-up promises (no torch, no PyYAML for --version).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import pvcontracts

REPO = Path(__file__).resolve().parents[1]
_SCRIPT = Path(sys.executable).with_name("pv")
# The installed console script when there is one; `python -m pvcontracts` is the same program.
PV = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pvcontracts"]

GOOD = textwrap.dedent("""\
    schema_version: 1
    id: demo-v1
    version: 1.0.0
    status: active
    title: Demo contract
    changelog:
      - {version: 1.0.0, date: 2026-01-01, summary: first}
    invariants:
      - id: INV-DEMO-001
        title: Loss is finite
        at: step_end
        check: "isfinite(loss)"
        on_violation: abort
      - id: INV-DEMO-002
        title: Validation loss under the cap
        at: epoch_end
        check: "val_loss <= cap"
        let:
          cap: "10.0"
        on_violation: abort
    gates:
      - id: GATE-DEMO-001
        title: Both invariants
        invariants: [INV-DEMO-001, INV-DEMO-002]
        ship_blocking: true
        evidence_discharged_by:
          - tests/test_demo.py::test_loss_finite
          - tests/test_demo.py::test_cap
    falsifiers:
      - id: FALSIFY-DEMO-001
        invariant: INV-DEMO-001
        prediction: "No NaN loss is accepted"
        if_fails: "The finite check lets NaN through"
        test: tests/test_demo.py::test_loss_finite
    """)

# Two errors with hints (an unknown name in a check, a test that does not exist) and
# one warning (an invariant no gate covers).
BAD = textwrap.dedent("""\
    schema_version: 1
    id: bad-v1
    version: 1.0.0
    status: active
    title: Bad contract
    changelog:
      - {version: 1.0.0, date: 2026-01-01, summary: first}
    invariants:
      - id: INV-BAD-001
        title: Uses an undeclared name
        at: step_end
        check: "isfinite(loss) and foo > 1"
        on_violation: abort
      - id: INV-BAD-002
        title: Nobody covers this one
        at: step_end
        check: "isfinite(loss)"
        on_violation: abort
    gates:
      - id: GATE-BAD-001
        title: Names a missing test
        invariants: [INV-BAD-001]
        ship_blocking: true
        evidence_discharged_by:
          - tests/test_demo.py::test_nope
    """)

TESTS = textwrap.dedent("""\
    def test_loss_finite():
        assert True


    def test_cap():
        assert True
    """)

GOOD_SUMMARY = ("pv validate: 1 contracts, 2 invariants, 1 gates, 1 falsifiers, 3 test references; "
                "0 errors, 0 warnings")
DIAG_LINE = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning)\[(?P<code>PV\d{3})\]: (?P<msg>.+)$")


def make_project(root: Path, contracts: dict[str, str] | None = None) -> Path:
    (root / "pyproject.toml").write_text("[project]\nname = 'fixture'\n")
    (root / "contracts").mkdir()
    for name, text in ({"demo-v1.yaml": GOOD} if contracts is None else contracts).items():
        (root / "contracts" / name).write_text(text)
    (root / "tests").mkdir()
    (root / "tests" / "test_demo.py").write_text(TESTS)
    return root


def pv(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PV, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def where(text: str, needle: str) -> tuple[int, int]:
    """1-based line and column of ``needle``'s first occurrence in ``text``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number, line.index(needle) + 1
    raise AssertionError(f"{needle!r} not in fixture")


# ---------------------------------------------------------------- exit 0


def test_clean_project_exits_0_with_summary_and_denominators(tmp_path: Path) -> None:
    make_project(tmp_path)
    proc = pv("validate", "contracts", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == GOOD_SUMMARY + "\n"
    assert proc.stderr == ""


def test_default_path_is_contracts(tmp_path: Path) -> None:
    make_project(tmp_path)
    proc = pv("validate", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1] == GOOD_SUMMARY


def test_denominators_count_every_contract(tmp_path: Path) -> None:
    second = GOOD.replace("id: demo-v1", "id: other-v1").replace("DEMO", "OTHER")
    make_project(tmp_path, {"demo-v1.yaml": GOOD, "other-v1.yaml": second})
    proc = pv("validate", "contracts", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1] == (
        "pv validate: 2 contracts, 4 invariants, 2 gates, 2 falsifiers, 6 test references; 0 errors, 0 warnings")


# ---------------------------------------------------------------- exit 1


def test_findings_exit_1_with_compiler_style_lines_and_hints(tmp_path: Path) -> None:
    make_project(tmp_path, {"demo-v1.yaml": GOOD, "bad-v1.yaml": BAD})
    proc = pv("validate", "contracts", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    found = {}
    for i, line in enumerate(lines):
        m = DIAG_LINE.match(line)
        if m:
            found[m["code"]] = (m, lines[i + 1] if i + 1 < len(lines) else "")
    assert set(found) == {"PV205", "PV304", "PV405"}, proc.stdout

    m, hint = found["PV405"]
    assert m["file"] == "contracts/bad-v1.yaml"
    assert (int(m["line"]), int(m["col"])) == where(BAD, "foo > 1")  # points at the name itself
    assert m["sev"] == "error" and "'foo'" in m["msg"]
    assert hint.startswith("  hint: ")

    m, hint = found["PV304"]
    assert (int(m["line"]), int(m["col"])) == where(BAD, "tests/test_demo.py::test_nope")
    assert "test_nope" in m["msg"]
    assert hint.startswith("  hint: ") and ("test_loss_finite" in hint or "test_cap" in hint)

    m, _ = found["PV205"]
    assert m["sev"] == "warning" and "INV-BAD-002" in m["msg"]

    assert lines[-1] == ("pv validate: 2 contracts, 4 invariants, 2 gates, 1 falsifiers, 4 test references; "
                         "2 errors, 1 warning")
    assert "Traceback" not in proc.stdout + proc.stderr


def test_diagnostics_are_sorted_by_file_line_column(tmp_path: Path) -> None:
    make_project(tmp_path, {"a-v1.yaml": "id: [\n", "bad-v1.yaml": BAD})
    proc = pv("validate", "contracts", cwd=tmp_path)
    assert proc.returncode == 1
    keys = [(m["file"], int(m["line"]), int(m["col"])) for m in map(DIAG_LINE.match, proc.stdout.splitlines()) if m]
    assert len(keys) >= 4
    assert keys == sorted(keys)


def test_warning_alone_exits_0_but_strict_makes_it_an_error(tmp_path: Path) -> None:
    uncovered = GOOD.replace("\ngates:\n", "\n" + textwrap.indent(textwrap.dedent("""\
        - id: INV-DEMO-003
          title: Nobody covers this one
          at: step_end
          check: "loss >= 0"
          on_violation: warn
        """), "  ") + "gates:\n")
    assert "INV-DEMO-003" in uncovered
    make_project(tmp_path, {"demo-v1.yaml": uncovered})

    lenient = pv("validate", "contracts", cwd=tmp_path)
    assert lenient.returncode == 0, lenient.stdout
    assert "warning[PV205]" in lenient.stdout and "INV-DEMO-003" in lenient.stdout
    assert lenient.stdout.rstrip().endswith("0 errors, 1 warning")

    strict = pv("validate", "--strict", "contracts", cwd=tmp_path)
    assert strict.returncode == 1, strict.stdout
    assert "error[PV205]" in strict.stdout
    assert strict.stdout.rstrip().endswith("1 error, 0 warnings")


# ---------------------------------------------------------------- exit 2


def test_empty_directory_is_not_a_pass(tmp_path: Path) -> None:
    make_project(tmp_path, {})
    proc = pv("validate", "contracts", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "PV010" in proc.stdout and "no contract files" in proc.stdout


def test_missing_directory_exits_2(tmp_path: Path) -> None:
    make_project(tmp_path)
    proc = pv("validate", "no-such-dir", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no-such-dir" in proc.stdout and "PV010" in proc.stdout


@pytest.mark.parametrize("args, expected", [
    (["validate", "--bogus"], "unrecognized arguments: --bogus"),
    (["validate", "--format", "xml", "contracts"], "invalid choice: 'xml'"),
    (["diff", "--format", "sarif", "a", "b"], "invalid choice: 'sarif'"),
    (["validate", "--max-bytes", "-3"], "must be positive"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "usage: pv"),
])
def test_bad_usage_exits_2_with_a_message_and_no_traceback(tmp_path: Path, args: list[str], expected: str) -> None:
    make_project(tmp_path)
    proc = pv(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert expected in proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------- JSON and --output


def test_json_is_valid_deterministic_and_has_counts(tmp_path: Path) -> None:
    make_project(tmp_path, {"demo-v1.yaml": GOOD, "bad-v1.yaml": BAD})
    first = pv("validate", "--format", "json", "contracts", cwd=tmp_path)   # cold cache
    second = pv("validate", "--format", "json", "contracts", cwd=tmp_path)  # warm cache
    assert first.returncode == second.returncode == 1
    assert first.stdout == second.stdout  # byte-identical
    report = json.loads(first.stdout)
    assert report["summary"] == {"contracts": 2, "invariants": 4, "gates": 2, "falsifiers": 1, "tests": 4,
                                 "errors": 2, "warnings": 1}
    assert report["tool"] == {"name": "pv-contracts", "version": pvcontracts.__version__}
    codes = [d["code"] for d in report["diagnostics"]]
    assert sorted(codes) == ["PV205", "PV304", "PV405"]
    d = next(d for d in report["diagnostics"] if d["code"] == "PV405")
    assert (d["file"], d["line"], d["column"], d["severity"]) == ("contracts/bad-v1.yaml", *where(BAD, "foo > 1"), "error")
    assert d["yaml_path"] == ["invariants", 0, "check"]
    assert d["hint"]


def test_json_without_cache_matches_json_with_cache(tmp_path: Path) -> None:
    make_project(tmp_path, {"demo-v1.yaml": GOOD, "bad-v1.yaml": BAD})
    cached = pv("validate", "--format", "json", cwd=tmp_path)
    cached_again = pv("validate", "--format", "json", cwd=tmp_path)
    uncached = pv("validate", "--format", "json", "--no-cache", cwd=tmp_path)
    assert cached.stdout == cached_again.stdout == uncached.stdout


def test_output_file_gets_the_report_and_stdout_stays_empty(tmp_path: Path) -> None:
    make_project(tmp_path)
    proc = pv("validate", "contracts", "--output", "report.txt", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert (tmp_path / "report.txt").read_text() == GOOD_SUMMARY + "\n"
    assert "\x1b[" not in (tmp_path / "report.txt").read_text()


def test_output_json_file_matches_stdout_json_and_summary_goes_to_stderr(tmp_path: Path) -> None:
    make_project(tmp_path, {"demo-v1.yaml": GOOD, "bad-v1.yaml": BAD})
    to_stdout = pv("validate", "--format", "json", cwd=tmp_path)
    to_file = pv("validate", "--format", "json", "-o", "out/report.json", cwd=tmp_path)
    assert to_file.returncode == to_stdout.returncode == 1
    assert to_file.stdout == ""
    assert (tmp_path / "out" / "report.json").read_text() == to_stdout.stdout
    assert to_file.stderr.strip().startswith("pv validate: 2 contracts")


def test_output_replaces_the_file_atomically(tmp_path: Path) -> None:
    """A rename, not an in-place rewrite: a hard link to the old file keeps the old bytes."""
    make_project(tmp_path)
    out = tmp_path / "report.txt"
    out.write_text("previous report\n")
    os.link(out, tmp_path / "old-link.txt")
    before = out.stat().st_ino
    proc = pv("validate", "contracts", "-o", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == GOOD_SUMMARY + "\n"
    assert out.stat().st_ino != before
    assert (tmp_path / "old-link.txt").read_text() == "previous report\n"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_unwritable_output_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    make_project(tmp_path)
    proc = pv("validate", "contracts", "-o", "contracts", cwd=tmp_path)  # a directory cannot be replaced by a file
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "cannot write" in proc.stderr
    assert sorted(p.name for p in (tmp_path / "contracts").iterdir()) == ["demo-v1.yaml"]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# ---------------------------------------------------------------- schema, version


def test_schema_is_a_valid_draft_2020_12_schema(tmp_path: Path) -> None:
    import jsonschema

    proc = pv("schema", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert not validator.is_valid({"schema_version": 1, "id": "x-v1", "no_such_field": 1})


def test_version(tmp_path: Path) -> None:
    proc = pv("--version", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout == f"pv-contracts {pvcontracts.__version__}\n"


def test_python_dash_m_is_pv(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pvcontracts", "--version"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"pv-contracts {pvcontracts.__version__}\n"
    make_project(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "pvcontracts", "validate"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == GOOD_SUMMARY + "\n"


# ---------------------------------------------------------------- start-up cost


_PROBE = textwrap.dedent("""\
    import io, json, sys
    heavy = ("torch", "numpy", "yaml")
    def loaded():
        return sorted(m for m in heavy if m in sys.modules)
    import pvcontracts.cli as cli
    after_import = loaded()
    out = io.StringIO()
    assert cli.run(["--version"], out, io.StringIO()) == 0, out.getvalue()
    after_version = loaded()
    rc = cli.run(["validate", "--no-cache", sys.argv[1]], io.StringIO(), io.StringIO())
    print(json.dumps({"import": after_import, "version": after_version,
                      "validate": loaded(), "validate_rc": rc}))
    """)


def test_cli_never_imports_torch_and_version_never_imports_yaml(tmp_path: Path) -> None:
    make_project(tmp_path)
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(tmp_path / "contracts")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["validate_rc"] == 0  # validate really ran, so its imports really happened
    assert seen["import"] == []
    assert seen["version"] == []
    assert "torch" not in seen["validate"] and "numpy" not in seen["validate"]
    assert "yaml" in seen["validate"]  # the probe can see an import when there is one

    # Start-up of the real executable: loose bound here, the number goes in the log.
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        proc = pv("--version", cwd=tmp_path)
        timings.append(time.perf_counter() - start)
        assert proc.returncode == 0
    print(f"pv --version start-up: best {min(timings) * 1000:.0f} ms of {len(timings)}")
    assert min(timings) < 1.0


# ---------------------------------------------------------------- pre-commit hook


def _hook() -> dict:
    import yaml

    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert isinstance(hooks, list)
    (hook,) = [h for h in hooks if h["id"] == "pv-validate"]
    return hook


def test_pre_commit_hook_definition_is_well_formed() -> None:
    hook = _hook()
    assert hook["language"] == "python"
    assert shlex.split(hook["entry"])[:2] == ["pv", "validate"]
    assert hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    assert files.search("contracts/demo-v1.yaml") and files.search("contracts/sub/x.yml")
    assert files.search("tests/test_demo.py") and files.search("falsifiers/test_train_005.py")
    assert not files.search("src/pvcontracts/cli.py")
    assert not files.search("README.md")


@pytest.mark.parametrize("contracts, expected", [({"demo-v1.yaml": GOOD}, 0), ({"bad-v1.yaml": BAD}, 1)])
def test_pre_commit_hook_entry_runs_pv_validate(tmp_path: Path, contracts: dict[str, str], expected: int) -> None:
    hook = _hook()
    argv = shlex.split(hook["entry"]) + list(hook.get("args", []))
    assert argv[0] == "pv"
    make_project(tmp_path, contracts)
    proc = subprocess.run([*PV, *argv[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == expected, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("pv validate: 1 contracts")


# ---------------------------------------------------------------- evidence verbs: signing and verify (issue 11)


@pytest.mark.parametrize("args, expected", [
    (["sign", "out/evidence.json"], "the following arguments are required: --key"),
    (["check", "--mutants", "0"], "must be positive"),
    (["verify"], "the following arguments are required: evidence"),
])
def test_evidence_verbs_bad_usage_exits_2(tmp_path: Path, args: list[str], expected: str) -> None:
    make_project(tmp_path)
    proc = pv(*args, cwd=tmp_path)
    assert proc.returncode == 2 and expected in proc.stderr and "Traceback" not in proc.stderr


def test_verifying_unsigned_evidence_never_imports_cryptography_or_torch(tmp_path: Path) -> None:
    from pvcontracts.evidence.evidence import write_evidence

    make_project(tmp_path)
    write_evidence(tmp_path / "e.json", {"schema_version": 1})  # older evidence: refused before anything
    probe = ("import io, sys\nfrom pvcontracts.cli import run\nerr = io.StringIO()\n"
             "rc = run(['verify', 'e.json'], io.StringIO(), err)\n"
             "print(rc, sorted(m for m in ('cryptography', 'torch') if m in sys.modules), err.getvalue().strip())\n")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.stdout.startswith("2 [] pv verify: e.json is evidence version 1, written by an older pv-contracts")
