"""Graph walks: a small transformer learns a graph's edges and its "jumper" rules.

The world is a directed graph whose vertices fall into ``n_blocks`` blocks of
``block_size`` vertices. Most edges stay inside a block; a few cross between blocks.
Some vertices are *jumpers*: each has a target block, and a walk that visits a jumper
at position t must be inside that target block at position t + r. (While a rule is
pending the walk visits no other jumper, so two rules never compete.) Walks are token
sequences, one token per vertex, and the model learns next-token prediction on them.

Each evaluation takes held-out walk prefixes that end within r steps after a jumper
visit, lets the model continue them greedily, and measures on the generated steps:

- ``edge_compliance``: fraction of generated steps (prev -> next) that are edges;
- ``rule_compliance``: fraction of rule-bearing generated positions (t such that the
  vertex at t - r is a jumper) whose vertex lies in that jumper's target block.

``early-stop-sufficiency-v1`` stops the run once both exceed their thresholds.

``pv train examples/graph_walks/config.yaml`` loads ``build`` from this file.
"""

# No "from __future__ import annotations": a dataclass with string annotations needs its module in
# sys.modules, and a task file loaded by path might not be registered there.

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch


def _shared() -> Any:
    """``examples/_models.py``, loaded by path (``pv train`` imports this file by path, not as a package)."""
    name = "pvcontracts_examples_models"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent.parent / "_models.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


# --------------------------------------------------------------------------- the graph


@dataclass
class Graph:
    """A block graph with jumper rules. Vertex ``v`` is in block ``v // block_size``."""

    n_blocks: int
    block_size: int
    adj: np.ndarray                      # [N, N] bool: adj[u, v] is the edge u -> v
    jumpers: dict[int, int]              # jumper vertex -> target block
    r: int                               # the rule's delay in steps
    # reach[m][u, b]: from u (not a jumper), a jumper-free walk of exactly m more steps ends in block b
    reach: list[np.ndarray] = field(default_factory=list, repr=False)

    @property
    def n_vertices(self) -> int:
        return self.n_blocks * self.block_size

    def block(self, v: int | np.ndarray) -> Any:
        return v // self.block_size

    def successors(self, u: int) -> np.ndarray:
        return np.flatnonzero(self.adj[u])

    def to_dict(self) -> dict[str, Any]:
        return {"n_blocks": self.n_blocks, "block_size": self.block_size, "n_vertices": self.n_vertices,
                "n_edges": int(self.adj.sum()), "r": self.r,
                "jumpers": {str(v): b for v, b in sorted(self.jumpers.items())}}


def _reach_tables(adj: np.ndarray, block_of: np.ndarray, is_jumper: np.ndarray, n_blocks: int, r: int) -> list[np.ndarray]:
    n = adj.shape[0]
    free = ~is_jumper
    r0 = np.zeros((n, n_blocks), dtype=bool)
    r0[np.arange(n), block_of] = True
    tables = [r0 & free[:, None]]
    a = adj.astype(np.int64)
    for _ in range(r):
        nxt = (a @ tables[-1].astype(np.int64)) > 0
        tables.append(nxt & free[:, None])
    return tables


