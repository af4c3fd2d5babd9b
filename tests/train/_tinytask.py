"""A tiny next-token task for the trainer's tests: a few thousand parameters, synthetic data, fast on 2 cores.

Not a test module: the tests import it by name (``tests/train`` has no ``__init__.py``,
so pytest puts the directory on ``sys.path``). ``build(config, seed)`` is the shape
``pv train`` expects; ``config["task_options"]`` picks the variant:

- ``metrics``: ``"none"`` (default), ``"sufficiency"`` (edge_compliance and
  rule_compliance from next-token accuracy), or ``"coverage"`` (a reject channel:
  coverage is the fraction of positions not rejected, and the loss is the selective
  loss ``(1 - r) * CE + rejection_lambda * r``)
- ``noise``: the fraction of targets replaced by random tokens (unlearnable positions)
- ``vocab``, ``seq``, ``n_train``, ``n_val``, ``width``, ``dropout``
- ``record``: a key of ``RECORDS``; the loss function appends each training call's weights there
- ``nan_at_call``: the loss becomes NaN from that training call on (divergence tests)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from pvcontracts.train.task import Task

RECORDS: dict[str, list[dict[str, float]]] = {}


class TinyLM(nn.Module):
    def __init__(self, vocab: int, width: int, dropout: float, out: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(width)
        self.mix = nn.Linear(2 * width, width)
        self.head = nn.Linear(width, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        prev = torch.cat([torch.zeros_like(h[:, :1]), h[:, :-1]], dim=1)  # one token of context
        h = F.gelu(self.mix(torch.cat([h, prev], dim=-1)))
        return self.head(self.norm(self.drop(h)))


def make_data(n: int, seq: int, vocab: int, noise: float, g: torch.Generator) -> torch.utils.data.TensorDataset:
    """Sequences where the next token is (token + 1) mod vocab, except a ``noise`` fraction of random targets."""
    start = torch.randint(0, vocab, (n, 1), generator=g)
    x = (start + torch.arange(seq)) % vocab
    y = (x + 1) % vocab
    flip = torch.rand(n, seq, generator=g) < noise
    y = torch.where(flip, torch.randint(0, vocab, (n, seq), generator=g), y)
    return torch.utils.data.TensorDataset(x, y)


def build(config: dict[str, Any], seed: int) -> Task:
    o = dict(config.get("task_options") or {})
    vocab, seq = int(o.get("vocab", 8)), int(o.get("seq", 8))
    kind = o.get("metrics", "none")
    g = torch.Generator().manual_seed(seed)
    train = make_data(int(o.get("n_train", 64)), seq, vocab, float(o.get("noise", 0.0)), g)
    val = make_data(int(o.get("n_val", 16)), seq, vocab, float(o.get("noise", 0.0)), g)
    reject = kind == "coverage"
    model = TinyLM(vocab, int(o.get("width", 16)), float(o.get("dropout", 0.1)), vocab + int(reject))
    record = RECORDS.setdefault(o["record"], []) if o.get("record") else None
    calls = [0]
    nan_at = o.get("nan_at_call")

    def loss_fn(logits: torch.Tensor, targets: torch.Tensor, weights: Any) -> torch.Tensor:
        if record is not None and torch.is_grad_enabled():
            record.append(dict(weights))
        calls[0] += 1
        if reject:
            r = torch.sigmoid(logits[..., -1].float())
            ce = F.cross_entropy(logits[..., :-1].reshape(-1, vocab).float(), targets.reshape(-1),
                                 reduction="none").reshape(targets.shape)
            loss = ((1 - r) * ce + weights.get("rejection_lambda", 1.0) * r).mean()
        else:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))
        if nan_at is not None and torch.is_grad_enabled() and calls[0] >= nan_at:
            loss = loss * float("nan")
        return loss

    def evaluate(m: nn.Module, epoch: int) -> dict[str, float]:
        x, y = val.tensors
        logits = m(x)
        if reject:
            return {"coverage": float((torch.sigmoid(logits[..., -1]) < 0.5).float().mean())}
        right = (logits.argmax(-1) == y).float()
        return {"edge_compliance": float(right.mean()), "rule_compliance": float(right[:, 1:].mean())}

    metrics = {"none": (), "sufficiency": ("edge_compliance", "rule_compliance"), "coverage": ("coverage",)}[kind]
    return Task(name=f"tiny-{kind}", model=model, train_dataset=train, val_dataset=val,
                vocab_size=vocab + int(reject), evaluate=None if kind == "none" else evaluate, loss_fn=loss_fn,
                info={"vocab": vocab, "seq": seq}, metrics=None if o.get("discover_metrics") else metrics)


# ---------------------------------------------------------------------- helpers for the tests

BASE = {"max_epochs": 3, "batch_size": 8, "lr": 0.01, "progress": False, "warmup_fraction": 0.1, "sync_every": 4,
        "log_every": 1}


def config(task_options: dict[str, Any] | None = None, **overrides: Any) -> Any:
    from pvcontracts.train.config import TrainConfig

    return TrainConfig.from_mapping({**BASE, "task_options": {"n_train": 32, **(task_options or {})}, **overrides})


def fit(out: Any, task_options: dict[str, Any] | None = None, *, trainer: Any = None, resume: Any = None,
        stop_after: int | None = None, log_hook: Any = None, **overrides: Any) -> Any:
    """Run the tiny task to its end (or ``stop_after`` epochs); returns the RunResult."""
    from pvcontracts.train.trainer import Trainer

    cls = trainer or Trainer
    return cls(config(task_options, **overrides), build, out, resume=resume, stop_after=stop_after,
               log_hook=log_hook).fit()


def final_state(out: Any) -> dict[str, Any]:
    """The newest checkpoint of a run directory."""
    from pathlib import Path

    from pvcontracts.train.checkpoint import Checkpointer, load_checkpoint

    latest = Checkpointer(Path(out) / "checkpoints").latest()
    assert latest is not None, f"no checkpoint in {out}"
    return load_checkpoint(latest)


def child_train(options: dict[str, Any], out: str, fault: str | None) -> None:
    """A crash-test child (started by a forkserver): train with resume="latest", optionally killing itself."""
    import os

    if fault:
        os.environ["PV_TRAIN_FAULT"] = fault
    torch.set_num_threads(1)
    from pvcontracts.train.trainer import Trainer

    cfg_options = dict(options)
    task_options = cfg_options.pop("task_options", {})
    result = Trainer(config(task_options, **cfg_options), build, out, resume="latest").fit()
    os._exit(0 if result.status == "passed" else 1)


def snapshot(directory: Any) -> dict[str, bytes]:
    """Every file under ``directory`` and its bytes: what a refused run must leave exactly as it was."""
    from pathlib import Path

    root = Path(directory)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
