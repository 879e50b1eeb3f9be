"""The serving layer's batch view (contract section 7b) and its reconciliation with the speed layer.

The batch view recomputes engagement_health_realtime from the archive of the events the streaming
job read, with the speed layer's own rules (``engagement_health.py``) and exact distinct users.
It counts every valid event, including those the speed layer dropped as later than its watermark:
the batch layer is the system of record, and the serving view shows its rows once a day is
recomputed. The reconciliation works out which archived events the speed layer dropped, so that
"batch view minus late events equals speed layer" can be checked exactly, per window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from netflix_core.contract import ENGAGEMENT_HEALTH_GRAIN, WATERMARK_DELAY
from netflix_core.transforms.engagement_health import (
    UNIQUE_USERS_RSD,
    aggregate_engagement,
    deduplicate_events,
    enrich_events,
)

LATE = "late_in_speed_layer"
# Counts are exact in both layers, so they must agree exactly.
COUNT_COLUMNS = (
    "total_sessions",
    "low_engagement_count",
    "abandonment_count",
    "quality_downgrade_count",
    "completion_count",
)
# HyperLogLog's estimate may be off by a few standard deviations (at least one user).
UNIQUE_USERS_DEVIATIONS = 3
SHOWN_PER_WINDOW = 3


def engagement_health_batch(archived: DataFrame, users: DataFrame, movies: DataFrame) -> DataFrame:
    """The batch view: every archived event of the days read, de-duplicated, enriched and windowed
    like the speed layer's, with exact distinct users."""
    return aggregate_engagement(enrich_events(deduplicate_events(archived), users, movies), exact_distinct_users=True)


def late_thresholds(stream_batches: DataFrame) -> DataFrame:
    """(query_id, batch_id, late_at_or_before): an event that micro-batch read was dropped by the
    speed layer as late when its event time is at or before ``late_at_or_before`` (NULL: none was).

    Spark 3.5 (with more than one stateful operator, here de-duplication then windows) filters a
    batch's late rows with the watermark of the batch *before* it, and a batch's watermark is the
    highest event time of the batches before it, in milliseconds, minus the delay. So batch N drops
    the events at or before (the newest event time of batches 0..N-2) - 10 minutes. The highest
    event time of each batch is ``stream_batches.max_event_time``, so this needs no checkpoint.
    """
    up_to_two_before = Window.partitionBy("query_id").orderBy("batch_id").rangeBetween(Window.unboundedPreceding, -2)
    newest = F.date_trunc("millisecond", F.max("max_event_time").over(up_to_two_before))
    return stream_batches.select(
        "query_id", "batch_id", (newest - F.expr(f"INTERVAL {WATERMARK_DELAY}")).alias("late_at_or_before")
    )


def with_lateness(archived: DataFrame, thresholds: DataFrame) -> DataFrame:
    """Archived events with ``late_in_speed_layer``: dropped by the speed layer as later than its watermark."""
    joined = archived.join(F.broadcast(thresholds), ["query_id", "batch_id"], "left")
    late = F.coalesce(F.col("event_time") <= F.col("late_at_or_before"), F.lit(False))
    return joined.withColumn(LATE, late).drop("late_at_or_before")


def reconciliation_views(
    archived: DataFrame, stream_batches: DataFrame, users: DataFrame, movies: DataFrame
) -> tuple[DataFrame, DataFrame]:
    """(the batch view of the archived events, the part of it the speed layer counted), both exact.

    A session's copies share its user's Kafka partition and reach the speed layer in offset order,
    and a later batch's threshold is never lower, so the first copy (the one the de-duplication
    keeps) is late exactly when every copy is: filtering after de-duplicating leaves what the speed
    layer counted.
    """
    events = enrich_events(deduplicate_events(with_lateness(archived, late_thresholds(stream_batches))), users, movies)
    everything = aggregate_engagement(events, exact_distinct_users=True)
    counted = aggregate_engagement(events.filter(~F.col(LATE)), exact_distinct_users=True)
    return everything, counted


