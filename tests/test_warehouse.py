"""The ``Warehouse`` interface, the same tests on both implementations: DuckDB (a file) and BigQuery
(bqemulator, with the prod client of ``open_warehouse``).

Each guarantee the layers rely on: a month replaced exactly and in one transaction, every contract
type round-tripping, a micro-batch committed all or nothing and skipped when replayed, upserts by
key, a bad query as a one-line ``WarehouseError``, and the serving view switching a recomputed day
from the speed layer's rows to the batch layer's.
"""

from __future__ import annotations

import math
from datetime import date, datetime

import pandas as pd
import pytest

from netflix_core import contract
from netflix_core.warehouse import MicroBatch, OffsetRangeSummary, WarehouseError, open_warehouse
from netflix_core.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.conftest import contract_rows


@pytest.fixture(
    params=[pytest.param("duckdb", marks=pytest.mark.unit), pytest.param("bigquery", marks=pytest.mark.emulators)]
)
def warehouse(request: pytest.FixtureRequest, tmp_path):
    if request.param == "duckdb":
        return DuckDBWarehouse(str(tmp_path / "warehouse.duckdb"))
    return open_warehouse(request.getfixturevalue("prod_settings")("warehouse"))


# --- batch layer ---------------------------------------------------------------------------------


def content_row(month: str, movie: str, views: int, **values: object) -> dict[str, object]:
    row = {
        "month": date.fromisoformat(month),
        "movie_id": movie,
        "title": f"Title of {movie}, with 'quotes' and ünïcode",
        "content_type": "Movie",
        "genre_primary": "Drama",
        "is_netflix_original": True,
        "total_views": views,
        "unique_viewers": views - 1,
        "total_watch_time_minutes": views * 0.1,
        "avg_progress_pct": 1 / 3,
        "completion_rate": 0.1 + 0.2,
        "review_count": 0,
        "avg_review_rating": None,
    }
    return row | values


def frame(rows: list[dict[str, object]], table: contract.WarehouseTable) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(table.column_names))


def test_replacing_months_replaces_exactly_those_months(warehouse) -> None:
    table = contract.CONTENT_PERFORMANCE
    january = [content_row("2024-01-01", "movie_0001", 10), content_row("2024-01-01", "movie_0002", 7)]
    february = [content_row("2024-02-01", "movie_0001", 3, is_netflix_original=None, avg_review_rating=4.5)]
    warehouse.replace_rows(table, frame(january + february, table), (date(2024, 1, 1), date(2024, 3, 1)))
    assert contract_rows(warehouse, table) == january + february

    february_again = [
        content_row("2024-02-01", "movie_0003", 5, is_netflix_original=False),
        content_row("2024-02-01", "movie_0004", 9, title=None, total_watch_time_minutes=math.pi),
    ]
    written = warehouse.replace_rows(table, frame(february_again, table), (date(2024, 2, 1), date(2024, 3, 1)))
    assert written == 2
    assert contract_rows(warehouse, table) == january + february_again

    # A month with no rows any more is emptied; the others stay.
    warehouse.replace_rows(table, frame([], table), (date(2024, 2, 1), date(2024, 3, 1)))
    assert contract_rows(warehouse, table) == january


def test_a_whole_table_is_replaced_when_no_months_are_given(warehouse) -> None:
    table = contract.COHORT_RETENTION

    def cohort(activity: str, active: int) -> dict[str, object]:
        return {
            "cohort_month": date(2024, 1, 1),
            "activity_month": date.fromisoformat(activity),
            "months_since_cohort": int(activity[5:7]) - 1,
            "cohort_size": 40,
            "active_users": active,
            "retention_rate": active / 40,
        }

    warehouse.replace_rows(table, frame([cohort("2024-01-01", 40), cohort("2024-02-01", 13)], table))
    warehouse.replace_rows(table, frame([cohort("2024-03-01", 7)], table))
    assert contract_rows(warehouse, table) == [cohort("2024-03-01", 7)]


