"""A real scheduler object read as lr-schedule-v1's declaration: the zoo's hand-written declarations, recovered.

tests/zoo/pvzoo.py declares each real scheduler by hand in the contract's terms, and
tests/runtime/test_real_schedulers.py runs each clean under that declaration; reading the
objects must give the same declaration (for the params that matter to the shape), or
None for a scheduler the reader does not know, never a guess.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")
torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "zoo"))

import pvzoo  # noqa: E402

from pvcontracts.contract.contractset import load_contracts  # noqa: E402
from pvcontracts.integrations.schedule import declaration  # noqa: E402

READABLE = {**pvzoo.schedulers(), **pvzoo.per_epoch_schedulers()}
UNREADABLE = {"torch_lambda_pv_trainer", "torchtitan_wsd"}  # LambdaLR over a function of the loop's own
DEFAULTS = {n: p.default for c in load_contracts(pvzoo.SHIPPED, ["lr-schedule-v1"]) for n, p in c.params.items()}
IRRELEVANT = {"lr_interval"}  # the loop's choice, not the scheduler's: the run declares it


def _optimizer() -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=pvzoo.LR)


@pytest.mark.parametrize("name", sorted(set(READABLE) - UNREADABLE))
def test_the_scheduler_object_gives_the_zoo_s_declaration(name: str) -> None:
    make, declared = READABLE[name]
    opt = _optimizer()
    read = declaration(make(opt), opt)
    assert read is not None
    expected = {**DEFAULTS, **declared}
    got = {**DEFAULTS, **read}
    if expected["lr_schedule"] == "constant":
        expected.pop("total_steps"), got.pop("total_steps")  # a constant shape never reads it
    for key in sorted(set(expected) - IRRELEVANT):
        want = expected[key] if isinstance(expected[key], str) else pytest.approx(expected[key], rel=1e-12)
        assert got[key] == want, (key, got[key], expected[key])


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_a_scheduler_it_cannot_read_is_not_guessed(name: str) -> None:
    make, _ = READABLE[name]
    opt = _optimizer()
    assert declaration(make(opt), opt) is None


def test_no_scheduler_is_a_constant_lr_without_one() -> None:
    assert declaration(None, _optimizer()) == {"lr_interval": "none", "lr_schedule": "constant", "peak_lr": pvzoo.LR}


def test_hf_cosine_with_other_cycles_and_inverse_sqrt_are_not_shapes_of_the_contract() -> None:
    import transformers

    opt = _optimizer()
    assert declaration(transformers.get_cosine_schedule_with_warmup(opt, 2, 20, num_cycles=1.0), opt) is None
    assert declaration(transformers.get_inverse_sqrt_schedule(_optimizer(), 2), opt) is None
    assert declaration(torch.optim.lr_scheduler.ExponentialLR(_optimizer(), 0.9), opt) is None
