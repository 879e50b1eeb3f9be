"""Pytest plugin: one Spark standalone cluster (a master and two workers on 127.0.0.1) for the
session, stopped at the end. Enabled by ``pytest_plugins`` in tests/conftest.py.

A command that runs on it gets ``cluster_environment``: SPARK_MASTER names the cluster and
SPARK_LOCAL_IP keeps the driver, which the executors call back, on loopback.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from netflix_core.settings import Settings
from netflix_devtools.spark_cluster import LOOPBACK, StandaloneCluster, standalone_cluster


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneCluster]:
    with standalone_cluster(tmp_path_factory.mktemp("spark_cluster"), workers=2) as running:
        yield running


def cluster_environment(cluster: StandaloneCluster, settings: Settings) -> dict[str, str]:
    """The environment of a ``netflix-lambda`` command that runs ``settings`` on ``cluster``."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        **settings.with_overrides(spark_master=cluster.master_url).to_environ(),
        "SPARK_LOCAL_IP": LOOPBACK,
    }


def applications(cluster: StandaloneCluster, name: str) -> list[dict]:
    """The cluster's applications called ``name`` that had executors (cores) on it: finished, or
    still listed as active while the master notices that their driver has gone."""
    state = cluster.state()
    return [app for app in state["activeapps"] + state["completedapps"] if app["name"] == name and app["cores"] > 0]
