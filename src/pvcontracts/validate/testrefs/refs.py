"""Test references: the syntax ``path/to/test_file.py::Name[::Name...][param-id]``, checked without the file system.

A reference is exactly the node id pytest prints, relative to the repository
root, and it must be written in that normal form: a path with ``.``, ``..`` or
empty segments is refused (PV301, or PV302 when it leaves the root) with the
normal form as the hint, so ``pv validate`` and ``pv check`` can never read
one reference two ways.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["EXPECTED_FORM", "RefProblem", "TestRef", "parse_test_ref"]

EXPECTED_FORM = (
    "write it as path/to/test_file.py::test_name, path/to/test_file.py::TestClass::test_method "
    "or path/to/test_file.py::test_name[param-id], relative to the repository root"
)


@dataclass(frozen=True)
class RefProblem:
    """One thing wrong with a test reference; the caller adds file and line of the contract."""

    code: str
    message: str
    hint: str | None = None


@dataclass(frozen=True)
class TestRef:
    """A syntactically valid reference, split into its parts; ``path`` is the file part as written."""

    __test__ = False  # not a pytest test class, even when imported into a test module

    ref: str
    path: str
    names: tuple[str, ...]
    param_id: str | None


def _malformed(ref: str, why: str, hint: str | None = None) -> RefProblem:
    return RefProblem("PV301", f"malformed test reference {ref!r}: {why}", hint or EXPECTED_FORM)


def _escapes(ref: str, why: str) -> RefProblem:
    return RefProblem(
        "PV302",
        f"test reference {ref!r} points outside the repository: {why}",
        "test paths must be relative to the repository root and stay inside it, "
        "e.g. tests/test_x.py::test_name",
    )


_BAD_CHAR = re.compile(r"[\s\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_BAD_CHAR_IN_ID = re.compile(r"[^\S ]|[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # a plain space is allowed


def _bad_char(text: str, allow_space: bool = False) -> str | None:
    """Describe the first whitespace, control or surrogate character in ``text`` (None when clean)."""
    found = (_BAD_CHAR_IN_ID if allow_space else _BAD_CHAR).search(text)
    if found is None:
        return None
    ch = found.group()
    if ch.isspace():
        return f"whitespace ({ch!r})"
    if 0xD800 <= ord(ch) <= 0xDFFF:
        return f"the lone surrogate {ch!r}"
    return f"the control character {ch!r}"


# The shape nearly every reference has, all ASCII: a relative path of plain segments, identifiers, an
# optional printable id. What it matches the full parse below accepts as is, so it may answer first.
_PLAIN = re.compile(r"((?:[A-Za-z0-9_-]+/)*[A-Za-z0-9_-]+\.py)::((?:[A-Za-z_]\w*::)*[A-Za-z_]\w*)(?:\[([ -~]*)\])?\Z",
                    re.ASCII)


def parse_test_ref(ref: str) -> TestRef | RefProblem:
    """Split ``ref`` into path, names and parameter id, or say why it is malformed.

    Only the syntax and the lexical path are checked here (PV301, PV302); the
    file system is not touched, so this is also what other parts of the tool use
    to turn a reference into a pytest node id.
    """
    plain = _PLAIN.match(ref) if isinstance(ref, str) else None
    if plain is not None:
        return TestRef(ref, plain.group(1), tuple(plain.group(2).split("::")), plain.group(3))
    return _parse(ref)


def _parse(ref: str) -> TestRef | RefProblem:
    if not isinstance(ref, str):
        return _malformed(repr(ref), f"expected a string, got {type(ref).__name__}")
    if not ref:
        return _malformed(ref, "it is empty")
    sep = ref.find("::")
    if sep < 0:
        hint = EXPECTED_FORM
        if ref.endswith(".py"):
            hint = f"name the test inside the file, e.g. {ref}::test_name"
        return _malformed(ref, "it has no '::' separating the file from the test name", hint)
    path, rest = ref[:sep], ref[sep + 2:]

    param_id: str | None = None
    bracket = rest.find("[")
    if bracket >= 0:
        if not rest.endswith("]"):
            return _malformed(ref, "the parameter id must end the reference with ']'")
        param_id = rest[bracket + 1:-1]  # may be empty: pytest.param(..., id="") gives "name[]"
        rest = rest[:bracket]
        bad = _bad_char(param_id, allow_space=True)
        if bad:
            return _malformed(ref, f"the parameter id contains {bad}",
                              "pytest escapes tabs, newlines and control characters in ids (\\t, \\n, \\x01)")
    elif "]" in rest:
        return _malformed(ref, "it has a ']' without a matching '['")

    for part, what in ((path, "path"), (rest, "test name")):
        bad = _bad_char(part)
        if bad:
            return _malformed(ref, f"the {what} contains {bad}")

    names = tuple(rest.split("::"))
    for name in names:
        if not name:
            return _malformed(ref, "it has an empty test name (a stray or doubled '::')")
        if not name.isidentifier():
            return _malformed(ref, f"{name!r} is not a Python identifier")

    if "\\" in path:
        return _malformed(ref, "the path contains a backslash",
                          f"use '/' to separate directories: {path.replace(chr(92), '/')}::{'::'.join(names)}")
    if not path:
        return _malformed(ref, "the path before '::' is empty")
    if path.startswith("/") or (len(path) >= 2 and path[1] == ":" and path[0].isalpha()):
        return _escapes(ref, f"{path!r} is an absolute path")
    segments = path.split("/")
    if not segments[-1].endswith(".py") or segments[-1] == ".py":
        return _malformed(ref, f"{path!r} is not a Python file (it must end in .py)")
    normal: list[str] = []
    for seg in segments:
        if seg == "..":
            if not normal:
                return _escapes(ref, f"'..' in {path!r} leaves the repository root")
            normal.pop()
        elif seg not in ("", "."):
            normal.append(seg)
    if len(normal) != len(segments):
        # pytest prints every node id in this normal form, and `pv check` binds by node id: a reference
        # written otherwise would pass here and never be discharged there.
        odd = "an empty directory name ('//')" if "" in segments else (
            "a '..' segment" if ".." in segments else "a '.' segment")
        suffix = "::".join(names) + (f"[{param_id}]" if param_id is not None else "")
        return _malformed(ref, f"the path {path!r} is not in normal form: it has {odd}",
                          f"pytest node ids are always normalised; write {'/'.join(normal)}::{suffix}")
    return TestRef(ref, path, names, param_id)
