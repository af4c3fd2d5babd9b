"""The validation rules, driven by the contract fixtures under tests/data.

Each file in ``tests/data/invalid/`` is a small contract that breaks exactly
one thing and declares, in its leading comments, the diagnostics it must
produce::

    # expect: PV101 12:5          an error or warning with this code at line:column
    # expect: nothing              (in a multi-file fixture) this file has no findings
    # hint: PV101 did you mean     some PV101 diagnostic's hint contains the text
    # message: PV203 already       some PV203 diagnostic's message contains the text

A fixture is one ``<name>.yaml``, copied into a scratch project as
``contracts/<name>.yaml`` (so its id equals the stem, unless that is what it
tests), or a directory whose files are copied in together (rules across
files: duplicate ids, dependency cycles). The fixture's name starts with the
code it is about, or with ``all-`` for a file with several problems that one
run must report together (a schema error no longer hides the rest). ``tests/data/valid/`` holds fixtures that must produce no
diagnostic at all.

Below the fixtures, rule-specific cases that need a model built in code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pvcontracts.contract.loading import load_contract_bytes
from pvcontracts.contract.model import Contract
from pvcontracts.diagnostic import CODES, Diagnostic, Severity
from pvcontracts.validate.rules import CONTRACT_RULES, PROJECT_RULES, Project, run_contract_rules, run_project_rules

DATA = Path(__file__).resolve().parents[1] / "data"
INVALID = DATA / "invalid"
VALID = DATA / "valid"


# --------------------------------------------------------------------------- fixture machinery


def fixture_files(fixture: Path) -> list[Path]:
    if fixture.is_dir():
        return sorted(p for p in fixture.iterdir() if p.suffix in (".yaml", ".yml"))
    return [fixture]


def list_fixtures(kind: Path) -> list[Path]:
    return sorted(p for p in kind.iterdir() if p.is_dir() or p.suffix in (".yaml", ".yml"))


@dataclass
class Expectations:
    findings: set[tuple[str, str, int, int]] = field(default_factory=set)  # (file name, code, line, column)
    hints: list[tuple[str, str]] = field(default_factory=list)  # (code, text)
    messages: list[tuple[str, str]] = field(default_factory=list)
    undeclared: list[str] = field(default_factory=list)  # files with no `# expect:` line at all


def read_expectations(fixture: Path) -> Expectations:
    """The directives of a fixture; read as bytes, so deliberately broken files still declare them."""
    out = Expectations()
    for path in fixture_files(fixture):
        declared = False
        for raw in path.read_bytes().splitlines():
            line = raw.decode("utf-8", "replace").lstrip("\ufeff").rstrip()
            directive, _, rest = line.partition(":")
            if directive == "# expect":
                declared = True
                if rest.split() == ["nothing"]:
                    continue
                code, where = rest.split()
                ln, col = where.split(":")
                out.findings.add((path.name, code, int(ln), int(col)))
            elif directive in ("# hint", "# message"):
                code, text = rest.strip().split(" ", 1)
                (out.hints if directive == "# hint" else out.messages).append((code, text))
        if not declared:
            out.undeclared.append(path.name)
    return out


def findings(diagnostics: list[Diagnostic]) -> set[tuple[str, str, int, int]]:
    """(file name, code, line, column) of every error and warning."""
    return {(Path(d.file).name, d.code, d.line, d.column) for d in diagnostics
            if d.severity in (Severity.ERROR, Severity.WARNING)}


INVALID_FIXTURES = list_fixtures(INVALID)
VALID_FIXTURES = list_fixtures(VALID)


def _id(path: Path) -> str:
    return path.name


# --------------------------------------------------------------------------- the fixtures themselves


def test_fixture_directories_are_populated() -> None:
    assert len(INVALID_FIXTURES) >= 60
    assert VALID_FIXTURES


@pytest.mark.parametrize("fixture", INVALID_FIXTURES, ids=_id)
def test_invalid_fixture_is_well_formed(fixture: Path) -> None:
    """Every file declares its findings, and every finding is of the code the fixture is named after."""
    expected = read_expectations(fixture)
    assert not expected.undeclared, f"no '# expect:' line in {expected.undeclared}"
    assert expected.findings, "an invalid fixture must expect at least one finding"
    codes = {code for _, code, _, _ in expected.findings}
    prefix = fixture.name.split("-", 1)[0].upper()
    if prefix == "ALL":  # "all-": a file with several problems, every one of which must show in one run
        assert len(codes) > 1, f"{fixture.name} is about reporting several problems at once, expects {codes}"
        return
    assert codes == {prefix}, f"{fixture.name} should break exactly one thing ({prefix}), expects {codes}"
    for code, _ in expected.hints + expected.messages:
        assert code in codes


@pytest.mark.parametrize("fixture", INVALID_FIXTURES, ids=_id)
def test_invalid_fixture_produces_exactly_its_findings(fixture: Path, project) -> None:
    project.copy_in(*fixture_files(fixture))
    report = project.validate()
    expected = read_expectations(fixture).findings
    assert findings(report.diagnostics) == expected
    only_warnings = all(CODES[code].severity == Severity.WARNING for _, code, _, _ in expected)
    assert report.ok == only_warnings


@pytest.mark.parametrize("fixture", [f for f in INVALID_FIXTURES if read_expectations(f).hints
                                     or read_expectations(f).messages], ids=_id)
def test_invalid_fixture_hints_and_messages(fixture: Path, project) -> None:
    project.copy_in(*fixture_files(fixture))
    diagnostics = project.validate().diagnostics
    expected = read_expectations(fixture)
    for code, text in expected.hints:
        hints = [d.hint for d in diagnostics if d.code == code]
        assert any(text in (h or "") for h in hints), f"no {code} hint contains {text!r}: {hints}"
    for code, text in expected.messages:
        messages = [d.message for d in diagnostics if d.code == code]
        assert any(text in m for m in messages), f"no {code} message contains {text!r}: {messages}"


@pytest.mark.parametrize("fixture", VALID_FIXTURES, ids=_id)
def test_valid_fixture_is_clean(fixture: Path, project) -> None:
    project.copy_in(*fixture_files(fixture))
    report = project.validate()
    assert report.diagnostics == []
    assert report.ok
    assert report.counts.contracts == len(fixture_files(fixture))


def test_every_code_a_contract_can_produce_has_a_fixture() -> None:
    """A rule without a fixture is a rule nobody checked the position of."""
    from_rules = {code for _, codes in [*CONTRACT_RULES.values(), *PROJECT_RULES.values()] for code in codes}
    from_loader = {"PV002", "PV003", "PV004", "PV005", "PV006", "PV007", "PV008", "PV009", "PV011", "PV012"}
    from_schema = {"PV101", "PV102", "PV103", "PV104", "PV105", "PV202"}
    covered = {code for f in INVALID_FIXTURES for _, code, _, _ in read_expectations(f).findings}
    assert (from_rules | from_loader | from_schema) - covered == set()


def test_fixture_findings_are_the_registered_severities(project) -> None:
    """PV205, PV209 and PV210 are warnings; every other contract finding is an error."""
    for fixture in INVALID_FIXTURES:
        for path in fixture_files(fixture):
            project.copy_in(path)
    for d in project.validate().diagnostics:
        assert d.severity == CODES[d.code].severity, d


# --------------------------------------------------------------------------- the registry


def test_rule_registry_codes_are_registered_and_distinct() -> None:
    seen: set[str] = set()
    for name, (rule, codes) in [*CONTRACT_RULES.items(), *PROJECT_RULES.items()]:
        assert callable(rule), name
        assert codes and set(codes) <= set(CODES), name
        assert not set(codes) & seen, f"{name} shares a code with another rule"
        seen |= set(codes)


# --------------------------------------------------------------------------- rules on models built in code

TEMPLATE = """\
schema_version: 1
id: {id}
version: {version}
status: {status}
title: Built in a test
{top}changelog:
{changelog}invariants:
{invariants}gates:
  - id: GATE-{area}-001
    invariants: [{covered}]
    ship_blocking: true
    evidence_discharged_by: [tests/test_x.py::test_ok]
