"""How the dashboards reach the warehouse: two injected callables, nothing else.

The package never opens a warehouse itself, so the same pages serve DuckDB locally and BigQuery
in prod; whoever calls `create_app` decides where `query` goes (the command line passes the
core's warehouse, which has both methods).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import pandas as pd


@runtime_checkable
class WarehouseReader(Protocol):
    def query(self, sql: str) -> pd.DataFrame:
        """Runs one SELECT in the warehouse's SQL (names as ``dataset.table``)."""
        ...

    def table_exists(self, qualified_name: str) -> bool:
        """Whether ``dataset.table`` (a table or a view) exists."""
        ...


@dataclass(frozen=True)
class CallableReader:
    """A `WarehouseReader` from two plain functions, for callers that have no reader object."""

    query: Callable[[str], pd.DataFrame]
    table_exists: Callable[[str], bool]
