"""Every data-quality check of SPEC section 9 fails on data built to break it, and every blocking
check stops the assets downstream of it in a real run.

A lake table's key, accepted-value and range checks are measured in the step that builds it
(``TableChecks`` in netflix_assets/assets/lake.py): here they measure real lake rows with one
rule broken at a time. The cross-table checks (referential integrity, reconciliation) run
against a copy of the shared run's lake and warehouse with one table broken. The blocking checks
run inside batch jobs whose raw files or lake were broken on purpose.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from netflix_assets.assets.lake import (
    DIM_MOVIES_CHECKS,
    DIM_USERS_CHECKS,
    FACT_REVIEWS_CHECKS,
    FACT_SEARCHES_CHECKS,
    FACT_WATCH_SESSIONS_CHECKS,
    TableChecks,
    fact_watch_sessions,
)
from netflix_assets.assets.processed import processed_assets
from netflix_assets.checks import batch_checks
from netflix_assets.definitions import build_definitions
from netflix_assets.resources import resources_for
from tests.conftest import BatchRun, make_settings

MONTH = "2024-06-01"
PROCESSED = ("monthly_engagement", "monthly_active_users", "content_performance", "genre_performance")


def _results(checks: TableChecks, frame: DataFrame) -> dict[str, dg.AssetCheckResult]:
    return {result.check_name: result for result in checks.results(checks.measure(frame))}


def _lake(spark: SparkSession, batch_run: BatchRun, table: str) -> DataFrame:
    assert batch_run.result.success, "the shared batch run failed; see test_batch_dagster"
    return spark.read.parquet(f"{batch_run.settings.lake_uri}/{table}")


def _broken(frame: DataFrame, key: str, column: str, value: object, rows: int) -> DataFrame:
    """``frame`` with ``column`` set to ``value`` in its first ``rows`` rows by key."""
    numbered = frame.withColumn("_row", F.row_number().over(Window.orderBy(key)))
    broken = F.when(F.col("_row") <= rows, F.lit(value).cast(frame.schema[column].dataType)).otherwise(F.col(column))
    return numbered.withColumn(column, broken).drop("_row")


def _duplicated(frame: DataFrame, key: str, rows: int) -> DataFrame:
    """``frame`` with its first ``rows`` rows by key twice."""
    return frame.unionByName(frame.orderBy(key).limit(rows))


@dataclass(frozen=True)
class BrokenRule:
    checks: TableChecks
    check_name: str
    break_it: Callable[[DataFrame, str], DataFrame]  # (table, its key) -> the table with the rule broken
    metadata: dict[str, int]  # what the failing result must report

    def __str__(self) -> str:
        reported = ",".join(f"{name}={value}" for name, value in self.metadata.items() if value)
        return f"{self.checks.table}.{self.check_name}[{reported}]"


BROKEN_RULES = [
    # Keys, blocking at ERROR severity: a duplicated and a missing key in every lake table.
    *(
        BrokenRule(checks, checks.key_check, lambda f, k: _duplicated(f, k, 3), {"duplicate_keys": 3, "null_keys": 0})
        for checks in (DIM_USERS_CHECKS, DIM_MOVIES_CHECKS, FACT_REVIEWS_CHECKS, FACT_SEARCHES_CHECKS, FACT_WATCH_SESSIONS_CHECKS)
    ),
    *(
        BrokenRule(checks, checks.key_check, lambda f, k: _broken(f, k, k, None, 4), {"null_keys": 4, "duplicate_keys": 0})
        for checks in (DIM_USERS_CHECKS, DIM_MOVIES_CHECKS, FACT_REVIEWS_CHECKS, FACT_SEARCHES_CHECKS, FACT_WATCH_SESSIONS_CHECKS)
    ),
    # Accepted values: plan, device, action, quality.
    BrokenRule(DIM_USERS_CHECKS, "accepted_values", lambda f, k: _broken(f, k, "subscription_plan", "Diamond", 5), {"subscription_plan": 5}),
    BrokenRule(DIM_USERS_CHECKS, "accepted_values", lambda f, k: _broken(f, k, "primary_device", "Toaster", 6), {"primary_device": 6}),
    BrokenRule(FACT_WATCH_SESSIONS_CHECKS, "accepted_values", lambda f, k: _broken(f, k, "action", "rewound", 7), {"action": 7}),
    BrokenRule(FACT_WATCH_SESSIONS_CHECKS, "accepted_values", lambda f, k: _broken(f, k, "quality", "8K", 8), {"quality": 8}),
    BrokenRule(FACT_WATCH_SESSIONS_CHECKS, "accepted_values", lambda f, k: _broken(f, k, "device_type", "Toaster", 9), {"device_type": 9}),
    # Ranges: progress 0..100, rating 1..5, on either side.
    BrokenRule(FACT_WATCH_SESSIONS_CHECKS, "progress_percentage_in_range", lambda f, k: _broken(f, k, "progress_percentage", -0.5, 2), {"rows_outside": 2}),
    BrokenRule(FACT_WATCH_SESSIONS_CHECKS, "progress_percentage_in_range", lambda f, k: _broken(f, k, "progress_percentage", 100.5, 3), {"rows_outside": 3}),
    BrokenRule(FACT_REVIEWS_CHECKS, "rating_in_range", lambda f, k: _broken(f, k, "rating", 0, 2), {"rows_outside": 2}),
    BrokenRule(FACT_REVIEWS_CHECKS, "rating_in_range", lambda f, k: _broken(f, k, "rating", 6, 3), {"rows_outside": 3}),
]  # fmt: skip


@pytest.mark.parametrize("rule", BROKEN_RULES, ids=str)
def test_each_in_step_check_fails_on_the_rule_it_guards(spark: SparkSession, batch_run: BatchRun, rule: BrokenRule):
    table = _lake(spark, batch_run, rule.checks.table)
    intact = _results(rule.checks, table)
    assert all(result.passed for result in intact.values()), {n: r.metadata for n, r in intact.items() if not r.passed}

    broken = _results(rule.checks, rule.break_it(table, rule.checks.key))

    failing = broken[rule.check_name]
    assert not failing.passed
    assert {name: failing.metadata[name].value for name in rule.metadata} == rule.metadata
    key_check = rule.check_name == rule.checks.key_check
    assert failing.severity == (dg.AssetCheckSeverity.ERROR if key_check else dg.AssetCheckSeverity.WARN)
    assert [name for name, result in broken.items() if not result.passed] == [rule.check_name]


def test_key_checks_block_and_the_others_warn() -> None:
    for checks in (
        DIM_USERS_CHECKS,
        DIM_MOVIES_CHECKS,
        FACT_REVIEWS_CHECKS,
        FACT_SEARCHES_CHECKS,
        FACT_WATCH_SESSIONS_CHECKS,
    ):
        blocking = {spec.name: spec.blocking for spec in checks.specs()}
        assert blocking.pop(f"{checks.key}_not_null_and_unique") is True
        assert not any(blocking.values()), blocking


# -- the cross-table checks ----------------------------------------------------------------------


def _check(name: str, asset: str) -> dg.AssetChecksDefinition:
    for check in batch_checks:
        spec = next(iter(check.check_specs))
        if spec.name == name and spec.asset_key.to_user_string() == asset:
            return check
    raise LookupError((asset, name))


def _run_check(check: dg.AssetChecksDefinition, settings) -> dg.AssetCheckResult:
    resources = resources_for(settings)
    return check(**{key: resources[key] for key in check.required_resource_keys if key in resources})


@pytest.fixture
def lake_copy(batch_run: BatchRun, tmp_path: Path):
    """The shared run's lake and warehouse, copied so that a test may break them."""
    assert batch_run.result.success
    settings = make_settings(tmp_path, raw=Path(batch_run.settings.raw_uri))
    shutil.copytree(batch_run.settings.lake_uri, settings.lake_uri)
    shutil.copyfile(batch_run.settings.duckdb_path, settings.duckdb_path)
    return settings