def test_a_bad_query_is_one_line_and_tables_can_be_looked_up(warehouse) -> None:
    assert not warehouse.table_exists(contract.MONTHLY_ACTIVE_USERS.qualified_name)
    with pytest.raises(WarehouseError) as raised:
        warehouse.query("SELEC nonsense")
    assert len(str(raised.value).splitlines()) == 1
    with pytest.raises(WarehouseError, match=r"netflix_processed|monthly_active_users"):
        warehouse.query(f"SELECT * FROM {contract.MONTHLY_ACTIVE_USERS.qualified_name}")
    warehouse.create_streaming_tables()
    assert warehouse.table_exists(contract.STREAM_BATCHES.qualified_name)
    assert not warehouse.table_exists(contract.MONTHLY_ACTIVE_USERS.qualified_name)


# --- speed layer ---------------------------------------------------------------------------------

REALTIME, QUARANTINE, BATCHES = contract.STREAMING_TABLES
QUERY_ID = "0f6b5c8e-4a57-4c1e-9d43-7d2f0e5f5b10"


def realtime_row(window: str, country: str, sessions: int, updated: str) -> dict[str, object]:
    start = datetime.fromisoformat(window)
    row: dict[str, object] = {
        "window_start": start,
        "window_end": start.replace(minute=start.minute + 5),
        "country": country,
        "genre_primary": "Drama",
        "device_type": "Laptop",
        "quality": "HD",
        "is_netflix_original": "True",
        "content_type": "Movie",
        "total_sessions": sessions,
        "unique_users": sessions,
        "total_watch_minutes": sessions * 12.25,
        "avg_completion_pct": None if sessions == 1 else 55.5,
        "avg_content_quality": 7.1,
        "low_engagement_count": 1,
        "abandonment_count": 0,
        "quality_downgrade_count": sessions,
        "completion_count": 0,
        "low_engagement_rate": 100 / sessions,
        "abandonment_rate": 0.0,
        "completion_rate": 0.0,
        "revenue_impact": None,
        "avg_subscriber_value": 9.99,
        "alert_level": "HIGH" if sessions == 1 else "LOW",
        "updated_at": datetime.fromisoformat(updated),
    }
    return row


def quarantined(offset: int, raw_value: str | None, reason: str) -> dict[str, object]:
    return {
        "raw_value": raw_value,
        "reason": reason,
        "topic": contract.WATCH_EVENTS_TOPIC,
        "partition": 1,
        "offset": offset,
        "kafka_timestamp": datetime(2025, 12, 1, 10, 0, offset % 60, 123456),
    }


def micro_batch(batch_id: int, rows: list[dict], messages: list[dict], end: int) -> MicroBatch:
    topic = contract.WATCH_EVENTS_TOPIC
    inputs = OffsetRangeSummary(
        start_offsets={topic: {"0": 0, "1": end - 10, "2": 0}},
        end_offsets={topic: {"0": 0, "1": end, "2": 0}},
        input_rows=10,
        min_kafka_timestamp=datetime(2025, 12, 1, 10, 0, 0, 1),
        max_kafka_timestamp=datetime(2025, 12, 1, 10, 0, 9, 999999),
        max_event_time=datetime(2025, 12, 1, 10, 4, 59),
        quarantined=pd.DataFrame(
            messages, columns=[c for c in QUARANTINE.column_names if c not in ("batch_id", "query_id")]
        ),
    )
    return MicroBatch(QUERY_ID, batch_id, frame(rows, REALTIME), inputs)


