"""The YAML loader against hostile and odd input: every one is a diagnostic with a position, never a crash.

Deep nesting is tested in a subprocess: libyaml's C composer recurses and
segfaults far enough down, which would take pytest with it; in a child
process a crash fails the test instead.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from pvcontracts.contract import loading, yamlload
from pvcontracts.contract.loading import load_contract_file, parse_contract_bytes, read_bytes
from pvcontracts.contract.yamlload import (
    DEFAULT_MAX_BYTES,
    MAX_ALIAS_EXPANSION,
    MAX_DEPTH,
    decode_text,
    load_yaml_text,
)
from pvcontracts.diagnostic import CODES, Diagnostic

VALID = (Path(__file__).resolve().parents[1] / "data" / "valid" / "minimal.yaml").read_bytes()


def load(text: str | bytes):
    """Decode and load like `pv validate` does, without the schema: (LoadedYaml or None, diagnostics)."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    decoded, problems = decode_text(raw, "c.yaml")
    if decoded is None:
        return None, problems
    return load_yaml_text(decoded, "c.yaml")


def only(problems: list[Diagnostic], code: str) -> Diagnostic:
    assert [p.code for p in problems] == [code], problems
    return problems[0]


def where(d: Diagnostic) -> tuple[int, int]:
    return (d.line, d.column)


# --------------------------------------------------------------------------- encoding


class TestEncoding:
    @pytest.mark.parametrize("raw, pos", [
        (b"\xff", (1, 1)),
        (b"a: 1\nb: caf\xe9\n", (2, 7)),
        (b"a: 1\r\nb: caf\xe9\r\n", (2, 7)),
        (b"a: 1\nb: \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \x80\n", (2, 8)),  # columns count characters, not bytes
        (b"a: \xed\xa0\x80\n", (1, 4)),  # an encoded surrogate is not UTF-8
        (b"a: \xc0\xaf\n", (1, 4)),  # an overlong encoding neither
        (b"a: \xe2\x82\n", (1, 4)),  # a truncated sequence at the end of a line
        (b"\xef\xbb\xbfa: \xff\n", (1, 4)),  # after a BOM, which is no column
    ])
    def test_non_utf8_is_located_at_the_bad_byte(self, raw: bytes, pos: tuple[int, int]) -> None:
        d = only(load(raw)[1], "PV002")
        assert where(d) == pos
        assert "not valid UTF-8" in d.message

    @pytest.mark.parametrize("raw, pos", [(b"\x00", (1, 1)), (b"a: 1\nb: x\x00y\n", (2, 5)), (b"a: \"\x00\"\n", (1, 5))])
    def test_nul_is_refused_with_its_position(self, raw: bytes, pos: tuple[int, int]) -> None:
        d = only(load(raw)[1], "PV002")
        assert where(d) == pos
        assert "NUL" in d.message

    def test_a_bom_is_allowed_and_costs_no_column(self) -> None:
        plain, _ = load(VALID)
        bommed, problems = load(b"\xef\xbb\xbf" + VALID)
        assert problems == []
        assert bommed.data == plain.data
        assert bommed.position(("invariants", 0, "check")) == plain.position(("invariants", 0, "check"))

    def test_a_bom_in_the_middle_is_a_syntax_error_not_a_crash(self) -> None:
        assert [p.code for p in load(b"a: 1\n\xef\xbb\xbfb: 2\n")[1]] == ["PV003"]

    def test_crlf_positions_equal_lf_positions(self) -> None:
        lf, _ = load(VALID)
        crlf, problems = load(VALID.replace(b"\n", b"\r\n"))
        assert problems == []
        assert crlf.data == lf.data
        for path in [("id",), ("gates", 0, "invariants", 0), ("invariants", 0, "check")]:
            assert crlf.position(path) == lf.position(path)


# --------------------------------------------------------------------------- reading files


