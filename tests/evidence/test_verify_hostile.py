"""`pv verify` on evidence changed at random: a verdict, a finding or a usage error, never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvcontracts.evidence.verify import verify_file

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                          max_size=3), max_leaves=6)


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory, evproject_class) -> Path:
    root = tmp_path_factory.mktemp("hostile") / "repo"
    root.mkdir()
    project = evproject_class(root)
    assert project.check("--reproducible", "--in-toto", "-o", "out/statement.json").returncode == 0
    return root


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_changes_never_crash_verify(checked: Path, tmp_path_factory: pytest.TempPathFactory, data) -> None:
    original = json.loads((checked / "out" / "statement.json").read_text())
    paths = [p for p in _paths(original) if p]
    doc = json.loads(json.dumps(original))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        target = doc
        try:
            for key in path[:-1]:
                target = target[key]
            current = target[path[-1]]
            # mostly same-typed changes, which the schema lets through to the checks behind it
            if isinstance(current, str) and data.draw(st.booleans()):
                target[path[-1]] = data.draw(st.sampled_from(["", "..", "/etc/passwd", "x" * 3, current + "x",
                                                              "tests/test_demo.py::test_a", "passed", "failed"]))
            elif isinstance(current, bool) or current is None:
                target[path[-1]] = data.draw(json_values)
            elif isinstance(current, int) and data.draw(st.booleans()):
                target[path[-1]] = data.draw(st.integers(-2, 2**63))
            elif isinstance(current, list) and current and data.draw(st.booleans()):
                del current[data.draw(st.integers(0, len(current) - 1))]
            elif isinstance(current, dict) and current and data.draw(st.booleans()):
                del current[data.draw(st.sampled_from(sorted(current)))]
            else:
                target[path[-1]] = data.draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue
    work = tmp_path_factory.mktemp("v")
    shutil.copytree(checked, work / "repo")
    (work / "repo" / "out" / "statement.json").write_text(json.dumps(doc))
    report = verify_file(work / "repo" / "out" / "statement.json", work / "repo")  # must not raise
    assert report.error is not None or report.verdicts or report.diagnostics
