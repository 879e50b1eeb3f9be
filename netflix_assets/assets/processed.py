"""``netflix_processed``: the five warehouse tables of contract section 6."""

from collections.abc import Callable
from datetime import date

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from netflix_assets.keys import lake_key, processed_key
from netflix_assets.partitions import monthly_partitions, single_run_backfill
from netflix_assets.resources import LakeResource, SparkResource, WarehouseResource
from netflix_core import contract
from netflix_core.contract import WarehouseTable
from netflix_core.lake import months_between, read_table
from netflix_core.schemas import conform
from netflix_core.transforms import monthly_tables

GROUP = "batch_layer"
# The warehouse adds its own kind (duckdb, bigquery): netflix_assets/definitions.py.
KINDS = {"spark"}


def _store(
    warehouse: WarehouseResource, table: WarehouseTable, rows: DataFrame, months: tuple[date, date] | None = None
) -> dg.MaterializeResult:
    conformed = conform(rows, table)
    written = warehouse.get_warehouse().replace_rows(table, conformed.toPandas(), months)
    metadata = {
        "dagster/row_count": dg.MetadataValue.int(written),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(column.name, column.type) for column in table.columns]
        ),
        "table": dg.MetadataValue.text(table.qualified_name),
    }
    if months:
        metadata["months"] = dg.MetadataValue.text(f"[{months[0]}, {months[1]})")
    return dg.MaterializeResult(metadata=metadata)


def _monthly_table(
    table: WarehouseTable,
    description: str,
    build: Callable[[DataFrame, Callable[[str], DataFrame]], DataFrame],
    extra_deps: tuple[str, ...] = (),
) -> dg.AssetsDefinition:
    @dg.asset(
        key=processed_key(table.name),
        deps=[lake_key(contract.FACT_WATCH_SESSIONS), *(lake_key(dep) for dep in extra_deps)],
        group_name=GROUP,
        kinds=KINDS,
        partitions_def=monthly_partitions,
        backfill_policy=single_run_backfill,
        description=description,
    )
    def monthly_table(
        context: dg.AssetExecutionContext,
        spark: SparkResource,
        lake: LakeResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        session = spark.get_session()
        window = context.partition_time_window
        in_months = F.col("month").isin(months_between(window.start.date(), window.end.date()))
        facts = read_table(session, lake.paths, contract.FACT_WATCH_SESSIONS).filter(in_months)

        def lake_table(name: str) -> DataFrame:
            frame = read_table(session, lake.paths, name)
            return frame.filter(in_months) if "month" in frame.columns else frame

        return _store(warehouse, table, build(facts, lake_table), (window.start.date(), window.end.date()))

    return monthly_table


monthly_engagement = _monthly_table(
    contract.MONTHLY_ENGAGEMENT,
    "Sessions, active users, watch time and completion per month, country and subscription plan.",
    lambda facts, _: monthly_tables.monthly_engagement(facts),
)
monthly_active_users = _monthly_table(
    contract.MONTHLY_ACTIVE_USERS,
    "Distinct active users, their countries, sessions and watch time per month.",
    lambda facts, _: monthly_tables.monthly_active_users(facts),
)
content_performance = _monthly_table(
    contract.CONTENT_PERFORMANCE,
    "Per month and title: views, viewers, watch time, progress, completion and the month's reviews.",
    lambda facts, lake_table: monthly_tables.content_performance(
        facts, lake_table(contract.FACT_REVIEWS), lake_table(contract.DIM_MOVIES)
    ),
    extra_deps=(contract.FACT_REVIEWS, contract.DIM_MOVIES),
)
genre_performance = _monthly_table(
    contract.GENRE_PERFORMANCE,
    "Per month and primary genre: views, viewers, titles, watch time and its share, reviews.",
    lambda facts, lake_table: monthly_tables.genre_performance(
        facts, lake_table(contract.FACT_REVIEWS), lake_table(contract.DIM_MOVIES)
    ),
    extra_deps=(contract.FACT_REVIEWS, contract.DIM_MOVIES),
)


@dg.asset(
    key=processed_key(contract.COHORT_RETENTION.name),
    deps=[lake_key(contract.FACT_WATCH_SESSIONS)],
    group_name=GROUP,
    kinds=KINDS,
)
def cohort_retention(spark: SparkResource, lake: LakeResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Retention of monthly sign-up cohorts (first session month), over the whole fact history."""
    facts = read_table(spark.get_session(), lake.paths, contract.FACT_WATCH_SESSIONS)
    return _store(warehouse, contract.COHORT_RETENTION, monthly_tables.cohort_retention(facts))


processed_assets = [monthly_engagement, monthly_active_users, content_performance, genre_performance, cohort_retention]
