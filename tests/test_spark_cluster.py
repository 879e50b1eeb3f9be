"""SPARK_MASTER=spark://...: a real Spark standalone cluster (a master and two workers, each a JVM
of its own on 127.0.0.1) runs the batch backfill and the streaming query, with the results of
local mode.

The commands run as they would against docker-compose's cluster: ``netflix-lambda batch`` and
``netflix-lambda stream`` in processes of their own, whose driver the executors reach on loopback
(SPARK_LOCAL_IP).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netflix_core import contract
from netflix_core.kafka import KafkaTopic
from netflix_core.lake import LakePaths
from netflix_core.settings import Settings
from netflix_core.warehouse.duckdb_warehouse import DuckDBWarehouse
from netflix_devtools.local_kafka import LocalKafkaBroker
from netflix_devtools.spark_cluster import LOOPBACK, StandaloneCluster, standalone_cluster
from producer.producer import produce
from tests.conftest import REPO, BatchRun, assert_tables_equal, contract_rows, make_settings
from tests.streaming_fixtures import SAMPLE_EVENTS, SAMPLE_RAW, SAMPLE_STREAMING
from tests.test_streaming_e2e import SpeedLayer, assert_warehouse_matches_topic

CLI = Path(sys.executable).with_name("netflix-lambda")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneCluster]:
    with standalone_cluster(tmp_path_factory.mktemp("spark_cluster"), workers=2) as running:
        yield running


def run_on(cluster: StandaloneCluster, settings: Settings, *args: str) -> str:
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        **settings.with_overrides(spark_master=cluster.master_url).to_environ(),
        # The driver listens where the executors can reach it, and nowhere else.
        "SPARK_LOCAL_IP": LOOPBACK,
    }
    completed = subprocess.run(
        [str(CLI), *args], cwd=REPO, env=environment, capture_output=True, text=True, timeout=900
    )
    assert completed.returncode == 0, f"{completed.stdout[-3000:]}\n{completed.stderr[-5000:]}"
    return completed.stdout


def applications(cluster: StandaloneCluster, name: str) -> list[dict]:
    """The cluster's applications called ``name`` that had executors (cores) on it: finished, or
    still listed as active while the master notices that their driver has gone."""
    state = cluster.state()
    return [app for app in state["activeapps"] + state["completedapps"] if app["name"] == name and app["cores"] > 0]


def test_the_cluster_has_two_workers_on_loopback(cluster: StandaloneCluster) -> None:
    workers = cluster.alive_workers()
    assert len(workers) == 2
    assert all(worker["host"] == LOOPBACK for worker in workers)
    assert cluster.master_url.startswith(f"spark://{LOOPBACK}:")


def test_the_batch_backfill_on_the_cluster_equals_local_mode(
    cluster: StandaloneCluster, batch_run: BatchRun, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, raw=Path(batch_run.settings.raw_uri)).with_overrides(
        dagster_home=str(tmp_path / "dagster_home")
    )
    output = run_on(cluster, settings, "batch", "--from", batch_run.first_month[:7], "--to", batch_run.last_month[:7])

    assert "batch succeeded" in output
    assert applications(cluster, "netflix-lambda"), "the batch run's Spark application did not run on the cluster"
    on_cluster, local = DuckDBWarehouse(settings.duckdb_path), DuckDBWarehouse(batch_run.settings.duckdb_path)
    for table in contract.BATCH_TABLES:
        expected = contract_rows(local, table)
        assert expected, table.name
        assert_tables_equal(contract_rows(on_cluster, table), expected, list(table.column_names), table.name)


def test_the_streaming_query_on_the_cluster_matches_the_reference(
    cluster: StandaloneCluster, kafka_broker: LocalKafkaBroker, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, raw=SAMPLE_RAW).with_overrides(
        kafka_bootstrap_servers=kafka_broker.bootstrap_servers
    )
    summary = produce(kafka_broker.bootstrap_servers, SAMPLE_STREAMING, rate=0, progress=False)
    assert (summary.sent, summary.failed) == (SAMPLE_EVENTS, 0)

    run_on(cluster, settings, "stream", "--available-now")

    assert applications(cluster, "netflix-speed-layer"), "the stream's Spark application did not run on the cluster"
    # The job reads the default topic; whatever other tests left there is part of "the same events".
    layer = SpeedLayer(
        LakePaths.from_settings(settings),
        DuckDBWarehouse(settings.duckdb_path),
        KafkaTopic(settings.kafka_bootstrap_servers),
    )
    assert_warehouse_matches_topic(layer)
