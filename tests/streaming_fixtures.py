"""Shared pieces of the speed-layer tests: the real sample, and a reference written from the contract.

The reference re-implements SPEC section 7 without Spark (Python's json for parsing, DuckDB SQL
for the windows), so a test compares the streaming code with an independent computation over
the same messages instead of with itself. ``reference_stream`` goes further: given the offset
ranges of the committed micro-batches, it says what each batch must have written (input and
quarantined counts, the windows it upserted, its newest event time), which events arrived later
than the watermark, and which quarantined row belongs to which batch. Enabled by
``pytest_plugins`` in tests/conftest.py.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from kafka import KafkaConsumer, TopicPartition
from pyspark.sql import DataFrame, SparkSession

from netflix_core.settings import Settings
from netflix_core.transforms.cleaning import clean_movies, clean_users
from netflix_core.transforms.engagement_health import movie_dimension, user_dimension
from netflix_core.transforms.raw_files import read_raw_csv
from tests.conftest import make_settings

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "kaggle-netflix-2025"
SAMPLE_RAW = SAMPLE / "raw"
SAMPLE_STREAMING = SAMPLE / "streaming"
SAMPLE_EVENTS = 4500

# --- SPEC section 7, written out here (never taken from the product's constants) --------------

SPEC_GRAIN = (
    "window_start",
    "country",
    "genre_primary",
    "device_type",
    "quality",
    "is_netflix_original",
    "content_type",
)
SPEC_REALTIME_COLUMNS = (
    *SPEC_GRAIN,
    "window_end",
    "total_sessions",
    "unique_users",
    "total_watch_minutes",
    "avg_completion_pct",
    "avg_content_quality",
    "low_engagement_count",
    "abandonment_count",
    "quality_downgrade_count",
    "completion_count",
    "low_engagement_rate",
    "abandonment_rate",
    "completion_rate",
    "revenue_impact",
    "avg_subscriber_value",
    "alert_level",
    "updated_at",
)
# SPEC: "the raw value, reason, topic, partition, offset, Kafka timestamp and batch id"; query_id
# is the project's documented addition (docs/CONTRACT.md): batch ids restart with a checkpoint.
SPEC_QUARANTINE_COLUMNS = ("raw_value", "reason", "topic", "partition", "offset", "kafka_timestamp", "batch_id")
SPEC_STREAM_BATCHES_COLUMNS = (
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
)
PROJECT_ADDED_COLUMNS = ("query_id",)
WATERMARK = timedelta(minutes=10)
WINDOW = timedelta(minutes=5)

# approx_count_distinct's default relative standard deviation is 0.05 (Spark's documentation).
# The estimate is a rounded count, and far below its 512 registers (HyperLogLog++'s linear
# counting) its error is whole users lost to hash collisions: so sigma is 5% of the count but
# never less than one user, and a correct sketch stays within three of them.
HLL_RELATIVE_SD = 0.05
HLL_SIGMAS = 3


def hll_bound(exact: pd.Series) -> pd.Series:
    return HLL_SIGMAS * (exact * HLL_RELATIVE_SD).clip(lower=1.0)


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def streaming_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The speed layer's settings over the real sample; their Spark settings are the shared session's."""
    return make_settings(tmp_path_factory.mktemp("speed_layer"), raw=SAMPLE_RAW)


@dataclass(frozen=True)
class Dimensions:
    users: DataFrame  # user_dimension(clean users)
    movies: DataFrame  # movie_dimension(clean movies)


@pytest.fixture(scope="session")
def sample_dimensions(spark: SparkSession) -> Iterator[Dimensions]:
    """The sample's users and movies, cleaned by the batch layer's code, as the stream joins them."""
    users = user_dimension(clean_users(read_raw_csv(spark, str(SAMPLE_RAW / "users.csv"), "users")).clean)
    movies = movie_dimension(clean_movies(read_raw_csv(spark, str(SAMPLE_RAW / "movies.csv"), "movies")).clean)
    dimensions = Dimensions(users.cache(), movies.cache())
    yield dimensions
    dimensions.users.unpersist()
    dimensions.movies.unpersist()


# --- the sample and malformed messages ----------------------------------------------------------


def sample_messages() -> list[bytes]:
    return [line for path in sorted(SAMPLE_STREAMING.glob("*.json")) for line in path.read_bytes().splitlines() if line]


