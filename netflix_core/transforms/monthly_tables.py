"""The five ``netflix_processed`` tables of SPEC section 6, from the star schema.

Sums and averages ignore NULLs (Spark's default); rates are fractions; nothing is rounded.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F


def _completion_rate() -> Column:
    return F.sum(F.col("is_completed").cast("long")) / F.count(F.lit(1))


def _review_stats(fact_reviews: DataFrame, keys: list[str]) -> DataFrame:
    return fact_reviews.groupBy("month", *keys).agg(
        F.count(F.lit(1)).alias("review_count"), F.avg("rating").alias("avg_review_rating")
    )


def monthly_engagement(facts: DataFrame) -> DataFrame:
    return facts.groupBy("month", "country", "subscription_plan").agg(
        F.count(F.lit(1)).alias("total_sessions"),
        F.countDistinct("user_id").alias("monthly_active_users"),
        F.sum("watch_duration_minutes").alias("total_watch_time_minutes"),
        F.avg("watch_duration_minutes").alias("avg_session_duration"),
        F.countDistinct("movie_id").alias("unique_content_viewed"),
        _completion_rate().alias("completion_rate"),
    )


def monthly_active_users(facts: DataFrame) -> DataFrame:
    return facts.groupBy("month").agg(
        F.countDistinct("user_id").alias("monthly_active_users"),
        F.countDistinct("country").alias("countries"),
        F.count(F.lit(1)).alias("total_sessions"),
        F.sum("watch_duration_minutes").alias("total_watch_time_minutes"),
    )


def content_performance(facts: DataFrame, fact_reviews: DataFrame, dim_movies: DataFrame) -> DataFrame:
    """One row per movie viewed in the month, with that month's clean reviews of it."""
    views = facts.groupBy("month", "movie_id").agg(
        F.count(F.lit(1)).alias("total_views"),
        F.countDistinct("user_id").alias("unique_viewers"),
        F.sum("watch_duration_minutes").alias("total_watch_time_minutes"),
        F.avg("progress_percentage").alias("avg_progress_pct"),
        _completion_rate().alias("completion_rate"),
    )
    movies = dim_movies.select("movie_id", "title", "content_type", "genre_primary", "is_netflix_original")
    return (
        views.join(F.broadcast(movies), "movie_id", "left")
        .join(_review_stats(fact_reviews, ["movie_id"]), ["month", "movie_id"], "left")
        .select(
            "month",
            "movie_id",
            "title",
            "content_type",
            "genre_primary",
            "is_netflix_original",
            "total_views",
            "unique_viewers",
            "total_watch_time_minutes",
            "avg_progress_pct",
            "completion_rate",
            F.coalesce(F.col("review_count"), F.lit(0)).alias("review_count"),
            "avg_review_rating",
        )
    )


def genre_performance(facts: DataFrame, fact_reviews: DataFrame, dim_movies: DataFrame) -> DataFrame:
    """One row per genre viewed in the month; reviews count towards the genre of their movie."""
    views = facts.groupBy("month", "genre_primary").agg(
        F.count(F.lit(1)).alias("total_views"),
        F.countDistinct("user_id").alias("unique_viewers"),
        F.countDistinct("movie_id").alias("unique_titles"),
        F.sum("watch_duration_minutes").alias("total_watch_time_minutes"),
        F.avg("watch_duration_minutes").alias("avg_watch_duration"),
        _completion_rate().alias("completion_rate"),
    )
    reviews_by_genre = (
        fact_reviews.join(F.broadcast(dim_movies.select("movie_id", "genre_primary")), "movie_id")
        .groupBy("month", "genre_primary")
        .agg(F.avg("rating").alias("avg_review_rating"))
    )
    month_total = F.sum("total_watch_time_minutes").over(Window.partitionBy("month"))
    return (
        views.join(reviews_by_genre, ["month", "genre_primary"], "left")
        .withColumn("watch_time_share", F.col("total_watch_time_minutes") / month_total)
        .select(
            "month",
            "genre_primary",
            "total_views",
            "unique_viewers",
            "unique_titles",
            "total_watch_time_minutes",
            "avg_watch_duration",
            "completion_rate",
            "avg_review_rating",
            "watch_time_share",
        )
    )


def cohort_retention(facts: DataFrame) -> DataFrame:
    """Cohort = month of a user's first clean session, over the whole history of facts.

    One shuffle by user gathers each user's active months; the cohort is the first of them.
    """
    per_user = facts.groupBy("user_id").agg(F.collect_set("month").alias("active_months"))
    activity = per_user.select(
        F.array_min("active_months").alias("cohort_month"),
        F.explode("active_months").alias("activity_month"),
    )
    sizes = per_user.groupBy(F.array_min("active_months").alias("cohort_month")).agg(
        F.count(F.lit(1)).alias("cohort_size")
    )
    return (
        activity.groupBy("cohort_month", "activity_month")
        .agg(F.count(F.lit(1)).alias("active_users"))
        .join(sizes, "cohort_month")
        .select(
            "cohort_month",
            "activity_month",
            F.months_between("activity_month", "cohort_month").cast("int").alias("months_since_cohort"),
            "cohort_size",
            "active_users",
            (F.col("active_users") / F.col("cohort_size")).alias("retention_rate"),
        )
    )
