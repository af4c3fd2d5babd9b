"""examples/graph_walks: the graph, its walks, and the two compliance measures, without the trainer.

- ``build`` returns a valid Task (shapes, vocabulary, determinism, the metrics it declares).
- Generated walks obey the world: every step is an edge, every jumper rule holds, and no
  second jumper is visited while a rule is pending (checked here by a loop of its own,
  not by the task's ``compliance``).
- ``compliance`` is right on hand-made sequences, and the task's ``evaluate`` gives an
  oracle model 1.0 on both measures, a model that knows the edges but not the rules a
  failing rule compliance, and a random model low values on both: the sufficiency
  contract's own ``sufficient`` expression passes the first only.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")

SMALL_MODEL = {"n_layer": 1, "n_head": 2, "n_embd": 16}


@pytest.fixture(scope="module")
def gw(load_example: Any) -> Any:
    return load_example("graph_walks")


@pytest.fixture(scope="module")
def task(gw: Any) -> Any:
    return gw.build({"task_options": {"model": SMALL_MODEL}}, seed=0)


@pytest.fixture(scope="module")
def graph(gw: Any) -> Any:
    return gw.make_graph(**{k: v for k, v in gw.DEFAULTS["graph"].items() if k != "seed"},
                         seed=gw.DEFAULTS["graph"]["seed"])


# --------------------------------------------------------------------------- the task


def test_build_returns_a_valid_task(gw: Any, task: Any) -> None:
    from pvcontracts.train.task import Task

    assert isinstance(task, Task) and task.name == "graph_walks"
    g = gw.DEFAULTS["graph"]
    assert task.vocab_size == g["n_blocks"] * g["block_size"] == task.info["graph"]["n_vertices"]
    assert task.metrics == ("edge_compliance", "rule_compliance")
    L = gw.DEFAULTS["data"]["walk_length"]
    assert len(task.train_dataset) == gw.DEFAULTS["data"]["train_walks"] == task.info["train_walks"]
    assert len(task.val_dataset) == gw.DEFAULTS["data"]["val_walks"]
    x, y = task.train_dataset[3]
    assert x.dtype == y.dtype == torch.long and x.shape == y.shape == (L - 1,)
    assert torch.equal(x[1:], y[:-1])  # targets are the inputs shifted by one
    batch = torch.stack([task.val_dataset[i][0] for i in range(4)])
    logits = task.model(batch)
    assert logits.shape == (4, L - 1, task.vocab_size)
    task.model.eval()
    with torch.no_grad():
        metrics = task.evaluate(task.model, 0)
    assert set(metrics) == {"edge_compliance", "rule_compliance"}
    assert all(0.0 <= v <= 1.0 for v in metrics.values())


def test_build_is_deterministic_in_its_seed(gw: Any) -> None:
    opts = {"task_options": {"model": SMALL_MODEL, "data": {"train_walks": 64, "val_walks": 16, "eval_prompts": 8}}}
    a, b, c = gw.build(opts, seed=5), gw.build(opts, seed=5), gw.build(opts, seed=6)
    assert torch.equal(a.train_dataset.rows, b.train_dataset.rows)
    assert not torch.equal(a.train_dataset.rows, c.train_dataset.rows)
    assert a.info["graph"] == c.info["graph"]  # the world is fixed by graph.seed, not by the run seed


def test_unknown_task_options_are_rejected(gw: Any) -> None:
    with pytest.raises(ValueError, match="unknown task_options.graph option"):
        gw.build({"task_options": {"graph": {"n_blokcs": 3}}}, seed=0)
    with pytest.raises(ValueError, match="unknown task_options section"):
        gw.build({"task_options": {"optimizer": {}}}, seed=0)


def test_initial_loss_is_near_uniform(task: Any) -> None:
    x = torch.stack([task.val_dataset[i][0] for i in range(32)])
    y = torch.stack([task.val_dataset[i][1] for i in range(32)])
    with torch.no_grad():
        loss = torch.nn.functional.cross_entropy(task.model(x).flatten(0, 1), y.flatten())
    assert abs(float(loss) - math.log(task.vocab_size)) < 0.1


# --------------------------------------------------------------------------- the world's rules


def _check_walk(graph: Any, walk: np.ndarray) -> None:
    """Every step an edge; every jumper at p sends the walk into its target block at p + r, with no jumper between."""
    for a, b in zip(walk[:-1], walk[1:]):
        assert graph.adj[a, b], f"{a} -> {b} is not an edge"
    for p, v in enumerate(walk):
        if int(v) in graph.jumpers and p + graph.r < len(walk):
            assert walk[p + graph.r] // graph.block_size == graph.jumpers[int(v)], (p, walk.tolist())
            assert not any(int(u) in graph.jumpers for u in walk[p + 1:p + graph.r + 1]), (p, walk.tolist())


@pytest.mark.parametrize("params", [
    {},
    {"n_blocks": 3, "block_size": 5, "n_jumpers": 3, "r": 3},
    {"n_blocks": 4, "block_size": 6, "in_block_degree": 3, "cross_edges": 2, "n_jumpers": 8, "r": 2},
    {"n_blocks": 2, "block_size": 4, "n_jumpers": 1, "r": 1},
])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generated_walks_follow_edges_and_rules(gw: Any, params: dict[str, Any], seed: int) -> None:
    defaults = {k: v for k, v in gw.DEFAULTS["graph"].items() if k != "seed"}
    graph = gw.make_graph(seed=seed, **{**defaults, **params})
    n = graph.n_vertices
    assert len(graph.jumpers) == {**defaults, **params}["n_jumpers"]
    for v, target in graph.jumpers.items():
        assert target != v // graph.block_size and 0 <= target < graph.n_blocks
    assert all(graph.adj[u].any() for u in range(n)) and not graph.adj[np.arange(n), np.arange(n)].any()
    walks = gw.sample_walks(graph, 300, 40, np.random.default_rng(seed))
    visits = 0
    for walk in walks:
        _check_walk(graph, walk)
        visits += sum(int(v) in graph.jumpers for v in walk[:-graph.r])
    assert visits > 50  # the rule really is exercised
    m = gw.compliance(graph, walks, 1)
    assert m["edge_compliance"] == 1.0 and m["rule_compliance"] == 1.0


def test_rule_is_not_implied_by_the_edges(gw: Any, graph: Any) -> None:
    """A walk that ignores the rules (uniform over successors) breaks them often: the rule carries information."""
    rng = np.random.default_rng(0)
    walks = np.empty((400, 30), dtype=np.int64)
    walks[:, 0] = rng.integers(0, graph.n_vertices, 400)
    for t in range(1, 30):
        for i in range(400):
            walks[i, t] = rng.choice(graph.successors(walks[i, t - 1]))
    m = gw.compliance(graph, walks, 1)
    assert m["edge_compliance"] == 1.0
    assert m["rule_compliance"] < 0.5


def test_eval_prompts_put_a_rule_into_the_generated_part(gw: Any, graph: Any) -> None:
    prompts = gw.eval_prompts(graph, 64, 12, np.random.default_rng(0))
    assert prompts.shape == (64, 12)
    for p in prompts:
        _check_walk(graph, p)
        assert any(int(v) in graph.jumpers for v in p[-graph.r:])


def test_impossible_graph_parameters_are_refused(gw: Any) -> None:
    with pytest.raises(ValueError):
        gw.make_graph(seed=0, n_blocks=1)
    with pytest.raises(ValueError, match="too many jumpers"):
        gw.make_graph(seed=0, n_blocks=2, block_size=4, n_jumpers=5)


# --------------------------------------------------------------------------- the measures, by hand


@pytest.fixture
def tiny(gw: Any) -> Any:
    """Blocks {0, 1} and {2, 3}; vertex 0 is a jumper to block 1 with r = 2."""
    adj = np.zeros((4, 4), dtype=bool)
    for a, b in [(0, 1), (1, 0), (1, 2), (2, 3), (3, 2), (3, 1)]:
        adj[a, b] = True
    return gw.Graph(n_blocks=2, block_size=2, adj=adj, jumpers={0: 1}, r=2)


def test_compliance_by_hand(gw: Any, tiny: Any) -> None:
    good = gw.compliance(tiny, np.array([[0, 1, 2, 3]]), 1)
    assert good == {"edge_compliance": 1.0, "rule_compliance": 1.0, "edge_steps": 3, "rule_positions": 1}
    bad = gw.compliance(tiny, np.array([[0, 1, 0, 3]]), 1)  # 0 -> 3 is no edge; at t=2 vertex 0 is in block 0
    assert bad["edge_compliance"] == pytest.approx(2 / 3) and bad["rule_compliance"] == 0.0
    mixed = gw.compliance(tiny, np.array([[0, 1, 2, 3], [0, 1, 0, 1]]), 1)
    assert mixed["edge_compliance"] == 1.0 and mixed["rule_compliance"] == 0.5 and mixed["rule_positions"] == 2


def test_prompt_is_not_judged_but_its_jumpers_count(gw: Any, tiny: Any) -> None:
    # Prompt [0, 3]: 0 -> 3 is no edge, but it is the prompt's own step and not judged.
    m = gw.compliance(tiny, np.array([[0, 3, 2, 3]]), 2)
    assert m["edge_compliance"] == 1.0 and m["edge_steps"] == 2
    assert m["rule_compliance"] == 1.0 and m["rule_positions"] == 1  # jumper at 0 (prompt), deadline at 2
    none = gw.compliance(tiny, np.array([[0, 1, 2, 3]]), 3)  # t=3 looks back to vertex 1: no rule there
    assert none["rule_positions"] == 0 and math.isnan(none["rule_compliance"])  # NaN never passes the gate


def test_compliance_rejects_bad_input(gw: Any, tiny: Any) -> None:
    with pytest.raises(ValueError):
        gw.compliance(tiny, np.array([[0, 1, 9]]), 1)
    with pytest.raises(ValueError):
        gw.compliance(tiny, np.array([[0, 1, 2]]), 0)
    assert gw.compliance(tiny, torch.tensor([[0, 1, 2, 3]]), 1)["edge_compliance"] == 1.0


# --------------------------------------------------------------------------- hand-made models through evaluate


class OracleModel(torch.nn.Module):
    """Puts all its mass on a next vertex that follows an edge and honours the pending rule, if any."""

    def __init__(self, graph: Any, obey_rules: bool = True) -> None:
        super().__init__()
        self.graph = graph
        self.obey_rules = obey_rules
        self.dummy = torch.nn.Parameter(torch.zeros(()))  # evaluate() asks for the model's device

    def choose(self, prefix: list[int], salt: int) -> int:
        g = self.graph
        options = list(g.successors(prefix[-1]))
        t = len(prefix) - 1
        pending = [p for p in range(max(0, t - g.r + 1), t + 1) if prefix[p] in g.jumpers]
        if self.obey_rules and pending:
            p = pending[-1]
            left = g.r - (t - p)  # steps to the deadline, counting the one being chosen
            options = [u for u in options if g.reach[left - 1][u, g.jumpers[prefix[p]]]]
        return int(options[salt % len(options)])

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        B, T = idx.shape
        logits = torch.full((B, T, self.graph.n_vertices), -1e9)
        rows = idx.tolist()
        for b in range(B):
            for t in range(T):
                logits[b, t, self.choose(rows[b][:t + 1], 7 * b + t)] = 0.0
        return logits


class RandomModel(torch.nn.Module):
    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.dummy = torch.nn.Parameter(torch.zeros(()))
        self.gen = torch.Generator().manual_seed(0)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return torch.randn(*idx.shape, self.vocab, generator=self.gen)


def _sufficient(metrics: dict[str, float]) -> bool:
    """The sufficiency contract's own verdict (INV-SUFF-001's ``sufficient``, thresholds at their defaults)."""
    from pvcontracts.contract.compiled import compile_invariant
    from pvcontracts.contract.contractset import load_contracts

    (contract,) = load_contracts(select=["early-stop-sufficiency-v1"])
    (inv,) = [i for i in contract.invariants if i.id == "INV-SUFF-001"]
    compiled = compile_invariant(contract, inv)
    return bool(dict(compiled.lets)["sufficient"].evaluate({**dict(compiled.defaults), **metrics}, None))


@pytest.fixture(scope="module")
def eval_task(gw: Any) -> Any:
    return gw.build({"task_options": {"model": SMALL_MODEL, "data": {"train_walks": 32, "val_walks": 8,
                                                                     "eval_prompts": 48}}}, seed=3)


def _graph_of(gw: Any) -> Any:
    g = dict(gw.DEFAULTS["graph"])
    return gw.make_graph(g.pop("seed"), **g)


def test_oracle_model_scores_one_and_passes_the_gate(gw: Any, eval_task: Any) -> None:
    with torch.no_grad():
        m = eval_task.evaluate(OracleModel(_graph_of(gw)), 0)
    assert m == {"edge_compliance": 1.0, "rule_compliance": 1.0}
    assert _sufficient(m)


def test_edges_without_rules_fail_the_gate(gw: Any, eval_task: Any) -> None:
    with torch.no_grad():
        m = eval_task.evaluate(OracleModel(_graph_of(gw), obey_rules=False), 0)
    assert m["edge_compliance"] == 1.0
    assert m["rule_compliance"] <= 0.5
    assert not _sufficient(m)


def test_random_model_scores_low(gw: Any, eval_task: Any) -> None:
    with torch.no_grad():
        m = eval_task.evaluate(RandomModel(eval_task.vocab_size), 0)
    # Out-degree 3 of 48 vertices: a random next vertex is an edge about 6% of the time.
    assert m["edge_compliance"] < 0.2
    assert m["rule_compliance"] < 0.5
    assert not _sufficient(m)