def event(session_id: str, timestamp: str, **fields: object) -> dict[str, object]:
    """A valid watch event with everything set; ``fields`` override."""
    base: dict[str, object] = {
        "session_id": session_id,
        "user_id": "user_00001",
        "movie_id": "movie_0001",
        "watch_date": timestamp[:10],
        "device_type": "Laptop",
        "watch_duration_minutes": 30.0,
        "progress_percentage": 50.0,
        "action": "started",
        "quality": "HD",
        "location_country": "USA",
        "is_download": False,
        "user_rating": math.nan,
        "timestamp": timestamp,
    }
    return {**base, **fields}


def message(fields: dict[str, object]) -> bytes:
    # json.dumps writes a float NaN as the bare token NaN, like the dataset.
    return json.dumps(fields).encode()


def without(fields: dict[str, object], *names: str) -> dict[str, object]:
    return {k: v for k, v in fields.items() if k not in names}


def malformed_messages() -> list[tuple[bytes, str]]:
    """(message, expected reason): at least one message of every kind of malformed input."""
    ok = event("session_bad", "2025-12-01 10:00:00")
    return [
        (b"this is not json", "not_json"),
        (b'{"session_id": "s1", "user_id": ', "not_json"),
        (b"[1, 2, 3]", "not_json"),
        (b'"just a string"', "not_json"),
        (message(without(ok, "session_id")), "missing_session_id"),
        (message({**ok, "session_id": None}), "missing_session_id"),
        (message({**ok, "session_id": "  "}), "missing_session_id"),
        (message({**ok, "session_id": math.nan}), "missing_session_id"),
        (message(without(ok, "user_id")), "missing_user_id"),
        (message({**ok, "user_id": ""}), "missing_user_id"),
        (message(without(ok, "movie_id")), "missing_movie_id"),
        (message({**ok, "movie_id": None}), "missing_movie_id"),
        (message(without(ok, "timestamp")), "missing_timestamp"),
        (message({**ok, "timestamp": ""}), "missing_timestamp"),
        (message({**ok, "timestamp": "yesterday"}), "bad_timestamp"),
        (message({**ok, "timestamp": "2025-13-01 10:00:00"}), "bad_timestamp"),
        (message({**ok, "timestamp": "2025-12-01"}), "bad_timestamp"),
        (message({**ok, "timestamp": "2025-12-01 1:2:3"}), "bad_timestamp"),
        (message({**ok, "watch_duration_minutes": "long"}), "bad_value"),
        (message({**ok, "is_download": "yes"}), "bad_value"),
        (message({**ok, "watch_duration_minutes": -5.0}), "negative_duration"),
    ]


# --- the reference computation ------------------------------------------------------------------

_EVENT_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?$")
_DOUBLE_FIELDS = ("watch_duration_minutes", "progress_percentage", "user_rating")
_TEXT_FIELDS = (
    "session_id",
    "user_id",
    "movie_id",
    "watch_date",
    "device_type",
    "action",
    "quality",
    "location_country",
)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _as_text(value: object) -> str | None:
    """A JSON value of a text field as Spark reads it: NaN (bare or quoted) is missing."""
    if value is None or value == "NaN" or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (dict, list, bool)) else str(value)


