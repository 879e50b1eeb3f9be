"""The speed layer end to end: a real Kafka broker, real Spark streaming, a real DuckDB file.

Every check compares the warehouse with an independent computation (tests/streaming_fixtures.py)
over the messages read back from the topic and the offset ranges of the committed micro-batches,
so nothing may be lost, invented, counted twice, or written by the wrong batch. The checks read
the warehouse through its interface and the lake and checkpoint wherever they are, so that
test_prod_stream.py and test_spark_cluster.py hold BigQuery, gs:// and a cluster to the same ones.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from kafka import KafkaProducer
from pyspark.errors import StreamingQueryException
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from netflix_core.gcp import is_gcs_uri
from netflix_core.kafka import KafkaTopic
from netflix_core.lake import LakePaths
from netflix_core.settings import Settings
from netflix_core.warehouse import BatchReport, MicroBatch, Warehouse
from netflix_core.warehouse.duckdb_warehouse import DuckDBWarehouse
from netflix_devtools.local_kafka import LocalKafkaBroker
from producer.producer import produce
from spark_streaming.job import QUERY_NAME, start_stream
from spark_streaming.sink import EngagementSink, SparkCheckpoint
from tests.conftest import write_csv
from tests.emulator_fixtures import download_folder

pytest.register_assert_rewrite("tests.streaming_fixtures")

from tests.streaming_fixtures import (  # noqa: E402
    PROJECT_ADDED_COLUMNS,
    SAMPLE_EVENTS,
    SAMPLE_RAW,
    SAMPLE_STREAMING,
    SPEC_QUARANTINE_COLUMNS,
    SPEC_REALTIME_COLUMNS,
    SPEC_STREAM_BATCHES_COLUMNS,
    StreamExpectation,
    assert_matches_reference,
    committed_batches,
    event,
    malformed_messages,
    message,
    read_topic,
    reference_dimensions,
    reference_parse,
    reference_stream,
    topic_end_offsets,
)

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class SpeedLayer:
    """One isolated speed layer: its own topic, lake, checkpoint and warehouse. ``settings`` reach
    the bucket when the lake is on gs://."""

    lake: LakePaths
    warehouse: Warehouse
    kafka: KafkaTopic
    settings: Settings | None = None

    @property
    def checkpoint(self) -> str:
        return self.lake.checkpoint_path(QUERY_NAME)


def new_speed_layer(root: Path, broker: LocalKafkaBroker, topic: str, raw: Path = SAMPLE_RAW) -> SpeedLayer:
    broker.ensure_topic(topic, 3)
    return SpeedLayer(
        lake=LakePaths(raw_uri=str(raw), lake_uri=str(root / "lake"), checkpoint_uri=str(root / "checkpoints")),
        warehouse=DuckDBWarehouse(path=str(root / "warehouse.duckdb")),
        kafka=KafkaTopic(bootstrap_servers=broker.bootstrap_servers, topic=topic),
    )


def table(warehouse: Warehouse, name: str, *order_by: str) -> pd.DataFrame:
    """A streaming table through the interface (DuckDB or BigQuery), sorted by ``order_by`` (all columns by default)."""
    rows = warehouse.query(f"SELECT * FROM netflix_streaming.{name}")
    return rows.sort_values(list(order_by or rows.columns)).reset_index(drop=True)


def realtime_rows(warehouse: Warehouse) -> pd.DataFrame:
    return table(warehouse, "engagement_health_realtime")


def run_available_now(
    spark: SparkSession,
    layer: SpeedLayer,
    warehouse: Warehouse | None = None,
    on_batch: Callable[[BatchReport], None] | None = None,
) -> StreamingQuery:
    """Runs the query until it has caught up; returns it (ended) for its progress reports."""
    query = start_stream(
        spark, layer.lake, warehouse or layer.warehouse, layer.kafka, available_now=True, on_batch=on_batch
    )
    query.awaitTermination()
    return query


