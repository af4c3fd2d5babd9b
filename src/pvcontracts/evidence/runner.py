"""Run exactly the bound tests in one pytest session, in a subprocess, and read back what it saw.

The session runs with the same interpreter as ``pv``, from the repository root
(``--rootdir`` pinned, so node ids are the repository-relative references the
contracts use), with the project's own pytest configuration and conftests.
It is given the bound *files*; the plugin's ``--pv-select`` then keeps exactly
the bound tests, so one missing test cannot turn the whole session into a
usage error, and the markers of every test in those files are still read.

Settings that make a run depend on earlier ones are switched off: the cache
provider (``--lf``, ``--ff``, stepwise) is disabled, and Hypothesis runs
under a named profile with no example database. Collection errors do not stop
the session (``--continue-on-collection-errors``): they become evidence
against the tests in the broken file.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pvcontracts.evidence.results import RawResults

ABNORMAL_EXIT = {2: "interrupted", 3: "internal error", 4: "usage error"}


class RunnerError(Exception):
    """The session could not be started as asked (e.g. -n without pytest-xdist); the message says why."""


@dataclass
class Session:
    results: RawResults
    exitstatus: int
    duration: float
    log_tail: str
    workers: int | None

    @property
    def abnormal(self) -> str | None:
        if self.exitstatus in ABNORMAL_EXIT:
            return ABNORMAL_EXIT[self.exitstatus]
        if self.exitstatus not in (0, 1, 5):
            return f"exit status {self.exitstatus}"
        return None


def xdist_available() -> bool:
    return importlib.util.find_spec("xdist") is not None


def pytest_available() -> bool:
    return importlib.util.find_spec("pytest") is not None


def run_session(root: Path, selectors: list[str], files: list[str], *, profile: str | None = None,
                seed: int | None = None, workers: int | None = None, pytest_args: list[str] | None = None,
                stream: TextIO | None = None, mutation_plan: dict | None = None) -> Session:
    """Run the tests ``selectors`` select among ``files``; ``stream`` receives pytest's output live.

    With ``mutation_plan`` the same session then reruns the passing tests against its mutants
    (``--pv-mutate``); the verdicts come back in ``results.mutation``.
    """
    if selectors and not pytest_available():
        # Said once, as what to install: otherwise every gate reads "errored" over one missing package.
        raise RunnerError("the gates' tests run under pytest, which is not installed in this environment "
                          f"({sys.executable}); install it with the tests' own needs: pip install "
                          "\"pv-contracts[dev]\" (or pytest and hypothesis), or give results with --results")
    if workers and not xdist_available():
        raise RunnerError("-n needs pytest-xdist, which is not installed (pip install pytest-xdist)")
    if not selectors:
        return Session(RawResults(source="run", collection_known=True), 5, 0.0, "", None)
    with tempfile.TemporaryDirectory(prefix="pv-evidence-") as tmp:
        select = Path(tmp) / "select.json"
        select.write_text(json.dumps(sorted(selectors)), encoding="utf-8")
        record = Path(tmp) / "results"
        record.mkdir()
        cmd = [sys.executable, "-m", "pytest", "-p", "pvcontracts.evidence.plugin", "-p", "no:cacheprovider",
               f"--rootdir={root}", "--continue-on-collection-errors", "-q",
               # "--opt=value", one token each: pytest looks for its config file before plugin options
               # are known, and a separate value would be taken for a path and move the search root.
               f"--pv-record={record}", f"--pv-select={select}"]
        if profile is not None:
            cmd += [f"--pv-profile={profile}"]
        if seed is not None:
            cmd += [f"--pv-seed={seed}"]
        if mutation_plan is not None:
            plan = Path(tmp) / "mutants.json"
            plan.write_text(json.dumps(mutation_plan, sort_keys=True), encoding="utf-8")
            cmd += [f"--pv-mutate={plan}"]
        if workers:
            cmd += ["-p", "xdist", f"--numprocesses={workers}"]
        cmd += list(pytest_args or ())
        cmd += files
        tail: deque[str] = deque(maxlen=60)
        started = time.monotonic()
        try:
            proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, text=True, encoding="utf-8", errors="replace")
        except OSError as exc:
            raise RunnerError(f"cannot start pytest: {exc}") from None
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line)
            if stream is not None:
                stream.write(line)
                stream.flush()
        exitstatus = proc.wait()
        duration = time.monotonic() - started
        results = RawResults(source="run")
        found = sorted(record.glob("results-*.json"))
        for path in found:
            try:
                results.merge(RawResults.from_json(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError) as exc:
                tail.append(f"pv: cannot read {path.name}: {exc}\n")
        results.exitstatus = exitstatus
        if not found and exitstatus not in ABNORMAL_EXIT:
            exitstatus = 3  # the plugin never wrote: it did not load, so nothing it says can be trusted
            tail.append("pv: the pytest session wrote no evidence (was the pvcontracts plugin disabled?)\n")
        return Session(results, exitstatus, duration, "".join(tail), workers)