def _event_time(text: str) -> datetime | None:
    if not _EVENT_TIME.match(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _as_double(value: object) -> float | None:
    """A JSON value of a number field as Spark reads it (NaN, bare or quoted, is missing); raises
    ValueError for a value Spark rejects."""
    if value is None or value == "NaN":
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    return None if math.isnan(value) else float(value)


def reference_parse(value: bytes | None) -> tuple[str | None, dict | None]:
    """(quarantine reason, None) or (None, typed event) for one Kafka message value."""
    try:
        fields = json.loads(value.decode("utf-8")) if value is not None else None
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        return "not_json", None
    for name in ("session_id", "user_id", "movie_id", "timestamp"):
        if _blank(_as_text(fields.get(name))):
            return f"missing_{name}", None
    event_time = _event_time(_as_text(fields["timestamp"]))
    if event_time is None:
        return "bad_timestamp", None
    try:
        doubles = {name: _as_double(fields.get(name)) for name in _DOUBLE_FIELDS}
    except ValueError:
        return "bad_value", None
    if not isinstance(fields.get("is_download"), (bool, type(None))):
        return "bad_value", None
    typed = {name: _as_text(fields.get(name)) for name in _TEXT_FIELDS} | doubles
    if typed["watch_duration_minutes"] is not None and typed["watch_duration_minutes"] < 0:
        return "negative_duration", None
    typed["event_time"] = event_time
    return None, typed


def reference_dimensions(raw: Path = SAMPLE_RAW) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sample's users and movies as DuckDB reads them, with the SPEC's cleaning of the used columns.

    The sample's duplicate rows are exact duplicates, so DISTINCT is its whole de-duplication.
    """
    connection = duckdb.connect()
    try:
        users = connection.execute(
            f"""
            SELECT DISTINCT user_id, country, subscription_plan,
                   CASE WHEN TRY_CAST(monthly_spend AS DOUBLE) >= 0 THEN TRY_CAST(monthly_spend AS DOUBLE) END
                       AS monthly_spend
            FROM read_csv('{raw / "users.csv"}', header = true, all_varchar = true)
            """
        ).df()
        movies = connection.execute(
            f"""
            SELECT DISTINCT movie_id, genre_primary, content_type, is_netflix_original,
                   CASE WHEN TRY_CAST(imdb_rating AS DOUBLE) BETWEEN 0 AND 10 THEN TRY_CAST(imdb_rating AS DOUBLE) END
                       AS imdb_rating
            FROM read_csv('{raw / "movies.csv"}', header = true, all_varchar = true)
            """
        ).df()
    finally:
        connection.close()
    assert users.user_id.is_unique and movies.movie_id.is_unique
    return users, movies


ENRICHED_SQL = """
CREATE VIEW enriched AS
SELECT e.*,
       time_bucket(INTERVAL 5 MINUTE, e.event_time) AS window_start,
       coalesce(u.country, 'Unknown') AS country,
       u.monthly_spend,
       coalesce(m.genre_primary, 'Unknown') AS genre_primary,
       coalesce(m.content_type, 'Unknown') AS content_type,
       coalesce(m.is_netflix_original, 'Unknown') AS is_netflix_original,
       m.imdb_rating,
       coalesce(e.device_type, 'Unknown') AS grain_device_type,
       coalesce(e.quality, 'Unknown') AS grain_quality
FROM (SELECT DISTINCT ON (session_id, event_time) * FROM events) e
LEFT JOIN users u USING (user_id)
LEFT JOIN movies m USING (movie_id)
"""

REFERENCE_SQL = """
WITH counted AS (
    SELECT window_start, country, genre_primary,
           grain_device_type AS device_type,
           grain_quality AS quality,
           is_netflix_original, content_type,
           count(*) AS total_sessions,
           count(DISTINCT user_id) AS exact_unique_users,
           sum(watch_duration_minutes) AS total_watch_minutes,
           avg(progress_percentage) AS avg_completion_pct,
           avg(imdb_rating) AS avg_content_quality,
           count(*) FILTER (WHERE progress_percentage < 20) AS low_engagement_count,
           count(*) FILTER (WHERE action = 'stopped' AND progress_percentage < 50) AS abandonment_count,
           count(*) FILTER (WHERE quality IN ('SD', 'HD')) AS quality_downgrade_count,
           count(*) FILTER (WHERE action = 'completed') AS completion_count,
           sum(monthly_spend) AS revenue_impact,
           avg(monthly_spend) AS avg_subscriber_value
    FROM enriched
    GROUP BY ALL
)
SELECT window_start, window_start + INTERVAL 5 MINUTE AS window_end, * EXCLUDE (window_start),
       100.0 * low_engagement_count / total_sessions AS low_engagement_rate,
       100.0 * abandonment_count / total_sessions AS abandonment_rate,
       100.0 * completion_count / total_sessions AS completion_rate,
       CASE WHEN 100.0 * low_engagement_count / total_sessions > 60 THEN 'HIGH'
            WHEN 100.0 * low_engagement_count / total_sessions > 40 THEN 'MEDIUM'
            ELSE 'LOW' END AS alert_level
FROM counted
"""

# Update mode: a micro-batch writes every window of the grain that one of its events touched.
UPSERTS_SQL = """
SELECT batch_id,
       count(DISTINCT (window_start, country, genre_primary, grain_device_type, grain_quality,
                       is_netflix_original, content_type)) AS upserted_rows
FROM enriched
GROUP BY batch_id
"""


def _query(events: list[dict], users: pd.DataFrame, movies: pd.DataFrame, sql: str) -> pd.DataFrame:
    columns = [*_TEXT_FIELDS, *_DOUBLE_FIELDS, "event_time", "batch_id"]
    frame = pd.DataFrame(events, columns=columns).astype({name: "float64" for name in _DOUBLE_FIELDS})
    frame["event_time"] = pd.to_datetime(frame["event_time"])
    frame["batch_id"] = frame["batch_id"].astype("Int64")
    connection = duckdb.connect()
    try:
        for name, table in (("events", frame), ("users", users), ("movies", movies)):
            connection.register(name, table)
        connection.execute(ENRICHED_SQL)
        return connection.execute(sql).df()
    finally:
        connection.close()


def reference_engagement(events: list[dict], users: pd.DataFrame, movies: pd.DataFrame) -> pd.DataFrame:
    """engagement_health_realtime computed by DuckDB SQL from typed events and the two dimensions.

    ``movies.is_netflix_original`` is the text 'True'/'False' (the grain's spelling).
    """
    return _query(events, users, movies, REFERENCE_SQL)


def assert_matches_reference(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Every row and every column of engagement_health_realtime equals the reference (floats to 1e-9)."""
    assert sorted(actual.columns) == sorted(SPEC_REALTIME_COLUMNS), f"columns {list(actual.columns)}"
    grain = list(SPEC_GRAIN)
    assert not actual.duplicated(grain).any(), "the grain is not unique"
    merged = actual.merge(expected, on=grain, how="outer", suffixes=("", "_expected"), indicator=True)
    unmatched = merged[merged["_merge"] != "both"]
    assert unmatched.empty, f"{len(unmatched)} grain keys differ:\n{unmatched[grain + ['_merge']].head(10)}"
    exact = [
        "window_end",
        "total_sessions",
        "low_engagement_count",
        "abandonment_count",
        "quality_downgrade_count",
        "completion_count",
        "alert_level",
    ]
    for column in exact:
        differs = merged[column] != merged[f"{column}_expected"]
        shown = merged.loc[differs, grain + [column, f"{column}_expected"]]
        assert not differs.any(), f"{column} differs:\n{shown.head()}"
    floats = [
        "total_watch_minutes",
        "avg_completion_pct",
        "avg_content_quality",
        "low_engagement_rate",
        "abandonment_rate",
        "completion_rate",
        "revenue_impact",
        "avg_subscriber_value",
    ]
    for column in floats:
        got, want = merged[column].astype("float64"), merged[f"{column}_expected"].astype("float64")
        same = (got.isna() & want.isna()) | ((got - want).abs() <= 1e-9 * want.abs().clip(lower=1.0))
        assert same.all(), f"{column} differs:\n{merged.loc[~same, grain + [column, column + '_expected']].head()}"
    off = (merged["unique_users"] - merged["exact_unique_users"]).abs() > hll_bound(merged["exact_unique_users"])
    shown = merged.loc[off, grain + ["unique_users", "exact_unique_users", "total_sessions"]]
    assert not off.any(), f"unique_users beyond HyperLogLog's error:\n{shown.head()}"
    assert merged["updated_at"].notna().all()


# --- Kafka --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicRecord:
    partition: int
    offset: int
    timestamp: datetime  # the Kafka record timestamp, UTC
    value: bytes | None


def _utc(epoch_millis: int) -> datetime:
    return datetime.fromtimestamp(epoch_millis / 1000, UTC).replace(tzinfo=None)


def read_topic(bootstrap_servers: str, topic: str, timeout: float = 120) -> list[TopicRecord]:
    """Every record of ``topic`` up to the end offsets seen when called, read without Spark."""
    # No seek_to_beginning(): with kafka-python 2.2 a position() after it can block forever.
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(partitions)
        unread = {tp: end for tp, end in consumer.end_offsets(partitions).items() if end > 0}
        ends = dict(unread)
        records: list[TopicRecord] = []
        deadline = time.monotonic() + timeout
        while unread:
            assert time.monotonic() < deadline, f"read only {len(records)} records of {topic}"
            for tp, batch in consumer.poll(timeout_ms=1000).items():
                records.extend(
                    TopicRecord(r.partition, r.offset, _utc(r.timestamp), r.value) for r in batch if r.offset < ends[tp]
                )
                if tp in unread and batch[-1].offset + 1 >= unread[tp]:
                    del unread[tp]
        return records
    finally:
        consumer.close()


def topic_end_offsets(bootstrap_servers: str, topic: str) -> dict[str, dict[str, int]]:
    """End offsets in Spark's JSON form."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        return {topic: {str(tp.partition): offset for tp, offset in consumer.end_offsets(partitions).items()}}
    finally:
        consumer.close()


# --- what each micro-batch must have written ----------------------------------------------------


@dataclass(frozen=True)
class CommittedBatch:
    """A ``stream_batches`` row's identity and offset range [start, end) per partition."""

    batch_id: int
    start: dict[int, int]
    end: dict[int, int]

    def holds(self, record: TopicRecord) -> bool:
        return self.start.get(record.partition, 0) <= record.offset < self.end.get(record.partition, 0)


def committed_batches(stream_batches: pd.DataFrame, topic: str) -> list[CommittedBatch]:
    def offsets(text: str) -> dict[int, int]:
        (only_topic,) = json.loads(text).items()
        assert only_topic[0] == topic, text
        return {int(partition): offset for partition, offset in only_topic[1].items()}

    return [
        CommittedBatch(int(row.batch_id), offsets(row.start_offsets), offsets(row.end_offsets))
        for row in stream_batches.sort_values("batch_id").itertuples()
    ]


def quarantine_row(topic: str, record: TopicRecord, reason: str, batch_id: int) -> tuple:
    """A quarantined_events row as comparable values (timestamps as ISO text)."""
    raw_value = None if record.value is None else record.value.decode()
    return (raw_value, reason, topic, record.partition, record.offset, record.timestamp.isoformat(), batch_id)


@dataclass(frozen=True)
class StreamExpectation:
    engagement: pd.DataFrame  # the final engagement_health_realtime rows
    batches: pd.DataFrame  # per batch id: input, quarantined and upserted rows, timestamps
    quarantine: Counter  # quarantine_row(...) -> 1
    late: list[TopicRecord]  # valid events that arrived later than the watermark


def reference_stream(
    records: list[TopicRecord],
    batches: list[CommittedBatch],
    topic: str,
    users: pd.DataFrame,
    movies: pd.DataFrame,
) -> StreamExpectation:
    """What the speed layer must have written, batch by batch, for ``records`` split into ``batches``.

    The watermark is the newest event time seen so far minus 10 minutes (SPEC section 7). Spark
    3.5 fixes it when a micro-batch is planned, from the batches before, and judges late events
    against the previous micro-batch's watermark: batch b drops a valid event whose event time is
    not after (newest event time of the batches before b - 1) - 10 minutes. A copy of an event
    already counted is dropped (the test data never lets a copy outlive its original's state).
    """
    owner: dict[tuple[int, int], int] = {}
    for record in records:
        holders = [batch.batch_id for batch in batches if batch.holds(record)]
        assert len(holders) == 1, f"record {record.partition}/{record.offset} is in batches {holders}"
        owner[(record.partition, record.offset)] = holders[0]

    parsed = [(record, *reference_parse(record.value)) for record in records]
    newest_by_batch: dict[int, datetime] = {}
    for record, _, typed in parsed:
        if typed is not None:
            batch_id = owner[(record.partition, record.offset)]
            newest_by_batch[batch_id] = max(newest_by_batch.get(batch_id, typed["event_time"]), typed["event_time"])

    def late_after(batch_id: int) -> datetime | None:
        seen = [newest for earlier, newest in newest_by_batch.items() if earlier < batch_id - 1]
        return max(seen) - WATERMARK if seen else None

    counted: set[tuple[str, datetime]] = set()
    kept: list[dict] = []
    late: list[TopicRecord] = []
    quarantine: Counter = Counter()
    by_batch = {batch.batch_id: [] for batch in batches}
    for record, reason, typed in sorted(parsed, key=lambda item: (owner[(item[0].partition, item[0].offset)],)):
        batch_id = owner[(record.partition, record.offset)]
        by_batch[batch_id].append(record)
        if reason is not None:
            quarantine[quarantine_row(topic, record, reason, batch_id)] += 1
            continue
        threshold = late_after(batch_id)
        if threshold is not None and typed["event_time"] <= threshold:
            late.append(record)
            continue
        key = (typed["session_id"], typed["event_time"])
        if key not in counted:
            counted.add(key)
            kept.append({**typed, "batch_id": batch_id})

    upserts = _query(kept, users, movies, UPSERTS_SQL).set_index("batch_id")["upserted_rows"]
    rows = []
    for batch in batches:
        in_batch = by_batch[batch.batch_id]
        stamps = [record.timestamp for record in in_batch]
        rows.append(
            {
                "batch_id": batch.batch_id,
                "input_rows": len(in_batch),
                "quarantined_rows": sum(1 for row in quarantine if row[-1] == batch.batch_id),
                "upserted_rows": int(upserts.get(batch.batch_id, 0)),
                "min_kafka_timestamp": min(stamps, default=None),
                "max_kafka_timestamp": max(stamps, default=None),
                "max_event_time": newest_by_batch.get(batch.batch_id),
            }
        )
    return StreamExpectation(
        engagement=reference_engagement(kept, users, movies),
        batches=pd.DataFrame(rows),
        quarantine=quarantine,
        late=late,
    )


# --- the serving layer: late events, the batch view --------------------------------------------

# Spark's approx_count_distinct defaults to a 5% relative standard deviation; three of them.
HLL_TOLERANCE = 0.15


WATERMARK_DELAY = timedelta(minutes=10)


def reference_late_records(records: list[TopicRecord], batches: pd.DataFrame) -> set[tuple[int, int]]:
    """(partition, offset) of the valid records the speed layer dropped as later than its watermark.

    SPEC: a 10-minute watermark on event time. How Spark 3.5 applies it with de-duplication before
    the windows: a micro-batch's watermark is the newest event time (to the millisecond) of the
    batches before it, minus 10 minutes, and a batch drops the rows at or before the watermark of
    the batch before it. Which records each batch read comes from ``stream_batches`` (Spark's offset
    ranges); everything else is computed here, from the records themselves.
    """
    batch_of: dict[tuple[int, int], int] = {}
    for row in batches.itertuples():
        start, end = json.loads(row.start_offsets), json.loads(row.end_offsets)
        for topic, partitions in end.items():
            for partition, stop in partitions.items():
                for offset in range(start.get(topic, {}).get(partition, 0), stop):
                    batch_of[(int(partition), offset)] = int(row.batch_id)
    newest: dict[int, datetime] = {}
    typed_events = {}
    for record in records:
        reason, typed = reference_parse(record.value)
        if reason is None:
            batch = batch_of[(record.partition, record.offset)]
            typed_events[(record.partition, record.offset)] = (batch, typed["event_time"])
            newest[batch] = max(newest.get(batch, typed["event_time"]), typed["event_time"])
    late = set()
    for coordinates, (batch, event_time) in typed_events.items():
        before = [newest[b] for b in newest if b <= batch - 2]
        if before:
            newest_ms = max(before).replace(microsecond=max(before).microsecond // 1000 * 1000)
            if event_time <= newest_ms - WATERMARK_DELAY:
                late.add(coordinates)
    return late


def reference_views(
    records: list[TopicRecord], late: set[tuple[int, int]], users: pd.DataFrame, movies: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the batch view: every valid event, the speed layer: without its late events), per SPEC 7b.

    A session repeated in time keeps its first copy; its repeats are the same event, so a session
    the speed layer read in time once is counted there even when a later copy came late.
    """
    every, in_time = [], []
    for record in records:
        reason, typed = reference_parse(record.value)
        if reason is None:
            every.append(typed)
            if (record.partition, record.offset) not in late:
                in_time.append(typed)
    return reference_engagement(every, users, movies), reference_engagement(in_time, users, movies)


def reference_for_records(
    records: list[TopicRecord], users: pd.DataFrame, movies: pd.DataFrame
) -> tuple[pd.DataFrame, dict[tuple[int, int], str]]:
    """(expected engagement rows, expected quarantine reason by (partition, offset))."""
    events, reasons = [], {}
    for record in records:
        reason, typed = reference_parse(record.value)
        if reason is None:
            events.append(typed)
        else:
            reasons[(record.partition, record.offset)] = reason
    return reference_engagement(events, users, movies), reasons
