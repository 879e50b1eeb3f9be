"""The embedded warehouse: one DuckDB file, the contract's datasets as schemas.

DuckDB lets one process hold a file open for writing at a time, and no other process may open it
meanwhile, so every user (batch run, streaming sink, dashboards, the command line) holds a
connection only for one short unit of work and waits, with a deadline, for the lock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from netflix_core import contract
from netflix_core.contract import WarehouseTable
from netflix_core.warehouse.base import (
    BATCH_REPORT_COLUMNS,
    BatchReport,
    MicroBatch,
    WarehouseError,
    report_from_row,
    report_row,
    serving_view_sql,
)

DUCKDB_TYPES = {
    contract.STRING: "VARCHAR",
    contract.DOUBLE: "DOUBLE",
    contract.INTEGER: "INTEGER",
    contract.BIGINT: "BIGINT",
    contract.BOOLEAN: "BOOLEAN",
    contract.DATE: "DATE",
    contract.TIMESTAMP: "TIMESTAMP",
}


def quoted(name: str) -> str:
    # Some contract columns ("partition", "offset") are SQL keywords.
    return f'"{name}"'


def column_list(table: WarehouseTable) -> str:
    return ", ".join(quoted(name) for name in table.column_names)


def create_table_sql(table: WarehouseTable) -> str:
    columns = [f"{quoted(c.name)} {DUCKDB_TYPES[c.type]}{'' if c.nullable else ' NOT NULL'}" for c in table.columns]
    if table.upsert_key:
        columns.append(f"PRIMARY KEY ({', '.join(quoted(name) for name in table.upsert_key)})")
    return f"CREATE TABLE IF NOT EXISTS {table.qualified_name} ({', '.join(columns)})"


@dataclass(frozen=True)
class DuckDBWarehouse:
    path: str
    lock_timeout_seconds: float = 120.0

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if not read_only:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout_seconds
        delay = 0.05
        while True:
            try:
                connection = duckdb.connect(self.path, read_only=read_only)
                break
            except duckdb.IOException as error:
                if "lock" not in str(error).lower():  # not a DuckDB file, a folder, no permission
                    raise WarehouseError(f"cannot open the warehouse {self.path}: {error}") from error
                if time.monotonic() > deadline:
                    raise WarehouseError(
                        f"{self.path} stayed locked by another process for {self.lock_timeout_seconds:.0f} s"
                    ) from error
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        try:
            if not read_only:
                for dataset in contract.WAREHOUSE_DATASETS:
                    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {dataset}")
            yield connection
        finally:
            connection.close()

    # --- batch layer ---------------------------------------------------------------------------

    def replace_rows(self, table: WarehouseTable, rows: pd.DataFrame, months: tuple[date, date] | None = None) -> int:
        if months is None:
            return self._replace(table, rows, "TRUE", [])
        return self._replace(table, rows, f"{table.month_column} >= ? AND {table.month_column} < ?", list(months))

    def replace_days(self, table: WarehouseTable, rows: pd.DataFrame, days: tuple[date, date]) -> int:
        start, end = (datetime.combine(day, datetime.min.time()) for day in days)
        return self._replace(table, rows, f"{table.day_column} >= ? AND {table.day_column} < ?", [start, end])

    def _replace(self, table: WarehouseTable, rows: pd.DataFrame, where: str, parameters: list[object]) -> int:
        """Deletes the rows ``where`` holds and inserts ``rows``, in one transaction."""
        with self.connect() as connection:
            connection.execute("BEGIN TRANSACTION")
            connection.execute(create_table_sql(table))
            connection.execute(f"DELETE FROM {table.qualified_name} WHERE {where}", parameters)
            connection.register("incoming_rows", rows)
            columns = column_list(table)
            connection.execute(f"INSERT INTO {table.qualified_name} ({columns}) SELECT {columns} FROM incoming_rows")
            connection.execute("COMMIT")
        return len(rows)

    # --- serving layer -------------------------------------------------------------------------

    def create_serving_view(self) -> None:
        with self.connect() as connection:
            connection.execute("BEGIN TRANSACTION")
            for table in (contract.ENGAGEMENT_HEALTH_REALTIME, contract.ENGAGEMENT_HEALTH_BATCH):
                connection.execute(create_table_sql(table))
            connection.execute(f"CREATE OR REPLACE VIEW {contract.ENGAGEMENT_HEALTH_SERVING} AS {serving_view_sql()}")
            connection.execute("COMMIT")

    # --- readers -------------------------------------------------------------------------------

    def query(self, sql: str) -> pd.DataFrame:
        with self.connect(read_only=Path(self.path).exists()) as connection:
            try:
                return connection.execute(sql).df()
            except duckdb.Error as error:
                raise WarehouseError(str(error).splitlines()[0]) from error

    def table_exists(self, table: str) -> bool:
        if not Path(self.path).exists():
            return False
        dataset, name = table.split(".")
        with self.connect(read_only=True) as connection:
            return self._has_table(connection, dataset, name)

    @staticmethod
    def _has_table(connection: duckdb.DuckDBPyConnection, dataset: str, name: str) -> bool:
        found = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [dataset, name],
        ).fetchall()
        return bool(found[0][0])

    # --- speed layer ---------------------------------------------------------------------------

    def create_streaming_tables(self) -> None:
        with self.connect() as connection:
            for table in contract.STREAMING_TABLES:
                connection.execute(create_table_sql(table))

    def commit_micro_batch(self, batch: MicroBatch, committed_at: datetime) -> BatchReport | None:
        report = BatchReport.of(batch, committed_at)
        # A failure anywhere before COMMIT leaves nothing: closing the connection rolls back.
        with self.connect() as connection:
            connection.execute("BEGIN TRANSACTION")
            if self._is_committed(connection, batch.query_id, batch.batch_id):
                connection.execute("ROLLBACK")
                return None
            self._write_micro_batch(connection, batch, report)
            connection.execute("COMMIT")
        return report

    def latest_batch(self) -> BatchReport | None:
        batches = contract.STREAM_BATCHES
        if not self.table_exists(batches.qualified_name):
            return None
        with self.connect(read_only=True) as connection:
            rows = connection.execute(
                f"SELECT {', '.join(BATCH_REPORT_COLUMNS)} FROM {batches.qualified_name} "
                "ORDER BY committed_at DESC, batch_id DESC LIMIT 1"
            ).fetchall()
        return report_from_row(dict(zip(BATCH_REPORT_COLUMNS, rows[0]))) if rows else None

    @staticmethod
    def _is_committed(connection: duckdb.DuckDBPyConnection, query_id: str, batch_id: int) -> bool:
        rows = connection.execute(
            f"SELECT count(*) FROM {contract.STREAM_BATCHES.qualified_name} WHERE query_id = ? AND batch_id = ?",
            [query_id, batch_id],
        ).fetchall()
        return rows[0][0] > 0

    @staticmethod
    def _write_micro_batch(connection: duckdb.DuckDBPyConnection, batch: MicroBatch, report: BatchReport) -> None:
        realtime, quarantine, batches = contract.STREAMING_TABLES
        connection.register("batch_aggregates", batch.aggregates[list(realtime.column_names)])
        # Update mode hands over each touched group's complete running aggregate: replace by grain.
        connection.execute(
            f"INSERT OR REPLACE INTO {realtime.qualified_name} ({column_list(realtime)}) "
            f"SELECT {column_list(realtime)} FROM batch_aggregates"
        )
        connection.unregister("batch_aggregates")
        quarantined = batch.inputs.quarantined.assign(batch_id=batch.batch_id, query_id=batch.query_id)
        connection.register("batch_quarantined", quarantined[list(quarantine.column_names)])
        # A rebuilt checkpoint re-reads the same messages: the Kafka coordinates identify each one.
        connection.execute(
            f"INSERT OR REPLACE INTO {quarantine.qualified_name} ({column_list(quarantine)}) "
            f"SELECT {column_list(quarantine)} FROM batch_quarantined"
        )
        connection.unregister("batch_quarantined")
        row = report_row(report)
        placeholders = ", ".join("?" for _ in batches.column_names)
        connection.execute(
            f"INSERT INTO {batches.qualified_name} ({column_list(batches)}) VALUES ({placeholders})",
            [row[name] for name in batches.column_names],
        )
