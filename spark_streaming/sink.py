"""The exactly-once foreachBatch sink of the speed layer (SPEC section 7, "Sink semantics").

How a crash at any point neither loses nor double-counts an event:

* Spark writes the offset range of micro-batch N to the checkpoint's offset log *before* running
  it, and marks N done in the commit log only *after* this sink returns. A restart re-runs every
  batch that has no commit-log entry, with the same offsets, the same watermark and the state of
  batch N-1, so it recomputes exactly the same aggregate rows and the same state.
* The sink writes a batch in ONE warehouse transaction: the upserted aggregate rows, the
  quarantined messages and the ``stream_batches`` row. A crash before COMMIT leaves nothing; a
  crash after COMMIT but before Spark's commit log makes Spark re-run N, and the sink skips it
  because (query_id, N) is already in ``stream_batches``.
* The query runs in update mode: a batch emits the complete current aggregate of every group it
  touched (the running totals live in Spark's state), so the write is an upsert keyed by the
  grain, never an increment.

Batch ids count from 0 in each checkpoint, so ``stream_batches`` is keyed by (query_id, batch_id),
with Spark's query id that the checkpoint keeps: a new checkpoint (a rebuild from the earliest
offsets) gets a new id and is never mistaken for batches already committed.

The batch's offsets, input counts and quarantined messages are not in the aggregated DataFrame
that foreachBatch receives, so the sink reads the batch's offset range from Spark's offset log
and re-reads exactly that range from Kafka (Kafka records are immutable, so it is the same data).

``StreamingWarehouse`` is the small interface a warehouse implements (DuckDB here); a BigQuery
variant would do the same in a multi-statement transaction with MERGE.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from netflix_assets.resources import DuckDBWarehouse
from spark_streaming.transforms import GRAIN, REALTIME_COLUMNS, parse_watch_events

DATASET = "netflix_streaming"
REALTIME_TABLE = f"{DATASET}.engagement_health_realtime"
QUARANTINE_TABLE = f"{DATASET}.quarantined_events"
BATCHES_TABLE = f"{DATASET}.stream_batches"

QUARANTINE_COLUMNS = ("raw_value", "reason", "topic", "partition", "offset", "kafka_timestamp")

# {"netflix_watch_events": {"0": 120, "1": 97}}: Spark's own form of Kafka offsets, end exclusive.
Offsets = dict[str, dict[str, int]]


@dataclass(frozen=True)
class OffsetRangeSummary:
    """What a micro-batch read from Kafka: its offset range and the facts about those records."""

    start_offsets: Offsets
    end_offsets: Offsets
    input_rows: int
    min_kafka_timestamp: datetime | None
    max_kafka_timestamp: datetime | None
    max_event_time: datetime | None
    quarantined: pd.DataFrame  # QUARANTINE_COLUMNS


@dataclass(frozen=True)
class MicroBatch:
    """Everything one micro-batch writes, computed before the warehouse transaction opens."""

    query_id: str
    batch_id: int
    aggregates: pd.DataFrame  # REALTIME_COLUMNS, one row per grain key
    inputs: OffsetRangeSummary


@dataclass(frozen=True)
class BatchReport:
    """One committed micro-batch: the row it wrote to ``stream_batches``."""

    query_id: str
    batch_id: int
    committed_at: datetime
    input_rows: int
    quarantined_rows: int
    upserted_rows: int
    start_offsets: Offsets
    end_offsets: Offsets
    min_kafka_timestamp: datetime | None
    max_kafka_timestamp: datetime | None
    max_event_time: datetime | None

    @property
    def lag_seconds(self) -> float | None:
        """Seconds from the batch's newest Kafka timestamp to the commit that made it visible."""
        if self.max_kafka_timestamp is None:
            return None
        return (self.committed_at - self.max_kafka_timestamp).total_seconds()

    def describe(self) -> str:
        lag = "n/a" if self.lag_seconds is None else f"{self.lag_seconds:.1f}s"
        return (
            f"batch {self.batch_id}: {self.input_rows} events ({self.quarantined_rows} quarantined), "
            f"{self.upserted_rows} rows upserted, lag {lag}, end offsets {offsets_json(self.end_offsets)}"
        )


class StreamingWarehouse(Protocol):
    """What the sink needs from a warehouse: the tables, and an all-or-nothing batch commit."""

    def create_tables(self) -> None: ...

    def commit(self, batch: MicroBatch, committed_at: datetime) -> BatchReport | None:
        """Writes the batch in one transaction; None if (query_id, batch_id) was already committed."""
        ...

    def latest_batch(self) -> BatchReport | None: ...


