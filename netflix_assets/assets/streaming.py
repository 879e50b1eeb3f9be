"""The speed layer in Dagster: the Kafka topic, the streaming tables, and the job that keeps them fresh.

The streaming query is not an asset computation that starts and ends: it runs inside the op of
``engagement_stream_job`` for as long as the run lives, and reports every committed micro-batch
as a materialization of ``netflix_streaming/engagement_health_realtime``. The sensor
``engagement_stream_sensor`` starts that job whenever no run of it is in flight, so a failed
run is replaced within about a minute.
"""

import queue
import time
from datetime import timedelta

import dagster as dg
from pyspark.sql.streaming import StreamingQuery

from netflix_assets.keys import TOPIC_KEY, lake_key, streaming_key
from netflix_assets.resources import KafkaResource, LakeResource, SparkResource, WarehouseResource
from netflix_core import contract
from netflix_core.kafka import NO_BROKER_HINT, broker_problem
from netflix_core.warehouse import BatchReport, offsets_json, utc_now
from spark_streaming.job import BrokerUnreachableError, require_broker, start_stream

GROUP = "speed_layer"
REALTIME_KEY = streaming_key(contract.ENGAGEMENT_HEALTH_REALTIME.name)
QUARANTINE_KEY = streaming_key(contract.QUARANTINED_EVENTS.name)
ARCHIVE_KEY = lake_key(contract.WATCH_EVENTS_ARCHIVE)
DIMENSION_KEYS = (lake_key(contract.DIM_USERS), lake_key(contract.DIM_MOVIES))

STREAM_JOB_NAME = "engagement_stream_job"
# A micro-batch commits every 10 s while events flow; 5 minutes without one means the stream
# (or the producer) is down.
FRESHNESS_LIMIT = timedelta(minutes=5)
FRESHNESS_WARN_AFTER = timedelta(minutes=1)
# After a failed run, wait this long before starting another: a broker that is down would
# otherwise fail a new run on every sensor tick.
RESTART_BACKOFF_SECONDS = 60
# How often the op wakes up to turn committed batches into materializations.
REPORT_POLL_SECONDS = 1.0

watch_events_topic = dg.AssetSpec(
    TOPIC_KEY,
    description="Kafka topic of watch events (3 partitions, keyed by user_id), filled by `netflix-lambda produce`.",
    group_name=GROUP,
    kinds={"kafka"},
)

engagement_health_realtime = dg.AssetSpec(
    REALTIME_KEY,
    description=(
        "Engagement health per 5-minute event-time window and (country, genre, device, quality, "
        "original, content type), upserted exactly once per micro-batch by engagement_stream_job."
    ),
    deps=[TOPIC_KEY, *DIMENSION_KEYS],
    group_name=GROUP,
    kinds={"spark"},
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=FRESHNESS_LIMIT, warn_window=FRESHNESS_WARN_AFTER),
)

quarantined_events = dg.AssetSpec(
    QUARANTINE_KEY,
    description=(
        "Malformed watch events kept with their reason and Kafka coordinates, "
        "written in the same transactions as the real-time table."
    ),
    deps=[TOPIC_KEY],
    group_name=GROUP,
    kinds={"spark"},
)

watch_events_archive = dg.AssetSpec(
    ARCHIVE_KEY,
    description=(
        "Every valid watch event the streaming job read, one Parquet row per Kafka record, under "
        "event_date/query_id/batch_id folders; written by each micro-batch before its warehouse "
        "transaction, exactly once. The batch layer recomputes the speed layer's days from it."
    ),
    deps=[TOPIC_KEY],
    group_name=GROUP,
    kinds={"spark", "parquet"},
)


@dg.asset_check(
    asset=REALTIME_KEY,
    description=f"The last micro-batch was committed to the warehouse less than {FRESHNESS_LIMIT} ago.",
)
def engagement_health_realtime_is_fresh(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    latest = warehouse.get_warehouse().latest_batch()
    if latest is None:
        return dg.AssetCheckResult(
            passed=False, severity=dg.AssetCheckSeverity.WARN, description="no micro-batch committed yet"
        )
    age = utc_now() - latest.committed_at
    return dg.AssetCheckResult(
        passed=age <= FRESHNESS_LIMIT,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "last_batch_id": dg.MetadataValue.int(latest.batch_id),
            "last_committed_at": dg.MetadataValue.text(f"{latest.committed_at.isoformat()}Z"),
            "seconds_since_last_commit": dg.MetadataValue.float(age.total_seconds()),
        },
    )


freshness_check_job = dg.define_asset_job(
    "engagement_freshness_check_job",
    selection=dg.AssetSelection.checks(engagement_health_realtime_is_fresh),
    description="Runs the freshness check of the real-time table.",
)

