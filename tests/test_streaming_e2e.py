"""The speed layer end to end: a real Kafka broker, real Spark streaming, a real DuckDB file.

Every check compares the warehouse with an independent computation (tests/streaming_fixtures.py)
over the messages read back from the topic, so nothing may be lost, invented or counted twice.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from kafka import KafkaProducer
from pyspark.errors import StreamingQueryException
from pyspark.sql import SparkSession

from netflix_core.kafka import KafkaTopic
from netflix_core.lake import LakePaths
from netflix_core.settings import Settings
from netflix_core.transforms.cleaning import clean_movies, clean_users
from netflix_core.transforms.raw_files import read_raw_csv
from netflix_core.warehouse import BatchReport, Warehouse, WarehouseError
from netflix_core.warehouse.duckdb_warehouse import DuckDBWarehouse
from netflix_devtools.local_kafka import LocalKafkaBroker
from producer.producer import produce
from spark_streaming.job import QUERY_NAME, start_stream
from spark_streaming.sink import EngagementSink, SparkCheckpoint

pytest.register_assert_rewrite("tests.streaming_fixtures")

from tests.streaming_fixtures import (  # noqa: E402
    SAMPLE_EVENTS,
    SAMPLE_RAW,
    SAMPLE_STREAMING,
    assert_matches_reference,
    event,
    malformed_messages,
    message,
    read_topic,
    reference_dimensions,
    reference_for_records,
    topic_end_offsets,
)

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class SpeedLayer:
    """One isolated speed layer: its own topic, lake, checkpoint and warehouse file."""

    lake: LakePaths
    warehouse: Warehouse
    kafka: KafkaTopic

    @property
    def streaming_warehouse(self) -> Warehouse:
        return self.warehouse

    @property
    def checkpoint(self) -> str:
        return self.lake.checkpoint_path(QUERY_NAME)


def new_speed_layer(root: Path, broker: LocalKafkaBroker, topic: str) -> SpeedLayer:
    broker.ensure_topic(topic, 3)
    return SpeedLayer(
        lake=LakePaths(raw_uri=str(SAMPLE_RAW), lake_uri=str(root / "lake"), checkpoint_uri=str(root / "checkpoints")),
        warehouse=DuckDBWarehouse(path=str(root / "warehouse.duckdb")),
        kafka=KafkaTopic(bootstrap_servers=broker.bootstrap_servers, topic=topic),
    )


def table(warehouse: Warehouse, name: str, order_by: list[str] | None = None) -> pd.DataFrame:
    """A streaming table through the interface (DuckDB or BigQuery), sorted by ``order_by`` (all columns by default)."""
    rows = warehouse.query(f"SELECT * FROM netflix_streaming.{name}")
    return rows.sort_values(order_by or list(rows.columns)).reset_index(drop=True)


def realtime_rows(warehouse: Warehouse) -> pd.DataFrame:
    return table(warehouse, "engagement_health_realtime")


def run_available_now(
    spark: SparkSession, layer: SpeedLayer, on_batch: Callable[[BatchReport], None] | None = None
) -> None:
    query = start_stream(
        spark, layer.lake, layer.streaming_warehouse, layer.kafka, available_now=True, on_batch=on_batch
    )
    query.awaitTermination()


def extra_events_file(folder: Path) -> Path:
    """Valid edge cases and malformed messages, as one more JSON-lines file for the producer."""
    replayed = message(event("session_replay", "2025-12-31 23:58:00", user_id="user_00002", movie_id="movie_0002"))
    lines = [
        message(event("session_unknown_user", "2025-12-31 23:56:00", user_id="user_unknown")),
        message(event("session_unknown_movie", "2025-12-31 23:57:00", movie_id="movie_unknown")),
        replayed,
        replayed,
        *[value for value, _ in malformed_messages()],
    ]
    path = folder / "zz-extra.json"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def assert_warehouse_matches_topic(layer: SpeedLayer) -> None:
    """engagement_health_realtime, quarantined_events and stream_batches against the topic's records."""
    records = read_topic(layer.kafka.bootstrap_servers, layer.kafka.topic)
    expected_rows, expected_reasons = reference_for_records(records, *reference_dimensions())
    assert_matches_reference(realtime_rows(layer.warehouse), expected_rows)

    quarantined = table(layer.warehouse, "quarantined_events", ["partition", "offset"])
    by_coordinates = {(r.partition, r.offset): r for r in records}
    assert dict(zip(zip(quarantined.partition, quarantined.offset), quarantined.reason)) == expected_reasons
    for row in quarantined.itertuples():
        record = by_coordinates[(row.partition, row.offset)]
        expected = (record.value.decode(), layer.kafka.topic, record.timestamp)
        assert (row.raw_value, row.topic, row.kafka_timestamp) == expected

    batches = table(layer.warehouse, "stream_batches", ["batch_id"])
    assert list(batches.batch_id) == list(range(len(batches))), "batch ids are contiguous"
    assert batches.start_offsets.iloc[0] == json.dumps({layer.kafka.topic: {"0": 0, "1": 0, "2": 0}})
    starts, ends = list(batches.start_offsets), list(batches.end_offsets)
    assert starts[1:] == ends[:-1], "each batch starts where the previous one ended"
    topic_end = topic_end_offsets(layer.kafka.bootstrap_servers, layer.kafka.topic)
    assert json.loads(batches.end_offsets.iloc[-1]) == topic_end
    assert batches.input_rows.sum() == len(records)
    assert batches.quarantined_rows.sum() == len(expected_reasons)
    assert batches.upserted_rows.sum() >= len(expected_rows)
    with_data = batches[batches.input_rows > 0]
    assert with_data.min_kafka_timestamp.min() == min(r.timestamp for r in records)
    assert with_data.max_kafka_timestamp.max() == max(r.timestamp for r in records)