def offsets_json(offsets: Offsets) -> str:
    """Spark's JSON form with partitions in numeric order: {"topic": {"0": 120, "1": 97}}."""
    return json.dumps(
        {topic: {p: offsets[topic][p] for p in sorted(offsets[topic], key=int)} for topic in sorted(offsets)}
    )


def utc_now() -> datetime:
    """The current UTC time as a naive timestamp, the warehouse's TIMESTAMP convention."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _utc_from_micros(micros: int | None) -> datetime | None:
    if micros is None:
        return None
    return datetime(1970, 1, 1) + timedelta(microseconds=micros)


# --- Spark's checkpoint: where a batch's offset range is written before the batch runs ----------


def _read_text(spark: SparkSession, path: str) -> str:
    """A small file through Hadoop's file system API, so a gs:// checkpoint reads like a local one."""
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    filesystem = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    stream = filesystem.open(hadoop_path)
    try:
        return jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def _offsets_from_log_entry(text: str) -> Offsets:
    # An offset-log entry is "v1", the batch metadata, then one line per source (one here).
    # The Kafka source's initial-offsets file has one line after the version, behind a NUL byte.
    lines = [line for line in text.lstrip("\x00").splitlines() if line.strip()]
    offsets = json.loads(lines[-1])
    return {topic: {str(p): int(o) for p, o in partitions.items()} for topic, partitions in offsets.items()}


@dataclass(frozen=True)
class SparkCheckpoint:
    spark: SparkSession
    path: str

    def query_id(self) -> str:
        """The id Spark keeps for the query across restarts; a new checkpoint gets a new one."""
        return json.loads(_read_text(self.spark, f"{self.path}/metadata"))["id"]

    def batch_offsets(self, batch_id: int) -> tuple[Offsets, Offsets]:
        """(start, end) of a batch: the previous batch's end, or the source's initial offsets for batch 0."""
        end = _offsets_from_log_entry(_read_text(self.spark, f"{self.path}/offsets/{batch_id}"))
        start_file = f"{self.path}/offsets/{batch_id - 1}" if batch_id > 0 else f"{self.path}/sources/0/0"
        return _offsets_from_log_entry(_read_text(self.spark, start_file)), end


# --- Re-reading a batch's offset range from Kafka -----------------------------------------------


def _earliest_for_new_partitions(start: Offsets, end: Offsets) -> Offsets:
    # A partition added to the topic during the batch has no start yet: Spark reads it from the
    # beginning, which Kafka's JSON offsets spell -2.
    return {topic: {p: start.get(topic, {}).get(p, -2) for p in partitions} for topic, partitions in end.items()}


def read_offset_range(spark: SparkSession, bootstrap_servers: str, start: Offsets, end: Offsets) -> DataFrame:
    start = _earliest_for_new_partitions(start, end)
    assigned = {topic: [int(p) for p in partitions] for topic, partitions in end.items()}
    return (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap_servers)
        .option("assign", json.dumps(assigned))
        .option("startingOffsets", json.dumps(start))
        .option("endingOffsets", json.dumps(end))
        .load()
    )


def _quarantined_message() -> Column:
    """A quarantined message with its Kafka coordinates, the Kafka timestamp in epoch microseconds."""
    return F.struct(
        "raw_value",
        F.col("quarantine_reason").alias("reason"),
        "topic",
        "partition",
        "offset",
        F.unix_micros("kafka_timestamp").alias("kafka_timestamp"),
    )


def summarize_offset_range(
    spark: SparkSession, bootstrap_servers: str, start: Offsets, end: Offsets
) -> OffsetRangeSummary:
    """Counts, timestamps and quarantined messages of the records in [start, end)."""
    if start == end:  # a no-data batch (Spark runs one to advance the watermark)
        return OffsetRangeSummary(start, end, 0, None, None, None, pd.DataFrame(columns=QUARANTINE_COLUMNS))
    parsed = parse_watch_events(read_offset_range(spark, bootstrap_servers, start, end))
    quarantined = F.col("quarantine_reason").isNotNull()
    # One pass over the range: the few quarantined messages ride along in the aggregate. Timestamps
    # travel as epoch microseconds because collect() would turn them into this process's local time.
    facts = parsed.agg(
        F.count(F.lit(1)).alias("input_rows"),
        F.unix_micros(F.min("kafka_timestamp")).alias("min_kafka_timestamp"),
        F.unix_micros(F.max("kafka_timestamp")).alias("max_kafka_timestamp"),
        F.unix_micros(F.max(F.when(~quarantined, F.col("event_time")))).alias("max_event_time"),
        F.collect_list(F.when(quarantined, _quarantined_message())).alias("quarantined"),
    ).collect()[0]
    messages = pd.DataFrame([row.asDict() for row in facts["quarantined"]], columns=QUARANTINE_COLUMNS)
    messages["kafka_timestamp"] = pd.to_datetime(messages["kafka_timestamp"], unit="us")
    return OffsetRangeSummary(
        start_offsets=start,
        end_offsets=end,
        input_rows=facts["input_rows"],
        min_kafka_timestamp=_utc_from_micros(facts["min_kafka_timestamp"]),
        max_kafka_timestamp=_utc_from_micros(facts["max_kafka_timestamp"]),
        max_event_time=_utc_from_micros(facts["max_event_time"]),
        quarantined=messages,
    )


