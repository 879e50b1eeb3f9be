"""The product contract's names (docs/CONTRACT.md): inputs, reasons, topic, datasets and tables.

Plain Python with no Spark or Dagster import, so that the producer and the command line can use
the names without starting a JVM. Spark schemas are derived from these in ``schemas.py``;
warehouse DDL in ``warehouse/``. Every rule that uses a name imports it from here.
"""

from __future__ import annotations

from dataclasses import dataclass

# Logical column types; each warehouse and Spark maps them to its own.
STRING, DOUBLE, INTEGER, BIGINT, BOOLEAN, DATE, TIMESTAMP = (
    "string", "double", "integer", "bigint", "boolean", "date", "timestamp",
)  # fmt: skip

# --- Inputs (contract section 3) ---------------------------------------------------------------

RAW_TABLES = ("users", "movies", "watch_history", "reviews", "search_logs")

RAW_COLUMN_TYPES: dict[str, tuple[tuple[str, str], ...]] = {
    "users": (
        ("user_id", STRING), ("email", STRING), ("first_name", STRING), ("last_name", STRING), ("age", DOUBLE),
        ("gender", STRING), ("country", STRING), ("state_province", STRING), ("city", STRING),
        ("subscription_plan", STRING), ("subscription_start_date", DATE), ("is_active", BOOLEAN),
        ("monthly_spend", DOUBLE), ("primary_device", STRING), ("household_size", DOUBLE), ("created_at", TIMESTAMP),
    ),
    "movies": (
        ("movie_id", STRING), ("title", STRING), ("content_type", STRING), ("genre_primary", STRING),
        ("genre_secondary", STRING), ("release_year", INTEGER), ("duration_minutes", DOUBLE), ("rating", STRING),
        ("language", STRING), ("country_of_origin", STRING), ("imdb_rating", DOUBLE), ("production_budget", DOUBLE),
        ("box_office_revenue", DOUBLE), ("number_of_seasons", DOUBLE), ("number_of_episodes", DOUBLE),
        ("is_netflix_original", BOOLEAN), ("added_to_platform", DATE), ("content_warning", BOOLEAN),
    ),
    "watch_history": (
        ("session_id", STRING), ("user_id", STRING), ("movie_id", STRING), ("watch_date", TIMESTAMP),
        ("device_type", STRING), ("watch_duration_minutes", DOUBLE), ("progress_percentage", DOUBLE),
        ("action", STRING), ("quality", STRING), ("location_country", STRING), ("is_download", BOOLEAN),
        ("user_rating", DOUBLE),
    ),
    "reviews": (
        ("review_id", STRING), ("user_id", STRING), ("movie_id", STRING), ("rating", INTEGER), ("review_date", DATE),
        ("device_type", STRING), ("is_verified_watch", BOOLEAN), ("helpful_votes", DOUBLE), ("total_votes", DOUBLE),
        ("review_text", STRING), ("sentiment", STRING), ("sentiment_score", DOUBLE),
    ),
    "search_logs": (
        ("search_id", STRING), ("user_id", STRING), ("search_query", STRING), ("search_date", DATE),
        ("results_returned", INTEGER), ("clicked_result_position", INTEGER), ("device_type", STRING),
        ("search_duration_seconds", DOUBLE), ("had_typo", BOOLEAN), ("used_filters", BOOLEAN),
        ("location_country", STRING),
    ),
}  # fmt: skip

RAW_COLUMNS: dict[str, tuple[str, ...]] = {
    table: tuple(name for name, _ in columns) for table, columns in RAW_COLUMN_TYPES.items()
}

PRIMARY_KEYS = {
    "users": "user_id",
    "movies": "movie_id",
    "watch_history": "session_id",
    "reviews": "review_id",
    "search_logs": "search_id",
}
# The columns a row cannot do without (missing_key when blank).
REQUIRED_COLUMNS = {
    "users": ("user_id",),
    "movies": ("movie_id",),
    "watch_history": ("session_id", "user_id", "movie_id"),
    "reviews": ("review_id", "user_id", "movie_id"),
    "search_logs": ("search_id", "user_id"),
}
# Dates a row cannot do without: a session's month comes from its watch_date.
REQUIRED_DATES = {"watch_history": ("watch_date",)}

# Accepted values.
SUBSCRIPTION_PLANS = ("Basic", "Standard", "Premium", "Premium+")
DEVICE_TYPES = ("Mobile", "Desktop", "Laptop", "Tablet", "Smart TV", "Gaming Console")
ACTIONS = ("started", "completed", "stopped", "paused")
QUALITIES = ("SD", "HD", "4K", "Ultra HD")

# --- Cleaning (section 4) and the lake (section 5) ---------------------------------------------

# In this order: a rejected row carries the first reason that applies.
REJECT_REASONS = ("missing_key", "bad_date", "bad_value", "duplicate_key", "unknown_user", "unknown_movie")

