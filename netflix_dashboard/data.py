"""What each page reads, as plain frames with a status: never an exception.

A page must show an empty state, not a traceback, whatever the warehouse does: a table not
created yet, a table with no rows, a file locked by a writer, a view dropped between two
queries. So every read goes through `Warehouse.read`, which turns all of these into a `Status`
and logs the cause for whoever runs the server.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from netflix_dashboard import queries, tables
from netflix_dashboard.reader import WarehouseReader

log = logging.getLogger(__name__)

WINDOW = timedelta(minutes=5)
# The timeline shows the day of event time before the newest window (at most its 288 windows:
# a stream over old and live events leaves years between windows, which a line would bridge); the
# "recent" figures (alerts, rates, top segments) the last hour.
TIMELINE = timedelta(hours=24)
TIMELINE_WINDOWS = TIMELINE // WINDOW
RECENT = timedelta(minutes=60)
ALERT_ROWS = 50
TOP_SEGMENTS = 10
LAG_BATCHES = 60
TOP_CONTENT = 15


class Status(enum.Enum):
    READY = "ready"
    MISSING = "missing"  # the table or view does not exist (yet)
    EMPTY = "empty"  # it exists and has no rows
    UNREADABLE = "unreadable"  # it exists but the read failed (locked file, network, ...)


@dataclass(frozen=True)
class TableRead:
    table: str
    status: Status
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def ready(self) -> bool:
        return self.status is Status.READY


class Warehouse:
    """One page render's view of the reader: asks once whether each table exists."""

    def __init__(self, reader: WarehouseReader) -> None:
        self._reader = reader
        self._exists: dict[str, bool | None] = {}

    def exists(self, table: str) -> bool | None:
        """True or False, or None when the warehouse could not tell."""
        if table not in self._exists:
            try:
                self._exists[table] = bool(self._reader.table_exists(table))
            except Exception as error:  # noqa: BLE001 - any backend's error becomes a status on the page
                log.warning("could not check whether %s exists: %s", table, _one_line(error))
                self._exists[table] = None
        return self._exists[table]

    def read(self, table: str, sql: str) -> TableRead:
        exists = self.exists(table)
        if exists is None:
            return TableRead(table, Status.UNREADABLE)
        if not exists:
            return TableRead(table, Status.MISSING)
        try:
            frame = self._reader.query(sql)
        except Exception as error:  # noqa: BLE001 - any backend's error becomes a status on the page
            log.warning("reading %s failed: %s", table, _one_line(error))
            # A view dropped or a table replaced since the check reads as missing, not broken.
            self._exists.pop(table, None)
            return TableRead(table, Status.MISSING if self.exists(table) is False else Status.UNREADABLE)
        if frame is None or frame.empty:
            return TableRead(table, Status.EMPTY)
        return TableRead(table, Status.READY, frame)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def utc_naive(values: pd.Series) -> pd.Series:
    """Timestamps as naive UTC: DuckDB gives naive UTC, BigQuery tz-aware UTC."""
    converted = pd.to_datetime(values)
    if getattr(converted.dt, "tz", None) is not None:
        converted = converted.dt.tz_convert("UTC").dt.tz_localize(None)
    return converted


def _with_timestamps(read: TableRead, *columns: str) -> TableRead:
    if not read.ready:
        return read
    frame = read.frame.copy()
    for column in columns:
        frame[column] = utc_naive(frame[column])
    return TableRead(read.table, read.status, frame)


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# --- Real-Time Engagement ----------------------------------------------------------------------


@dataclass(frozen=True)
class Realtime:
    engagement_table: str
    windows: TableRead  # one row per window, oldest first, with the session-weighted rates
    alerts: TableRead
    genres: TableRead
    countries: TableRead
    batches: TableRead  # newest first
    recent_since: datetime | None
    read_at: datetime

    @property
    def latest_window(self) -> pd.Series | None:
        return self.windows.frame.iloc[-1] if self.windows.ready else None

    @property
    def recent_windows(self) -> pd.DataFrame:
        if not self.windows.ready or self.recent_since is None:
            return pd.DataFrame()
        frame = self.windows.frame
        return frame[frame["window_start"] >= self.recent_since]


def engagement_table(warehouse: Warehouse) -> str:
    """The serving view when it exists (batch-recomputed windows where available), else the speed layer's table."""
    if warehouse.exists(tables.ENGAGEMENT_HEALTH_SERVING):
        return tables.ENGAGEMENT_HEALTH_SERVING
    return tables.ENGAGEMENT_HEALTH_REALTIME


def with_rates(windows: pd.DataFrame) -> pd.DataFrame:
    """Rates of summed counts (x 100, as in the table), so a big segment weighs more than a small one."""
    frame = windows.copy()
    sessions = frame["total_sessions"].astype("float64").where(frame["total_sessions"] > 0)
    for rate, count in (
        ("low_engagement_rate", "low_engagement_count"),
        ("abandonment_rate", "abandonment_count"),
        ("completion_rate", "completion_count"),
    ):
        frame[rate] = frame[count].astype("float64") / sessions * 100
    frame["revenue_at_risk"] = frame["revenue_at_risk_high"].fillna(0) + frame["revenue_at_risk_medium"].fillna(0)
    return frame