# --- The DuckDB warehouse -----------------------------------------------------------------------

_DIMENSION_DDL = ",\n".join(f"    {column} VARCHAR NOT NULL" for column in GRAIN[1:])
REALTIME_DDL = f"""
CREATE TABLE IF NOT EXISTS {REALTIME_TABLE} (
    window_start TIMESTAMP NOT NULL,
    window_end TIMESTAMP NOT NULL,
{_DIMENSION_DDL},
    total_sessions BIGINT NOT NULL,
    unique_users BIGINT NOT NULL,
    total_watch_minutes DOUBLE,
    avg_completion_pct DOUBLE,
    avg_content_quality DOUBLE,
    low_engagement_count BIGINT NOT NULL,
    abandonment_count BIGINT NOT NULL,
    quality_downgrade_count BIGINT NOT NULL,
    completion_count BIGINT NOT NULL,
    low_engagement_rate DOUBLE NOT NULL,
    abandonment_rate DOUBLE NOT NULL,
    completion_rate DOUBLE NOT NULL,
    revenue_impact DOUBLE,
    avg_subscriber_value DOUBLE,
    alert_level VARCHAR NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY ({", ".join(GRAIN)})
)"""

# "partition" and "offset" are SQL keywords, hence quoted; they keep the names of Spark's Kafka columns.
QUARANTINE_DDL = f"""
CREATE TABLE IF NOT EXISTS {QUARANTINE_TABLE} (
    raw_value VARCHAR,
    reason VARCHAR NOT NULL,
    topic VARCHAR NOT NULL,
    "partition" INTEGER NOT NULL,
    "offset" BIGINT NOT NULL,
    kafka_timestamp TIMESTAMP,
    batch_id BIGINT NOT NULL,
    query_id VARCHAR NOT NULL,
    PRIMARY KEY (topic, "partition", "offset")
)"""

BATCHES_DDL = f"""
CREATE TABLE IF NOT EXISTS {BATCHES_TABLE} (
    batch_id BIGINT NOT NULL,
    committed_at TIMESTAMP NOT NULL,
    input_rows BIGINT NOT NULL,
    quarantined_rows BIGINT NOT NULL,
    upserted_rows BIGINT NOT NULL,
    start_offsets VARCHAR NOT NULL,
    end_offsets VARCHAR NOT NULL,
    min_kafka_timestamp TIMESTAMP,
    max_kafka_timestamp TIMESTAMP,
    max_event_time TIMESTAMP,
    query_id VARCHAR NOT NULL,
    PRIMARY KEY (query_id, batch_id)
)"""

_REALTIME_COLUMN_LIST = ", ".join(REALTIME_COLUMNS)
_BATCH_COLUMN_NAMES = (
    "batch_id",
    "committed_at",
    "input_rows",
    "quarantined_rows",
    "upserted_rows",
    "start_offsets",
    "end_offsets",
    "min_kafka_timestamp",
    "max_kafka_timestamp",
    "max_event_time",
    "query_id",
)
_BATCH_COLUMNS = ", ".join(_BATCH_COLUMN_NAMES)


def _row_from_report(report: BatchReport) -> list:
    values = asdict(report)
    offsets = {name: offsets_json(values[name]) for name in ("start_offsets", "end_offsets")}
    return [(values | offsets)[name] for name in _BATCH_COLUMN_NAMES]


def _report_from_row(row: tuple) -> BatchReport:
    values = dict(zip(_BATCH_COLUMN_NAMES, row))
    offsets = {name: json.loads(values[name]) for name in ("start_offsets", "end_offsets")}
    return BatchReport(**(values | offsets))


