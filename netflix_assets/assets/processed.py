"""``netflix_processed``: the five warehouse tables of SPEC section 6."""


from collections.abc import Callable
from datetime import date

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from netflix_assets.assets.lake import lake_key, months_in, read_lake_table
from netflix_assets.partitions import monthly_partitions, single_run_backfill
from netflix_assets.resources import DuckDBWarehouse, LakeResource, SparkResource
from netflix_assets.transforms import aggregations

DATASET = "netflix_processed"
GROUP = "batch_layer"
KINDS = {"spark", "duckdb"}


def processed_key(table: str) -> dg.AssetKey:
    return dg.AssetKey([DATASET, table])


def _store(
    warehouse: DuckDBWarehouse, table: str, rows: DataFrame, months: tuple[date, date] | None = None
) -> dg.MaterializeResult:
    frame = rows.toPandas()
    written = warehouse.replace_rows(
        DATASET, table, frame, rows.schema, month_column="month" if months else None, months=months
    )
    metadata = {
        "dagster/row_count": dg.MetadataValue.int(written),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(field.name, field.dataType.simpleString()) for field in rows.schema]
        ),
        "table": dg.MetadataValue.text(f"{DATASET}.{table}"),
    }
    if months:
        metadata["months"] = dg.MetadataValue.text(f"[{months[0]}, {months[1]})")
    return dg.MaterializeResult(metadata=metadata)


def _monthly_table(
    table: str,
    description: str,
    build: Callable[[DataFrame, Callable[[str], DataFrame]], DataFrame],
    extra_deps: tuple[str, ...] = (),
) -> dg.AssetsDefinition:
    @dg.asset(
        key=processed_key(table),
        deps=[lake_key("fact_watch_sessions"), *(lake_key(dep) for dep in extra_deps)],
        group_name=GROUP,
        kinds=KINDS,
        partitions_def=monthly_partitions,
        backfill_policy=single_run_backfill,
        description=description,
    )
    def monthly_table(
        context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource, warehouse: DuckDBWarehouse
    ) -> dg.MaterializeResult:
        session = spark.get_session()
        months = months_in(context.partition_time_window)
        in_months = F.col("month").isin(months)
        facts = read_lake_table(session, lake, "fact_watch_sessions").filter(in_months)

        def lake_table(name: str) -> DataFrame:
            frame = read_lake_table(session, lake, name)
            return frame.filter(in_months) if "month" in frame.columns else frame

        window = context.partition_time_window
        return _store(warehouse, table, build(facts, lake_table), (window.start.date(), window.end.date()))

    return monthly_table


monthly_engagement = _monthly_table(
    "monthly_engagement",
    "Sessions, active users, watch time and completion per month, country and subscription plan.",
    lambda facts, _: aggregations.monthly_engagement(facts),
)
monthly_active_users = _monthly_table(
    "monthly_active_users",
    "Distinct active users, their countries, sessions and watch time per month.",
    lambda facts, _: aggregations.monthly_active_users(facts),
)
content_performance = _monthly_table(
    "content_performance",
    "Per month and title: views, viewers, watch time, progress, completion and the month's reviews.",
    lambda facts, lake_table: aggregations.content_performance(
        facts, lake_table("fact_reviews"), lake_table("dim_movies")
    ),
    extra_deps=("fact_reviews", "dim_movies"),
)
genre_performance = _monthly_table(
    "genre_performance",
    "Per month and primary genre: views, viewers, titles, watch time and its share, reviews.",
    lambda facts, lake_table: aggregations.genre_performance(
        facts, lake_table("fact_reviews"), lake_table("dim_movies")
    ),
    extra_deps=("fact_reviews", "dim_movies"),
)


@dg.asset(key=processed_key("cohort_retention"), deps=[lake_key("fact_watch_sessions")], group_name=GROUP, kinds=KINDS)
def cohort_retention(spark: SparkResource, lake: LakeResource, warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """Retention of monthly sign-up cohorts (first session month), over the whole fact history."""
    facts = read_lake_table(spark.get_session(), lake, "fact_watch_sessions")
    return _store(warehouse, "cohort_retention", aggregations.cohort_retention(facts))


processed_assets = [monthly_engagement, monthly_active_users, content_performance, genre_performance, cohort_retention]
