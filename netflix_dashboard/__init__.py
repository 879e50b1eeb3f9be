"""The serving layer's two dashboards: Real-Time Engagement (/realtime) and Historical Trends (/history).

Self-contained: no Dagster, no Spark, of the project only the contract's names. All data comes through an
injected `WarehouseReader` (``query(sql) -> DataFrame`` and ``table_exists(dataset.table) -> bool``).
"""

from netflix_dashboard.app import create_app, serve
from netflix_dashboard.reader import CallableReader, WarehouseReader

__all__ = ["CallableReader", "WarehouseReader", "create_app", "serve"]