def _add_rejected_rows(spark: SparkSession, lake_uri: str, source_table: str, reason: str, rows: int) -> None:
    """Rows of ``rejected_rows`` as the contract describes them (source table, reason, raw row as
    JSON, month, run id), in its partitions by source table and month."""
    frame = spark.range(rows).select(
        F.lit(reason).alias("reason"),
        F.format_string('{"id": "broken_%d"}', F.col("id")).alias("raw_row"),
        F.lit("test-run").alias("run_id"),
        F.lit(source_table).alias("source_table"),
        F.lit(MONTH).cast("date").alias("month"),
    )
    frame.write.mode("append").partitionBy("source_table", "month").parquet(f"{lake_uri}/rejected_rows")


@pytest.mark.parametrize(
    ("fact", "source_table", "reason"),
    [("fact_watch_sessions", "watch_history", "unknown_user"), ("fact_reviews", "reviews", "unknown_movie")],
)
def test_referential_integrity_fails_when_unknown_keys_pass_the_threshold(
    spark: SparkSession, lake_copy, fact: str, source_table: str, reason: str
) -> None:
    check = _check("referential_integrity", f"lake/{fact}")
    passing = _run_check(check, lake_copy)
    assert passing.passed
    clean = passing.metadata["clean_rows"].value
    unknown = sum(passing.metadata[r].value for r in ("unknown_user", "unknown_movie") if r in passing.metadata)

    # Up to 4% of all rows unknown: still passes; past 6%: fails (the threshold is 5%).
    _add_rejected_rows(spark, lake_copy.lake_uri, source_table, reason, max(0, int(0.04 * clean / 0.96) - unknown))
    assert _run_check(check, lake_copy).passed
    _add_rejected_rows(spark, lake_copy.lake_uri, source_table, reason, int(0.02 * clean / 0.94) + 1)
    failing = _run_check(check, lake_copy)
    assert not failing.passed
    assert failing.metadata["unknown_key_share"].value > 0.05
    assert failing.metadata["clean_rows"].value == clean