def send(topic: KafkaTopic, values: list[bytes], partition: int | None = None) -> None:
    producer = KafkaProducer(bootstrap_servers=topic.bootstrap_servers, acks="all")
    try:
        for value in values:
            producer.send(topic.topic, value=value, partition=partition)
        producer.flush()
    finally:
        producer.close()


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _value(value: object) -> object:
    """A DuckDB cell as a plain Python value: NaT/NaN -> None, Timestamp -> datetime."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.to_pydatetime() if isinstance(value, pd.Timestamp) else value


def archived_rows(layer: SpeedLayer, copies: Path) -> pd.DataFrame:
    """The archive as DuckDB reads its Parquet files and folders (not through the product's reader);
    an archive on gs:// is copied into ``copies`` first."""
    archive = layer.lake.table_path("watch_events")
    if is_gcs_uri(archive):
        assert layer.settings is not None, "a lake on gs:// needs the layer's settings"
        archive = str(download_folder(layer.settings, archive, copies))
    files = f"{archive}/event_date=*/query_id=*/batch_id=*/*.parquet"
    with duckdb.connect() as connection:
        rows = connection.execute(f"SELECT * FROM read_parquet('{files}', hive_partitioning = true)").df()
    # Parquet's UTC-adjusted timestamps (prod writes TIMESTAMP_MICROS for BigQuery) read as zoned ones.
    for name in rows.columns:
        if isinstance(rows[name].dtype, pd.DatetimeTZDtype):
            rows[name] = rows[name].dt.tz_convert("UTC").dt.tz_localize(None)
    return rows


def assert_archive_matches_topic(layer: SpeedLayer) -> None:
    """Every valid record of the topic is archived exactly once, under the batch that read it."""
    records = read_topic(layer.kafka.bootstrap_servers, layer.kafka.topic)
    with tempfile.TemporaryDirectory() as copies:
        archived = archived_rows(layer, Path(copies))
    coordinates = list(zip(archived.partition, archived.offset))
    assert len(coordinates) == len(set(coordinates)), "a Kafka record is archived more than once"
    expected = {}
    for record in records:
        reason, typed = reference_parse(record.value)
        if reason is None:
            expected[(record.partition, record.offset)] = (typed, record.timestamp)
    assert set(coordinates) == set(expected), "the archive is not the topic's valid records"
    batches = table(layer.warehouse, "stream_batches", "batch_id")
    ranges = {
        (row.query_id, row.batch_id): (json.loads(row.start_offsets), json.loads(row.end_offsets))
        for row in batches.itertuples()
    }
    for row in archived.itertuples():
        typed, kafka_timestamp = expected[(row.partition, row.offset)]
        assert (row.topic, row.session_id, row.event_time, row.kafka_timestamp) == (
            layer.kafka.topic, typed["session_id"], typed["event_time"], kafka_timestamp,
        )  # fmt: skip
        assert str(row.event_date)[:10] == typed["event_time"].date().isoformat()
        start, end = ranges[(row.query_id, int(row.batch_id))]
        partition = str(row.partition)
        assert start[row.topic].get(partition, 0) <= row.offset < end[row.topic][partition]


def assert_stream_matches_topic(
    layer: SpeedLayer,
    dimensions: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    committed_between: tuple[datetime, datetime] | None = None,
) -> StreamExpectation:
    """The three streaming tables and the archive against the topic's records and the batches' offset
    ranges, exactly."""
    assert_archive_matches_topic(layer)
    topic = layer.kafka.topic
    records = read_topic(layer.kafka.bootstrap_servers, topic)
    batches = table(layer.warehouse, "stream_batches", "batch_id")
    expected = reference_stream(
        records, committed_batches(batches, topic), topic, *(dimensions or reference_dimensions())
    )
    assert_matches_reference(realtime_rows(layer.warehouse), expected.engagement)

    # stream_batches: one row per batch id, contiguous, each starting where the previous ended.
    assert list(batches.batch_id) == list(range(len(batches))), "batch ids are contiguous"
    assert batches.query_id.nunique() == 1
    assert json.loads(batches.start_offsets.iloc[0]) == {topic: {"0": 0, "1": 0, "2": 0}}
    assert list(batches.start_offsets)[1:] == list(batches.end_offsets)[:-1], "each batch starts where one ended"
    assert json.loads(batches.end_offsets.iloc[-1]) == topic_end_offsets(layer.kafka.bootstrap_servers, topic)
    columns = list(expected.batches.columns)
    actual = [{c: _value(v) for c, v in row.items()} for row in batches[columns].to_dict("records")]
    wanted = [{c: _value(v) for c, v in row.items()} for row in expected.batches.to_dict("records")]
    wrong = [(got, want) for got, want in zip(actual, wanted) if got != want]
    assert not wrong, f"stream_batches rows differ from the reference (got, expected): {wrong[:3]}"
    committed_at = [_value(value) for value in batches.committed_at]
    assert committed_at == sorted(committed_at), "committed_at goes forward with the batch id"
    if committed_between is not None:
        earliest, latest = committed_between
        assert all(earliest <= moment <= latest for moment in committed_at), (
            f"committed_at {committed_at[0]} .. {committed_at[-1]} is not UTC between {earliest} and {latest}"
        )

    # quarantined_events: the same rows as a multiset, each with the batch whose range holds it.
    quarantined = table(layer.warehouse, "quarantined_events")
    rows = Counter(
        (
            row.raw_value,
            row.reason,
            row.topic,
            row.partition,
            row.offset,
            _value(row.kafka_timestamp).isoformat(),
            row.batch_id,
        )
        for row in quarantined.itertuples()
    )
    assert rows == expected.quarantine, (
        f"only in the table {list((rows - expected.quarantine).items())[:3]}; "
        f"only in the reference {list((expected.quarantine - rows).items())[:3]}"
    )
    assert set(quarantined.query_id) <= set(batches.query_id)
    return expected


def assert_streaming_tables_have_the_contract_columns(warehouse: DuckDBWarehouse) -> None:
    with warehouse.connect(read_only=True) as connection:
        described = connection.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'netflix_streaming'"
        ).fetchall()
    columns: dict[str, set[str]] = {}
    for table_name, column in described:
        columns.setdefault(table_name, set()).add(column)
    assert columns == {
        "engagement_health_realtime": set(SPEC_REALTIME_COLUMNS),
        "quarantined_events": {*SPEC_QUARANTINE_COLUMNS, *PROJECT_ADDED_COLUMNS},
        "stream_batches": {*SPEC_STREAM_BATCHES_COLUMNS, *PROJECT_ADDED_COLUMNS},
    }


