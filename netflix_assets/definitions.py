"""The Dagster code location: both layers in one asset graph (``workspace.yaml`` loads this)."""

from collections.abc import Callable

import dagster as dg

from netflix_assets.assets import serving, streaming
from netflix_assets.assets.lake import lake_assets
from netflix_assets.assets.processed import processed_assets
from netflix_assets.assets.raw import raw_assets
from netflix_assets.checks import batch_checks
from netflix_assets.resources import resources_for
from netflix_core.contract import WAREHOUSE_DATASETS
from netflix_core.settings import Settings, load_settings

BATCH_GROUPS = ("raw", "lake", "batch_layer")

batch_job = dg.define_asset_job(
    "batch_job",
    selection=dg.AssetSelection.groups(*BATCH_GROUPS),
    description="The whole batch layer for a range of months, in one run with one Spark session.",
)


@dg.schedule(
    job=batch_job, cron_schedule="0 4 * * *", execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.RUNNING
)
def refresh_current_month(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Daily: the current month keeps filling, so its partition is rebuilt every night."""
    month = context.scheduled_execution_time.strftime("%Y-%m-01")
    return dg.RunRequest(run_key=f"refresh-{context.scheduled_execution_time:%Y-%m-%d}", partition_key=month)


def stored_in(warehouse_kind: str) -> Callable[[dg.AssetSpec], dg.AssetSpec]:
    """Adds the warehouse's kind (duckdb, bigquery) to the assets whose key names a warehouse dataset."""

    def add_kind(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.key.path[0] not in WAREHOUSE_DATASETS:
            return spec
        return spec.merge_attributes(kinds={warehouse_kind})

    return add_kind


def build_definitions(settings: Settings) -> dg.Definitions:
    """Both layers in one graph: the speed layer's assets depend on the batch layer's dimensions, the
    serving layer's on both."""
    resources = resources_for(settings)
    assets = [
        *raw_assets,
        *lake_assets,
        *processed_assets,
        *streaming.speed_layer_assets,
        *serving.serving_layer_assets,
    ]
    return dg.Definitions(
        assets=dg.map_asset_specs(stored_in(resources["warehouse"].kind), assets),
        asset_checks=[*batch_checks, *streaming.speed_layer_checks, *serving.serving_layer_checks],
        jobs=[batch_job, *streaming.speed_layer_jobs, *serving.serving_layer_jobs],
        schedules=[refresh_current_month, *streaming.speed_layer_schedules],
        sensors=streaming.speed_layer_sensors,
        resources=resources,
        # Every step of a run shares the process, hence one SparkSession (one JVM) per run.
        executor=dg.in_process_executor,
    )


defs = build_definitions(load_settings())
