"""The watch-events topic and a quick answer to "is a broker there?" (kafka-python, no JVM)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from netflix_core.contract import WATCH_EVENTS_TOPIC

PROBE_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class KafkaTopic:
    bootstrap_servers: str
    topic: str = WATCH_EVENTS_TOPIC


@contextmanager
def _client_logs_silenced() -> Iterator[None]:
    # kafka-python logs every refused connection; the probe's caller says it once, in one line.
    logger = logging.getLogger("kafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def broker_problem(bootstrap_servers: str, timeout_seconds: float = PROBE_TIMEOUT_SECONDS) -> str | None:
    """``None`` when a Kafka broker answers at ``bootstrap_servers``, else one line saying what is wrong."""
    timeout_ms = int(timeout_seconds * 1000)
    with _client_logs_silenced():
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap_servers,
                client_id="netflix-lambda-probe",
                request_timeout_ms=timeout_ms,
                api_version_auto_timeout_ms=timeout_ms,
            )
        except (KafkaError, ValueError, OSError) as error:
            return f"no Kafka broker answers at {bootstrap_servers} ({type(error).__name__})"
        try:
            admin.list_topics()
        except (KafkaError, OSError) as error:
            return f"the Kafka broker at {bootstrap_servers} did not answer ({type(error).__name__})"
        finally:
            admin.close()
    return None


NO_BROKER_HINT = "start the local one with `netflix-lambda kafka start`, or set KAFKA_BOOTSTRAP_SERVERS"
