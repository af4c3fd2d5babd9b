"""Load one YAML document safely, keep every node's position, and report hostile input.

PyYAML's C parser does the parsing (it is the fast path the benchmark compares
against); construction is ours so that duplicate keys, YAML 1.1 booleans and
merge keys become diagnostics instead of silent surprises. The composed node
tree is kept so any diagnostic can later point at the exact line and column of
the value it concerns, at no cost on the happy path.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import yaml

from pvcontracts.diagnostic import Diagnostic, make

try:  # the C parser; the pure-Python one is a fallback for exotic builds only
    _Parser = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml is a hard dependency in practice
    _Parser = yaml.SafeLoader

DEFAULT_MAX_BYTES = 1 << 20      # 1 MiB: a contract is a few KB; anything this big is a mistake or an attack
MAX_DEPTH = 64                    # no sane contract nests deeper; the C composer recurses and can crash far deeper
MAX_ALIAS_EXPANSION = 100_000     # nodes an aliased document may expand to before it is called a bomb
_SAFE_DEPTH_BOUND = 400           # below this bound the C composer cannot overflow its stack, so no exact scan

_TRUE_FALSE = {"true", "True", "TRUE", "false", "False", "FALSE"}
Path_ = tuple[str | int, ...]

# Bidirectional controls (the Trojan Source characters): text holding them displays in another order than
# it is read, so a contract would say one thing to its reviewer and another to the tool.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")
_BIDI_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\(?:u|U0000)(061[cC]|200[eEfF]|202[a-eA-E]|206[6-9])")


@dataclass
class LoadedYaml:
    """A parsed document: its plain Python value plus the node tree that knows positions."""

    file: str
    data: Any
    root: yaml.Node | None
    text: str

    def node_at(self, path: Path_) -> tuple[yaml.Node | None, yaml.Node | None]:
        """Return (key node, value node) for a path; the deepest existing ancestor when it is missing."""
        node = self.root
        key_node = None
        for part in path:
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == part:
                        key_node, node = k, v
                        break
                else:
                    return key_node, node
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                key_node, node = None, node.value[part]
            else:
                return key_node, node
        return key_node, node

    def position(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """1-based (line, column) of the value at ``path`` (or of its key when ``key``)."""
        key_node, node = self.node_at(path)
        target = key_node if (key and key_node is not None) else node
        if target is None:
            return (1, 1)
        mark = target.start_mark
        return (mark.line + 1, mark.column + 1)

    def scalar_text(self, path: Path_) -> str | None:
        """The scalar exactly as written (``1.10``, ``no``), for hints about YAML's implicit typing."""
        _, node = self.node_at(path)
        if isinstance(node, yaml.ScalarNode):
            return node.value
        return None

    def expression_position(self, path: Path_, offset: int) -> tuple[int, int]:
        """Position of character ``offset`` inside the string scalar at ``path``.

        Walks the source so that escapes (``\\"``, ``''``), a block scalar's
        indentation and line breaks are accounted for. Exact for single-line
        scalars and literal blocks; a folded line counts as one character.
        """
        _, node = self.node_at(path)
        if not isinstance(node, yaml.ScalarNode):
            return self.position(path)
        mark = node.start_mark
        lines = self.text.split("\n")
        if node.style in ("|", ">"):
            return _block_position(lines, mark.line + 1, node.end_mark.line, offset)
        quote = node.style if node.style in ("'", '"') else None
        line = lines[mark.line] if mark.line < len(lines) else ""
        if quote is not None and line[mark.column:mark.column + 1] != quote:
            # the source does not look as expected (an exotic line break); stay on the first line
            return (mark.line + 1, mark.column + 2 + offset)
        return _flow_position(lines, mark.line, mark.column + (1 if quote else 0), quote, offset)


def _flow_position(lines: list[str], line_no: int, col: int, quote: str | None, offset: int) -> tuple[int, int]:
    """Walk ``offset`` characters of a plain or quoted scalar's value through its source text."""
    remaining = offset
    text = lines[line_no].rstrip("\r") if line_no < len(lines) else ""
    while remaining > 0:
        if col >= len(text):  # a line break inside a flow scalar folds to one character
            if line_no + 1 >= len(lines):
                break
            line_no += 1
            text = lines[line_no].rstrip("\r")
            col = len(text) - len(text.lstrip(" \t"))
        elif quote == '"' and text[col] == "\\":
            col += {"x": 4, "u": 6, "U": 10}.get(text[col + 1:col + 2], 2)
        elif quote == "'" and text.startswith("''", col):
            col += 2
        else:
            col += 1
        remaining -= 1
    return (line_no + 1, col + 1)


