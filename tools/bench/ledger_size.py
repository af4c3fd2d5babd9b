"""The ledger of a long run: how big it gets with its curve records, and how fast ``pv plot`` renders it.

    python tools/bench/ledger_size.py                          # 100,000 steps, every shipped contract
    python tools/bench/ledger_size.py --steps 1000000 --light  # a million steps, a loss-only monitor: the bound
    python tools/bench/ledger_size.py --steps 2000 --repeats 1 # smoke

A real ``Monitor`` writes the ledger: every shipped contract (supplied mode: what this loop
does not supply is reported as not enforced), ``sync_every`` 100, ``watch()`` on a tiny
``Linear`` model trained with AdamW under lr-schedule-v1's warmup + cosine ``LambdaLR``
(so the LR curve has its expected LR), ``--epochs`` epochs, ``run_end``. With ``--light``
the monitor enforces one ``isfinite(loss)`` invariant on a host-number loss, which makes a
million steps take seconds and shows how the curve records stay bounded as a run grows.

Printed: the ledger's size, its records by kind, the curve records against the bound
``RECORDS_PER_LEVEL * (1 + log2(windows / RECORDS_PER_LEVEL))``; then ``pv plot``'s work
timed in this process (read the ledger strictly, build the run's view, render the page),
the median of ``--repeats``, with its ratio to a baseline in the same process that only
parses every line with ``json.loads`` (the least any reader does). Goals: the ledger under
``--size-limit`` bytes (default 1 MB for 100,000 steps: 10 bytes a step), the page in under
a second. ``--enforce`` exits 1 when either is missed.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from _gpt import Schedule  # noqa: E402
from pvcontracts.contract.contractset import load_contracts  # noqa: E402
from pvcontracts.evidence.report.plot import load_plot, render_plot  # noqa: E402
from pvcontracts.runtime import Monitor  # noqa: E402
from pvcontracts.runtime.curves import RECORDS_PER_LEVEL  # noqa: E402

RENDER_GOAL_S = 1.0
LIGHT_CONTRACT = """\
schema_version: 1
id: light-v1
version: 1.0.0
status: active
title: Loss stays finite
changelog:
  - {version: 1.0.0, date: 2026-01-01, summary: First}
invariants:
  - id: INV-LIGHT-001
    title: Loss is finite
    at: step_end
    check: "isfinite(loss)"
gates:
  - id: GATE-LIGHT-001
    invariants: [INV-LIGHT-001]
    ship_blocking: true
    evidence_discharged_by: [tests/test_x.py::test_x]
