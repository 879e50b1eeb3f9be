"""The local Kafka broker and the watch-event producer, against a real broker (tests/kafka_fixtures.py)."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from netflix_devtools.local_kafka import KafkaBrokerError, LocalKafkaBroker, free_port
from producer import producer as producer_module
from producer.producer import RatePacer, event_from_row, iter_events, produce, with_send_time
from tests.conftest import SAMPLE_DATA

SAMPLE = SAMPLE_DATA / "streaming"
SAMPLE_EVENTS = 4500


def sample_lines() -> list[bytes]:
    return [line for path in sorted(SAMPLE.glob("*.json")) for line in path.read_bytes().splitlines() if line]


def without_timestamp(event: dict[str, object]) -> str:
    """The event but its timestamp, as JSON text: NaN compares equal that way."""
    return json.dumps({key: value for key, value in event.items() if key != "timestamp"})


def read_topic(broker: LocalKafkaBroker, topic: str, timeout: float = 120) -> list[ConsumerRecord]:
    """Every record of ``topic``, from the first offset to the end offsets seen when called."""
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap_servers, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(partitions)
        unread = {tp: end for tp, end in consumer.end_offsets(partitions).items() if end > 0}
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while unread:
            assert time.monotonic() < deadline, f"read {len(records)} records of {topic} before the timeout"
            for tp, batch in consumer.poll(timeout_ms=1000).items():
                records.extend(batch)
                if tp in unread and batch[-1].offset + 1 >= unread[tp]:
                    del unread[tp]
        return records
    finally:
        consumer.close()


def test_sample_is_there() -> None:
    assert len(sample_lines()) == SAMPLE_EVENTS


# -- the broker ----------------------------------------------------------------------------------


def test_status_shows_running_broker_with_event_topic(kafka_broker: LocalKafkaBroker) -> None:
    status = kafka_broker.status()
    assert status.running
    assert status.pid is not None
    assert status.bootstrap_servers == kafka_broker.bootstrap_servers
    assert status.topics["netflix_watch_events"] == 3
    assert status.log_path.is_file()


def test_localhost_means_the_ipv4_loopback(tmp_path: Path) -> None:
    broker = LocalKafkaBroker("localhost:9092", tmp_path, tmp_path)
    assert broker.connect_address == "127.0.0.1:9092"


def test_start_without_jars_says_to_run_setup(tmp_path: Path) -> None:
    broker = LocalKafkaBroker(f"127.0.0.1:{free_port()}", tmp_path / "data", tmp_path / "no-jars")
    with pytest.raises(KafkaBrokerError, match=r"scripts/setup\.sh"):
        broker.start()


def test_start_refuses_a_port_another_process_holds(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        broker = LocalKafkaBroker(f"127.0.0.1:{port}", tmp_path, tmp_path)
        with pytest.raises(KafkaBrokerError, match="already in use"):
            broker.start()


def test_ensure_topic_creates_and_grows_partitions(kafka_broker: LocalKafkaBroker) -> None:
    kafka_broker.ensure_topic("grown", partitions=1)
    kafka_broker.ensure_topic("grown", partitions=3)
    kafka_broker.ensure_topic("grown", partitions=3)
    assert kafka_broker.status().topics["grown"] == 3


# -- producing -----------------------------------------------------------------------------------


def test_sample_round_trips_byte_for_byte_keyed_by_user(kafka_broker: LocalKafkaBroker) -> None:
    kafka_broker.ensure_topic("round_trip", 3)
    summary = produce(kafka_broker.bootstrap_servers, SAMPLE, topic="round_trip", rate=0, progress=False)
    assert (summary.sent, summary.failed, summary.topic) == (SAMPLE_EVENTS, 0, "round_trip")

    records = read_topic(kafka_broker, "round_trip")
    assert Counter(r.value for r in records) == Counter(sample_lines())
    assert all(r.key.decode() == json.loads(r.value)["user_id"] for r in records)
    assert {r.partition for r in records} == {0, 1, 2}
    partitions_of_user: dict[bytes, set[int]] = {}
    for record in records:
        partitions_of_user.setdefault(record.key, set()).add(record.partition)
    assert all(len(partitions) == 1 for partitions in partitions_of_user.values())


def test_limit_and_live_timestamps(kafka_broker: LocalKafkaBroker) -> None:
    kafka_broker.ensure_topic("live", 3)
    before = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    summary = produce(kafka_broker.bootstrap_servers, SAMPLE, topic="live", rate=0, limit=25, live=True, progress=False)
    after = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert (summary.sent, summary.failed) == (25, 0)

    events = [json.loads(r.value) for r in read_topic(kafka_broker, "live")]
    assert len(events) == 25
    assert all(before <= event["timestamp"] <= after for event in events)
    originals = [json.loads(line) for line in sample_lines()[:25]]
    assert sorted(map(without_timestamp, events)) == sorted(map(without_timestamp, originals))


def test_rate_is_kept(kafka_broker: LocalKafkaBroker) -> None:
    """Never ahead of the rate: the k-th event is sent no sooner than k / rate after the run began. A
    busy machine can only make a run slower, so there is no ceiling on its duration."""
    kafka_broker.ensure_topic("paced", 3)
    began_ms = time.time() * 1000
    summary = produce(kafka_broker.bootstrap_servers, SAMPLE, topic="paced", rate=1000, limit=2000, progress=False)
    assert (summary.sent, summary.failed) == (2000, 0)
    assert summary.seconds >= 1999 / 1000

    # Record timestamps are the send times in milliseconds: at 1,000 a second, one event a millisecond.
    stamps = sorted(record.timestamp for record in read_topic(kafka_broker, "paced"))
    assert len(stamps) == 2000
    ahead_ms = max(k - (stamp - began_ms) for k, stamp in enumerate(stamps))
    assert ahead_ms <= 5 + 1  # the pacer sends up to its 5 ms sleep threshold early; 1 ms of rounding


def end_offsets(broker: LocalKafkaBroker, topic: str) -> int:
    """How many records ``topic`` holds (a short-lived client, closed before the broker stops)."""
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap_servers, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def wait_until(condition, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}"
        time.sleep(0.05)


def producer_connection_errors(caplog: pytest.LogCaptureFixture) -> int:
    """The "broker unreachable" errors librdkafka reported to the producer (its error callback,
    logged under producer.kafka at WARNING, once per outage)."""
    return sum(
        1
        for record in caplog.records
        if record.name == "producer.kafka"
        and record.levelno >= logging.WARNING
        and getattr(record, "kafka_error", None) in ("_TRANSPORT", "_ALL_BROKERS_DOWN")
    )


def test_broker_restart_while_producing_loses_and_duplicates_no_event(
    private_kafka_broker: LocalKafkaBroker, caplog: pytest.LogCaptureFixture
) -> None:
    broker = private_kafka_broker
    broker.ensure_topic("restart", 3)
    caplog.set_level(logging.WARNING, logger="producer.kafka")
    summaries = []
    producing = threading.Thread(
        target=lambda: summaries.append(
            produce(broker.bootstrap_servers, SAMPLE, topic="restart", rate=300, progress=False)
        )
    )
    producing.start()
    try:
        wait_until(lambda: end_offsets(broker, "restart") >= 900, "900 events in the topic")
        broker.stop()
        assert producing.is_alive(), "the producer finished before the broker went away"
        wait_until(lambda: producer_connection_errors(caplog) > 0, "the producer to find the broker gone")
        assert producing.is_alive(), "the producer finished while the broker was away"
    finally:
        broker.start()
        producing.join(timeout=600)
    assert not producing.is_alive()
    assert producer_connection_errors(caplog) > 0
    assert [(summary.sent, summary.failed) for summary in summaries] == [(SAMPLE_EVENTS, 0)]
    # Every event exactly once: the idempotent producer's retries write no second copy.
    assert Counter(record.value for record in read_topic(broker, "restart")) == Counter(sample_lines())


def test_start_and_stop_are_idempotent(private_kafka_broker: LocalKafkaBroker) -> None:
    broker = private_kafka_broker
    broker.ensure_topic("survivor", 2)
    pid = broker.status().pid
    broker.start()
    assert broker.status().pid == pid

    broker.stop()
    broker.stop()
    stopped = broker.status()
    assert (stopped.running, stopped.pid, stopped.topics) == (False, None, {})

    broker.start()
    broker.start()
    restarted = broker.status()
    assert restarted.running
    assert restarted.topics["netflix_watch_events"] == 3
    assert restarted.topics["survivor"] == 2  # the data dir outlives the process


# -- events from a generator's CSV, pacing ------------------------------------------------------

CSV_HEADER = (
    "session_id,user_id,movie_id,watch_date,device_type,watch_duration_minutes,progress_percentage,"
    "action,quality,location_country,is_download,user_rating\n"
)


def test_csv_rows_become_typed_events_in_event_time_order(tmp_path: Path) -> None:
    (tmp_path / "watch_history.csv").write_text(
        CSV_HEADER
        + "s2,u2,m2,2025-01-02,Mobile,12.5,,stopped,HD,USA,True,\n"
        + "s1,u1,m1,2025-01-01 08:30:00.123456,Desktop,,40,completed,4K,,False,4.0\n"
    )
    events = list(iter_events(tmp_path))
    assert [key for key, _ in events] == ["u1", "u2"]
    first, second = (value.decode() for _, value in events)
    assert first == (
        '{"session_id": "s1", "user_id": "u1", "movie_id": "m1", "watch_date": "2025-01-01 08:30:00.123456", '
        '"device_type": "Desktop", "watch_duration_minutes": NaN, "progress_percentage": 40.0, '
        '"action": "completed", "quality": "4K", "location_country": null, "is_download": false, '
        '"user_rating": 4.0, "timestamp": "2025-01-01 08:30:00"}'
    )
    assert '"progress_percentage": NaN' in second and '"is_download": true' in second
    assert json.loads(second)["timestamp"].startswith("2025-01-02 ")


def test_date_only_rows_get_the_same_time_on_every_run() -> None:
    row = {"session_id": "session_1", "user_id": "u", "movie_id": "m", "watch_date": "2025-03-04"}
    stamps = {event_from_row(row)["timestamp"] for _ in range(3)}
    assert len(stamps) == 1
    assert datetime.strptime(stamps.pop(), "%Y-%m-%d %H:%M:%S").date().isoformat() == "2025-03-04"


def test_live_stamp_keeps_nan_and_malformed_messages() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    stamped = with_send_time(b'{"session_id": "s", "user_rating": NaN, "timestamp": "2025-12-01 00:00:00"}', now)
    assert stamped == b'{"session_id": "s", "user_rating": NaN, "timestamp": "2026-01-02 03:04:05"}'
    assert with_send_time(b"not json", now) == b"not json"


def test_pacer_sleeps_in_batches_at_high_rates() -> None:
    clock = {"now": 0.0}
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock["now"] += seconds

    pacer = RatePacer(rate=10_000, clock=lambda: clock["now"], sleep=sleep)
    for _ in range(10_000):
        pacer.wait()
    assert clock["now"] == pytest.approx(1.0, abs=0.01)
    assert len(sleeps) <= 250


# -- delivery failures, with a stand-in for confluent-kafka's Producer ---------------------------


class ScriptedMessage:
    """What a delivery report carries: the message as librdkafka holds it (key and value as bytes)."""

    def __init__(self, key: str | None, value: bytes):
        self._key = key.encode() if key is not None else None
        self._value = value

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes:
        return self._value


class ScriptedProducer:
    """Answers each produce() as ``outcome(attempt of this message, number of this call)`` says:
    None delivers, a KafkaError fails the delivery, a KafkaException is raised from produce()
    itself, KeyboardInterrupt is raised as Ctrl-C would be. As with librdkafka, the delivery
    reports are served by poll() and flush() only, and produce() raises BufferError while
    ``capacity`` messages await theirs; a ``slow`` one has none to serve in poll(0)."""

    def __init__(self, outcome, capacity: int = 1_000_000, slow: bool = False):
        self.outcome = outcome
        self.capacity = capacity
        self.slow = slow
        self.attempts: Counter[bytes] = Counter()
        self.delivered: list[bytes] = []
        self.calls = 0
        self.queue_full = 0
        self._reports: list[tuple] = []

    def produce(self, topic: str, key: str | None = None, value: bytes = b"", on_delivery=None) -> None:
        if len(self._reports) >= self.capacity:
            self.queue_full += 1
            raise BufferError("Local: Queue full")
        self.attempts[value] += 1
        self.calls += 1
        result = self.outcome(self.attempts[value], self.calls)
        if result is KeyboardInterrupt:
            raise KeyboardInterrupt
        if isinstance(result, KafkaException):
            raise result  # librdkafka refuses this one in produce() itself
        if result is None:
            self.delivered.append(value)
        self._reports.append((on_delivery, result, ScriptedMessage(key, value)))

    def poll(self, timeout: float | None = None) -> int:
        if self.slow and not timeout:
            return 0  # no acknowledgement has come yet
        return self._serve()

    def flush(self, timeout: float | None = None) -> int:
        self._serve()
        return len(self._reports)

    def _serve(self) -> int:
        reports, self._reports = self._reports, []
        for on_delivery, error, message in reports:
            on_delivery(error, message)
        return len(reports)

    def purge(self) -> None:
        self._reports.clear()

    def close(self) -> bool:
        return True


def produce_with(monkeypatch: pytest.MonkeyPatch, fake: ScriptedProducer, limit: int):
    monkeypatch.setattr(producer_module, "new_producer", lambda bootstrap_servers: fake)
    monkeypatch.setattr(producer_module, "RETRY_PAUSE_S", 0)
    return produce("unused:9092", SAMPLE, rate=0, limit=limit, progress=False)


def test_events_failing_after_all_producer_retries_are_sent_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # A message that timed out in librdkafka's retries, then one that found no broker.
    failures = {1: KafkaError(KafkaError._MSG_TIMED_OUT), 2: KafkaError(KafkaError._TRANSPORT)}
    fake = ScriptedProducer(lambda attempt, _: failures.get(attempt))
    summary = produce_with(monkeypatch, fake, limit=50)
    assert (summary.sent, summary.failed) == (50, 0)
    assert sorted(fake.delivered) == sorted(sample_lines()[:50])
    assert set(fake.attempts.values()) == {3}


@pytest.mark.parametrize(
    "failure",
    [
        KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)),  # refused by produce()
        KafkaError(KafkaError.MSG_SIZE_TOO_LARGE),  # refused by the broker
    ],
    ids=["from-produce", "in-delivery-report"],
)
def test_non_retriable_failures_are_counted_not_retried(monkeypatch: pytest.MonkeyPatch, failure) -> None:
    fake = ScriptedProducer(lambda _, call: failure if call == 11 else None)
    summary = produce_with(monkeypatch, fake, limit=20)
    assert (summary.sent, summary.failed) == (19, 1)
    assert max(fake.attempts.values()) == 1


def test_a_full_local_queue_waits_for_acknowledgements(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = ScriptedProducer(lambda *_: None, capacity=5, slow=True)
    summary = produce_with(monkeypatch, fake, limit=30)
    assert (summary.sent, summary.failed) == (30, 0)
    assert fake.queue_full > 0
    assert set(fake.attempts.values()) == {1}


def test_ctrl_c_stops_reading_and_reports_the_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = ScriptedProducer(lambda _, call: KeyboardInterrupt if call == 31 else None)
    summary = produce_with(monkeypatch, fake, limit=100)
    assert summary.sent == 30
    assert summary.sent + summary.failed == 31  # the event being sent when Ctrl-C came
