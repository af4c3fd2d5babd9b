"""The run config: every field checked with a message that names it, regime defaults resolved."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pvcontracts.train.config import REGIME_DEFAULTS, ConfigError, TrainConfig, load_config


@pytest.mark.parametrize("data, message", [
    ({"max_epoch": 3}, "unknown field 'max_epoch' (did you mean 'max_epochs'?)"),
    ({"max_epochs": 0}, "max_epochs=0 must be at least 1"),
    ({"batch_size": "8"}, "batch_size='8' must be an integer"),
    ({"lr": math.nan}, "lr=nan must be a finite number"),
    ({"warmup_fraction": 0.6}, "warmup_fraction=0.6 must be in [0, 0.5]"),
    ({"lr_schedule": "linear"}, "lr_schedule='linear' must be cosine or wsd"),
    ({"amp_dtype": "fp8"}, "amp_dtype='fp8' must be bfloat16 or float16"),
    ({"use_amp": True, "mixed_precision": False}, "use_amp is an alias of mixed_precision"),
    ({"regime": {"kind": "scratch"}}, "did you mean 'from_scratch'?"),
    ({"regime": {"kind": "finetune", "vocab_size": 5}}, "takes no vocab_size"),
    ({"sufficiency": {"edge_compliance_min": 2}}, "must be a number in [0, 1]"),
    ({"coverage_stop": {"patience": 0}}, "coverage_stop.patience=0 is out of range"),
    ({"rejection_penalty": {"lr": -1}}, "rejection_penalty: lr=-1 must be positive"),
    ({"curriculum": [{"lm": -1.0}]}, "curriculum: entry 0: weight lm=-1.0"),
    ({"task": "no_colon.py"}, "must be 'path/to/file.py:function'"),
    ({"betas": [0.9]}, "betas=[0.9] must be two numbers"),
])
def test_bad_fields_are_named(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_mapping(data)
    assert message in str(info.value)


def test_regime_defaults_and_alias() -> None:
    scratch = TrainConfig.from_mapping({"regime": "from-scratch", "use_amp": True}).resolve(vocab_size=256)
    assert scratch.regime == {"kind": "from_scratch", "vocab_size": 256}
    assert scratch.mixed_precision and scratch.peak_lr == REGIME_DEFAULTS["from_scratch"].lr
    assert scratch.target_val_loss == pytest.approx(0.75 * math.log(256))
    assert scratch.min_lr == pytest.approx(0.1 * scratch.peak_lr)
    tuned = TrainConfig.from_mapping({}).resolve(vocab_size=256)
    assert (tuned.peak_lr, tuned.warmup_fraction, tuned.target_val_loss) == (5e-5, 0.01, None)
    explicit = TrainConfig.from_mapping({"regime": {"kind": "from_scratch", "vocab_size": 50257}, "lr": 3e-4,
                                         "target_val_loss": 4.0}).resolve(vocab_size=99)
    assert explicit.regime["vocab_size"] == 50257 and explicit.peak_lr == 3e-4 and explicit.target_val_loss == 4.0
    assert explicit.make_regime().vocab_size == 50257


def test_yaml_errors_have_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("task: t.py:build\nmax_epochs: 3\nlearning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"run.yaml:3:1: unknown field 'learning_rate'"):
        load_config(path)
    path.write_text("task: t.py:build\nmax_epochs: [\n")
    with pytest.raises(ConfigError, match=r"run.yaml:\d+:\d+: invalid YAML"):
        load_config(path)
    path.write_text("max_epochs: 2\nmax_epochs: 3\n")
    with pytest.raises(ConfigError, match="duplicate"):
        load_config(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    path.write_text("task: sub/t.py:build\nout: runs/x\n")
    config = load_config(path)
    assert config.path(config.out) == tmp_path / "runs" / "x" and config.base_dir == tmp_path
