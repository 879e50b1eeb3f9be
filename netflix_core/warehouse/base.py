"""The one interface both layers write and read the warehouse through (DuckDB here, BigQuery in prod).

The batch layer replaces a table's months in one transaction; the speed layer commits each
micro-batch (upserted windows, quarantined messages, its ``stream_batches`` row) in one
transaction and skips a batch id it has committed before; readers (the command line, checks,
dashboards) run SQL. Timestamps are naive UTC throughout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol

import pandas as pd

from netflix_core.contract import (
    BATCH_SOURCE,
    ENGAGEMENT_HEALTH_BATCH,
    ENGAGEMENT_HEALTH_REALTIME,
    SPEED_SOURCE,
    WarehouseTable,
)

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
    quarantined: pd.DataFrame  # raw_value, reason, topic, partition, offset, kafka_timestamp


@dataclass(frozen=True)
class MicroBatch:
    """Everything one micro-batch writes, computed before the warehouse transaction opens."""

    query_id: str
    batch_id: int
    aggregates: pd.DataFrame  # engagement_health_realtime rows, one per grain key
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

    @classmethod
    def of(cls, batch: MicroBatch, committed_at: datetime) -> BatchReport:
        return cls(
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


class WarehouseError(RuntimeError):
    """A warehouse request that failed for a reason the user can act on (bad SQL, a lock held too long)."""


class Warehouse(Protocol):
    """What both layers and every reader need from a warehouse."""

    def replace_rows(self, table: WarehouseTable, rows: pd.DataFrame, months: tuple[date, date] | None = None) -> int:
        """Writes ``rows`` in one transaction, replacing the months ``[start, end)`` or the whole table."""
        ...

    def replace_days(self, table: WarehouseTable, rows: pd.DataFrame, days: tuple[date, date]) -> int:
        """Writes ``rows`` in one transaction, replacing the rows whose ``table.day_column`` falls on
        the days ``[start, end)``. For engagement_health_batch this is what switches those days of
        the serving view from the speed layer to the batch layer."""
        ...

    def create_serving_view(self) -> None:
        """Creates (or replaces) the serving view ``serving_view_sql()``, and the tables it reads if missing."""
        ...

    def query(self, sql: str) -> pd.DataFrame: ...

    def table_exists(self, table: str) -> bool:
        """Whether ``dataset.table`` exists."""
        ...

    def create_streaming_tables(self) -> None: ...

    def commit_micro_batch(self, batch: MicroBatch, committed_at: datetime) -> BatchReport | None:
        """Commits the batch all-or-nothing; ``None`` when its (query_id, batch_id) was committed before."""
        ...

    def latest_batch(self) -> BatchReport | None: ...


def serving_view_sql() -> str:
    """The query of ``netflix_serving.engagement_health`` (contract section 7b), in SQL that DuckDB
    and BigQuery read alike.

    Per 5-minute window: the batch view's rows where the window's day has been recomputed, the speed
    layer's rows otherwise. A day counts as recomputed when the batch view holds rows of it, so
    ``replace_days`` switches a day in the transaction that writes it, and a day the archive has
    nothing of (say, streamed before the archive existed) keeps the speed layer's rows.
    """
    columns = ", ".join(ENGAGEMENT_HEALTH_REALTIME.column_names)
    batch, speed = ENGAGEMENT_HEALTH_BATCH.qualified_name, ENGAGEMENT_HEALTH_REALTIME.qualified_name
    day = f"CAST({ENGAGEMENT_HEALTH_BATCH.day_column} AS DATE)"
    return (
        f"SELECT {columns}, '{BATCH_SOURCE}' AS source FROM {batch}\n"
        "UNION ALL\n"
        f"SELECT {columns}, '{SPEED_SOURCE}' AS source FROM {speed}\n"
        f"WHERE {day} NOT IN (SELECT DISTINCT {day} FROM {batch})"
    )


def offsets_json(offsets: Offsets) -> str:
    """Spark's JSON form with partitions in numeric order: {"topic": {"0": 120, "1": 97}}."""
    return json.dumps(
        {topic: {p: offsets[topic][p] for p in sorted(offsets[topic], key=int)} for topic in sorted(offsets)}
    )


def utc_now() -> datetime:
    """The current UTC time as a naive timestamp, the warehouse's TIMESTAMP convention."""
    return datetime.now(UTC).replace(tzinfo=None)


BATCH_REPORT_COLUMNS = (
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


def report_row(report: BatchReport) -> dict[str, object]:
    """The ``stream_batches`` row of a report, offsets as Spark's JSON text."""
    values = {name: getattr(report, name) for name in BATCH_REPORT_COLUMNS}
    return values | {name: offsets_json(values[name]) for name in ("start_offsets", "end_offsets")}


def report_from_row(row: dict[str, object]) -> BatchReport:
    offsets = {name: json.loads(row[name]) for name in ("start_offsets", "end_offsets")}
    return BatchReport(**({name: row[name] for name in BATCH_REPORT_COLUMNS} | offsets))
