"""What the wheel carries, and where an install finds the shipped contracts.

The wheel itself is built, installed into a fresh environment outside the checkout and
used by `.ci/installed` in CI; these tests keep the configuration it relies on honest.
"""

from __future__ import annotations

import io
import tomllib
from pathlib import Path

import pytest

from pvcontracts.cli import run
from pvcontracts.contract import contractset
from pvcontracts.contract.contractset import load_contracts, shipped_contracts_dir
from pvcontracts.errors import ContractLoadError

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_folder_of_the_package_is_in_the_wheel() -> None:
    package_root = REPO / "src" / "pvcontracts"
    folders = {"pvcontracts"} | {
        "pvcontracts." + ".".join(p.relative_to(package_root).parts)
        for p in package_root.rglob("*") if p.is_dir() and p.name != "__pycache__"
    }
    configured = set(PYPROJECT["tool"]["setuptools"]["packages"])
    assert configured == folders | {"pvcontracts.shipped"}


def test_the_shipped_contracts_are_mapped_from_the_one_copy_in_contracts() -> None:
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert setuptools["package-dir"]["pvcontracts.shipped"] == "contracts"
    assert setuptools["package-data"]["pvcontracts.shipped"] == ["*.yaml"]
    assert not (REPO / "src" / "pvcontracts" / "shipped").exists()  # no symlink, no second copy


def test_a_checkout_reads_its_own_contracts_folder() -> None:
    assert shipped_contracts_dir() == REPO / "contracts"
    assert [c.id for c in load_contracts()] == [c.id for c in load_contracts(REPO / "contracts")]


def test_an_install_without_contracts_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # neither the wheel's data package nor a pv-contracts checkout around the module
    monkeypatch.setattr(contractset.resources, "files", lambda package: tmp_path)
    monkeypatch.setattr(contractset, "_is_pv_contracts_checkout", lambda directory: False)
    with pytest.raises(ContractLoadError, match="carries no shipped contracts"):
        shipped_contracts_dir()


def test_a_users_own_contracts_folder_is_never_the_shipped_set(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    # a user's project with its own contracts/ and pyproject.toml, as the working directory
    (tmp_path / "contracts").mkdir()
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "my-model"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert shipped_contracts_dir() == REPO / "contracts"
    assert not contractset._is_pv_contracts_checkout(tmp_path)


def test_pv_validate_shipped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # anywhere: --shipped does not read the working directory's contracts/
    out, err = io.StringIO(), io.StringIO()
    assert run(["validate", "--shipped"], out, err) == 0, out.getvalue() + err.getvalue()
    assert "test references are not resolved" in err.getvalue()
    assert f"{len(list((REPO / 'contracts').glob('*.yaml')))} contracts" in out.getvalue()
    assert run(["validate", "--shipped", "elsewhere/"], io.StringIO(), err) == 2
