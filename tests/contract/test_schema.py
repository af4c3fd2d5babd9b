"""The contract JSON Schema and the diagnostics made from its errors (PV101-PV105).

Two validators read the one schema: the compiled fastjsonschema one answers
"valid?" and jsonschema explains why not. They must never disagree, or a
document could slip through unreported, so a Hypothesis test mutates valid
contracts and compares them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvcontracts.contract import schema as schema_mod
from pvcontracts.contract.loading import parse_contract_bytes
from pvcontracts.contract.schema import contract_schema, schema_diagnostics, schema_text
from pvcontracts.contract.yamlload import load_yaml_text
from pvcontracts.diagnostic import Diagnostic

REPO = Path(__file__).resolve().parents[2]
VALID = REPO / "tests" / "data" / "valid"
MINIMAL = (VALID / "minimal.yaml").read_text(encoding="utf-8")


def diagnose(text: str) -> list[Diagnostic]:
    doc, problems = parse_contract_bytes(text.encode("utf-8"), "minimal.yaml")
    assert doc is not None, problems
    return problems


def variant(old: str, new: str) -> str:
    assert old in MINIMAL, old
    return MINIMAL.replace(old, new, 1)


def one(problems: list[Diagnostic], code: str) -> Diagnostic:
    assert [p.code for p in problems] == [code], problems
    return problems[0]


# --------------------------------------------------------------------------- the schema file


class TestSchemaFile:
    def test_is_a_valid_draft_2020_12_schema(self) -> None:
        jsonschema.Draft202012Validator.check_schema(contract_schema())
        assert contract_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"

    def test_text_is_the_packaged_file(self) -> None:
        packaged = REPO / "src" / "pvcontracts" / "contract" / "schemas" / "contract-v1.schema.json"
        assert schema_text() == packaged.read_text(encoding="utf-8")
        assert json.loads(schema_text()) == contract_schema()

    def test_every_object_is_closed(self) -> None:
        """Unknown fields are errors everywhere, so a typo can never be silently ignored."""
        def walk(node: Any, where: str) -> None:
            if isinstance(node, dict):
                if node.get("type") == "object" and "propertyNames" not in node:
                    assert node.get("additionalProperties") is False, where
                for key, value in node.items():
                    walk(value, f"{where}/{key}")
            elif isinstance(node, list):
                for i, value in enumerate(node):
                    walk(value, f"{where}/{i}")
        walk(contract_schema(), "#")

    def test_every_valid_fixture_and_shipped_contract_conforms(self) -> None:
        files = sorted(VALID.rglob("*.y*ml")) + sorted((REPO / "contracts").glob("*.yaml"))
        assert files
        for path in files:
            doc, problems = parse_contract_bytes(path.read_bytes(), str(path))
            assert problems == [], path


# --------------------------------------------------------------------------- diagnostics made from schema errors


class TestUnknownFields:
    def test_did_you_mean(self) -> None:
        d = one(diagnose(variant("title:", "titel: x\ntitle:")), "PV101")
        assert d.hint == "did you mean 'title'?"
        assert (d.line, d.column) == (6, 1)
        assert d.yaml_path == ("titel",)

    def test_no_close_match_lists_the_allowed_fields(self) -> None:
        d = one(diagnose(variant("title:", "zzz: x\ntitle:")), "PV101")
        assert d.hint.startswith("allowed fields: changelog, depends_on, description,")

    def test_nested_unknown_field_names_its_parent(self) -> None:
        d = one(diagnose(variant("    at: step_end", "    at: step_end\n    on_violaton: warn")), "PV101")
        assert d.message == "unknown field 'on_violaton' in invariants.0"
        assert d.hint == "did you mean 'on_violation'?"
        assert (d.line, d.column) == (13, 5)

    def test_several_unknown_fields_each_at_its_key(self) -> None:
        problems = diagnose(variant("title:", "zeta: 1\nalpha: 2\ntitle:"))
        assert sorted((p.message, p.line) for p in problems) == [("unknown field 'alpha'", 7), ("unknown field 'zeta'", 6)]

    def test_unknown_field_in_a_flow_mapping(self) -> None:
        d = one(diagnose(variant("summary: First}", "summary: First, author: me}")), "PV101")
        assert (d.line, d.column) == (8, 56)

    def test_misspelt_regime(self) -> None:
        text = variant("    check: isfinite(loss)", "    check: isfinite(loss)\n    let: {cap: {finetune: '1', from_scrach: '2'}}")
        d = one(diagnose(text), "PV101")
        assert d.hint == "did you mean 'from_scratch'?"
        assert (d.line, d.column) == (14, 32)


class TestMissingFields:
    def test_one_diagnostic_per_missing_field_at_the_mapping(self) -> None:
        gate = "  - id: GATE-MIN-001\n    invariants: [INV-MIN-001]\n    ship_blocking: false\n"
        problems = diagnose(variant(gate + "    evidence_discharged_by: [tests/test_x.py::test_ok]", "  - {}"))
        assert sorted(p.message for p in problems) == [
            f"gates.0 is missing required field '{name}'"
            for name in sorted(["evidence_discharged_by", "id", "invariants", "ship_blocking"])]
        assert {(p.code, p.line, p.column) for p in problems} == {("PV102", 15, 5)}

    def test_top_level(self) -> None:
        d = one(diagnose(variant("title: The smallest useful contract\n", "")), "PV102")
        assert d.message == "the contract is missing required field 'title'"
        assert (d.line, d.column) == (2, 1)


class TestWrongTypes:
    @pytest.mark.parametrize("written, hint", [
        # the full semantic version, not the quoted number: "1.2" would only fail again as not MAJOR.MINOR.PATCH
        ("1.10", "YAML reads 1.10 as a number; a version is MAJOR.MINOR.PATCH: write 1.10.0"),
        ("1.20", "YAML reads 1.20 as a number; a version is MAJOR.MINOR.PATCH: write 1.20.0"),
        ("1.0", "YAML reads 1.0 as a number; a version is MAJOR.MINOR.PATCH: write 1.0.0"),
        ("2", "YAML reads 2 as a number; a version is MAJOR.MINOR.PATCH: write 2.0.0"),
        ("", "the value is empty; write one after the colon"),
    ])
    def test_version_that_yaml_reads_as_a_number(self, written: str, hint: str) -> None:
        d = one(diagnose(variant("version: 0.1.0", f"version: {written}".rstrip())), "PV103")
        assert d.hint == hint
        assert d.line == 4

    def test_boolean_as_text(self) -> None:
        d = one(diagnose(variant("ship_blocking: false", 'ship_blocking: "false"')), "PV103")
        assert d.message == "gates.0.ship_blocking must be a boolean, not text"

    def test_expression_must_be_text_or_a_number(self) -> None:
        assert one(diagnose(variant("check: isfinite(loss)", "check: [loss]")), "PV103").message == \
            "invariants.0.check must be text or a number, not a list"
        assert "quote it" in one(diagnose(variant("check: isfinite(loss)", "check: true")), "PV103").hint

    def test_a_number_is_an_expression(self) -> None:
        assert diagnose(variant("check: isfinite(loss)", "check: 1")) == []

    def test_a_date_is_text_not_a_timestamp(self) -> None:
        doc, _ = load_yaml_text(MINIMAL, "minimal.yaml")
        assert doc.data["changelog"][0]["date"] == "2026-01-01"


class TestInvalidValues:
    @pytest.mark.parametrize("old, new, message, hint", [
        ("status: draft", "status: drafted", "status is 'drafted'; expected one of 'draft', 'active', 'deprecated'",
         "did you mean 'draft'?"),
        ("at: step_end", "at: epoch", "invariants.0.at is 'epoch'", None),
        ("version: 0.1.0", "version: v0.1.0", "version is 'v0.1.0'; expected a semantic version like 1.2.0", None),
        ("version: 0.1.0", "version: 01.1.0", "expected a semantic version", None),
        ("date: 2026-01-01", "date: 2026-1-1", "changelog.0.date is '2026-1-1'; expected a date like 2026-11-21", None),
        ("id: minimal", "id: Minimal", "id is 'Minimal'; expected a kebab-case id", None),
        ("id: minimal", "id: minimal_v1", "expected a kebab-case id", None),
        ("title: The smallest useful contract", "title: ''", "title: '' should be non-empty", None),
        ("invariants: [INV-MIN-001]", "invariants: []", "gates.0.invariants: [] should be non-empty", None),
    ])
    def test_constraint_violations(self, old: str, new: str, message: str, hint: str | None) -> None:
        d = one(diagnose(variant(old, new)), "PV104")
        assert message in d.message
        if hint is not None:
            assert d.hint == hint

    def test_a_trailing_newline_does_not_satisfy_a_pattern(self) -> None:
        """ECMA-262 `$` is the very end; Python's would let "0.1.0\\n" through."""
        for old, new in [("version: 0.1.0", 'version: "0.1.0\\n"'), ("date: 2026-01-01", 'date: "2026-01-01\\n"'),
                         ("id: minimal", "id: |\n  minimal")]:
            assert one(diagnose(variant(old, new)), "PV104")

    def test_a_bad_key_is_pointed_at(self) -> None:
        d = one(diagnose(variant("invariants:\n", "params:\n  Vocab-Size: {type: int}\ninvariants:\n")), "PV104")
        assert d.message == "key 'Vocab-Size' in params is not a snake_case name like vocab_size"
        assert (d.line, d.column) == (10, 3)

    def test_unique_items(self) -> None:
        d = one(diagnose(variant("invariants:\n", "depends_on: [a, a]\ninvariants:\n")), "PV104")
        assert "non-unique" in d.message

    def test_empty_regime_mapping(self) -> None:
        text = variant("    check: isfinite(loss)", "    check: isfinite(loss)\n    let: {cap: {}}")
        assert "should be non-empty" in one(diagnose(text), "PV104").message


