"""Find a task's build function from ``path/to/task.py:build``, relative to the config file."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, Callable

from pvcontracts.train.config import ConfigError

__all__ = ["load_builder"]


def load_builder(spec: str, base_dir: Path | None = None) -> Callable[[dict[str, Any], int], Any]:
    """Import the file and return its build function; every failure is a ConfigError with the reason."""
    file_part, sep, func = spec.rpartition(":")
    if not sep or not file_part or not func.isidentifier():
        raise ConfigError(f"task={spec!r} must be 'path/to/file.py:function'", "task")
    path = Path(file_part)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file():
        raise ConfigError(f"task file {path} does not exist", "task")
    name = f"_pv_task_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ConfigError(f"cannot import {path} as a Python module", "task")
    module = importlib.util.module_from_spec(module_spec)
    # The task's directory goes on sys.path so that the task file can import its sibling modules.
    directory = str(path.resolve().parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ConfigError(f"importing {path} failed: {type(exc).__name__}: {exc}", "task") from exc
    build = getattr(module, func, None)
    if not callable(build):
        raise ConfigError(f"{path} has no function {func!r}", "task")
    return build
