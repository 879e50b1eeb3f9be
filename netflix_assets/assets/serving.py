"""The serving layer (contract section 7b): the batch layer recomputes what the speed layer saw.

``netflix_processed/engagement_health_batch`` recomputes engagement_health_realtime from the
archive, one event day per partition (a backfill of many days is one run); the check
``reconciles_with_speed_layer`` compares it with the speed layer window by window; the serving
view ``netflix_serving/engagement_health`` shows each window from the batch view once its day is
recomputed, from the speed layer until then.
"""

from datetime import date, timedelta

import dagster as dg
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from netflix_assets.assets.streaming import ARCHIVE_KEY, REALTIME_KEY
from netflix_assets.keys import lake_key, processed_key, serving_key
from netflix_assets.partitions import daily_partitions, single_run_backfill
from netflix_assets.resources import LakeResource, SparkResource, WarehouseResource
from netflix_core import contract
from netflix_core.lake import read_archive
from netflix_core.schemas import conform
from netflix_core.serving import batch_watermarks, recomputed_days, rows_of_days, windows_by_source
from netflix_core.transforms.serving import engagement_health_batch as batch_view
from netflix_core.transforms.serving import reconcile, reconciliation_views
from netflix_core.warehouse import Warehouse
from spark_streaming.job import load_dimensions

GROUP = "serving_layer"
BATCH_VIEW = contract.ENGAGEMENT_HEALTH_BATCH
BATCH_VIEW_KEY = processed_key(BATCH_VIEW.name)
SERVING_VIEW_KEY = serving_key(contract.ENGAGEMENT_HEALTH_SERVING.split(".")[1])
RECOMPUTE_JOB_NAME = "recompute_job"
# Windows named in a failed check's description; its metadata lists them all.
NAMED_WINDOWS = 10


def days_between(start: date, end: date) -> list[date]:
    """The days in ``[start, end)``."""
    return [start + timedelta(days=offset) for offset in range((end - start).days)]


@dg.asset(
    key=BATCH_VIEW_KEY,
    deps=[ARCHIVE_KEY, lake_key(contract.DIM_USERS), lake_key(contract.DIM_MOVIES)],
    group_name=GROUP,
    kinds={"spark"},
    partitions_def=daily_partitions,
    backfill_policy=single_run_backfill,
)
def engagement_health_batch(
    context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """engagement_health_realtime recomputed from the archive per event day, with the speed layer's
    rules and exact distinct users; late events included. Writing a day switches it to 'batch' in
    the serving view, in the same transaction."""
    window = context.partition_time_window
    first, end = window.start.date(), window.end.date()
    session = spark.get_session()
    users, movies = load_dimensions(session, lake.paths)
    rows = batch_view(read_archive(session, lake.paths, days_between(first, end)), users, movies)
    frame = conform(rows, BATCH_VIEW).toPandas()
    written = warehouse.get_warehouse().replace_days(BATCH_VIEW, frame, (first, end))
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(written),
            "table": dg.MetadataValue.text(BATCH_VIEW.qualified_name),
            "days": dg.MetadataValue.text(f"[{first}, {end})"),
            "days_with_rows": dg.MetadataValue.int(int(frame["window_start"].dt.date.nunique())),
            "windows": dg.MetadataValue.int(int(frame["window_start"].nunique())),
            "sessions": dg.MetadataValue.int(int(frame["total_sessions"].sum())),
        }
    )


