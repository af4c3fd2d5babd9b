"""Cross-rank agreement: two CPU processes on the gloo backend, loopback only.

One launch of two ranks (this file run as a script, ``python test_distributed.py
RANK PORT OUTDIR``) plays every scenario in turn, in one process group, and
writes one JSON line per scenario and rank; each test below reads its scenario.
Starting torch twice costs seconds, so it is done once per module.

A hang must fail, never block CI: every collective has a gloo timeout of
``COLLECTIVE_TIMEOUT_S``, the launch as a whole has ``LAUNCH_TIMEOUT_S``, after which
both ranks are killed, and a scenario a rank never reported is a failure that
shows the ranks' stderr.

The NaN scenarios train a real DDP model, so a rank that raised alone would leave
the other blocked in the next gradient all-reduce: exactly the hang agreement
prevents. Steps use ``sync_every=4``: a NaN at step 5 is found at the sync point
after step 7, by both ranks.
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
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = REPO / "contracts"
WORLD = 2
COLLECTIVE_TIMEOUT_S = 30
LAUNCH_TIMEOUT_S = 90
SYNC_EVERY = 4

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")


# =============================================================================== the worker (one per rank)


def _model(seed: int = 0) -> Any:
    torch.manual_seed(seed)  # the same initial weights on every rank, as DDP would broadcast anyway
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


class _Trainer:
    """A tiny DDP regression loop with a watched model: every step a real gradient all-reduce."""

    def __init__(self, monitor: Any, rank: int) -> None:
        from torch.nn.parallel import DistributedDataParallel as DDP

        self.rank = rank
        self.model = DDP(_model())
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.05)
        self.watcher = monitor.watch(self.model, self.optimizer)
        self.data = torch.Generator().manual_seed(100 + rank)  # each rank its own shard

    def forward_backward(self) -> Any:
        x = torch.randn(16, 4, generator=self.data)
        y = x.sum(dim=1, keepdim=True)
        self.optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(self.model(x), y)
        loss.backward()  # DDP all-reduces gradients here: a rank missing from it blocks the other
        return loss.detach()

    def step(self) -> Any:
        loss = self.forward_backward()
        self.optimizer.step()
        return loss


def _violation_record(exc: Any, at_call: int | None = None) -> dict[str, Any]:
    v = exc.violation
    return {"raised": type(exc).__name__, "invariant": v.invariant_id, "contract": v.contract_id,
            "boundary": v.boundary, "step": v.step, "epoch": v.epoch, "observed_on_rank": v.observed_on_rank,
            "rank": v.rank, "at_call": at_call, "expression": v.expression,
            "values": {k: repr(val) for k, val in sorted(v.values.items())}}


def _monitor(select: list[str], **kwargs: Any) -> Any:
    from pvcontracts.runtime import Monitor

    return Monitor.from_contracts(CONTRACTS, select=select, sync_every=SYNC_EVERY, **kwargs)


def _train_with_nan(rank: int, nan_steps: dict[int, set[int]], host_floats: bool,
                    ledger: Path | None = None) -> dict[str, Any]:
    """Train 16 steps; the monitored loss is NaN on the given ranks at the given steps."""
    from pvcontracts.runtime import ContractViolation

    with _monitor(["training-loop-pretrain-v1"], ledger=ledger) as monitor:
        trainer = _Trainer(monitor, rank)
        for call in range(16):
            loss = trainer.step()
            if call in nan_steps.get(rank, set()):
                loss = loss * math.nan
            try:
                monitor.step_end(loss=float(loss) if host_floats else loss)
            except ContractViolation as exc:
                return _violation_record(exc, call)
    return {"raised": None}


def scenario_nan_loss_on_rank1(rank: int, tmp: Path) -> dict[str, Any]:
    return _train_with_nan(rank, {1: {5}}, host_floats=False)


def scenario_nan_host_float_on_rank1(rank: int, tmp: Path) -> dict[str, Any]:
    return _train_with_nan(rank, {1: {5}}, host_floats=True)


def scenario_fatal_before_step_on_rank1(rank: int, tmp: Path) -> dict[str, Any]:
    """fatal_before_step: the NaN loss rank 1 observes stops optimizer.step() on both ranks, before the update."""
    from pvcontracts.runtime import ContractViolation

    with _monitor(["training-loop-pretrain-v1"], fatal_before_step=True) as monitor:
        trainer = _Trainer(monitor, rank)
        for call in range(8):
            loss = trainer.forward_backward()
            monitor.observe(loss=loss * math.nan if (rank == 1 and call == 5) else loss)
            before = int(trainer.watcher.param_checksum())
            try:
                trainer.optimizer.step()
            except ContractViolation as exc:
                record = _violation_record(exc, call)
                record["weights_unchanged"] = int(trainer.watcher.param_checksum()) == before
                return record
            monitor.step_end()
    return {"raised": None}


def scenario_earliest_step_wins(rank: int, tmp: Path) -> dict[str, Any]:
    """Rank 0 sees NaN at steps 4 and 6, rank 1 at steps 4 and 5: both abort on step 4, values of rank 0,
    and both ledgers hold every violating step once, each with the lowest rank that saw it."""
    from pvcontracts.runtime import read_ledger

    ledger = tmp / "earliest.jsonl"
    record = _train_with_nan(rank, {0: {4, 6}, 1: {4, 5}}, host_floats=False, ledger=ledger)
    own = ledger.with_name(f"earliest.rank{rank}.jsonl")
    record["ledger_violations"] = [(r["invariant"], r["step"], r["observed_on_rank"])
                                   for r in read_ledger(own) if r.get("kind") == "violation"]
    return record


def scenario_two_invariants_two_ranks(rank: int, tmp: Path) -> dict[str, Any]:
    """Rank 0: non-finite grad norm at step 6; rank 1: NaN loss at step 5. Both ranks act on both, step 5 first."""
    from pvcontracts.runtime import ContractViolation, read_ledger

    ledger = tmp / "two.jsonl"
    record: dict[str, Any] = {"raised": None}
    with _monitor(["training-loop-pretrain-v1"], ledger=ledger) as monitor:
        for call in range(8):
            loss = math.nan if (rank == 1 and call == 5) else 1.0
            grad_norm = math.inf if (rank == 0 and call == 6) else 0.5
            try:
                monitor.step_end(loss=torch.tensor(loss), grad_norm=torch.tensor(grad_norm), optimizer_stepped=True)
            except ContractViolation as exc:
                record = _violation_record(exc, call)
                break
    own = ledger.with_name(f"two.rank{rank}.jsonl")
    record["ledger_violations"] = sorted(
        (r["invariant"], r["step"], r["observed_on_rank"]) for r in read_ledger(own) if r.get("kind") == "violation")
    return record


def _nudge(weight: Any, ulp: bool) -> None:
    with torch.no_grad():
        w = weight[0, 0]
        weight[0, 0] = torch.nextafter(w, torch.tensor(math.inf)) if ulp else w + 1e-3


def _train_epochs(rank: int, epochs: int, perturb_after_epoch: int | None, nan_val_loss_at: int | None,
                  params: dict[str, Any] | None = None, ulp_at_epoch: int | None = None) -> dict[str, Any]:
    """Three DDP steps per epoch. Rank 1 may: add 1e-3 to one weight after an epoch (a lasting divergence:
    the all-reduced updates that follow are the same on both ranks), move one weight by one ulp just before
    an epoch end (a difference no float comparison of the checksum could see), or report a NaN val_loss."""
    from pvcontracts.runtime import ContractViolation

    passed: list[int] = []
    with _monitor(["training-loop-pretrain-v1", "distributed-consistency-v1"], params=params) as monitor:
        trainer = _Trainer(monitor, rank)
        checksums: list[int] = []
        for epoch in range(epochs):
            for _ in range(3):
                monitor.step_end(loss=trainer.step())
            if rank == 1 and epoch == ulp_at_epoch:
                _nudge(trainer.model.module[0].weight, ulp=True)
            val_loss = math.nan if (rank == 1 and epoch == nan_val_loss_at) else 1.0
            checksums.append(int(trainer.watcher.param_checksum()))
            try:
                monitor.epoch_end(val_loss=val_loss)
            except ContractViolation as exc:
                return dict(_violation_record(exc), passed_epochs=passed, checksums=checksums)
            passed.append(epoch)
            if rank == 1 and epoch == perturb_after_epoch:
                _nudge(trainer.model.module[0].weight, ulp=False)
    return {"raised": None, "passed_epochs": passed, "checksums": checksums}


def scenario_identical_replicas(rank: int, tmp: Path) -> dict[str, Any]:
    return _train_epochs(rank, epochs=3, perturb_after_epoch=None, nan_val_loss_at=None)


def scenario_perturbed_replica(rank: int, tmp: Path) -> dict[str, Any]:
    return _train_epochs(rank, epochs=4, perturb_after_epoch=1, nan_val_loss_at=None)


def scenario_one_ulp_on_rank1(rank: int, tmp: Path) -> dict[str, Any]:
    return _train_epochs(rank, epochs=3, perturb_after_epoch=None, nan_val_loss_at=None, ulp_at_epoch=1)


def scenario_nan_val_loss_on_rank1(rank: int, tmp: Path) -> dict[str, Any]:
    return _train_epochs(rank, epochs=4, perturb_after_epoch=None, nan_val_loss_at=1)


def scenario_wrong_world_size(rank: int, tmp: Path) -> dict[str, Any]:
    return _train_epochs(rank, epochs=2, perturb_after_epoch=None, nan_val_loss_at=None,
                         params={"expected_world_size": 4})


def scenario_collapse_on_rank1_at_eval(rank: int, tmp: Path) -> dict[str, Any]:
    """Embeddings from the collapse provider; rank 1's collapse at the second eval aborts both ranks."""
    from pvcontracts.runtime import ContractViolation
    from pvcontracts.runtime.providers import CollapseProvider

    gen = torch.Generator().manual_seed(7 + rank)
    provider = CollapseProvider(every=1)
    with _monitor(["representation-collapse-v1"]) as monitor:
        for evaluation in range(3):
            target = torch.randn(32, 8, generator=gen)
            pred = target + 0.1 * torch.randn(32, 8, generator=gen)
            if rank == 1 and evaluation == 1:
                pred = pred.mean(dim=0, keepdim=True) + 1e-3 * (pred - pred.mean(dim=0, keepdim=True))
            metrics = provider.measure(pred, target, torch.zeros(32, 4), torch.zeros(32, 4))
            try:
                monitor.eval_end(**metrics)
            except ContractViolation as exc:
                return _violation_record(exc, evaluation)
    return {"raised": None}


