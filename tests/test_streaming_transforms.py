"""The speed layer's transforms on batch DataFrames (fast: no Kafka, one shared SparkSession)."""

from __future__ import annotations

import contextlib
import ipaddress
import math
import os
import sys
from pathlib import Path

import pytest
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, StringType, TimestampType

from netflix_core.contract import RAW_COLUMNS
from netflix_core.transforms.cleaning import clean_movies, clean_users
from netflix_core.transforms.engagement_health import (
    QUARANTINE_REASONS,
    aggregate_engagement,
    deduplicate_events,
    engagement_health,
    enrich_events,
    movie_dimension,
    parse_watch_events,
    user_dimension,
    valid_events,
)

pytest.register_assert_rewrite("tests.streaming_fixtures")

from tests.streaming_fixtures import (  # noqa: E402
    SPEC_REALTIME_COLUMNS,
    Dimensions,
    assert_matches_reference,
    event,
    hll_bound,
    malformed_messages,
    message,
    reference_dimensions,
    reference_engagement,
    reference_parse,
    sample_messages,
)

KAFKA_EPOCH_MS = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC


def utc_text(column: str) -> Column:
    """A timestamp as UTC text, computed by Spark: collect() would give this process's local time."""
    return F.date_format(column, "yyyy-MM-dd HH:mm:ss.SSS").alias(column)


def kafka_records(spark: SparkSession, values: list[bytes | None], topic: str = "watch") -> DataFrame:
    """Rows shaped like Spark's Kafka source: offsets 0.., partitions round robin, 1 ms apart."""
    rows = [(value, topic, offset % 3, offset, KAFKA_EPOCH_MS + offset) for offset, value in enumerate(values)]
    frame = spark.createDataFrame(rows, "value binary, topic string, partition int, offset long, millis long")
    return frame.withColumn("timestamp", F.timestamp_millis("millis")).drop("millis")


def events_frame(spark: SparkSession, events: list[dict]) -> DataFrame:
    return valid_events(parse_watch_events(kafka_records(spark, [message(e) for e in events])))


def no_dimensions(spark: SparkSession) -> tuple[DataFrame, DataFrame]:
    users = spark.createDataFrame([], "user_id string, country string, subscription_plan string, monthly_spend double")
    movies = spark.createDataFrame(
        [], "movie_id string, genre_primary string, content_type string, is_netflix_original string, imdb_rating double"
    )
    return users, movies


def test_bare_nan_is_read_as_null_and_values_are_typed(spark: SparkSession) -> None:
    first_sample = sample_messages()[0]
    assert b": NaN" in first_sample
    crafted = (
        b'{"session_id": "s", "user_id": "u", "movie_id": "m", "timestamp": "2025-12-01 10:00:00", '
        b'"watch_duration_minutes": NaN, "progress_percentage": NaN, "user_rating": 4.0, "is_download": true, '
        b'"quality": NaN, "device_type": "NaN"}'
    )
    parsed = parse_watch_events(kafka_records(spark, [first_sample, crafted]))
    rows = parsed.withColumn("event_time", utc_text("event_time")).orderBy("offset").collect()

    sample, nans = rows
    assert sample.quarantine_reason is None
    assert (sample.session_id, sample.watch_duration_minutes, sample.progress_percentage) == (
        "session_041052",
        89.7,
        45.9,
    )
    assert sample.user_rating is None  # the bare NaN of the sample
    assert sample.is_download is False
    assert sample.event_time == "2025-12-01 00:47:16.000"
    assert nans.quarantine_reason is None
    assert (nans.watch_duration_minutes, nans.progress_percentage, nans.user_rating) == (None, None, 4.0)
    assert nans.is_download is True
    assert (nans.quality, nans.device_type) == (None, None)


def test_every_kind_of_malformed_message_gets_its_reason(spark: SparkSession) -> None:
    # Valid JSON that is no object: the event schema's parse may read these without a corrupt
    # record, so they test the map parse that only runs for messages not read cleanly.
    not_objects = [(b"[" + message(event("in_array", "2025-12-01 10:00:00")) + b"]", "not_json"), (b"null", "not_json")]
    cases = [*malformed_messages(), *not_objects, (b"", "not_json"), (None, "not_json")]
    assert {reason for _, reason in cases} == set(QUARANTINE_REASONS), "a case for every reason"
    good = message(event("session_good", "2025-12-01 10:00:00"))
    values = [value for value, _ in cases] + [good]
    parsed = parse_watch_events(kafka_records(spark, values)).select("offset", "quarantine_reason")
    reasons = dict(parsed.collect())

    expected = {offset: reason for offset, (_, reason) in enumerate(cases)} | {len(cases): None}
    wrong = {values[o]: (reasons[o], expected[o]) for o in expected if reasons[o] != expected[o]}
    assert not wrong, f"(got, expected) reason per message: {wrong}"
    # The reference used by the other tests agrees on every case.
    assert [reference_parse(value)[0] for value in values] == [expected[o] for o in range(len(values))]


