"""Every warehouse name the dashboards read, and the command that fills each table.

Kept apart from the queries so that the names can later come from the project's contract
module in one edit.
"""

from __future__ import annotations

PROCESSED = "netflix_processed"
STREAMING = "netflix_streaming"
SERVING = "netflix_serving"

MONTHLY_ENGAGEMENT = f"{PROCESSED}.monthly_engagement"
COHORT_RETENTION = f"{PROCESSED}.cohort_retention"
GENRE_PERFORMANCE = f"{PROCESSED}.genre_performance"
CONTENT_PERFORMANCE = f"{PROCESSED}.content_performance"

ENGAGEMENT_HEALTH_REALTIME = f"{STREAMING}.engagement_health_realtime"
STREAM_BATCHES = f"{STREAMING}.stream_batches"

# The serving view: engagement_health_realtime's columns plus `source` ('batch' | 'speed').
ENGAGEMENT_HEALTH_SERVING = f"{SERVING}.engagement_health"

BATCH_COMMANDS = ("netflix-lambda batch",)
STREAM_COMMANDS = (
    "netflix-lambda kafka start",
    "netflix-lambda produce --live",
    "netflix-lambda stream",
)


def commands_to_fill(qualified_name: str) -> tuple[str, ...]:
    """What a user runs so that `qualified_name` gets rows."""
    if qualified_name.startswith(f"{PROCESSED}."):
        return BATCH_COMMANDS
    return STREAM_COMMANDS
