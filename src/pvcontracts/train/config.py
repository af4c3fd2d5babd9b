"""A run's configuration: one flat YAML mapping, checked field by field, resolved against the regime.

``pv train CONFIG.yaml`` reads it; ``TrainConfig.from_mapping`` builds it from a dict in code.
Unknown fields are errors with a "did you mean" hint, and every error names the field (and,
from YAML, the file, line and column): a bad config is a message, never a traceback.

The regime flips more than the divergence cap (which lives in the contract): it picks the
defaults of the peak LR, the warmup fraction and the target validation loss. Fields left
``null`` take the regime's default in :meth:`TrainConfig.resolve`; the resolved values are
what the run records.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from pvcontracts.contract.regime import Regime, RegimeError
from pvcontracts.errors import PvError

__all__ = ["ConfigError", "REGIME_DEFAULTS", "TrainConfig", "load_config"]

MAX_CONFIG_BYTES = 1 << 20


class ConfigError(PvError, ValueError):
    """The run configuration is invalid; the message names the field. Fix the config and run again."""

    def __init__(self, message: str, location: str | None = None) -> None:
        super().__init__(f"{location}: {message}" if location else message)
        self.bare_message = message
        self.location = location


@dataclass(frozen=True)
class RegimeDefaults:
    lr: float
    warmup_fraction: float
    target_val_loss_per_ln_vocab: float | None  # target = this * ln(vocab_size); None: no target

    def target(self, vocab_size: int | None) -> float | None:
        if self.target_val_loss_per_ln_vocab is None or vocab_size is None:
            return None
        return self.target_val_loss_per_ln_vocab * math.log(vocab_size)


# A fine-tuning run starts from trained weights: a small LR, a short warmup, and no loss target of its
# own (its gate is the task's). A from-scratch run starts at ln(vocab_size): a larger LR, a longer
# warmup, and a target of 0.75 ln(vocab_size) (a quarter below a uniform guess: it learned the data).
REGIME_DEFAULTS: dict[str, RegimeDefaults] = {
    "finetune": RegimeDefaults(lr=5e-5, warmup_fraction=0.01, target_val_loss_per_ln_vocab=None),
    "from_scratch": RegimeDefaults(lr=1e-3, warmup_fraction=0.05, target_val_loss_per_ln_vocab=0.75),
}


@dataclass
class TrainConfig:
    """Every knob of a run. ``None`` means "the regime's default" (see :data:`REGIME_DEFAULTS`)."""

    task: str | None = None                 # "path/to/task.py:build", relative to the config file
    task_options: dict[str, Any] = field(default_factory=dict)  # free-form, for the task's build()
    regime: dict[str, Any] = field(default_factory=lambda: {"kind": "finetune", "vocab_size": None})
    seed: int = 0
    max_epochs: int = 10
    batch_size: int = 32
    grad_accum_steps: int = 1               # micro-batches per optimizer step
    lr: float | None = None                 # peak LR
    min_lr_ratio: float = 0.1               # min_lr = lr * min_lr_ratio
    warmup_fraction: float | None = None
    lr_schedule: str = "cosine"             # cosine | wsd
    decay_fraction: float = 0.2             # wsd only
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    grad_clip: float = 1.0                  # 0 disables clipping
    mixed_precision: bool = False           # alias: use_amp
    amp_dtype: str = "bfloat16"             # bfloat16 | float16 (float16 needs CUDA)
    device: str = "auto"                    # auto | cpu | cuda | cuda:N
    deterministic: bool = True
    num_workers: int = 0
    keep_last: int = 3
    target_val_loss: float | None = None
    stop_on_target: bool = False
    sufficiency: dict[str, float] = field(default_factory=dict)   # edge_compliance_min, rule_compliance_min
    coverage_stop: dict[str, Any] | None = None                   # {coverage_min, patience}
    curriculum: list[dict[str, float]] | None = None              # per-epoch loss weights; the last repeats
    rejection_penalty: dict[str, Any] | None = None               # see policies.RejectionPenalty
    contracts: str | None = None            # contracts directory (default: the shipped ones)
    select: list[str] | None = None         # contract ids to enforce (default: chosen from the task's metrics)
    sync_every: int = 100
    fatal_before_step: bool = False         # abort before a bad update reaches the weights (a sync per step)
    log_every: int = 10
    lr_tolerance: float | None = None       # lr-schedule-v1's lr_tolerance (default: the contract's)
    out: str | None = None                  # run directory, relative to the config file
    progress: bool = True
    base_dir: Path | None = field(default=None, repr=False)  # where relative paths in the config start

    # ------------------------------------------------------------------ building

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, base_dir: Path | None = None,
                     where: Any = None) -> "TrainConfig":
        """From a plain mapping (parsed YAML or a dict in code). ``where(key)`` locates a key for messages."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"a run config is a mapping of fields, not {type(data).__name__}")
        data = dict(data)
        if "use_amp" in data:
            if "mixed_precision" in data and data["mixed_precision"] != data["use_amp"]:
                raise ConfigError("use_amp is an alias of mixed_precision; give one of them", _loc(where, "use_amp"))
            data["mixed_precision"] = data.pop("use_amp")
        names = {f.name for f in dataclasses.fields(cls)} - {"base_dir"}
        for key in data:
            if key not in names:
                close = difflib.get_close_matches(str(key), sorted(names | {"use_amp"}), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"unknown field {key!r}{hint}", _loc(where, key))
        values: dict[str, Any] = {}
        for key, value in data.items():
            try:
                values[key] = _convert(key, value)
            except ConfigError as exc:
                raise ConfigError(exc.bare_message, _loc(where, key)) from None
        config = cls(**values, base_dir=base_dir)
        config._check(where)
        return config

    def _check(self, where: Any = None) -> None:
        def need(ok: bool, key: str, message: str) -> None:
            if not ok:
                raise ConfigError(f"{key}={getattr(self, key)!r} {message}", _loc(where, key))

        need(self.max_epochs >= 1, "max_epochs", "must be at least 1")
        need(self.batch_size >= 1, "batch_size", "must be at least 1")
        need(self.grad_accum_steps >= 1, "grad_accum_steps", "must be at least 1")
        need(self.lr is None or 0 < self.lr <= 100, "lr", "must be in (0, 100]")
        need(0 <= self.min_lr_ratio <= 1, "min_lr_ratio", "must be in [0, 1]")
        need(self.warmup_fraction is None or 0 <= self.warmup_fraction <= 0.5, "warmup_fraction",
             "must be in [0, 0.5] (lr-schedule-v1)")
        need(self.lr_schedule in ("cosine", "wsd"), "lr_schedule", "must be cosine or wsd")
        need(0 <= self.decay_fraction <= 1, "decay_fraction", "must be in [0, 1]")
        need(self.weight_decay >= 0, "weight_decay", "must not be negative")
        need(all(0 <= b < 1 for b in self.betas), "betas", "must both be in [0, 1)")
        need(self.eps > 0, "eps", "must be positive")
        need(self.grad_clip >= 0, "grad_clip", "must not be negative (0 disables clipping)")
        need(self.amp_dtype in ("bfloat16", "float16"), "amp_dtype", "must be bfloat16 or float16")
        need(self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"), "device",
             "must be auto, cpu, cuda or cuda:N")
        need(self.num_workers >= 0, "num_workers", "must not be negative")
        need(self.keep_last >= 1, "keep_last", "must be at least 1")
        need(self.sync_every >= 1, "sync_every", "must be at least 1")
        need(self.log_every >= 1, "log_every", "must be at least 1")
        need(self.lr_tolerance is None or 0 <= self.lr_tolerance <= 0.01, "lr_tolerance", "must be in [0, 0.01]")
        need(set(self.sufficiency) <= {"edge_compliance_min", "rule_compliance_min"}, "sufficiency",
             "takes only edge_compliance_min and rule_compliance_min")
        need(self.coverage_stop is None or set(self.coverage_stop) <= {"coverage_min", "patience"},
             "coverage_stop", "takes only coverage_min and patience")
        if self.task is not None and ":" not in self.task:
            raise ConfigError(f"task={self.task!r} must be 'path/to/file.py:function'", _loc(where, "task"))
        if self.rejection_penalty is not None:
            from pvcontracts.train.policies import RejectionPenalty

            try:
                RejectionPenalty.from_config(self.rejection_penalty)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"rejection_penalty: {exc}", _loc(where, "rejection_penalty")) from None
        if self.curriculum is not None:
            from pvcontracts.train.policies import LossCurriculum

            try:
                LossCurriculum(self.curriculum)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"curriculum: {exc}", _loc(where, "curriculum")) from None

    def replace(self, **changes: Any) -> "TrainConfig":
        config = dataclasses.replace(self, **changes)
        config._check()
        return config

    # ------------------------------------------------------------------ resolution

    def make_regime(self, vocab_size: int | None = None) -> Regime:
        """The Regime; a from_scratch regime that left vocab_size out takes ``vocab_size`` (the task's)."""
        kind, given = self.regime["kind"], self.regime.get("vocab_size")
        if kind == "from_scratch":
            if given is None and vocab_size is None:
                raise ConfigError("regime from_scratch needs vocab_size (or a task that declares one)", "regime")
            return Regime.from_scratch(given if given is not None else vocab_size)  # type: ignore[arg-type]
        return Regime(kind)

    def resolve(self, vocab_size: int | None = None) -> "TrainConfig":
        """Fill the regime's defaults; a from_scratch regime without vocab_size takes ``vocab_size``."""
        regime = self.make_regime(vocab_size)
        defaults = REGIME_DEFAULTS[regime.kind]
        target = self.target_val_loss
        if target is None:
            target = defaults.target(regime.vocab_size)
        return dataclasses.replace(
            self, regime={"kind": regime.kind, "vocab_size": regime.vocab_size},
            lr=self.lr if self.lr is not None else defaults.lr,
            warmup_fraction=self.warmup_fraction if self.warmup_fraction is not None else defaults.warmup_fraction,
            target_val_loss=target)

    @property
    def peak_lr(self) -> float:
        assert self.lr is not None, "resolve() the config first"
        return self.lr

    @property
    def min_lr(self) -> float:
        return self.peak_lr * self.min_lr_ratio

    def path(self, value: str) -> Path:
        """A path from the config, relative to the config file's directory."""
        p = Path(value)
        return p if p.is_absolute() or self.base_dir is None else self.base_dir / p

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as recorded in result.json and handed to the task's build()."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "base_dir":
                continue
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        if out["regime"].get("vocab_size") is None:
            out["regime"] = {"kind": out["regime"]["kind"]}
        return out


