"""The Parquet lake: clean dimensions and facts (contract section 5) and their rejected rows.

Each asset measures the table it just wrote (keys, accepted values, ranges), reading back only the
columns the checks need, and reports the results as its checks; key checks are blocking at ERROR
severity.
"""

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

import dagster as dg
from pyspark.sql import DataFrame

from netflix_assets.keys import lake_key, raw_key
from netflix_assets.partitions import monthly_partitions, single_run_backfill
from netflix_assets.resources import LakeResource, SparkResource
from netflix_core import contract
from netflix_core.lake import months_between, read_table, replace_rejected_rows, staged, write_months, write_table
from netflix_core.transforms import cleaning
from netflix_core.transforms.cleaning import CleanResult
from netflix_core.transforms.quality import QualityMeasures, measure_quality
from netflix_core.transforms.raw_files import read_raw_csv
from netflix_core.transforms.star_schema import fact_watch_sessions as build_fact_watch_sessions

GROUP = "lake"
KINDS = {"spark", "parquet"}


@dataclass(frozen=True)
class TableChecks:
    """The in-step checks of one lake table: its key, accepted values and ranges."""

    table: str
    key: str
    accepted: dict[str, tuple[str, ...]] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def key_check(self) -> str:
        return f"{self.key}_not_null_and_unique"

    def specs(self) -> list[dg.AssetCheckSpec]:
        asset = lake_key(self.table)
        specs = [
            dg.AssetCheckSpec(
                self.key_check,
                asset=asset,
                blocking=True,
                description=f"Every row has a {self.key}, and no {self.key} appears twice.",
            )
        ]
        if self.accepted:
            described = "; ".join(f"{column} in {', '.join(values)}" for column, values in self.accepted.items())
            specs.append(dg.AssetCheckSpec("accepted_values", asset=asset, description=described))
        specs += [
            dg.AssetCheckSpec(f"{column}_in_range", asset=asset, description=f"{column} within [{low:g}, {high:g}].")
            for column, (low, high) in self.ranges.items()
        ]
        return specs

    def measure(self, frame: DataFrame) -> QualityMeasures:
        return measure_quality(frame, self.key, self.accepted, self.ranges)

    def results(self, measures: QualityMeasures) -> list[dg.AssetCheckResult]:
        results = [
            dg.AssetCheckResult(
                check_name=self.key_check,
                passed=measures.keys_valid,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata=measures.key_metadata(),
            )
        ]
        if self.accepted:
            results.append(
                dg.AssetCheckResult(
                    check_name="accepted_values",
                    passed=not any(measures.unexpected_values.values()),
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata=measures.unexpected_values,
                )
            )
        results += [
            dg.AssetCheckResult(
                check_name=f"{column}_in_range",
                passed=outside == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"rows_outside": outside},
            )
            for column, outside in measures.out_of_range.items()
        ]
        return results


DIM_USERS_CHECKS = TableChecks(
    contract.DIM_USERS,
    "user_id",
    accepted={"subscription_plan": contract.SUBSCRIPTION_PLANS, "primary_device": contract.DEVICE_TYPES},
)
DIM_MOVIES_CHECKS = TableChecks(contract.DIM_MOVIES, "movie_id")
FACT_REVIEWS_CHECKS = TableChecks(contract.FACT_REVIEWS, "review_id", ranges={"rating": (1, 5)})
FACT_SEARCHES_CHECKS = TableChecks(contract.FACT_SEARCHES, "search_id")
FACT_WATCH_SESSIONS_CHECKS = TableChecks(
    contract.FACT_WATCH_SESSIONS,
    "session_id",
    accepted={"action": contract.ACTIONS, "quality": contract.QUALITIES, "device_type": contract.DEVICE_TYPES},
    ranges={"progress_percentage": (0, 100)},
)


def outcome_metadata(counts: list[dict], written_rows: int) -> dict[str, dg.MetadataValue]:
    """Where every raw row went: written, collapsed as an exact duplicate, or rejected (by reason)."""
    totals = Counter()
    for row in counts:
        totals[row["outcome"]] += row["count"]
    rejected = {reason: totals.get(reason, 0) for reason in contract.REJECT_REASONS}
    return {
        "raw_rows": dg.MetadataValue.int(sum(totals.values())),
        "dagster/row_count": dg.MetadataValue.int(written_rows),
        "exact_duplicates_collapsed": dg.MetadataValue.int(totals.get("exact_duplicate", 0)),
        "rejected_rows": dg.MetadataValue.int(sum(rejected.values())),
        "rejected_by_reason": dg.MetadataValue.json(rejected),
    }


def _clean_whole_table(
    context: dg.AssetExecutionContext,
    spark: SparkResource,
    lake: LakeResource,
    result: CleanResult,
    checks: TableChecks,
) -> dg.MaterializeResult:
    session, path = spark.get_session(), lake.paths.table_path(checks.table)
    run_id = context.run.run_id
    with _staged(spark, lake, result, run_id) as result:
        counts = result.outcome_counts()
        write_table(result.clean, path)
        replace_rejected_rows(session, lake.lake_uri, result.table, result.rejected, run_id)
    measures = checks.measure(_read_lake(spark, lake, checks.table))
    return dg.MaterializeResult(
        metadata={"path": dg.MetadataValue.path(path), **outcome_metadata(counts, measures.rows)},
        check_results=checks.results(measures),
    )


