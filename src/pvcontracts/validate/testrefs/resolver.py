"""Resolving test references against the files under one repository root.

Checking one reference means, in order: its form (PV301) and that its path
stays inside the repository (PV302), in :mod:`~pvcontracts.validate.testrefs.refs`;
that the file exists (PV303), is a regular file inside the root after following
links, and parses (PV307); then what :class:`~pvcontracts.validate.testrefs.index.TestIndex`
says about the names in it (PV304, PV305, PV306).
"""

from __future__ import annotations

import difflib
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from pvcontracts.validate.testrefs.index import TestIndex
from pvcontracts.validate.testrefs.indexing import index_test_source
from pvcontracts.validate.testrefs.refs import RefProblem, TestRef, parse_test_ref

__all__ = ["TestResolver"]


@dataclass(frozen=True)
class _Loaded:
    digest: str
    index: TestIndex


class TestResolver:
    """Resolves test references against the files under one repository root.

    Files are read, hashed and parsed at most once per resolver, however many
    references name them; ``index_cache`` (SHA-256 hex digest ->
    :meth:`TestIndex.to_json`) is consulted before parsing and filled after,
    so a caller that persists it skips parsing unchanged files next time.
    """

    __test__ = False  # not a pytest test class, even when imported into a test module

    def __init__(self, root: Path, index_cache: dict[str, dict] | None = None) -> None:
        self.root = Path(root)
        self.index_cache: dict[str, dict] = index_cache if index_cache is not None else {}
        self._root_real = os.path.realpath(self.root)
        self._root_prefix = self._root_real if self._root_real.endswith(os.sep) else self._root_real + os.sep
        self._by_path: dict[str, _Loaded | RefProblem] = {}  # normalised ref path -> file or its problem
        self._by_real: dict[str, _Loaded] = {}  # real path -> file, so symlinked copies are read once
        self._digests: dict[str, str] = {}
        self._listings: dict[str, list[str] | None] = {}

    def resolve(self, ref: str) -> list[RefProblem]:
        """Problems with ``ref``; ``[]`` when it names a test that exists."""
        parsed = parse_test_ref(ref)
        if isinstance(parsed, RefProblem):
            return [parsed]
        loaded = self._by_path.get(parsed.path)
        if loaded is None:
            loaded = self._load(parsed)
            self._by_path[parsed.path] = loaded
        if isinstance(loaded, RefProblem):
            return [loaded]
        return loaded.index.check(parsed.names, parsed.param_id, parsed.path)

    def file_digests(self) -> dict[str, str]:
        """Repository-relative posix path -> SHA-256 hex digest of every test file read so far."""
        return dict(self._digests)

    def index_for(self, path: str) -> TestIndex | None:
        """The index of a test file already read by :meth:`resolve` (None if not read or unreadable)."""
        loaded = self._by_path.get(path)
        return loaded.index if isinstance(loaded, _Loaded) else None

    # ---- internals

    def _load(self, ref: TestRef) -> _Loaded | RefProblem:
        full = os.path.join(self._root_real, *ref.path.split("/"))
        try:
            real = os.path.realpath(full)
        except (OSError, ValueError) as exc:
            return RefProblem("PV303", f"test file {ref.path} cannot be read: {exc}", None)
        if real != self._root_real and not real.startswith(self._root_prefix):
            return RefProblem(
                "PV302",
                f"test file {ref.path} points outside the repository: it resolves through a "
                "symbolic link to a file outside the repository root",
                "reference the test where it lives inside the repository, or replace the link with the file",
            )
        cached = self._by_real.get(real)
        if cached is not None:
            self._digests[ref.path] = cached.digest
            return cached
        try:
            st = os.stat(real)
        except (FileNotFoundError, NotADirectoryError):
            return RefProblem("PV303", f"test file {ref.path} does not exist", self._file_hint(ref.path))
        except (OSError, ValueError) as exc:
            return RefProblem("PV303", f"test file {ref.path} cannot be read: {exc}", None)
        if not stat.S_ISREG(st.st_mode):
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            return RefProblem("PV303", f"test file {ref.path} is {kind}",
                              "a test reference must name a Python file")
        try:
            with open(real, "rb") as fh:
                data = fh.read()
        except (OSError, ValueError) as exc:
            return RefProblem("PV303", f"test file {ref.path} cannot be read: {exc}", None)
        digest = hashlib.sha256(data).hexdigest()
        index: TestIndex | None = None
        entry = self.index_cache.get(digest)
        if entry is not None:
            try:
                index = TestIndex.from_json(entry)
            except (ValueError, TypeError, AttributeError):
                index = None  # stale or damaged cache entry: parse again and overwrite it
        if index is None:
            index = index_test_source(data, ref.path)
            self.index_cache[digest] = index.to_json()
        loaded = _Loaded(digest, index)
        self._by_real[real] = loaded
        self._digests[ref.path] = digest
        return loaded

    def _file_hint(self, path: str) -> str | None:
        """Close file names in the same directory, or which directory is missing."""
        directory, _, name = path.rpartition("/")
        if directory not in self._listings:
            try:
                full = os.path.join(self._root_real, *directory.split("/")) if directory else self._root_real
                self._listings[directory] = sorted(
                    e for e in os.listdir(full) if e.endswith(".py"))
            except (OSError, ValueError):
                self._listings[directory] = None
        entries = self._listings[directory]
        if entries is None:
            return f"the directory '{directory}' does not exist"
        close = difflib.get_close_matches(name, entries, n=3, cutoff=0.6)
        if not close:
            return None
        prefix = f"{directory}/" if directory else ""
        return "did you mean " + " or ".join(f"'{prefix}{c}'" for c in close) + "?"