def _block_position(lines: list[str], first: int, last: int, offset: int) -> tuple[int, int]:
    """Walk ``offset`` characters of a block scalar's lines ``first..last``, indented like the first non-blank one."""
    content = [line.rstrip("\r") for line in lines[first:last + 1]]
    indent = next((len(t) - len(t.lstrip(" ")) for t in content if t.strip()), 0)
    remaining = offset
    for i, text in enumerate(content):
        body = text[indent:]
        if remaining <= len(body):
            return (first + i + 1, indent + 1 + remaining)
        remaining -= len(body) + 1  # a literal line break, or the space a folded one becomes
    return (first + 1, indent + 1)


class _Constructor(_Parser):
    """C-parsed, Python-constructed loader that reports instead of guessing."""

    def __init__(self, stream: str, file: str) -> None:
        super().__init__(stream)
        self.file = file
        self.problems: list[Diagnostic] = []

    def _diag(self, code: str, node: yaml.Node, message: str, hint: str | None = None) -> None:
        mark = node.start_mark
        self.problems.append(make(code, self.file, mark.line + 1, mark.column + 1, message, hint))

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError, IndexError, KeyError, TypeError) as exc:  # `!!int abc`, `!!bool`, 5000 digits
            self.recursive_objects.pop(node, None)
            self._diag("PV003", node, f"invalid YAML value: {exc}", "quote the value if it is meant as text")
            return None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):  # an explicit tag: `!!map x`, `!!map [1]`
            raise yaml.constructor.ConstructorError(None, None, f"expected a mapping node, but found {node.id}",
                                                    node.start_mark)
        mapping: dict[Any, Any] = {}
        seen: dict[Any, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self._diag("PV009", key_node, "YAML merge keys ('<<') are not part of the contract format",
                           "write the fields out; anchors and aliases of whole values are fine")
                continue
            if not isinstance(key_node, yaml.ScalarNode):  # `? [a, b]`: a list or mapping as a key
                kind = "list" if isinstance(key_node, yaml.SequenceNode) else "mapping"
                self._diag("PV009", key_node, f"a {kind} used as a mapping key is not part of the contract format",
                           "keys are plain text, like the field names of the format")
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                self._diag("PV009", key_node, f"mapping key {key_node.value!r} is read as {type(key).__name__}, not text",
                           f"quote the key: \"{key_node.value}\"")
                key = str(key_node.value)
            if key in seen:
                first = seen[key].start_mark
                self._diag("PV004", key_node, f"duplicate key '{key}' (first defined at line {first.line + 1}, "
                           f"column {first.column + 1}); YAML would silently keep only the last value",
                           "remove or rename one of the two")
                continue
            seen[key] = key_node
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_yaml_map(self, node: yaml.MappingNode):  # type: ignore[override]
        data: dict[Any, Any] = {}
        yield data
        data.update(self.construct_mapping(node))

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:  # type: ignore[override]
        value = super().construct_yaml_int(node)
        problem = _odd_int(node.value, value)
        if problem is not None:
            self._diag("PV011", node, *problem)
        return value

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:  # type: ignore[override]
        value = super().construct_yaml_float(node)
        text = node.value
        if ":" in text or "_" in text:
            self._diag("PV011", node, f"'{text}' is read by YAML 1.1 as the number {value!r}"
                       + (" (base 60)" if ":" in text else " (underscores dropped)"),
                       f"quote it (\"{text}\") for text, or write {value!r}")
        return value

    def construct_yaml_bool(self, node: yaml.ScalarNode) -> bool:  # type: ignore[override]
        value = super().construct_yaml_bool(node)
        if node.value not in _TRUE_FALSE:
            self._diag("PV005", node, f"'{node.value}' is read by YAML 1.1 as the boolean {str(value).lower()}",
                       f"write {str(value).lower()} for a boolean, or quote it (\"{node.value}\") for text")
        return value

    def construct_undefined(self, node: yaml.Node) -> None:  # type: ignore[override]
        self._diag("PV009", node, f"custom tag '{node.tag}' is not allowed in a contract",
                   "remove the tag; contracts use plain YAML values only")
        return None


_Constructor.add_constructor("tag:yaml.org,2002:map", _Constructor.construct_yaml_map)
_Constructor.add_constructor("tag:yaml.org,2002:bool", _Constructor.construct_yaml_bool)
_Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_yaml_int)
_Constructor.add_constructor("tag:yaml.org,2002:float", _Constructor.construct_yaml_float)
_Constructor.add_constructor(None, _Constructor.construct_undefined)
# Timestamps, binary, sets and ordered maps have no place in a contract; read them as text or refuse them.
_Constructor.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)
for _tag in ("binary", "set", "omap", "pairs"):
    _Constructor.add_constructor(f"tag:yaml.org,2002:{_tag}", _Constructor.construct_undefined)