def test_reconciliation_fails_when_the_table_drifts_from_the_fact(lake_copy) -> None:
    check = _check("reconciles_with_fact_partitions", "netflix_processed/monthly_engagement")
    assert _run_check(check, lake_copy).passed
    with duckdb.connect(lake_copy.duckdb_path) as connection:
        connection.execute(
            "UPDATE netflix_processed.monthly_engagement SET total_sessions = total_sessions + 1 "
            "WHERE month = DATE '2024-06-01' AND country = 'USA' AND subscription_plan = 'Basic'"
        )
    drifted = _run_check(check, lake_copy)
    assert not drifted.passed and drifted.severity == dg.AssetCheckSeverity.ERROR
    assert list(drifted.metadata["mismatched_months"].value) == ["2024-06-01"]

    with duckdb.connect(lake_copy.duckdb_path) as connection:
        (month,) = connection.execute(
            "SELECT CAST(MAX(month) AS VARCHAR) FROM netflix_processed.monthly_engagement WHERE month > DATE '2024-06-01'"
        ).fetchone()
        connection.execute(f"DELETE FROM netflix_processed.monthly_engagement WHERE month = DATE '{month}'")
    month_missing = _run_check(check, lake_copy).metadata["mismatched_months"].value
    assert set(month_missing) == {"2024-06-01", month} and month_missing[month]["table"] == 0


# -- blocking checks stop what is downstream of them, in real runs ------------------------------


def _materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}


def _started(result: dg.ExecuteInProcessResult) -> set[str]:
    """Assets whose step started: a blocked asset's step never does (a failing read would)."""
    steps = {event.step_key for event in result.all_events if event.event_type_value == "STEP_START"}
    return {step.replace("__", "/") for step in steps}


