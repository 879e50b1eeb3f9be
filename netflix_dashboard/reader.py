"""How the dashboards reach the warehouse: two injected callables, nothing else.

The package never opens a warehouse itself, so the same pages serve DuckDB locally and BigQuery
in prod; whoever calls `create_app` decides where `query` goes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
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


@dataclass(frozen=True)
class DuckDBFileReader:
    """Reads a DuckDB file with one short read-only connection per call.

    DuckDB lets one process write a file at a time and refuses to open it meanwhile, so a reader
    never keeps a connection: it waits (bounded) for the writer's lock and lets go at once.
    """

    path: str | Path
    lock_timeout_seconds: float = 10.0

    def query(self, sql: str) -> pd.DataFrame:
        connection = self._connect()
        try:
            return connection.execute(sql).df()
        finally:
            connection.close()

    def table_exists(self, qualified_name: str) -> bool:
        if not Path(self.path).exists():
            return False
        dataset, _, name = qualified_name.partition(".")
        connection = self._connect()
        try:
            (count,) = connection.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                [dataset, name],
            ).fetchone()
        finally:
            connection.close()
        return count > 0

    def _connect(self):
        # Imported here: the package's pages must not need DuckDB when a BigQuery reader is injected.
        import duckdb

        deadline = time.monotonic() + self.lock_timeout_seconds
        delay = 0.05
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=True)
            except duckdb.IOException as error:
                if "lock" not in str(error).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