# --- the reconciliation (pandas: a few rows per window) --------------------------------------------


@dataclass(frozen=True)
class Reconciliation:
    """The batch view against the speed layer, window by window."""

    windows: int
    late_events: int
    late_events_by_window: dict[str, int]
    differences: dict[str, list[str]]  # window start -> what differs there
    max_unique_users_error: float  # the speed layer's largest relative error against the exact count

    @property
    def passed(self) -> bool:
        return not self.differences


def _keyed(rows: pd.DataFrame, prefix: str) -> pd.DataFrame:
    frame = rows[[*ENGAGEMENT_HEALTH_GRAIN, *COUNT_COLUMNS, "unique_users"]].copy()
    frame["window_start"] = pd.to_datetime(frame["window_start"]).astype("datetime64[us]")
    return frame.rename(columns={c: f"{prefix}{c}" for c in (*COUNT_COLUMNS, "unique_users")})


def _segment(row: Mapping[str, object]) -> str:
    return "/".join(str(row[name]) for name in ENGAGEMENT_HEALTH_GRAIN[1:])


def reconcile(
    batch_rows: pd.DataFrame, speed_rows: pd.DataFrame, recomputed: pd.DataFrame, counted: pd.DataFrame
) -> Reconciliation:
    """Compares, per grain row of the days checked:

    * the batch view as stored with ``recomputed`` from the archive (counts and users exactly),
    * the speed layer with ``counted``, the archived events it did not drop as late: counts
      exactly, unique users within HyperLogLog's error.

    The late events are ``recomputed`` minus ``counted`` sessions: in the batch view, not in the speed layer.
    """
    grain = list(ENGAGEMENT_HEALTH_GRAIN)
    merged = _keyed(batch_rows, "batch_")
    for frame, prefix in ((speed_rows, "speed_"), (recomputed, "archive_"), (counted, "counted_")):
        merged = merged.merge(_keyed(frame, prefix), on=grain, how="outer")
    numbers = [column for column in merged.columns if column not in grain]
    merged[numbers] = merged[numbers].fillna(0).astype("int64")

    differences: dict[str, list[str]] = {}
    for row in merged.itertuples(index=False):
        values = row._asdict()
        found = []
        for column in (*COUNT_COLUMNS, "unique_users"):
            if values[f"batch_{column}"] != values[f"archive_{column}"]:
                found.append(f"batch view {column} {values[f'batch_{column}']}, archive {values[f'archive_{column}']}")
        for column in COUNT_COLUMNS:
            if values[f"speed_{column}"] != values[f"counted_{column}"]:
                found.append(
                    f"speed layer {column} {values[f'speed_{column}']}, "
                    f"archived events it counted {values[f'counted_{column}']}"
                )
        exact, estimate = values["counted_unique_users"], values["speed_unique_users"]
        if abs(estimate - exact) > max(1, math.ceil(UNIQUE_USERS_DEVIATIONS * UNIQUE_USERS_RSD * exact)):
            found.append(f"speed layer unique_users {estimate}, exact {exact}")
        if found:
            window = pd.Timestamp(values["window_start"]).isoformat(sep=" ")
            shown = differences.setdefault(window, [])
            if len(shown) < SHOWN_PER_WINDOW:
                shown.append(f"{_segment(values)}: {'; '.join(found)}")

    late = merged.assign(late=merged["archive_total_sessions"] - merged["counted_total_sessions"])
    late_by_window = late[late["late"] != 0].groupby("window_start")["late"].sum()
    both = merged[merged["counted_unique_users"] > 0]
    errors = (both["speed_unique_users"] - both["counted_unique_users"]).abs() / both["counted_unique_users"]
    return Reconciliation(
        windows=int(merged["window_start"].nunique()),
        late_events=int(late["late"].sum()),
        late_events_by_window={pd.Timestamp(w).isoformat(sep=" "): int(n) for w, n in late_by_window.items()},
        differences=dict(sorted(differences.items())),
        max_unique_users_error=float(errors.max()) if len(errors) else 0.0,
    )