class TestReadingFiles:
    def test_over_the_limit_is_refused_without_reading_it(self, tmp_path: Path, monkeypatch) -> None:
        big = tmp_path / "big.yaml"
        big.write_bytes(b"# " + b"x" * (DEFAULT_MAX_BYTES + 10) + b"\n")
        asked: list[int] = []
        real_read = os.read
        monkeypatch.setattr(os, "read", lambda fd, n: asked.append(n) or real_read(fd, n))
        raw, problems = read_bytes(big, "big.yaml")
        assert raw is None
        d = only(problems, "PV001")
        assert (d.line, d.column) == (0, 0)
        assert "over the limit" in d.message and str(DEFAULT_MAX_BYTES) in d.message
        assert asked == []

    def test_a_file_that_grows_after_fstat_is_read_no_further_than_the_limit(self, tmp_path: Path, monkeypatch) -> None:
        limit = 1000
        grown = tmp_path / "grown.yaml"
        grown.write_bytes(b"a" * (limit * 50))
        real_fstat = os.fstat

        def lying_fstat(fd: int) -> os.stat_result:  # reports the size from before the file grew
            st = list(real_fstat(fd))
            st[stat.ST_SIZE] = 10
            return os.stat_result(st)

        asked: list[int] = []
        real_read = os.read
        monkeypatch.setattr(os, "fstat", lying_fstat)
        monkeypatch.setattr(os, "read", lambda fd, n: asked.append(n) or real_read(fd, n))
        raw, problems = read_bytes(grown, "grown.yaml", max_bytes=limit)
        assert raw is None
        assert "over the limit" in only(problems, "PV001").message
        assert sum(asked) <= limit + 1

    def test_exactly_at_the_limit_is_read(self, tmp_path: Path) -> None:
        path = tmp_path / "edge.yaml"
        path.write_bytes(b"#" * 99 + b"\n")
        assert read_bytes(path, "edge.yaml", max_bytes=100) == (b"#" * 99 + b"\n", [])
        assert read_bytes(path, "edge.yaml", max_bytes=99)[0] is None

    def _finishes(self, fn, seconds: float = 5.0):
        result: list = []
        worker = threading.Thread(target=lambda: result.append(fn()), daemon=True)
        worker.start()
        worker.join(seconds)
        assert not worker.is_alive(), "reading hung"
        return result[0]

    @pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
    def test_a_fifo_is_refused_without_blocking(self, tmp_path: Path) -> None:
        fifo = tmp_path / "pipe.yaml"
        os.mkfifo(fifo)
        loaded = self._finishes(lambda: load_contract_file(fifo))
        assert loaded.contract is None
        assert only(loaded.diagnostics, "PV001").message == "not a regular file"

    def test_a_directory_named_yaml_is_refused(self, tmp_path: Path) -> None:
        folder = tmp_path / "folder.yaml"
        folder.mkdir()
        loaded = self._finishes(lambda: load_contract_file(folder))
        assert only(loaded.diagnostics, "PV001").message == "not a regular file"

    @pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
    def test_a_link_to_an_endless_device_is_refused(self, tmp_path: Path) -> None:
        link = tmp_path / "zero.yaml"
        link.symlink_to("/dev/zero")
        loaded = self._finishes(lambda: load_contract_file(link))
        assert only(loaded.diagnostics, "PV001").message == "not a regular file"

    def test_missing_and_dangling(self, tmp_path: Path) -> None:
        (tmp_path / "dangling.yaml").symlink_to(tmp_path / "nowhere")
        for name in ("missing.yaml", "dangling.yaml"):
            d = only(load_contract_file(tmp_path / name).diagnostics, "PV001")
            assert d.message.startswith("cannot read file")

    @pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads everything")
    def test_unreadable(self, tmp_path: Path) -> None:
        path = tmp_path / "secret.yaml"
        path.write_bytes(VALID)
        path.chmod(0)
        try:
            assert "cannot read file" in only(load_contract_file(path).diagnostics, "PV001").message
        finally:
            path.chmod(0o600)

    def test_a_valid_file_loads(self, tmp_path: Path) -> None:
        path = tmp_path / "minimal.yaml"
        path.write_bytes(VALID)
        loaded = load_contract_file(path)
        assert loaded.diagnostics == []
        assert loaded.contract is not None and loaded.contract.id == "minimal"