"""


def contract(cid: str = "sample", *, area: str = "FIX", version: str = "1.0.0", status: str = "active",
             top: str = "", changelog: str | None = None, invariants: str | None = None,
             covered: str | None = None) -> Contract:
    text = contract_text(cid, area=area, version=version, status=status, top=top, changelog=changelog,
                         invariants=invariants, covered=covered)
    loaded = load_contract_bytes(text.encode(), f"contracts/{cid}.yaml")
    assert loaded.contract is not None, loaded.diagnostics
    return loaded.contract


def contract_text(cid: str = "sample", *, area: str = "FIX", version: str = "1.0.0", status: str = "active",
                  top: str = "", changelog: str | None = None, invariants: str | None = None,
                  covered: str | None = None) -> str:
    if changelog is None:
        changelog = f"  - {{version: {version}, date: 2026-01-01, summary: Current}}\n"
    if invariants is None:
        invariants = f"  - {{id: INV-{area}-001, title: t, at: step_end, check: 'isfinite(loss)'}}\n"
    return TEMPLATE.format(id=cid, version=version, status=status, top=top, changelog=changelog,
                           invariants=invariants, area=area, covered=covered or f"INV-{area}-001")


def invariant(check: str, *, at: str = "step_end", when: str | None = None, let: str = "", n: int = 1) -> str:
    lines = [f"  - id: INV-FIX-{n:03d}", "    title: t", f"    at: {at}", f"    check: {check}"]
    if when is not None:
        lines.append(f"    when: {when}")
    if let:
        lines.append("    let:")
        lines.extend("      " + line for line in let.strip("\n").split("\n"))
    return "\n".join(lines) + "\n"


def codes_of(diagnostics: list[Diagnostic]) -> list[str]:
    return sorted(d.code for d in diagnostics)


def contract_findings(c: Contract) -> list[Diagnostic]:
    return run_contract_rules(c)


class TestExpressions:
    def test_constants_and_functions_are_known(self) -> None:
        c = contract(invariants=invariant("'loss < inf and pi > e and isfinite(nan) == false'"))
        assert contract_findings(c) == []

    def test_a_function_named_without_a_call(self) -> None:
        loaded = load_contract_bytes(contract_text(invariants=invariant("'ln > 0'")).encode(), "contracts/sample.yaml")
        problems = run_contract_rules(loaded.contract)
        assert codes_of(problems) == ["PV404"]
        assert "call it as ln(x)" in problems[0].message

    def test_an_expression_may_be_a_yaml_number_and_keeps_its_spelling(self) -> None:
        c = contract(invariants=invariant("'loss <= cap'", let="cap: 10.0"))
        assert c.invariants[0].lets["cap"].value == "10.0"
        assert contract_findings(c) == []

    def test_names_are_scoped_to_the_boundary(self) -> None:
        c = contract(invariants=invariant("'val_loss < 5'", at="epoch_end") + invariant("'val_loss < 5'", n=2),
                     covered="INV-FIX-001, INV-FIX-002")
        problems = contract_findings(c)
        assert codes_of(problems) == ["PV405"]
        assert problems[0].yaml_path == ("invariants", 1, "check")

    def test_declared_metrics_are_in_scope_only_at_their_boundaries(self) -> None:
        top = "metrics:\n  tokens: {at: [epoch_end]}\n"
        ok = contract(top=top, invariants=invariant("'tokens > 0'", at="epoch_end"))
        assert contract_findings(ok) == []
        wrong = contract(top=top, invariants=invariant("'tokens > 0'", at="step_end"))
        assert codes_of(contract_findings(wrong)) == ["PV405"]

    def test_window_param_must_be_a_bounded_int(self) -> None:
        for decl, ok in [("{type: int, min: 1, max: 50}", True), ("{type: int, min: 1}", False),
                         ("{type: int, min: 0, max: 50}", False), ("{type: float, min: 1, max: 5}", False),
                         ("{type: int, min: 1, max: 10001}", False)]:
            c = contract(top=f"params:\n  n: {decl}\n", invariants=invariant("'window_mean(loss, n) < 5'", when="'step >= n'"))
            assert codes_of(contract_findings(c)) == ([] if ok else ["PV404"]), decl

    def test_window_literal_out_of_range(self) -> None:
        for window, ok in [("1", True), ("10000", True), ("0", False), ("10001", False), ("2.5", False)]:
            c = contract(invariants=invariant(f"'window_max(loss, {window}) < 5'", when="'step >= 10000'"))
            assert codes_of(contract_findings(c)) == ([] if ok else ["PV404"]), window

    def test_history_of_a_let_or_param_is_refused(self) -> None:
        c = contract(top="params:\n  cap: {type: float}\n", invariants=invariant("'loss < prev(cap)'"))
        problems = contract_findings(c)
        assert codes_of(problems) == ["PV404"]
        assert "'cap' is a param" in problems[0].message

    def test_string_comparison_with_an_enum_param(self) -> None:
        top = "params:\n  schedule: {type: enum, values: [cosine, linear]}\n"
        assert contract_findings(contract(top=top, invariants=invariant("'schedule == \"linear\"'"))) == []
        bad = contract_findings(contract(top=top, invariants=invariant("'\"cosine\" != schedule and lr > 0'")))
        assert bad == []
        unknown = contract_findings(contract(top=top, invariants=invariant("'schedule == \"constant\"'")))
        assert codes_of(unknown) == ["PV408"]

    def test_regime_keyed_let_with_both_regimes_is_complete(self) -> None:
        let = 'cap: {finetune: "10.0", from_scratch: "2.0 * ln(vocab_size)"}'
        c = contract(top="params:\n  vocab_size: {type: int, min: 2}\n",
                     invariants=invariant("'val_loss <= cap'", at="epoch_end", let=let))
        assert contract_findings(c) == []

    def test_let_cycle_of_three_is_reported_once(self) -> None:
        let = 'a: "b + 1"\nb: "c + 1"\nc: "a + 1"'
        problems = contract_findings(contract(invariants=invariant("'loss < a'", let=let)))
        assert codes_of(problems) == ["PV407"]
        assert "a -> b -> c -> a" in problems[0].message

    def test_lets_may_use_each_other_without_a_cycle(self) -> None:
        let = 'a: "b + c"\nb: "c * 2"\nc: "1.0"'
        assert contract_findings(contract(invariants=invariant("'loss < a'", let=let))) == []

    def test_every_expression_field_is_checked(self) -> None:
        inv = invariant("'loss < x1'", when="'x2 > 0'", let='y: "x3"\nz: {finetune: "x4", from_scratch: "x5"}')
        problems = contract_findings(contract(invariants=inv))
        assert sorted(d.message.split("'")[1] for d in problems) == ["x1", "x2", "x3", "x4", "x5"]
        paths = {d.yaml_path for d in problems}
        assert ("invariants", 0, "let", "z", "from_scratch") in paths


class TestParams:
    @pytest.mark.parametrize("decl, problem", [
        ("{type: int, min: 1, max: 5, default: 3}", None),
        ("{type: float, default: 2}", None),
        ("{type: bool, default: true}", None),
        ("{type: enum, values: [a, b], default: b}", None),
        ("{type: int, default: 2.5}", "p=2.5 must be an integer"),
        ("{type: int, default: true}", "p=true must be an integer"),
        ("{type: float, default: false}", "p=false must be a number"),
        ("{type: bool, default: 1}", "p=1 must be true or false"),
        ("{type: enum, values: [a, b], default: c}", "one of a, b"),
        ("{type: int, values: [a]}", "has values but is of type int"),
        ("{type: bool, min: 0}", "cannot have min or max"),
        ("{type: enum, values: [a], max: 3}", "cannot have min or max"),
        ("{type: float, min: 0.5, max: 0.25}", "above max"),
        ("{type: float, min: 0, max: 1, default: -1}", "p=-1 must be at least 0"),
        ("{type: enum}", "lists no values"),
    ])
    def test_param_declarations(self, decl: str, problem: str | None) -> None:
        c = contract(top=f"params:\n  p: {decl}\n")
        problems = contract_findings(c)
        if problem is None:
            assert problems == []
        else:
            assert codes_of(problems) == ["PV409"]
            assert problem in problems[0].message


class TestIdentity:
    @pytest.mark.parametrize("ident, ok", [
        ("INV-TRAIN-005", True), ("INV-A1-000", True), ("INV-TRAIN-05", False), ("INV-TRAIN-0005", False),
        ("INV-1A-001", False), ("INV-train-001", False), ("GATE-TRAIN-001", False), ("INV_TRAIN_001", False),
        ("INV-TRAIN-001 ", False), ("INV-TRAIN-001\\n", False), ("INV-TRAIN-\\U0001D7F6\\U0001D7F6\\U0001D7F7", False),
        ("INV-TRAIN-\\u0661\\u0662\\u0663", False), ("INV-TRAIN-001\\u200b", False),
    ])
    def test_invariant_id_shape(self, ident: str, ok: bool) -> None:
        """The schema's id rule (PV202): ASCII only, anchored at the true end, whatever the YAML escapes."""
        text = contract_text(invariants=f'  - {{id: "{ident}", title: t, at: step_end, check: "isfinite(loss)"}}\n',
                             covered=f'"{ident}"')
        loaded = load_contract_bytes(text.encode(), "contracts/sample.yaml")
        found = loaded.diagnostics + (run_contract_rules(loaded.contract) if loaded.contract else [])
        assert codes_of(found) == ([] if ok else ["PV202"])
        if not ok:
            assert found[0].hint.startswith("write it as INV-") or "look like INV-" in found[0].hint

    def test_lookalike_ids_are_refused_with_the_ascii_spelling_as_hint(self) -> None:
        for written in ("INV-TRAIN-\\U0001D7F6\\U0001D7F6\\U0001D7F7", "INV-TRAIN-001\\n"):
            text = contract_text(invariants=f'  - {{id: "{written}", title: t, at: step_end, check: "isfinite(loss)"}}\n',
                                 covered="INV-TRAIN-001")
            loaded = load_contract_bytes(text.encode(), "contracts/sample.yaml")
            (d,) = [d for d in loaded.diagnostics if d.code == "PV202"]
            assert d.hint == "write it as INV-TRAIN-001"

    def test_contract_id_is_compared_with_the_stem_of_a_yml_file(self) -> None:
        loaded = load_contract_bytes(contract_text("sample").encode(), "contracts/sample.yml")
        assert run_contract_rules(loaded.contract) == []