# ---------------------------------------------------------------------- field conversion

_INT = {"seed", "max_epochs", "batch_size", "grad_accum_steps", "num_workers", "keep_last", "sync_every", "log_every"}
_FLOAT = {"min_lr_ratio", "decay_fraction", "weight_decay", "eps", "grad_clip"}
_OPT_FLOAT = {"lr", "warmup_fraction", "target_val_loss", "lr_tolerance"}
_BOOL = {"mixed_precision", "deterministic", "stop_on_target", "progress", "fatal_before_step"}
_STR = {"lr_schedule", "amp_dtype", "device"}
_OPT_STR = {"task", "contracts", "out"}


def _convert(key: str, value: Any) -> Any:
    if key in _INT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}={value!r} must be an integer")
        return value
    if key in _FLOAT or (key in _OPT_FLOAT and value is not None):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{key}={value!r} must be a finite number")
        return float(value)
    if key in _OPT_FLOAT:
        return None
    if key in _BOOL:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}={value!r} must be true or false")
        return value
    if key in _STR or (key in _OPT_STR and value is not None):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{key}={value!r} must be a non-empty string")
        return value
    if key in _OPT_STR:
        return None
    if key == "regime":
        return regime_spec(value)
    if key == "betas":
        if (not isinstance(value, (list, tuple)) or len(value) != 2
                or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in value)):
            raise ConfigError(f"betas={value!r} must be two numbers, like [0.9, 0.95]")
        return (float(value[0]), float(value[1]))
    if key in ("task_options", "sufficiency", "coverage_stop", "rejection_penalty"):
        if value is None and key in ("coverage_stop", "rejection_penalty"):
            return None
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping")
        if key == "sufficiency":
            for k, v in value.items():
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                    raise ConfigError(f"sufficiency.{k}={v!r} must be a number in [0, 1]")
        if key == "coverage_stop":
            for k, v in value.items():
                ok = (isinstance(v, int) and not isinstance(v, bool) and v >= 1) if k == "patience" else \
                    (isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1)
                if not ok:
                    raise ConfigError(f"coverage_stop.{k}={v!r} is out of range")
        return dict(value)
    if key == "curriculum":
        if value is None:
            return None
        if not isinstance(value, list) or not value:
            raise ConfigError("curriculum must be a non-empty list of per-epoch weight mappings")
        return [dict(v) if isinstance(v, Mapping) else v for v in value]
    if key == "select":
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError("select must be a list of contract ids")
        return list(value)
    raise ConfigError(f"unknown field {key!r}")  # pragma: no cover - from_mapping rejects it first


