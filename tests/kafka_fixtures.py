"""Pytest plugin: real local Kafka brokers (KRaft) for the tests that need one.

Enabled by ``pytest_plugins = ["tests.kafka_fixtures"]`` in tests/conftest.py. Each broker runs on
a free loopback port with its data in a temporary folder. ``kafka_broker`` is shared by the whole
session and is never stopped before its end; a test that stops, restarts or fills a broker's
default topic takes ``private_kafka_broker``, its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from netflix_core.settings import load_settings
from netflix_devtools.local_kafka import LocalKafkaBroker, free_port


def _running_broker(data_dir: Path) -> Iterator[LocalKafkaBroker]:
    broker = LocalKafkaBroker(
        bootstrap_servers=f"127.0.0.1:{free_port()}", data_dir=data_dir, jars_dir=load_settings().jars_dir
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafkaBroker]:
    yield from _running_broker(tmp_path_factory.mktemp("kafka"))


@pytest.fixture
def private_kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafkaBroker]:
    yield from _running_broker(tmp_path_factory.mktemp("private_kafka"))