@contextlib.contextmanager
def local_time_zone(name: str) -> Iterator[None]:
    """This process's local time is ``name`` (not UTC), so a local-time stamp would stand out."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        assert abs(datetime.now() - utc_now()) > timedelta(hours=1)
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


# Five hours and 45 minutes ahead of UTC: no whole-hour mistake can look right.
NOT_UTC = "Asia/Kathmandu"


# --- the sample, end to end -----------------------------------------------------------------------


def few_users_many_events() -> list[bytes]:
    """30 events of each of four users in one 5-minute window: a window HyperLogLog must not
    confuse with its session count."""
    users = ["user_00002", "user_00003", "user_00004", "user_00005"]
    return [
        message(event(f"session_hll_{user}_{n:02d}", f"2025-12-31 23:51:{n:02d}", user_id=user, movie_id="movie_0002"))
        for user in users
        for n in range(30)
    ]


def extra_events_file(folder: Path) -> Path:
    """Valid edge cases and malformed messages, as one more JSON-lines file for the producer."""
    replayed = message(event("session_replay", "2025-12-31 23:58:00", user_id="user_00002", movie_id="movie_0002"))
    lines = [
        message(event("session_unknown_user", "2025-12-31 23:56:00", user_id="user_unknown")),
        message(event("session_unknown_movie", "2025-12-31 23:57:00", movie_id="movie_unknown")),
        replayed,
        replayed,
        *few_users_many_events(),
        *[value for value, _ in malformed_messages()],
    ]
    path = folder / "zz-extra.json"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@dataclass(frozen=True)
class SampleRun:
    layer: SpeedLayer
    reports: list[BatchReport]
    committed_between: tuple[datetime, datetime]


@pytest.fixture(scope="module")
def sample_layer(
    spark: SparkSession, kafka_broker: LocalKafkaBroker, tmp_path_factory: pytest.TempPathFactory
) -> SampleRun:
    """The 4,500 sample events plus edge cases and malformed messages, streamed with --available-now
    while this process's local time is not UTC. The lake is empty: the job cleans the raw files."""
    root = tmp_path_factory.mktemp("sample_layer")
    layer = new_speed_layer(root, kafka_broker, "e2e_sample")
    source = root / "source"
    source.mkdir()
    for path in sorted(SAMPLE_STREAMING.glob("*.json")):
        (source / path.name).symlink_to(path)
    extra = extra_events_file(source)
    summary = produce(kafka_broker.bootstrap_servers, source, topic=layer.kafka.topic, rate=0, progress=False)
    extra_lines = len(extra.read_bytes().splitlines())
    assert (summary.sent, summary.failed) == (SAMPLE_EVENTS + extra_lines, 0)
    send(layer.kafka, [b""], partition=0)

    reports: list[BatchReport] = []
    with local_time_zone(NOT_UTC):
        started = utc_now()
        run_available_now(spark, layer, on_batch=reports.append)
        finished = utc_now()
    return SampleRun(layer, reports, (started, finished))


def test_available_now_matches_an_independent_computation(sample_layer: SampleRun) -> None:
    layer = sample_layer.layer
    expected = assert_stream_matches_topic(layer, committed_between=sample_layer.committed_between)

    assert expected.late == []
    rows = realtime_rows(layer.warehouse)
    assert rows.total_sessions.sum() == SAMPLE_EVENTS + 3 + len(few_users_many_events())  # the replay counts once
    quarantined = table(layer.warehouse, "quarantined_events", "offset")
    assert sorted(quarantined.reason) == sorted([reason for _, reason in malformed_messages()] + ["not_json"])
    batches = table(layer.warehouse, "stream_batches", "batch_id")
    assert [r.batch_id for r in sample_layer.reports] == list(batches.batch_id)
    # Windows where a few users watched many times: unique_users is near 1 per user, not the session count.
    few = rows[rows.window_start == pd.Timestamp("2025-12-31 23:50:00")]
    assert few.total_sessions.sum() >= 120 and few.unique_users.sum() <= few.total_sessions.sum() / 10


