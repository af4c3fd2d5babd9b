"""From-scratch pretraining of a byte-level language model on the Python standard library's source.

The corpus is text that ships with every Python: the source files of the standard
library, read from ``sysconfig.get_paths()["stdlib"]``. The selection is deterministic:
the top-level modules whose names start with a lowercase letter (``abc.py``,
``aifc.py``, ``antigravity.py``, ...), in sorted order, whole files, each taken if it
still fits within ``max_bytes`` and skipped if it does not. The files, their sizes, the total and a
SHA-256 of the corpus go into ``Task.info`` (and so into ``result.json``): a run on
another Python version reads other bytes, and says so.

Tokens are bytes (vocabulary 256). The first ``1 - val_fraction`` of the corpus is the
training set, the rest the validation set, both cut into non-overlapping windows of
``block_size + 1`` bytes. An untrained model predicts nearly uniformly, so its loss
starts at about ln(256) = 5.55: the ``from_scratch`` regime's epoch-zero cap,
2 ln(256) = 11.09, is what INV-TRAIN-005 applies.

``pv train examples/pretrain_bytes/config.yaml`` loads ``build`` from this file.
"""

# No "from __future__ import annotations": see examples/graph_walks/task.py.

import hashlib
import importlib.util
import sys
import sysconfig
from pathlib import Path
from typing import Any, Mapping

import torch

VOCAB_SIZE = 256  # bytes


def _shared() -> Any:
    """``examples/_models.py``, loaded by path (``pv train`` imports this file by path, not as a package)."""
    name = "pvcontracts_examples_models"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent.parent / "_models.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def select_files(root: Path, max_bytes: int, pattern: str = "[a-z]*.py") -> list[Path]:
    """The top-level files of ``root`` matching ``pattern``, in sorted order, whole: each one that
    still fits within ``max_bytes`` is taken, each one that does not is skipped (greedy fill)."""
    chosen: list[Path] = []
    total = 0
    for path in sorted(root.glob(pattern), key=lambda p: p.name):
        if not path.is_file():
            continue
        size = path.stat().st_size
        if total + size > max_bytes:
            continue
        chosen.append(path)
        total += size
    if not chosen:
        raise FileNotFoundError(f"no {pattern} file of at most {max_bytes} bytes in {root}")
    return chosen


def read_corpus(max_bytes: int, root: Path | None = None) -> tuple[bytes, dict[str, Any]]:
    """The corpus (files joined by one newline) and its description for ``Task.info``."""
    root = root or stdlib_dir()
    files = select_files(root, max_bytes)
    parts = [p.read_bytes() for p in files]
    corpus = b"\n".join(parts)
    info = {"source": str(root), "python": sys.version.split()[0], "selection": "sorted top-level [a-z]*.py, whole files, greedy fill up to max_bytes", "max_bytes": max_bytes,
            "files": [p.name for p in files], "file_bytes": [len(b) for b in parts], "n_files": len(files),
            "total_bytes": len(corpus), "sha256": hashlib.sha256(corpus).hexdigest()}
    return corpus, info


def windows(data: torch.Tensor, block_size: int) -> torch.Tensor:
    """Non-overlapping ``[N, block_size + 1]`` windows (stride ``block_size``: each target byte appears once)."""
    n = (len(data) - 1) // block_size
    if n < 1:
        raise ValueError(f"{len(data)} bytes cannot fill one window of {block_size + 1}")
    idx = torch.arange(n).unsqueeze(1) * block_size + torch.arange(block_size + 1)
    return data[idx]


DEFAULTS: dict[str, dict[str, Any]] = {
    "data": {"max_bytes": 524288, "val_fraction": 0.1, "block_size": 64},
    "model": {"n_layer": 2, "n_head": 4, "n_embd": 128, "dropout": 0.0},
}


def options(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``DEFAULTS`` overridden by the run config's ``task_options`` (sections ``data``, ``model``)."""
    return _shared().task_options(config, DEFAULTS)


def build(config: Mapping[str, Any], seed: int) -> Any:
    """The byte-level pretraining task. ``config`` is the run config; only ``task_options`` is read.

    Nothing here is random but the model's initial weights, which come from the global
    torch RNG the trainer seeds from its init stream before calling ``build``.
    """
    from pvcontracts.train.task import Task

    models = _shared()
    opts = options(config)
    d_cfg, m_cfg = opts["data"], opts["model"]
    corpus, info = read_corpus(int(d_cfg["max_bytes"]))
    data = torch.frombuffer(bytearray(corpus), dtype=torch.uint8).long()
    split = int(len(data) * (1.0 - float(d_cfg["val_fraction"])))
    T = int(d_cfg["block_size"])
    train, val = windows(data[:split], T), windows(data[split:], T)
    model = models.GPT(models.GPTConfig(vocab_size=VOCAB_SIZE, block_size=T, **m_cfg))
    info.update({"train_bytes": split, "val_bytes": len(data) - split, "block_size": T,
                 "train_windows": len(train), "val_windows": len(val), "model_params": model.num_params(),
                 "model": m_cfg})
    return Task(name="pretrain_bytes", model=model, train_dataset=models.TokenPairs(train),
                val_dataset=models.TokenPairs(val), vocab_size=VOCAB_SIZE, info=info, metrics=())