def _odd_int(text: str, value: int) -> tuple[str, str] | None:
    """(message, hint) when YAML 1.1 reads ``text`` as an integer other than the decimal it looks like.

    YAML 1.2 and JSON read these differently or as text, and the reader sees a decimal:
    ``010`` is 8, ``1:30`` is 90, ``0x1F`` is 31, ``0b11`` is 3, ``1_000`` is 1000.
    """
    digits = text.lstrip("+-")
    shown = repr(value) if value.bit_length() < 64 else "a very large number"
    if ":" in digits:
        return (f"'{text}' is read by YAML 1.1 as the base-60 number {shown}",
                f"quote it (\"{text}\") for text, or write {shown}")
    if digits[:2] in ("0x", "0X", "0b", "0B"):
        base = "hexadecimal" if digits[1] in "xX" else "binary"
        return (f"'{text}' is read by YAML 1.1 as the {base} number {shown}",
                f"write {shown}, or quote it (\"{text}\") for text")
    if "_" in digits:
        return (f"'{text}' is read by YAML 1.1 as the number {shown} (underscores dropped; YAML 1.2 reads text)",
                f"write {shown}, or quote it (\"{text}\") for text")
    if len(digits) > 1 and digits[0] == "0":
        decimal = text[:len(text) - len(digits)] + (digits.lstrip("0") or "0")
        if decimal.lstrip("+") == shown:  # 01: octal and decimal agree, this time
            return (f"'{text}' has a leading zero, which YAML 1.1 reads as octal (here it happens to be {shown})",
                    f"write {shown}, or quote it (\"{text}\") for text")
        return (f"'{text}' is read by YAML 1.1 as the octal number {shown}, not {decimal}",
                f"write {decimal} for the decimal number, or quote it (\"{text}\") for text")
    return None


def bidi_diagnostics(text: str, file: str, root: yaml.Node | None = None) -> list[Diagnostic]:
    """A PV012 for every bidirectional control in ``text``, and in the quoted scalars that spell one as an escape."""
    out = []
    for match in _BIDI.finditer(text):
        out.append(_bidi(file, text, match.start(), match.group()))
    if root is not None and ("\\u" in text or "\\U" in text):
        for match in _BIDI_ESCAPE.finditer(text):
            at = match.start() + len(match.group(1))  # past escaped backslashes: "\\\\u202e" is visible text
            if _inside_double_quotes(root, text, at):
                out.append(_bidi(file, text, at, chr(int(match.group(2), 16)), escaped=True))
    return out


def _bidi(file: str, text: str, offset: int, char: str, escaped: bool = False) -> Diagnostic:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    name = unicodedata.name(char, "a bidirectional control")
    how = "the escape of " if escaped else ""
    return make("PV012", file, line, column,
                f"{how}U+{ord(char):04X} ({name}) is a bidirectional control character: the text around it "
                "displays in another order than it is read (Trojan Source)",
                "remove it; a contract must read the same to its reviewer and to the tool")


def _inside_double_quotes(root: yaml.Node, text: str, offset: int) -> bool:
    """Whether ``offset`` falls inside a double-quoted scalar (the only style where ``\\u`` is an escape)."""
    stack = [root]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            if node.style == '"' and node.start_mark.index <= offset < node.end_mark.index:
                return True
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(c for pair in node.value for c in pair)
    return False