def test_streaming_tables_have_exactly_the_contract_columns(sample_layer: SampleRun) -> None:
    assert_streaming_tables_have_the_contract_columns(sample_layer.layer.warehouse)


def test_replaying_a_committed_batch_id_changes_nothing(spark: SparkSession, sample_layer: SampleRun) -> None:
    layer = sample_layer.layer
    tables = ("engagement_health_realtime", "quarantined_events", "stream_batches")
    before = {name: table(layer.warehouse, name) for name in tables}
    committed = []
    sink = EngagementSink(
        spark=spark,
        warehouse=layer.warehouse,
        checkpoint=SparkCheckpoint(spark, layer.checkpoint),
        bootstrap_servers=layer.kafka.bootstrap_servers,
        lake=layer.lake,
        on_batch=committed.append,
    )
    # Batch 0 again, with aggregates that differ from what was committed: only a skip keeps the table.
    altered = before["engagement_health_realtime"].assign(total_sessions=lambda rows: rows.total_sessions * 2)
    sink(spark.createDataFrame(altered), 0)

    assert committed == []
    for name, rows in before.items():
        pd.testing.assert_frame_equal(table(layer.warehouse, name), rows)
    assert_archive_matches_topic(layer)  # batch 0's files were rewritten, not added to


# --- the watermark: late events dropped, copies dropped across micro-batches --------------------


def test_events_later_than_the_watermark_are_dropped_and_counted_and_copies_across_batches_count_once(
    spark: SparkSession, kafka_broker: LocalKafkaBroker, tmp_path: Path
) -> None:
    layer = new_speed_layer(tmp_path, kafka_broker, "e2e_watermark")
    original = message(event("wm_original", "2026-02-01 12:25:00"))
    newest = message(event("wm_newest", "2026-02-01 12:30:00"))  # the watermark becomes 12:20:00
    on_time = message(event("wm_on_time", "2026-02-01 12:20:30"))  # behind the newest by 9:30: counted
    late = message(event("wm_late", "2026-02-01 12:19:59"))  # behind by 10:01: dropped
    later = message(event("wm_later", "2026-02-01 12:31:00"))

    send(layer.kafka, [original, newest], partition=0)
    with local_time_zone(NOT_UTC):
        started = utc_now()
        run_available_now(spark, layer)
        send(layer.kafka, [original, on_time, late, later], partition=1)
        second = run_available_now(spark, layer)
        finished = utc_now()

    expected = assert_stream_matches_topic(layer, committed_between=(started, finished))
    assert [record.value for record in expected.late] == [late]
    sessions = realtime_rows(layer.warehouse).set_index("window_start").total_sessions
    assert sessions.to_dict() == {
        pd.Timestamp("2026-02-01 12:20:00"): 1,
        pd.Timestamp("2026-02-01 12:25:00"): 1,
        pd.Timestamp("2026-02-01 12:30:00"): 2,
    }
    # Spark counts what the watermark dropped: the one late event of the second run.
    dropped = sum(
        operator["numRowsDroppedByWatermark"]
        for progress in second.recentProgress
        for operator in progress["stateOperators"]
    )
    assert dropped == 1
    # The copy of wm_original arrived in a later micro-batch than the original.
    batches = committed_batches(table(layer.warehouse, "stream_batches", "batch_id"), layer.kafka.topic)
    copies = [
        record for record in read_topic(kafka_broker.bootstrap_servers, layer.kafka.topic) if record.value == original
    ]
    holders = [next(batch.batch_id for batch in batches if batch.holds(record)) for record in copies]
    assert len(holders) == 2 and holders[0] < holders[1], holders
    newest_time = table(layer.warehouse, "stream_batches", "batch_id").max_event_time.max()
    assert newest_time == pd.Timestamp("2026-02-01 12:31:00")


# --- dimensions: the lake's, or the raw files cleaned when the lake has none --------------------


def dimension_events() -> list[bytes]:
    """One event per user, each in its own 5-minute window, all of movie_0001."""
    users = ["user_00001", "user_00002", "user_00003", "user_99999"]
    return [
        message(event(f"dim_{user}", f"2026-03-01 10:{5 * n:02d}:00", user_id=user, movie_id="movie_0001"))
        for n, user in enumerate(users)
    ]


