"""The speed layer in Dagster: asset graph, sensor, freshness check and the streaming job itself."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from netflix_assets.assets import streaming
from netflix_assets.assets.streaming import (
    QUARANTINE_KEY,
    REALTIME_KEY,
    STREAM_JOB_NAME,
    TOPIC_KEY,
    engagement_health_realtime_is_fresh,
    engagement_stream_job,
    engagement_stream_sensor,
)
from netflix_assets.definitions import defs
from netflix_assets.resources import DuckDBWarehouseResource, KafkaResource, LakeResource, SparkResource
from netflix_core.contract import ENGAGEMENT_HEALTH_REALTIME
from netflix_core.settings import Settings
from netflix_core.warehouse import MicroBatch, OffsetRangeSummary, utc_now
from netflix_core.warehouse.duckdb_warehouse import DuckDBWarehouse
from netflix_devtools.local_kafka import LocalKafkaBroker, free_port
from producer.producer import produce

pytest.register_assert_rewrite("tests.streaming_fixtures")

from tests.streaming_fixtures import SAMPLE_STREAMING  # noqa: E402

DIM_USERS = dg.AssetKey(["lake", "dim_users"])
DIM_MOVIES = dg.AssetKey(["lake", "dim_movies"])


def resources(settings: Settings, topic: str = "netflix_watch_events") -> dict[str, dg.ConfigurableResource]:
    return {
        "spark": SparkResource.from_settings(settings),
        "lake": LakeResource.from_settings(settings),
        "warehouse": DuckDBWarehouseResource.from_settings(settings),
        "kafka": KafkaResource(bootstrap_servers=settings.kafka_bootstrap_servers, topic=topic),
    }


def test_speed_layer_assets_have_their_kinds_groups_and_deps() -> None:
    definitions = defs
    graph = definitions.resolve_asset_graph()

    topic, realtime, quarantine = graph.get(TOPIC_KEY), graph.get(REALTIME_KEY), graph.get(QUARANTINE_KEY)
    assert (topic.kinds, topic.group_name) == ({"kafka"}, "speed_layer")
    assert (realtime.kinds, realtime.group_name) == ({"spark", "duckdb"}, "speed_layer")
    assert set(realtime.parent_keys) == {TOPIC_KEY, DIM_USERS, DIM_MOVIES}
    assert set(quarantine.parent_keys) == {TOPIC_KEY}
    assert realtime.freshness_policy is not None
    assert dg.AssetCheckKey(REALTIME_KEY, "engagement_health_realtime_is_fresh") in graph.asset_check_keys
    job = definitions.resolve_job_def(STREAM_JOB_NAME)
    assert {"spark", "lake", "warehouse", "kafka"} <= set(job.required_resource_keys)


def test_the_whole_graph_feeds_the_streaming_table_from_the_lake() -> None:
    graph = defs.resolve_asset_graph()

    assert graph.get(DIM_USERS).is_materializable and graph.get(DIM_MOVIES).is_materializable
    assert {REALTIME_KEY, QUARANTINE_KEY} <= graph.get(TOPIC_KEY).child_keys
    assert REALTIME_KEY in graph.get(DIM_USERS).child_keys


# --- the sensor ---------------------------------------------------------------------------------


@pytest.fixture
def evaluate_sensor(kafka_broker: LocalKafkaBroker):
    """The sensor, evaluated with a broker that answers."""

    def evaluate(instance: dg.DagsterInstance) -> dg.RunRequest | dg.SkipReason:
        kafka = KafkaResource(bootstrap_servers=kafka_broker.bootstrap_servers)
        return engagement_stream_sensor(dg.build_sensor_context(instance=instance, resources={"kafka": kafka}))

    return evaluate


def test_sensor_starts_the_job_when_none_ran_yet(evaluate_sensor) -> None:
    with dg.instance_for_test() as instance:
        request = evaluate_sensor(instance)

    assert isinstance(request, dg.RunRequest) and request.run_key == "after-none"


def test_sensor_skips_with_a_hint_while_no_broker_answers() -> None:
    nobody = KafkaResource(bootstrap_servers=f"127.0.0.1:{free_port()}")
    with dg.instance_for_test() as instance:
        result = engagement_stream_sensor(dg.build_sensor_context(instance=instance, resources={"kafka": nobody}))
        runs = instance.get_runs()

    assert isinstance(result, dg.SkipReason)
    assert "no Kafka broker answers" in result.skip_message and "netflix-lambda kafka start" in result.skip_message
    assert runs == []


def test_a_run_without_a_broker_fails_within_seconds_with_one_clear_message(
    streaming_settings: Settings, tmp_path: Path
) -> None:
    import time

    settings = streaming_settings.with_overrides(
        duckdb_path=str(tmp_path / "warehouse.duckdb"), kafka_bootstrap_servers=f"127.0.0.1:{free_port()}"
    )
    started = time.monotonic()
    result = engagement_stream_job.execute_in_process(resources=resources(settings), raise_on_error=False)

    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    assert "no Kafka broker answers" in failure.step_failure_data.error.message
    assert time.monotonic() - started < 60


# (A QUEUED run needs a code-location origin that a test instance cannot give; the sensor's filter has it.)
@pytest.mark.parametrize(
    "status", [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
)
def test_sensor_skips_while_a_run_is_in_flight(evaluate_sensor, status: dg.DagsterRunStatus) -> None:
    with dg.instance_for_test() as instance:
        instance.add_run(dg.DagsterRun(job_name=STREAM_JOB_NAME, status=status))
        result = evaluate_sensor(instance)

    assert isinstance(result, dg.SkipReason) and status.value in result.skip_message


def test_sensor_skips_a_created_run_that_did_not_start_yet(evaluate_sensor) -> None:
    with dg.instance_for_test() as instance:
        created = instance.create_run_for_job(job_def=engagement_stream_job)
        result = evaluate_sensor(instance)

    assert isinstance(result, dg.SkipReason) and created.run_id in result.skip_message


def test_sensor_restarts_a_failed_run_after_the_back_off(evaluate_sensor, monkeypatch: pytest.MonkeyPatch) -> None:
    with dg.instance_for_test() as instance:
        failed = instance.create_run_for_job(job_def=engagement_stream_job)
        instance.report_run_failed(failed)
        just_failed = evaluate_sensor(instance)
        monkeypatch.setattr(streaming, "RESTART_BACKOFF_SECONDS", 0)
        after_back_off = evaluate_sensor(instance)

    assert isinstance(just_failed, dg.SkipReason) and "back-off" in just_failed.skip_message
    assert isinstance(after_back_off, dg.RunRequest) and after_back_off.run_key == f"after-{failed.run_id}"


def test_sensor_restarts_a_run_that_ended(evaluate_sensor) -> None:
    with dg.instance_for_test() as instance:
        ended = instance.add_run(dg.DagsterRun(job_name=STREAM_JOB_NAME, status=dg.DagsterRunStatus.SUCCESS))
        other_job = instance.add_run(dg.DagsterRun(job_name="batch_job", status=dg.DagsterRunStatus.STARTED))
        request = evaluate_sensor(instance)

    assert other_job.job_name != STREAM_JOB_NAME
    assert isinstance(request, dg.RunRequest) and request.run_key == f"after-{ended.run_id}"


# --- the freshness check ------------------------------------------------------------------------


def commit_empty_batch(warehouse: DuckDBWarehouse, committed_at: datetime) -> None:
    offsets = {"netflix_watch_events": {"0": 0}}
    quarantined = pd.DataFrame(columns=["raw_value", "reason", "topic", "partition", "offset", "kafka_timestamp"])
    inputs = OffsetRangeSummary(offsets, offsets, 0, None, None, None, quarantined)
    warehouse.create_streaming_tables()
    empty = pd.DataFrame(columns=list(ENGAGEMENT_HEALTH_REALTIME.column_names))
    warehouse.commit_micro_batch(MicroBatch("query", 0, empty, inputs), committed_at)


@pytest.mark.parametrize(
    ("age", "passed"), [(None, False), (timedelta(seconds=30), True), (timedelta(minutes=10), False)]
)
def test_freshness_check_reads_the_last_commit(tmp_path: Path, age: timedelta | None, passed: bool) -> None:
    warehouse = DuckDBWarehouseResource(path=str(tmp_path / "warehouse.duckdb"))
    committed = utc_now()
    if age is not None:
        commit_empty_batch(warehouse.get_warehouse(), committed - age)

    result = engagement_health_realtime_is_fresh(warehouse=warehouse)

    elapsed = utc_now() - committed
    assert result.passed is passed
    if age is not None:
        seconds = result.metadata["seconds_since_last_commit"].value
        assert age.total_seconds() <= seconds <= (age + elapsed).total_seconds()


# --- the job ------------------------------------------------------------------------------------


def test_the_job_reports_each_committed_batch_as_a_materialization(
    streaming_settings: Settings, kafka_broker: LocalKafkaBroker, tmp_path: Path
) -> None:
    settings = streaming_settings.with_overrides(
        duckdb_path=str(tmp_path / "warehouse.duckdb"),
        checkpoint_uri=str(tmp_path / "checkpoints"),
        kafka_bootstrap_servers=kafka_broker.bootstrap_servers,
    )
    kafka_broker.ensure_topic("dagster_events", 3)
    source = tmp_path / "events"
    source.mkdir()
    (source / "a.json").symlink_to(SAMPLE_STREAMING / "part-00000.json")
    (source / "b.json").write_text("not json\n")
    produce(kafka_broker.bootstrap_servers, source, topic="dagster_events", rate=0, progress=False)

    result = engagement_stream_job.execute_in_process(
        run_config={"ops": {"run_engagement_stream": {"config": {"available_now": True}}}},
        resources=resources(settings, topic="dagster_events"),
    )

    assert result.success
    materializations = result.asset_materializations_for_node("run_engagement_stream")
    realtime = [m for m in materializations if m.asset_key == REALTIME_KEY]
    first = realtime[0].metadata
    assert (first["batch_id"].value, first["input_rows"].value, first["quarantined_rows"].value) == (0, 151, 1)
    assert first["lag_seconds"].value >= 0
    assert [m.metadata["batch_id"].value for m in realtime] == list(range(len(realtime)))
    quarantine = [m for m in materializations if m.asset_key == QUARANTINE_KEY]
    assert [m.metadata["quarantined_rows"].value for m in quarantine] == [1]
