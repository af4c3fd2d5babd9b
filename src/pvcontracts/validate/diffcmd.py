"""`pv diff OLD NEW`: the semantic change between two sets of contracts and the bump each needs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from pvcontracts.contract.loading import discover, load_contract_bytes, read_bytes
from pvcontracts.contract.model import Contract
from pvcontracts.validate.diff import judge_bump


class _SideError(Exception):
    pass


def _load_side(spec: str) -> dict[str, Contract]:
    """Contracts by id from a file, a directory, or REV:PATH read from git."""
    path = Path(spec)
    if not path.exists() and ":" in spec:
        from pvcontracts.validate import gitrev

        rev, _, rel = spec.partition(":")
        try:
            top = gitrev.toplevel(Path.cwd())
            commit = gitrev.resolve_revision(rev, top)
            rel_top = (Path.cwd() / rel).resolve().relative_to(top).as_posix() if rel else ""
            names = [n for n in gitrev.list_files(commit, rel_top or ".", top) if n.endswith((".yaml", ".yml"))]
            out: dict[str, Contract] = {}
            for name in names:
                raw = gitrev.show(commit, name, top)
                if raw is None:
                    continue
                loaded = load_contract_bytes(raw, f"{rev}:{name}")
                if loaded.contract is None:  # as for a file: a broken side is an error, not a missing contract
                    first = next(d for d in loaded.diagnostics if d.severity.value == "error")
                    raise _SideError(f"{first.file}:{first.line}:{first.column}: {first.message}")
                out[loaded.contract.id] = loaded.contract
            if not names:
                raise _SideError(f"{spec}: no contract files at that revision and path")
            return out
        except (gitrev.GitError, ValueError) as exc:
            raise _SideError(f"{spec}: {exc}") from exc
    files, problems = discover([path])
    if problems or not files:
        raise _SideError(f"{spec}: no contract files found")
    out = {}
    for f in files:
        raw, errs = read_bytes(f, str(f))
        if raw is None:
            raise _SideError(errs[0].message)
        loaded = load_contract_bytes(raw, str(f))
        if loaded.contract is None:
            first = next(d for d in loaded.diagnostics if d.severity.value == "error")
            raise _SideError(f"{first.file}:{first.line}:{first.column}: {first.message} (run pv validate)")
        out[loaded.contract.id] = loaded.contract
    return out


def run_diff(old_spec: str, new_spec: str, fmt: str, stdout: TextIO, stderr: TextIO) -> int:
    try:
        old, new = _load_side(old_spec), _load_side(new_spec)
    except _SideError as exc:
        stderr.write(f"pv diff: {exc}\n")
        return 2
    # Comparing one file with one file of a different id is a rename, still worth a verdict.
    if len(old) == 1 and len(new) == 1 and set(old) != set(new):
        old_c, (new_id, new_c) = next(iter(old.values())), next(iter(new.items()))
        pairs = [(new_id, old_c, new_c)]
    else:
        pairs = [(cid, old.get(cid), new.get(cid)) for cid in sorted(set(old) | set(new))]
    records = []
    insufficient = False
    for cid, a, b in pairs:
        if a is None or b is None:
            records.append({"id": cid, "status": "added" if a is None else "removed",
                            "version": (b or a).version})
            continue
        verdict = judge_bump(a, b)
        insufficient |= not verdict.sufficient
        records.append({
            "id": cid, "status": "changed" if verdict.changes else "unchanged",
            "old_version": verdict.old_version, "new_version": verdict.new_version,
            "bump": verdict.actual, "required": verdict.required, "sufficient": verdict.sufficient,
            "changes": [{"level": c.level, "subject": c.subject, "description": c.description} for c in verdict.changes],
        })
    if fmt == "json":
        stdout.write(json.dumps({"contracts": records}, indent=2, sort_keys=True) + "\n")
    else:
        for r in records:
            if r["status"] in ("added", "removed"):
                stdout.write(f"{r['id']}: {r['status']} (version {r['version']})\n")
                continue
            mark = "ok" if r["sufficient"] else "INSUFFICIENT"
            stdout.write(f"{r['id']}: {r['old_version']} -> {r['new_version']} ({r['bump']} bump; "
                         f"{r['required']} required) {mark}\n")
            for c in r["changes"]:
                stdout.write(f"  {c['level']:5}  {c['subject']}: {c['description']}\n")
    return 1 if insufficient else 0