def write_raw_dimensions(raw: Path) -> None:
    """users.csv and movies.csv whose cleaning matters: a duplicate key and a rejected user."""
    raw.mkdir()

    def user(user_id: str, country: str, created_at: str, spend: str) -> dict[str, str]:
        return {
            "user_id": user_id,
            "email": f"{user_id}@example.org",
            "country": country,
            "subscription_plan": "Basic",
            "subscription_start_date": "2024-01-01",
            "is_active": "True",
            "monthly_spend": spend,
            "created_at": created_at,
        }

    write_csv(
        raw / "users.csv",
        "users",
        [
            user("user_00001", "USA", "2024-01-01 00:00:00", "10.0"),
            user("user_00002", "Canada", "2024-01-01 00:00:00", "5.0"),
            user("user_00002", "France", "2024-06-01 00:00:00", "7.5"),  # the latest created_at is kept
            user("user_00003", "Spain", "not-a-date", "3.0"),  # rejected as bad_date
        ],
    )
    movie = {
        "movie_id": "movie_0001",
        "title": "A Film",
        "content_type": "Movie",
        "genre_primary": "Drama",
        "is_netflix_original": "True",
        "imdb_rating": "7.5",
        "release_year": "2020",
        "added_to_platform": "2024-01-01",
    }
    write_csv(raw / "movies.csv", "movies", [movie])


def write_lake_dimensions_that_differ(spark: SparkSession, lake: LakePaths) -> None:
    """dim_users/dim_movies in the lake, with attributes no raw row has."""
    users = spark.createDataFrame(
        [("user_00001", "Lakeland", "Premium", 20.0), ("user_00003", "Lakeshire", "Standard", 30.0)],
        "user_id string, country string, subscription_plan string, monthly_spend double",
    )
    movies = spark.createDataFrame(
        [("movie_0001", "Lake Genre", "TV Series", False, 9.0)],
        "movie_id string, genre_primary string, content_type string, is_netflix_original boolean, imdb_rating double",
    )
    users.write.parquet(lake.table_path("dim_users"))
    movies.write.parquet(lake.table_path("dim_movies"))


def enrichment_by_user(warehouse: DuckDBWarehouse) -> dict[str, tuple]:
    rows = realtime_rows(warehouse).sort_values("window_start")
    users = ["user_00001", "user_00002", "user_00003", "user_99999"]
    assert list(rows.total_sessions) == [1, 1, 1, 1]
    columns = [
        "country",
        "genre_primary",
        "content_type",
        "is_netflix_original",
        "revenue_impact",
        "avg_content_quality",
    ]
    return {user: tuple(_value(row[c]) for c in columns) for user, (_, row) in zip(users, rows.iterrows())}


def test_dimensions_come_from_the_lake_and_from_the_cleaned_raw_files_when_the_lake_has_none(
    spark: SparkSession, kafka_broker: LocalKafkaBroker, tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    write_raw_dimensions(raw)
    from_lake = new_speed_layer(tmp_path / "with_lake", kafka_broker, "e2e_dimensions", raw=raw)
    from_raw = new_speed_layer(tmp_path / "without_lake", kafka_broker, "e2e_dimensions", raw=raw)
    write_lake_dimensions_that_differ(spark, from_lake.lake)
    send(from_lake.kafka, dimension_events())

    run_available_now(spark, from_lake)
    run_available_now(spark, from_raw)

    assert enrichment_by_user(from_lake.warehouse) == {
        "user_00001": ("Lakeland", "Lake Genre", "TV Series", "False", 20.0, 9.0),
        "user_00002": ("Unknown", "Lake Genre", "TV Series", "False", None, 9.0),  # not in the lake
        "user_00003": ("Lakeshire", "Lake Genre", "TV Series", "False", 30.0, 9.0),
        "user_99999": ("Unknown", "Lake Genre", "TV Series", "False", None, 9.0),
    }
    assert enrichment_by_user(from_raw.warehouse) == {
        "user_00001": ("USA", "Drama", "Movie", "True", 10.0, 7.5),
        "user_00002": ("France", "Drama", "Movie", "True", 7.5, 7.5),  # the later of two raw rows
        "user_00003": ("Unknown", "Drama", "Movie", "True", None, 7.5),  # rejected by the cleaning
        "user_99999": ("Unknown", "Drama", "Movie", "True", None, 7.5),
    }


# --- a crash at either side of the warehouse commit ---------------------------------------------


class SimulatedCrash(RuntimeError):
    """Raised by CrashingWarehouse where a process would die."""


BEFORE_COMMIT = "before the warehouse commit"
AFTER_COMMIT = "after the warehouse commit, before Spark's commit log"


class CrashingWarehouse:
    """The real DuckDB warehouse, crashing at one point of every micro-batch that read events.

    Before the commit, nothing of the batch reaches the warehouse; after it, the batch is in the
    warehouse but Spark never hears that the sink returned, so its commit log lacks the batch.
    """

    def __init__(self, real: DuckDBWarehouse, point: str):
        self.real = real
        self.point = point

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)

    def commit_micro_batch(self, batch: MicroBatch, committed_at: datetime) -> BatchReport | None:
        if batch.inputs.input_rows == 0:
            return self.real.commit_micro_batch(batch, committed_at)
        if self.point == BEFORE_COMMIT:
            raise SimulatedCrash(f"crash before committing batch {batch.batch_id}")
        self.real.commit_micro_batch(batch, committed_at)
        raise SimulatedCrash(f"crash after committing batch {batch.batch_id}")