def make_graph(seed: int, n_blocks: int = 6, block_size: int = 8, in_block_degree: int = 2,
               cross_edges: int = 1, n_jumpers: int = 12, r: int = 6, max_tries: int = 1000) -> Graph:
    """A random block graph whose every jumper rule can always be honoured.

    Each vertex gets an edge to the next vertex of its block (a ring, so every block is
    strongly connected), ``in_block_degree - 1`` further edges inside its block, and
    ``cross_edges`` edges into other blocks. ``n_jumpers`` vertices, spread evenly over
    the blocks, become jumpers; a jumper's target block is its block's image under a
    random derangement (every block is a target equally often, never its own). The graph
    is redrawn until, from every jumper, some non-jumper successor can reach the target block in exactly
    ``r - 1`` more jumper-free steps. That is all a walk needs: while a rule is pending it
    steps only to vertices from which the deadline can still be met (``reach``), so it
    never gets stuck, and it visits no second jumper.
    """
    if n_blocks < 2 or block_size < 2 or r < 1 or n_jumpers < 1:
        raise ValueError("need n_blocks >= 2, block_size >= 2, r >= 1 and n_jumpers >= 1")
    if n_jumpers > n_blocks * (block_size // 2):
        raise ValueError("too many jumpers: at most half of each block can be jumpers")
    rng = np.random.default_rng(seed)
    n = n_blocks * block_size
    block_of = np.arange(n) // block_size
    for _ in range(max_tries):
        adj = np.zeros((n, n), dtype=bool)
        for u in range(n):
            b, i = divmod(u, block_size)
            adj[u, b * block_size + (i + 1) % block_size] = True
            others = [b * block_size + j for j in range(block_size) if j != i and not adj[u, b * block_size + j]]
            for v in rng.choice(others, size=min(in_block_degree - 1, len(others)), replace=False):
                adj[u, v] = True
            outside = np.flatnonzero(block_of != b)
            for v in rng.choice(outside, size=cross_edges, replace=False):
                adj[u, v] = True
        # Jumpers spread round-robin over the blocks; targets follow a random derangement of
        # the blocks, so every block is targeted equally often and none targets itself.
        perm = rng.permutation(n_blocks)
        while (perm == np.arange(n_blocks)).any():
            perm = rng.permutation(n_blocks)
        slots = [rng.permutation(block_size) for _ in range(n_blocks)]
        jumpers = {int(b * block_size + slots[b][i // n_blocks]): int(perm[b])
                   for i in range(n_jumpers) for b in [i % n_blocks]}
        is_jumper = np.zeros(n, dtype=bool)
        is_jumper[list(jumpers)] = True
        reach = _reach_tables(adj, block_of, is_jumper, n_blocks, r)
        if all(reach[r - 1][adj[j], b].any() for j, b in jumpers.items()):
            return Graph(n_blocks, block_size, adj, jumpers, r, reach)
    raise RuntimeError(f"no feasible graph in {max_tries} tries; loosen the graph parameters")


def sample_walks(graph: Graph, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` walks of ``length`` vertices: uniform among the allowed successors at every step.

    Allowed: any successor when no rule is pending; while one is pending (m steps left
    until its deadline), only non-jumpers from which the target block is reachable in
    exactly m - 1 further jumper-free steps. Vectorised over walks.
    """
    N, r = graph.n_vertices, graph.r
    jumper_target = np.full(N, -1)
    for v, b in graph.jumpers.items():
        jumper_target[v] = b
    walks = np.empty((n, length), dtype=np.int64)
    walks[:, 0] = rng.integers(0, N, size=n)
    target = jumper_target[walks[:, 0]]               # pending target block, -1 when none
    left = np.where(target >= 0, r, 0)                # steps until the deadline
    for t in range(1, length):
        allowed = graph.adj[walks[:, t - 1]].copy()    # [n, N]
        pending = left > 0
        if pending.any():
            rows = np.flatnonzero(pending)
            allowed[rows] &= np.stack([graph.reach[left[i] - 1][:, target[i]] for i in rows])
        # uniform choice among the allowed successors: the largest of independent uniform keys
        keys = rng.random((n, N)) * allowed
        nxt = keys.argmax(axis=1)
        if not allowed[np.arange(n), nxt].all():      # pragma: no cover - make_graph rules this out
            raise RuntimeError("walk got stuck: the graph violates make_graph's guarantees")
        walks[:, t] = nxt
        left = np.where(pending, left - 1, 0)
        fresh = (left == 0) & (jumper_target[nxt] >= 0)
        target = np.where(fresh, jumper_target[nxt], np.where(left > 0, target, -1))
        left = np.where(fresh, r, left)
    return walks


# --------------------------------------------------------------------------- the measures


def compliance(graph: Graph, seqs: np.ndarray | torch.Tensor, start: int) -> dict[str, float]:
    """Edge and rule compliance of the steps at positions ``start..`` of each row of ``seqs``.

    Positions before ``start`` are the prompt: they are never judged, but a jumper in
    the prompt makes a generated position rule-bearing. ``rule_compliance`` is NaN when
    no generated position bears a rule (NaN never passes the gate).
    """
    s = np.asarray(seqs.cpu() if isinstance(seqs, torch.Tensor) else seqs, dtype=np.int64)
    if s.ndim != 2 or not 1 <= start < s.shape[1]:
        raise ValueError(f"need [B, L] with 1 <= start < L, got shape {s.shape} and start {start}")
    if s.min() < 0 or s.max() >= graph.n_vertices:
        raise ValueError("token outside the vertex range")
    edges = graph.adj[s[:, start - 1:-1], s[:, start:]]
    target = np.full(graph.n_vertices, -1)
    for v, b in graph.jumpers.items():
        target[v] = b
    r = graph.r
    lo = max(start, r)
    if lo < s.shape[1]:
        tgt = target[s[:, lo - r:s.shape[1] - r]]      # target block of the vertex r steps earlier
        bearing = tgt >= 0
        held = bearing & (graph.block(s[:, lo:]) == tgt)
        n_rule, n_held = int(bearing.sum()), int(held.sum())
    else:
        n_rule = n_held = 0
    return {"edge_compliance": float(edges.mean()),
            "rule_compliance": n_held / n_rule if n_rule else float("nan"),
            "edge_steps": int(edges.size), "rule_positions": n_rule}


def eval_prompts(graph: Graph, n: int, prefix: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` walk prefixes of length ``prefix`` whose last ``r`` positions hold a jumper visit.

    So every continuation has at least one rule-bearing position inside the generated part.
    """
    if prefix < graph.r:
        raise ValueError(f"prefix {prefix} is shorter than r={graph.r}")
    is_jumper = np.zeros(graph.n_vertices, dtype=bool)
    is_jumper[list(graph.jumpers)] = True
    out: list[np.ndarray] = []
    while sum(len(o) for o in out) < n:
        walks = sample_walks(graph, 4 * n, prefix, rng)
        out.append(walks[is_jumper[walks[:, prefix - graph.r:]].any(axis=1)])
    return np.concatenate(out)[:n]


# --------------------------------------------------------------------------- the task


DEFAULTS: dict[str, dict[str, Any]] = {
    "graph": {"n_blocks": 6, "block_size": 8, "in_block_degree": 2, "cross_edges": 1, "n_jumpers": 12, "r": 6,
              "seed": 1234},
    "data": {"walk_length": 33, "train_walks": 2048, "val_walks": 256, "eval_prompts": 256,
             "eval_prefix": 12, "eval_new_tokens": 16},
    "model": {"n_layer": 2, "n_head": 4, "n_embd": 64, "dropout": 0.0},
}


def options(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``DEFAULTS`` overridden by the run config's ``task_options`` (sections ``graph``, ``data``, ``model``)."""
    return _shared().task_options(config, DEFAULTS)


def build(config: Mapping[str, Any], seed: int) -> Any:
    """The graph-walks task: ``config`` is the run config (``TrainConfig.to_dict()``); only its
    ``task_options`` are read here.

    The graph comes from ``task_options.graph.seed`` (the world is fixed across runs);
    the walks and the evaluation prompts come from ``seed``. The model's initial
    weights come from the global torch RNG, which the trainer seeds from its init
    stream before calling ``build``.
    """
    from pvcontracts.train.task import Task

    models = _shared()
    opts = options(config)
    g_cfg, d_cfg, m_cfg = opts["graph"], opts["data"], opts["model"]
    graph = make_graph(int(g_cfg.pop("seed")), **g_cfg)
    rng = np.random.default_rng([seed, 1])
    L = int(d_cfg["walk_length"])
    train = torch.from_numpy(sample_walks(graph, int(d_cfg["train_walks"]), L, rng))
    val = torch.from_numpy(sample_walks(graph, int(d_cfg["val_walks"]), L, rng))
    prefix, new = int(d_cfg["eval_prefix"]), int(d_cfg["eval_new_tokens"])
    prompts = torch.from_numpy(eval_prompts(graph, int(d_cfg["eval_prompts"]), prefix, np.random.default_rng([seed, 2])))
    block_size = max(L - 1, prefix + new)
    model = models.GPT(models.GPTConfig(vocab_size=graph.n_vertices, block_size=block_size, **m_cfg))

    def evaluate(model: Any, epoch: int) -> dict[str, float]:
        device = next(model.parameters()).device
        seqs = generate_greedy(model, prompts.to(device), new)
        m = compliance(graph, seqs, prefix)
        return {"edge_compliance": m["edge_compliance"], "rule_compliance": m["rule_compliance"]}

    info = {"graph": graph.to_dict(), "train_walks": len(train), "val_walks": len(val), "walk_length": L,
            "eval_prompts": len(prompts), "eval_prefix": prefix, "eval_new_tokens": new,
            "model_params": model.num_params(), "model": m_cfg}
    return Task(name="graph_walks", model=model, train_dataset=models.TokenPairs(train),
                val_dataset=models.TokenPairs(val), vocab_size=graph.n_vertices, evaluate=evaluate, info=info,
                metrics=("edge_compliance", "rule_compliance"))


@torch.no_grad()
def generate_greedy(model: Any, prompts: torch.Tensor, new_tokens: int) -> torch.Tensor:
    """Continue every prompt by ``new_tokens`` argmax tokens; works for any ``model(idx) -> logits``."""
    seqs = prompts
    for _ in range(new_tokens):
        logits = model(seqs)
        seqs = torch.cat([seqs, logits[:, -1].argmax(dim=-1, keepdim=True)], dim=1)
    return seqs
