"""SPEC section 4: every cleaning rule, checked on the lake the shared batch run wrote.

The oracle (tests/oracle.py, DuckDB from SPEC alone) decides, per table, which keys are clean
and which rows are rejected for which reason; the hand-written edge rows of conftest.EDGE_ROWS
pin each rule down explicitly as well.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import date, datetime

import pytest

from tests.conftest import (
    EDGE_ROWS,
    HEADERS,
    LAKE_ASSET_OF,
    LAKE_TABLE_OF,
    raw_tuple_of_json,
    read_lake_rows,
    read_rejected,
    text_matches,
    values_equal,
)
from tests.oracle import REASONS, SPEC_TYPES

TABLES = list(HEADERS)
KEY = {table: HEADERS[table][0] for table in TABLES}


@pytest.fixture(scope="module")
def lake(batch_run, spark):
    """Every lake table of the shared run, read once: clean rows as read and keyed, rejected rows."""
    assert batch_run.result.success, "the shared batch run failed; see test_batch_dagster"
    rows = {table: read_lake_rows(spark, batch_run.settings, LAKE_TABLE_OF[table]) for table in TABLES}
    clean = {table: {row[KEY[table]]: row for row in rows[table]} for table in TABLES}
    rejected = {table: read_rejected(spark, batch_run.settings, table) for table in TABLES}
    return {"rows": rows, "clean": clean, "rejected": rejected}


def _edge_tuple(table: str, row: dict) -> tuple:
    return tuple(row.get(column) or None for column in HEADERS[table]) + (None,)


# -- the oracle's verdict, table by table ------------------------------------------------------


@pytest.mark.parametrize("table", TABLES)
def test_clean_keys_equal_oracle(table, lake, oracle):
    """The lake's keys as a multiset: each key of the oracle's clean rows exactly once."""
    actual = Counter(row[KEY[table]] for row in lake["rows"][table])
    expected = Counter(oracle.clean_rows(table).keys())
    assert oracle.clean_count(table) == len(expected)
    assert actual == expected, (
        f"{table}: only in lake (or twice) {list((actual - expected).items())[:10]}, "
        f"only in oracle {list((expected - actual).items())[:10]}"
    )


@pytest.mark.parametrize("table", TABLES)
def test_clean_values_equal_oracle(table, lake, oracle):
    """Every SPEC column of every clean row: typed columns exactly (NULL rules applied), the rest as text."""
    expected = oracle.clean_rows(table)
    typed = SPEC_TYPES[table]
    mismatches = []
    for key, want in expected.items():
        got = lake["clean"][table].get(key)
        if got is None:
            continue  # reported by test_clean_keys_equal_oracle
        for column in HEADERS[table]:
            same = (
                values_equal(got[column], want[column]) if column in typed else text_matches(got[column], want[column])
            )
            if not same:
                mismatches.append((key, column, got[column], want[column]))
        if "month" in want and not values_equal(got["month"], want["month"]):
            mismatches.append((key, "month", got["month"], want["month"]))
    assert not mismatches, f"{table}: {len(mismatches)} differing values, first {mismatches[:8]}"


@pytest.mark.parametrize("table", TABLES)
def test_rejected_rows_equal_oracle(table, lake, oracle):
    """Same rejected rows (raw text), same reasons, same months, nothing rejected twice."""
    actual = Counter(
        (row["reason"], row["month"], raw_tuple_of_json(row["raw_row"], table)) for row in lake["rejected"][table]
    )
    expected = Counter(oracle.rejected(table))
    only_lake = actual - expected
    only_oracle = expected - actual
    assert not only_lake and not only_oracle, (
        f"{table}: only in lake {list(only_lake.items())[:5]}; only in oracle {list(only_oracle.items())[:5]}"
    )


@pytest.mark.parametrize("table", TABLES)
def test_reason_counts_equal_oracle(table, lake, oracle):
    counts = Counter(row["reason"] for row in lake["rejected"][table])
    assert set(counts) <= set(REASONS)
    assert {reason: counts.get(reason, 0) for reason in REASONS} == oracle.reason_counts(table)


# -- each rule, pinned by the hand-written edge rows -------------------------------------------


@pytest.mark.parametrize("table", TABLES)
def test_edge_rows_meet_their_expectation(table, lake):
    rejected = Counter((row["reason"], raw_tuple_of_json(row["raw_row"], table)) for row in lake["rejected"][table])
    rejected_raw = Counter(raw for _, raw in rejected.elements())
    failures = []
    for row, expectation in EDGE_ROWS[table]:
        raw = _edge_tuple(table, row)
        key = row[KEY[table]]
        if expectation == "clean":
            if key not in lake["clean"][table] or rejected_raw[raw]:
                failures.append((expectation, row))
        elif expectation == "collapsed":
            # The identical row is counted once (clean or rejected), never twice.
            if rejected_raw[raw] > 1:
                failures.append((expectation, row))
        elif rejected[(expectation, raw)] != 1:
            found = [reason for reason, other in rejected if other == raw]
            failures.append((expectation, found, row))
    assert not failures, f"{table}: {failures}"


def test_user_null_rules(lake):
    users = lake["clean"]["users"]
    assert users["user_90001"]["age"] is None  # 150
    assert users["user_90002"]["age"] is None  # 12
    assert users["user_90003"]["age"] == 13.0 and users["user_90004"]["age"] == 100.0
    assert users["user_90005"]["age"] is None  # NaN
    assert users["user_90003"]["monthly_spend"] == 0.0
    assert users["user_90004"]["monthly_spend"] is None  # -0.01
    assert users["user_90017"]["monthly_spend"] is None  # NaN
    assert users["user_90003"]["household_size"] == 1.0
    assert users["user_90004"]["household_size"] is None  # 0
    assert users["user_90005"]["household_size"] is None  # -2
    assert users["user_90005"]["gender"] == "Unknown"
    assert users["user_90001"]["gender"] == "Male"
    # Over the whole table, generated and real rows included.
    assert all(u["age"] is None or 13 <= u["age"] <= 100 for u in users.values())
    assert all(u["monthly_spend"] is None or u["monthly_spend"] >= 0 for u in users.values())
    assert all(u["household_size"] is None or u["household_size"] > 0 for u in users.values())
    assert all(u["gender"] is not None for u in users.values())
    # The real sample has users without a gender and with ages out of range: they were kept.
    assert sum(u["gender"] == "Unknown" for u in users.values()) > 800


def test_user_duplicate_resolution(lake):
    users = lake["clean"]["users"]
    assert users["user_90011"]["email"] == "z@example.org"  # latest created_at
    assert users["user_90012"]["email"] == "a@example.org"  # tie on created_at: smallest email
    assert users["user_90013"]["age"] == 30.0  # the valid row, although older
    assert users["user_90014"]["created_at"] == datetime(2023, 1, 1)  # a known created_at beats NULL


def test_both_date_formats_parse(lake):
    users, movies = lake["clean"]["users"], lake["clean"]["movies"]
    sessions, searches = lake["clean"]["watch_history"], lake["clean"]["search_logs"]
    reviews = lake["clean"]["reviews"]
    assert users["user_90005"]["created_at"] == datetime(2024, 2, 3)
    assert users["user_90005"]["subscription_start_date"] == date(2024, 2, 3)
    assert users["user_00001"]["created_at"] == datetime(2023, 4, 1, 14, 40, 50, 540242)
    assert movies["movie_9011"]["added_to_platform"] == date(2024, 5, 6)
    assert sessions["session_e10"]["watch_date"] == datetime(2024, 3, 5, 10, 0)
    assert sessions["session_e22"]["watch_date"] == datetime(2025, 6, 30, 23, 59, 59, 999999)
    assert sessions["session_e22"]["month"] == date(2025, 6, 1)
    assert sessions["session_e20"]["watch_date"] == datetime(2024, 6, 15)
    assert searches["search_e04"]["search_date"] == date(2024, 1, 2)
    assert reviews["review_e13"]["review_date"] == date(2024, 6, 3)


def test_movie_null_rules(lake):
    movies = lake["clean"]["movies"]
    assert movies["movie_9001"]["duration_minutes"] is None and movies["movie_9001"]["imdb_rating"] is None
    assert movies["movie_9002"]["duration_minutes"] is None and movies["movie_9002"]["imdb_rating"] is None
    assert movies["movie_9003"]["duration_minutes"] == 0.5 and movies["movie_9003"]["imdb_rating"] == 0.0
    assert movies["movie_9004"]["imdb_rating"] == 10.0
    assert movies["movie_9011"]["imdb_rating"] is None
    assert movies["movie_9009"]["title"] == "A title"
    assert all(m["duration_minutes"] is None or m["duration_minutes"] > 0 for m in movies.values())
    assert all(m["imdb_rating"] is None or 0 <= m["imdb_rating"] <= 10 for m in movies.values())
    # The sample's one title with duration 0 is kept, with a NULL duration.
    assert sum(m["duration_minutes"] is None for m in movies.values()) >= 3


def test_watch_history_null_rules(lake):
    sessions = lake["clean"]["watch_history"]
    assert sessions["session_e16"]["watch_duration_minutes"] is None  # -3
    assert sessions["session_e16"]["progress_percentage"] is None  # 101
    assert sessions["session_e17"]["watch_duration_minutes"] == 0.0
    assert sessions["session_e17"]["progress_percentage"] is None  # -1
    assert sessions["session_e18"]["progress_percentage"] == 100.0
    assert sessions["session_e19"]["progress_percentage"] == 0.0
    assert sessions["session_e26"]["watch_duration_minutes"] is None  # NaN
    assert sessions["session_e26"]["user_rating"] is None  # NaN
    assert sessions["session_e11"]["device_type"] == "Laptop"  # same date: deterministic, smallest raw text
    assert all(s["watch_duration_minutes"] is None or s["watch_duration_minutes"] >= 0 for s in sessions.values())
    assert all(s["progress_percentage"] is None or 0 <= s["progress_percentage"] <= 100 for s in sessions.values())
    assert {s["action"] for s in sessions.values()} <= {"started", "completed", "stopped", "paused"}


def test_fact_sessions_carry_dimension_attributes(lake):
    sessions, users, movies = lake["clean"]["watch_history"], lake["clean"]["users"], lake["clean"]["movies"]
    wrong = [
        key
        for key, s in sessions.items()
        if (s["country"], s["subscription_plan"])
        != (users[s["user_id"]]["country"], users[s["user_id"]]["subscription_plan"])
        or (s["genre_primary"], s["content_type"], s["is_netflix_original"])
        != tuple(movies[s["movie_id"]][c] for c in ("genre_primary", "content_type", "is_netflix_original"))
        or s["month"] != s["watch_date"].date().replace(day=1)
    ]
    assert not wrong, wrong[:5]


def test_reviews_are_whole_ratings_in_range(lake):
    reviews = lake["clean"]["reviews"]
    assert all(isinstance(r["rating"], int) and 1 <= r["rating"] <= 5 for r in reviews.values())
    assert reviews["review_e10"]["review_date"] == date(2025, 2, 1)


# -- rejected_rows: shape, JSON, run id, month -------------------------------------------------


def test_rejected_rows_shape(lake, batch_run):
    rows = [row for table in TABLES for row in lake["rejected"][table]]
    assert rows
    assert set(rows[0]) >= {"source_table", "reason", "raw_row", "month", "run_id"}
    assert {row["run_id"] for row in rows} == {batch_run.result.run_id}
    for row in rows:
        parsed = json.loads(row["raw_row"])
        assert isinstance(parsed, dict) and parsed, row
    # The raw text is kept as it was read, not as it was parsed.
    bad_age = [r for r in lake["rejected"]["users"] if json.loads(r["raw_row"]).get("user_id") == "user_90008"]
    assert len(bad_age) == 1 and json.loads(bad_age[0]["raw_row"])["age"] == "abc"


def test_rejected_rows_month_where_known(lake):
    by_key = {}
    for row in lake["rejected"]["watch_history"]:
        by_key.setdefault(json.loads(row["raw_row"]).get("session_id"), []).append(row)
    assert [r["month"] for r in by_key["session_e10"]] == [date(2024, 2, 1)]  # the older duplicate
    assert [r["month"] for r in by_key["session_e04"]] == [None]  # unparseable date: month unknown
    assert all(row["month"] is None for row in lake["rejected"]["users"])
    assert [r["month"] for r in lake["rejected"]["reviews"] if "review_e11" in r["raw_row"]] == [date(2024, 6, 1)]


# -- nothing lost: raw rows = clean + collapsed + rejected, in the data and in the metadata ---


def _materializations(batch_run, asset_path):
    return [
        event.event_specific_data.materialization
        for event in batch_run.result.get_asset_materialization_events()
        if event.event_specific_data.materialization.asset_key.path == asset_path
    ]


def _data_lines(path) -> int:
    with open(path, newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


@pytest.mark.parametrize("table", TABLES)
def test_nothing_lost(table, lake, oracle, batch_run):
    materializations = _materializations(batch_run, LAKE_ASSET_OF[table])
    assert materializations, f"no materialization of {LAKE_ASSET_OF[table]}"
    metadata = materializations[-1].metadata
    raw_rows = _data_lines(f"{batch_run.settings.raw_uri}/{table}.csv")
    clean = len(lake["rows"][table])
    rejected = len(lake["rejected"][table])
    collapsed = metadata["exact_duplicates_collapsed"].value
    assert raw_rows == oracle.raw_count(table)
    assert collapsed == oracle.collapsed(table)
    assert raw_rows == clean + collapsed + rejected
    assert metadata["raw_rows"].value == raw_rows
    assert metadata["rejected_rows"].value == rejected
    assert metadata["rejected_by_reason"].value == oracle.reason_counts(table)
    if table != "watch_history":  # a range run reports the whole run's count on every month
        assert metadata["dagster/row_count"].value == clean


def test_sample_quirks_are_visible(oracle):
    """The README's quirks of the real sample are what the cleaning counts (a guard on the fixture)."""
    assert oracle.collapsed("users") >= 300
    assert oracle.collapsed("movies") >= 40
    assert oracle.collapsed("reviews") >= 450
    assert oracle.collapsed("search_logs") >= 1500
