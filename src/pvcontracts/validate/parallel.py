"""Cold-run work spread over worker processes: contracts loaded and linted, test files indexed.

A cold `pv validate` of thousands of contracts is CPU-bound Python (YAML
construction, expression parsing, `ast.parse` of test files), one file at a
time and independent per file, so it is split across cores the way flake8's
``--jobs`` does. Workers return the same plain entries the warm-run cache
stores, so the main process treats their results exactly like cache hits:
one code path for what a contract's own rules found, whoever computed it.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

MIN_FILES_PER_JOB = 32  # below this a worker's start-up costs more than it saves


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_jobs() -> int:
    return max(1, min(usable_cpus(), 8))


def contract_entry(display: str, raw: bytes, digest: str) -> dict[str, Any]:
    """Load one contract and run its own rules; the result in the cache's entry shape."""
    from pvcontracts.contract.loading import load_contract_bytes
    from pvcontracts.validate.rules import run_contract_rules

    loaded = load_contract_bytes(raw, display, digest)
    found = list(loaded.diagnostics)
    model = loaded.contract or loaded.partial
    if model is not None:
        found.extend(run_contract_rules(model))  # on a partial model too: every problem of the file at once
    partial = None
    if loaded.contract is None and loaded.partial is not None:
        p = loaded.partial
        partial = {"data": p.data, "broken": sorted(p.broken), "broken_ids": list(p.broken_ids),
                   "broken_refs": list(p.broken_refs)}
    return {
        "data": loaded.contract.data if loaded.contract is not None else None,
        "partial": partial,
        "declared_id": loaded.declared_id,
        "declared_invariants": list(loaded.declared_invariants) if loaded.contract is None else [],
        "diagnostics": [d.to_dict() for d in found],
    }


def _named_test_files(data: Any, root: str, seen: set[str]) -> list[tuple[str, bytes]]:
    """The regular files inside ``root`` that a contract's gates and falsifiers name, each once."""
    refs: list[str] = []
    for gate in data.get("gates", []):
        if gate is not None:  # None: a gate of a partial model that did not load
            refs.extend(gate.get("evidence_discharged_by", []))
    refs.extend(f.get("test") for f in data.get("falsifiers", []) if f is not None)
    out = []
    for ref in refs:
        rel = ref.split("::", 1)[0] if isinstance(ref, str) and "::" in ref else None
        if rel is None or rel in seen:
            continue
        seen.add(rel)
        full = os.path.realpath(os.path.join(root, rel))
        if not full.startswith(root + os.sep) or not os.path.isfile(full):
            continue  # the resolver reports these itself
        try:
            with open(full, "rb") as fh:
                out.append((rel, fh.read()))
        except OSError:
            continue
    return out


def _contract_batch(batch: list[tuple[str, bytes, str]], root: str | None = None
                    ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Entries for a batch, plus the indexes of the test files they name (parsed here, not in the main process)."""
    entries = [contract_entry(*item) for item in batch]
    indexes: dict[str, dict[str, Any]] = {}
    if root is not None:
        seen: set[str] = set()
        for entry in entries:
            data = entry["data"] if entry.get("data") is not None else (entry.get("partial") or {}).get("data")
            if data is not None:
                indexes.update(_index_batch(_named_test_files(data, root, seen)))
    return entries, indexes


def _index_batch(batch: list[tuple[str, bytes]]) -> list[tuple[str, dict[str, Any]]]:
    import hashlib

    from pvcontracts.validate.testrefs import index_test_source

    return [(hashlib.sha256(data).hexdigest(), index_test_source(data, name).to_json()) for name, data in batch]


def _batches(items: list[Any], jobs: int) -> list[list[Any]]:
    # A few batches per worker: even load without paying a round trip per file.
    count = min(len(items), jobs * 4)
    return [items[i::count] for i in range(count)]


def _executor(jobs: int) -> ProcessPoolExecutor:
    import multiprocessing

    # fork: workers inherit the imported modules and the compiled schema instead of re-importing them.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(method))


def worth_it(count: int, jobs: int) -> bool:
    return jobs > 1 and count >= 2 * MIN_FILES_PER_JOB


def contract_entries(items: list[tuple[str, bytes, str]], jobs: int, root: str | None = None,
                     test_indexes: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Entries for ``items`` in their order, computed by ``jobs`` processes (or here, when few).

    With ``root`` and ``test_indexes``, the workers also parse the test files each contract
    names and add their indexes, so the main process resolves references without parsing.
    """
    if not worth_it(len(items), jobs):
        return [contract_entry(*item) for item in items]
    batches = _batches(items, jobs)
    with _executor(min(jobs, len(batches))) as pool:
        results = list(pool.map(_contract_batch, batches, [root] * len(batches)))
    if test_indexes is not None:
        for _, indexes in results:
            for digest, index in indexes.items():
                test_indexes.setdefault(digest, index)
    # Undo the striding of _batches: item k sits in batch k % count at position k // count.
    count = len(batches)
    return [results[k % count][0][k // count] for k in range(len(items))]