def scenario_warning_on_rank1(rank: int, tmp: Path) -> dict[str, Any]:
    """A warn-level step check failing on rank 1 only: both ranks warn, neither stops, both finish."""
    from pvcontracts.runtime.providers import CollapseProvider

    gen = torch.Generator().manual_seed(11 + rank)
    provider = CollapseProvider(every=2)
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with _monitor(["representation-collapse-v1"], params={"check_every_steps": 2}) as monitor:
            for step in range(1, 9):
                target = torch.randn(16, 8, generator=gen)
                pred = target.clone()
                if rank == 1 and step == 4:
                    pred = pred * 0.1  # variance ratio 0.01 < 0.5
                metrics = provider.observe(step, pred, target, torch.zeros(16, 2), torch.zeros(16, 2))
                monitor.step_end(optimizer_stepped=True, optimizer_steps=step, **metrics)
        caught = [str(w.message) for w in seen if type(w.message).__name__ == "ContractWarning"]
    return {"raised": None, "warnings": caught}


def scenario_functions(rank: int, tmp: Path) -> dict[str, Any]:
    """The reductions themselves: exact extremes of ints, floats, bools and NaN; out-of-step ranks."""
    from pvcontracts.runtime.distributed import RankDisagreement, agree_on_violations, checksum_extremes, rank_extremes

    out: dict[str, Any] = {}
    big = 2**62 + 12345 + rank  # beyond float precision: an exact reduction keeps the 1 apart
    tiny = 5e-324 if rank else -0.0
    out["extremes"] = rank_extremes({"big": big, "x": [0.25, -3.5][rank], "tiny": tiny, "flag": bool(rank),
                                     "nan": [1.0, math.nan][rank], "t": torch.tensor(rank + 10)})
    out["checksum"] = checksum_extremes(torch.tensor(-(2**63) if rank == 0 else 2**63 - 1))
    for label, bad in (("mixed_kinds", {"x": [1, 1.0][rank]}), ("unreducible", {"x": [1, "one"][rank]})):
        try:
            rank_extremes(bad)
            out[label] = None
        except (RankDisagreement, ValueError) as exc:  # raised on both ranks, after one collective
            out[label] = type(exc).__name__
    try:
        agree_on_violations([], [], rank, WORLD, step=10 + rank)
        out["out_of_step"] = None
    except RankDisagreement as exc:
        out["out_of_step"] = str(exc)

    class Check:
        def __init__(self, ident: str) -> None:
            self.id = ident

    try:
        agree_on_violations([], [Check("INV-A-001" if rank == 0 else "INV-B-001")], rank, WORLD)
        out["different_checks"] = None
    except RankDisagreement as exc:
        out["different_checks"] = str(exc)
    out["quiet"] = agree_on_violations([], [Check("INV-A-001")], rank, WORLD, step=3)
    return out


