"""Find contract files and turn each into a model plus the diagnostics met on the way.

Loading is separate from validating: the runtime loads contracts too, and it
must refuse exactly what `pv validate` refuses, with the same diagnostics.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from pvcontracts.contract.model import Contract, build_contract
from pvcontracts.contract.schema import SchemaFault, check_schema
from pvcontracts.contract.yamlload import DEFAULT_MAX_BYTES, LoadedYaml, decode_text, load_yaml_text
from pvcontracts.diagnostic import Diagnostic, make
from pvcontracts.util.bounded import read_at_most

CONTRACT_SUFFIXES = (".yaml", ".yml")


def discover(paths: list[Path]) -> tuple[list[Path], list[Diagnostic]]:
    """Contract files under the given files and directories, sorted, each once.

    A missing path is a diagnostic; hidden directories (``.git``, caches) are skipped.
    """
    found: dict[str, Path] = {}
    problems: list[Diagnostic] = []
    for path in paths:
        if path.is_file():
            found[str(path)] = path
        elif path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in filenames:
                    if name.endswith(CONTRACT_SUFFIXES) and not name.startswith("."):
                        p = Path(dirpath) / name
                        found[str(p)] = p
        elif os.path.lexists(path):  # a FIFO, device or dangling link named explicitly: read_bytes says why not
            found[str(path)] = path
        else:
            problems.append(make("PV010", str(path), 0, 0, f"no such file or directory: {path}"))
    return [found[k] for k in sorted(found)], problems


@dataclass
class LoadedFile:
    """One contract file's outcome: the model when it is usable, and its diagnostics either way."""

    file: str
    digest: str
    contract: Contract | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    declared_id: str | None = None
    declared_invariants: tuple[str, ...] = ()  # ids a broken file still names, so references to them don't cascade
    # With errors, the model of the parts that did load (see contract.partial), for the validator's other
    # rules; None when nothing loaded (not YAML, not a mapping). Never enforced: ``contract`` stays None.
    partial: Contract | None = None


def read_bytes(path: Path, display: str, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[bytes | None, list[Diagnostic]]:
    """Read a regular file of at most ``max_bytes``; never follow into devices or FIFOs."""
    import stat

    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it. Checking the
        # open descriptor, not the path, leaves no window for the file to be swapped in between.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        return None, [make("PV001", display, 0, 0, f"cannot read file: {exc.strerror or exc}")]
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, [make("PV001", display, 0, 0, "not a regular file")]
        if st.st_size > max_bytes:
            return None, [make("PV001", display, 0, 0, f"file is {st.st_size} bytes, over the limit of {max_bytes}",
                               "contracts are a few KB; raise --max-bytes only if this one really must be this big")]
        raw = read_at_most(fd, max_bytes, chunk_size=1 << 16)  # one byte past the limit: a file that grew
    except OSError as exc:
        return None, [make("PV001", display, 0, 0, f"cannot read file: {exc.strerror or exc}")]
    finally:
        os.close(fd)
    if len(raw) > max_bytes:
        return None, [make("PV001", display, 0, 0, f"file is over the limit of {max_bytes} bytes")]
    return raw, []


def parse_contract_bytes(raw: bytes, display: str) -> tuple[LoadedYaml | None, list[Diagnostic]]:
    """Decode, parse and schema-check one contract's bytes."""
    doc, problems, _ = _parse(raw, display)
    return doc, problems


def _parse(raw: bytes, display: str) -> tuple[LoadedYaml | None, list[Diagnostic], list[SchemaFault]]:
    text, problems = decode_text(raw, display)
    if text is None:
        return None, problems, []
    doc, problems = load_yaml_text(text, display)
    if doc is None:
        return None, problems, []
    if not isinstance(doc.data, dict):
        kind = "a list" if isinstance(doc.data, list) else "a single value"
        return None, problems + [make("PV008", display, 1, 1, f"a contract is a mapping of fields, not {kind}",
                                      "start the file with 'schema_version: 1'")], []
    # A value the loader refused (a custom tag, `yes`, a merge key) already has its diagnostic;
    # the schema's complaint about the same node is a cascade with a misleading hint.
    refused = {(d.line, d.column) for d in problems}
    found, faults = check_schema(doc)
    return doc, problems + [d for d in found if (d.line, d.column) not in refused], faults


def load_contract_bytes(raw: bytes, display: str, digest: str | None = None) -> LoadedFile:
    digest = digest or hashlib.sha256(raw).hexdigest()
    doc, problems, faults = _parse(raw, display)
    declared = None
    invariant_ids: tuple[str, ...] = ()
    if doc is not None and isinstance(doc.data, dict):
        if isinstance(doc.data.get("id"), str):
            declared = doc.data["id"]
        items = doc.data.get("invariants")
        if isinstance(items, list):
            invariant_ids = tuple(i["id"] for i in items if isinstance(i, dict) and isinstance(i.get("id"), str))
    if doc is None:
        return LoadedFile(display, digest, None, problems, declared, invariant_ids)
    if any(d.severity.value == "error" for d in problems):
        return LoadedFile(display, digest, None, problems, declared, invariant_ids, _partial(display, doc, faults))
    return LoadedFile(display, digest, build_contract(display, doc.data, doc), problems, declared)


def _partial(display: str, doc: LoadedYaml, faults: list[SchemaFault]) -> Contract | None:
    """The model of what loaded; None if even that cannot be built (a bug guard: validation must go on)."""
    from pvcontracts.contract.partial import usable_parts

    try:
        parts = usable_parts(doc.data, faults)
        return build_contract(display, parts.data, doc, broken=frozenset(parts.broken),
                              broken_ids=tuple(parts.broken_ids), broken_refs=tuple(parts.broken_refs))
    except (KeyError, TypeError, AttributeError, ValueError):
        return None


def load_contract_file(path: Path, display: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> LoadedFile:
    """Load one file; the model is None when any error-level problem was found."""
    display = display or str(path)
    raw, problems = read_bytes(path, display, max_bytes)
    if raw is None:
        return LoadedFile(display, "", None, problems)
    return load_contract_bytes(raw, display)