def _check_evaluations(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


@pytest.fixture(scope="module")
def small_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated dataset of one month, all five files."""
    from netflix_devtools.datagen import generate

    raw = tmp_path_factory.mktemp("small_raw")
    generate(raw, users=300, movies=80, sessions=1_500, start="2024-06", end="2024-06", seed=7, progress=False)
    return raw


def _without_column(raw: Path, table: str, column: str) -> None:
    path = raw / f"{table}.csv"
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    drop = rows[0].index(column)
    with path.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([row[:drop] + row[drop + 1 :] for row in rows])


DROPPED_COLUMNS = {
    "users": "email",
    "movies": "genre_primary",
    "search_logs": "search_query",
    "reviews": "rating",
    "watch_history": "device_type",
}
EVERY_PROCESSED = {f"netflix_processed/{table}" for table in (*PROCESSED, "cohort_retention")}


@pytest.mark.parametrize(
    ("broken", "blocked", "still_built"),
    [
        (
            ("users", "movies", "search_logs"),
            {
                "lake/dim_users",
                "lake/dim_movies",
                "lake/fact_searches",
                "lake/fact_reviews",
                "lake/fact_watch_sessions",
            },
            set(),
        ),
        (
            ("reviews", "watch_history"),
            {"lake/fact_reviews", "lake/fact_watch_sessions"},
            {"lake/dim_users", "lake/dim_movies", "lake/fact_searches"},
        ),
    ],
    ids=["users-movies-search_logs", "reviews-watch_history"],
)
def test_a_missing_raw_column_fails_its_check_and_blocks_everything_downstream(
    small_raw: Path, tmp_path: Path, broken: tuple[str, ...], blocked: set[str], still_built: set[str]
) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(small_raw, raw)
    for table in broken:
        _without_column(raw, table, DROPPED_COLUMNS[table])
    settings = make_settings(tmp_path, raw=raw)
    job = build_definitions(settings).resolve_job_def("batch_job")
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), partition_key=MONTH, raise_on_error=False)

    evaluations = _check_evaluations(result)
    for table in DROPPED_COLUMNS:
        evaluation = evaluations[(f"raw/{table}", "has_expected_columns")]
        missing = [DROPPED_COLUMNS[table]] if table in broken else []
        assert (evaluation.passed, evaluation.metadata["missing_columns"].value) == (not missing, missing), table
        assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    materialized = _materialized(result)
    assert {f"raw/{table}" for table in DROPPED_COLUMNS} <= materialized & _started(result)
    assert not _started(result) & (blocked | EVERY_PROCESSED), _started(result) & (blocked | EVERY_PROCESSED)
    assert still_built <= materialized
    assert not result.success
    for table in blocked:
        assert not Path(settings.lake_uri, table.split("/")[1]).exists(), f"{table} was written"
    assert not Path(settings.duckdb_path).exists()


def test_a_failing_key_check_blocks_the_monthly_tables(spark: SparkSession, lake_copy) -> None:
    """A dim_users with one user twice (say, written by hand) makes the fact's session ids repeat."""
    dim_users = spark.read.parquet(f"{lake_copy.lake_uri}/dim_users")
    sessions = spark.read.parquet(f"{lake_copy.lake_uri}/fact_watch_sessions").filter(F.col("month") == MONTH)
    user_id = sessions.groupBy("user_id").count().orderBy(F.desc("count"), "user_id").first()["user_id"]
    sessions_of_user = sessions.filter(F.col("user_id") == user_id).count()
    twice = Path(lake_copy.lake_uri, "dim_users_twice")
    dim_users.unionByName(dim_users.filter(F.col("user_id") == user_id)).write.parquet(str(twice))
    shutil.rmtree(Path(lake_copy.lake_uri, "dim_users"))
    twice.rename(Path(lake_copy.lake_uri, "dim_users"))
    with duckdb.connect(lake_copy.duckdb_path) as connection:
        before = connection.execute(
            f"SELECT * FROM netflix_processed.monthly_engagement WHERE month = DATE '{MONTH}'"
        ).fetchall()

    monthly = [asset for asset in processed_assets if asset.partitions_def is not None]
    result = dg.materialize(
        [fact_watch_sessions, *monthly],
        resources=resources_for(lake_copy),
        partition_key=MONTH,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )

    key_check = _check_evaluations(result)[("lake/fact_watch_sessions", "session_id_not_null_and_unique")]
    assert not key_check.passed and key_check.severity == dg.AssetCheckSeverity.ERROR
    assert key_check.metadata["duplicate_keys"].value >= sessions_of_user > 0
    assert "lake/fact_watch_sessions" in _started(result)
    assert not _started(result) & {f"netflix_processed/{table}" for table in PROCESSED}
    assert not result.success
    with duckdb.connect(lake_copy.duckdb_path) as connection:
        after = connection.execute(
            f"SELECT * FROM netflix_processed.monthly_engagement WHERE month = DATE '{MONTH}'"
        ).fetchall()
    assert after == before, "the month's table was rewritten from a broken fact"
