"""Benchmark `pv validate` against PyYAML's C loader on a synthetic corpus.

    python tools/bench/validate.py                  # 2,000 contracts in a temp dir
    python tools/bench/validate.py --contracts 200 --keep /tmp/corpus --profile

Builds a varied, valid corpus (see ``validate_corpus.py``: about 10 KB per contract, 20
invariants and 20 gates each, and the generated test tree the gates name), then
times, in this one process, alternating and repeated:

* baseline: read every contract file from disk, decode it and
  ``yaml.load(text, Loader=yaml.CSafeLoader)``: the floor any YAML linter stands on;
* cold: ``validate_paths`` with an empty cache directory (everything: read, parse,
  schema, model, rules, project rules, test resolution, writing the cache);
* warm: ``validate_paths`` again with the cache the cold run just wrote.

It prints the best of ``--repeat`` rounds for each as a table, the two ratios
(goals: cold <= 1.5x baseline, warm <= 0.2x cold), and the start-up time of
``pv --version`` as a subprocess together with a check that neither
``pv --version`` nor ``pv validate`` imports torch. The corpus must validate
with zero errors (and the warm run must report exactly what the cold run did);
otherwise the benchmark fails with exit code 1. Timing goals are reported, not
enforced, unless ``--enforce`` is given: a loaded CI machine should not fail a
build over them.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml  # noqa: E402

from validate_corpus import Corpus, build_corpus  # noqa: E402

COLD_GOAL = 1.5
WARM_GOAL = 0.2


@dataclass(frozen=True)
class Timing:
    wall: float  # seconds on the clock: what a user waits
    cpu: float  # seconds of this process's CPU: steadier when other work shares the machine


@dataclass
class Round:
    baseline: Timing
    cold: Timing
    warm: Timing


class _Clock:
    def __enter__(self) -> "_Clock":
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timing = Timing(time.perf_counter() - self._wall, time.process_time() - self._cpu)


def _baseline(files: list[Path]) -> Timing:
    """PyYAML's C loader alone over the same files: bytes from disk, decoded, loaded."""
    loader = yaml.CSafeLoader
    with _Clock() as clock:
        for path in files:
            with open(path, "rb") as fh:
                raw = fh.read()
            yaml.load(raw.decode("utf-8"), Loader=loader)
    return clock.timing


def _validate(corpus: Corpus, cache_dir: Path):
    from pvcontracts.validate.engine import ValidateOptions, validate_paths

    with _Clock() as clock:
        report = validate_paths([corpus.contracts_dir], ValidateOptions(root=corpus.root, cache_dir=cache_dir))
    return clock.timing, report


def _summary(report) -> str:
    c = report.counts
    return (f"{c.contracts} contracts, {c.invariants} invariants, {c.gates} gates, {c.falsifiers} falsifiers, "
            f"{c.tests} test references; {c.errors} errors, {c.warnings} warnings")


def _fingerprint(report) -> list[tuple]:
    return [(d.code, d.severity.value, d.file, d.line, d.column, d.message) for d in report.diagnostics]


class BenchError(Exception):
    pass


def _check_report(report, what: str, expected: int) -> None:
    if report.counts.contracts != expected:
        raise BenchError(f"{what}: validated {report.counts.contracts} contracts, expected {expected}")
    if report.counts.errors:
        shown = "\n".join(f"  {d.file}:{d.line}:{d.column}: {d.code} {d.message}" for d in report.diagnostics[:10])
        raise BenchError(f"{what}: the corpus does not validate ({report.counts.errors} errors):\n{shown}")


def run_rounds(corpus: Corpus, work: Path, repeat: int) -> tuple[list[Round], str]:
    """Alternate baseline, cold and warm, ``repeat`` times; each cold run starts from an empty cache."""
    expected = len(corpus.files)
    # One untimed pass first: imports, the compiled schema and other one-time costs of the process
    # are not what a per-file ratio should measure (the start-up time is reported on its own).
    _, first = _validate(corpus, work / "cache-warmup")
    _check_report(first, "cold run", expected)
    reference = _fingerprint(first)
    rounds: list[Round] = []
    for r in range(repeat):
        gc.collect()
        base = _baseline(corpus.files)
        cache_dir = work / f"cache-{r}"
        if cache_dir.exists():
            shutil.rmtree(cache_dir)
        gc.collect()
        cold, report = _validate(corpus, cache_dir)
        _check_report(report, "cold run", expected)
        if not (cache_dir / "validate-cache.json").is_file():
            raise BenchError("the cold run wrote no cache")
        gc.collect()
        warm, warm_report = _validate(corpus, cache_dir)
        _check_report(warm_report, "warm run", expected)
        if _fingerprint(report) != reference or _fingerprint(warm_report) != reference:
            raise BenchError("cold and warm runs disagree about the diagnostics")
        rounds.append(Round(base, cold, warm))
        shutil.rmtree(cache_dir, ignore_errors=True)
    return rounds, _summary(first)


