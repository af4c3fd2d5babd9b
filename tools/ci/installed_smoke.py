"""Smoke test of an installed (non-editable) pv-contracts, run by `.ci/run` from outside the checkout.

    python tools/ci/installed_smoke.py REPO WORKDIR

Run with the interpreter of a fresh virtual environment that has the built wheel (with
the ``torch`` extra) installed, and from a working directory outside REPO, so nothing of
the checkout can be imported by accident. It checks what a user of the wheel relies on:

1. ``pvcontracts`` is imported from site-packages, not from the checkout;
2. the wheel carries exactly the repository's ``contracts/*.yaml``, byte for byte, and
   ``Monitor.from_contracts()`` with its default finds them;
3. a short monitored training loop with the default contracts (all of them, in the default
   mode) runs to ``run_end`` with no violation, and its ledger says what was enforced;
4. ``pv train`` runs a tiny task (the trainer's test task, from REPO) with the shipped
   contracts and passes.

Exits non-zero with one line saying what failed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path


def fail(message: str) -> None:
    print(f"installed smoke: FAILED: {message}", file=sys.stderr)
    raise SystemExit(1)


def check_import_location(repo: Path) -> None:
    import pvcontracts

    where = Path(pvcontracts.__file__).resolve()
    if repo in where.parents or "site-packages" not in where.parts:
        fail(f"pvcontracts was imported from {where}, not from an installed wheel")
    print(f"installed smoke: pvcontracts {pvcontracts.__version__} from {where.parent}")


def check_shipped_contracts(repo: Path) -> list[str]:
    from pvcontracts.contract.contractset import shipped_contracts_dir

    shipped = shipped_contracts_dir()
    if "site-packages" not in shipped.resolve().parts:
        fail(f"shipped contracts found at {shipped}, not inside the installed package")
    expected = {p.name: p.read_bytes() for p in sorted((repo / "contracts").glob("*.yaml"))}
    found = {p.name: p.read_bytes() for p in sorted(shipped.glob("*.yaml"))}
    if set(found) != set(expected):
        fail(f"the wheel carries {sorted(found)}, the repository {sorted(expected)}")
    changed = sorted(name for name in expected if found[name] != expected[name])
    if changed:
        fail(f"shipped contracts differ from the repository's: {changed}")
    print(f"installed smoke: {len(found)} shipped contracts in {shipped}, identical to {repo / 'contracts'}")
    return sorted(expected)


def monitored_loop(workdir: Path) -> None:
    import torch

    from pvcontracts.runtime import Monitor, Regime

    torch.manual_seed(0)
    vocab, steps = 32, 40
    model = torch.nn.Sequential(torch.nn.Embedding(vocab, 16), torch.nn.Flatten(), torch.nn.Linear(16 * 4, vocab))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    ledger = workdir / "smoke-ledger.jsonl"
    # every shipped contract, in the default mode: what this loop supplies is enforced, the rest reported as not
    monitor = Monitor.from_contracts(regime=Regime.from_scratch(vocab_size=vocab), sync_every=10, ledger=ledger)
    monitor.watch(model, optimizer)  # grad norm, applied LR, step counts, grads cleared
    data = torch.randint(0, vocab, (steps, 8, 5))
    for epoch in range(2):
        for step in range(steps // 2):
            batch = data[epoch * steps // 2 + step]
            loss = torch.nn.functional.cross_entropy(model(batch[:, :4]), batch[:, 4])
            loss.backward()
            monitor.observe(grad_norm=torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0))
            optimizer.step()
            optimizer.zero_grad()
            monitor.step_end(loss=loss)
        with torch.no_grad():
            val = torch.nn.functional.cross_entropy(model(data[0, :, :4]), data[0, :, 4])
        monitor.epoch_end(val_loss=val)
    monitor.run_end()
    records = [json.loads(line) for line in ledger.read_text().splitlines()]
    kinds = [r.get("kind") for r in records]
    if "run_end" not in kinds or "violation" in kinds:
        fail(f"the monitored loop's ledger reads {kinds}")
    counts = [r for r in records if r.get("kind") == "counts"][-1]["invariants"]
    enforced = sorted(i for i, c in counts.items() if c.get("enforced"))
    if not {"INV-TRAIN-001", "INV-TRAIN-005"} <= set(enforced):
        fail(f"the default contracts did not enforce the loss checks this loop supplies: enforced {enforced}")
    print(f"installed smoke: a monitored loop ran {steps} steps to run_end with no violation; "
          f"{len(enforced)} of {len(counts)} shipped invariants enforced, the rest reported with the reason")


def pv_train(repo: Path, workdir: Path) -> None:
    task = repo / "tests" / "train" / "_tinytask.py"
    config = workdir / "tiny.yaml"
    config.write_text(textwrap.dedent(f"""\
        task: {task}:build
        task_options: {{n_train: 32, metrics: sufficiency}}
        sufficiency: {{edge_compliance_min: 0.5, rule_compliance_min: 0.5}}
        max_epochs: 3
        batch_size: 8
        lr: 0.01
        """), encoding="utf-8")
    pv = Path(sys.executable).with_name("pv")
    proc = subprocess.run([str(pv), "train", str(config), "--out", str(workdir / "run"), "--no-progress"],
                          capture_output=True, text=True, cwd=workdir, timeout=600)
    if proc.returncode != 0:
        fail(f"pv train exited {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-1500:]}")
    print(f"installed smoke: {proc.stdout.strip().splitlines()[0]}")


def main() -> None:
    repo, workdir = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    check_import_location(repo)
    check_shipped_contracts(repo)
    monitored_loop(workdir)
    pv_train(repo, workdir)
    print("installed smoke: ok")


if __name__ == "__main__":
    main()
