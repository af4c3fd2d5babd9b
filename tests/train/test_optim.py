"""AdamW parameter groups: decay on weight matrices only."""

from __future__ import annotations

import torch.nn as nn

from pvcontracts.train.optim import build_optimizer, param_groups


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.ln = nn.LayerNorm(4)
        self.lin = nn.Linear(4, 4)
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight  # tied
        self.bn = nn.BatchNorm1d(4)
        self.scale = nn.Parameter(nn.init.ones_(nn.Parameter(nn.Linear(1, 4).bias.detach().clone())))


def test_no_decay_on_biases_norms_and_vectors_and_tied_weights_once() -> None:
    decay, rest = param_groups(Net(), 0.1)
    assert decay["weight_decay"] == 0.1 and rest["weight_decay"] == 0.0
    assert sorted(decay["names"]) == ["embed.weight", "lin.weight"]
    assert sorted(rest["names"]) == ["bn.bias", "bn.weight", "lin.bias", "ln.bias", "ln.weight", "scale"]
    opt = build_optimizer(Net(), lr=1e-3, weight_decay=0.1)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]
    assert sum(len(g["params"]) for g in opt.param_groups) == 8