def decode_text(raw: bytes, display: str) -> tuple[str | None, list[Diagnostic]]:
    """Strict UTF-8 (a BOM is allowed); the first bad byte is located by line and column."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        # everything before exc.start decoded fine, so the column can count characters like an editor does
        column = len(before[before.rfind(b"\n") + 1:].decode("utf-8")) + 1
        return None, [make("PV002", display, line, column,
                           f"byte 0x{raw[exc.start]:02x} is not valid UTF-8 ({exc.reason})",
                           "save the file as UTF-8")]
    if "\x00" in text:
        offset = text.index("\x00")
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        return None, [make("PV002", display, line, column, "NUL character in a text file")]
    return text, []


def _depth_bound(text: str) -> int:
    """A cheap upper bound on nesting depth: flow brackets plus the longest line.

    Block nesting needs a column per level (a mapping in a mapping is indented
    by as little as one space), so the longest line, not half of it, bounds it.
    """
    longest = max((len(line) for line in text.splitlines()), default=0)
    return text.count("[") + text.count("{") + longest + 1


def _check_depth(text: str, file: str) -> Diagnostic | None:
    """Exact nesting check over the event stream, which parsers iterate where the composer would recurse.

    The C parser answers first. From PyYAML 6.0.4 its scanner refuses flow nesting past
    1000 levels on its own, and for brackets with nothing between them it scans that far
    ahead before yielding the first event, so our limit never gets to speak. That refusal
    is recognised and the same text rescanned with the pure-Python parser, which has no
    such limit and yields the same events: the diagnostic is the same whichever PyYAML is
    installed. Only files past the cheap bound that the C parser refused pay for it
    (about 0.25 s for the largest file the loader reads).
    """
    if _depth_bound(text) < _SAFE_DEPTH_BOUND:
        return None
    try:
        return _first_too_deep(_c_events(text), file)
    except yaml.YAMLError as exc:
        if not _is_library_depth_limit(exc):
            return None  # the real load reports the syntax error with its position
    try:
        return _first_too_deep(yaml.parse(text, Loader=yaml.SafeLoader), file)
    except yaml.YAMLError:
        return None


def _c_events(text: str):
    """The C parser's event stream (a seam, so tests can stand in for either PyYAML release)."""
    return yaml.parse(text, Loader=_Parser)


def _is_library_depth_limit(exc: yaml.YAMLError) -> bool:
    """True for libyaml's own nesting refusal ("exceeded maximum nesting depth", PyYAML 6.0.4)."""
    words = " ".join(str(part) for part in (getattr(exc, "problem", None), getattr(exc, "context", None)) if part)
    return "nesting depth" in (words or str(exc))


def _first_too_deep(events, file: str) -> Diagnostic | None:
    """PV007 at the first collection that opens past MAX_DEPTH, or None when the stream never goes that deep."""
    depth = 0
    for event in events:
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                return _nesting_too_deep(file, event.start_mark)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
    return None


def _nesting_too_deep(file: str, mark: yaml.Mark) -> Diagnostic:
    return make("PV007", file, mark.line + 1, mark.column + 1, f"collections nest deeper than {MAX_DEPTH} levels",
                "flatten the structure; contracts need only a few levels")