# --------------------------------------------------------------------------- alias bombs


class TestAliases:
    def billion_laughs(self, levels: int = 9, width: int = 10) -> str:
        lines = ['l0: &l0 "lol"']
        for i in range(1, levels + 1):
            lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
        return "\n".join(lines) + "\n"

    def test_billion_laughs_is_refused_fast(self) -> None:
        start = time.perf_counter()
        doc, problems = load(self.billion_laughs())
        elapsed = time.perf_counter() - start
        assert doc is None
        assert "alias bomb" in only(problems, "PV006").message
        assert elapsed < 1.0

    def test_billion_laughs_through_the_whole_loader_is_fast(self) -> None:
        start = time.perf_counter()
        doc, problems = parse_contract_bytes(self.billion_laughs(levels=30).encode(), "c.yaml")
        assert doc is None and [p.code for p in problems] == ["PV006"]
        assert time.perf_counter() - start < 1.0

    def test_wide_mapping_bomb(self) -> None:
        text = "a: &a {" + ", ".join(f"k{i}: x" for i in range(100)) + "}\n"
        text += "b: &b [" + ", ".join(["*a"] * 500) + "]\nc: [" + ", ".join(["*b"] * 10) + "]\n"
        only(load(text)[1], "PV006")

    def test_a_self_referencing_alias_is_refused(self) -> None:
        only(load("a: &a [1, *a]\n")[1], "PV006")
        only(load("a: &a {b: *a}\n")[1], "PV006")

    def test_modest_aliasing_is_fine(self) -> None:
        doc, problems = load(self.billion_laughs(levels=3))  # a thousand nodes
        assert problems == []
        assert len(doc.data["l3"]) == 10 and doc.data["l3"][0][0][0] == "lol"

    def test_just_under_the_limit_is_fine(self) -> None:
        per_item = 1 + 1  # each aliased item is a one-element list of one scalar
        count = (MAX_ALIAS_EXPANSION - 100) // per_item
        text = "x: &x [1]\ny: [" + ", ".join(["*x"] * count) + "]\n"
        doc, problems = load(text)
        assert problems == [] and len(doc.data["y"]) == count
        text = "x: &x [1]\ny: [" + ", ".join(["*x"] * (MAX_ALIAS_EXPANSION // per_item + 10)) + "]\n"
        only(load(text)[1], "PV006")

    def test_an_anchor_without_aliases_is_ordinary(self) -> None:
        doc, problems = load("a: &anchor text & more\n")
        assert problems == [] and doc.data == {"a": "text & more"}

    def test_deep_nesting_through_aliases_is_refused(self) -> None:
        inner = "[" * 40 + "1" + "]" * 40
        text = f"a: &a {inner}\nb: {'[' * 40}*a{']' * 40}\n"
        d = only(load(text)[1], "PV007")
        assert d.line == 1  # the aliased collection that ends up too deep is declared on line 1


# --------------------------------------------------------------------------- deep nesting (in a child process)

_CHILD = r"""
import json, sys
from pvcontracts.contract.loading import parse_contract_bytes
raw = sys.stdin.buffer.read()
doc, problems = parse_contract_bytes(raw, "c.yaml")
print(json.dumps([[p.code, p.line, p.column] for p in problems]))
"""


def load_in_child(raw: bytes) -> list[list]:
    proc = subprocess.run([sys.executable, "-c", _CHILD], input=raw, capture_output=True, timeout=60)
    assert proc.returncode == 0, f"loader crashed (rc={proc.returncode}): {proc.stderr.decode()[-2000:]}"
    return json.loads(proc.stdout)


def _block_mapping(depth: int) -> bytes:
    return b"".join(b" " * i + b"k:\n" for i in range(depth))


def _block_sequence(depth: int) -> bytes:
    return b"".join(b"  " * i + b"-\n" for i in range(depth))


class TestDeepNesting:
    @pytest.mark.parametrize("raw, pos", [
        (b"[" * 100_000, (1, MAX_DEPTH + 1)),
        (b"- " * 100_000, (1, 2 * MAX_DEPTH + 1)),
        (b"{a: " * 100_000, (1, 4 * MAX_DEPTH + 1)),
        (b"[" * 100_000 + b"]" * 100_000, (1, MAX_DEPTH + 1)),
        (b"a: " + b"[{b: " * 50_000, (1, 5 + 5 * (MAX_DEPTH // 2 - 1))),  # depth 65 is the 32nd `{`
        (_block_mapping(1400), (MAX_DEPTH + 1, MAX_DEPTH + 1)),  # one more space per level: deep yet under 1 MiB
        (_block_sequence(700), (MAX_DEPTH + 1, 2 * MAX_DEPTH + 1)),
    ], ids=["flow-lists", "block-lists", "flow-maps", "closed-flow-lists", "mixed", "block-maps", "block-seqs"])
    def test_pathological_nesting_is_pv007_not_a_crash(self, raw: bytes, pos: tuple[int, int]) -> None:
        assert len(raw) <= DEFAULT_MAX_BYTES
        assert load_in_child(raw) == [["PV007", *pos]]

    def test_everything_together_in_one_child(self) -> None:
        # one more, through the engine's own path from bytes to diagnostics, with a contract around it
        raw = VALID.replace(b"title: The smallest useful contract", b"title: " + b"[" * 50_000)
        found = load_in_child(raw)
        assert [c for c, _, _ in found] == ["PV007"]

    @pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH])
    def test_the_limit_itself_is_allowed(self, depth: int) -> None:
        # the root mapping is one level; `k:` values add the rest
        doc, problems = load(b"k: " + b"[" * (depth - 1) + b"]" * (depth - 1))
        assert problems == [] and doc is not None

    @pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100, 399, 401, 1000])
    def test_just_past_the_limit_is_refused_at_every_depth(self, depth: int) -> None:
        # the cheap bound skips the exact event scan for shallow-looking files; the limit must hold anyway
        d = only(load(b"k: " + b"[" * (depth - 1) + b"]" * (depth - 1))[1], "PV007")
        assert where(d) == (1, 4 + MAX_DEPTH - 1)

    @pytest.mark.parametrize("indent", [1, 2])
    def test_block_mappings_nested_one_column_per_level(self, indent: int) -> None:
        text = b"".join(b" " * (indent * i) + b"k:\n" for i in range(MAX_DEPTH + 5))
        d = only(load(text)[1], "PV007")
        assert where(d) == (MAX_DEPTH + 1, indent * MAX_DEPTH + 1)


class TestDepthWhicheverPyYAML:
    """PyYAML 6.0.3's C parser yields events at any depth; 6.0.4's refuses flow nesting past 1000 by itself.

    The C event stream is stood in for with each release's behaviour, so both are tested
    whichever one is installed (CI also runs this file under each release in turn).
    """

    FLOW = "[" * 100_000

    @staticmethod
    def refuses_like_6_0_4(text: str):
        """libyaml's refusal as PyYAML 6.0.4 raises it, before the first event of a run of brackets."""
        depth = 0
        for index, char in enumerate(text):
            depth += char in "[{"
            if depth > 1000:
                mark = yaml.Mark("<unicode string>", index, 0, index, None, None)
                raise yaml.scanner.ScannerError("while increasing flow level", mark,
                                                "exceeded maximum nesting depth", mark)
        yield from yaml.parse(text, Loader=yaml.SafeLoader)

    @staticmethod
    def yields_like_6_0_3(text: str):
        yield from yaml.parse(text, Loader=yaml.SafeLoader)

    @pytest.mark.parametrize("release", ["6.0.3", "6.0.4"])
    @pytest.mark.parametrize("text, pos", [
        (FLOW, (1, MAX_DEPTH + 1)),
        ("k: " + "[" * 2000 + "]" * 2000, (1, 4 + MAX_DEPTH - 1)),
        ("a: " + "{b: " * 3000, (1, 4 + 4 * (MAX_DEPTH - 1))),  # the root mapping is the first level
    ], ids=["flow-lists", "closed-under-a-key", "flow-maps-under-a-key"])
    def test_the_same_pv007_under_either_release(self, monkeypatch, release: str, text: str,
                                                 pos: tuple[int, int]) -> None:
        events = self.refuses_like_6_0_4 if release == "6.0.4" else self.yields_like_6_0_3
        monkeypatch.setattr(yamlload, "_c_events", events)
        d = only(load(text)[1], "PV007")
        assert where(d) == pos

    def test_the_installed_release_agrees(self) -> None:
        # whichever PyYAML is installed, the real C parser gives the answer the stand-ins give
        assert where(only(load(self.FLOW)[1], "PV007")) == (1, MAX_DEPTH + 1)

    def test_the_depth_refusal_is_recognised_by_its_words(self) -> None:
        mark = yaml.Mark("<unicode string>", 1000, 0, 1000, None, None)
        refusal = yaml.scanner.ScannerError("while increasing flow level", mark, "exceeded maximum nesting depth", mark)
        other = yaml.scanner.ScannerError("while parsing a flow node", mark, "did not find expected node content", mark)
        assert yamlload._is_library_depth_limit(refusal)
        assert not yamlload._is_library_depth_limit(other)

    def test_other_syntax_errors_are_not_rescanned(self, monkeypatch) -> None:
        # the pure-Python rescan costs ~5 s per MiB, so only the library's depth refusal pays for it
        rescans: list[object] = []
        real_parse = yaml.parse
        monkeypatch.setattr(yaml, "parse", lambda text, Loader: rescans.append(Loader) or real_parse(text, Loader=Loader))
        text = "k: [" + "1, " * 300 + "\n"  # long enough to pass the cheap bound, then unclosed
        d = only(load(text)[1], "PV003")
        assert d.line >= 1
        assert yaml.SafeLoader not in rescans


# --------------------------------------------------------------------------- document shape


class TestDocumentShape:
    @pytest.mark.parametrize("text", ["", "   \n\n", "# only a comment\n", "\ufeff", "\ufeff# bom and comment\n"])
    def test_no_document(self, text: str) -> None:
        d = only(load(text)[1], "PV008")
        assert "no YAML document" in d.message

    def test_an_empty_document_is_not_a_mapping(self) -> None:
        doc, problems = parse_contract_bytes(b"---\n", "c.yaml")
        assert doc is None and "not a single value" in only(problems, "PV008").message

    @pytest.mark.parametrize("text, pos", [("a: 1\n---\nb: 2\n", (2, 1)), ("---\na: 1\n---\n", (3, 1)),
                                           ("a: 1\n...\n---\nb: 2\n", (3, 1)), ("a: 1\n--- b\n", (2, 1))])
    def test_several_documents(self, text: str, pos: tuple[int, int]) -> None:
        d = only(load(text)[1], "PV008")
        assert where(d) == pos
        assert "exactly one YAML document" in d.message

    @pytest.mark.parametrize("text", ["---\na: 1\n", "%YAML 1.1\n---\na: 1\n", "a: 1\n...\n"])
    def test_one_document_with_markers_is_fine(self, text: str) -> None:
        doc, problems = load(text)
        assert problems == [] and doc.data == {"a": 1}

    @pytest.mark.parametrize("raw, kind", [(b"- a\n- b\n", "a list"), (b"hello\n", "a single value"),
                                           (b"null\n", "a single value"), (b"42\n", "a single value"),
                                           (b"[schema_version, 1]\n", "a list")])
    def test_not_a_mapping(self, raw: bytes, kind: str) -> None:
        doc, problems = parse_contract_bytes(raw, "c.yaml")
        assert doc is None
        d = only(problems, "PV008")
        assert kind in d.message and where(d) == (1, 1)


# --------------------------------------------------------------------------- YAML features refused


class TestRefusedFeatures:
    @pytest.mark.parametrize("tagged", [
        "!!python/object:os.system {}",
        "!!python/object/apply:os.system [echo pwned]",
        "!!python/object/new:subprocess.Popen [[ls]]",
        "!!python/name:os.system",
        "!!python/module:os",
        "!!python/tuple [1, 2]",
        "!include other.yaml",
        "!<tag:example.com,2000:thing> x",
        "!!binary aGVsbG8=",
        "!!set {a, b}",
        "!!omap [a: 1]",
        "!!pairs [a: 1]",
    ])
    def test_tags_are_refused_and_nothing_is_executed(self, tagged: str) -> None:
        doc, problems = load(f"key: {tagged}\n")
        d = only(problems, "PV009")
        assert where(d) == (1, 6)
        assert "tag" in d.message
        assert doc.data == {"key": None}

    @pytest.mark.parametrize("text, value", [("a: !!str 12\n", "12"), ("a: !!int '12'\n", 12),
                                             ("a: !!float '1.5'\n", 1.5), ("a: !!bool true\n", True),
                                             ("a: !!null ''\n", None), ("a: 2026-11-21\n", "2026-11-21"),
                                             ("a: 2001-12-14t21:59:43.10-05:00\n", "2001-12-14t21:59:43.10-05:00")])
    def test_standard_tags_and_timestamps_are_plain_values(self, text: str, value: object) -> None:
        doc, problems = load(text)
        assert problems == [] and doc.data == {"a": value}

    @pytest.mark.parametrize("text", ["a: !!int abc\n", "a: !!float abc\n", "a: " + "9" * 5000 + "\n"])
    def test_a_value_that_cannot_be_constructed_is_located(self, text: str) -> None:
        d = only(load(text)[1], "PV003")
        assert where(d) == (1, 4)

    def test_merge_keys_are_refused_where_they_are(self) -> None:
        text = "base: &b {x: 1}\nother:\n  y: 2\n  <<: *b\nmore:\n  <<: [*b, {z: 3}]\n"
        doc, problems = load(text)
        assert [(p.code, where(p)) for p in problems] == [("PV009", (4, 3)), ("PV009", (6, 3))]
        assert doc.data["other"] == {"y": 2}  # nothing merged in silently

    @pytest.mark.parametrize("text, read_as", [("1: a\n", "int"), ("1.5: a\n", "float"), ("true: a\n", "bool"),
                                               ("~: a\n", "NoneType"), ("null: a\n", "NoneType")])
    def test_non_string_keys(self, text: str, read_as: str) -> None:
        doc, problems = load(text)
        d = only(problems, "PV009")
        assert where(d) == (1, 1) and read_as in d.message
        assert list(doc.data) == [text.split(":")[0]]  # kept as its text so later rules can name it

    def test_yes_as_a_key_is_both_a_boolean_and_not_text(self) -> None:
        assert sorted(p.code for p in load("yes: a\n")[1]) == ["PV005", "PV009"]

    @pytest.mark.parametrize("text", ["? [a, b]\n: 1\n", "? {a: 1}\n: 1\n", "{[a]: 1}\n"])
    def test_collection_keys_are_refused_and_dropped(self, text: str) -> None:
        doc, problems = load(text)
        assert "used as a mapping key" in only(problems, "PV009").message
        assert doc.data == {}

    def test_quoted_keys_that_look_like_numbers_are_text(self) -> None:
        doc, problems = load('"1": a\n\'true\': b\n')
        assert problems == [] and doc.data == {"1": "a", "true": "b"}


class TestYaml11Booleans:
    @pytest.mark.parametrize("word, value", [("yes", True), ("Yes", True), ("YES", True), ("no", False),
                                             ("No", False), ("NO", False), ("on", True), ("On", True),
                                             ("ON", True), ("off", False), ("Off", False), ("OFF", False)])
    def test_yaml11_words_are_flagged(self, word: str, value: bool) -> None:
        doc, problems = load(f"flag: {word}\n")
        d = only(problems, "PV005")
        assert where(d) == (1, 7)
        assert f"quote it (\"{word}\")" in d.hint and str(value).lower() in d.hint
        assert doc.data == {"flag": value}

    @pytest.mark.parametrize("text", ["flag: true\n", "flag: False\n", "flag: TRUE\n", 'flag: "yes"\n',
                                      "flag: 'no'\n", "flag: y\n", "flag: n\n", "flag: yes please\n"])
    def test_ordinary_booleans_and_text_are_not(self, text: str) -> None:
        assert load(text)[1] == []

    def test_in_flow_collections_and_nested(self) -> None:
        problems = load("a: [yes, 'no', off]\nb:\n  c: {d: On}\n")[1]
        assert [(p.code, where(p)) for p in problems] == [("PV005", (1, 5)), ("PV005", (1, 16)), ("PV005", (3, 10))]


class TestDuplicateKeys:
    def test_top_level(self) -> None:
        doc, problems = load("a: 1\nb: 2\na: 3\n")
        d = only(problems, "PV004")
        assert where(d) == (3, 1)
        assert "first defined at line 1, column 1" in d.message
        assert doc.data == {"a": 1, "b": 2}  # the first one is kept; neither is silently lost without a word

    def test_nested_levels_name_both_positions(self) -> None:
        text = "outer:\n  - item:\n      k: 1\n      j: 2\n      k: 3\n  - {m: 1, n: 2, m: 3}\n"
        problems = sorted(load(text)[1], key=where)
        assert [(p.code, where(p)) for p in problems] == [("PV004", (5, 7)), ("PV004", (6, 18))]
        assert "duplicate key 'k' (first defined at line 3, column 7)" in problems[0].message
        assert "duplicate key 'm' (first defined at line 6, column 6)" in problems[1].message

    def test_quoting_does_not_make_a_key_different(self) -> None:
        problems = load("a: 1\n'a': 2\n\"a\": 3\n")[1]
        assert [(p.code, where(p)) for p in problems] == [("PV004", (2, 1)), ("PV004", (3, 1))]

    def test_same_key_in_sibling_mappings_is_fine(self) -> None:
        assert load("x: {a: 1}\ny: {a: 2}\nz:\n  - a: 1\n  - a: 2\n")[1] == []


class TestSyntaxErrors:
    def test_tab_indentation_has_a_hint(self) -> None:
        d = only(load("a:\n\tb: 1\n")[1], "PV003")
        assert where(d) == (2, 1)
        assert "tabs" in d.hint

    def test_tab_after_a_dash(self) -> None:
        d = only(load("a:\n  - \tb: 1\n  -\tc: 2\n")[1], "PV003")
        assert "tabs" in (d.hint or "")

    def test_tabs_inside_values_are_fine(self) -> None:
        doc, problems = load('a: "x\ty"\nb: x\ty\n')
        assert problems == [] and doc.data == {"a": "x\ty", "b": "x\ty"}

    def test_colon_space_in_a_plain_value(self) -> None:
        d = only(load("title: Cap: the limit\n")[1], "PV003")
        assert where(d) == (1, 11)
        assert "quote" in d.hint

    @pytest.mark.parametrize("text, pos", [("a: [1, 2\n", (2, 1)), ("a: {b: 1\n", (2, 1)), ("a: 'open\n", (2, 1)),
                                           ("a: \"x\\q\"\n", (1, 6)), ("a:\n  b: 1\n c: 2\n", (3, 2)),
                                           ("- a\nb: 1\n", (2, 1)), ("a: *nowhere\n", (1, 4)),
                                           ("a: &x 1\nb: &x 2\nc: *x\n", (2, 4)), ("...\n", (1, 1))])
    def test_errors_are_located(self, text: str, pos: tuple[int, int]) -> None:
        d = only(load(text)[1], "PV003")
        assert where(d) == pos, d
        assert d.message.startswith("invalid YAML")


# --------------------------------------------------------------------------- positions


class TestPositions:
    TEXT = "a:\n  b: [x, 'y']\n  c:\n    - {d: 1}\n"

    def test_value_and_key_positions(self) -> None:
        doc, _ = load(self.TEXT)
        assert doc.position(("a", "b")) == (2, 6)
        assert doc.position(("a", "b"), key=True) == (2, 3)
        assert doc.position(("a", "b", 1)) == (2, 10)
        assert doc.position(("a", "c", 0, "d")) == (4, 11)

    def test_a_missing_path_points_at_its_deepest_existing_ancestor(self) -> None:
        doc, _ = load(self.TEXT)
        assert doc.position(("a", "zzz")) == doc.position(("a",))
        assert doc.position(("a", "b", 7)) == doc.position(("a", "b"))
        assert doc.position(("a", "b", "not-an-index")) == doc.position(("a", "b"))

    def test_scalar_text_keeps_the_spelling(self) -> None:
        doc, _ = load("v: 1.10\nw: 010\nx: [1]\n")
        assert doc.data["v"] == 1.1
        assert doc.scalar_text(("v",)) == "1.10"
        assert doc.scalar_text(("w",)) == "010"
        assert doc.scalar_text(("x",)) is None

    @pytest.mark.parametrize("text, offset, pos", [
        ('e: "a \\"b\\" c"\n', 6, (1, 13)),                       # after two escapes
        ("e: 'it''s x'\n", 5, (1, 11)),                           # after a doubled quote
        ('e: "\\u00e9 x"\n', 2, (1, 12)),                         # after a unicode escape
        ("e: plain x\n", 6, (1, 10)),
        ("e: |\n    first\n    second x\n", 13, (3, 12)),         # literal block, second line
        ("e: >-\n  first\n  second x\n", 13, (3, 10)),            # folded block
        ("e: first\n   second x\n", 13, (2, 11)),                 # plain scalar over two lines
        ('e: "first\n   second x"\n', 13, (2, 11)),
        ("e: \"x\"\r\nf: 1\r\n", 0, (1, 5)),
    ])
    def test_expression_positions_follow_the_source(self, text: str, offset: int, pos: tuple[int, int]) -> None:
        doc, problems = load(text)
        assert problems == []
        line, col = doc.expression_position(("e",), offset)
        assert (line, col) == pos
        assert doc.text.split("\n")[line - 1][col - 1] == doc.data["e"][offset]

    def test_expression_position_of_a_non_scalar_is_the_node(self) -> None:
        doc, _ = load("e: [1, 2]\n")
        assert doc.expression_position(("e",), 5) == (1, 4)


def test_every_loader_diagnostic_uses_a_registered_code() -> None:
    samples = ["", "a: [", "a: yes", "a: 1\na: 2", "a: !x 1", "<<: {}", "- 1", "a: 1\n---\nb: 2",
               "[" * 500, "a: &a [*a]"]
    for text in samples:
        for d in load(text)[1]:
            assert d.code in CODES and d.file == "c.yaml" and d.line >= 1 and d.column >= 1


def test_pyyaml_c_parser_is_in_use() -> None:
    """The speed (and the reason for the depth pre-check) come from libyaml; a silent fallback would hide both."""
    assert hasattr(yaml, "CSafeLoader")
    assert loading.load_yaml_text is load_yaml_text
