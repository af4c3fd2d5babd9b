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
from typing import Any, Iterable

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
    if loaded.contract is not None:
        found.extend(run_contract_rules(loaded.contract))
    return {
        "data": loaded.contract.data if loaded.contract is not None else None,
        "declared_id": loaded.declared_id,
        "declared_invariants": list(loaded.declared_invariants) if loaded.contract is None else [],
        "diagnostics": [d.to_dict() for d in found],
    }


def _contract_batch(batch: list[tuple[str, bytes, str]]) -> list[dict[str, Any]]:
    return [contract_entry(*item) for item in batch]


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


def contract_entries(items: list[tuple[str, bytes, str]], jobs: int) -> list[dict[str, Any]]:
    """Entries for ``items`` in their order, computed by ``jobs`` processes (or here, when few)."""
    if not worth_it(len(items), jobs):
        return [contract_entry(*item) for item in items]
    batches = _batches(items, jobs)
    with _executor(min(jobs, len(batches))) as pool:
        results = list(pool.map(_contract_batch, batches))
    # Undo the striding of _batches: item k sits in batch k % count at position k // count.
    count = len(batches)
    return [results[k % count][k // count] for k in range(len(items))]


def test_indexes(files: Iterable[tuple[str, bytes]], jobs: int) -> dict[str, dict[str, Any]]:
    """digest -> TestIndex JSON for test files, parsed by ``jobs`` processes."""
    items = list(files)
    if not worth_it(len(items), jobs):
        return dict(_index_batch(items))
    with _executor(jobs) as pool:
        return {k: v for batch in pool.map(_index_batch, _batches(items, jobs)) for k, v in batch}
