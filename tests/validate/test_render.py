"""Text, JSON and SARIF renderings of diagnostics.

SARIF is checked three ways: against the official SARIF 2.1.0 JSON schema
(a copy in ``tests/data/sarif/``, see its README), by ``assert_sarif_2_1_0``
for what the spec requires beyond the schema (rule references, relative
artifact URIs without a base when absolute, 1-based regions), and by
``assert_code_scanning`` for what GitHub code scanning asks of an upload
(``fullDescription`` and ``help`` on every rule, a ``helpUri`` whose anchor
exists in ``docs/codes.md``, ``partialFingerprints``, ``originalUriBaseIds``
for every base used, end positions).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pvcontracts._version import __version__
from pvcontracts.diagnostic import CODES, make
from pvcontracts.validate.render import render_json, render_sarif, render_text, summary_line

_SCRIPT = Path(sys.executable).with_name("pv")
PV = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pvcontracts"]

COUNTS = {"contracts": 2, "invariants": 5, "gates": 2, "falsifiers": 1, "tests": 3, "errors": 2, "warnings": 1}

# Property names SARIF 2.1.0 allows on each object we emit (every one is additionalProperties: false).
SARIF_LOG = {"$schema", "version", "runs", "inlineExternalProperties", "properties"}
RUN = {"tool", "invocations", "conversion", "language", "versionControlProvenance", "originalUriBaseIds",
       "artifacts", "logicalLocations", "graphs", "results", "automationDetails", "runAggregates",
       "baselineGuid", "redactionTokens", "defaultEncoding", "defaultSourceLanguage", "newlineSequences",
       "columnKind", "externalPropertyFileReferences", "threadFlowLocations", "taxonomies", "addresses",
       "translations", "policies", "webRequests", "webResponses", "specialLocations", "properties"}
TOOL = {"driver", "extensions", "properties"}
TOOL_COMPONENT = {"guid", "name", "organization", "product", "productSuite", "shortDescription",
                  "fullDescription", "fullName", "version", "semanticVersion", "dottedQuadFileVersion",
                  "releaseDateUtc", "downloadUri", "informationUri", "globalMessageStrings", "notifications",
                  "rules", "taxa", "locations", "language", "contents", "isComprehensive",
                  "localizedDataSemanticVersion", "minimumRequiredLocalizedDataSemanticVersion",
                  "associatedComponent", "translationMetadata", "supportedTaxonomies", "properties"}
REPORTING_DESCRIPTOR = {"id", "deprecatedIds", "guid", "deprecatedGuids", "name", "deprecatedNames",
                        "shortDescription", "fullDescription", "messageStrings", "defaultConfiguration",
                        "helpUri", "help", "relationships", "properties"}
REPORTING_CONFIGURATION = {"enabled", "level", "rank", "parameters", "properties"}
MULTIFORMAT_MESSAGE = {"text", "markdown", "properties"}
MESSAGE = {"text", "markdown", "id", "arguments", "properties"}
RESULT = {"guid", "correlationGuid", "ruleId", "ruleIndex", "rule", "kind", "level", "message", "analysisTarget",
          "locations", "webRequest", "webResponse", "fingerprints", "partialFingerprints", "codeFlows", "graphs",
          "graphTraversals", "stacks", "relatedLocations", "suppressions", "baselineState", "rank",
          "attachments", "hostedViewerUri", "workItemUris", "provenance", "fixes", "taxa", "properties"}
LOCATION = {"id", "physicalLocation", "logicalLocations", "message", "annotations", "relationships", "properties"}
PHYSICAL_LOCATION = {"address", "artifactLocation", "region", "contextRegion", "properties"}
ARTIFACT_LOCATION = {"uri", "uriBaseId", "index", "description", "properties"}
REGION = {"startLine", "startColumn", "endLine", "endColumn", "charOffset", "charLength", "byteOffset",
          "byteLength", "snippet", "message", "sourceLanguage", "properties"}
LEVELS = {"none", "note", "warning", "error"}
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")


def _keys(obj: object, allowed: set[str], what: str) -> dict:
    assert isinstance(obj, dict), f"{what} must be an object"
    extra = set(obj) - allowed
    assert not extra, f"{what} has properties SARIF 2.1.0 does not define: {sorted(extra)}"
    return obj


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def assert_sarif_2_1_0(log: dict, *, relative_uris: bool = True) -> None:
    _keys(log, SARIF_LOG, "sarifLog")
    assert log["version"] == "2.1.0"
    assert isinstance(log.get("$schema", ""), str)
    assert isinstance(log["runs"], list) and log["runs"]
    for run in log["runs"]:
        _keys(run, RUN, "run")
        assert run.get("columnKind", "unicodeCodePoints") in {"utf16CodeUnits", "unicodeCodePoints"}
        _keys(run["tool"], TOOL, "tool")
        driver = _keys(run["tool"]["driver"], TOOL_COMPONENT, "toolComponent")
        assert isinstance(driver["name"], str) and driver["name"]
        if "semanticVersion" in driver:
            assert _SEMVER.match(driver["semanticVersion"])
        rules = driver.get("rules", [])
        ids = [r["id"] for r in rules]
        assert len(ids) == len(set(ids)), "rule ids must be unique"
        for rule in rules:
            _keys(rule, REPORTING_DESCRIPTOR, "reportingDescriptor")
            assert isinstance(rule["id"], str) and rule["id"]
            for prose in ("shortDescription", "fullDescription", "help"):
                if prose in rule:
                    _keys(rule[prose], MULTIFORMAT_MESSAGE, f"rule.{prose}")
                    assert isinstance(rule[prose]["text"], str) and rule[prose]["text"]
            if "defaultConfiguration" in rule:
                config = _keys(rule["defaultConfiguration"], REPORTING_CONFIGURATION, "reportingConfiguration")
                assert config.get("level", "warning") in LEVELS
            if "helpUri" in rule:
                assert urlsplit(rule["helpUri"]).scheme in {"http", "https"}
        for result in run.get("results", []):
            _keys(result, RESULT, "result")
            message = _keys(result["message"], MESSAGE, "message")  # message is the one required property
            assert isinstance(message["text"], str) and message["text"]
            assert result["ruleId"] in ids, f"{result['ruleId']} is not among the driver's rules"
            if "ruleIndex" in result:
                assert _is_int(result["ruleIndex"]) and ids[result["ruleIndex"]] == result["ruleId"]
            assert result.get("level", "warning") in LEVELS
            assert isinstance(result["locations"], list) and result["locations"]
            for location in result["locations"]:
                _keys(location, LOCATION, "location")
                physical = _keys(location["physicalLocation"], PHYSICAL_LOCATION, "physicalLocation")
                artifact = _keys(physical["artifactLocation"], ARTIFACT_LOCATION, "artifactLocation")
                uri = artifact["uri"]
                parts = urlsplit(uri)
                assert not re.search(r"[\s\\]", uri), f"{uri!r} is not percent-encoded"
                if parts.scheme:  # SARIF 3.4.4: an absolute uri has no uriBaseId
                    assert not relative_uris, f"{uri!r} is not a relative reference"
                    assert "uriBaseId" not in artifact, f"{uri!r} is absolute but has a uriBaseId"
                else:
                    assert not uri.startswith("/"), f"{uri!r} is neither relative nor an absolute URI"
                    assert isinstance(artifact.get("uriBaseId", ""), str)
                if "region" in physical:
                    region = _keys(physical["region"], REGION, "region")
                    assert _is_int(region["startLine"]) and region["startLine"] >= 1
                    if "startColumn" in region:
                        assert _is_int(region["startColumn"]) and region["startColumn"] >= 1
            if "properties" in result:
                assert isinstance(result["properties"], dict)


# ---------------------------------------------------------------- text


def test_text_is_compiler_style_with_hints_and_summary() -> None:
    diags = [
        make("PV405", "contracts/a-v1.yaml", 12, 32, "unknown name 'foo'", "declare it under params"),
        make("PV205", "contracts/a-v1.yaml", 14, 9, "invariant INV-A-002 is not covered by any gate"),
    ]
    assert render_text(diags, COUNTS) == (
        "contracts/a-v1.yaml:12:32: error[PV405]: unknown name 'foo'\n"
        "  hint: declare it under params\n"
        "contracts/a-v1.yaml:14:9: warning[PV205]: invariant INV-A-002 is not covered by any gate\n"
        "pv validate: 2 contracts, 5 invariants, 2 gates, 1 falsifiers, 3 test references; 2 errors, 1 warning\n")


def test_text_whole_file_finding_has_no_line_or_column() -> None:
    text = render_text([make("PV001", "contracts/big.yaml", 0, 0, "file is too big")], COUNTS)
    assert text.splitlines()[0] == "contracts/big.yaml: error[PV001]: file is too big"


def test_text_colour_only_when_asked() -> None:
    diags = [make("PV405", "a.yaml", 1, 1, "m")]
    assert "\x1b[" not in render_text(diags, COUNTS)
    assert "\x1b[1;31merror\x1b[0m[PV405]" in render_text(diags, COUNTS, color=True)


@pytest.mark.parametrize("errors, warnings, tail", [
    (0, 0, "0 errors, 0 warnings"), (1, 1, "1 error, 1 warning"), (2, 3, "2 errors, 3 warnings")])
def test_summary_line_plurals(errors: int, warnings: int, tail: str) -> None:
    assert summary_line({**COUNTS, "errors": errors, "warnings": warnings}).endswith("; " + tail)


# ---------------------------------------------------------------- JSON


def test_json_carries_every_field_and_is_stable() -> None:
    diags = [make("PV405", "contracts/a-v1.yaml", 12, 32, "unknown name 'foo'", "declare it",
                  ("invariants", 0, "check"))]
    text = render_json(diags, COUNTS)
    assert text == render_json(list(diags), dict(reversed(list(COUNTS.items()))))  # key order does not leak
    payload = json.loads(text)
    assert payload["summary"] == COUNTS
    assert payload["tool"] == {"name": "pv-contracts", "version": __version__}
    assert payload["diagnostics"] == [{
        "code": "PV405", "severity": "error", "file": "contracts/a-v1.yaml", "line": 12, "column": 32,
        "message": "unknown name 'foo'", "hint": "declare it", "yaml_path": ["invariants", 0, "check"]}]


# ---------------------------------------------------------------- SARIF, unit


def test_sarif_unit_rendering(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    diags = [
        make("PV405", "contracts/a v1.yaml", 12, 32, "unknown name 'foo'", "declare it", ("invariants", 0, "check")),
        make("PV205", "contracts/a v1.yaml", 14, 9, "uncovered"),
        make("PV001", "contracts/big.yaml", 0, 0, "file is too big"),
    ]
    log = json.loads(render_sarif(diags, tmp_path))
    assert_sarif_2_1_0(log)
    (run,) = log["runs"]
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == set(CODES)
    assert run["tool"]["driver"]["version"] == __version__
    first, second, whole_file = run["results"]
    assert first["ruleId"] == "PV405" and first["level"] == "error"
    assert first["message"]["text"] == "unknown name 'foo' (hint: declare it)"
    loc = first["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "contracts/a%20v1.yaml"
    assert loc["region"] == {"startLine": 12, "startColumn": 32, "endLine": 12, "endColumn": 33}  # no file to read
    assert first["properties"]["yamlPath"] == ["invariants", 0, "check"]
    assert second["level"] == "warning" and "properties" not in second
    assert "region" not in whole_file["locations"][0]["physicalLocation"]
    assert whole_file["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "contracts/big.yaml"


def test_sarif_file_outside_the_root_is_an_absolute_uri_without_base(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    outside = tmp_path / "elsewhere" / "x-v1.yaml"
    log = json.loads(render_sarif([make("PV003", str(outside), 2, 1, "bad yaml")], root))
    assert_sarif_2_1_0(log, relative_uris=False)
    artifact = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": outside.resolve().as_uri()}
    with pytest.raises(AssertionError):
        assert_sarif_2_1_0(log)


def test_sarif_is_deterministic(tmp_path: Path) -> None:
    diags = [make("PV205", "a.yaml", 3, 1, "x"), make("PV001", "b.yaml", 0, 0, "y")]
    assert render_sarif(diags, tmp_path) == render_sarif(list(diags), tmp_path)
    assert "Date" not in render_sarif(diags, tmp_path) and "Time" not in render_sarif(diags, tmp_path)


def test_the_sarif_checker_rejects_what_the_spec_forbids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hand-written checker must be able to fail, or the end-to-end test proves nothing."""
    monkeypatch.chdir(tmp_path)
    good = json.loads(render_sarif([make("PV405", "a.yaml", 2, 3, "m")], tmp_path))
    assert_sarif_2_1_0(good)

    def broken(mutate) -> dict:
        log = json.loads(json.dumps(good))
        mutate(log)
        return log

    result = lambda log: log["runs"][0]["results"][0]  # noqa: E731
    region = lambda log: result(log)["locations"][0]["physicalLocation"]["region"]  # noqa: E731
    mutations = [
        lambda log: log.update(version="2.0.0"),
        lambda log: log["runs"][0]["tool"]["driver"].pop("name"),
        lambda log: result(log).update(level="fatal"),
        lambda log: result(log).update(ruleId="PV999"),
        lambda log: result(log).update(ruleIndex=0),
        lambda log: result(log)["message"].pop("text"),
        lambda log: result(log).update(severity="error"),
        lambda log: region(log).update(startLine=0),
        lambda log: region(log).update(startColumn=0),
        lambda log: result(log)["locations"][0]["physicalLocation"]["artifactLocation"].update(uri="/abs/a.yaml"),
        lambda log: result(log)["locations"][0]["physicalLocation"]["artifactLocation"].update(uri="file:///a.yaml"),
        lambda log: result(log)["locations"][0]["physicalLocation"]["artifactLocation"].update(uri="a b.yaml"),
    ]
    for mutate in mutations:
        with pytest.raises((AssertionError, KeyError)):
            assert_sarif_2_1_0(broken(mutate))