def test_every_message_keeps_its_raw_value_and_kafka_coordinates(spark: SparkSession) -> None:
    values = [message(event("s1", "2025-12-01 10:00:00")), b"oops"]
    parsed = parse_watch_events(kafka_records(spark, values, topic="t1"))
    parsed = parsed.withColumn("kafka_timestamp", utc_text("kafka_timestamp")).orderBy("offset").collect()

    coordinates = [(r.raw_value, r.topic, r.partition, r.offset, r.quarantine_reason) for r in parsed]
    assert coordinates == [(values[0].decode(), "t1", 0, 0, None), ("oops", "t1", 1, 1, "not_json")]
    assert [r.kafka_timestamp for r in parsed] == ["2026-01-01 00:00:00.000", "2026-01-01 00:00:00.001"]


def test_dedup_drops_repeats_of_session_and_timestamp_only(spark: SparkSession) -> None:
    repeated = event("s1", "2025-12-01 10:00:00")
    events = [repeated, repeated, event("s1", "2025-12-01 10:00:30"), event("s2", "2025-12-01 10:00:00")]
    kept = deduplicate_events(events_frame(spark, events))

    assert sorted((r.session_id, r.timestamp) for r in kept.collect()) == [
        ("s1", "2025-12-01 10:00:00"),
        ("s1", "2025-12-01 10:00:30"),
        ("s2", "2025-12-01 10:00:00"),
    ]


def raw_rows(spark: SparkSession, table: str, rows: list[dict[str, str]]) -> DataFrame:
    """Raw text rows as read_raw_csv returns them (every column text, plus _corrupt_record)."""
    columns = [*RAW_COLUMNS[table], "_corrupt_record"]
    data = [tuple(row.get(c) for c in columns) for row in rows]
    return spark.createDataFrame(data, ", ".join(f"{c} string" for c in columns))


def user(user_id: str, country: str, created_at: str, spend: str = "10.0") -> dict[str, str]:
    return {
        "user_id": user_id,
        "email": f"{user_id}@example.com",
        "country": country,
        "subscription_plan": "Basic",
        "monthly_spend": spend,
        "created_at": created_at,
        "subscription_start_date": "2024-01-01",
        "is_active": "True",
    }


def movie(movie_id: str, genre: str, original: str, imdb: str = "7.0") -> dict[str, str]:
    return {
        "movie_id": movie_id,
        "title": movie_id,
        "content_type": "Movie",
        "genre_primary": genre,
        "is_netflix_original": original,
        "imdb_rating": imdb,
        "release_year": "2020",
        "added_to_platform": "2024-01-01",
    }


def test_enrichment_joins_one_row_per_key_despite_duplicate_raw_rows(spark: SparkSession) -> None:
    users = clean_users(
        raw_rows(
            spark,
            "users",
            [
                user("u1", "USA", "2024-01-01 00:00:00"),
                user("u1", "USA", "2024-01-01 00:00:00"),  # exact duplicate
                user("u2", "Canada", "2024-01-01 00:00:00", spend="5.0"),
                user("u2", "France", "2024-06-01 00:00:00", spend="7.5"),  # same key, created later: kept
            ],
        )
    ).clean
    movies = clean_movies(
        raw_rows(
            spark,
            "movies",
            [
                movie("m1", "Drama", "True"),
                movie("m1", "Drama", "True"),
                movie("m2", "Comedy", "False", imdb="11.0"),  # out of range: NULL
                movie("m2", "Comedy", "False", imdb="11.0"),
            ],
        )
    ).clean
    events = [
        event("s1", "2025-12-01 10:00:00", user_id="u1", movie_id="m1"),
        event("s2", "2025-12-01 10:00:00", user_id="u2", movie_id="m2"),
        event("s3", "2025-12-01 10:00:00", user_id="nobody", movie_id="nothing", device_type=None, quality=None),
    ]
    enriched = enrich_events(events_frame(spark, events), user_dimension(users), movie_dimension(movies))
    rows = {r.session_id: r for r in enriched.collect()}

    assert sorted(rows) == ["s1", "s2", "s3"]
    assert (rows["s1"].country, rows["s1"].genre_primary, rows["s1"].is_netflix_original, rows["s1"].imdb_rating) == (
        "USA",
        "Drama",
        "True",
        7.0,
    )
    assert (rows["s2"].country, rows["s2"].monthly_spend, rows["s2"].is_netflix_original, rows["s2"].imdb_rating) == (
        "France",
        7.5,
        "False",
        None,
    )
    unknown = rows["s3"]
    assert [unknown[c] for c in ("country", "subscription_plan", "genre_primary", "content_type")] == ["Unknown"] * 4
    assert [unknown[c] for c in ("is_netflix_original", "device_type", "quality")] == ["Unknown"] * 3
    assert (unknown.monthly_spend, unknown.imdb_rating) == (None, None)

    totals = aggregate_engagement(enriched).agg(F.sum("total_sessions"), F.sum("revenue_impact")).first()
    assert (totals[0], totals[1]) == (3, 17.5)