def test_micro_batches_commit_once_and_upsert_by_key(warehouse) -> None:
    warehouse.create_streaming_tables()
    hostile = "not json, with 'quotes', a \\ backslash,\na line break and ünïcode"
    first = micro_batch(
        0,
        [realtime_row("2025-12-01 10:00:00", "USA", 1, "2025-12-01 10:00:10"),
         realtime_row("2025-12-01 10:00:00", "Canada", 2, "2025-12-01 10:00:10")],
        [quarantined(3, hostile, "not_json"), quarantined(4, None, "not_json")],
        end=10,
    )  # fmt: skip
    report = warehouse.commit_micro_batch(first, datetime(2025, 12, 1, 10, 0, 11, 250000))
    assert report is not None and (report.batch_id, report.upserted_rows, report.quarantined_rows) == (0, 2, 2)
    assert warehouse.latest_batch() == report

    before = {table.name: contract_rows(warehouse, table) for table in contract.STREAMING_TABLES}
    replayed = micro_batch(0, [realtime_row("2025-12-01 10:00:00", "USA", 99, "2025-12-01 10:09:00")], [], end=10)
    assert warehouse.commit_micro_batch(replayed, datetime(2025, 12, 1, 10, 9, 1)) is None
    assert {table.name: contract_rows(warehouse, table) for table in contract.STREAMING_TABLES} == before

    # Batch 1: USA's window grows (a replacement, not an increment), a new window appears, and a
    # message of batch 0 is seen again by a rebuilt checkpoint (its coordinates keep it once).
    usa = realtime_row("2025-12-01 10:00:00", "USA", 3, "2025-12-01 10:00:20")
    later = realtime_row("2025-12-01 10:05:00", "USA", 1, "2025-12-01 10:00:20")
    second = micro_batch(1, [usa, later], [quarantined(3, hostile, "not_json")], end=20)
    committed_at = datetime(2025, 12, 1, 10, 0, 21)
    report = warehouse.commit_micro_batch(second, committed_at)
    assert report is not None and warehouse.latest_batch() == report

    canada = before[REALTIME.name][0]
    assert contract_rows(warehouse, REALTIME) == [canada, usa, later]
    messages = contract_rows(warehouse, QUARANTINE)
    assert [(m["offset"], m["raw_value"], m["batch_id"]) for m in messages] == [(3, hostile, 1), (4, None, 0)]
    assert messages[0]["kafka_timestamp"] == datetime(2025, 12, 1, 10, 0, 3, 123456)
    batches = contract_rows(warehouse, BATCHES)
    assert [(b["batch_id"], b["upserted_rows"], b["quarantined_rows"]) for b in batches] == [(0, 2, 2), (1, 2, 1)]
    assert batches[1]["end_offsets"] == '{"netflix_watch_events": {"0": 0, "1": 20, "2": 0}}'
    assert batches[1]["committed_at"] == committed_at
    assert batches[1]["max_kafka_timestamp"] == datetime(2025, 12, 1, 10, 0, 9, 999999)


# --- serving layer -------------------------------------------------------------------------------


def engagement_rows(*windows: str, sessions: int = 1) -> pd.DataFrame:
    """engagement_health rows, one segment per window, with ``sessions`` sessions each."""
    frame = pd.DataFrame({"window_start": pd.to_datetime(list(windows))})
    frame["window_end"] = frame["window_start"] + pd.Timedelta(minutes=5)
    for dimension in contract.GRAIN_DIMENSIONS:
        frame[dimension] = "Unknown"
    for column in contract.ENGAGEMENT_HEALTH_REALTIME.columns[len(contract.ENGAGEMENT_HEALTH_GRAIN) + 1 :]:
        frame[column.name] = {"double": 0.0, "bigint": sessions, "string": "LOW", "timestamp": pd.Timestamp(0)}[
            column.type
        ]
    return frame


def test_the_serving_view_takes_recomputed_days_from_the_batch_view(warehouse) -> None:
    speed = engagement_rows("2025-12-01 10:00", "2025-12-02 10:00", "2025-12-02 10:05")
    warehouse.replace_rows(contract.ENGAGEMENT_HEALTH_REALTIME, speed)
    warehouse.create_serving_view()

    def sources() -> dict[str, str]:
        view = warehouse.query(f"SELECT window_start, source, total_sessions FROM {contract.ENGAGEMENT_HEALTH_SERVING}")
        return {f"{row.window_start:%d %H:%M}": f"{row.source} {row.total_sessions}" for row in view.itertuples()}

    assert sources() == {"01 10:00": "speed 1", "02 10:00": "speed 1", "02 10:05": "speed 1"}
    # Day 2 recomputed: every window of it comes from the batch view, the ones it lacks included.
    day_2 = (date(2025, 12, 2), date(2025, 12, 3))
    warehouse.replace_days(contract.ENGAGEMENT_HEALTH_BATCH, engagement_rows("2025-12-02 10:00", sessions=3), day_2)
    assert sources() == {"01 10:00": "speed 1", "02 10:00": "batch 3"}
    # Recomputed again, to nothing (the archive holds nothing of it): the speed layer's rows are back.
    warehouse.replace_days(contract.ENGAGEMENT_HEALTH_BATCH, engagement_rows().iloc[0:0], day_2)
    assert sources() == {"01 10:00": "speed 1", "02 10:00": "speed 1", "02 10:05": "speed 1"}