# ---------------------------------------------------------------- SARIF, end to end

_BAD = textwrap.dedent("""\
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


def test_sarif_from_the_real_program(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "contracts").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_demo.py").write_text("def test_ok():\n    pass\n")
    (tmp_path / "contracts" / "bad-v1.yaml").write_text(_BAD)
    (tmp_path / "contracts" / "broken.yaml").write_text("id: [\n")
    # Over --max-bytes: a whole-file finding (line 0) that must have no region.
    (tmp_path / "contracts" / "huge-v1.yaml").write_text(_BAD.replace("bad-v1", "huge-v1") + "#" * 2000 + "\n")
    max_bytes = str(len(_BAD) + 100)

    proc = subprocess.run([*PV, "validate", "--format", "sarif", "--max-bytes", max_bytes, "contracts"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    log = json.loads(proc.stdout)
    assert_sarif_2_1_0(log)
    assert official_schema_errors(log) == []
    assert_code_scanning(log)
    results = log["runs"][0]["results"]
    by_code = {r["ruleId"]: r for r in results}
    assert set(by_code) == {"PV001", "PV003", "PV205", "PV304", "PV405"}

    whole = by_code["PV001"]["locations"][0]["physicalLocation"]
    assert whole["artifactLocation"]["uri"] == "contracts/huge-v1.yaml"
    assert "region" not in whole

    pv405 = by_code["PV405"]["locations"][0]["physicalLocation"]
    assert pv405["artifactLocation"]["uri"] == "contracts/bad-v1.yaml"
    line = next(i for i, text in enumerate(_BAD.splitlines(), 1) if "foo > 1" in text)
    text = _BAD.splitlines()[line - 1]
    assert pv405["region"] == {"startLine": line, "startColumn": text.index("foo") + 1, "endLine": line,
                               "endColumn": len(text) + 1}
    assert by_code["PV205"]["level"] == "warning"
    assert by_code["PV405"]["level"] == by_code["PV304"]["level"] == by_code["PV003"]["level"] == "error"
    assert "did you mean" in by_code["PV304"]["message"]["text"]

    again = subprocess.run([*PV, "validate", "--format", "sarif", "--max-bytes", max_bytes, "contracts"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert again.stdout == proc.stdout

    strict = subprocess.run([*PV, "validate", "--strict", "--format", "sarif", "--max-bytes", max_bytes,
                             "contracts"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert {r["ruleId"]: r["level"] for r in json.loads(strict.stdout)["runs"][0]["results"]}["PV205"] == "error"


def test_sarif_uris_are_relative_to_the_root_from_any_working_directory(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "broken.yaml").write_text("id: [\n")
    elsewhere = tmp_path / "contracts"
    proc = subprocess.run([*PV, "validate", "--format", "sarif", "."], cwd=elsewhere,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    log = json.loads(proc.stdout)
    assert_sarif_2_1_0(log)
    (result,) = log["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "contracts/broken.yaml"


# ---------------------------------------------------------------- SARIF: the official schema, code scanning, docs

REPO = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).resolve().parents[1] / "data" / "sarif" / "sarif-schema-2.1.0.json"


def official_schema_errors(log: dict) -> list[str]:
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(log)]


def github_anchors(markdown: str) -> set[str]:
    """The fragment ids GitHub gives the headings of a Markdown file (lower case, punctuation dropped)."""
    anchors = set()
    for line in markdown.splitlines():
        heading = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug)
    return anchors


def assert_code_scanning(log: dict) -> None:
    """What GitHub code scanning asks of an upload beyond the schema."""
    anchors = github_anchors((REPO / "docs" / "codes.md").read_text(encoding="utf-8"))
    for run in log["runs"]:
        for rule in run["tool"]["driver"]["rules"]:
            assert rule["fullDescription"]["text"], rule["id"]
            assert rule["help"]["text"] and rule["help"]["markdown"], rule["id"]
            uri = urlsplit(rule["helpUri"])
            assert uri.geturl().split("#")[0].endswith("/blob/main/docs/codes.md"), rule["helpUri"]
            assert uri.fragment in anchors, f"{rule['helpUri']} names an anchor docs/codes.md does not have"
        bases = {loc["physicalLocation"]["artifactLocation"].get("uriBaseId") for r in run["results"]
                 for loc in r["locations"]} - {None}
        assert bases <= set(run.get("originalUriBaseIds", {})), "a uriBaseId without originalUriBaseIds"
        for base in run.get("originalUriBaseIds", {}).values():
            assert base["uri"].endswith("/") and urlsplit(base["uri"]).scheme == "file"
        for result in run["results"]:
            assert result["partialFingerprints"], result
            region = result["locations"][0]["physicalLocation"].get("region")
            if region is not None:
                assert region["endLine"] >= region["startLine"]
                assert region["endColumn"] > region["startColumn"] or region["endLine"] > region["startLine"]


def test_every_rule_of_every_code_passes_the_official_schema_and_code_scanning(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "a-v1.yaml").write_text("id: a-v1\nschema_version: 1\n")
    diags = [make(code, "contracts/a-v1.yaml", 2, 1, f"a finding of {code}") for code in sorted(CODES)]
    log = json.loads(render_sarif(diags, tmp_path))
    assert official_schema_errors(log) == []
    assert_sarif_2_1_0(log)
    assert_code_scanning(log)
    assert len(log["runs"][0]["results"]) == len(CODES)


def test_the_official_schema_catches_what_we_must_not_emit(tmp_path: Path) -> None:
    """The schema copy must be able to fail, or passing it proves nothing."""
    log = json.loads(render_sarif([make("PV405", "a.yaml", 2, 3, "m")], tmp_path))
    log["runs"][0]["results"][0]["level"] = "fatal"
    log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    assert len(official_schema_errors(log)) == 2


def test_partial_fingerprints_survive_a_rerun_and_lines_moving(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "contracts").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_demo.py").write_text("def test_ok():\n    pass\n")
    path = tmp_path / "contracts" / "bad-v1.yaml"
    path.write_text(_BAD)

    def fingerprints() -> dict[str, str]:
        proc = subprocess.run([*PV, "validate", "--format", "sarif", "--no-cache", "contracts"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        results = json.loads(proc.stdout)["runs"][0]["results"]
        return {r["ruleId"]: r["partialFingerprints"]["pvContractsFinding/v1"] for r in results}

    first = fingerprints()
    assert first == fingerprints()
    path.write_text("# a comment moves every line down\n\n" + _BAD)
    assert fingerprints() == first
    assert len(set(first.values())) == len(first)


def test_docs_codes_md_is_generated_from_the_code_table_and_cannot_drift() -> None:
    from pvcontracts.validate.render import codes_markdown, help_uri

    assert (REPO / "docs" / "codes.md").read_text(encoding="utf-8") == codes_markdown(), (
        "docs/codes.md is out of date: run python tools/gen_codes_doc.py")
    anchors = github_anchors(codes_markdown())
    for code in CODES:
        assert help_uri(code).endswith("#" + code.lower()) and code.lower() in anchors
