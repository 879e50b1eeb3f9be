"""The batch backfill as the benchmarks run it: the generated sessions, a scratch lake, warehouse
and Dagster instance, and `netflix-lambda batch` in a process of its own, measured."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks._measure import Measurement, run_measured
from netflix_core.settings import Settings, load_settings
from netflix_devtools.datagen import generate

FIRST_MONTH, LAST_MONTH = "2024-01", "2025-12"


def generate_sessions(raw: Path, sessions: int, start: str = FIRST_MONTH, end: str = LAST_MONTH) -> int:
    """Writes ``sessions`` watch sessions (and users, movies and side files in proportion) into
    ``raw`` with the project's generator; returns the raw rows of all five files."""
    users, movies = max(10_000, sessions // 100), max(1_000, sessions // 5_000)
    print(f"generating {sessions:,} sessions, {users:,} users, {movies:,} movies into {raw}", flush=True)
    summary = generate(raw, users=users, movies=movies, sessions=sessions, start=start, end=end)
    raw_rows = sum(summary.rows.values())
    print(f"generated {raw_rows:,} raw rows in {summary.seconds:.1f} s", flush=True)
    return raw_rows


def backfill_settings(raw: Path, run_dir: Path) -> Settings:
    """The environment's settings with the raw files at ``raw`` and everything written under ``run_dir``."""
    return load_settings().with_overrides(
        raw_uri=str(raw),
        lake_uri=str(run_dir / "lake"),
        duckdb_path=str(run_dir / "warehouse.duckdb"),
        checkpoint_uri=str(run_dir / "checkpoints"),
        dagster_home=str(run_dir / "dagster_home"),
    )


def run_backfill(
    settings: Settings,
    log: Path,
    start: str = FIRST_MONTH,
    end: str = LAST_MONTH,
    extra_environment: dict[str, str] | None = None,
    also: Sequence[int] = (),
) -> Measurement:
    """`netflix-lambda batch --from start --to end` (one Dagster run, every asset and check),
    its output in ``log``; ``also`` as for ``run_measured`` (a cluster's processes)."""
    environment = {**os.environ, **settings.to_environ(), **(extra_environment or {})}
    command = [sys.executable, "-m", "netflix_cli.main", "batch", "--from", start, "--to", end]
    return run_measured(command, environment, log, also=also)
