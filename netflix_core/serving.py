"""What the serving layer reads from the warehouse (contract section 7b), in SQL every warehouse shares.

Where the speed layer's watermark stands, which days it has closed, which the batch view has
recomputed, and where the serving view's windows come from: used by the recompute asset and its
check, ``netflix-lambda recompute`` and ``netflix-lambda demo``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd

from netflix_core import contract
from netflix_core.contract import ENGAGEMENT_HEALTH_BATCH, ENGAGEMENT_HEALTH_REALTIME, STREAM_BATCHES, WarehouseTable
from netflix_core.warehouse import Warehouse

WATERMARK_DELAY_TIMEDELTA = timedelta(minutes=contract.WATERMARK_DELAY_MINUTES)
# Both engagement tables are windowed on window_start, the batch view's day column.
DAY_OF_WINDOW = f"CAST({ENGAGEMENT_HEALTH_BATCH.day_column} AS DATE)"


def speed_layer_watermark(warehouse: Warehouse) -> datetime | None:
    """Where the speed layer's event-time watermark stands: its newest event time minus the delay."""
    if not warehouse.table_exists(STREAM_BATCHES.qualified_name):
        return None
    newest = warehouse.query(f"SELECT MAX(max_event_time) AS newest FROM {STREAM_BATCHES.qualified_name}")
    value = newest["newest"].iloc[0]
    return None if pd.isna(value) else pd.Timestamp(value).to_pydatetime() - WATERMARK_DELAY_TIMEDELTA


def is_closed(day: date, watermark: datetime | None) -> bool:
    """Whether the speed layer's watermark has passed the day's end: its windows can no longer change."""
    return watermark is not None and datetime.combine(day + timedelta(days=1), datetime.min.time()) <= watermark


def window_days(warehouse: Warehouse, table: WarehouseTable) -> list[date]:
    """The days the table has windows of, oldest first."""
    if not warehouse.table_exists(table.qualified_name):
        return []
    days = warehouse.query(f"SELECT DISTINCT {DAY_OF_WINDOW} AS day FROM {table.qualified_name}")
    return sorted(pd.to_datetime(days["day"]).dt.date)


def recomputed_days(warehouse: Warehouse) -> list[date]:
    """The days the batch view holds rows of: those the serving view shows from the batch layer."""
    return window_days(warehouse, ENGAGEMENT_HEALTH_BATCH)


def closed_days_not_recomputed(warehouse: Warehouse) -> list[date]:
    """The speed layer's closed days the batch view has not recomputed yet."""
    watermark, recomputed = speed_layer_watermark(warehouse), set(recomputed_days(warehouse))
    return [
        day
        for day in window_days(warehouse, ENGAGEMENT_HEALTH_REALTIME)
        if is_closed(day, watermark) and day not in recomputed
    ]


def rows_of_days(warehouse: Warehouse, table: WarehouseTable, days: list[date]) -> pd.DataFrame:
    """The table's rows whose window falls on one of ``days``; none when the table does not exist."""
    if not days or not warehouse.table_exists(table.qualified_name):
        return pd.DataFrame(columns=list(table.column_names))
    listed = ", ".join(f"DATE '{day.isoformat()}'" for day in days)
    return warehouse.query(f"SELECT * FROM {table.qualified_name} WHERE {DAY_OF_WINDOW} IN ({listed})")


def batch_watermarks(warehouse: Warehouse) -> list[tuple[str, int, int | None]]:
    """(query_id, batch_id, newest event time in epoch microseconds) of every committed micro-batch."""
    if not warehouse.table_exists(STREAM_BATCHES.qualified_name):
        return []
    committed = warehouse.query(f"SELECT query_id, batch_id, max_event_time FROM {STREAM_BATCHES.qualified_name}")
    return [
        (query_id, int(batch_id), None if pd.isna(newest) else pd.Timestamp(newest).value // 1000)
        for query_id, batch_id, newest in committed.itertuples(index=False)
    ]


def windows_by_source(warehouse: Warehouse) -> dict[str, int]:
    """How many windows the serving view shows from each layer ({} before it exists)."""
    view = contract.ENGAGEMENT_HEALTH_SERVING
    if not warehouse.table_exists(view):
        return {}
    counts = warehouse.query(f"SELECT source, COUNT(DISTINCT window_start) AS windows FROM {view} GROUP BY source")
    return {source: int(windows) for source, windows in zip(counts["source"], counts["windows"])}