class TestSchemaVersion:
    @pytest.mark.parametrize("written", ["2", "0", "'1'", "true", "1.5", "[1]"])
    def test_unsupported(self, written: str) -> None:
        d = one(diagnose(variant("schema_version: 1", f"schema_version: {written}")), "PV105")
        assert (d.line, d.column) == (2, 17)
        assert d.hint == "write schema_version: 1, or upgrade pv-contracts"

    def test_one_point_zero_is_not_the_integer_one(self) -> None:
        d = one(diagnose(variant("schema_version: 1", "schema_version: 1.0")), "PV105")
        assert "is the float 1.0" in d.message and d.hint == "write schema_version: 1"
        assert (d.line, d.column) == (2, 17)


# --------------------------------------------------------------------------- fast and full validators agree

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.sampled_from(["", "x", "1.0.0", "1.0.0\n", "2026-01-01", "INV-MIN-001", "step_end", "int", "enum",
                       "finetune", "from_scratch", "a-b", "a_b", "Bad", "draft", "tests/test_x.py::test_ok"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["id", "type", "at", "min", "max", "values", "x", "finetune", "version", "title", "Bad"]),
        inner, max_size=3),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, prefix + (k,)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, prefix + (i,)))
    return out


def _full_doc() -> dict:
    doc, problems = load_yaml_text((VALID / "full-featured.yaml").read_text(encoding="utf-8"), "f.yaml")
    assert problems == []
    return doc.data