DIM_USERS, DIM_MOVIES = "dim_users", "dim_movies"
FACT_WATCH_SESSIONS, FACT_REVIEWS, FACT_SEARCHES = "fact_watch_sessions", "fact_reviews", "fact_searches"
REJECTED_ROWS = "rejected_rows"
# The speed layer's master dataset (section 7b): every valid event the streaming job read, one row
# per Kafka record, under <lake>/watch_events/event_date=.../query_id=.../batch_id=.../.
WATCH_EVENTS_ARCHIVE = "watch_events"
ARCHIVE_KAFKA_COLUMNS = ("topic", "partition", "offset", "kafka_timestamp")
# The folders of one micro-batch's files, in nesting order: the event's day, then the checkpoint's
# query id and the batch id (where a replayed micro-batch finds the files it replaces).
ARCHIVE_PARTITION_COLUMNS = ("event_date", "query_id", "batch_id")

# The dimension attributes a session fact carries (section 5).
FACT_USER_ATTRIBUTES = ("country", "subscription_plan")
FACT_MOVIE_ATTRIBUTES = ("genre_primary", "content_type", "is_netflix_original")

# --- The speed layer (section 7) ---------------------------------------------------------------

WATCH_EVENTS_TOPIC = "netflix_watch_events"
WATCH_EVENTS_PARTITIONS = 3
# Event time of a watch event, in the message's `timestamp` field.
EVENT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# In this order: a quarantined message carries the first reason that applies.
QUARANTINE_REASONS = (
    "not_json",
    "missing_session_id",
    "missing_user_id",
    "missing_movie_id",
    "missing_timestamp",
    "bad_timestamp",
    "bad_value",
    "negative_duration",
)

WINDOW_DURATION = "5 minutes"
WATERMARK_DELAY_MINUTES = 10
WATERMARK_DELAY = f"{WATERMARK_DELAY_MINUTES} minutes"
DEFAULT_TRIGGER_SECONDS = 10.0
UNKNOWN = "Unknown"
# The dimension attributes a watch event is enriched with.
EVENT_USER_ATTRIBUTES = ("country", "subscription_plan", "monthly_spend")
EVENT_MOVIE_ATTRIBUTES = ("genre_primary", "content_type", "is_netflix_original", "imdb_rating")

# --- The warehouse (sections 6 and 7) -----------------------------------------------------------

PROCESSED, STREAMING, SERVING = "netflix_processed", "netflix_streaming", "netflix_serving"
WAREHOUSE_DATASETS = (PROCESSED, STREAMING, SERVING)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True


@dataclass(frozen=True)
class WarehouseTable:
    """A warehouse table: its dataset, columns in contract order and the grain of one row.

    ``month_column`` names the column by which a monthly table is replaced one month at a time,
    ``day_column`` the timestamp by which a daily table is replaced one day at a time;
    ``upsert_key`` is enforced (a primary key) where rows are upserted by it.
    """

    dataset: str
    name: str
    columns: tuple[Column, ...]
    grain: tuple[str, ...]
    month_column: str | None = None
    upsert_key: tuple[str, ...] = ()
    day_column: str | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.dataset}.{self.name}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


def _columns(*specs: tuple[str, str] | tuple[str, str, bool]) -> tuple[Column, ...]:
    return tuple(Column(*spec) for spec in specs)


MONTHLY_ENGAGEMENT = WarehouseTable(
    PROCESSED,
    "monthly_engagement",
    _columns(
        ("month", DATE), ("country", STRING), ("subscription_plan", STRING), ("total_sessions", BIGINT),
        ("monthly_active_users", BIGINT), ("total_watch_time_minutes", DOUBLE), ("avg_session_duration", DOUBLE),
        ("unique_content_viewed", BIGINT), ("completion_rate", DOUBLE),
    ),
    grain=("month", "country", "subscription_plan"),
    month_column="month",
)  # fmt: skip
MONTHLY_ACTIVE_USERS = WarehouseTable(
    PROCESSED,
    "monthly_active_users",
    _columns(
        ("month", DATE), ("monthly_active_users", BIGINT), ("countries", BIGINT), ("total_sessions", BIGINT),
        ("total_watch_time_minutes", DOUBLE),
    ),
    grain=("month",),
    month_column="month",
)  # fmt: skip
CONTENT_PERFORMANCE = WarehouseTable(
    PROCESSED,
    "content_performance",
    _columns(
        ("month", DATE), ("movie_id", STRING), ("title", STRING), ("content_type", STRING), ("genre_primary", STRING),
        ("is_netflix_original", BOOLEAN), ("total_views", BIGINT), ("unique_viewers", BIGINT),
        ("total_watch_time_minutes", DOUBLE), ("avg_progress_pct", DOUBLE), ("completion_rate", DOUBLE),
        ("review_count", BIGINT), ("avg_review_rating", DOUBLE),
    ),
    grain=("month", "movie_id"),
    month_column="month",
)  # fmt: skip
GENRE_PERFORMANCE = WarehouseTable(
    PROCESSED,
    "genre_performance",
    _columns(
        ("month", DATE), ("genre_primary", STRING), ("total_views", BIGINT), ("unique_viewers", BIGINT),
        ("unique_titles", BIGINT), ("total_watch_time_minutes", DOUBLE), ("avg_watch_duration", DOUBLE),
        ("completion_rate", DOUBLE), ("avg_review_rating", DOUBLE), ("watch_time_share", DOUBLE),
    ),
    grain=("month", "genre_primary"),
    month_column="month",
)  # fmt: skip
COHORT_RETENTION = WarehouseTable(
    PROCESSED,
    "cohort_retention",
    _columns(
        ("cohort_month", DATE), ("activity_month", DATE), ("months_since_cohort", INTEGER), ("cohort_size", BIGINT),
        ("active_users", BIGINT), ("retention_rate", DOUBLE),
    ),
    grain=("cohort_month", "activity_month"),
)  # fmt: skip
BATCH_TABLES = (MONTHLY_ENGAGEMENT, MONTHLY_ACTIVE_USERS, CONTENT_PERFORMANCE, GENRE_PERFORMANCE, COHORT_RETENTION)

