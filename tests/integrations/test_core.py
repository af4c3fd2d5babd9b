"""The adapters' shared import gate: a missing or too-old framework is refused at import, by name (PV722).

A framework older than the lowest version the adapter's tests ran against fails mid-run in
upstream's code (transformers 4.46 cannot resume its own checkpoint under torch 2.13), so
``require`` refuses it before the run, and says which extra installs a supported one.
"""

from __future__ import annotations

import sys
import types

import pytest

pytest.importorskip("torch")

from pvcontracts.errors import IntegrationError  # noqa: E402
from pvcontracts.integrations.core import require  # noqa: E402


def _framework(monkeypatch: pytest.MonkeyPatch, name: str, version: str | None) -> types.ModuleType:
    module = types.ModuleType(name)
    if version is not None:
        module.__version__ = version
    monkeypatch.setitem(sys.modules, name, module)
    return module


def test_a_missing_framework_names_its_extra() -> None:
    with pytest.raises(IntegrationError) as info:
        require("pv_no_such_framework", "lightning", "2.5.5")
    assert info.value.code == "PV722"
    assert 'pip install "pv-contracts[lightning]" (lightning >= 2.5.5)' in str(info.value)


@pytest.mark.parametrize("installed", ["4.46.0", "4.49.9", "4.50.0rc1", "3.0"])
def test_a_framework_older_than_the_tested_minimum_is_refused(monkeypatch: pytest.MonkeyPatch, installed: str) -> None:
    _framework(monkeypatch, "pv_fake_hf", installed)
    with pytest.raises(IntegrationError) as info:
        require("pv_fake_hf", "transformers", "4.50")
    assert info.value.code == "PV722"
    assert f"pv_fake_hf {installed} is older than the adapter supports (4.50)" in str(info.value)


@pytest.mark.parametrize("installed", ["4.50.0", "4.50", "5.25.0", "10.0.0.dev0", "not a version", None])
def test_a_supported_or_unorderable_version_is_imported(monkeypatch: pytest.MonkeyPatch, installed: str | None) -> None:
    module = _framework(monkeypatch, "pv_fake_hf", installed)
    assert require("pv_fake_hf", "transformers", "4.50") is module


def test_the_fallback_module_is_imported_and_judged_too(monkeypatch: pytest.MonkeyPatch) -> None:
    standalone = _framework(monkeypatch, "pv_fake_standalone", "2.6.6")
    assert require("pv_no_such_framework", "lightning", "2.5.5", fallback="pv_fake_standalone") is standalone
    _framework(monkeypatch, "pv_fake_standalone", "2.4.0")
    with pytest.raises(IntegrationError, match="pv_fake_standalone 2.4.0 is older"):
        require("pv_no_such_framework", "lightning", "2.5.5", fallback="pv_fake_standalone")
