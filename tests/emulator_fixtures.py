"""Pytest plugin: the prod environment against local emulators (fake-gcs-server, bqemulator).

One pair of emulator processes serves the whole session, on free loopback ports, stopped at
the end. Tests keep apart by project and bucket: ``prod_settings`` gives each caller a fresh
BigQuery project (the emulator keeps projects apart) and a fresh bucket, and the ``Settings`` of
``NETFLIX_ENV=prod`` pointing at them. Enabled by ``pytest_plugins`` in tests/conftest.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from netflix_core.gcp import storage_client
from netflix_core.settings import Settings, load_settings
from netflix_devtools.emulators import bigquery_emulator, fake_gcs_server

_numbers = itertools.count(1)


@dataclass(frozen=True)
class GcpEmulators:
    gcs_url: str
    bigquery_url: str


@pytest.fixture(scope="session")
def gcp_emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcpEmulators]:
    """GCS in memory (it keeps the connector's directory objects, as GCS does) and BigQuery."""
    logs = tmp_path_factory.mktemp("emulator_logs")
    with (
        fake_gcs_server(log_path=logs / "fake-gcs-server.log") as gcs_url,
        bigquery_emulator("netflix-test", log_path=logs / "bqemulator.log") as bigquery_url,
    ):
        yield GcpEmulators(gcs_url, bigquery_url)


def emulated_prod_settings(emulators: GcpEmulators, project: str, bucket: str, home: Path) -> Settings:
    """NETFLIX_ENV=prod with everything on the emulators: raw files, lake, checkpoints, events, warehouse."""
    return Settings(
        env="prod",
        raw_uri=f"gs://{bucket}/raw",
        lake_uri=f"gs://{bucket}/lake",
        checkpoint_uri=f"gs://{bucket}/checkpoints",
        events_uri=f"gs://{bucket}/streaming",
        gcp_project=project,
        storage_emulator_host=emulators.gcs_url,
        bigquery_emulator_host=emulators.bigquery_url,
        spark_master="local[2]",
        spark_driver_memory="1g",
        jars_dir=load_settings().jars_dir,
        duckdb_path=str(home / "unused.duckdb"),
        kafka_data_dir=str(home / "kafka"),
        dagster_home=str(home / "dagster_home"),
    )


@pytest.fixture(scope="session")
def prod_settings(gcp_emulators: GcpEmulators, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Settings]:
    """``prod_settings(name)``: prod settings of a new project and a new (created) bucket."""

    def make(name: str) -> Settings:
        number = next(_numbers)
        settings = emulated_prod_settings(
            gcp_emulators, f"{name}-{number}", f"{name}-bucket-{number}", tmp_path_factory.mktemp(name)
        )
        storage_client(settings).create_bucket(settings.raw_uri.removeprefix("gs://").split("/")[0])
        return settings

    return make


def upload_folder(settings: Settings, folder: Path, uri: str) -> list[str]:
    """Uploads every file of ``folder`` under ``uri`` (gs://BUCKET/PREFIX); returns the object names."""
    from netflix_core.gcp import split_gcs_uri

    bucket_name, prefix = split_gcs_uri(uri)
    bucket = storage_client(settings).bucket(bucket_name)
    names = []
    for path in sorted(folder.iterdir()):
        if path.is_file():
            name = f"{prefix}/{path.name}"
            # A chunk size makes the upload resumable: fake-gcs-server refuses small multipart ones.
            bucket.blob(name, chunk_size=1024 * 1024).upload_from_filename(str(path))
            names.append(name)
    return names


def download_folder(settings: Settings, uri: str, folder: Path) -> Path:
    """Copies every object under ``uri`` (gs://BUCKET/PREFIX) into ``folder``, keeping the paths
    below the prefix; returns the copy's root."""
    from netflix_core.gcp import split_gcs_uri

    bucket_name, prefix = split_gcs_uri(uri)
    root = folder / prefix.rsplit("/", 1)[-1]
    for blob in storage_client(settings).list_blobs(bucket_name, prefix=f"{prefix}/"):
        if blob.name.endswith("/"):  # the connector's directory objects
            continue
        target = root / blob.name[len(prefix) + 1 :]
        target.parent.mkdir(parents=True, exist_ok=True)
        blob.download_to_filename(str(target))
    return root