SCENARIOS: dict[str, Callable[[int, Path], dict[str, Any]]] = {
    name[len("scenario_"):]: fn for name, fn in sorted(globals().items()) if name.startswith("scenario_")
}


def _worker(rank: int, port: int, outdir: Path) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD,
                            timeout=datetime.timedelta(seconds=COLLECTIVE_TIMEOUT_S))
    torch.set_num_threads(1)
    with open(outdir / f"rank{rank}.jsonl", "w", encoding="utf-8") as out:
        for name, scenario in SCENARIOS.items():
            tmp = outdir / f"{name}.tmp"
            tmp.mkdir(exist_ok=True)
            start = time.perf_counter()
            try:
                result = scenario(rank, tmp)
            except Exception as exc:  # recorded, and the test of this scenario fails with it
                result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            result["seconds"] = round(time.perf_counter() - start, 3)
            out.write(json.dumps({"scenario": name, "rank": rank, **result}, default=repr) + "\n")
            out.flush()
            dist.barrier()  # the next scenario starts together (times out, not hangs, if one rank is elsewhere)
    dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    # Every collective returned and the group is gone: that is what this test checks. Skip the
    # interpreter's teardown, where gloo's leftover C++ threads sometimes abort the process
    # ("terminate called without an active exception") after the work is done.
    os._exit(0)