@pytest.mark.parametrize("point", [BEFORE_COMMIT, AFTER_COMMIT])
def test_a_crash_on_either_side_of_the_warehouse_commit_neither_loses_nor_double_counts(
    spark: SparkSession, kafka_broker: LocalKafkaBroker, tmp_path: Path, capfd: pytest.CaptureFixture[str], point: str
) -> None:
    layer = new_speed_layer(tmp_path, kafka_broker, f"e2e_crash_{'before' if point == BEFORE_COMMIT else 'after'}")
    first, second = (SAMPLE_STREAMING / f"part-0000{n}.json" for n in (0, 1))
    produce(kafka_broker.bootstrap_servers, first, topic=layer.kafka.topic, rate=0, progress=False)
    run_available_now(spark, layer)
    committed = table(layer.warehouse, "stream_batches", "batch_id")
    tables = ("engagement_health_realtime", "quarantined_events")
    before_crash = {name: table(layer.warehouse, name) for name in tables}

    # The second part, copies of events of the first, and malformed messages: one more batch.
    copies = first.read_bytes().splitlines()[:20]
    malformed = [value for value, _ in malformed_messages()]
    produce(kafka_broker.bootstrap_servers, second, topic=layer.kafka.topic, rate=0, progress=False)
    send(layer.kafka, copies + malformed)
    crashed_batch = len(committed)
    with pytest.raises(
        StreamingQueryException, match=f"SimulatedCrash: crash (before|after) committing batch {crashed_batch}"
    ):
        run_available_now(spark, layer, warehouse=CrashingWarehouse(layer.warehouse, point))

    assert not (Path(layer.checkpoint) / "commits" / str(crashed_batch)).exists()
    assert (Path(layer.checkpoint) / "offsets" / str(crashed_batch)).exists()
    after_crash = table(layer.warehouse, "stream_batches", "batch_id")
    if point == BEFORE_COMMIT:
        pd.testing.assert_frame_equal(after_crash, committed)
        for name, rows in before_crash.items():
            pd.testing.assert_frame_equal(table(layer.warehouse, name), rows)
    else:
        assert list(after_crash.batch_id) == [*committed.batch_id, crashed_batch]
    capfd.readouterr()

    run_available_now(spark, layer)

    replayed = capfd.readouterr().out
    skipped = f"batch {crashed_batch}: already committed, skipped" in replayed
    assert skipped is (point == AFTER_COMMIT), replayed[-2000:]
    batches = table(layer.warehouse, "stream_batches", "batch_id")
    if point == AFTER_COMMIT:
        assert batches.committed_at.iloc[crashed_batch] == after_crash.committed_at.iloc[crashed_batch]
    expected = assert_stream_matches_topic(layer)
    assert realtime_rows(layer.warehouse).total_sessions.sum() == 300  # two parts of 150; the copies count once
    assert sum(expected.quarantine.values()) == len(malformed)


# --- SIGKILL while events keep coming -----------------------------------------------------------

# Seeds the events and the kill plan: a failure names it, and the same seed replays the same test.
SIGKILL_SEED = 20261201
SIGKILL_DEADLINE_SECONDS = 600
SIGKILL_USERS = [f"user_{n:05d}" for n in range(1, 41)]
SIGKILL_MOVIES = [f"movie_{n:04d}" for n in range(1, 13)]


