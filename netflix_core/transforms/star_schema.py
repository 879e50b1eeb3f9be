"""Star schema of SPEC section 5: dimensions are the clean tables, facts carry what reports group by."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, StructField, StructType

from netflix_core.contract import FACT_MOVIE_ATTRIBUTES, FACT_USER_ATTRIBUTES
from netflix_core.schemas import RAW_SCHEMAS
from netflix_core.transforms.churn import with_churn_flags


def fact_watch_sessions(sessions: DataFrame, dim_users: DataFrame, dim_movies: DataFrame) -> DataFrame:
    """One row per clean session with the user's and the movie's attributes and the churn flags."""
    users = dim_users.select("user_id", *FACT_USER_ATTRIBUTES)
    movies = dim_movies.select("movie_id", *FACT_MOVIE_ATTRIBUTES)
    facts = sessions.join(F.broadcast(users), "user_id", "left").join(F.broadcast(movies), "movie_id", "left")
    return with_churn_flags(facts).select(
        "session_id",
        "user_id",
        "movie_id",
        "watch_date",
        "device_type",
        "watch_duration_minutes",
        "progress_percentage",
        "action",
        "quality",
        "location_country",
        "is_download",
        "user_rating",
        *FACT_USER_ATTRIBUTES,
        *FACT_MOVIE_ATTRIBUTES,
        "is_completed",
        "is_low_engagement",
        "is_abandoned",
        "is_quality_downgrade",
        "month",
    )


def fact_watch_sessions_schema(spark: SparkSession) -> StructType:
    """The fact's schema, derived from the transform on empty inputs (no Spark job runs)."""

    def empty(table: str, *extra: StructField) -> DataFrame:
        return spark.createDataFrame([], StructType([*RAW_SCHEMAS[table].fields, *extra]))

    sessions = empty("watch_history", StructField("month", DateType()))
    return fact_watch_sessions(sessions, empty("users"), empty("movies")).schema