# =============================================================================== the launch (one per module)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Launch:
    def __init__(self, results: dict[str, dict[int, dict[str, Any]]], stderr: list[str], timed_out: bool,
                 seconds: float, returncodes: list[int | None]) -> None:
        self.returncodes = returncodes
        self.results = results
        self.stderr = stderr
        self.timed_out = timed_out
        self.seconds = seconds

    def scenario(self, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        got = self.results.get(name, {})
        if set(got) != set(range(WORLD)):
            tails = "\n".join(f"--- rank {r} stderr ---\n{e[-3000:]}" for r, e in enumerate(self.stderr))
            why = f"timed out after {LAUNCH_TIMEOUT_S}s and was killed" if self.timed_out else "ended"
            pytest.fail(f"scenario {name}: only ranks {sorted(got)} reported; the launch {why}\n{tails}")
        for r in range(WORLD):
            assert "error" not in got[r], f"rank {r} in {name}: {got[r].get('traceback', got[r]['error'])}"
        return got[0], got[1]


@pytest.fixture(scope="module")
def launch(tmp_path_factory: pytest.TempPathFactory) -> Launch:
    outdir = tmp_path_factory.mktemp("gloo")
    env = dict(os.environ, GLOO_SOCKET_IFNAME="lo", MASTER_ADDR="127.0.0.1", OMP_NUM_THREADS="1")
    port = _free_port()
    start = time.monotonic()
    procs = [subprocess.Popen([sys.executable, __file__, str(rank), str(port), str(outdir)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
             for rank in range(WORLD)]
    stderr = ["" for _ in procs]
    timed_out = False
    for i, proc in enumerate(procs):
        try:
            _, stderr[i] = proc.communicate(timeout=max(1.0, LAUNCH_TIMEOUT_S - (time.monotonic() - start)))
        except subprocess.TimeoutExpired:
            timed_out = True
            for p in procs:  # kill what this fixture started, by process group id, so nothing is left behind
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
            for j, p in enumerate(procs):
                out, err = p.communicate()
                stderr[j] = stderr[j] or err or ""
            break
    results: dict[str, dict[int, dict[str, Any]]] = {}
    for rank in range(WORLD):
        path = outdir / f"rank{rank}.jsonl"
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                results.setdefault(record["scenario"], {})[rank] = record
    return Launch(results, stderr, timed_out, time.monotonic() - start, [p.returncode for p in procs])


def _same_decision(r0: dict[str, Any], r1: dict[str, Any]) -> None:
    for key in ("raised", "invariant", "contract", "boundary", "step", "epoch", "observed_on_rank", "at_call",
                "expression", "values"):
        assert r0.get(key) == r1.get(key), (key, r0.get(key), r1.get(key))


# =============================================================================== the tests


def test_nan_loss_on_one_rank_aborts_both_at_the_same_step(launch: Launch) -> None:
    r0, r1 = launch.scenario("nan_loss_on_rank1")
    _same_decision(r0, r1)
    assert r0["raised"] == "ContractViolation" and r0["invariant"] == "INV-TRAIN-001"
    assert r0["step"] == 5 and r0["observed_on_rank"] == 1
    assert r0["at_call"] == 7  # the sync point after step 7 (sync_every=4), on both ranks
    assert (r0["rank"], r1["rank"]) == (0, 1)


def test_host_nan_on_one_rank_waits_for_the_sync_point(launch: Launch) -> None:
    """A host value is checked at once, but acted on only where every rank agrees: at the next sync point."""
    r0, r1 = launch.scenario("nan_host_float_on_rank1")
    _same_decision(r0, r1)
    assert (r0["invariant"], r0["step"], r0["observed_on_rank"], r0["at_call"]) == ("INV-TRAIN-001", 5, 1, 7)


def test_fatal_before_step_stops_every_rank_before_the_update(launch: Launch) -> None:
    r0, r1 = launch.scenario("fatal_before_step_on_rank1")
    _same_decision(r0, r1)
    assert (r0["invariant"], r0["step"], r0["observed_on_rank"], r0["at_call"]) == ("INV-TRAIN-001", 5, 1, 5)
    assert r0["weights_unchanged"] and r1["weights_unchanged"]


def test_earliest_step_across_ranks_is_reported(launch: Launch) -> None:
    r0, r1 = launch.scenario("earliest_step_wins")
    _same_decision(r0, r1)
    assert (r0["invariant"], r0["step"], r0["observed_on_rank"], r0["at_call"]) == ("INV-TRAIN-001", 4, 0, 7)
    every = [["INV-TRAIN-001", 4, 0], ["INV-TRAIN-001", 5, 1], ["INV-TRAIN-001", 6, 0]]
    assert r0["ledger_violations"] == r1["ledger_violations"] == every


def test_violations_of_different_invariants_on_different_ranks_reach_every_rank(launch: Launch) -> None:
    r0, r1 = launch.scenario("two_invariants_two_ranks")
    _same_decision(r0, r1)
    assert (r0["invariant"], r0["step"], r0["observed_on_rank"], r0["at_call"]) == ("INV-TRAIN-001", 5, 1, 7)
    both = [["INV-TRAIN-001", 5, 1], ["INV-TRAIN-002", 6, 0]]
    assert r0["ledger_violations"] == both and r1["ledger_violations"] == both


@pytest.mark.discharges(gate="GATE-DIST-001")
def test_identical_replicas_pass(launch: Launch) -> None:
    r0, r1 = launch.scenario("identical_replicas")
    assert r0["raised"] is None and r1["raised"] is None
    assert r0["passed_epochs"] == r1["passed_epochs"] == [0, 1, 2]
    assert r0["checksums"] == r1["checksums"]
    assert len(set(r0["checksums"])) == 3  # the weights did change between epochs: the checksum is not constant


@pytest.mark.discharges(gate="GATE-DIST-001")
def test_perturbed_replica_aborts_every_rank_at_the_same_epoch(launch: Launch) -> None:
    r0, r1 = launch.scenario("perturbed_replica")
    _same_decision(r0, r1)
    assert (r0["invariant"], r0["contract"], r0["boundary"], r0["epoch"]) == \
        ("INV-DIST-001", "distributed-consistency-v1", "epoch_end", 2)
    assert r0["passed_epochs"] == r1["passed_epochs"] == [0, 1]
    assert r0["checksums"][:2] == r1["checksums"][:2] and r0["checksums"][2] != r1["checksums"][2]
    shown = r0["values"]
    assert shown["param_checksum_min"] == repr(min(r0["checksums"][2], r1["checksums"][2]))
    assert shown["param_checksum_max"] == repr(max(r0["checksums"][2], r1["checksums"][2]))


def test_one_ulp_of_divergence_is_caught(launch: Launch) -> None:
    r0, r1 = launch.scenario("one_ulp_on_rank1")
    _same_decision(r0, r1)
    assert (r0["invariant"], r0["epoch"], r0["passed_epochs"]) == ("INV-DIST-001", 1, [0])
    assert abs(r0["checksums"][1] - r1["checksums"][1]) == 1


def test_nan_val_loss_on_one_rank_aborts_both_at_that_epoch(launch: Launch) -> None:
    r0, r1 = launch.scenario("nan_val_loss_on_rank1")
    _same_decision(r0, r1)
    assert (r0["invariant"], r0["boundary"], r0["epoch"], r0["observed_on_rank"]) == \
        ("INV-TRAIN-003", "epoch_end", 1, 1)
    assert r0["passed_epochs"] == r1["passed_epochs"] == [0]


@pytest.mark.discharges(gate="GATE-DIST-002")
def test_wrong_world_size_aborts_at_the_first_epoch(launch: Launch) -> None:
    r0, r1 = launch.scenario("wrong_world_size")
    _same_decision(r0, r1)
    assert (r0["invariant"], r0["epoch"]) == ("INV-DIST-002", 0)
    assert r0["values"] == {"expected_world_size": "4", "world_size": "2"}


def test_collapse_on_one_rank_at_eval_aborts_both(launch: Launch) -> None:
    r0, r1 = launch.scenario("collapse_on_rank1_at_eval")
    _same_decision(r0, r1)
    assert (r0["invariant"], r0["boundary"], r0["at_call"], r0["observed_on_rank"]) == \
        ("INV-COLLAPSE-001", "eval_end", 1, 1)


def test_warning_on_one_rank_warns_on_both_and_the_run_goes_on(launch: Launch) -> None:
    r0, r1 = launch.scenario("warning_on_rank1")
    assert r0["raised"] is None and r1["raised"] is None
    assert len(r0["warnings"]) == len(r1["warnings"]) == 1
    assert "INV-COLLAPSE-004" in r0["warnings"][0] and "step 3" in r0["warnings"][0]
    assert "on rank 1" in r0["warnings"][0]


def test_reductions_are_exact_and_detect_ranks_out_of_step(launch: Launch) -> None:
    r0, r1 = launch.scenario("functions")
    for r in (r0, r1):
        e = r["extremes"]
        assert (e["big_min"], e["big_max"]) == (2**62 + 12345, 2**62 + 12346)
        assert (e["x_min"], e["x_max"]) == (-3.5, 0.25)
        assert math.copysign(1.0, e["tiny_min"]) == -1.0 and e["tiny_min"] == 0.0 and e["tiny_max"] == 5e-324
        assert (e["flag_min"], e["flag_max"]) == (False, True)
        assert math.isnan(e["nan_min"]) and math.isnan(e["nan_max"])
        assert (e["t_min"], e["t_max"]) == (10, 11)
        assert (r["checksum"]["param_checksum_min"], r["checksum"]["param_checksum_max"]) == (-(2**63), 2**63 - 1)
        assert r["out_of_step"] is not None and "from 10 to 11" in r["out_of_step"]
        assert r["different_checks"] is not None
        assert r["mixed_kinds"] == "RankDisagreement"
        assert r["quiet"] == []
    assert (r0["checksum"]["param_checksum"], r1["checksum"]["param_checksum"]) == (-(2**63), 2**63 - 1)
    assert (r0["unreducible"], r1["unreducible"]) == ("RankDisagreement", "ValueError")


def test_every_rank_ran_every_scenario_and_exited_cleanly(launch: Launch) -> None:
    """No scenario left the ranks out of step: the barrier after each one and destroy_process_group returned."""
    assert not launch.timed_out, f"killed after {LAUNCH_TIMEOUT_S}s"
    assert launch.returncodes == [0] * WORLD, launch.stderr
    for name in SCENARIOS:
        launch.scenario(name)


# =============================================================================== in-process (no ranks needed)


def test_ordered_bits_keep_the_order_of_floats_exactly() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from pvcontracts.runtime.distributed import _from_ordered_bits, _ordered_bits

    floats = st.floats(allow_nan=False)

    @settings(derandomize=True, database=None, max_examples=300, deadline=None)
    @given(a=floats, b=floats)
    def check(a: float, b: float) -> None:
        ia, ib = _ordered_bits(a), _ordered_bits(b)
        assert -(2**63) <= ia < 2**63
        assert _from_ordered_bits(ia) == a and math.copysign(1.0, _from_ordered_bits(ia)) == math.copysign(1.0, a)
        if a < b:
            assert ia < ib
        elif a == b and math.copysign(1.0, a) == math.copysign(1.0, b):
            assert ia == ib

    check()


if __name__ == "__main__":
    _worker(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