def profile_cold(corpus: Corpus, work: Path, top: int, out) -> None:
    """cProfile one cold run and print where its time goes."""
    import cProfile
    import pstats

    cache_dir = work / "cache-profile"
    shutil.rmtree(cache_dir, ignore_errors=True)
    profiler = cProfile.Profile()
    gc.collect()
    profiler.enable()
    _validate(corpus, cache_dir)
    profiler.disable()
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        stats = pstats.Stats(profiler, stream=buf)
        stats.sort_stats(key).print_stats(top)
        text = buf.getvalue()
        body = text[text.find("   ncalls"):] if "   ncalls" in text else text
        out.write(f"\ncold run profile, top {top} by {key}:\n{body.rstrip()}\n")
    shutil.rmtree(cache_dir, ignore_errors=True)


def _pv_command() -> list[str]:
    script = Path(sys.executable).parent / ("pv.exe" if os.name == "nt" else "pv")
    if script.is_file():
        return [str(script)]
    found = shutil.which("pv")
    return [found] if found else [sys.executable, "-m", "pvcontracts.cli"]


_PROBE = r"""
import io, json, sys
import pvcontracts.cli as cli
out, err = io.StringIO(), io.StringIO()
cli.run(["--version"], stdout=out, stderr=err)
after_version = "torch" in sys.modules
rc = cli.run(["validate", sys.argv[1], "--root", sys.argv[2], "--no-cache", "--format", "json"], stdout=out, stderr=err)
print(json.dumps({"version": out.getvalue().splitlines()[0] if out.getvalue() else err.getvalue().strip(),
                  "torch_after_version": after_version, "torch_after_validate": "torch" in sys.modules,
                  "validate_rc": rc}))
"""


def startup(corpus: Corpus, runs: int) -> tuple[float, dict]:
    """Median wall time of `pv --version` as a subprocess, and a probe of what `pv` imports."""
    cmd = _pv_command() + ["--version"]
    env = dict(os.environ)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    subprocess.run(cmd, capture_output=True, check=True, env=env)  # warm the OS file cache once
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True, env=env)
        times.append(time.perf_counter() - start)
    probe = subprocess.run([sys.executable, "-c", _PROBE, str(corpus.files[0]), str(corpus.root)],
                           capture_output=True, text=True, env=env)
    if probe.returncode != 0:
        raise BenchError(f"start-up probe failed:\n{probe.stderr}")
    return statistics.median(times) * 1000, json.loads(probe.stdout.strip().splitlines()[-1])


