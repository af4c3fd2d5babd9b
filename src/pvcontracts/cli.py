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
    v.add_argument("--shipped", action="store_true",
                   help="validate the contracts installed with pv-contracts instead of PATHS (their test references "
                        "name pv-contracts' own tests, so they are not resolved)")
    v.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    v.add_argument("--strict", action="store_true", help="treat warnings as errors")
    v.add_argument("--against", metavar="REV", help="demand a version bump for each contract whose meaning changed since git REV")
    v.add_argument("--root", type=Path, help="repository root that test references are relative to (default: nearest .git or pyproject.toml)")
    v.add_argument("--max-bytes", type=_positive_int, default=None, help="largest contract file accepted (default 1 MiB)")
    v.add_argument("--cache-dir", type=Path, default=None,
                   help="where the warm-run cache lives (default: a directory per repository in the user's cache, "
                   "$PV_CACHE_DIR or $XDG_CACHE_HOME/pv-contracts; a cache file git tracks is ignored)")
    v.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    v.add_argument("--jobs", "-j", type=_positive_int, default=None,
                   help="worker processes for a cold run of many contracts (default: one per CPU; 1: none)")
    v.add_argument("--output", "-o", type=Path, help="write the report to a file (atomically) instead of stdout")

    sub.add_parser("schema", help="print the contract JSON Schema (for editors and yaml-language-server)")

    d = sub.add_parser("diff", help="what changed in meaning between two contracts, and the version bump it needs")
    d.add_argument("old", help="file, directory, or REV:PATH in git")
    d.add_argument("new", help="file, directory, or REV:PATH in git")
    d.add_argument("--format", choices=("text", "json"), default="text")

    for verb, help_text, default_out in (
            ("check", "run every gate's bound tests and falsifiers, derive gate status, write the evidence file",
             "evidence.json"),
            ("falsify", "run the falsifiers under a Hypothesis profile and record their statistics",
             "falsify.json")):
        e = sub.add_parser(verb, help=help_text)
        e.add_argument("paths", nargs="*", type=Path, default=[Path("contracts")],
                       help="contract files or directories (default: contracts)")
        e.add_argument("--root", type=Path, help="repository root that test references are relative to "
                       "(default: nearest .git or pyproject.toml)")
        e.add_argument("--output", "-o", type=Path, default=None,
                       help=f"where to write the evidence, atomically (default: ROOT/out/{default_out})")
        if verb == "check":
            e.add_argument("--ledger", type=Path, action="append", default=[], metavar="FILE",
                           help="include a training run's ledger.jsonl as runtime evidence; repeatable")
        e.add_argument("--results", type=Path, action="append", default=[], metavar="FILE",
                       help="use results a CI job already produced (pytest --report-log or --junitxml) "
                       "instead of running the tests; repeatable")
        e.add_argument("--profile", choices=("ci", "thorough"), default="ci",
                       help="falsifier profile: ci (derandomized, declared budget, no database; the default) "
                       "or thorough (random recorded seed, 20x budget)")
        e.add_argument("--seed", type=int, default=None, help="Hypothesis seed for --profile thorough (replay a run)")
        e.add_argument("-n", "--workers", type=_positive_int, default=None,
                       help="run the session on N processes with pytest-xdist")
        e.add_argument("--reproducible", action="store_true",
                       help="omit the timestamp and durations, so the same inputs give byte-identical evidence")
        e.add_argument("--in-toto", action="store_true",
                       help="wrap the evidence in an in-toto Statement v1 whose subjects are the contract files "
                       "and the commit")
        e.add_argument("--sign", type=Path, default=None, metavar="KEY",
                       help="sign the evidence with a PEM private key (Ed25519 or ECDSA): a DSSE envelope around "
                       "the in-toto statement")
        if verb == "check":
            e.add_argument("--no-mutate", action="store_true",
                           help="do not run the gates' tests against mutants of their invariants (a gate is then "
                           "discharged by tests that passed, not by tests shown to fail when the contract is wrong)")
            e.add_argument("--mutants", type=_positive_int, default=None, metavar="N",
                           help="mutants per invariant (default 8)")
        e.add_argument("--pytest-arg", action="append", default=[], metavar="ARG",
                       help="pass one more argument to the pytest session; repeatable")
        e.add_argument("--verbose", "-v", action="store_true", help="show the pytest session's output (on stderr)")

    t = sub.add_parser("train", help="run a training run described in YAML with every contract enforced; "
                       "writes result.json and the ledger")
    t.add_argument("config", type=Path, help="run config (YAML); its task: path is relative to it")
    t.add_argument("--regime", choices=("finetune", "from-scratch", "from_scratch"), default=None,
                   help="training regime (overrides the config's); picks the divergence cap and the defaults")
    t.add_argument("--vocab-size", type=_positive_int, default=None, help="vocabulary size, with --regime from-scratch")
    t.add_argument("--resume", nargs="?", const="latest", default=None, metavar="CHECKPOINT",
                   help="continue from the newest checkpoint in --out, or from CHECKPOINT")
    t.add_argument("--max-epochs", type=_positive_int, default=None, help="epoch budget (overrides the config's)")
    t.add_argument("--out", type=Path, default=None, help="run directory (default: the config's out:, else "
                   "runs/CONFIG_STEM beside the config)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar or per-epoch lines")

    vf = sub.add_parser("verify", help="is an evidence file still valid for this tree? valid, stale or tampered, per gate")
    vf.add_argument("evidence", type=Path, help="the evidence file pv check wrote (bare or in-toto)")
    vf.add_argument("--root", type=Path, default=None,
                    help="repository root the evidence's paths are relative to (default: nearest .git or "
                    "pyproject.toml above the evidence file)")
    vf.add_argument("--format", choices=("text", "json"), default="text")
    vf.add_argument("--key", type=Path, default=None, metavar="PUB",
                    help="a PEM public key: the evidence must be a DSSE envelope with a signature that verifies "
                    "with it (checked before anything else)")

    sg = sub.add_parser("sign", help="sign an evidence file: a DSSE envelope around its in-toto statement")
    sg.add_argument("evidence", type=Path, help="the evidence file (bare, in-toto or an envelope to add a signature to)")
    sg.add_argument("--key", type=Path, required=True, metavar="KEY", help="PEM private key (Ed25519 or ECDSA)")
    sg.add_argument("--output", "-o", type=Path, default=None,
                    help="where to write the envelope, atomically (default: replace the evidence file)")

    rp = sub.add_parser("report", help="write the auditor's report of an evidence file: one self-contained HTML page "
                        "and Markdown, with each gate checked against the current tree as pv verify does")
    rp.add_argument("evidence", type=Path, nargs="?", default=None,
                    help="the evidence file pv check wrote, bare or in-toto (default: ROOT/out/evidence.json)")
    rp.add_argument("--html", metavar="FILE", default=None,
                    help="write the HTML page here ('-' for stdout); default: beside the evidence, .html")
    rp.add_argument("--markdown", "--md", metavar="FILE", default=None,
                    help="write the Markdown here ('-' for stdout); default: beside the evidence, .md. "
                    "Naming either --html or --markdown writes only what is named")
    rp.add_argument("--root", type=Path, default=None,
                    help="repository root the evidence's paths are relative to (default: nearest .git or "
                    "pyproject.toml above the evidence file)")
    rp.add_argument("--key", type=Path, default=None, metavar="PUB",
                    help="check the envelope's signature with this PEM public key, as pv verify --key does")

    pl = sub.add_parser("plot", help="write one self-contained HTML page of a training run's ledger: curves with "
                        "every violation marked, invariants and violations, without a pv check")
    pl.add_argument("ledger", type=Path, help="the ledger.jsonl a Monitor or pv train wrote")
    pl.add_argument("--output", "-o", metavar="FILE", default=None,
                    help="write the page here ('-' for stdout); default: beside the ledger, .html")
    pl.add_argument("--run", default=None, metavar="ID", help="only the run whose id starts with ID")
    pl.add_argument("--contracts", type=Path, default=None, metavar="DIR",
                    help="contracts that say which invariants are ship-blocking and which versions are current "
                    "(default: ROOT/contracts when it exists)")
    pl.add_argument("--root", type=Path, default=None,
                    help="repository root (default: nearest .git or pyproject.toml above the ledger)")

    st = sub.add_parser("status", help="print the gate table of an evidence file: status, ship-blocking, tests "
                        "passed, and whether the evidence still matches the tree")
    st.add_argument("evidence", type=Path, nargs="?", default=None,
                    help="the evidence file (default: ROOT/out/evidence.json)")
    st.add_argument("--status", dest="only_status", choices=("discharged", "failed", "incomplete", "missing"),
                    default=None, help="show only the gates with this status")
    st.add_argument("--contract", default=None, metavar="ID", help="show only the gates of this contract")
    st.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                    help="colour the status words (auto: only on a terminal, and never when NO_COLOR is set)")
    st.add_argument("--root", type=Path, default=None,
                    help="repository root the evidence's paths are relative to (default: nearest .git or "
                    "pyproject.toml above the evidence file)")
    st.add_argument("--key", type=Path, default=None, metavar="PUB",
                    help="check the envelope's signature with this PEM public key, as pv verify --key does")
    return parser