# The grain of engagement_health_realtime after its window.
GRAIN_DIMENSIONS = ("country", "genre_primary", "device_type", "quality", "is_netflix_original", "content_type")
ENGAGEMENT_HEALTH_GRAIN = ("window_start", *GRAIN_DIMENSIONS)

ENGAGEMENT_HEALTH_REALTIME = WarehouseTable(
    STREAMING,
    "engagement_health_realtime",
    _columns(
        ("window_start", TIMESTAMP, False), ("window_end", TIMESTAMP, False),
        *((dimension, STRING, False) for dimension in GRAIN_DIMENSIONS),
        ("total_sessions", BIGINT, False), ("unique_users", BIGINT, False), ("total_watch_minutes", DOUBLE),
        ("avg_completion_pct", DOUBLE), ("avg_content_quality", DOUBLE), ("low_engagement_count", BIGINT, False),
        ("abandonment_count", BIGINT, False), ("quality_downgrade_count", BIGINT, False),
        ("completion_count", BIGINT, False), ("low_engagement_rate", DOUBLE, False),
        ("abandonment_rate", DOUBLE, False), ("completion_rate", DOUBLE, False), ("revenue_impact", DOUBLE),
        ("avg_subscriber_value", DOUBLE), ("alert_level", STRING, False), ("updated_at", TIMESTAMP, False),
    ),
    grain=ENGAGEMENT_HEALTH_GRAIN,
    upsert_key=ENGAGEMENT_HEALTH_GRAIN,
)  # fmt: skip
# "partition" and "offset" keep the names of Spark's Kafka columns (SQL keywords: writers quote them).
QUARANTINED_EVENTS = WarehouseTable(
    STREAMING,
    "quarantined_events",
    _columns(
        ("raw_value", STRING), ("reason", STRING, False), ("topic", STRING, False), ("partition", INTEGER, False),
        ("offset", BIGINT, False), ("kafka_timestamp", TIMESTAMP), ("batch_id", BIGINT, False),
        ("query_id", STRING, False),
    ),
    grain=("topic", "partition", "offset"),
    upsert_key=("topic", "partition", "offset"),
)  # fmt: skip
STREAM_BATCHES = WarehouseTable(
    STREAMING,
    "stream_batches",
    _columns(
        ("batch_id", BIGINT, False), ("committed_at", TIMESTAMP, False), ("input_rows", BIGINT, False),
        ("quarantined_rows", BIGINT, False), ("upserted_rows", BIGINT, False), ("start_offsets", STRING, False),
        ("end_offsets", STRING, False), ("min_kafka_timestamp", TIMESTAMP), ("max_kafka_timestamp", TIMESTAMP),
        ("max_event_time", TIMESTAMP), ("query_id", STRING, False),
    ),
    grain=("query_id", "batch_id"),
    upsert_key=("query_id", "batch_id"),
)  # fmt: skip
STREAMING_TABLES = (ENGAGEMENT_HEALTH_REALTIME, QUARANTINED_EVENTS, STREAM_BATCHES)

# --- The serving layer (section 7b) --------------------------------------------------------------

# The batch layer's recomputation of engagement_health_realtime from the archive, one event day at a
# time: the same grain and columns, exact distinct users.
ENGAGEMENT_HEALTH_BATCH = WarehouseTable(
    PROCESSED,
    "engagement_health_batch",
    ENGAGEMENT_HEALTH_REALTIME.columns,
    grain=ENGAGEMENT_HEALTH_GRAIN,
    day_column="window_start",
)
# The serving view: engagement_health_realtime's columns plus `source` ('batch' or 'speed').
ENGAGEMENT_HEALTH_SERVING = f"{SERVING}.engagement_health"
BATCH_SOURCE, SPEED_SOURCE = "batch", "speed"
