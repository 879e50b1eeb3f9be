"""Every SQL statement the dashboards send, and nothing else.

The statements must run unchanged on DuckDB and BigQuery, so they keep to what both share:
``dataset.table`` names, SUM/COUNT/MAX, CASE, ``TIMESTAMP '...'`` and ``DATE '...'`` literals,
ORDER BY and LIMIT. Time arithmetic (cut-offs, lags) happens in Python, where it is the same
for both engines.
"""

from __future__ import annotations

from datetime import date, datetime

from netflix_dashboard import tables

_ALERTS = "alert_level IN ('HIGH', 'MEDIUM')"


def timestamp_literal(value: datetime) -> str:
    return f"TIMESTAMP '{value:%Y-%m-%d %H:%M:%S}'"


def date_literal(value: date) -> str:
    return f"DATE '{value:%Y-%m-%d}'"


def source_column(engagement_table: str) -> str:
    # The realtime table has no `source`; everything in it comes from the speed layer.
    return "source" if engagement_table == tables.ENGAGEMENT_HEALTH_SERVING else "'speed'"


# --- Real-Time Engagement ----------------------------------------------------------------------


def latest_windows(engagement_table: str, limit: int) -> str:
    """The newest `limit` 5-minute windows that have rows, one row each: the segments' counts
    summed, rates left to the caller (they must be weighted by sessions)."""
    return f"""
SELECT
    window_start,
    MAX(window_end) AS window_end,
    MIN({source_column(engagement_table)}) AS source,
    SUM(total_sessions) AS total_sessions,
    SUM(unique_users) AS unique_users,
    SUM(total_watch_minutes) AS total_watch_minutes,
    SUM(low_engagement_count) AS low_engagement_count,
    SUM(abandonment_count) AS abandonment_count,
    SUM(completion_count) AS completion_count,
    SUM(CASE WHEN alert_level = 'HIGH' THEN revenue_impact ELSE 0 END) AS revenue_at_risk_high,
    SUM(CASE WHEN alert_level = 'MEDIUM' THEN revenue_impact ELSE 0 END) AS revenue_at_risk_medium,
    SUM(CASE WHEN alert_level = 'HIGH' THEN 1 ELSE 0 END) AS high_segments,
    SUM(CASE WHEN alert_level = 'MEDIUM' THEN 1 ELSE 0 END) AS medium_segments,
    MAX(updated_at) AS updated_at
FROM {engagement_table}
GROUP BY window_start
ORDER BY window_start DESC
LIMIT {int(limit)}"""


def churn_alerts_since(engagement_table: str, since: datetime, limit: int) -> str:
    return f"""
SELECT
    window_start, country, genre_primary, device_type, quality, content_type, is_netflix_original,
    total_sessions, unique_users, low_engagement_rate, abandonment_rate, completion_rate,
    revenue_impact, alert_level, {source_column(engagement_table)} AS source
FROM {engagement_table}
WHERE {_ALERTS} AND window_start >= {timestamp_literal(since)}
ORDER BY window_start DESC, CASE WHEN alert_level = 'HIGH' THEN 0 ELSE 1 END, revenue_impact DESC, total_sessions DESC
LIMIT {int(limit)}"""


def top_segments_since(engagement_table: str, dimension: str, since: datetime, limit: int) -> str:
    if dimension not in ("country", "genre_primary"):
        raise ValueError(f"not a ranked dimension: {dimension}")
    return f"""
SELECT
    {dimension} AS label,
    SUM(total_sessions) AS total_sessions,
    SUM(unique_users) AS unique_users,
    SUM(total_watch_minutes) AS total_watch_minutes,
    SUM(low_engagement_count) AS low_engagement_count,
    SUM(CASE WHEN {_ALERTS} THEN revenue_impact ELSE 0 END) AS revenue_at_risk
FROM {engagement_table}
WHERE window_start >= {timestamp_literal(since)}
GROUP BY {dimension}
ORDER BY total_sessions DESC, label
LIMIT {int(limit)}"""


def recent_stream_batches(limit: int) -> str:
    return f"""
SELECT batch_id, committed_at, input_rows, quarantined_rows, upserted_rows,
    min_kafka_timestamp, max_kafka_timestamp, max_event_time
FROM {tables.STREAM_BATCHES}
ORDER BY committed_at DESC, batch_id DESC
LIMIT {int(limit)}"""


# --- Historical Trends -------------------------------------------------------------------------


def monthly_engagement() -> str:
    # Each user has one country and one plan, so summing this table's distinct users over
    # countries or plans stays exact.
    return f"""
SELECT month, country, subscription_plan, total_sessions, monthly_active_users,
    total_watch_time_minutes, completion_rate
FROM {tables.MONTHLY_ENGAGEMENT}
ORDER BY month, country, subscription_plan"""


def cohort_retention() -> str:
    return f"""
SELECT cohort_month, activity_month, months_since_cohort, cohort_size, active_users, retention_rate
FROM {tables.COHORT_RETENTION}
ORDER BY cohort_month, months_since_cohort"""


def genre_performance() -> str:
    return f"""
SELECT month, genre_primary, total_views, unique_viewers, total_watch_time_minutes,
    completion_rate, avg_review_rating, watch_time_share
FROM {tables.GENRE_PERFORMANCE}
ORDER BY month, genre_primary"""


def content_months() -> str:
    return f"SELECT DISTINCT month FROM {tables.CONTENT_PERFORMANCE} ORDER BY month DESC"


def top_content(month: date, limit: int) -> str:
    return f"""
SELECT movie_id, title, content_type, genre_primary, is_netflix_original, total_views, unique_viewers,
    total_watch_time_minutes, avg_progress_pct, completion_rate, review_count, avg_review_rating
FROM {tables.CONTENT_PERFORMANCE}
WHERE month = {date_literal(month)}
ORDER BY total_views DESC, total_watch_time_minutes DESC, movie_id
LIMIT {int(limit)}"""