def seeded_messages(seed: int) -> Iterator[bytes]:
    """An endless, reproducible stream: valid events 0.2 s apart in event time (from 2026-01-05
    08:00), by 40 users of 12 movies, with byte-identical copies of recent events (3%), unknown
    users (1%) and malformed messages (2%) mixed in."""
    rng = random.Random(seed)
    malformed = [value for value, _ in malformed_messages()]
    recent: list[bytes] = []
    start = datetime(2026, 1, 5, 8, 0, 0)
    for number in itertools.count():
        draw = rng.random()
        if draw < 0.02:
            yield rng.choice(malformed)
            continue
        if draw < 0.05 and recent:
            yield rng.choice(recent)
            continue
        fields = event(
            f"kill_{number:07d}",
            (start + timedelta(seconds=number / 5)).strftime("%Y-%m-%d %H:%M:%S"),
            user_id="user_unknown" if draw < 0.06 else rng.choice(SIGKILL_USERS),
            movie_id=rng.choice(SIGKILL_MOVIES),
            device_type=rng.choice(["Laptop", "Mobile"]),
            quality=rng.choice(["SD", "HD", "4K", "Ultra HD"]),
            action=rng.choice(["started", "completed", "stopped", "paused"]),
            progress_percentage=float("nan") if rng.random() < 0.1 else round(rng.uniform(0, 100), 1),
            watch_duration_minutes=round(rng.uniform(0, 120), 1),
        )
        value = message(fields)
        recent = [*recent[-49:], value]
        yield value


def produce_until(bootstrap_servers: str, folder: Path, stop: threading.Event) -> None:
    """The seeded messages, 200 to a file, at 100 a second, until ``stop``."""
    messages = seeded_messages(SIGKILL_SEED)
    for chunk in itertools.count():
        if stop.is_set():
            return
        path = folder / f"chunk-{chunk:05d}.json"
        path.write_bytes(b"\n".join(next(messages) for _ in range(200)) + b"\n")
        produce(bootstrap_servers, path, rate=100, progress=False)


@contextlib.contextmanager
def seeded_messages_flowing(bootstrap_servers: str, folder: Path) -> Iterator[None]:
    """``produce_until`` on a thread of its own for the length of the block."""
    chunks = folder / "chunks"
    chunks.mkdir()
    stop = threading.Event()
    producing = threading.Thread(target=produce_until, args=(bootstrap_servers, chunks, stop))
    producing.start()
    try:
        yield
    finally:
        stop.set()
        producing.join()


def start_job(settings: Settings, log: Path, *arguments: str) -> subprocess.Popen[bytes]:
    """``python -m spark_streaming`` in its own process group (a SIGKILL takes its JVM too), with a
    local time that is not UTC."""
    environment = {**os.environ, **settings.to_environ(), "PYTHONPATH": str(REPO), "TZ": NOT_UTC}
    with open(log, "ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "spark_streaming", *arguments],
            cwd=REPO,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


# The files under a folder of a streaming checkpoint (e.g. "offsets"), as paths relative to that
# folder, wherever the checkpoint is: on local disk here, in a bucket in test_prod_stream.py.
CheckpointFiles = Callable[[str], set[str]]


def local_checkpoint_files(checkpoint: str) -> CheckpointFiles:
    def files(folder: str) -> set[str]:
        root = Path(checkpoint) / folder
        return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()} if root.exists() else set()

    return files


def batch_ids(checkpoint: CheckpointFiles, log_name: str) -> set[int]:
    """The batch ids in the checkpoint's "offsets" or "commits" log."""
    return {int(name) for name in checkpoint(log_name) if name.isdigit()}


def state_checkpointed(checkpoint: CheckpointFiles, batch_id: int) -> bool:
    """Every state store (de-duplication and windows, each partition) has the batch's version."""
    versions: dict[tuple[str, str], set[str]] = {}
    for path in checkpoint("state"):
        parts = path.split("/")
        if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
            versions.setdefault((parts[0], parts[1]), set()).add(parts[2])
    version = batch_id + 1
    return bool(versions) and all({f"{version}.changelog", f"{version}.zip"} & files for files in versions.values())


# Where a batch is when the job is killed; every run kills once at each.
KILL_POINTS = {
    "planned": "its offsets are logged, nothing of it ran",
    "state checkpointed": "its state is checkpointed, its sink has not returned",
}


def wait_for_kill_point(
    point: str, checkpoint: CheckpointFiles, after_commits: int, job: subprocess.Popen, log: Path
) -> int:
    """The first batch, once ``after_commits`` batches are committed, caught at ``point``."""
    deadline = time.monotonic() + SIGKILL_DEADLINE_SECONDS
    while True:
        assert job.poll() is None, f"the streaming job exited early:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no batch caught at '{point}' in time:\n{log.read_text()[-3000:]}"
        committed = batch_ids(checkpoint, "commits")
        in_flight = sorted(batch_ids(checkpoint, "offsets") - committed)
        if len(committed) >= after_commits and in_flight:
            batch_id = in_flight[0]
            if point == "planned" or state_checkpointed(checkpoint, batch_id):
                return batch_id
        time.sleep(0.02)


