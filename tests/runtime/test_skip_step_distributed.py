"""skip_step across ranks: rank 1 alone sees a NaN, both ranks withhold the same step's update.

Two CPU processes on gloo run this file as a script (``python test_skip_step_distributed.py
RANK PORT OUTDIR``). Each rank trains a real DDP model twice from the same seed: once
under a Monitor with a skip_step invariant (``isfinite(loss)``), rank 1's batch at step
5 poisoned with a NaN; once by hand, both ranks skipping step 5 themselves (no
``optimizer.step()``). The weights must be identical across ranks and bit-equal to the
hand run's, and on the quiet path no step may read a tensor back to the host (counted as
tests/runtime/test_no_sync.py counts: ``.item()``, ``.cpu()``, ``.tolist()``, ``bool()`` and
friends called from pvcontracts code). A hang fails: gloo collectives time out, and the
launch is killed after ``LAUNCH_TIMEOUT_S``.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import signal
import socket
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

WORLD = 2
STEPS = 12
SKIPPED = 5
SYNC_EVERY = 4
LAUNCH_TIMEOUT_S = 90
READS = ("item", "cpu", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__", "__repr__", "__format__")
CONTRACT = """\
schema_version: 1
id: skip-v1
version: 1.0.0
status: active
title: Non-finite losses skip their step
changelog:
  - {version: 1.0.0, date: 2026-12-13, summary: First}
invariants:
  - id: INV-SKIP-001
    title: The loss is finite, or the step's update is withheld on every rank
    at: step_end
    check: "isfinite(loss)"
    on_violation: skip_step
"""

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo")


# =============================================================================== the worker (one per rank)


class Reads:
    """Tensor reads made from pvcontracts code, counted per step (the runtime tests' harness, in a process)."""

    def __init__(self) -> None:
        import pvcontracts

        self.package = str(Path(pvcontracts.__file__).resolve().parent)
        self.count = 0
        for name in READS:
            original = getattr(torch.Tensor, name)

            def counting(tensor: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
                frame = sys._getframe(1)
                while frame is not None:
                    if frame.f_code.co_filename.startswith(self.package):
                        self.count += 1
                        break
                    frame = frame.f_back
                return __original(tensor, *args, **kwargs)

            setattr(torch.Tensor, name, counting)


def train(rank: int, monitor: Any, by_hand: bool, reads: Reads | None) -> tuple[list[Any], list[int]]:
    from torch.nn.parallel import DistributedDataParallel as DDP

    torch.manual_seed(0)
    model = DDP(torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    if monitor is not None:
        monitor.watch(model, optimizer)
    data = torch.Generator().manual_seed(100 + rank)  # each rank its own shard
    per_step: list[int] = []
    for step in range(STEPS):
        x = torch.randn(16, 4, generator=data)
        y = x.sum(dim=1, keepdim=True)
        if rank == 1 and step == SKIPPED:
            x[0, 0] = math.nan  # rank 1 alone sees the poisoned batch
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()  # DDP all-reduces the gradients: rank 1's NaN reaches rank 0's gradients too
        before = reads.count if reads else 0
        if by_hand and step == SKIPPED:
            continue
        optimizer.step()
        if monitor is not None:
            monitor.step_end(loss=loss.detach())
        per_step.append((reads.count if reads else 0) - before)
    return [p.detach().clone() for p in model.module.parameters()], per_step


def worker(rank: int, port: int, outdir: Path) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD,
                            timeout=datetime.timedelta(seconds=30))
    torch.set_num_threads(1)
    result: dict[str, Any] = {}
    try:
        import warnings

        from pvcontracts.runtime import Monitor

        root = outdir / f"contracts{rank}"
        root.mkdir(exist_ok=True)
        (root / "skip-v1.yaml").write_text(CONTRACT, encoding="utf-8")
        reads = Reads()
        monitor = Monitor.from_contracts(root, sync_every=SYNC_EVERY)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            weights, per_step = train(rank, monitor, False, reads)
            monitor.close()
        by_hand, _ = train(rank, None, True, None)
        mine = torch.cat([w.reshape(-1) for w in weights])
        gathered = [torch.zeros_like(mine) for _ in range(WORLD)]
        dist.all_gather(gathered, mine)
        result = {"skipped": monitor.skipped_steps, "per_step": per_step,
                  "violations": [(v.invariant_id, v.step, v.observed_on_rank) for v in monitor.violations],
                  "bit_equal_to_hand": all(torch.equal(a, b) for a, b in zip(weights, by_hand)),
                  "identical_across_ranks": all(torch.equal(g, gathered[0]) for g in gathered),
                  "finite": bool(torch.isfinite(mine).all())}
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    (outdir / f"rank{rank}.json").write_text(json.dumps(result), encoding="utf-8")
    dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip the interpreter's teardown, where gloo's leftover threads sometimes abort


# =============================================================================== the launch and the test


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Any]]:
    outdir = tmp_path_factory.mktemp("skip-gloo")
    env = dict(os.environ, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, __file__, str(rank), str(port), str(outdir)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
             for rank in range(WORLD)]
    stderr = []
    for proc in procs:
        try:
            stderr.append(proc.communicate(timeout=LAUNCH_TIMEOUT_S)[1])
        except subprocess.TimeoutExpired:
            for p in procs:  # only what this fixture started, by process group
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
            pytest.fail(f"the two ranks did not finish within {LAUNCH_TIMEOUT_S}s (a hang)")
    out = {}
    for rank in range(WORLD):
        path = outdir / f"rank{rank}.json"
        if not path.exists():
            pytest.fail(f"rank {rank} reported nothing:\n" + "\n".join(e[-3000:] for e in stderr))
        out[rank] = json.loads(path.read_text(encoding="utf-8"))
        assert "error" not in out[rank], out[rank].get("traceback")
    return out


def test_both_ranks_skip_the_step_only_rank_1_saw(ranks: dict[int, dict[str, Any]]) -> None:
    for rank in range(WORLD):
        assert ranks[rank]["skipped"] == [SKIPPED]
        # Both ranks record rank 1's violation, with rank 1's values.
        assert ranks[rank]["violations"] == [["INV-SKIP-001", SKIPPED, 1]]


def test_the_weights_stay_identical_and_bit_equal_to_a_run_that_skipped_by_hand(
        ranks: dict[int, dict[str, Any]]) -> None:
    for rank in range(WORLD):
        assert ranks[rank]["identical_across_ranks"] and ranks[rank]["finite"]
        assert ranks[rank]["bit_equal_to_hand"]


def test_no_host_read_per_step_on_the_quiet_path(ranks: dict[int, dict[str, Any]]) -> None:
    for rank in range(WORLD):
        per_step = ranks[rank]["per_step"]  # reads during each step's optimizer.step() and step_end()
        sync_points = {s for s in range(STEPS) if (s + 1) % SYNC_EVERY == 0}
        # Step 0 creates Adam's state (a flag read once per run); sync points read their flags (and render a
        # violation when there is one); every other step reads nothing, the skipped step 5 included.
        quiet = [n for s, n in enumerate(per_step) if s not in sync_points and s != 0]
        assert quiet == [0] * len(quiet), per_step


if __name__ == "__main__":
    worker(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
