"""Fixtures for the trainer's tests. Helpers to import live in ``_tinytask.py`` (not here: test modules
without ``__init__.py`` cannot import a conftest reliably)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """One intra-op thread: the tiny models run several times faster than with two threads contending for
    two loaded cores, and every run in the session (and in the crash tests' children) uses the same count,
    which bit-identical comparisons need."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