def load_realtime(reader: WarehouseReader) -> Realtime:
    warehouse = Warehouse(reader)
    table = engagement_table(warehouse)
    windows = _with_timestamps(
        warehouse.read(table, queries.latest_windows(table, TIMELINE_WINDOWS)),
        "window_start",
        "window_end",
        "updated_at",
    )
    batches = _with_timestamps(
        warehouse.read(tables.STREAM_BATCHES, queries.recent_stream_batches(LAG_BATCHES)),
        "committed_at",
        "min_kafka_timestamp",
        "max_kafka_timestamp",
        "max_event_time",
    )
    if not windows.ready:
        empty = TableRead(table, windows.status)
        return Realtime(table, windows, empty, empty, empty, batches, None, utc_now())

    frame = with_rates(windows.frame.sort_values("window_start").reset_index(drop=True))
    frame = frame[frame["window_start"] > frame["window_start"].max() - TIMELINE].reset_index(drop=True)
    windows = TableRead(table, Status.READY, frame)
    since = (frame["window_start"].max() - RECENT + WINDOW).to_pydatetime()
    alerts = _with_timestamps(
        warehouse.read(table, queries.churn_alerts_since(table, since, ALERT_ROWS)), "window_start"
    )
    genres = warehouse.read(table, queries.top_segments_since(table, "genre_primary", since, TOP_SEGMENTS))
    countries = warehouse.read(table, queries.top_segments_since(table, "country", since, TOP_SEGMENTS))
    return Realtime(table, windows, alerts, genres, countries, batches, since, utc_now())


@dataclass(frozen=True)
class StreamHealth:
    """The speed layer's last commit and how far behind it runs, from stream_batches."""

    last_batch_id: int
    committed_at: datetime
    since_commit: timedelta  # wall clock now - last commit
    commit_lag: timedelta | None  # last commit - newest Kafka timestamp it read
    event_time_lag: timedelta | None  # last commit - newest event time it read
    max_event_time: datetime | None
    input_rows: int


def stream_health(batches: TableRead, now: datetime) -> StreamHealth | None:
    if not batches.ready:
        return None
    latest = batches.frame.iloc[0]
    # An idle micro-batch reads nothing and has no timestamps; the lag is that of the last one that read events.
    with_input = batches.frame.dropna(subset=["max_kafka_timestamp"])
    reading = with_input.iloc[0] if not with_input.empty else None

    def gap(start: object, end: object) -> timedelta | None:
        return None if pd.isna(start) or pd.isna(end) else (end - start).to_pytimedelta()

    return StreamHealth(
        last_batch_id=int(latest["batch_id"]),
        committed_at=latest["committed_at"].to_pydatetime(),
        since_commit=max(now - latest["committed_at"].to_pydatetime(), timedelta(0)),
        commit_lag=None if reading is None else gap(reading["max_kafka_timestamp"], reading["committed_at"]),
        event_time_lag=None if reading is None else gap(reading["max_event_time"], reading["committed_at"]),
        max_event_time=None if reading is None or pd.isna(reading["max_event_time"]) else reading["max_event_time"],
        input_rows=int(latest["input_rows"]),
    )


def batch_lags(batches: TableRead) -> pd.DataFrame:
    """Per committed micro-batch that read events: seconds from its newest Kafka record to its commit."""
    if not batches.ready:
        return pd.DataFrame(columns=["committed_at", "lag_seconds", "input_rows"])
    frame = batches.frame.dropna(subset=["max_kafka_timestamp"]).sort_values("committed_at")
    return pd.DataFrame(
        {
            "committed_at": frame["committed_at"],
            "batch_id": frame["batch_id"],
            "lag_seconds": (frame["committed_at"] - frame["max_kafka_timestamp"]).dt.total_seconds(),
            "input_rows": frame["input_rows"],
        }
    )


# --- Historical Trends -------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    engagement: TableRead
    cohorts: TableRead
    genres: TableRead
    content_months: TableRead  # newest first

    @property
    def reads(self) -> tuple[TableRead, ...]:
        return (self.engagement, self.cohorts, self.genres, self.content_months)

    @property
    def months(self) -> tuple[date, date] | None:
        """First and latest month of the batch layer's monthly tables."""
        months = [
            read.frame["month"]
            for read in (self.engagement, self.genres, self.content_months)
            if read.ready and "month" in read.frame
        ]
        if not months:
            return None
        values = pd.concat(months)
        return values.min().date(), values.max().date()


def _with_dates(read: TableRead, *columns: str) -> TableRead:
    # DuckDB gives DATE as datetime64, BigQuery as its own dbdate: both become Timestamps here.
    if not read.ready:
        return read
    frame = read.frame.copy()
    for column in columns:
        frame[column] = pd.to_datetime(frame[column].astype("object"))
    return TableRead(read.table, read.status, frame)


def load_history(reader: WarehouseReader) -> History:
    warehouse = Warehouse(reader)
    return History(
        engagement=_with_dates(warehouse.read(tables.MONTHLY_ENGAGEMENT, queries.monthly_engagement()), "month"),
        cohorts=_with_dates(
            warehouse.read(tables.COHORT_RETENTION, queries.cohort_retention()), "cohort_month", "activity_month"
        ),
        genres=load_genres(reader, warehouse),
        content_months=_with_dates(warehouse.read(tables.CONTENT_PERFORMANCE, queries.content_months()), "month"),
    )


def load_genres(reader: WarehouseReader, warehouse: Warehouse | None = None) -> TableRead:
    warehouse = warehouse or Warehouse(reader)
    return _with_dates(warehouse.read(tables.GENRE_PERFORMANCE, queries.genre_performance()), "month")


def load_top_content(reader: WarehouseReader, month: date) -> TableRead:
    return Warehouse(reader).read(tables.CONTENT_PERFORMANCE, queries.top_content(month, TOP_CONTENT))
