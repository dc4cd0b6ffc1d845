"""Cost of one unit of work (one transaction with its scope set) on the embedded Postgres,
with a ping on every pool checkout (``pool_pre_ping``, what OSP did until 2026-11-28) and
without (now: a dropped connection is found by the unit's first statement and the unit is
retried). A chat message runs about five units. Prints percentiles, asserts nothing.

    .venv/bin/python bench/db/bench_unit.py [--units 3000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from osp.config import Settings
from osp.db.session import Database, to_sqlalchemy_url
from osp.platform import open_platform


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(db: Database, units: int) -> list[float]:
    took = []
    for _ in range(units):
        start = time.perf_counter()
        with db.platform() as s:
            s.execute(text("SELECT count(*) FROM tenants")).scalar()
        took.append((time.perf_counter() - start) * 1000)
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=3000)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp, \
            open_platform(Settings(data_dir=Path(tmp))) as platform:
        now = Database(platform.db.url)
        pinged = Database(platform.db.url)
        pinged.engine = create_engine(to_sqlalchemy_url(platform.db.url), pool_size=5,
                                      pool_pre_ping=True)
        pinged._factory.configure(bind=pinged.engine)  # the old engine
        results: dict[str, list[float]] = {"ping on checkout (before)": [], "no ping (now)": []}
        for _ in range(3):  # interleaved rounds, so a load change hits both alike
            results["ping on checkout (before)"] += measure(pinged, args.units // 3)
            results["no ping (now)"] += measure(now, args.units // 3)
        for name, took in results.items():
            print(f"{name:28s} n={len(took)} p50 {statistics.median(took):.3f} ms  "
                  f"p99 {pct(took, 0.99):.3f} ms")
        now.dispose()
        pinged.dispose()
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