def kill_at_seeded_points_then_catch_up(
    settings: Settings, layer: SpeedLayer, checkpoint: CheckpointFiles, folder: Path
) -> None:
    """While seeded events (malformed ones among them) keep coming: SIGKILL the job once at each kill
    point of a seeded plan and start it again; then let it catch up (--available-now) and compare
    every table and the archive with the topic."""
    plan = random.Random(SIGKILL_SEED)
    kills = [(point, plan.randint(1, 3)) for point in plan.sample(sorted(KILL_POINTS), k=len(KILL_POINTS))]
    log = folder / "stream.log"
    started = utc_now()
    with seeded_messages_flowing(layer.kafka.bootstrap_servers, folder):
        for point, more_commits in kills:
            job = start_job(settings, log, "--trigger", "2")
            committed_before = len(batch_ids(checkpoint, "commits"))
            batch_id = wait_for_kill_point(point, checkpoint, committed_before + more_commits, job, log)
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
            with open(log, "a") as output:
                output.write(f"test: SIGKILL in batch {batch_id}: {KILL_POINTS[point]} (seed {SIGKILL_SEED})\n")
            assert batch_id not in batch_ids(checkpoint, "commits"), (
                f"seed {SIGKILL_SEED}: batch {batch_id} was not in flight at '{point}' ({KILL_POINTS[point]})"
            )

    final = start_job(settings, log, "--available-now")
    assert final.wait(timeout=SIGKILL_DEADLINE_SECONDS) == 0, log.read_text()[-3000:]
    expected = assert_stream_matches_topic(layer, committed_between=(started, utc_now()))
    assert expected.late == [], f"seed {SIGKILL_SEED}: the seeded events are never later than the watermark"
    assert sum(expected.quarantine.values()) > 0, "malformed messages were sent during the kills"


def job_in(folder: Path, streaming_settings: Settings, broker: LocalKafkaBroker) -> tuple[Settings, SpeedLayer]:
    """Settings for ``python -m spark_streaming`` on the broker's default topic, everything else in
    ``folder``, and the speed layer they name."""
    settings = streaming_settings.with_overrides(
        lake_uri=str(folder / "lake"),
        duckdb_path=str(folder / "warehouse.duckdb"),
        checkpoint_uri=str(folder / "checkpoints"),
        kafka_bootstrap_servers=broker.bootstrap_servers,
        spark_driver_memory="1g",
    )
    layer = SpeedLayer(
        LakePaths.from_settings(settings),
        DuckDBWarehouse(settings.duckdb_path),
        KafkaTopic(settings.kafka_bootstrap_servers),
    )
    return settings, layer


def test_sigkill_mid_stream_and_restart_neither_loses_nor_double_counts(
    spark: SparkSession, streaming_settings: Settings, private_kafka_broker: LocalKafkaBroker, tmp_path: Path
) -> None:
    settings, layer = job_in(tmp_path, streaming_settings, private_kafka_broker)
    kill_at_seeded_points_then_catch_up(settings, layer, local_checkpoint_files(layer.checkpoint), tmp_path)


def test_ctrl_c_lets_the_batch_in_flight_commit_then_stops_cleanly(
    streaming_settings: Settings, private_kafka_broker: LocalKafkaBroker, tmp_path: Path
) -> None:
    settings, layer = job_in(tmp_path, streaming_settings, private_kafka_broker)
    checkpoint = local_checkpoint_files(layer.checkpoint)
    log = tmp_path / "stream.log"
    with seeded_messages_flowing(layer.kafka.bootstrap_servers, tmp_path):
        job = start_job(settings, log, "--trigger", "2")
        in_flight = wait_for_kill_point("planned", checkpoint, 2, job, log)
        os.killpg(job.pid, signal.SIGINT)  # what Ctrl-C does: the terminal signals the whole group
        assert job.wait(timeout=SIGKILL_DEADLINE_SECONDS) == 130, log.read_text()[-3000:]
    output = log.read_text()
    assert "stopped; the next start resumes from the checkpoint" in output, output[-3000:]
    assert "Traceback" not in output and "terminated with error" not in output, output[-3000:]
    assert in_flight in batch_ids(checkpoint, "commits"), f"batch {in_flight}, in flight at Ctrl-C, was cancelled"

    resumed = start_job(settings, log, "--available-now")
    assert resumed.wait(timeout=SIGKILL_DEADLINE_SECONDS) == 0, log.read_text()[-3000:]
    assert_stream_matches_topic(layer)


def test_no_lake_and_no_raw_files_is_one_line_and_exit_code_2(
    streaming_settings: Settings, kafka_broker: LocalKafkaBroker, tmp_path: Path
) -> None:
    settings = job_in(tmp_path, streaming_settings, kafka_broker)[0].with_overrides(raw_uri=str(tmp_path / "raw"))
    environment = {**os.environ, **settings.to_environ(), "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "spark_streaming", "--available-now"],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("stream:")]
    assert len(errors) == 1 and str(tmp_path / "raw") in errors[0], result.stderr[-3000:]
