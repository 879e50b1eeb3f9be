"""Dagster resources, chosen once per environment (``NETFLIX_ENV``) by ``resources_for``.

Each resource is a ``ConfigurableResource`` usable outside Dagster too (the CLI, the standalone
streaming job, tests): build it with ``from_settings`` and call its methods.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql.types import StructType

from netflix_assets.schemas import WATCH_EVENTS_PARTITIONS, WATCH_EVENTS_TOPIC
from netflix_assets.settings import Settings, load_settings
from netflix_assets.spark import get_spark_session
from netflix_assets.warehouse_sql import create_table_sql

WAREHOUSE_DATASETS = ("netflix_processed", "netflix_streaming")


class SparkResource(dg.ConfigurableResource):
    """One SparkSession per process: every asset of a run shares it (the job runs in-process)."""

    settings_env: dict[str, str]
    app_name: str = "netflix-lambda"

    @classmethod
    def from_settings(cls, settings: Settings, app_name: str = "netflix-lambda") -> SparkResource:
        return cls(settings_env=settings.to_environ(), app_name=app_name)

    @property
    def settings(self) -> Settings:
        return load_settings(self.settings_env)

    def get_session(self, extra_conf: dict[str, str] | None = None) -> SparkSession:
        return get_spark_session(self.settings, self.app_name, extra_conf)


class LakeResource(dg.ConfigurableResource):
    """Where raw inputs are read and the Parquet lake (cleaned tables, star schema) is written."""

    raw_uri: str
    lake_uri: str
    checkpoint_uri: str

    @classmethod
    def from_settings(cls, settings: Settings) -> LakeResource:
        return cls(raw_uri=settings.raw_uri, lake_uri=settings.lake_uri, checkpoint_uri=settings.checkpoint_uri)

    def raw_path(self, table: str) -> str:
        return f"{self.raw_uri.rstrip('/')}/{table}.csv"

    def table_path(self, table: str) -> str:
        return f"{self.lake_uri.rstrip('/')}/{table}"

    def checkpoint_path(self, query_name: str) -> str:
        return f"{self.checkpoint_uri.rstrip('/')}/{query_name}"


class DuckDBWarehouse(dg.ConfigurableResource):
    """The embedded warehouse: one DuckDB file, datasets as schemas.

    DuckDB lets one process write a file at a time, so every user (batch run, streaming sink,
    dashboards, CLI) holds a connection only for one unit of work and waits for the lock.
    """

    path: str
    lock_timeout_seconds: float = 120.0

    @classmethod
    def from_settings(cls, settings: Settings) -> DuckDBWarehouse:
        return cls(path=settings.duckdb_path)

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
                if "lock" not in str(error).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        try:
            if not read_only:
                for dataset in WAREHOUSE_DATASETS:
                    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {dataset}")
            yield connection
        finally:
            connection.close()

    def replace_rows(
        self,
        dataset: str,
        table: str,
        rows: pd.DataFrame,
        schema: StructType,
        month_column: str | None = None,
        months: tuple[date, date] | None = None,
    ) -> int:
        """Writes ``rows`` in one transaction, replacing the months ``[start, end)`` or the whole table."""
        qualified = f"{dataset}.{table}"
        with self.connect() as connection:
            connection.execute("BEGIN TRANSACTION")
            connection.execute(create_table_sql(qualified, schema))
            if months is None:
                connection.execute(f"DELETE FROM {qualified}")
            else:
                connection.execute(
                    f"DELETE FROM {qualified} WHERE {month_column} >= ? AND {month_column} < ?", list(months)
                )
            connection.register("incoming_rows", rows)
            columns = ", ".join(field.name for field in schema)
            connection.execute(f"INSERT INTO {qualified} ({columns}) SELECT {columns} FROM incoming_rows")
            connection.execute("COMMIT")
        return len(rows)

    def query(self, sql: str) -> pd.DataFrame:
        with self.connect(read_only=Path(self.path).exists()) as connection:
            return connection.execute(sql).df()


class KafkaResource(dg.ConfigurableResource):
    bootstrap_servers: str
    topic: str = WATCH_EVENTS_TOPIC
    partitions: int = WATCH_EVENTS_PARTITIONS

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaResource:
        return cls(bootstrap_servers=settings.kafka_bootstrap_servers)


def resources_for(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The resources of ``settings.env``; the only place that chooses between environments."""
    if settings.is_prod:
        raise NotImplementedError("the prod environment (GCS + BigQuery) is not wired yet")
    return {
        "spark": SparkResource.from_settings(settings),
        "lake": LakeResource.from_settings(settings),
        "warehouse": DuckDBWarehouse.from_settings(settings),
        "kafka": KafkaResource.from_settings(settings),
    }
