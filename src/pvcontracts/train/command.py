"""``pv train CONFIG.yaml``: the CLI verb's work, so that it is testable without a subprocess.

Exit codes: 0 the run passed; 1 it failed its gate or broke a contract (the message
says which invariant, with its values); 2 the config, the task file, the checkpoint
to resume or the preflight refused the run before any step (nothing was trained);
130 interrupted. Bad input is a one-line message, never a traceback; an exception
raised by the task's own code keeps its traceback (it is the task author's bug).
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any, TextIO

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2

__all__ = ["run_train"]


def _out_dir(args: Any, config: Any, config_path: Path) -> Path:
    if args.out is not None:
        return Path(args.out)
    if config.out is not None:
        return config.path(config.out)
    return config_path.resolve().parent / "runs" / config_path.stem


def run_train(args: Any, stdout: TextIO, stderr: TextIO) -> int:
    """Load the config, apply the command-line overrides, build the task, train, report the evidence."""
    from pvcontracts.train.config import ConfigError, load_config

    try:
        config = load_config(args.config)
        changes: dict[str, Any] = {}
        if args.regime is not None or args.vocab_size is not None:
            kind = (args.regime or config.regime["kind"]).replace("-", "_")
            vocab = args.vocab_size if args.vocab_size is not None else config.regime.get("vocab_size")
            if kind == "finetune" and args.vocab_size is not None:
                raise ConfigError("--vocab-size goes with --regime from-scratch")
            from pvcontracts.train.config import regime_spec

            changes["regime"] = regime_spec({"kind": kind, **({"vocab_size": vocab} if kind != "finetune" else {})})
        if args.max_epochs is not None:
            changes["max_epochs"] = args.max_epochs
        if args.no_progress:
            changes["progress"] = False
        if changes:
            config = config.replace(**changes)
        if config.task is None:
            raise ConfigError("no task: add 'task: path/to/task.py:build' to the config", str(args.config))
        from pvcontracts.train.loading import load_builder

        build = load_builder(config.task, config.base_dir)
    except ConfigError as exc:
        stderr.write(f"pv train: {exc}\n")
        return EXIT_REFUSED
    out = _out_dir(args, config, Path(args.config))
    return _fit(config, build, out, args.resume, stdout, stderr)


def _fit(config: Any, build: Any, out: Path, resume: str | None, stdout: TextIO, stderr: TextIO) -> int:
    from pvcontracts.errors import PvError
    from pvcontracts.train.checkpoint import CheckpointError
    from pvcontracts.train.config import ConfigError
    from pvcontracts.train.preflight import PreflightError
    from pvcontracts.train.trainer import Trainer

    try:
        result = Trainer(config, build, out, resume=resume, stream=stderr).fit()
    except PreflightError as exc:
        where = (f"\n  report: {exc.report_path}" if exc.report_path is not None
                 else f"\n  {out} was left as it was")  # it holds a run, whose evidence a refusal must not touch
        stderr.write(f"pv train: {exc}{where}\n")
        return EXIT_REFUSED
    except (ConfigError, CheckpointError) as exc:
        stderr.write(f"pv train: {exc}\n")
        return EXIT_REFUSED
    except PvError as exc:  # e.g. a selected contract needs a metric the run does not produce
        stderr.write(f"pv train: {exc}\n")
        return EXIT_FAILED
    except OSError as exc:
        stderr.write(f"pv train: {exc.filename or out}: {exc.strerror or exc}\n")
        return EXIT_REFUSED
    except Exception:  # the task's code raised: its traceback is what its author needs
        stderr.write("pv train: the run raised an exception in the task or the model:\n" + traceback.format_exc())
        return EXIT_FAILED
    stdout.write(f"pv train: {result.status}: {result.reason}\n")
    stdout.write(f"  result: {result.result_path}\n  ledger: {result.ledger_path}\n")
    if result.status == "violation":
        stderr.write("pv train: a contract was violated; the ledger holds every violation with its values\n")
    return result.exit_code
