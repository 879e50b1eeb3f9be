"""The serving layer's two dashboards: Real-Time Engagement (/realtime) and Historical Trends (/history).

Self-contained: no other package of the project, no Dagster, no Spark. All data comes through an
injected `WarehouseReader` (``query(sql) -> DataFrame`` and ``table_exists(dataset.table) -> bool``).
"""

from netflix_dashboard.app import create_app, serve
from netflix_dashboard.reader import CallableReader, DuckDBFileReader, WarehouseReader

__all__ = ["CallableReader", "DuckDBFileReader", "WarehouseReader", "create_app", "serve"]
