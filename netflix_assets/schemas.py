"""Typed schemas of the five raw inputs (SPEC section 3) and of a watch event (section 7).

Raw CSVs are read as text under these column names and cast here, so a value of the wrong type
becomes a rejected row with its reason instead of a silent NULL.
"""

from __future__ import annotations

from pyspark.sql.types import (
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    IntegerType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

RAW_TABLES = ("users", "movies", "watch_history", "reviews", "search_logs")

# The speed layer's Kafka topic (SPEC section 7).
WATCH_EVENTS_TOPIC = "netflix_watch_events"
WATCH_EVENTS_PARTITIONS = 3


def _schema(*fields: tuple[str, DataType]) -> StructType:
    return StructType([StructField(name, dtype, nullable=True) for name, dtype in fields])


S, D, I, B, DT, TS = StringType(), DoubleType(), IntegerType(), BooleanType(), DateType(), TimestampType()

RAW_SCHEMAS: dict[str, StructType] = {
    "users": _schema(
        ("user_id", S), ("email", S), ("first_name", S), ("last_name", S), ("age", D), ("gender", S),
        ("country", S), ("state_province", S), ("city", S), ("subscription_plan", S),
        ("subscription_start_date", DT), ("is_active", B), ("monthly_spend", D), ("primary_device", S),
        ("household_size", D), ("created_at", TS),
    ),
    "movies": _schema(
        ("movie_id", S), ("title", S), ("content_type", S), ("genre_primary", S), ("genre_secondary", S),
        ("release_year", I), ("duration_minutes", D), ("rating", S), ("language", S),
        ("country_of_origin", S), ("imdb_rating", D), ("production_budget", D), ("box_office_revenue", D),
        ("number_of_seasons", D), ("number_of_episodes", D), ("is_netflix_original", B),
        ("added_to_platform", DT), ("content_warning", B),
    ),
    "watch_history": _schema(
        ("session_id", S), ("user_id", S), ("movie_id", S), ("watch_date", TS), ("device_type", S),
        ("watch_duration_minutes", D), ("progress_percentage", D), ("action", S), ("quality", S),
        ("location_country", S), ("is_download", B), ("user_rating", D),
    ),
    "reviews": _schema(
        ("review_id", S), ("user_id", S), ("movie_id", S), ("rating", I), ("review_date", DT),
        ("device_type", S), ("is_verified_watch", B), ("helpful_votes", D), ("total_votes", D),
        ("review_text", S), ("sentiment", S), ("sentiment_score", D),
    ),
    "search_logs": _schema(
        ("search_id", S), ("user_id", S), ("search_query", S), ("search_date", DT),
        ("results_returned", I), ("clicked_result_position", I), ("device_type", S),
        ("search_duration_seconds", D), ("had_typo", B), ("used_filters", B), ("location_country", S),
    ),
}

RAW_COLUMNS: dict[str, list[str]] = {table: schema.fieldNames() for table, schema in RAW_SCHEMAS.items()}

# Primary keys, and the further columns that must be present for a row to be usable.
PRIMARY_KEYS = {
    "users": "user_id",
    "movies": "movie_id",
    "watch_history": "session_id",
    "reviews": "review_id",
    "search_logs": "search_id",
}
REQUIRED_COLUMNS = {
    "users": ["user_id"],
    "movies": ["movie_id"],
    "watch_history": ["session_id", "user_id", "movie_id"],
    "reviews": ["review_id", "user_id", "movie_id"],
    "search_logs": ["search_id", "user_id"],
}

# Dates a row cannot do without: a session's month comes from its watch_date.
REQUIRED_DATES = {"watch_history": ["watch_date"]}

# A watch event on Kafka: the watch_history columns plus its event time (SPEC section 7).
WATCH_EVENT_SCHEMA = StructType(
    [StructField(f.name, StringType() if f.name == "watch_date" else f.dataType) for f in RAW_SCHEMAS["watch_history"]]
    + [StructField("timestamp", StringType())]
)

SUBSCRIPTION_PLANS = ("Basic", "Standard", "Premium", "Premium+")
DEVICE_TYPES = ("Mobile", "Desktop", "Laptop", "Tablet", "Smart TV", "Gaming Console")
