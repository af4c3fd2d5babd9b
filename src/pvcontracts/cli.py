"""The `pv` command: parse arguments, call the library, print, return an exit code.

Thin on purpose; every verb's work lives in the library so it can be tested
without a subprocess. Nothing here imports torch: `pv validate` must start in
well under a second on a machine where importing torch takes several.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence, TextIO

from pvcontracts._version import __version__

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports to our streams and raises instead of calling sys.exit."""

    def __init__(self, *args, stdout: TextIO, stderr: TextIO, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._out, self._err = stdout, stderr

    def _print_message(self, message: str, file: TextIO | None = None) -> None:
        if message:
            (self._err if file is sys.stderr else self._out).write(message)

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        if message:
            self._err.write(message)
        raise _UsageError(status)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(self._err)
        self._err.write(f"{self.prog}: error: {message}\n")
        raise _UsageError(EXIT_USAGE)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _build_parser(stdout: TextIO, stderr: TextIO) -> _Parser:
    parser = _Parser(prog="pv", description="Contract-first invariant verification for ML training.",
                     stdout=stdout, stderr=stderr)
    parser.add_argument("--version", action="version", version=f"pv-contracts {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND", parser_class=lambda **kw: _Parser(stdout=stdout, stderr=stderr, **kw))

    v = sub.add_parser("validate", help="check contracts: schema, references, expressions, tests, versions")
    v.add_argument("paths", nargs="*", type=Path, default=[Path("contracts")], help="contract files or directories (default: contracts)")
    v.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    v.add_argument("--strict", action="store_true", help="treat warnings as errors")
    v.add_argument("--against", metavar="REV", help="demand a version bump for each contract whose meaning changed since git REV")
    v.add_argument("--root", type=Path, help="repository root that test references are relative to (default: nearest .git or pyproject.toml)")
    v.add_argument("--max-bytes", type=_positive_int, default=None, help="largest contract file accepted (default 1 MiB)")
    v.add_argument("--cache-dir", type=Path, default=None, help="where the warm-run cache lives (default: ROOT/.pv_cache)")
    v.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    v.add_argument("--output", "-o", type=Path, help="write the report to a file (atomically) instead of stdout")

    sub.add_parser("schema", help="print the contract JSON Schema (for editors and yaml-language-server)")

    d = sub.add_parser("diff", help="what changed in meaning between two contracts, and the version bump it needs")
    d.add_argument("old", help="file, directory, or REV:PATH in git")
    d.add_argument("new", help="file, directory, or REV:PATH in git")
    d.add_argument("--format", choices=("text", "json"), default="text")
    return parser


def _cmd_validate(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from pvcontracts.contract.yamlload import DEFAULT_MAX_BYTES
    from pvcontracts.validate.engine import ValidateOptions, find_root, validate_paths
    from pvcontracts.validate.render import render_json, render_sarif, render_text

    root = (args.root or find_root(args.paths)).resolve()
    cache_dir = None if args.no_cache else (args.cache_dir or root / ".pv_cache")
    options = ValidateOptions(root=root, strict=args.strict, max_bytes=args.max_bytes or DEFAULT_MAX_BYTES,
                              cache_dir=cache_dir, against=args.against)
    report = validate_paths(list(args.paths), options)
    counts = report.counts.to_dict()
    if args.format == "json":
        text = render_json(report.diagnostics, counts)
    elif args.format == "sarif":
        text = render_sarif(report.diagnostics, report.root)
    else:
        color = args.output is None and hasattr(stdout, "isatty") and stdout.isatty()
        text = render_text(report.diagnostics, counts, color=color)
    if args.output is not None:
        from pvcontracts.util.atomic import write_text_atomic

        try:
            write_text_atomic(args.output, text)
        except OSError as exc:  # an unwritable --output is a usage error, not a traceback
            stderr.write(f"pv validate: cannot write {args.output}: {exc.strerror or exc}\n")
            return EXIT_USAGE
        if args.format != "text":
            from pvcontracts.validate.render import summary_line

            stderr.write(summary_line(counts) + "\n")
    else:
        stdout.write(text)
    if report.nothing_to_validate:
        return EXIT_USAGE
    return EXIT_OK if report.ok else EXIT_FINDINGS


def _cmd_schema(stdout: TextIO) -> int:
    from pvcontracts.contract.schema import schema_text

    stdout.write(schema_text())
    return EXIT_OK


def _cmd_diff(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from pvcontracts.validate.diffcmd import run_diff

    return run_diff(args.old, args.new, args.format, stdout, stderr)


def run(argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run `pv` with ``argv`` and return the exit code; never raises for bad input or usage."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = _build_parser(stdout, stderr)
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except _UsageError as exc:
        return int(exc.args[0]) if exc.args else EXIT_USAGE
    if args.verb is None:
        parser.print_help(stderr)
        return EXIT_USAGE
    try:
        if args.verb == "validate":
            return _cmd_validate(args, stdout, stderr)
        if args.verb == "schema":
            return _cmd_schema(stdout)
        if args.verb == "diff":
            return _cmd_diff(args, stdout, stderr)
    except BrokenPipeError:  # `pv validate | head` is not an error
        return EXIT_OK
    except KeyboardInterrupt:
        stderr.write("pv: interrupted\n")
        return 130
    parser.error(f"unknown command {args.verb!r}")  # pragma: no cover - argparse rejects it first
    return EXIT_USAGE


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":  # pragma: no cover
    main()