def test_windows_are_five_minute_tumbling_on_event_time(spark: SparkSession) -> None:
    times = ["2025-12-01 10:04:59", "2025-12-01 10:05:00", "2025-12-01 10:09:59.5", "2025-12-01 10:10:00"]
    events = [event(f"s{i}", t) for i, t in enumerate(times)]
    out = aggregate_engagement(enrich_events(events_frame(spark, events), *no_dimensions(spark)))
    windows = sorted(out.select(utc_text("window_start"), utc_text("window_end"), "total_sessions").collect())

    assert windows == [
        ("2025-12-01 10:00:00.000", "2025-12-01 10:05:00.000", 1),
        ("2025-12-01 10:05:00.000", "2025-12-01 10:10:00.000", 2),
        ("2025-12-01 10:10:00.000", "2025-12-01 10:15:00.000", 1),
    ]


@pytest.mark.parametrize(
    ("low", "total", "rate", "level"),
    [
        (2, 5, 40.0, "LOW"),
        (21, 50, 42.0, "MEDIUM"),
        (3, 5, 60.0, "MEDIUM"),
        (61, 100, 61.0, "HIGH"),
        (5, 5, 100.0, "HIGH"),
    ],
)
def test_rates_and_alert_level(spark: SparkSession, low: int, total: int, rate: float, level: str) -> None:
    # Low engagement: progress under 20; a NULL progress is never low.
    progress = [5.0] * low + [None if i == 0 else 80.0 for i in range(total - low)]
    actions = ["stopped", "completed"] * total
    events = [
        event(f"s{i}", "2025-12-01 10:00:00", progress_percentage=p, action=actions[i], quality="SD")
        for i, p in enumerate(progress)
    ]
    enriched = enrich_events(events_frame(spark, events), *no_dimensions(spark))
    row = aggregate_engagement(enriched).first()

    stopped_under_50 = sum(1 for i, p in enumerate(progress) if actions[i] == "stopped" and p is not None and p < 50)
    assert (row.total_sessions, row.low_engagement_count) == (total, low)
    assert (row.low_engagement_rate, row.alert_level) == (rate, level)
    assert row.abandonment_count == stopped_under_50
    assert row.abandonment_rate == stopped_under_50 * 100 / total
    assert (row.completion_count, row.completion_rate) == (total // 2, (total // 2) * 100 / total)
    assert row.quality_downgrade_count == total
    known = [p for p in progress if p is not None]
    assert row.avg_completion_pct == pytest.approx(sum(known) / len(known))


def test_output_has_the_spec_columns_and_types(spark: SparkSession) -> None:
    records = kafka_records(spark, [message(event("s", "2025-12-01 10:00:00"))])
    out = engagement_health(records, *no_dimensions(spark))
    types = {f.name: f.dataType for f in out.schema.fields}

    assert sorted(out.columns) == sorted(SPEC_REALTIME_COLUMNS)
    assert {c for c, t in types.items() if isinstance(t, TimestampType)} == {"window_start", "window_end", "updated_at"}
    assert {c for c, t in types.items() if isinstance(t, LongType)} == {
        "total_sessions",
        "unique_users",
        "low_engagement_count",
        "abandonment_count",
        "quality_downgrade_count",
        "completion_count",
    }
    doubles = ("total_watch_minutes", "avg_completion_pct", "low_engagement_rate", "revenue_impact")
    assert all(isinstance(types[c], DoubleType) for c in doubles)
    assert all(isinstance(types[c], StringType) for c in ("country", "is_netflix_original", "alert_level"))


def extra_messages() -> list[bytes]:
    """Edge cases on top of the sample: unknown keys, missing dimensions, NaNs, exact replays."""
    replayed = event("session_replay", "2025-12-15 12:00:00", user_id="user_00002", movie_id="movie_0002")
    return [
        message(event("session_x1", "2025-12-15 12:01:00", user_id="user_unknown")),
        message(event("session_x2", "2025-12-15 12:01:30", movie_id="movie_unknown", progress_percentage=math.nan)),
        message(event("session_x3", "2025-12-15 12:02:00", device_type=None, quality=None)),
        message(event("session_x5", "2025-12-15 12:02:30", watch_duration_minutes=math.nan)),
        message(event("session_x4", "2025-12-15 12:02:00", device_type=math.nan, quality="NaN")),
        message(replayed),
        message(replayed),
        *[value for value, _ in malformed_messages()],
    ]


def test_every_output_column_matches_an_independent_computation(
    spark: SparkSession, sample_dimensions: Dimensions
) -> None:
    values = sample_messages() + extra_messages()
    out = engagement_health(kafka_records(spark, values), sample_dimensions.users, sample_dimensions.movies)
    actual = out.toPandas()

    parsed = [reference_parse(value) for value in values]
    expected = reference_engagement([typed for reason, typed in parsed if reason is None], *reference_dimensions())
    assert int(actual.total_sessions.sum()) == 4500 + 6  # the replayed event counts once
    assert (actual.country == "Unknown").sum() >= 1 and (actual.genre_primary == "Unknown").sum() >= 1
    assert_matches_reference(actual, expected)


def test_unique_users_is_hyperloglog_within_its_error_where_few_users_watch_many_times(
    spark: SparkSession, sample_dimensions: Dimensions
) -> None:
    """Windows of many sessions by few users, and one of many users: unique_users must be the
    distinct count within HyperLogLog's error, which the session count is far outside of."""
    few = [
        event(f"few_{user}_{n:03d}", f"2025-12-02 10:0{n % 5}:{n % 60:02d}", user_id=user)
        for user in ("user_00001", "user_00002", "user_00003", "user_00004", "user_00005", "user_00006")
        for n in range(100)
    ]
    one = [event(f"one_{n:03d}", f"2025-12-02 10:10:{n % 60:02d}", user_id="user_00007") for n in range(50)]
    many = [
        event(f"many_{n:04d}", f"2025-12-02 10:2{n % 5}:{n % 60:02d}", user_id=f"viewer_{n % 1200:04d}")
        for n in range(3000)
    ]
    values = [message(e) for e in few + one + many]
    actual = engagement_health(kafka_records(spark, values), sample_dimensions.users, sample_dimensions.movies)
    actual = actual.toPandas()

    expected = reference_engagement([reference_parse(value)[1] for value in values], *reference_dimensions())
    # The data tells a HyperLogLog from a session count: every window's count is far outside the error.
    assert (expected.total_sessions - expected.exact_unique_users > hll_bound(expected.exact_unique_users)).all()
    assert expected.exact_unique_users.max() == 1200 and len(expected) >= 3
    assert_matches_reference(actual, expected)


# --- the shared session's driver -------------------------------------------------------------------


def listening_addresses(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket process ``pid`` listens on, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a descriptor closed while we list them
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target.removeprefix("socket:[").removesuffix("]"))
    listening = []
    for table in ("tcp", "tcp6"):
        for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            hex_address, hex_port = local.split(":")
            raw = bytes.fromhex(hex_address)
            # The kernel prints the address as 32-bit words in the machine's byte order.
            words = [int.from_bytes(raw[i : i + 4], sys.byteorder).to_bytes(4, "big") for i in range(0, len(raw), 4)]
            address = ipaddress.ip_address(b"".join(words))
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                address = address.ipv4_mapped
            listening.append((str(address), int(hex_port, 16)))
    return listening


def test_the_driver_listens_on_loopback_only(spark: SparkSession) -> None:
    """The driver JVM of a local session: RPC, block manager and py4j on 127.0.0.1, nothing on a
    wildcard or a public address; its environment puts the web UI (off in this session) there too."""
    pid = spark.sparkContext._gateway.proc.pid
    assert "java" in Path(f"/proc/{pid}/exe").resolve().name
    listening = listening_addresses(pid)
    assert listening, "the driver JVM listens on nothing: not the process that was meant"
    assert [entry for entry in listening if entry[0] != "127.0.0.1"] == [], listening
    assert b"SPARK_LOCAL_IP=127.0.0.1" in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