def _cmd_validate(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from pvcontracts.contract.yamlload import DEFAULT_MAX_BYTES
    from pvcontracts.diagnostic import sort_diagnostics
    from pvcontracts.validate.cache import cache_findings, default_cache_dir
    from pvcontracts.validate.engine import ValidateOptions, find_root, validate_paths
    from pvcontracts.validate.render import render_json, render_sarif, render_text

    if args.shipped:
        from pvcontracts.contract.contractset import shipped_contracts_dir
        from pvcontracts.errors import ContractLoadError

        if args.paths != [Path("contracts")] or args.against:
            stderr.write("pv validate: --shipped takes no PATHS and no --against\n")
            return EXIT_USAGE
        try:
            args.paths = [shipped_contracts_dir()]
        except ContractLoadError as exc:
            stderr.write(f"pv validate: {exc}\n")
            return EXIT_USAGE
        stderr.write(f"pv validate: the shipped contracts in {args.paths[0]}; "
                     "their test references are not resolved (the tests live in pv-contracts' repository)\n")
    root = (args.root or find_root(args.paths)).resolve()
    cache_dir = None if (args.no_cache or args.shipped) else (args.cache_dir or default_cache_dir(root))
    options = ValidateOptions(root=root, strict=args.strict, max_bytes=args.max_bytes or DEFAULT_MAX_BYTES,
                              cache_dir=cache_dir, against=args.against, jobs=args.jobs,
                              resolve_tests=not args.shipped)
    report = validate_paths(list(args.paths), options)
    report.diagnostics = sort_diagnostics(report.diagnostics + cache_findings(cache_dir))
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


def _cmd_check(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from pvcontracts.evidence.check import CheckOptions, run_check
    from pvcontracts.evidence.render import (check_summary, diagnostic_lines, falsifier_lines, falsify_summary,
                                             mutation_lines)
    from pvcontracts.validate.engine import display_path, find_root

    if args.seed is not None and args.profile != "thorough":
        stderr.write(f"pv {args.verb}: --seed needs --profile thorough (the ci profile is derandomized)\n")
        return EXIT_USAGE
    if args.results and (args.workers or args.pytest_arg):
        stderr.write(f"pv {args.verb}: --results reads finished results; -n and --pytest-arg run tests\n")
        return EXIT_USAGE
    root = (args.root or find_root(args.paths)).resolve()
    output = args.output or root / "out" / ("evidence.json" if args.verb == "check" else "falsify.json")
    options = CheckOptions(paths=list(args.paths), kind=args.verb, root=root, output=output,
                           results=list(args.results), profile=args.profile, seed=args.seed, workers=args.workers,
                           reproducible=args.reproducible, in_toto=args.in_toto, pytest_args=list(args.pytest_arg),
                           stream=stderr if args.verbose else None, progress=stderr,
                           ledgers=list(getattr(args, "ledger", [])), sign_key=args.sign,
                           mutate=not getattr(args, "no_mutate", False))
    if getattr(args, "mutants", None):
        options.mutants_per_invariant = args.mutants
    outcome = run_check(options)
    lines = diagnostic_lines(outcome.diagnostics)
    if outcome.evidence is not None:
        if args.verb == "falsify":
            lines.extend(falsifier_lines(outcome.evidence))
            lines.append(falsify_summary(outcome.evidence))
        else:
            if args.verbose:
                lines.extend(mutation_lines(outcome.evidence))
            lines.append(check_summary(outcome.evidence["summary"]))
        if outcome.output is not None:
            lines.append(f"evidence: {display_path(outcome.output)}")
    stdout.write("\n".join(lines) + ("\n" if lines else ""))
    if outcome.message:
        stderr.write(outcome.message + "\n")
    return outcome.exit_code


def _cmd_verify(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from pvcontracts.evidence.render import verify_json, verify_text
    from pvcontracts.evidence.verify import verify_file
    from pvcontracts.validate.engine import find_root

    root = (args.root or find_root([args.evidence])).resolve()
    report = verify_file(args.evidence, root, key=args.key)
    if report.error is not None:
        stderr.write(f"pv verify: {report.error}\n")
        return report.exit_code
    stdout.write(verify_json(report) if args.format == "json" else verify_text(report))
    return report.exit_code


def _cmd_sign(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from pvcontracts.evidence.signing import SigningError, sign_file
    from pvcontracts.validate.engine import display_path

    output = args.output or args.evidence
    try:
        key_id = sign_file(args.evidence, args.key, output)
    except SigningError as exc:
        stderr.write(f"pv sign: {exc}\n")
        return EXIT_USAGE
    stdout.write(f"pv sign: {display_path(output)} signed by key {key_id[:16]} (a DSSE envelope)\n")
    return EXIT_OK


def _load_report_view(args: argparse.Namespace, verb: str, stdout: TextIO, stderr: TextIO):
    """The evidence named (or ROOT/out/evidence.json), verified against the tree: (view, None) or (None, exit code)."""
    from pvcontracts.evidence.render import diagnostic_lines
    from pvcontracts.evidence.report import load_view
    from pvcontracts.validate.engine import display_path, find_root

    evidence = args.evidence
    if evidence is None:
        evidence = (args.root or find_root([Path.cwd()])).resolve() / "out" / "evidence.json"
        if not evidence.is_file():
            stderr.write(f"pv {verb}: no evidence at {display_path(evidence)}: run pv check first, or name the file\n")
            return None, EXIT_USAGE
    root = (args.root or find_root([evidence])).resolve()
    source = str(args.evidence) if args.evidence is not None else display_path(evidence)
    loaded = load_view(evidence, root, source=source, key=args.key)
    if loaded.view is None:
        stdout.write("".join(line + "\n" for line in diagnostic_lines(loaded.diagnostics)))
        stderr.write(f"pv {verb}: {loaded.error}\n")
        return None, EXIT_USAGE if loaded.usage else EXIT_FINDINGS
    return loaded.view, None


def _cmd_report(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from pvcontracts.evidence.report import render
    from pvcontracts.evidence.report.terminal import status_summary
    from pvcontracts.util.atomic import write_text_atomic

    if args.html == "-" and args.markdown == "-":
        stderr.write("pv report: only one of --html and --markdown can be '-' (stdout)\n")
        return EXIT_USAGE
    view, code = _load_report_view(args, "report", stdout, stderr)
    if view is None:
        return code
    targets = {"html": args.html, "markdown": args.markdown}
    if args.html is None and args.markdown is None:  # both, beside the evidence
        base = Path(view.source)
        targets = {"html": str(base.with_suffix(".html")), "markdown": str(base.with_suffix(".md"))}
    info = stderr if "-" in targets.values() else stdout  # stdout carries the report itself
    evidence = Path(view.source).resolve()
    for target in targets.values():
        if target not in (None, "-") and Path(target).resolve() == evidence:
            stderr.write(f"pv report: {target} is the evidence file itself; name another destination\n")
            return EXIT_USAGE
    lines = [status_summary(view).replace("pv status:", "pv report:", 1)]
    for fmt, target in targets.items():
        if target is None:
            continue
        text = render(view, fmt)
        if target == "-":
            stdout.write(text)
            continue
        try:
            write_text_atomic(Path(target), text)
        except OSError as exc:  # an unwritable destination is a usage error, not a traceback
            stderr.write(f"pv report: cannot write {target}: {exc.strerror or exc}\n")
            return EXIT_USAGE
        lines.append(f"{fmt}: {target}")
    info.write("\n".join(lines) + "\n")
    return EXIT_OK


def _cmd_plot(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from pvcontracts.contract.contractset import load_contracts
    from pvcontracts.errors import PvError
    from pvcontracts.evidence.report.plot import load_plot, render_plot
    from pvcontracts.util.atomic import write_text_atomic
    from pvcontracts.validate.engine import display_path, find_root

    root = (args.root or find_root([args.ledger])).resolve()
    where = args.contracts if args.contracts is not None else (root / "contracts" if (root / "contracts").is_dir()
                                                               else None)
    contracts = None
    if where is not None:
        try:
            contracts = load_contracts(where)
        except PvError as exc:
            stderr.write(f"pv plot: cannot use the contracts in {where}: {exc}\n")
            return EXIT_USAGE
    plotted = load_plot(args.ledger, source=str(args.ledger), contracts=contracts,
                        contracts_from=display_path(Path(where).resolve()) if where is not None else None, run=args.run)
    if plotted.view is None:
        stderr.write(f"pv plot: {plotted.error}\n")
        return EXIT_USAGE
    page = render_plot(plotted.view)
    target = args.output or str(args.ledger.with_suffix(".html"))
    info = stderr if target == "-" else stdout
    for p in plotted.view.problems:
        info.write(f"{args.ledger}:{p.line}: {p.severity}[{p.code}]: {p.message}\n")
    if target == "-":
        stdout.write(page)
    else:
        if Path(target).resolve() == args.ledger.resolve():
            stderr.write(f"pv plot: {target} is the ledger itself; name another destination\n")
            return EXIT_USAGE
        try:
            write_text_atomic(Path(target), page)
        except OSError as exc:
            stderr.write(f"pv plot: cannot write {target}: {exc.strerror or exc}\n")
            return EXIT_USAGE
    runs = plotted.view.runs
    violated = sum(r.violation_count for r in runs)
    info.write(f"pv plot: {len(runs)} run{'s' if len(runs) != 1 else ''}, {violated} violation"
               f"{'s' if violated != 1 else ''}" + (f"; html: {target}" if target != "-" else "") + "\n")
    return EXIT_OK


def _cmd_status(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    import os

    from pvcontracts.evidence.report.terminal import render_status

    view, code = _load_report_view(args, "status", stdout, stderr)
    if view is None:
        return code
    known = [c.id for c in view.contracts]
    if args.contract is not None and args.contract not in known:
        stderr.write(f"pv status: no contract {args.contract!r} in {view.source}; it covers: {', '.join(known)}\n")
        return EXIT_USAGE
    color = args.color == "always" or (args.color == "auto" and not os.environ.get("NO_COLOR")
                                       and hasattr(stdout, "isatty") and stdout.isatty())
    stdout.write(render_status(view, color=color, status=args.only_status, contract=args.contract))
    return EXIT_OK


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
        if args.verb in ("check", "falsify"):
            return _cmd_check(args, stdout, stderr)
        if args.verb == "train":
            from pvcontracts.train.command import run_train  # imports torch only when training

            return run_train(args, stdout, stderr)
        if args.verb == "verify":
            return _cmd_verify(args, stdout, stderr)
        if args.verb == "sign":
            return _cmd_sign(args, stdout, stderr)
        if args.verb == "report":
            return _cmd_report(args, stdout, stderr)
        if args.verb == "status":
            return _cmd_status(args, stdout, stderr)
        if args.verb == "plot":
            return _cmd_plot(args, stdout, stderr)
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