class TestChangelog:
    def test_prerelease_sorts_before_its_release(self) -> None:
        log = "  - {version: 1.0.0, date: 2026-02-01, summary: b}\n  - {version: 1.0.0-rc.1, date: 2026-01-01, summary: a}\n"
        assert contract_findings(contract(changelog=log)) == []
        backwards = "  - {version: 1.0.0-rc.1, date: 2026-01-01, summary: a}\n  - {version: 1.0.0, date: 2026-02-01, summary: b}\n"
        problems = contract_findings(contract(changelog=backwards))
        assert codes_of(problems) == ["PV502"]

    def test_current_version_must_have_an_entry(self) -> None:
        problems = contract_findings(contract(version="1.0.1", changelog="  - {version: 1.0.0, date: 2026-01-01, summary: a}\n"))
        assert codes_of(problems) == ["PV501"]
        assert problems[0].yaml_path == ("version",)


class TestProjectRules:
    def make(self, cid: str, *, status: str = "active", depends: list[str] = (), area: str | None = None,
             covered: str | None = None) -> Contract:
        top = f"depends_on: [{', '.join(depends)}]\n" if depends else ""
        return contract(cid, area=area or cid.upper().replace("-", ""), status=status, top=top, covered=covered)

    def test_each_cycle_is_reported_once_whatever_the_order(self) -> None:
        a, b, c = self.make("a", depends=["b"]), self.make("b", depends=["c"]), self.make("c", depends=["a"])
        for order in ([a, b, c], [c, b, a], [b, a, c]):
            problems = [d for d in run_project_rules(Project(order)) if d.code == "PV207"]
            assert len(problems) == 1
            assert problems[0].message == "dependency cycle: a -> b -> c -> a"

    def test_a_diamond_is_not_a_cycle(self) -> None:
        contracts = [self.make("top", depends=["left", "right"]), self.make("left", depends=["base"]),
                     self.make("right", depends=["base"]), self.make("base")]
        assert run_project_rules(Project(contracts)) == []

    def test_two_separate_cycles_are_both_reported(self) -> None:
        contracts = [self.make("a", depends=["b"]), self.make("b", depends=["a"]),
                     self.make("c", depends=["d"]), self.make("d", depends=["c"])]
        cycles = sorted(d.message for d in run_project_rules(Project(contracts)) if d.code == "PV207")
        assert cycles == ["dependency cycle: a -> b -> a", "dependency cycle: c -> d -> c"]

    def test_dependency_on_a_file_that_failed_to_load_is_not_unknown(self) -> None:
        c = self.make("a", depends=["broken"])
        assert run_project_rules(Project([c], {"broken": "contracts/broken.yaml"})) == []
        assert codes_of(run_project_rules(Project([c]))) == ["PV206"]

    def test_unknown_dependency_suggests_a_close_id(self) -> None:
        problems = run_project_rules(Project([self.make("a", depends=["lr-schedule-v2"]), self.make("lr-schedule-v1")]))
        assert codes_of(problems) == ["PV206"]
        assert problems[0].hint == "did you mean 'lr-schedule-v1'?"

    def test_only_active_contracts_are_warned_about_deprecated_dependencies(self) -> None:
        old = self.make("old", status="deprecated")
        assert codes_of(run_project_rules(Project([old, self.make("new", depends=["old"])]))) == ["PV209"]
        assert run_project_rules(Project([old, self.make("new", status="draft", depends=["old"])])) == []
        assert run_project_rules(Project([old, self.make("new", status="deprecated", depends=["old"])])) == []

    def test_deprecated_contracts_need_no_gate(self) -> None:
        old = contract("old", area="OLD", status="deprecated", covered="INV-NEW-001")  # INV-OLD-001 uncovered
        new = contract("new", area="NEW", covered="INV-NEW-001")
        assert run_project_rules(Project([old, new])) == []
        active = contract("old", area="OLD", status="active", covered="INV-NEW-001")
        assert codes_of(run_project_rules(Project([active, new]))) == ["PV205"]

    def test_a_gate_may_cover_an_invariant_of_another_contract(self) -> None:
        a = contract("a", area="A", covered="INV-A-001, INV-B-001")
        b = contract("b", area="B", covered="INV-B-001")
        assert run_project_rules(Project([a, b])) == []

    def test_duplicate_contract_id_points_at_the_first_declaration(self) -> None:
        first = contract("same", area="A")
        second = load_contract_bytes(contract_text("same", area="B").encode(), "contracts/same.yml").contract
        problems = run_project_rules(Project([first, second]))
        assert codes_of(problems) == ["PV203"]
        assert problems[0].file == "contracts/same.yml"
        assert "contracts/same.yaml:2:5" in problems[0].message
