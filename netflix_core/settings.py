"""The one place that reads the environment (SPEC section 2).

Everything else receives a ``Settings`` (or a resource built from it), so a test or a
subprocess can run with an explicit configuration instead of ambient variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

PROD_BUCKET = "gs://data_netflix_2025"
ENVIRONMENTS = ("local", "prod")
# The Google clients' own variables: set, they point GCS (Python and Spark alike) and BigQuery at
# local emulators, reached with anonymous credentials.
STORAGE_EMULATOR_HOST = "STORAGE_EMULATOR_HOST"
BIGQUERY_EMULATOR_HOST = "BIGQUERY_EMULATOR_HOST"


@dataclass(frozen=True)
class Settings:
    env: str = "local"
    raw_uri: str = "data/raw"
    lake_uri: str = "data/lake"
    duckdb_path: str = "data/warehouse.duckdb"
    gcp_project: str | None = None
    spark_master: str = "local[*]"
    kafka_bootstrap_servers: str = "localhost:9092"
    checkpoint_uri: str = "data/checkpoints"
    # Where `netflix-lambda kafka start` keeps the local broker's logs and metadata.
    kafka_data_dir: str = "data/kafka"
    # Folder of Maven-resolved jars written by the setup step (Kafka connector, broker, GCS connector).
    jars_dir: str = ".jars"
    spark_driver_memory: str = "2g"
    # The Dagster instance that `netflix-lambda batch` runs land in and `make dagster` shows.
    dagster_home: str = ".dagster_home"
    # Where `netflix-lambda produce` reads events by default (None: the raw folder); prod: the
    # bucket's streaming/ prefix.
    events_uri: str | None = None
    # Where BigQuery keeps the datasets the warehouse creates (None: BigQuery's default, US).
    bigquery_location: str | None = None
    storage_emulator_host: str | None = None
    bigquery_emulator_host: str | None = None

    @property
    def is_prod(self) -> bool:
        return self.env == "prod"

    @property
    def warehouse_description(self) -> str:
        """Where the warehouse of this environment is, in a few words for the command line."""
        if not self.is_prod:
            return self.duckdb_path
        emulated = f" (emulator at {self.bigquery_emulator_host})" if self.bigquery_emulator_host else ""
        return f"BigQuery project {self.gcp_project or '(from Application Default Credentials)'}{emulated}"

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)

    def to_environ(self) -> dict[str, str]:
        """The variables that make a child process (streaming job, broker) see these settings."""
        environ = {
            "NETFLIX_ENV": self.env,
            "NETFLIX_RAW_URI": self.raw_uri,
            "NETFLIX_LAKE_URI": self.lake_uri,
            "NETFLIX_DUCKDB_PATH": self.duckdb_path,
            "SPARK_MASTER": self.spark_master,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "NETFLIX_CHECKPOINT_URI": self.checkpoint_uri,
            "NETFLIX_KAFKA_DATA_DIR": self.kafka_data_dir,
            "NETFLIX_JARS_DIR": self.jars_dir,
            "NETFLIX_SPARK_DRIVER_MEMORY": self.spark_driver_memory,
        }
        optional = {
            "GCP_PROJECT": self.gcp_project,
            "NETFLIX_EVENTS_URI": self.events_uri,
            "NETFLIX_BIGQUERY_LOCATION": self.bigquery_location,
            STORAGE_EMULATOR_HOST: self.storage_emulator_host,
            BIGQUERY_EMULATOR_HOST: self.bigquery_emulator_host,
        }
        environ.update({name: value for name, value in optional.items() if value})
        environ["DAGSTER_HOME"] = self.dagster_home
        return environ


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings for ``NETFLIX_ENV`` (``local`` by default), each value overridable by its variable."""
    environ = os.environ if environ is None else environ
    env = environ.get("NETFLIX_ENV", "local").strip().lower() or "local"
    if env not in ENVIRONMENTS:
        raise ValueError(f"NETFLIX_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}")
    defaults = (
        Settings(
            env="prod",
            raw_uri=f"{PROD_BUCKET}/raw",
            lake_uri=f"{PROD_BUCKET}/lake",
            checkpoint_uri=f"{PROD_BUCKET}/checkpoints",
            events_uri=f"{PROD_BUCKET}/streaming",
        )
        if env == "prod"
        else Settings()
    )
    jars_default = Path(__file__).resolve().parent.parent / ".jars"
    return Settings(
        env=env,
        raw_uri=environ.get("NETFLIX_RAW_URI", defaults.raw_uri),
        lake_uri=environ.get("NETFLIX_LAKE_URI", defaults.lake_uri),
        duckdb_path=environ.get("NETFLIX_DUCKDB_PATH", defaults.duckdb_path),
        gcp_project=environ.get("GCP_PROJECT") or None,
        spark_master=environ.get("SPARK_MASTER", defaults.spark_master),
        kafka_bootstrap_servers=environ.get("KAFKA_BOOTSTRAP_SERVERS", defaults.kafka_bootstrap_servers),
        checkpoint_uri=environ.get("NETFLIX_CHECKPOINT_URI", defaults.checkpoint_uri),
        kafka_data_dir=environ.get("NETFLIX_KAFKA_DATA_DIR", defaults.kafka_data_dir),
        jars_dir=environ.get("NETFLIX_JARS_DIR", str(jars_default)),
        spark_driver_memory=environ.get("NETFLIX_SPARK_DRIVER_MEMORY", defaults.spark_driver_memory),
        dagster_home=str(Path(environ.get("DAGSTER_HOME") or defaults.dagster_home).resolve()),
        events_uri=environ.get("NETFLIX_EVENTS_URI") or defaults.events_uri,
        bigquery_location=environ.get("NETFLIX_BIGQUERY_LOCATION") or None,
        storage_emulator_host=environ.get(STORAGE_EMULATOR_HOST) or None,
        bigquery_emulator_host=environ.get(BIGQUERY_EMULATOR_HOST) or None,
    )
