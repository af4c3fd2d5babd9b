"""Tiny language-model runs for the adapter tests: text that ships with Python, models built from config.

Not a test module (no ``test_`` prefix): the test modules import it by name, this
directory being on sys.path. Nothing is downloaded: the text is the source of
Python's own ``json.decoder``, byte-level (vocabulary 128), and the models are built
from a small config with random weights.
"""

from __future__ import annotations

import inspect
import json.decoder
import math
import os

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may reach the hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

VOCAB = 128
SEQ = 32
CAP = 2.0 * math.log(VOCAB)  # INV-TRAIN-005/007's from_scratch cap


def tokens() -> torch.Tensor:
    text = inspect.getsource(json.decoder).encode("ascii", "replace")
    return torch.tensor([b % VOCAB for b in text], dtype=torch.long)


class LMData(torch.utils.data.Dataset):
    """``count`` windows of SEQ tokens from ``first`` on: input_ids and labels (the model shifts them)."""

    def __init__(self, first: int, count: int) -> None:
        self.ids = tokens()
        self.first, self.count = first, count
        assert (first + count) * SEQ <= len(self.ids)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        x = self.ids[(self.first + i) * SEQ:(self.first + i + 1) * SEQ]
        return {"input_ids": x, "labels": x.clone()}


def gpt2(seed: int = 0) -> torch.nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=VOCAB, n_positions=SEQ, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(config)


def llama(seed: int = 0) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=SEQ,
                         bos_token_id=0, eos_token_id=0, pad_token_id=0)
    return LlamaForCausalLM(config)


class NanAt:
    """A forward hook on the token embedding that makes the training forward's activations NaN once,
    at the ``at``-th training forward (a NaN at a chosen step, as an overflow would)."""

    def __init__(self, module: torch.nn.Module, at: int) -> None:
        self.at, self.calls = at, 0
        self.handle = module.register_forward_hook(self)

    def __call__(self, module: torch.nn.Module, args: object, output: torch.Tensor) -> torch.Tensor | None:
        if not module.training:
            return None
        self.calls += 1
        if self.calls - 1 == self.at:
            return output * math.nan
        return None
