"""Every warehouse name the dashboards read (from the contract), and the command that fills each table."""

from __future__ import annotations

from netflix_core import contract
from netflix_core.contract import ENGAGEMENT_HEALTH_SERVING, PROCESSED, SERVING, STREAMING

MONTHLY_ENGAGEMENT = contract.MONTHLY_ENGAGEMENT.qualified_name
COHORT_RETENTION = contract.COHORT_RETENTION.qualified_name
GENRE_PERFORMANCE = contract.GENRE_PERFORMANCE.qualified_name
CONTENT_PERFORMANCE = contract.CONTENT_PERFORMANCE.qualified_name

ENGAGEMENT_HEALTH_REALTIME = contract.ENGAGEMENT_HEALTH_REALTIME.qualified_name
STREAM_BATCHES = contract.STREAM_BATCHES.qualified_name

__all__ = ["ENGAGEMENT_HEALTH_SERVING", "PROCESSED", "SERVING", "STREAMING"]

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
