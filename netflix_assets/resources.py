"""Dagster resources, chosen once per environment (``NETFLIX_ENV``) by ``resources_for``.

Each resource is configuration plus a way to reach the core object that does the work, so the
asset code is the same in every environment and outside Dagster the core objects are used as
they are (the command line, the standalone streaming job, tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import ClassVar

import dagster as dg
from dagster_gcp import BigQueryResource
from dagster_pyspark import LazyPySparkResource
from google.cloud import bigquery
from pyspark.sql import SparkSession

from netflix_core.contract import WATCH_EVENTS_PARTITIONS, WATCH_EVENTS_TOPIC
from netflix_core.gcp import bigquery_client_for
from netflix_core.kafka import KafkaTopic
from netflix_core.lake import LakePaths
from netflix_core.settings import Settings
from netflix_core.spark import spark_conf, start_session
from netflix_core.warehouse import Warehouse
from netflix_core.warehouse.bigquery_warehouse import BigQueryWarehouse
from netflix_core.warehouse.duckdb_warehouse import DuckDBWarehouse


class SparkResource(LazyPySparkResource):
    """dagster-pyspark's lazy session (a job that touches no DataFrame starts no JVM), built by the
    project's one session builder; every step of a run shares it (the job runs in-process)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> SparkResource:
        return cls(spark_config=spark_conf(settings))

    def _init_session(self) -> None:
        if self._spark_session is None:
            self._spark_session = start_session(self.spark_config)

    def get_session(self) -> SparkSession:
        return self.spark_session


class LakeResource(dg.ConfigurableResource):
    """Where raw inputs are read, the Parquet lake is written and streaming checkpoints are kept."""

    raw_uri: str
    lake_uri: str
    checkpoint_uri: str

    @classmethod
    def from_settings(cls, settings: Settings) -> LakeResource:
        return cls(**asdict(LakePaths.from_settings(settings)))

    @property
    def paths(self) -> LakePaths:
        return LakePaths(self.raw_uri, self.lake_uri, self.checkpoint_uri)


class WarehouseResource(dg.ConfigurableResource):
    """What the assets ask for: the environment's ``Warehouse``; ``kind`` names it in the asset graph."""

    kind: ClassVar[str]

    def get_warehouse(self) -> Warehouse:
        raise NotImplementedError


class DuckDBWarehouseResource(WarehouseResource):
    """The embedded warehouse file.

    Not dagster-duckdb's DuckDBResource: it opens every connection read-write and retries a held
    lock without a deadline, where readers here must open read-only (so they can run beside one
    another) and every wait for the writer's lock is bounded.
    """

    kind: ClassVar[str] = "duckdb"

    path: str
    lock_timeout_seconds: float = 120.0

    @classmethod
    def from_settings(cls, settings: Settings) -> DuckDBWarehouseResource:
        return cls(path=settings.duckdb_path)

    def get_warehouse(self) -> DuckDBWarehouse:
        return DuckDBWarehouse(self.path, self.lock_timeout_seconds)


class BigQueryWarehouseResource(BigQueryResource, WarehouseResource):
    """dagster-gcp's BigQuery resource (Application Default Credentials, or its ``gcp_credentials``
    from an ``EnvVar``), which also answers ``BIGQUERY_EMULATOR_HOST`` with anonymous credentials."""

    kind: ClassVar[str] = "bigquery"

    emulator_host: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> BigQueryWarehouseResource:
        return cls(
            project=settings.gcp_project,
            location=settings.bigquery_location,
            emulator_host=settings.bigquery_emulator_host,
        )

    @contextmanager
    def get_client(self) -> Iterator[bigquery.Client]:
        if not self.emulator_host:
            with super().get_client() as client:
                yield client
            return
        yield bigquery_client_for(self.project, self.location, self.emulator_host)

    def get_warehouse(self) -> BigQueryWarehouse:
        # The client holds its credentials once built: it outlives get_client's block.
        with self.get_client() as client:
            return BigQueryWarehouse(client)


class KafkaResource(dg.ConfigurableResource):
    bootstrap_servers: str
    topic: str = WATCH_EVENTS_TOPIC
    partitions: int = WATCH_EVENTS_PARTITIONS

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaResource:
        return cls(bootstrap_servers=settings.kafka_bootstrap_servers)

    @property
    def watch_events(self) -> KafkaTopic:
        return KafkaTopic(self.bootstrap_servers, self.topic)


def resources_for(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The resources of ``settings.env``; the only place that chooses between environments.

    Spark reaches the lake on GCS through its connector, configured by the same settings.
    """
    warehouse = (BigQueryWarehouseResource if settings.is_prod else DuckDBWarehouseResource).from_settings(settings)
    return {
        "spark": SparkResource.from_settings(settings),
        "lake": LakeResource.from_settings(settings),
        "warehouse": warehouse,
        "kafka": KafkaResource.from_settings(settings),
    }
