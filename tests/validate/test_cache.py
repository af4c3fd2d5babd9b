"""The validate cache is never trusted from the repository, and a new rule is never hidden by it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from pvcontracts.cli import run
from pvcontracts.validate import cache as cache_module
from pvcontracts.validate.cache import CACHE_FILE, default_cache_dir, user_cache_root

BROKEN = """\
schema_version: 1
id: broken-v1
version: 1.0.0
status: active
title: A contract with an unknown name in its check
changelog:
  - {version: 1.0.0, date: 2026-01-01, summary: First}
invariants:
  - id: INV-BRK-001
    title: Loss is finite
    at: step_end
    check: "isfinite(losss)"
gates:
  - id: GATE-BRK-001
    invariants: [INV-BRK-001]
    ship_blocking: true
    evidence_discharged_by: [tests/test_x.py::test_ok]
"""


def _pv(*args: str) -> tuple[int, str]:
    import io

    out, err = io.StringIO(), io.StringIO()
    code = run(list(args), out, err)
    return code, out.getvalue() + err.getvalue()


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t"})


def test_the_default_cache_is_outside_the_work_tree(project) -> None:
    project.write("ok-v1.yaml", BROKEN.replace("losss", "loss").replace("broken-v1", "ok-v1"))
    code, _ = _pv("validate", "contracts/")
    assert code == 0
    assert not (project.root / ".pv_cache").exists()
    directory = default_cache_dir(project.root)
    assert (directory / CACHE_FILE).is_file()
    assert user_cache_root() in directory.parents and project.root not in directory.parents
    assert default_cache_dir(project.root) != default_cache_dir(project.root / "contracts")  # one per repository


def test_a_committed_crafted_cache_is_ignored_with_a_note(project) -> None:
    if subprocess.run(["git", "--version"], capture_output=True).returncode != 0:
        pytest.skip("git is not installed")
    project.write("broken-v1.yaml", BROKEN)
    code, out = _pv("validate", "contracts/", "--cache-dir", ".pv_cache")
    assert code == 1 and "error[PV405]" in out
    path = project.root / ".pv_cache" / CACHE_FILE
    # the forgery: the broken contract's own entry (same bytes, same digest), its findings emptied
    crafted = json.loads(path.read_text())
    for entry in crafted["contracts"].values():
        entry["diagnostics"] = []
    path.write_text(json.dumps(crafted))
    (project.root / ".pv_cache" / ".gitignore").unlink()
    assert _pv("validate", "contracts/", "--cache-dir", ".pv_cache")[0] == 0  # an untracked copy of it is used ...
    _git(project.root, "init", "-q")
    _git(project.root, "add", "-f", ".pv_cache/" + CACHE_FILE, "contracts", "tests", "pyproject.toml")
    _git(project.root, "commit", "-q", "-m", "a pull request with a cache")
    before = path.read_bytes()
    code, out = _pv("validate", "contracts/", "--cache-dir", ".pv_cache")
    assert code == 1 and "error[PV405]" in out  # ... a tracked one is not
    assert "note[PV650]: the validate cache is tracked by git, so it came with the repository" in out
    assert path.read_bytes() == before  # and is not rewritten
    code, out = _pv("validate", "contracts/")  # by default nothing in the repository is even looked at
    assert code == 1 and "error[PV405]" in out and "PV650" not in out


def test_a_new_rule_is_not_hidden_by_a_warm_cache(project, monkeypatch: pytest.MonkeyPatch) -> None:
    from pvcontracts.diagnostic import make
    from pvcontracts.validate import rules

    project.write("ok-v1.yaml", BROKEN.replace("losss", "loss").replace("broken-v1", "ok-v1"))
    directory = project.root.parent / "cache"
    assert project.validate(cache_dir=directory, jobs=1).diagnostics == []  # warm now

    def every_contract_is_suspect(contract):
        yield make("PV210", contract.file, 1, 1, "a rule added after the cache was written")

    monkeypatch.setitem(rules.CONTRACT_RULES, "suspect", (every_contract_is_suspect, ("PV210",)))
    cache_module.registry_digest.cache_clear()
    try:
        warm = project.validate(cache_dir=directory, jobs=1)
    finally:
        cache_module.registry_digest.cache_clear()
    assert [d.code for d in warm.diagnostics] == ["PV210"]


def test_the_key_covers_the_rules_source(monkeypatch: pytest.MonkeyPatch) -> None:
    first = cache_module._cache_key()
    monkeypatch.setattr(cache_module, "registry_digest", lambda: "another rule registry")
    assert cache_module._cache_key() != first
