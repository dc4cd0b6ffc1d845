"""How long the `osp` CLI takes before it does anything, against a bare typer program.

Each figure is one fresh interpreter per run (what a user pays per command): `osp --help`,
`osp tenant --help`, a usage error (`osp approvals list`: missing argument) and a program
that imports typer and rich and prints its help (and a subcommand's help: typer loads more
for that, pydantic among it, whatever the program). The goal is osp within 2x the bare one.

    .venv/bin/python bench/cli/bench_startup.py [--runs 20] [--before SRC]

``--before SRC`` also times `osp --help`, `osp tenant --help` and the usage error from
another checkout's ``src`` (e.g. a worktree of
an older commit), through the same interpreter.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

BARE = """
import typer
from rich.console import Console
from rich.table import Table
app = typer.Typer(add_completion=False)
@app.command()
def hello(name: str) -> None:
    Console().print(Table(name))
@app.command()
def bye() -> None:
    pass
app()
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(argv: list[str], runs: int, env: dict[str, str]) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--before", help="another checkout's src directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "OSP_DATA_DIR": tmp}
        bare = [sys.executable, "-c", BARE, "--help"]
        osp = [sys.executable, "-m", "osp"]
        before = {**env, "PYTHONPATH": args.before or ""}
        cases = {
            "bare typer+rich --help": (bare, env),
            "bare typer+rich hello --help": ([sys.executable, "-c", BARE, "hello", "--help"],
                                             env),
            "osp --help": ([*osp, "--help"], env),
            "osp tenant --help": ([*osp, "tenant", "--help"], env),
            "osp approvals list (usage error)": ([*osp, "approvals", "list"], env),
        }
        if args.before:
            cases |= {"osp --help (--before)": ([*osp, "--help"], before),
                      "osp tenant --help (--before)": ([*osp, "tenant", "--help"], before),
                      "osp approvals list (usage error, --before)": (
                          [*osp, "approvals", "list"], before)}
        measure(bare, 2, env)  # warm the page cache
        # Round-robin, one run of every case per round: a load that changes during the bench
        # (other jobs on the machine) weighs on every case alike.
        results: dict[str, list[float]] = {label: [] for label in cases}
        for _ in range(args.runs):
            for label, (argv, case_env) in cases.items():
                results[label] += measure(argv, 1, case_env)
        # A command that opens the installation: embedded Postgres start, the migration check
        # every command runs on the embedded database, one query, Postgres stop.
        subprocess.run([*osp, "db", "migrate"], env=env, capture_output=True, check=True)
        results["osp tenant list (opens the installation)"] = measure(
            [*osp, "tenant", "list", "--json"], args.runs, env)
    base = statistics.median(results["bare typer+rich --help"])
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print(f"{'case':42} {'p50':>8} {'p90':>8} {'x bare':>7}")
    for label, values in results.items():
        p50 = statistics.median(values)
        print(f"{label:42} {p50 * 1000:7.0f}ms {pct(values, 0.9) * 1000:7.0f}ms "
              f"{p50 / base:6.2f}x")


if __name__ == "__main__":
    main()
