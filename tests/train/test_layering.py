"""The trainer's parts import downward only: the loop uses preflight and result, never the reverse.

preflight.py and result.py once reached back into trainer.py (for the default loss) and into each
other (for a dataset's length), function-locally to dodge the import cycle. Those helpers live in
task.py now; this test keeps the cycle from growing back, function-level imports included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pvcontracts.train

TRAIN = Path(pvcontracts.train.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every pvcontracts.train module ``path`` imports, at any depth of the file (function bodies too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("pvcontracts.train.")}


def test_preflight_and_result_do_not_import_the_trainer_or_each_other() -> None:
    for name, forbidden in (("preflight", {"trainer", "result", "command"}),
                            ("result", {"trainer", "preflight", "command"}),
                            ("task", {"trainer", "preflight", "result", "command", "checkpoint"})):
        imports = imported_modules(TRAIN / f"{name}.py")
        reached = {m for m in imports if m.split(".")[2] in forbidden}
        assert not reached, f"{name}.py imports {sorted(reached)}"


def test_the_shared_helpers_have_one_home() -> None:
    from pvcontracts.train import preflight, result, task, trainer

    assert preflight.cross_entropy is task.cross_entropy is trainer.cross_entropy
    assert preflight.dataset_len is task.dataset_len is result.dataset_len
    assert task.dataset_len([1, 2, 3]) == 3
    assert task.dataset_len(iter([1])) is None
