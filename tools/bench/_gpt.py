"""A tiny nanoGPT-style model, its byte corpus and its LR schedule, for ``overhead.py``.

Nothing here is downloaded: the corpus is the source text of a few standard-library
modules (bytes, vocabulary 256), so the benchmark runs offline and gives the same
batches on every machine with the same Python.

The model follows nanoGPT (token + position embeddings, pre-LayerNorm blocks of causal
self-attention and a 4x GELU MLP, a final LayerNorm, a weight-tied head). Its default
size is nanoGPT's own CPU configuration (``--n_layer=4 --n_head=4 --n_embd=128
--block_size=64 --batch_size=12 --dropout=0.0``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 256
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0
        self.n_head = cfg.n_head
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = nn.Sequential(nn.Linear(cfg.n_embd, 4 * cfg.n_embd), nn.GELU(),
                                 nn.Linear(4 * cfg.n_embd, cfg.n_embd))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying, as in GPT-2
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits, loss, hidden): hidden is the residual stream after the last block (before ln_f)."""
        T = idx.shape[1]
        pos = torch.arange(T, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss, x

    def configure_optimizer(self, lr: float, weight_decay: float = 0.1) -> torch.optim.AdamW:
        """nanoGPT's AdamW: weight decay on matrices only, betas (0.9, 0.95)."""
        params = [p for p in self.parameters() if p.requires_grad]
        decay = [p for p in params if p.dim() >= 2]
        no_decay = [p for p in params if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95))


# --------------------------------------------------------------------------- data


def corpus_bytes() -> bytes:
    """The source of a few standard-library modules: a byte-level text that ships with Python."""
    import argparse
    import inspect
    import typing

    return b"\n".join(inspect.getsource(m).encode("utf-8") for m in (inspect, argparse, typing))


def make_batches(data: torch.Tensor, steps: int, batch_size: int, block_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every batch of a run, drawn up front from one seeded generator: (x, y), each (steps, B, T)."""
    g = torch.Generator().manual_seed(seed)
    starts = torch.randint(len(data) - block_size - 1, (steps, batch_size), generator=g)
    offsets = torch.arange(block_size + 1)
    windows = data[starts.unsqueeze(-1) + offsets]  # (steps, B, T + 1)
    return windows[..., :-1].contiguous(), windows[..., 1:].contiguous()


# --------------------------------------------------------------------------- schedule


@dataclass(frozen=True)
class Schedule:
    """The LR schedule of lr-schedule-v1, as a trainer implements it (LambdaLR per optimizer step)."""

    shape: str            # "cosine" | "wsd"
    total_steps: int
    peak_lr: float
    min_lr: float
    warmup_fraction: float
    decay_fraction: float

    @property
    def warmup_steps(self) -> int:
        return int(self.warmup_fraction * self.total_steps)  # W = floor(warmup_fraction * T)

    @property
    def decay_steps(self) -> int:
        return int(self.decay_fraction * self.total_steps)

    def lr(self, k: int) -> float:
        """The LR of 0-based optimizer step k (LambdaLR calls the lambda with k = steps taken so far)."""
        T, W, D = self.total_steps, self.warmup_steps, self.decay_steps
        n = k + 1
        if n <= W:
            return self.peak_lr * n / W
        if self.shape == "cosine":
            p = min(max((n - W) / (T - W), 0.0), 1.0)
            return self.min_lr + (self.peak_lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * p))
        q = min(max((n - (T - D)) / max(D, 1), 0.0), 1.0)
        return self.min_lr + (self.peak_lr - self.min_lr) * (1.0 - q)

    def scheduler(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LambdaLR:
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: self.lr(k) / self.peak_lr)

    def params(self) -> dict[str, Any]:
        """This schedule declared in lr-schedule-v1 2.0.0's terms: one_based, W and D as step counts."""
        decay = self.decay_steps if self.shape == "wsd" else 0
        shape = "cosine" if self.shape == "cosine" else ("linear" if decay else "constant")
        return {"lr_schedule": shape, "step_indexing": "one_based", "total_steps": self.total_steps,
                "peak_lr": self.peak_lr, "min_lr": self.min_lr, "warmup_steps": self.warmup_steps,
                "decay_steps": decay}


# --------------------------------------------------------------------------- collapse probe


def kl_to_uniform(logits: torch.Tensor) -> torch.Tensor:
    """KL(softmax(logits) || uniform), mean over positions: a GPT's stand-in for a KL regulariser."""
    logp = torch.log_softmax(logits.detach().float(), dim=-1)
    return (logp.exp() * (logp + math.log(logits.shape[-1]))).sum(-1).mean()


class CollapseProbe:
    """representation-collapse-v1's metrics for a language model, through the runtime's CollapseProvider.

    A GPT has no JEPA target, so the probe takes the residual stream after the last
    block as the prediction of the next token and that token's (detached) input
    embedding as its target, at every 8th position of each sequence (96 rows in the
    default configuration), and KL(softmax(logits) || uniform) as the KL term. The
    provider's pairwise-distance baseline is set on the first batch (``first``). All
    values stay tensors on the device; nothing is read back to the host.

    Why the residual stream and not ln_f's output: after ln_f the predictions really do
    collapse for a while early in training (the model first learns the unigram
    distribution; last-position pairwise distance 11.0 at step 0, 5.6 at step 20, back
    to 11 by step 40 and 14 by step 200 in the default configuration), which
    INV-COLLAPSE-002 rightly flags. The residual stream's spread grows steadily instead
    (about 0.7 to 8), so a healthy run passes and the benchmark measures cost, not that
    transient.
    """

    def __init__(self, model: GPT, every: int, stride: int = 8) -> None:
        from pvcontracts.runtime.providers import CollapseProvider

        self.model = model
        self.stride = stride
        self.provider = CollapseProvider(every=every)

    def _views(self, hidden: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pred = hidden.detach()[:, ::self.stride]
        target = self.model.wte.weight.detach()[targets[:, ::self.stride]]
        return pred, target

    @torch.no_grad()
    def first(self, hidden: torch.Tensor, targets: torch.Tensor) -> None:
        if self.provider.baseline is None:
            self.provider.measure(*self._views(hidden, targets))

    @torch.no_grad()
    def observe(self, optimizer_steps: int, hidden: torch.Tensor, logits: torch.Tensor,
                targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """The metrics when ``optimizer_steps`` is a multiple of ``every``, else ``{}`` (nothing computed)."""
        if not self.provider.due(optimizer_steps):
            return {}
        return self.measure(hidden, logits, targets)

    @torch.no_grad()
    def measure(self, hidden: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        metrics = self.provider.measure(*self._views(hidden, targets))
        metrics["kl_reg"] = kl_to_uniform(logits)
        return metrics
