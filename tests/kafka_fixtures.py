"""Pytest plugin: a real local Kafka broker (KRaft) for the tests that need one.

Enabled by ``pytest_plugins = ["tests.kafka_fixtures"]`` in tests/conftest.py. The broker runs
on a free loopback port with its data in a temporary folder, once for the whole session.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from netflix_core.settings import load_settings
from netflix_devtools.local_kafka import LocalKafkaBroker, free_port


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafkaBroker]:
    broker = LocalKafkaBroker(
        bootstrap_servers=f"127.0.0.1:{free_port()}",
        data_dir=tmp_path_factory.mktemp("kafka"),
        jars_dir=load_settings().jars_dir,
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
