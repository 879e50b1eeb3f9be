"""The Dagster code location: both layers in one asset graph (``workspace.yaml`` loads this)."""


import dagster as dg

from netflix_assets.assets.lake import lake_assets
from netflix_assets.assets.processed import processed_assets
from netflix_assets.assets.raw import raw_assets, raw_checks
from netflix_assets.assets import streaming
from netflix_assets.checks import batch_checks
from netflix_assets.partitions import monthly_partitions
from netflix_assets.resources import resources_for
from netflix_assets.settings import Settings, load_settings

BATCH_GROUPS = ("raw", "lake", "batch_layer")

batch_job = dg.define_asset_job(
    "batch_job",
    selection=dg.AssetSelection.groups(*BATCH_GROUPS),
    partitions_def=monthly_partitions,
    description="The whole batch layer for a range of months, in one run with one Spark session.",
)


@dg.schedule(job=batch_job, cron_schedule="0 4 * * *", execution_timezone="UTC")
def refresh_current_month(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Daily: the current month keeps filling, so its partition is rebuilt every night."""
    month = context.scheduled_execution_time.strftime("%Y-%m-01")
    return dg.RunRequest(run_key=f"refresh-{context.scheduled_execution_time:%Y-%m-%d}", partition_key=month)


def build_definitions(settings: Settings) -> dg.Definitions:
    """Both layers in one graph: the speed layer's assets depend on the batch layer's dimensions."""
    batch_layer = dg.Definitions(
        assets=[*raw_assets, *lake_assets, *processed_assets],
        asset_checks=[*raw_checks, *batch_checks],
        jobs=[batch_job],
        schedules=[refresh_current_month],
        resources=resources_for(settings),
        # Every step of a run shares the process, hence one SparkSession (one JVM) per run.
        executor=dg.in_process_executor,
    )
    return dg.Definitions.merge(batch_layer, streaming.speed_layer_defs)


defs = build_definitions(load_settings())