"""


def write_full(ledger: Path, steps: int, epochs: int, sync_every: int) -> None:
    """Every shipped contract over a watched tiny model: loss, grad norm and the applied LR are real."""
    torch.manual_seed(0)
    schedule = Schedule("cosine", steps, 1e-3, 1e-4, 0.05, 0.0)
    model = torch.nn.Linear(16, 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=schedule.peak_lr)
    scheduler = schedule.scheduler(optimizer)
    monitor = Monitor.from_contracts(params=schedule.params(), sync_every=sync_every, ledger=ledger)
    monitor.watch(model, optimizer, scheduler)
    truth = torch.randn(16, 1)  # a learnable regression: the losses fall, as a healthy run's do
    xs = torch.randn(65, 8, 16)
    ys = xs @ truth + 0.01 * torch.randn(65, 8, 1)
    per_epoch = math.ceil(steps / epochs)
    for step in range(steps):
        loss = torch.nn.functional.mse_loss(model(xs[step % 64]), ys[step % 64])
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        monitor.step_end(loss=loss.detach())
        if (step + 1) % per_epoch == 0 or step + 1 == steps:
            with torch.no_grad():
                monitor.epoch_end(val_loss=float(torch.nn.functional.mse_loss(model(xs[64]), ys[64])))
    monitor.run_end()
    monitor.close()


def write_light(ledger: Path, steps: int, epochs: int, sync_every: int, contracts: Path) -> None:
    monitor = Monitor.from_contracts(contracts, sync_every=sync_every, ledger=ledger)
    per_epoch = math.ceil(steps / epochs)
    for step in range(steps):
        monitor.step_end(loss=2.0 + math.sin(step / 5000) + (step % 7) / 100)
        if (step + 1) % per_epoch == 0 or step + 1 == steps:
            monitor.epoch_end()
    monitor.run_end()
    monitor.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--sync-every", type=int, default=100)
    p.add_argument("--light", action="store_true", help="a loss-only monitor on host numbers (fast; the bound)")
    p.add_argument("--repeats", type=int, default=5, help="timed renders (median)")
    p.add_argument("--size-limit", type=int, default=None,
                   help="bytes the ledger must stay under (default: 10 bytes a step, 1 MB for 100,000 steps)")
    p.add_argument("--keep", type=Path, default=None, help="also copy the ledger and the page here")
    p.add_argument("--enforce", action="store_true", help="exit 1 when a goal is missed")
    args = p.parse_args(argv)
    limit = args.size_limit if args.size_limit is not None else 10 * args.steps
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="pv-ledger-size-") as tmp:
        ledger = Path(tmp) / "ledger.jsonl"
        t = time.perf_counter()
        if args.light:
            (Path(tmp) / "contracts").mkdir()
            (Path(tmp) / "contracts" / "light-v1.yaml").write_text(LIGHT_CONTRACT)
            write_light(ledger, args.steps, args.epochs, args.sync_every, Path(tmp) / "contracts")
            contracts = load_contracts(Path(tmp) / "contracts")
            what = "one isfinite(loss) invariant on a host loss"
        else:
            write_full(ledger, args.steps, args.epochs, args.sync_every)
            contracts = load_contracts()
            what = "every shipped contract, watch() on a tiny Linear model, AdamW, cosine LambdaLR"
        train_s = time.perf_counter() - t
        size = ledger.stat().st_size
        lines = ledger.read_bytes().splitlines()
        kinds = Counter(json.loads(line)["kind"] for line in lines)
        curve_bytes = sum(len(line) + 1 for line in lines if b'"kind": "curve"' in line)
        windows = math.ceil(args.steps / args.sync_every)
        bound = RECORDS_PER_LEVEL * (1 + max(0.0, math.log2(windows / RECORDS_PER_LEVEL)))
        print(f"pv-contracts ledger size: {args.steps:,} steps in {args.epochs} epochs, sync_every {args.sync_every}; "
              f"{what}; torch {torch.__version__}; written in {train_s:.1f} s")
        print(f"ledger: {size:,} bytes ({size / args.steps:.2f} bytes/step), {len(lines)} records: "
              + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
        print(f"curve records: {kinds['curve']} ({curve_bytes:,} bytes, {curve_bytes / max(kinds['curve'], 1):.0f} "
              f"bytes each) for {windows:,} windows; bound {bound:.0f} ({RECORDS_PER_LEVEL} per doubling of the run)")

        def parse() -> None:
            for line in ledger.read_bytes().splitlines():
                json.loads(line)

        def render() -> str:
            plotted = load_plot(ledger, source="ledger.jsonl", contracts=contracts, contracts_from="contracts")
            assert plotted.view is not None, plotted.error
            return render_plot(plotted.view)

        page = render()  # warm: imports and caches, as a second pv plot would have them
        base, full = [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            parse()
            base.append(time.perf_counter() - t)
            t = time.perf_counter()
            render()
            full.append(time.perf_counter() - t)
        render_s, base_s = statistics.median(full), statistics.median(base)
        print(f"pv plot in process (read strictly, build the view, render the page): median {1000 * render_s:.0f} ms "
              f"of {args.repeats}; json.loads of every line: {1000 * base_s:.0f} ms; ratio {render_s / base_s:.2f}")
        charts = page.count('<svg class="chart"')
        print(f"page: {len(page.encode()):,} bytes, {charts} charts")
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            (args.keep / "ledger.jsonl").write_bytes(ledger.read_bytes())
            (args.keep / "ledger.html").write_text(page)
    ok_size, ok_time = size < limit, render_s < RENDER_GOAL_S
    print(f"goal ledger < {limit:,} bytes: {'PASS' if ok_size else 'FAIL'}; "
          f"goal page < {RENDER_GOAL_S:.0f} s: {'PASS' if ok_time else 'FAIL'}")
    return 1 if args.enforce and not (ok_size and ok_time) else 0


if __name__ == "__main__":
    sys.exit(main())