@pytest.fixture(scope="module")
def sample_layer(
    streaming_spark: SparkSession, kafka_broker: LocalKafkaBroker, tmp_path_factory: pytest.TempPathFactory
) -> tuple[SpeedLayer, list[BatchReport]]:
    """The 4,500 sample events plus edge cases and malformed messages, streamed with --available-now.

    The lake is empty, so the job cleans the raw users and movies itself.
    """
    root = tmp_path_factory.mktemp("sample_layer")
    layer = new_speed_layer(root, kafka_broker, "e2e_sample")
    source = root / "source"
    source.mkdir()
    for path in sorted(SAMPLE_STREAMING.glob("*.json")):
        (source / path.name).symlink_to(path)
    extra_events_file(source)
    summary = produce(kafka_broker.bootstrap_servers, source, topic=layer.kafka.topic, rate=0, progress=False)
    assert (summary.sent, summary.failed) == (SAMPLE_EVENTS + 4 + len(malformed_messages()), 0)
    empty_message = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
    empty_message.send(layer.kafka.topic, value=b"", partition=0)
    empty_message.close()

    reports: list[BatchReport] = []
    run_available_now(streaming_spark, layer, on_batch=reports.append)
    return layer, reports


def test_available_now_matches_an_independent_computation(sample_layer: tuple[SpeedLayer, list[BatchReport]]) -> None:
    layer, reports = sample_layer
    assert_warehouse_matches_topic(layer)

    rows = realtime_rows(layer.warehouse)
    assert rows.total_sessions.sum() == SAMPLE_EVENTS + 3  # the replayed event counts once
    quarantined = table(layer.warehouse, "quarantined_events", ["offset"])
    assert sorted(quarantined.reason) == sorted([reason for _, reason in malformed_messages()] + ["not_json"])
    batches = table(layer.warehouse, "stream_batches", ["batch_id"])
    assert [r.batch_id for r in reports] == list(batches.batch_id)
    assert reports[0].input_rows == SAMPLE_EVENTS + 4 + len(malformed_messages()) + 1


