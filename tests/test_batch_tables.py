"""SPEC section 6: the five netflix_processed tables in the DuckDB warehouse equal the oracle."""

from __future__ import annotations

import duckdb
import pytest

from tests.conftest import PROCESSED_COLUMNS, PROCESSED_GRAIN, assert_tables_equal, warehouse_rows

TABLES = list(PROCESSED_GRAIN)
RATE_COLUMNS = {
    "monthly_engagement": ["completion_rate"],
    "content_performance": ["completion_rate"],
    "genre_performance": ["completion_rate", "watch_time_share"],
    "cohort_retention": ["retention_rate"],
}


@pytest.fixture(scope="module")
def warehouse(batch_run):
    assert batch_run.result.success, "the shared batch run failed; see test_batch_dagster"
    return {table: warehouse_rows(batch_run.settings, table) for table in TABLES}


@pytest.mark.parametrize("table", TABLES)
def test_table_equals_oracle(table, warehouse, oracle):
    """Every column of every row, sorted by grain; floats to 1e-9 relative."""
    expected = oracle.table(table, PROCESSED_GRAIN[table])
    assert expected, f"the oracle has no {table} rows: the fixture is wrong"
    assert_tables_equal(warehouse[table], expected, PROCESSED_COLUMNS[table], f"netflix_processed.{table}")


@pytest.mark.parametrize("table", TABLES)
def test_columns_and_types(table, batch_run):
    connection = duckdb.connect(batch_run.settings.duckdb_path, read_only=True)
    try:
        described = connection.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'netflix_processed' AND table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
    finally:
        connection.close()
    types = dict(described)
    assert set(types) == set(PROCESSED_COLUMNS[table]), f"{table} columns {list(types)}"
    for column in ("month", "cohort_month", "activity_month"):
        if column in types:
            assert types[column] == "DATE", f"{table}.{column} is {types[column]}"
    if table == "cohort_retention":
        assert types["months_since_cohort"] in ("INTEGER", "BIGINT")
    for column in RATE_COLUMNS.get(table, []):
        assert types[column] == "DOUBLE"


@pytest.mark.parametrize("table", TABLES)
def test_grain_is_unique(table, warehouse):
    grain = PROCESSED_GRAIN[table]
    keys = [tuple(row[c] for c in grain) for row in warehouse[table]]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("table", [t for t in TABLES if t in RATE_COLUMNS])
def test_rates_are_fractions(table, warehouse):
    outside = [
        (column, row[column])
        for row in warehouse[table]
        for column in RATE_COLUMNS[table]
        if row[column] is not None and not 0.0 <= row[column] <= 1.0
    ]
    assert not outside, outside[:5]


def test_months_are_first_days(warehouse):
    for table in TABLES:
        for row in warehouse[table]:
            for column in ("month", "cohort_month", "activity_month"):
                if column in row:
                    assert row[column].day == 1, (table, row)


def test_watch_time_shares_sum_to_one(warehouse):
    by_month: dict = {}
    for row in warehouse["genre_performance"]:
        if row["watch_time_share"] is not None:
            by_month[row["month"]] = by_month.get(row["month"], 0.0) + row["watch_time_share"]
    assert by_month and all(abs(total - 1.0) < 1e-9 for total in by_month.values()), by_month


def test_monthly_tables_agree_with_each_other(warehouse):
    """Sessions per month are the same in monthly_engagement, monthly_active_users and content_performance."""

    def per_month(table, column):
        totals: dict = {}
        for row in warehouse[table]:
            totals[row["month"]] = totals.get(row["month"], 0) + row[column]
        return totals

    sessions = per_month("monthly_active_users", "total_sessions")
    assert per_month("monthly_engagement", "total_sessions") == sessions
    assert per_month("content_performance", "total_views") == sessions
    assert per_month("genre_performance", "total_views") == sessions


def test_reviews_counted_in_their_month(warehouse):
    """movie_9001 has two edge reviews in 2024-06 (ratings 1 and 5) and one edge session that month."""
    rows = [r for r in warehouse["content_performance"] if r["movie_id"] == "movie_9001"]
    june = [r for r in rows if r["month"].isoformat() == "2024-06-01"]
    assert len(june) == 1
    assert june[0]["review_count"] == 2 and june[0]["avg_review_rating"] == 3.0
    assert all(r["review_count"] == 0 and r["avg_review_rating"] is None for r in rows if r not in june)


def test_cohort_retention_is_consistent(warehouse):
    rows = warehouse["cohort_retention"]
    for row in rows:
        assert row["active_users"] <= row["cohort_size"]
        if row["months_since_cohort"] == 0:
            assert row["active_users"] == row["cohort_size"] and row["retention_rate"] == 1.0
        assert row["months_since_cohort"] >= 0
