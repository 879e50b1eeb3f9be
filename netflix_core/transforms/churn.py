"""Churn-risk rules (SPEC section 7), one definition for the batch facts and the speed layer."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

LOW_ENGAGEMENT_PROGRESS = 20.0
ABANDONMENT_PROGRESS = 50.0
DOWNGRADE_QUALITIES = ("SD", "HD")
ALERT_HIGH_ABOVE = 60.0
ALERT_MEDIUM_ABOVE = 40.0


def is_completed(action: Column) -> Column:
    return F.coalesce(action == "completed", F.lit(False))


def is_low_engagement(progress: Column) -> Column:
    # A session with unknown progress is not counted as low engagement.
    return F.coalesce(progress < LOW_ENGAGEMENT_PROGRESS, F.lit(False))


def is_abandoned(action: Column, progress: Column) -> Column:
    return F.coalesce((action == "stopped") & (progress < ABANDONMENT_PROGRESS), F.lit(False))


def is_quality_downgrade(quality: Column) -> Column:
    return F.coalesce(quality.isin(*DOWNGRADE_QUALITIES), F.lit(False))


def alert_level(low_engagement_rate: Column) -> Column:
    return (
        F.when(low_engagement_rate > ALERT_HIGH_ABOVE, "HIGH")
        .when(low_engagement_rate > ALERT_MEDIUM_ABOVE, "MEDIUM")
        .otherwise("LOW")
    )


def with_churn_flags(sessions: DataFrame) -> DataFrame:
    """Adds the per-session flags both layers aggregate: completed, low engagement, abandoned, downgrade."""
    action, progress, quality = F.col("action"), F.col("progress_percentage"), F.col("quality")
    return sessions.withColumns(
        {
            "is_completed": is_completed(action),
            "is_low_engagement": is_low_engagement(progress),
            "is_abandoned": is_abandoned(action, progress),
            "is_quality_downgrade": is_quality_downgrade(quality),
        }
    )