@dg.asset_check(
    asset=BATCH_VIEW_KEY,
    name="reconciles_with_speed_layer",
    additional_deps=[REALTIME_KEY],
    description=(
        "Per window of each recomputed day: counts equal the speed layer's exactly once the events it "
        "dropped as late are taken out (they are counted and reported), unique users within "
        "HyperLogLog's error; a difference fails and names the windows."
    ),
)
def reconciles_with_speed_layer(
    context: dg.AssetCheckExecutionContext,
    spark: SparkResource,
    lake: LakeResource,
    warehouse: WarehouseResource,
) -> dg.AssetCheckResult:
    store = warehouse.get_warehouse()
    days = _days_to_check(context, store)
    if not days:
        return dg.AssetCheckResult(passed=True, description="no recomputed day to check yet")
    session = spark.get_session()
    users, movies = load_dimensions(session, lake.paths)
    archived = read_archive(session, lake.paths, days)
    recomputed, counted = reconciliation_views(archived, _stream_batches(session, store), users, movies)
    outcome = reconcile(
        rows_of_days(store, BATCH_VIEW, days),
        rows_of_days(store, contract.ENGAGEMENT_HEALTH_REALTIME, days),
        recomputed.toPandas(),
        counted.toPandas(),
    )
    differing = list(outcome.differences)
    description = (
        f"{outcome.windows} windows of {len(days)} days agree"
        if outcome.passed
        else f"{len(differing)} of {outcome.windows} windows differ: {', '.join(differing[:NAMED_WINDOWS])}"
        + (" and more (mismatched_windows lists them)" if len(differing) > NAMED_WINDOWS else "")
    )
    return dg.AssetCheckResult(
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata={
            "days_checked": dg.MetadataValue.text(f"{days[0]} to {days[-1]}"),
            "windows_checked": dg.MetadataValue.int(outcome.windows),
            "late_events": dg.MetadataValue.int(outcome.late_events),
            "late_events_by_window": dg.MetadataValue.json(outcome.late_events_by_window),
            "mismatched_windows": dg.MetadataValue.json(outcome.differences),
            "max_unique_users_error": dg.MetadataValue.float(outcome.max_unique_users_error),
        },
    )


def _days_to_check(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> list[date]:
    """The recomputed days of the run's range, or, run on its own, every recomputed day."""
    days = recomputed_days(warehouse)
    run = context.op_execution_context
    if run.has_partition_key_range:
        keys = run.partition_key_range
        first, last = date.fromisoformat(keys.start), date.fromisoformat(keys.end)
        days = [day for day in days if first <= day <= last]
    return days


def _stream_batches(spark: SparkSession, warehouse: Warehouse) -> DataFrame:
    """(query_id, batch_id, max_event_time) of the committed micro-batches, as Spark rows."""
    # Epoch microseconds: Spark would read a naive datetime in this process's time zone.
    frame = spark.createDataFrame(batch_watermarks(warehouse), "query_id string, batch_id bigint, newest bigint")
    return frame.select("query_id", "batch_id", F.timestamp_micros("newest").alias("max_event_time"))


@dg.asset(
    key=SERVING_VIEW_KEY,
    deps=[BATCH_VIEW_KEY, REALTIME_KEY],
    group_name=GROUP,
)
def engagement_health_serving(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """What "engagement so far" reads: per 5-minute window the batch view's rows where the day was
    recomputed, the speed layer's otherwise, with `source` ('batch' or 'speed'). A view, so it is
    current at every read; materializing it (re)creates it and reports where its windows come from."""
    store = warehouse.get_warehouse()
    store.create_serving_view()
    windows = windows_by_source(store)
    return dg.MaterializeResult(
        metadata={
            "view": dg.MetadataValue.text(contract.ENGAGEMENT_HEALTH_SERVING),
            "batch_windows": dg.MetadataValue.int(windows.get(contract.BATCH_SOURCE, 0)),
            "speed_windows": dg.MetadataValue.int(windows.get(contract.SPEED_SOURCE, 0)),
        }
    )


recompute_job = dg.define_asset_job(
    RECOMPUTE_JOB_NAME,
    selection=dg.AssetSelection.groups(GROUP),
    description="The batch view of the speed layer's archive for a range of days (one run), its "
    "reconciliation, then the serving view.",
)

serving_layer_assets = [engagement_health_batch, engagement_health_serving]
serving_layer_checks = [reconciles_with_speed_layer]
serving_layer_jobs = [recompute_job]
