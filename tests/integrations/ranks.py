"""Two CPU processes on gloo, loopback only, for the adapters' distributed tests.

Not a test module: imported by name. ``launch(script, scenario)`` starts the script twice
with the environment torchrun would give it (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR,
MASTER_PORT), so Lightning and Accelerate find their processes already launched and
initialise gloo themselves. Each rank writes one JSON line per scenario. A hang must
fail, never block CI: the launch has ``timeout`` seconds, after which both ranks are
killed (by process group, only what this module started) and the test fails with their
stderr.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

WORLD = 2


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(script: Path, scenario: str, outdir: Path, timeout: float) -> tuple[dict[int, dict[str, Any]], str]:
    """Run ``scenario`` of ``script`` on two ranks; (results by rank, the ranks' stderr when one did not report)."""
    port = _free_port()
    procs = []
    for rank in range(WORLD):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD), NODE_RANK="0",
                   LOCAL_WORLD_SIZE=str(WORLD), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                   GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                   PYTHONPATH=os.pathsep.join([str(script.parent), os.environ.get("PYTHONPATH", "")]))
        procs.append(subprocess.Popen([sys.executable, str(script), scenario, str(outdir)], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                      start_new_session=True))
    start = time.monotonic()
    stderr = ["" for _ in procs]
    for i, proc in enumerate(procs):
        try:
            _, stderr[i] = proc.communicate(timeout=max(1.0, timeout - (time.monotonic() - start)))
        except subprocess.TimeoutExpired:
            for p in procs:  # kill what this launch started, by process group, so nothing is left behind
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
            for j, p in enumerate(procs):
                _, err = p.communicate()
                stderr[j] = stderr[j] or err or ""
            stderr = [f"(killed after {timeout}s: a hang)\n" + e for e in stderr]
            break
    results: dict[int, dict[str, Any]] = {}
    for rank in range(WORLD):
        path = outdir / f"{scenario}.rank{rank}.json"
        if path.exists():
            results[rank] = json.loads(path.read_text(encoding="utf-8"))
    tails = "\n".join(f"--- rank {r} stderr ---\n{e[-4000:]}" for r, e in enumerate(stderr))
    return results, tails


def both_ranks(script: Path, scenario: str, outdir: Path, timeout: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``scenario`` on two ranks and give each rank's report; a rank that did not report, or raised, fails the test."""
    import pytest

    results, stderr = launch(script, scenario, outdir, timeout)
    if set(results) != {0, 1}:
        pytest.fail(f"{scenario}: only ranks {sorted(results)} reported\n{stderr}")
    for r in (0, 1):
        assert "error" not in results[r], f"rank {r}: {results[r].get('traceback', results[r]['error'])}"
    return results[0], results[1]


def run_scenario(scenarios: dict[str, Callable[[int, Path], dict[str, Any]]]) -> None:
    """The worker's main: run the scenario named on the command line and write this rank's result."""
    name, outdir = sys.argv[1], Path(sys.argv[2])
    rank = int(os.environ["RANK"])
    work = outdir / f"{name}.work"
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = scenarios[name](rank, work)
    except Exception as exc:  # recorded: the test of this scenario fails with it
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    (outdir / f"{name}.rank{rank}.json").write_text(json.dumps(result, default=repr), encoding="utf-8")
    sys.stdout.flush()
    sys.stderr.flush()
    # The result is on disk: skip the interpreter's teardown, where gloo's leftover threads sometimes abort.
    os._exit(0)


def violation_record(exc: Any) -> dict[str, Any]:
    v = exc.violation
    return {"raised": type(exc).__name__, "invariant": v.invariant_id, "step": v.step, "epoch": v.epoch,
            "observed_on_rank": v.observed_on_rank, "boundary": v.boundary}
