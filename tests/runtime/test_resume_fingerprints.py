"""The monitor's own resume check: fingerprints of the RNG streams, the optimizer and the scheduler."""

from __future__ import annotations

import random

import torch

from pvcontracts.runtime.fingerprint import compare, rng_fingerprints, state_fingerprints


def _setup() -> tuple[torch.nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    net = torch.nn.Linear(3, 1)
    opt = torch.optim.AdamW(net.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 / (k + 1))
    return net, opt, sched


def _step(net: torch.nn.Module, opt: torch.optim.Optimizer, sched: object) -> None:
    net(torch.randn(4, 3)).sum().backward()  # draws from torch's global RNG
    opt.step()
    sched.step()  # type: ignore[attr-defined]
    opt.zero_grad()


def test_a_stream_the_run_never_used_is_not_compared() -> None:
    start = {f"rng:{k}": v for k, v in rng_fingerprints().items()}
    net, opt, sched = _setup()
    _step(net, opt, sched)
    saved = state_fingerprints([opt], [sched])
    random.seed(12345)  # the new process's Python stream differs, but the run never drew from it
    out = compare(saved, start, saved | {"rng:python": "elsewhere"})
    assert out["rng_restored"] is True and out["rng_streams_compared"] >= 1


def test_a_used_stream_not_restored_is_caught_and_a_restored_one_passes() -> None:
    start = {f"rng:{k}": v for k, v in rng_fingerprints().items()}
    net, opt, sched = _setup()
    _step(net, opt, sched)
    rng = torch.get_rng_state()
    saved = state_fingerprints([opt], [sched])
    torch.manual_seed(99)
    assert compare(saved, start, state_fingerprints([opt], [sched]))["rng_restored"] is False
    torch.set_rng_state(rng)
    assert compare(saved, start, state_fingerprints([opt], [sched]))["rng_restored"] is True


def test_optimizer_and_scheduler_state_are_compared_by_content() -> None:
    net, opt, sched = _setup()
    _step(net, opt, sched)
    saved = state_fingerprints([opt], [sched])
    fresh_net, fresh_opt, fresh_sched = _setup()
    fresh_net.load_state_dict(net.state_dict())
    out = compare(saved, {}, state_fingerprints([fresh_opt], [fresh_sched]))
    assert out["optimizer_state_restored"] is False and out["scheduler_state_restored"] is False
    fresh_opt.load_state_dict(opt.state_dict())
    fresh_sched.load_state_dict(sched.state_dict())
    out = compare(saved, {}, state_fingerprints([fresh_opt], [fresh_sched]))
    assert out["optimizer_state_restored"] is True and out["scheduler_state_restored"] is True


def test_resume_fingerprints_travel_in_a_state_and_judge_the_resumed_process() -> None:
    from pvcontracts.runtime.fingerprint import ResumeFingerprints

    torch.manual_seed(0)
    original = ResumeFingerprints()
    net, opt, sched = _setup()
    assert original.resume_metrics([opt], [sched]) == {}  # no checkpoint taken: nothing to compare
    _step(net, opt, sched)
    rng, opt_state, sched_state = torch.get_rng_state(), opt.state_dict(), sched.state_dict()
    original.take([opt], [sched])
    state = original.state_dict()

    torch.manual_seed(0)  # a new process: the same seed, so its start fingerprints equal the original's
    resumed = ResumeFingerprints()
    resumed.load_state_dict(state)
    net2, opt2, sched2 = _setup()
    faulty = resumed.resume_metrics([opt2], [sched2])  # nothing restored
    assert (faulty["rng_restored"], faulty["optimizer_state_restored"], faulty["scheduler_state_restored"]) == (
        False, False, False)
    torch.set_rng_state(rng)
    opt2.load_state_dict(opt_state)
    sched2.load_state_dict(sched_state)
    restored = resumed.resume_metrics([opt2], [sched2])
    assert (restored["rng_restored"], restored["optimizer_state_restored"], restored["scheduler_state_restored"]) == (
        True, True, True)