def check_with_pytest(corpus: Corpus, out) -> None:
    """Collect the generated tree with pytest: every reference in the corpus must be a collected node id."""
    import re

    refs: set[str] = set()
    pattern = re.compile(r"(tests/bench_\d+/test_contract_\d+\.py::\S+)")
    for path in corpus.files:
        refs.update(pattern.findall(path.read_text("utf-8")))
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(corpus.root), "-c", os.devnull, "tests"],
                          cwd=corpus.root, capture_output=True, text=True)
    collected = {line.strip() for line in proc.stdout.splitlines() if "::" in line}
    missing = sorted(refs - collected)
    if proc.returncode != 0 or missing:
        raise BenchError(f"pytest does not collect {len(missing)} of {len(refs)} references, e.g. {missing[:3]}"
                         f"\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    out.write(f"pytest collects all {len(refs)} distinct test references of the corpus\n")


def _table(rows: list[tuple[str, str]]) -> str:
    head = "| " + " | ".join(h for h, _ in rows) + " |"
    rule = "|" + "|".join("-" * (max(len(h), len(v)) + 2) for h, v in rows) + "|"
    body = "| " + " | ".join(v.rjust(len(h)) for h, v in rows) + " |"
    return "\n".join((head, rule, body))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contracts", type=int, default=2000, help="contracts in the corpus (default 2000)")
    parser.add_argument("--keep", type=Path, help="build the corpus in DIR and keep it (default: a temp dir, removed)")
    parser.add_argument("--repeat", type=int, default=3, help="alternating rounds; the best of each is shown (default 3)")
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--profile", action="store_true", help="also cProfile one cold run and print the top items")
    parser.add_argument("--profile-top", type=int, default=30)
    parser.add_argument("--startup-runs", type=int, default=5, help="`pv --version` runs for the median (0: skip)")
    parser.add_argument("--check-pytest", action="store_true",
                        help="also collect the generated tests with pytest and check every reference is collected")
    parser.add_argument("--enforce", action="store_true", help="exit 1 when a timing goal is missed")
    args = parser.parse_args(argv)
    if args.contracts < 1 or args.repeat < 1:
        parser.error("--contracts and --repeat must be positive")
    out = sys.stdout

    temp = None
    if args.keep is not None:
        root = args.keep.resolve()
        if root.exists() and any(root.iterdir()):
            parser.error(f"--keep {root}: the directory exists and is not empty")
    else:
        temp = Path(tempfile.mkdtemp(prefix="pv-bench-"))
        root = temp / "corpus"
    work = Path(tempfile.mkdtemp(prefix="pv-bench-cache-"))
    try:
        start = time.perf_counter()
        corpus = build_corpus(root, args.contracts, args.seed)
        out.write(f"corpus: {len(corpus.files)} contracts ({corpus.total_bytes / 1e6:.2f} MB, "
                  f"{corpus.total_bytes / len(corpus.files) / 1024:.1f} KiB each on average) and "
                  f"{corpus.test_files} test files under {root}, written in {time.perf_counter() - start:.1f} s\n")
        if args.check_pytest:
            check_with_pytest(corpus, out)
        rounds, summary = run_rounds(corpus, work, args.repeat)
        out.write(f"pv validate: {summary}\n")
        base = min(r.baseline.wall for r in rounds)
        cold = min(r.cold.wall for r in rounds)
        warm = min(r.warm.wall for r in rounds)
        ratio, warm_ratio = cold / base, warm / cold
        cpu_base = min(r.baseline.cpu for r in rounds)
        cpu_cold = min(r.cold.cpu for r in rounds)
        cpu_warm = min(r.warm.cpu for r in rounds)
        cold_ok, warm_ok = ratio <= COLD_GOAL, warm_ratio <= WARM_GOAL
        out.write(f"\nbest of {args.repeat} alternating rounds (each round: baseline, cold with an empty cache, "
                  "warm with the cache the cold run wrote)\n")
        out.write(_table([
            ("files", str(len(corpus.files))),
            ("total MB", f"{corpus.total_bytes / 1e6:.2f}"),
            ("baseline s", f"{base:.3f}"),
            ("cold s", f"{cold:.3f}"),
            ("ratio", f"{ratio:.2f}x"),
            ("warm s", f"{warm:.3f}"),
            ("warm/cold", f"{warm_ratio:.2f}x"),
            ("goal", "pass" if cold_ok and warm_ok else "FAIL"),
        ]) + "\n")
        out.write("rounds, wall s (baseline/cold/warm): "
                  + "; ".join(f"{r.baseline.wall:.3f}/{r.cold.wall:.3f}/{r.warm.wall:.3f}" for r in rounds) + "\n")
        out.write(f"CPU s, best of {args.repeat}: baseline {cpu_base:.3f}, cold {cpu_cold:.3f} ({cpu_cold / cpu_base:.2f}x), "
                  f"warm {cpu_warm:.3f} ({cpu_warm / cpu_cold:.2f}x of cold)\n")
        out.write(f"ratio cold/baseline: {ratio:.2f}x (goal <= {COLD_GOAL}x): {'PASS' if cold_ok else 'FAIL'}\n")
        out.write(f"ratio warm/cold: {warm_ratio:.2f}x (goal <= {WARM_GOAL}x): {'PASS' if warm_ok else 'FAIL'}\n")

        torch_ok = True
        if args.startup_runs > 0:
            ms, probe = startup(corpus, args.startup_runs)
            torch_ok = not probe["torch_after_version"] and not probe["torch_after_validate"]
            out.write(f"pv --version: median {ms:.0f} ms over {args.startup_runs} runs ({probe['version']}); "
                      f"torch imported by --version: {'yes' if probe['torch_after_version'] else 'no'}, "
                      f"by validate: {'yes' if probe['torch_after_validate'] else 'no'}\n")
            if probe["validate_rc"] != 0:
                raise BenchError(f"pv validate of one corpus file exited {probe['validate_rc']}")
        if args.profile:
            profile_cold(corpus, work, args.profile_top, out)
        if not torch_ok:
            out.write("FAIL: pv imports torch\n")
            return 1
        if args.enforce and not (cold_ok and warm_ok):
            return 1
        return 0
    except BenchError as exc:
        sys.stderr.write(f"bench: {exc}\n")
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
