"""Batch layer benchmark: the full backfill through Dagster + Spark against plain DuckDB SQL.

Generates N watch sessions (1M by default, 10M with --ten-million) with the project's generator,
then, on the same CSV files, times
  1. `netflix-lambda batch` over every month with data: one Dagster run, one Spark session,
     all assets and asset checks, the five tables written to a fresh DuckDB warehouse;
  2. the reference: the same cleaning and five tables computed by DuckDB SQL alone
     (tests/oracle.py, the independent computation the tests compare against).
Each runs in its own process; peak memory is the resident memory of its whole process tree
(Python, the Spark JVM, Python workers) sampled every 0.2 s. Prints both wall times, the ratio,
rows per second and peak memory.

    .venv/bin/python benchmarks/batch.py [--sessions N | --ten-million] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._backfill import backfill_settings, generate_sessions, run_backfill  # noqa: E402
from benchmarks._measure import GIB, TARGET_PEAK_GIB, ArgumentParser, run_measured, verdict  # noqa: E402

TARGET_RATIO = 2.5


REFERENCE = """
import sys
sys.path.insert(0, {root!r})
from tests.oracle import Oracle
with Oracle({raw!r}) as oracle:
    for table in ("monthly_engagement", "monthly_active_users", "content_performance",
                  "genre_performance", "cohort_retention"):
        print(table, oracle.rows(f"SELECT count(*) FROM {{table}}")[0][0], "rows", flush=True)
"""


def main() -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--ten-million", action="store_true", help="10,000,000 sessions")
    parser.add_argument("--start", default="2024-01")
    parser.add_argument("--end", default="2025-12")
    parser.add_argument("--workdir", type=Path, default=None, help="kept after the run with --keep")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    sessions = 10_000_000 if args.ten_million else args.sessions
    if sessions < 1:
        parser.error("--sessions must be at least 1")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="netflix-bench-"))
    raw = workdir / "raw"

    raw_rows = generate_sessions(raw, sessions, args.start, args.end)

    settings = backfill_settings(raw, workdir)
    env = {**os.environ, **settings.to_environ()}
    print("running the batch layer (Dagster + Spark) ...", flush=True)
    spark = run_backfill(settings, workdir / "batch.log", args.start, args.end)
    if spark.returncode != 0:
        print(f"batch failed (exit {spark.returncode}); see {workdir / 'batch.log'}")
        return 1
    print("running the DuckDB reference ...", flush=True)
    reference = run_measured(
        [sys.executable, "-c", REFERENCE.format(root=str(ROOT), raw=str(raw))], env, workdir / "reference.log"
    )
    if reference.returncode != 0:
        print(f"reference failed (exit {reference.returncode}); see {workdir / 'reference.log'}")
        return 1

    ratio = spark.seconds / reference.seconds
    print()
    print(f"sessions                 {sessions:>14,}   (raw rows in all five files: {raw_rows:,})")
    print(f"{'':24} {'wall s':>10} {'rows/s':>12} {'peak GiB':>10}")
    for name, run in (("spark batch (dagster)", spark), ("duckdb reference", reference)):
        print(f"{name:24} {run.seconds:>10.1f} {raw_rows / run.seconds:>12,.0f} {run.peak_rss_bytes / GIB:>10.2f}")
    print(f"ratio spark / duckdb     {ratio:>10.2f}x   target <= {TARGET_RATIO}x: {verdict(ratio <= TARGET_RATIO)}")
    peak = spark.peak_rss_bytes / GIB
    print(
        f"peak memory spark        {peak:>10.2f} GiB target < {TARGET_PEAK_GIB} GiB: {verdict(peak < TARGET_PEAK_GIB)}"
    )
    if args.keep:
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
