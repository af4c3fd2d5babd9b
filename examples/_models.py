"""A small nanoGPT-style decoder shared by the examples.

Token + learned position embeddings, ``n_layer`` pre-LayerNorm blocks of causal
self-attention and a 4x GELU MLP, a final LayerNorm and a weight-tied head, as in
Karpathy's nanoGPT ``model.py``. ``model(input_ids[B, T])`` returns logits ``[B, T, V]``,
the shape ``pvcontracts.train.task.Task`` asks for; the loss is the trainer's.

The task modules load this file by path (``load_models``) because ``pv train`` imports a
task from a file, not from an installed package.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from typing import Any, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    block_size: int          # the longest sequence the position embedding covers
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    dropout: float = 0.0
    bias: bool = True


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        if cfg.n_embd % cfg.n_head:
            raise ValueError(f"n_embd={cfg.n_embd} is not a multiple of n_head={cfg.n_head}")
        self.n_head = cfg.n_head
        self.dropout = cfg.dropout
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C)))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = nn.Sequential(nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias), nn.GELU(),
                                 nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias), nn.Dropout(cfg.dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """A decoder-only transformer; ``forward(idx) -> logits``."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying, as in GPT-2
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2's scaled init of the residual projections
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

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        T = idx.shape[1]
        if T > self.cfg.block_size:
            raise ValueError(f"sequence length {T} exceeds block_size {self.cfg.block_size}")
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


class TokenPairs(torch.utils.data.Dataset):
    """``(input_ids, target_ids)`` pairs from rows of a ``[N, T + 1]`` LongTensor: targets are inputs shifted by one."""

    def __init__(self, rows: torch.Tensor) -> None:
        if rows.dim() != 2 or rows.shape[1] < 2:
            raise ValueError(f"rows must be [N, T + 1] with T >= 1, got {tuple(rows.shape)}")
        self.rows = rows.long().contiguous()

    def __len__(self) -> int:
        return self.rows.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        row = self.rows[i]
        return row[:-1], row[1:]


def task_options(config: Mapping[str, Any], defaults: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``defaults`` overridden by the run config's ``task_options``; unknown sections or keys are errors."""
    given = dict(config.get("task_options") or {})
    unknown = set(given) - set(defaults)
    if unknown:
        raise ValueError(f"unknown task_options section(s) {sorted(unknown)}; known: {sorted(defaults)}")
    out: dict[str, dict[str, Any]] = {}
    for name, section_defaults in defaults.items():
        section = dict(given.get(name) or {})
        bad = set(section) - set(section_defaults)
        if bad:
            raise ValueError(f"unknown task_options.{name} option(s) {sorted(bad)}; known: {sorted(section_defaults)}")
        out[name] = {**section_defaults, **section}
    return out