@dataclass(frozen=True)
class DuckDBStreamingWarehouse:
    """``StreamingWarehouse`` on the embedded DuckDB file, holding its lock only per transaction."""

    warehouse: DuckDBWarehouse

    def create_tables(self) -> None:
        with self.warehouse.connect() as connection:
            for ddl in (REALTIME_DDL, QUARANTINE_DDL, BATCHES_DDL):
                connection.execute(ddl)

    def commit(self, batch: MicroBatch, committed_at: datetime) -> BatchReport | None:
        report = BatchReport(
            query_id=batch.query_id,
            batch_id=batch.batch_id,
            committed_at=committed_at,
            input_rows=batch.inputs.input_rows,
            quarantined_rows=len(batch.inputs.quarantined),
            upserted_rows=len(batch.aggregates),
            start_offsets=batch.inputs.start_offsets,
            end_offsets=batch.inputs.end_offsets,
            min_kafka_timestamp=batch.inputs.min_kafka_timestamp,
            max_kafka_timestamp=batch.inputs.max_kafka_timestamp,
            max_event_time=batch.inputs.max_event_time,
        )
        # A failure anywhere before COMMIT leaves nothing: closing the connection rolls back.
        with self.warehouse.connect() as connection:
            connection.execute("BEGIN TRANSACTION")
            if self._is_committed(connection, batch.query_id, batch.batch_id):
                connection.execute("ROLLBACK")
                return None
            self._write(connection, batch, report)
            connection.execute("COMMIT")
        return report

    def latest_batch(self) -> BatchReport | None:
        if not Path(self.warehouse.path).exists():
            return None
        with self.warehouse.connect(read_only=True) as connection:
            if not self._has_batches_table(connection):
                return None
            rows = connection.execute(
                f"SELECT {_BATCH_COLUMNS} FROM {BATCHES_TABLE} ORDER BY committed_at DESC, batch_id DESC LIMIT 1"
            ).fetchall()
        return _report_from_row(rows[0]) if rows else None

    @staticmethod
    def _has_batches_table(connection) -> bool:
        schema, table = BATCHES_TABLE.split(".")
        return bool(
            connection.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                [schema, table],
            ).fetchall()[0][0]
        )

    @staticmethod
    def _is_committed(connection, query_id: str, batch_id: int) -> bool:
        rows = connection.execute(
            f"SELECT count(*) FROM {BATCHES_TABLE} WHERE query_id = ? AND batch_id = ?", [query_id, batch_id]
        ).fetchall()
        return rows[0][0] > 0

    @staticmethod
    def _write(connection, batch: MicroBatch, report: BatchReport) -> None:
        aggregates = batch.aggregates[list(REALTIME_COLUMNS)]
        connection.register("batch_aggregates", aggregates)
        # Update mode hands over each touched group's complete running aggregate: replace by grain.
        connection.execute(
            f"INSERT OR REPLACE INTO {REALTIME_TABLE} ({_REALTIME_COLUMN_LIST}) "
            f"SELECT {_REALTIME_COLUMN_LIST} FROM batch_aggregates"
        )
        connection.unregister("batch_aggregates")
        quarantined = batch.inputs.quarantined.assign(batch_id=batch.batch_id, query_id=batch.query_id)
        connection.register("batch_quarantined", quarantined)
        # A rebuilt checkpoint re-reads the same messages: the Kafka coordinates identify each one.
        connection.execute(
            f'INSERT OR REPLACE INTO {QUARANTINE_TABLE} (raw_value, reason, topic, "partition", "offset", '
            "kafka_timestamp, batch_id, query_id) "
            'SELECT raw_value, reason, topic, "partition", "offset", kafka_timestamp, batch_id, query_id '
            "FROM batch_quarantined"
        )
        connection.unregister("batch_quarantined")
        placeholders = ", ".join("?" for _ in _BATCH_COLUMN_NAMES)
        connection.execute(
            f"INSERT INTO {BATCHES_TABLE} ({_BATCH_COLUMNS}) VALUES ({placeholders})", _row_from_report(report)
        )


# --- The foreachBatch function ------------------------------------------------------------------


@dataclass
class EngagementSink:
    """``foreachBatch`` target: aggregates of batch N + its Kafka range -> one warehouse transaction."""

    spark: SparkSession
    warehouse: StreamingWarehouse
    checkpoint: SparkCheckpoint
    bootstrap_servers: str
    on_batch: Callable[[BatchReport], None] | None = None

    def __call__(self, aggregates: DataFrame, batch_id: int) -> None:
        # Collected even when the batch turns out to be committed already: running the stateful
        # plan is what rebuilds Spark's state for this batch on a replay.
        rows = aggregates.toPandas()
        start, end = self.checkpoint.batch_offsets(batch_id)
        batch = MicroBatch(
            query_id=self.checkpoint.query_id(),
            batch_id=batch_id,
            aggregates=rows,
            inputs=summarize_offset_range(self.spark, self.bootstrap_servers, start, end),
        )
        report = self.warehouse.commit(batch, utc_now())
        if report is None:
            print(f"batch {batch_id}: already committed, skipped (a replay after a restart)", flush=True)
            return
        print(report.describe(), flush=True)
        if self.on_batch is not None:
            self.on_batch(report)
