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

That one re-read also feeds the archive, the batch layer's copy of what the speed layer saw
(``<lake>/watch_events/``, contract section 7b): every valid record of the range, filed under
``event_date=D/query_id=Q/batch_id=N/``. It is exactly once for the same reasons:

* The folders of batch N are a function of (query id, N) and of the range's records, which a
  replay reads again unchanged; the write replaces exactly those folders (dynamic partition
  overwrite), so a replay leaves one copy however many attempts ran before it. Spark writes into a
  hidden staging folder and moves it into place when the write commits, so a reader never sees
  the files of an unfinished attempt.
* The archive is written *before* the warehouse transaction. A crash before that transaction
  commits makes Spark replay N, which rewrites the same folders; once ``stream_batches`` holds
  N, its archive is complete. A replay of a batch already committed (a crash between the
  warehouse commit and Spark's commit log) rewrites its folders with the same records before the
  sink skips the warehouse write.
* Quarantined messages are not archived: they live in ``quarantined_events``. The archive keeps
  late events and duplicates, which the speed layer drops: deciding about them is the views' job.

A rebuilt checkpoint (a new query id) reads the topic again and files it under its own query id;
the views' de-duplication on (session_id, event_time) absorbs the second copy.

The warehouse side (one transaction, skip a committed batch id) is ``commit_micro_batch`` of
the core's ``Warehouse`` interface, implemented once per warehouse.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from netflix_core.contract import QUARANTINED_EVENTS
from netflix_core.lake import LakePaths, archive_micro_batch, read_text
from netflix_core.transforms.engagement_health import archived_events, parse_watch_events
from netflix_core.warehouse import BatchReport, MicroBatch, OffsetRangeSummary, Offsets, Warehouse, utc_now

# The quarantine table's columns that come from Kafka (batch_id and query_id come from the batch).
QUARANTINE_COLUMNS = tuple(name for name in QUARANTINED_EVENTS.column_names if name not in ("batch_id", "query_id"))


def _utc_from_micros(micros: int | None) -> datetime | None:
    if micros is None:
        return None
    return datetime(1970, 1, 1) + timedelta(microseconds=micros)


# --- Spark's checkpoint: where a batch's offset range is written before the batch runs ----------


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
        return json.loads(read_text(self.spark, f"{self.path}/metadata"))["id"]

    def batch_offsets(self, batch_id: int) -> tuple[Offsets, Offsets]:
        """(start, end) of a batch: the previous batch's end, or the source's initial offsets for batch 0."""
        end = _offsets_from_log_entry(read_text(self.spark, f"{self.path}/offsets/{batch_id}"))
        start_file = f"{self.path}/offsets/{batch_id - 1}" if batch_id > 0 else f"{self.path}/sources/0/0"
        return _offsets_from_log_entry(read_text(self.spark, start_file)), end


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
        # As in the stream: records that retention deleted are skipped (and logged), not a failure.
        .option("failOnDataLoss", "false")
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


def empty_offset_range(start: Offsets, end: Offsets) -> OffsetRangeSummary:
    """A no-data batch (Spark runs one to advance the watermark)."""
    return OffsetRangeSummary(start, end, 0, None, None, None, pd.DataFrame(columns=QUARANTINE_COLUMNS))


def _range_metrics() -> list[Column]:
    """Counts, timestamps and quarantined messages of parsed records, as one aggregate.

    The few quarantined messages ride along in the aggregate. Timestamps travel as epoch
    microseconds because collecting them would turn them into this process's local time.
    """
    quarantined = F.col("quarantine_reason").isNotNull()
    return [
        F.count(F.lit(1)).alias("input_rows"),
        F.unix_micros(F.min("kafka_timestamp")).alias("min_kafka_timestamp"),
        F.unix_micros(F.max("kafka_timestamp")).alias("max_kafka_timestamp"),
        F.unix_micros(F.max(F.when(~quarantined, F.col("event_time")))).alias("max_event_time"),
        # As JSON text: an observed metric reaches Python as plain values only.
        F.to_json(F.collect_list(F.when(quarantined, _quarantined_message()))).alias("quarantined"),
    ]


def _summary(facts: dict[str, Any], start: Offsets, end: Offsets) -> OffsetRangeSummary:
    messages = pd.DataFrame(json.loads(facts["quarantined"]), columns=QUARANTINE_COLUMNS)
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


def archive_and_summarize(
    parsed: DataFrame, lake: LakePaths, query_id: str, batch_id: int, start: Offsets, end: Offsets
) -> OffsetRangeSummary:
    """Archives the valid records of [start, end) and summarizes them all, in one pass over them.

    The summary is observed while the archive write reads the records, so the range is read from
    Kafka and parsed once, without caching it.
    """
    observation = Observation()
    archive_micro_batch(archived_events(parsed.observe(observation, *_range_metrics())), lake, query_id, batch_id)
    return _summary(observation.get, start, end)


# --- The foreachBatch function ------------------------------------------------------------------


@dataclass
class EngagementSink:
    """``foreachBatch`` target: aggregates of batch N + its Kafka range -> one warehouse transaction."""

    spark: SparkSession
    warehouse: Warehouse
    checkpoint: SparkCheckpoint
    bootstrap_servers: str
    lake: LakePaths
    on_batch: Callable[[BatchReport], None] | None = None

    def __call__(self, aggregates: DataFrame, batch_id: int) -> None:
        start, end = self.checkpoint.batch_offsets(batch_id)
        query_id = self.checkpoint.query_id()
        # The Kafka re-read and archive write runs beside the stateful plan: the two are
        # independent, and each spends much of its time on the driver (planning, file commits,
        # state store commits) rather than on the cores; together they set the batch's latency.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"archive-{batch_id}") as archive:
            inputs = archive.submit(self._archive_and_summarize, query_id, batch_id, start, end)
            # Collected even when the batch turns out to be committed already: running the stateful
            # plan is what rebuilds Spark's state for this batch on a replay.
            rows = aggregates.toPandas()
            batch = MicroBatch(query_id=query_id, batch_id=batch_id, aggregates=rows, inputs=inputs.result())
        report = self.warehouse.commit_micro_batch(batch, utc_now())
        if report is None:
            print(f"batch {batch_id}: already committed, skipped (a replay after a restart)", flush=True)
            return
        print(report.describe(), flush=True)
        if self.on_batch is not None:
            self.on_batch(report)

    def _archive_and_summarize(self, query_id: str, batch_id: int, start: Offsets, end: Offsets) -> OffsetRangeSummary:
        """Re-reads the batch's records from Kafka once: archives the valid ones, summarizes them all."""
        if start == end:
            return empty_offset_range(start, end)
        records = parse_watch_events(read_offset_range(self.spark, self.bootstrap_servers, start, end))
        return archive_and_summarize(records, self.lake, query_id, batch_id, start, end)
