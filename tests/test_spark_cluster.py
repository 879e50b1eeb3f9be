"""SPARK_MASTER=spark://...: a real Spark standalone cluster (a master and two workers, each a JVM
of its own on 127.0.0.1, ``spark_cluster`` in tests/cluster_fixtures.py) runs the streaming query
with the results of local mode. The batch backfill runs on the same cluster in
test_prod_batch.py, in prod as docker-compose runs it, and equals the local-mode run cell by cell.

The command runs as it would against docker-compose's cluster: ``netflix-lambda stream`` in a
process of its own, whose driver the executors reach on loopback (SPARK_LOCAL_IP).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from netflix_core.kafka import KafkaTopic
from netflix_core.lake import LakePaths
from netflix_core.warehouse.duckdb_warehouse import DuckDBWarehouse
from netflix_devtools.local_kafka import LocalKafkaBroker
from netflix_devtools.spark_cluster import LOOPBACK, StandaloneCluster
from producer.producer import produce
from tests.cluster_fixtures import applications, cluster_environment
from tests.conftest import REPO, make_settings
from tests.streaming_fixtures import SAMPLE_EVENTS, SAMPLE_RAW, SAMPLE_STREAMING
from tests.test_streaming_e2e import SpeedLayer, assert_stream_matches_topic

CLI = Path(sys.executable).with_name("netflix-lambda")


def test_the_cluster_has_two_workers_on_loopback(spark_cluster: StandaloneCluster) -> None:
    workers = spark_cluster.alive_workers()
    assert len(workers) == 2
    assert all(worker["host"] == LOOPBACK for worker in workers)
    assert spark_cluster.master_url.startswith(f"spark://{LOOPBACK}:")


def test_the_streaming_query_on_the_cluster_matches_the_reference(
    spark_cluster: StandaloneCluster, private_kafka_broker: LocalKafkaBroker, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, raw=SAMPLE_RAW).with_overrides(
        kafka_bootstrap_servers=private_kafka_broker.bootstrap_servers
    )
    summary = produce(private_kafka_broker.bootstrap_servers, SAMPLE_STREAMING, rate=0, progress=False)
    assert (summary.sent, summary.failed) == (SAMPLE_EVENTS, 0)

    completed = subprocess.run(
        [str(CLI), "stream", "--available-now"],
        cwd=REPO, env=cluster_environment(spark_cluster, settings), capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert completed.returncode == 0, f"{completed.stdout[-3000:]}\n{completed.stderr[-5000:]}"

    assert applications(spark_cluster, "netflix-speed-layer"), "the stream did not run on the cluster"
    layer = SpeedLayer(
        LakePaths.from_settings(settings),
        DuckDBWarehouse(settings.duckdb_path),
        KafkaTopic(settings.kafka_bootstrap_servers),
    )
    assert_stream_matches_topic(layer)