FULL = _full_doc()
FULL_PATHS = _paths(FULL)[1:]


@settings(derandomize=True, database=None, max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(FULL_PATHS), JSONISH, st.booleans()), min_size=1, max_size=3))
def test_fast_and_full_validators_agree(mutations: list[tuple[tuple, Any, bool]]) -> None:
    data = copy.deepcopy(FULL)
    for path, value, add_sibling in mutations:
        parent = data
        try:
            for part in path[:-1]:
                parent = parent[part]
            if add_sibling and isinstance(parent, dict):
                parent[f"{path[-1]}_extra"] = value
            else:
                parent[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    try:
        schema_mod._fast_validator()(data)
        fast_ok = True
    except fastjsonschema.JsonSchemaException:
        fast_ok = False
    full_ok = not any(True for _ in schema_mod._full_validator().iter_errors(data))
    assert fast_ok == full_ok


def test_a_disagreement_is_still_reported(monkeypatch) -> None:
    """Should the fast validator ever refuse what the full one accepts, the document is not waved through."""
    def refuse(data: Any) -> None:
        raise fastjsonschema.JsonSchemaValueException("data.invariants[0].title must be odd",
                                                      name="data.invariants[0].title")

    monkeypatch.setattr(schema_mod, "_fast_validator", lambda: refuse)
    doc, _ = load_yaml_text(MINIMAL, "minimal.yaml")
    d = one(schema_diagnostics(doc), "PV104")
    assert "must be odd" in d.message
    assert (d.line, d.column) == (11, 12)


def test_compiling_the_validators_leaves_the_shared_schema_alone() -> None:
    before = json.loads(schema_text())
    schema_mod._fast_validator.cache_clear()
    schema_mod._fast_validator()
    schema_mod._full_validator()
    assert contract_schema() == before
