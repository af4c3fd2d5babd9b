"""What else in the repository a test's outcome depends on: its conftests and everything it imports.

A bound test passes or fails because of its own file, the ``conftest.py``
files pytest loads for it (every one from the repository root down to its
directory), and the repository's modules it imports: the package under test,
shared helpers, and whatever those import in turn. ``pv check`` records the
digest of each as an input of the gate, so ``pv verify`` calls the gate stale
when one of them changed, though no test file did.

Found statically, with :mod:`ast`, never by importing: every ``import`` and
``from ... import`` anywhere in a file (inside functions too: pvcontracts
imports lazily) resolved the way Python would for a test run from the
repository root: against the importing file's own directory (pytest's
``prepend`` mode puts a test's base directory first on ``sys.path``), the
root, and ``src/``. A name that resolves to no file inside the repository (the
standard library, an installed package) is not an input.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

_SKIP = frozenset({"site-packages", "dist-packages", "node_modules", "__pycache__"})


class SourceGraph:
    """Resolves imports to repository files, parsing each file at most once."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.realpath(root))
        self._imports: dict[str, set[str]] = {}
        self._roots = [self.root, self.root / "src"]

    def _rel(self, path: Path) -> str | None:
        try:
            rel = path.relative_to(self.root).as_posix()
        except ValueError:
            return None
        if any(part.startswith(".") or part in _SKIP for part in rel.split("/")):
            return None  # a virtual environment or cache inside the repository is not the project's code
        return rel

    def _base_dir(self, file: Path) -> Path:
        """pytest's prepend rootdir for a file: the first directory up that is not a package."""
        d = file.parent
        while (d / "__init__.py").is_file() and d != self.root:
            d = d.parent
        return d

    def _module_files(self, name: str, search: list[Path]) -> list[str]:
        """The files importing dotted ``name`` loads: each package's __init__.py and the module itself."""
        parts = name.split(".")
        for base in search:
            found: list[str] = []
            d = base
            ok = True
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                pkg = d / part
                if (pkg / "__init__.py").is_file():
                    found.append(pkg / "__init__.py")
                    d = pkg
                elif last and (d / f"{part}.py").is_file():
                    found.append(d / f"{part}.py")
                elif pkg.is_dir() and not last:  # a namespace package
                    d = pkg
                else:
                    ok = False
                    break
            if ok and found:
                rels = [self._rel(Path(os.path.realpath(p))) for p in found]
                return [r for r in rels if r is not None]
        return []

    def imports_of(self, rel: str) -> set[str]:
        """The repository files ``rel`` imports directly."""
        if rel in self._imports:
            return self._imports[rel]
        self._imports[rel] = set()  # a cycle ends here
        file = self.root / rel
        try:
            tree = ast.parse(file.read_bytes(), filename=rel)
        except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
            return self._imports[rel]
        search = [self._base_dir(file), *self._roots]
        package = file.parent
        out: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    out.update(self._module_files(alias.name, search))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package
                    for _ in range(node.level - 1):
                        base = base.parent
                    names = [node.module] if node.module else []
                    anchors = [base]
                else:
                    names = [node.module] if node.module else []
                    anchors = search
                for name in names:
                    out.update(self._module_files(name, anchors))
                for alias in node.names:  # `from pkg import submodule`
                    target = ".".join([*names, alias.name]) if names else alias.name
                    out.update(self._module_files(target, anchors))
        out.discard(rel)
        self._imports[rel] = out
        return out

    def conftests(self, rel: str) -> list[str]:
        """Every conftest.py pytest loads for a test file: from the root down to its directory."""
        out = []
        parts = rel.split("/")[:-1]
        for i in range(len(parts) + 1):
            candidate = "/".join([*parts[:i], "conftest.py"])
            if (self.root / candidate).is_file():
                out.append(candidate)
        return out

    def support(self, test_files: list[str]) -> list[str]:
        """Every repository file the given test files depend on, besides themselves, sorted."""
        seen: set[str] = set()
        frontier = list(test_files)
        for t in test_files:
            frontier.extend(self.conftests(t))
        while frontier:
            rel = frontier.pop()
            if rel in seen:
                continue
            seen.add(rel)
            frontier.extend(self.imports_of(rel) - seen)
        return sorted(seen - set(test_files))