def test_replaying_a_committed_batch_id_changes_nothing(
    streaming_spark: SparkSession, sample_layer: tuple[SpeedLayer, list[BatchReport]]
) -> None:
    layer, _ = sample_layer
    tables = ("engagement_health_realtime", "quarantined_events", "stream_batches")
    before = {name: table(layer.warehouse, name) for name in tables}
    committed = []
    sink = EngagementSink(
        spark=streaming_spark,
        warehouse=layer.streaming_warehouse,
        checkpoint=SparkCheckpoint(streaming_spark, layer.checkpoint),
        bootstrap_servers=layer.kafka.bootstrap_servers,
        on_batch=committed.append,
    )
    # Batch 0 again, with aggregates that differ from what was committed: only a skip keeps the table.
    altered = before["engagement_health_realtime"].assign(total_sessions=lambda rows: rows.total_sessions * 2)
    sink(streaming_spark.createDataFrame(altered), 0)

    assert committed == []
    for name, rows in before.items():
        pd.testing.assert_frame_equal(table(layer.warehouse, name), rows)


def test_a_crash_after_the_warehouse_commit_replays_the_batch_once(
    streaming_spark: SparkSession,
    kafka_broker: LocalKafkaBroker,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    layer = new_speed_layer(tmp_path, kafka_broker, "e2e_replay")
    first_part = SAMPLE_STREAMING / "part-00000.json"
    produce(kafka_broker.bootstrap_servers, first_part, topic=layer.kafka.topic, rate=0, progress=False)

    def crash(report: BatchReport) -> None:
        # Runs after the warehouse transaction committed and before Spark's commit log is written.
        raise RuntimeError(f"crash after committing batch {report.batch_id}")

    with pytest.raises(StreamingQueryException, match="crash after committing batch 0"):
        run_available_now(streaming_spark, layer, on_batch=crash)
    first = table(layer.warehouse, "stream_batches", ["batch_id"])
    assert list(first.batch_id) == [0]
    assert not (Path(layer.checkpoint) / "commits" / "0").exists()

    run_available_now(streaming_spark, layer)

    assert "batch 0: already committed, skipped" in capfd.readouterr().out
    batches = table(layer.warehouse, "stream_batches", ["batch_id"])
    assert batches.iloc[0].committed_at == first.iloc[0].committed_at
    assert realtime_rows(layer.warehouse).total_sessions.sum() == 150
    assert_warehouse_matches_topic(layer)


# --- SIGKILL while events keep coming -----------------------------------------------------------


def write_lake_dimensions(spark: SparkSession, lake: LakePaths) -> None:
    """dim_users/dim_movies as the batch layer writes them, so the job reads the lake, not the CSVs."""
    for table_name, raw, clean in (("dim_users", "users", clean_users), ("dim_movies", "movies", clean_movies)):
        clean_rows = clean(read_raw_csv(spark, lake.raw_path(raw), raw)).clean
        clean_rows.write.mode("overwrite").parquet(lake.table_path(table_name))


def start_job(settings: Settings, log: Path, *arguments: str) -> subprocess.Popen[bytes]:
    """``python -m spark_streaming`` in its own process group, so a SIGKILL takes its JVM too."""
    environment = {**os.environ, **settings.to_environ(), "PYTHONPATH": str(REPO)}
    with open(log, "ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "spark_streaming", *arguments],
            cwd=REPO,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def committed_batches_with_data(warehouse: Warehouse) -> int:
    # One short read a poll: a DuckDB reader holds the file's lock, which the job's sink needs.
    try:
        counted = warehouse.query(
            "SELECT count(*) AS batches FROM netflix_streaming.stream_batches WHERE input_rows > 0"
        )
    except WarehouseError:  # the job has not created the table yet
        return 0
    return int(counted["batches"].iloc[0])


def wait_for_more_batches(warehouse: Warehouse, than: int, job: subprocess.Popen, log: Path) -> int:
    deadline = time.monotonic() + 120
    while (count := committed_batches_with_data(warehouse)) <= than:
        assert job.poll() is None, f"the streaming job exited early:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no new batch within 120 s:\n{log.read_text()[-3000:]}"
        time.sleep(0.5)
    return count


# The batch ids in a checkpoint's log ("offsets" or "commits"), wherever the checkpoint is.
CheckpointLog = Callable[[str], set[int]]


def local_checkpoint_log(checkpoint: str) -> CheckpointLog:
    def batch_ids(log_name: str) -> set[int]:
        folder = Path(checkpoint) / log_name
        return {int(entry.name) for entry in folder.glob("[0-9]*")} if folder.exists() else set()

    return batch_ids


def wait_for_a_batch_in_flight(batch_ids: CheckpointLog, job: subprocess.Popen, log: Path) -> None:
    """Until Spark has planned a batch (offset log) that it has not committed (commit log)."""
    deadline = time.monotonic() + 120
    while not batch_ids("offsets") - batch_ids("commits"):
        assert job.poll() is None, f"the streaming job exited early:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, "no batch started within 120 s"
        time.sleep(0.05)


def produce_until(bootstrap_servers: str, stop: threading.Event, parts: list, settings: Settings | None = None) -> None:
    """``parts`` (files of sample events) one after another with live timestamps, until ``stop``."""
    for part in itertools.cycle(parts):
        if stop.is_set():
            return
        produce(bootstrap_servers, part, rate=100, live=True, progress=False, settings=settings)


def kill_twice_mid_stream_then_catch_up(
    settings: Settings, layer: SpeedLayer, parts: list, batch_ids: CheckpointLog, log: Path
) -> None:
    """While events keep coming: twice, SIGKILL the job somewhere inside a micro-batch and start it
    again; then let it catch up (--available-now) and compare every table with the topic."""
    stop_producing = threading.Event()
    producing = threading.Thread(
        target=produce_until, args=(settings.kafka_bootstrap_servers, stop_producing, parts, settings)
    )
    producing.start()
    try:
        seen = 0
        for _ in range(2):
            job = start_job(settings, log, "--trigger", "2")
            seen = wait_for_more_batches(layer.warehouse, seen, job, log)
            wait_for_a_batch_in_flight(batch_ids, job, log)
            time.sleep(random.uniform(0, 1))  # anywhere in that batch: reading, state, sink, commit
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
    finally:
        stop_producing.set()
        producing.join()

    final = start_job(settings, log, "--available-now")
    assert final.wait(timeout=300) == 0, log.read_text()[-3000:]
    assert_warehouse_matches_topic(layer)


def test_sigkill_mid_stream_and_restart_neither_loses_nor_double_counts(
    streaming_spark: SparkSession,
    streaming_settings: Settings,
    kafka_broker: LocalKafkaBroker,
    tmp_path: Path,
) -> None:
    settings = streaming_settings.with_overrides(
        lake_uri=str(tmp_path / "lake"),
        duckdb_path=str(tmp_path / "warehouse.duckdb"),
        checkpoint_uri=str(tmp_path / "checkpoints"),
        kafka_bootstrap_servers=kafka_broker.bootstrap_servers,
        spark_driver_memory="1g",
    )
    # The job reads the default topic; whatever an earlier test left there is part of "the same events".
    layer = SpeedLayer(
        LakePaths.from_settings(settings),
        DuckDBWarehouse(settings.duckdb_path),
        KafkaTopic(settings.kafka_bootstrap_servers),
    )
    write_lake_dimensions(streaming_spark, layer.lake)
    parts = sorted(SAMPLE_STREAMING.glob("*.json"))
    checkpoint = local_checkpoint_log(layer.checkpoint)
    kill_twice_mid_stream_then_catch_up(settings, layer, parts, checkpoint, tmp_path / "stream.log")