def _alias_expansion(root: yaml.Node, limit: int) -> bool:
    """True when the document, with aliases expanded, exceeds ``limit`` nodes (counted with memoisation)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:  # a recursive alias expands forever
            return limit + 1
        active.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k) + size(v)
                if total > limit:
                    break
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item)
                if total > limit:
                    break
        active.discard(key)
        sizes[key] = total
        return total

    return size(root) > limit


def _too_deep_tree(node: yaml.Node, limit: int) -> yaml.Node | None:
    """:func:`_too_deep` for a document without anchors: a tree, so no node is reached twice."""
    if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        return None
    level = [node]
    depth = 1
    while level:  # breadth first, one level of collections at a time
        if depth > limit:
            return min(level, key=lambda n: n.start_mark.index)  # the first in document order
        below = []
        for current in level:
            if current.__class__ is yaml.SequenceNode:
                below.extend(c for c in current.value if c.__class__ is not yaml.ScalarNode)
            else:
                for k, v in current.value:
                    if k.__class__ is not yaml.ScalarNode:
                        below.append(k)
                    if v.__class__ is not yaml.ScalarNode:
                        below.append(v)
        level = below
        depth += 1
    return None


def _too_deep(node: yaml.Node, limit: int) -> yaml.Node | None:
    """The first collection nested inside more than ``limit`` collections (aliases followed), or None.

    Counts collections only, as the event scan in :func:`_check_depth` does, so
    both report the same limit at the same node.
    """
    collections = (yaml.MappingNode, yaml.SequenceNode)
    stack = [(node, 1)] if isinstance(node, collections) else []
    seen: set[tuple[int, int]] = set()  # an aliased subtree is walked once per depth it appears at
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return current
        marker = (id(current), depth)
        if marker in seen:
            continue
        seen.add(marker)
        items = current.value if isinstance(current, yaml.SequenceNode) else [c for pair in current.value for c in pair]
        stack.extend((c, depth + 1) for c in reversed(items) if isinstance(c, collections))  # document order first
    return None


def _yaml_error(exc: yaml.YAMLError, file: str, text: str) -> Diagnostic:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"{context}: {problem}" if context else str(problem)
    hint = None
    if mark is not None:
        lines = text.splitlines()
        if 0 <= mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]:
            hint = "YAML does not allow tabs for indentation; indent with spaces"
    if hint is None and "\t" in message:
        hint = "YAML does not allow tabs for indentation; indent with spaces"
    if hint is None and "mapping values are not allowed" in message:
        hint = "quote a value that contains ': '"
    return make("PV003", file, line, column, f"invalid YAML: {message}", hint)


def load_yaml_text(text: str, file: str) -> tuple[LoadedYaml | None, list[Diagnostic]]:
    """Parse one document; return it with the problems found, or None with at least one error."""
    doc, problems = _load(text, file)
    # isascii() first: it is nearly free, and a text of ASCII alone can hold a bidi control only as an escape
    if ("\\u" in text or "\\U" in text) if text.isascii() else _BIDI.search(text) or "\\u" in text or "\\U" in text:
        problems = bidi_diagnostics(text, file, doc.root if doc is not None else None) + problems
    return doc, problems


def _load(text: str, file: str) -> tuple[LoadedYaml | None, list[Diagnostic]]:
    deep = _check_depth(text, file)
    if deep is not None:
        return None, [deep]
    loader = _Constructor(text, file)
    try:
        try:
            root = loader.get_single_node()
        except yaml.composer.ComposerError as exc:
            if "expected a single document" in str(exc):
                mark = exc.problem_mark
                return None, [make("PV008", file, mark.line + 1, mark.column + 1,
                                   "a contract file holds exactly one YAML document",
                                   "split the documents into one file per contract")]
            return None, [_yaml_error(exc, file, text)]
        except yaml.YAMLError as exc:
            return None, [_yaml_error(exc, file, text)]
        except RecursionError:
            return None, [make("PV007", file, 1, 1, "collections nest too deeply to load")]
        if root is None:
            return None, [make("PV008", file, 1, 1, "the file holds no YAML document",
                               "a contract starts with 'schema_version: 1'")]
        # aliases need anchors; without '&' there is nothing to expand
        if "&" in text and _alias_expansion(root, MAX_ALIAS_EXPANSION):
            return None, [make("PV006", file, 1, 1,
                               f"aliases expand to more than {MAX_ALIAS_EXPANSION} nodes (an alias bomb?)",
                               "write the repeated values out, or alias less")]
        # The event scan only runs past _SAFE_DEPTH_BOUND; the limit itself holds at every depth.
        # without an anchor the nodes form a tree: a plain walk, level by level, does (a third of the cost)
        deep_node = _too_deep(root, MAX_DEPTH) if "&" in text else _too_deep_tree(root, MAX_DEPTH)
        if deep_node is not None:
            return None, [_nesting_too_deep(file, deep_node.start_mark)]
        try:
            data = loader.construct_document(root)
        except yaml.YAMLError as exc:
            return None, [_yaml_error(exc, file, text)]
        except (RecursionError, ValueError, OverflowError, IndexError, TypeError) as exc:
            return None, [make("PV003", file, 1, 1, f"invalid YAML value: {exc}")]
        problems = list(loader.problems)
    finally:
        loader.dispose()
    return LoadedYaml(file, data, root, text), problems


