"""bench/run [BENCHMARK ...] [--rounds N]: run the benchmarks on the local stack, write results.json and results.md.

Results of benchmarks not run this time are kept from the previous results.json, each with its own date.
A figure missing its target is reported, never an error; the exit status is 1 only when a benchmark could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

from . import growth, probe, proxy, pull, readiness, site_rerun
from .common import BenchResult, Row, clean_leftovers, log, require_stack

BENCHMARKS = {m.NAME: m for m in (readiness, site_rerun, growth, pull, probe, proxy)}
HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    parser.add_argument("benchmarks", nargs="*", metavar="BENCHMARK", help=f"any of {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of readiness, pull and probe (default 5)")
    parser.add_argument("--out", type=Path, default=HERE, help="where results.json and results.md go (default bench/)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be 1 or more")
    unknown = [b for b in args.benchmarks if b not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    args.benchmarks = list(dict.fromkeys(args.benchmarks)) or list(BENCHMARKS)
    return args


def run_one(name: str, rounds: int) -> BenchResult:
    started = time.time()
    log(f"{name}: starting")
    try:
        result = BENCHMARKS[name].run(rounds)
    except Exception as exc:  # noqa: BLE001 - one broken benchmark must not lose the others' figures
        result = BenchResult(name, error=f"{type(exc).__name__}: {exc}")
        log(f"{name}: FAILED\n{traceback.format_exc()}")
    finally:
        # Whatever the benchmark left (it cleans up itself; this covers an exception mid-way).
        clean_leftovers()
    result.rounds = result.rounds or rounds
    result.started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
    result.duration_s = round(time.time() - started, 1)
    log(f"{name}: done in {result.duration_s:.0f} s")
    return result


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "":
        return f"{value:g}" if float(value).is_integer() else f"{value:.3f}"
    return f"{value:.3f} {unit}" if abs(value) < 10 else f"{value:.1f} {unit}"


def markdown(results: dict[str, dict], meta: dict) -> str:
    lines = [
        "| benchmark | figure | value | baseline | ratio | target | met? |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    notes = []
    for name in BENCHMARKS:
        data = results.get(name)
        if data is None:
            continue
        if data.get("error"):
            lines.append(f"| {name} | (did not run: {data['error'][:200]}) | | | | | |")
            continue
        for row in (Row(**r) for r in data["rows"]):
            base = f"{row.baseline}: {_fmt(row.baseline_value, row.unit)}" if row.baseline_value is not None else row.baseline
            ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
            met = {True: "yes", False: "**no**", None: ""}[row.met]
            figure = row.figure.replace("|", "\\|")
            lines.append(f"| {name} | {figure} | {_fmt(row.value, row.unit)} | {base} | {ratio} | {row.target} | {met} |")
            if row.note:
                notes.append(f"- {name}, {row.figure.strip()}: {row.note}")
    when = "; ".join(
        f"{n} at {results[n]['started_at']} in {results[n]['duration_s']:.0f} s ({results[n]['rounds']} round{'s' if results[n]['rounds'] != 1 else ''})"
        for n in BENCHMARKS
        if n in results
    )
    head = [
        "# Benchmark results",
        "",
        f"Machine: {meta['machine']}. Last `bench/run` took {meta['last_run_s']:.0f} s. Measured: {when}.",
        "",
    ]
    return "\n".join(head + lines + ([""] + notes if notes else [])) + "\n"


def machine() -> str:
    mem = "?"
    try:
        with open("/proc/meminfo") as fh:
            mem = f"{int(fh.readline().split()[1]) / 2**20:.0f} GiB"
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs, {mem} memory"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    require_stack()
    clean_leftovers()
    out_json = args.out / "results.json"
    previous = json.loads(out_json.read_text()) if out_json.exists() else {}
    results = dict(previous.get("benchmarks") or {})
    started = time.time()
    failed = False
    for name in args.benchmarks:
        result = run_one(name, args.rounds)
        failed |= result.error is not None
        results[name] = result.as_dict()
    meta = {"machine": machine(), "last_run": args.benchmarks, "last_run_s": round(time.time() - started, 1)}
    args.out.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps({**meta, "benchmarks": results}, indent=2) + "\n")
    table = markdown(results, meta)
    (args.out / "results.md").write_text(table)
    print(table)
    log(f"wrote {out_json} and {args.out / 'results.md'} after {meta['last_run_s']:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