@contextmanager
def _staged(spark: SparkResource, lake: LakeResource, result: CleanResult, run_id: str) -> Iterator[CleanResult]:
    """The result with its rows labeled once, for the writes and counts of the step to read."""
    path = lake.paths.staging_path(result.table, run_id)
    with staged(spark.get_session(), result.labeled, path) as labeled:
        yield result.reading(labeled)


def _read_raw(spark: SparkResource, lake: LakeResource, table: str) -> DataFrame:
    return read_raw_csv(spark.get_session(), lake.paths.raw_path(table), table)


def _read_lake(spark: SparkResource, lake: LakeResource, table: str) -> DataFrame:
    return read_table(spark.get_session(), lake.paths, table)


def _whole_table_asset(
    checks: TableChecks,
    raw_table: str,
    clean: Callable[..., CleanResult],
    description: str,
    dimensions: tuple[str, ...] = (),
) -> dg.AssetsDefinition:
    """A lake table rebuilt whole from its raw file (and the clean ``dimensions`` it checks keys against)."""

    @dg.asset(
        key=lake_key(checks.table),
        deps=[raw_key(raw_table), *(lake_key(dimension) for dimension in dimensions)],
        group_name=GROUP,
        kinds=KINDS,
        check_specs=checks.specs(),
        description=description,
    )
    def whole_table(
        context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource
    ) -> dg.MaterializeResult:
        result = clean(_read_raw(spark, lake, raw_table), *(_read_lake(spark, lake, d) for d in dimensions))
        return _clean_whole_table(context, spark, lake, result, checks)

    return whole_table


dim_users = _whole_table_asset(
    DIM_USERS_CHECKS, "users", cleaning.clean_users, "Clean users, one row per user_id (latest created_at wins)."
)
dim_movies = _whole_table_asset(
    DIM_MOVIES_CHECKS, "movies", cleaning.clean_movies, "Clean movies, one row per movie_id."
)
fact_reviews = _whole_table_asset(
    FACT_REVIEWS_CHECKS,
    "reviews",
    cleaning.clean_reviews,
    "Clean reviews of known users and movies, with the month of review_date.",
    dimensions=(contract.DIM_USERS, contract.DIM_MOVIES),
)
fact_searches = _whole_table_asset(
    FACT_SEARCHES_CHECKS, "search_logs", cleaning.clean_search_logs, "Clean search logs, one row per search_id."
)


@dg.asset(
    key=lake_key(contract.FACT_WATCH_SESSIONS),
    deps=[raw_key("watch_history"), lake_key(contract.DIM_USERS), lake_key(contract.DIM_MOVIES)],
    group_name=GROUP,
    kinds=KINDS,
    partitions_def=monthly_partitions,
    backfill_policy=single_run_backfill,
    check_specs=FACT_WATCH_SESSIONS_CHECKS.specs(),
)
def fact_watch_sessions(
    context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource
) -> dg.MaterializeResult:
    """Clean sessions of the run's months, partitioned by month, with user/movie attributes.

    Duplicates are resolved over the whole file, so a session's surviving row does not depend
    on which months a run covers. The checks measure the months the run wrote.
    """
    session, path = spark.get_session(), lake.paths.table_path(contract.FACT_WATCH_SESSIONS)
    window = context.partition_time_window
    months = months_between(window.start.date(), window.end.date())
    run_id = context.run.run_id
    users = _read_lake(spark, lake, contract.DIM_USERS)
    movies = _read_lake(spark, lake, contract.DIM_MOVIES)
    result = cleaning.clean_watch_history(_read_raw(spark, lake, "watch_history"), users, movies)
    with _staged(spark, lake, result, run_id) as result:
        counts = result.outcome_counts(by_month=True)
        # Rejected rows of a month that has no partition (before the first, after the current one)
        # belong to no run's months, so every run re-derives them, as it does those of no month.
        partitioned = {date.fromisoformat(key) for key in monthly_partitions.get_partition_keys()}
        unpartitioned = sorted({row["month"] for row in counts if row["month"] not in partitioned} - {None})
        write_months(session, build_fact_watch_sessions(result.clean, users, movies), path, months)
        replace_rejected_rows(session, lake.lake_uri, "watch_history", result.rejected, run_id, months + unpartitioned)
    written = _read_lake(spark, lake, contract.FACT_WATCH_SESSIONS)
    measures = FACT_WATCH_SESSIONS_CHECKS.measure(written.filter(written["month"].isin(months)))
    in_run = [
        row
        for row in counts
        if row["month"] is None
        or row["month"] in months
        or (row["month"] in unpartitioned and row["outcome"] != "clean")
    ]
    clean_in_run = sum(row["count"] for row in in_run if row["outcome"] == "clean")
    clean_elsewhere = sum(row["count"] for row in counts if row["outcome"] == "clean") - clean_in_run
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(path),
            "months": dg.MetadataValue.json([month.isoformat() for month in months]),
            **outcome_metadata(in_run, clean_in_run),
            "clean_sessions_in_other_months": dg.MetadataValue.int(clean_elsewhere),
        },
        check_results=FACT_WATCH_SESSIONS_CHECKS.results(measures),
    )


lake_assets = [dim_users, dim_movies, fact_reviews, fact_searches, fact_watch_sessions]
