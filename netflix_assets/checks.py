"""Data-quality asset checks of SPEC section 9 for the batch layer.

Key integrity is blocking at ERROR severity: a broken input stops the tables built from it.
"""


import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from netflix_assets.assets.lake import lake_key, read_lake_table
from netflix_assets.assets.processed import DATASET, processed_key
from netflix_assets.lake_io import read_rejected_rows
from netflix_assets.resources import DuckDBWarehouse, LakeResource, SparkResource
from netflix_assets.schemas import DEVICE_TYPES, SUBSCRIPTION_PLANS
from netflix_assets.transforms.churn import ACTIONS, QUALITIES

# Share of a fact's rows that may point at an unknown user or movie before the check fails.
UNKNOWN_KEY_SHARE_THRESHOLD = 0.05


def key_violations(frame: DataFrame, key: str) -> dict[str, int]:
    row = frame.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count_distinct(F.col(key)).alias("distinct_keys"),
        F.sum(F.col(key).isNull().cast("long")).alias("null_keys"),
    ).first()
    rows, distinct, nulls = row["rows"], row["distinct_keys"], row["null_keys"] or 0
    return {"rows": rows, "null_keys": nulls, "duplicate_keys": rows - nulls - distinct}


def _key_check(table: str, key: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=lake_key(table),
        name=f"{key}_not_null_and_unique",
        blocking=True,
        description=f"Every {table} row has a {key}, and no {key} appears twice.",
    )
    def key_check(spark: SparkResource, lake: LakeResource) -> dg.AssetCheckResult:
        violations = key_violations(read_lake_table(spark.get_session(), lake, table), key)
        return dg.AssetCheckResult(
            passed=violations["null_keys"] == 0 and violations["duplicate_keys"] == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata=violations,
        )

    return key_check


def _accepted_values_check(table: str, allowed: dict[str, tuple[str, ...]]) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=lake_key(table),
        name="accepted_values",
        description="; ".join(f"{column} in {', '.join(values)}" for column, values in allowed.items()),
    )
    def accepted_values(spark: SparkResource, lake: LakeResource) -> dg.AssetCheckResult:
        frame = read_lake_table(spark.get_session(), lake, table)
        counts = frame.agg(
            *[
                F.sum((F.col(column).isNotNull() & ~F.col(column).isin(*values)).cast("long")).alias(column)
                for column, values in allowed.items()
            ]
        ).first()
        unexpected = {column: counts[column] or 0 for column in allowed}
        return dg.AssetCheckResult(
            passed=not any(unexpected.values()), severity=dg.AssetCheckSeverity.WARN, metadata=unexpected
        )

    return accepted_values


def _range_check(table: str, column: str, low: float, high: float) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=lake_key(table), name=f"{column}_in_range", description=f"{column} within [{low}, {high}].")
    def range_check(spark: SparkResource, lake: LakeResource) -> dg.AssetCheckResult:
        frame = read_lake_table(spark.get_session(), lake, table)
        outside = frame.filter(~F.col(column).between(low, high)).count()
        return dg.AssetCheckResult(passed=outside == 0, metadata={"rows_outside": outside})

    return range_check


def _unknown_keys_check(fact: str, source_table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=lake_key(fact),
        name="referential_integrity",
        description=(
            f"Rows of {source_table} rejected as unknown_user/unknown_movie stay under "
            f"{UNKNOWN_KEY_SHARE_THRESHOLD:.0%} of its clean rows."
        ),
    )
    def referential_integrity(spark: SparkResource, lake: LakeResource) -> dg.AssetCheckResult:
        session = spark.get_session()
        clean_rows = read_lake_table(session, lake, fact).count()
        unknown = {
            row["reason"]: row["count"]
            for row in read_rejected_rows(session, lake.lake_uri)
            .filter((F.col("source_table") == source_table) & F.col("reason").isin("unknown_user", "unknown_movie"))
            .groupBy("reason")
            .count()
            .collect()
        }
        share = sum(unknown.values()) / max(clean_rows + sum(unknown.values()), 1)
        return dg.AssetCheckResult(
            passed=share <= UNKNOWN_KEY_SHARE_THRESHOLD,
            metadata={"clean_rows": clean_rows, "unknown_key_share": share, **unknown},
        )

    return referential_integrity


@dg.asset_check(
    asset=processed_key("monthly_engagement"),
    name="reconciles_with_fact_partitions",
    description="For each month, total_sessions sums to the row count of the fact's month partition.",
)
def monthly_engagement_reconciles(
    spark: SparkResource, lake: LakeResource, warehouse: DuckDBWarehouse
) -> dg.AssetCheckResult:
    fact_counts = {
        row["month"].isoformat(): row["count"]
        for row in read_lake_table(spark.get_session(), lake, "fact_watch_sessions").groupBy("month").count().collect()
    }
    table_counts = warehouse.query(
        f"SELECT CAST(month AS VARCHAR) AS month, SUM(total_sessions) AS sessions "
        f"FROM {DATASET}.monthly_engagement GROUP BY month"
    )
    mismatched = {
        row.month: {"table": int(row.sessions), "fact": fact_counts.get(row.month, 0)}
        for row in table_counts.itertuples()
        if int(row.sessions) != fact_counts.get(row.month, 0)
    }
    return dg.AssetCheckResult(
        passed=not mismatched,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"months_checked": len(table_counts), "mismatched_months": dg.MetadataValue.json(mismatched)},
    )


batch_checks = [
    _key_check("dim_users", "user_id"),
    _key_check("dim_movies", "movie_id"),
    _key_check("fact_watch_sessions", "session_id"),
    _key_check("fact_reviews", "review_id"),
    _key_check("fact_searches", "search_id"),
    _accepted_values_check("dim_users", {"subscription_plan": SUBSCRIPTION_PLANS, "primary_device": DEVICE_TYPES}),
    _accepted_values_check(
        "fact_watch_sessions", {"action": ACTIONS, "quality": QUALITIES, "device_type": DEVICE_TYPES}
    ),
    _range_check("fact_watch_sessions", "progress_percentage", 0, 100),
    _range_check("fact_reviews", "rating", 1, 5),
    _unknown_keys_check("fact_watch_sessions", "watch_history"),
    _unknown_keys_check("fact_reviews", "reviews"),
    monthly_engagement_reconciles,
]
