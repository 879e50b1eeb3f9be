"""The warehouse behind one interface (``Warehouse``): DuckDB embedded, BigQuery in prod."""

from netflix_core.warehouse.base import (
    BatchReport,
    MicroBatch,
    OffsetRangeSummary,
    Offsets,
    Warehouse,
    WarehouseError,
    offsets_json,
    utc_now,
)

__all__ = [
    "BatchReport",
    "MicroBatch",
    "OffsetRangeSummary",
    "Offsets",
    "Warehouse",
    "WarehouseError",
    "offsets_json",
    "utc_now",
]