def regime_spec(value: Any) -> dict[str, Any]:
    """``finetune``, ``from_scratch`` or ``{kind: ..., vocab_size: N}``, checked now.

    A from_scratch regime may leave vocab_size out: the task's vocab_size completes it.
    """
    if isinstance(value, Regime):
        return {"kind": value.kind, "vocab_size": value.vocab_size}
    if isinstance(value, str):
        value = {"kind": value}
    try:
        if isinstance(value, Mapping) and str(value.get("kind", "")).replace("-", "_") == "from_scratch" \
                and value.get("vocab_size") is None:
            Regime.from_dict({**value, "vocab_size": 2})  # every other field checked
            return {"kind": "from_scratch", "vocab_size": None}
        regime = Regime.from_dict(value)
    except RegimeError as exc:
        raise ConfigError(str(exc)) from None
    return {"kind": regime.kind, "vocab_size": regime.vocab_size}


def _loc(where: Any, key: Any) -> str | None:
    return where(key) if where is not None else None


# ---------------------------------------------------------------------- loading YAML


def load_config(path: Path | str) -> TrainConfig:
    """Read a run config from YAML with the contracts' own hostile-input-safe loader."""
    from pvcontracts.contract.loading import read_bytes
    from pvcontracts.contract.yamlload import decode_text, load_yaml_text
    from pvcontracts.diagnostic import Severity

    path = Path(path)
    display = str(path)
    raw, problems = read_bytes(path, display, MAX_CONFIG_BYTES)
    text = None
    if raw is not None:
        text, problems = decode_text(raw, display)
    doc = None
    if text is not None:
        doc, problems = load_yaml_text(text, display)
    errors = [d for d in problems if d.severity == Severity.ERROR]
    if doc is None or errors:
        d = (errors or problems)[0]
        where = f"{d.file}:{d.line}:{d.column}" if d.line else d.file
        raise ConfigError(d.message + (f" ({d.hint})" if d.hint else ""), where)
    if doc.data is None:
        raise ConfigError("the config file is empty", display)

    def where(key: Any) -> str:
        line, column = doc.position((key,), key=True)
        return f"{display}:{line}:{column}"

    return TrainConfig.from_mapping(doc.data, base_dir=path.resolve().parent, where=where)
