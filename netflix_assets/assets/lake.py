"""The Parquet lake: clean dimensions and facts (SPEC section 5) and their rejected rows."""


from collections import Counter
from collections.abc import Callable
from datetime import date

import dagster as dg
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from netflix_assets.assets.raw import raw_key
from netflix_assets.lake_io import replace_rejected_rows, write_months, write_table
from netflix_assets.partitions import monthly_partitions, single_run_backfill
from netflix_assets.resources import LakeResource, SparkResource
from netflix_assets.transforms import cleaning
from netflix_assets.transforms.cleaning import REJECT_REASONS, CleanResult
from netflix_assets.transforms.raw import read_raw_csv
from netflix_assets.transforms.star_schema import fact_watch_sessions as build_fact_watch_sessions
from netflix_assets.transforms.star_schema import fact_watch_sessions_schema

GROUP = "lake"
KINDS = {"spark", "parquet"}


def lake_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["lake", table])


def months_in(window: dg.TimeWindow) -> list[date]:
    """First days of the months in ``[window.start, window.end)``."""
    months, year, month = [], window.start.year, window.start.month
    while date(year, month, 1) < window.end.date():
        months.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


# Month-partitioned tables are read with their schema: while the months written so far hold no
# rows, the folder has no Parquet file to take it from, and the table must read as empty.
PARTITIONED_TABLE_SCHEMAS: dict[str, Callable[[SparkSession], StructType]] = {
    "fact_watch_sessions": fact_watch_sessions_schema,
}


def read_lake_table(spark: SparkSession, lake: LakeResource, table: str) -> DataFrame:
    schema = PARTITIONED_TABLE_SCHEMAS.get(table)
    reader = spark.read if schema is None else spark.read.schema(schema(spark))
    try:
        return reader.parquet(lake.table_path(table))
    except Exception as error:
        if "PATH_NOT_FOUND" in str(error) or "Path does not exist" in str(error):
            raise dg.Failure(
                f"lake table {table} does not exist yet at {lake.table_path(table)}: "
                f"materialize lake/{table} first"
            ) from error
        raise


def outcome_metadata(counts: list[dict], written_rows: int) -> dict[str, dg.MetadataValue]:
    """Where every raw row went: written, collapsed as an exact duplicate, or rejected (by reason)."""
    totals = Counter()
    for row in counts:
        totals[row["outcome"]] += row["count"]
    rejected = {reason: totals.get(reason, 0) for reason in REJECT_REASONS}
    return {
        "raw_rows": dg.MetadataValue.int(sum(totals.values())),
        "dagster/row_count": dg.MetadataValue.int(written_rows),
        "exact_duplicates_collapsed": dg.MetadataValue.int(totals.get("exact_duplicate", 0)),
        "rejected_rows": dg.MetadataValue.int(sum(rejected.values())),
        "rejected_by_reason": dg.MetadataValue.json(rejected),
    }


def _clean_whole_table(
    context: dg.AssetExecutionContext,
    spark: SparkSession,
    lake: LakeResource,
    result: CleanResult,
    output_table: str,
) -> dg.MaterializeResult:
    result = result.persisted()
    try:
        counts = result.outcome_counts()
        write_table(result.clean, lake.table_path(output_table))
        replace_rejected_rows(spark, lake.lake_uri, result.table, result.rejected, context.run_id)
    finally:
        result.unpersist()
    clean_rows = sum(row["count"] for row in counts if row["outcome"] == "clean")
    return dg.MaterializeResult(
        metadata={"path": dg.MetadataValue.path(lake.table_path(output_table)), **outcome_metadata(counts, clean_rows)}
    )


@dg.asset(key=lake_key("dim_users"), deps=[raw_key("users")], group_name=GROUP, kinds=KINDS)
def dim_users(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """Clean users, one row per user_id (latest created_at wins)."""
    session = spark.get_session()
    result = cleaning.clean_users(read_raw_csv(session, lake.raw_path("users"), "users"))
    return _clean_whole_table(context, session, lake, result, "dim_users")


@dg.asset(key=lake_key("dim_movies"), deps=[raw_key("movies")], group_name=GROUP, kinds=KINDS)
def dim_movies(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """Clean movies, one row per movie_id."""
    session = spark.get_session()
    result = cleaning.clean_movies(read_raw_csv(session, lake.raw_path("movies"), "movies"))
    return _clean_whole_table(context, session, lake, result, "dim_movies")


@dg.asset(
    key=lake_key("fact_reviews"),
    deps=[raw_key("reviews"), lake_key("dim_users"), lake_key("dim_movies")],
    group_name=GROUP,
    kinds=KINDS,
)
def fact_reviews(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """Clean reviews of known users and movies, with the month of review_date."""
    session = spark.get_session()
    result = cleaning.clean_reviews(
        read_raw_csv(session, lake.raw_path("reviews"), "reviews"),
        read_lake_table(session, lake, "dim_users"),
        read_lake_table(session, lake, "dim_movies"),
    )
    return _clean_whole_table(context, session, lake, result, "fact_reviews")


@dg.asset(key=lake_key("fact_searches"), deps=[raw_key("search_logs")], group_name=GROUP, kinds=KINDS)
def fact_searches(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """Clean search logs, one row per search_id."""
    session = spark.get_session()
    result = cleaning.clean_search_logs(read_raw_csv(session, lake.raw_path("search_logs"), "search_logs"))
    return _clean_whole_table(context, session, lake, result, "fact_searches")


@dg.asset(
    key=lake_key("fact_watch_sessions"),
    deps=[raw_key("watch_history"), lake_key("dim_users"), lake_key("dim_movies")],
    group_name=GROUP,
    kinds=KINDS,
    partitions_def=monthly_partitions,
    backfill_policy=single_run_backfill,
)
def fact_watch_sessions(
    context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource
) -> dg.MaterializeResult:
    """Clean sessions of the run's months, partitioned by month, with user/movie attributes.

    Duplicates are resolved over the whole file, so a session's surviving row does not depend
    on which months a run covers.
    """
    session = spark.get_session()
    months = months_in(context.partition_time_window)
    users = read_lake_table(session, lake, "dim_users")
    movies = read_lake_table(session, lake, "dim_movies")
    result = cleaning.clean_watch_history(
        read_raw_csv(session, lake.raw_path("watch_history"), "watch_history"), users, movies
    ).persisted()
    try:
        counts = result.outcome_counts(by_month=True)
        facts = build_fact_watch_sessions(result.clean, users, movies)
        write_months(session, facts, lake.table_path("fact_watch_sessions"), months)
        replace_rejected_rows(session, lake.lake_uri, "watch_history", result.rejected, context.run_id, months)
    finally:
        result.unpersist()
    in_run = [row for row in counts if row["month"] is None or row["month"] in months]
    clean_in_run = sum(row["count"] for row in in_run if row["outcome"] == "clean")
    clean_elsewhere = sum(row["count"] for row in counts if row["outcome"] == "clean") - clean_in_run
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(lake.table_path("fact_watch_sessions")),
            "months": dg.MetadataValue.json([month.isoformat() for month in months]),
            **outcome_metadata(in_run, clean_in_run),
            "clean_sessions_in_other_months": dg.MetadataValue.int(clean_elsewhere),
        }
    )


lake_assets = [dim_users, dim_movies, fact_reviews, fact_searches, fact_watch_sessions]