freshness_check_schedule = dg.ScheduleDefinition(
    name="engagement_freshness_check_schedule",
    job=freshness_check_job,
    cron_schedule="*/5 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


class StreamConfig(dg.Config):
    """The micro-batch interval, or ``available_now`` to process what the topic holds and end the run."""

    trigger_seconds: float = contract.DEFAULT_TRIGGER_SECONDS
    available_now: bool = False


def batch_materializations(report: BatchReport) -> list[dg.AssetMaterialization]:
    """What Dagster records for one committed micro-batch."""
    metadata = {
        "batch_id": dg.MetadataValue.int(report.batch_id),
        "query_id": dg.MetadataValue.text(report.query_id),
        "input_rows": dg.MetadataValue.int(report.input_rows),
        "quarantined_rows": dg.MetadataValue.int(report.quarantined_rows),
        "upserted_rows": dg.MetadataValue.int(report.upserted_rows),
        "end_offsets": dg.MetadataValue.text(offsets_json(report.end_offsets)),
    }
    if report.lag_seconds is not None:
        metadata["lag_seconds"] = dg.MetadataValue.float(report.lag_seconds)
    if report.max_event_time is not None:
        metadata["max_event_time"] = dg.MetadataValue.text(report.max_event_time.isoformat())
    materializations = [dg.AssetMaterialization(asset_key=REALTIME_KEY, metadata=metadata)]
    archived = report.input_rows - report.quarantined_rows
    if archived:
        materializations.append(
            dg.AssetMaterialization(
                asset_key=ARCHIVE_KEY,
                metadata={
                    "batch_id": dg.MetadataValue.int(report.batch_id),
                    "archived_rows": dg.MetadataValue.int(archived),
                },
            )
        )
    if report.quarantined_rows:
        materializations.append(
            dg.AssetMaterialization(
                asset_key=QUARANTINE_KEY,
                metadata={
                    "batch_id": dg.MetadataValue.int(report.batch_id),
                    "quarantined_rows": dg.MetadataValue.int(report.quarantined_rows),
                },
            )
        )
    return materializations


def _log_committed_batches(context: dg.OpExecutionContext, reports: queue.Queue[BatchReport]) -> None:
    while not reports.empty():
        for materialization in batch_materializations(reports.get()):
            context.log_event(materialization)


def _report_until_stopped(context: dg.OpExecutionContext, query: StreamingQuery, reports: queue.Queue) -> None:
    # Batches commit on Spark's callback thread; Dagster events are logged here, on the op's thread.
    try:
        while not query.awaitTermination(REPORT_POLL_SECONDS):
            _log_committed_batches(context, reports)
    finally:
        _log_committed_batches(context, reports)


@dg.op(description="Runs the streaming query until it stops; a failure fails the run, which the sensor replaces.")
def run_engagement_stream(
    context: dg.OpExecutionContext,
    config: StreamConfig,
    spark: SparkResource,
    lake: LakeResource,
    warehouse: WarehouseResource,
    kafka: KafkaResource,
) -> None:
    try:
        require_broker(kafka.bootstrap_servers)
    except BrokerUnreachableError as error:
        raise dg.Failure(str(error)) from None
    reports: queue.Queue[BatchReport] = queue.Queue()
    query = start_stream(
        spark.get_session(),
        lake.paths,
        warehouse.get_warehouse(),
        kafka.watch_events,
        trigger_seconds=config.trigger_seconds,
        available_now=config.available_now,
        on_batch=reports.put,
    )
    context.log.info(f"streaming query {query.id} started (checkpoint {lake.paths.checkpoint_path(query.name)})")
    try:
        _report_until_stopped(context, query, reports)
    finally:
        if query.isActive:
            query.stop()


@dg.job(name=STREAM_JOB_NAME, description="The speed layer: Kafka -> Spark Structured Streaming -> netflix_streaming.")
def engagement_stream_job() -> None:
    run_engagement_stream()


IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


@dg.sensor(
    job=engagement_stream_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Keeps one run of engagement_stream_job going: starts it when none is queued or running.",
)
def engagement_stream_sensor(
    context: dg.SensorEvaluationContext, kafka: KafkaResource
) -> dg.RunRequest | dg.SkipReason:
    instance = context.instance
    in_flight = instance.get_runs(filters=dg.RunsFilter(job_name=STREAM_JOB_NAME, statuses=IN_FLIGHT), limit=1)
    if in_flight:
        return dg.SkipReason(f"run {in_flight[0].run_id} is {in_flight[0].status.value}")
    latest = instance.get_run_records(filters=dg.RunsFilter(job_name=STREAM_JOB_NAME), limit=1)
    if latest and latest[0].dagster_run.status == dg.DagsterRunStatus.FAILURE:
        waited = time.time() - (latest[0].end_time or 0)
        if waited < RESTART_BACKOFF_SECONDS:
            failed = latest[0].dagster_run.run_id
            return dg.SkipReason(f"run {failed} failed {waited:.0f} s ago; retrying after a back-off")
    problem = broker_problem(kafka.bootstrap_servers)
    if problem:
        return dg.SkipReason(f"{problem}: {NO_BROKER_HINT}")
    # One request per finished run: a tick evaluated twice cannot start two replacements.
    previous = latest[0].dagster_run.run_id if latest else "none"
    return dg.RunRequest(run_key=f"after-{previous}")


speed_layer_assets = [watch_events_topic, engagement_health_realtime, quarantined_events, watch_events_archive]
speed_layer_checks = [engagement_health_realtime_is_fresh]
speed_layer_jobs = [engagement_stream_job, freshness_check_job]
speed_layer_schedules = [freshness_check_schedule]
speed_layer_sensors = [engagement_stream_sensor]
