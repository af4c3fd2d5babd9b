"""The warm-run cache of `pv validate`.

Keyed by content digests, never by timestamps: a contract's cached model and
per-contract diagnostics are reused only while the file's bytes are the same,
and a test file's index only while its bytes are the same, so an edited test
is always re-resolved. Stored as JSON (not pickle), because a cache file in a
checked-out repository must never be able to run code.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pvcontracts._version import __version__
from pvcontracts.contract.schema import schema_text
from pvcontracts.util.atomic import write_text_atomic

CACHE_FILE = "validate-cache.json"


def _cache_key() -> str:
    # A new tool version or schema invalidates everything: rules and messages may have changed.
    return hashlib.sha256(f"{__version__}\0{schema_text()}".encode()).hexdigest()


class ValidateCache:
    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.contracts: dict[str, dict[str, Any]] = {}
        self.test_indexes: dict[str, dict[str, Any]] = {}
        self._used_contracts: set[str] = set()
        self._dirty = False
        if directory is not None:
            self._load()

    @property
    def path(self) -> Path | None:
        return None if self.directory is None else self.directory / CACHE_FILE

    def _load(self) -> None:
        path = self.path
        try:
            raw = path.read_bytes() if path is not None else b""
        except OSError:
            return
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            return  # a corrupt cache is just a cold run
        if not isinstance(data, dict) or data.get("key") != _cache_key():
            return
        contracts, indexes = data.get("contracts"), data.get("test_indexes")
        if isinstance(contracts, dict) and isinstance(indexes, dict):
            self.contracts, self.test_indexes = contracts, indexes

    @staticmethod
    def contract_key(file: str, digest: str) -> str:
        return f"{file}\0{digest}"

    def get_contract(self, file: str, digest: str) -> dict[str, Any] | None:
        key = self.contract_key(file, digest)
        entry = self.contracts.get(key)
        if entry is not None:
            self._used_contracts.add(key)
        return entry

    def put_contract(self, file: str, digest: str, entry: dict[str, Any]) -> None:
        key = self.contract_key(file, digest)
        self.contracts[key] = entry
        self._used_contracts.add(key)
        self._dirty = True

    def put_tests(self, entry: dict[str, Any], tests: dict[str, Any]) -> None:
        """Keep a contract's test-reference results in its entry, with the digests of the test files they read."""
        if entry.get("tests") != tests:
            entry["tests"] = tests
            self._dirty = True

    def mark_indexes_dirty(self) -> None:
        self._dirty = True

    def save(self) -> None:
        if self.path is None:
            return
        stale = set(self.contracts) - self._used_contracts
        if not self._dirty and not stale:
            return
        for key in stale:  # keep the cache the size of the tree, not of its history
            del self.contracts[key]
        payload = {"key": _cache_key(), "contracts": self.contracts, "test_indexes": self.test_indexes}
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            gitignore = self.directory / ".gitignore"
            if not gitignore.exists():
                gitignore.write_text("*\n")
            write_text_atomic(self.path, json.dumps(payload, separators=(",", ":")))
        except OSError:
            pass  # a read-only checkout still validates; it just stays cold
