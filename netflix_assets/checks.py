"""The batch layer's cross-table checks (contract section 9).

A table's own key, accepted-value and range checks run in the step that builds it
(``assets/lake.py``); the checks here compare tables with one another.
"""

import dagster as dg
from pyspark.sql import functions as F

from netflix_assets.keys import lake_key, processed_key
from netflix_assets.resources import LakeResource, SparkResource, WarehouseResource
from netflix_core import contract
from netflix_core.lake import read_rejected_rows, read_table

# Share of a fact's rows that may point at an unknown user or movie before the check fails.
UNKNOWN_KEY_SHARE_THRESHOLD = 0.05


def _unknown_keys_check(fact: str, source_table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=lake_key(fact),
        name="referential_integrity",
        description=(
            f"Rows of {source_table} rejected as unknown_user/unknown_movie are at most "
            f"{UNKNOWN_KEY_SHARE_THRESHOLD:.0%} of its rows with known keys and unknown ones."
        ),
    )
    def referential_integrity(spark: SparkResource, lake: LakeResource) -> dg.AssetCheckResult:
        session = spark.get_session()
        clean_rows = read_table(session, lake.paths, fact).count()
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
    asset=processed_key(contract.MONTHLY_ENGAGEMENT.name),
    name="reconciles_with_fact_partitions",
    description="For each month, total_sessions sums to the row count of the fact's month partition.",
)
def monthly_engagement_reconciles(
    spark: SparkResource, lake: LakeResource, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    fact_counts = {
        row["month"].isoformat(): row["count"]
        for row in read_table(spark.get_session(), lake.paths, contract.FACT_WATCH_SESSIONS)
        .groupBy("month")
        .count()
        .collect()
    }
    # STRING: a type name both DuckDB and BigQuery know.
    table_counts = warehouse.get_warehouse().query(
        f"SELECT CAST(month AS STRING) AS month, SUM(total_sessions) AS sessions "
        f"FROM {contract.MONTHLY_ENGAGEMENT.qualified_name} GROUP BY month"
    )
    table_sessions = {row.month: int(row.sessions) for row in table_counts.itertuples()}
    # Both ways: a month of facts the table lacks is as wrong as a month the facts lack.
    months = sorted(table_sessions.keys() | fact_counts.keys())
    mismatched = {
        month: {"table": table_sessions.get(month, 0), "fact": fact_counts.get(month, 0)}
        for month in months
        if table_sessions.get(month, 0) != fact_counts.get(month, 0)
    }
    return dg.AssetCheckResult(
        passed=not mismatched,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"months_checked": len(months), "mismatched_months": dg.MetadataValue.json(mismatched)},
    )


batch_checks = [
    _unknown_keys_check(contract.FACT_WATCH_SESSIONS, "watch_history"),
    _unknown_keys_check(contract.FACT_REVIEWS, "reviews"),
    monthly_engagement_reconciles,
]
