"""Replays watch events into Kafka for the speed layer: `netflix-lambda produce` (SPEC sections 7, 8).

Events come from JSON-lines files (the real sample: one event a line, sent byte for byte) or from
a generator's watch_history.csv (one event a row), in a local folder or under a bucket's prefix
(prod: ``gs://data_netflix_2025/streaming``). Each message is keyed by its user_id, so a
user's events keep their order on one partition.

No event is lost to a broker that is down or restarting: the idempotent producer (acks=all)
retries inside librdkafka, without duplicates or reordering, for up to DELIVERY_TIMEOUT_MS;
an event that still fails with a retriable error is sent again from here until it is delivered
or the user stops. An event given up on (a non-retriable error, or Ctrl-C before it was
acknowledged) is counted as failed and reported.

The producer is confluent-kafka's (librdkafka, in C) rather than kafka-python's, which the rest
of the project uses (the broker's admin client, the broker probe, the tests' and benchmarks'
consumers): kafka-python took half a core to send 2,000 live-stamped events a second, a tenth with
librdkafka, and topped out at 7,000 to 8,000 a second, short of the 10,000 the benchmarks offer
while Spark needs the same cores. librdkafka's own log and errors go to Python logging
under ``producer.kafka``, one line per problem.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import logging
import math
import re
import sys
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from netflix_core.contract import BOOLEAN, DOUBLE, EVENT_TIME_FORMAT, RAW_COLUMN_TYPES, WATCH_EVENTS_TOPIC
from netflix_core.gcp import explained_gcp_errors, is_gcs_uri, list_folder, split_gcs_uri, storage_client
from netflix_core.settings import Settings

if TYPE_CHECKING:
    from google.cloud import storage

# Long enough to ride out a broker restart inside librdkafka; a longer outage is handled by
# sending the failed events again.
DELIVERY_TIMEOUT_MS = 300_000
# How long the producer waits for the broker's first answer before saying that none answers.
BROKER_WAIT_S = 5.0
# How long to serve delivery reports when librdkafka's local queue is full before trying again.
QUEUE_FULL_POLL_S = 0.1
# A few milliseconds of batching multiply throughput at thousands of events a second and add
# nothing noticeable at the default 5 a second.
LINGER_MS = 5
PROGRESS_INTERVAL_S = 5.0
RETRY_PAUSE_S = 1.0
# After Ctrl-C, how long to wait for the events already handed to the producer.
INTERRUPT_FLUSH_TIMEOUT_S = 30.0
# Each event given up on is counted; only the first few errors are printed.
MAX_ERRORS_SHOWN = 5
# A client problem (a broker gone, a librdkafka warning) is logged once, and again only after
# this long without it: librdkafka reports an unreachable broker at every reconnect attempt.
PROBLEM_QUIET_S = 60.0
# Delivery errors worth sending the event again for, besides those librdkafka calls retriable: the
# message timed out (DELIVERY_TIMEOUT_MS) or the broker could not be reached.
RESEND_ERRORS = frozenset(
    {KafkaError._MSG_TIMED_OUT, KafkaError._TIMED_OUT, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN}
)
# Errors that all mean "the broker cannot be reached", logged as one problem.
CONNECTION_ERRORS = frozenset({KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE})
# The reports of the events purge() drops after Ctrl-C: already counted as failed, not news.
PURGED_ERRORS = frozenset({KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT})

kafka_log = logging.getLogger("producer.kafka")

DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}")

Event = tuple[str | None, bytes]
# Column name -> contract type of watch_history.csv, which says how to type each CSV value.
WATCH_HISTORY_TYPES = dict(RAW_COLUMN_TYPES["watch_history"])


@dataclass(frozen=True)
class ProduceSummary:
    sent: int
    failed: int
    seconds: float
    topic: str


# -- reading events ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EventFile:
    """A file of events in a folder or a bucket: its name (``*.json`` or ``*.csv``) and how to read it."""

    name: str
    open: Callable[[], BinaryIO]


def event_files(source: str | Path, settings: Settings | None = None) -> list[EventFile]:
    """The files ``iter_events`` reads: ``source``'s ``*.json`` JSON-lines files in name order, or
    its ``watch_history.csv``, or ``source`` itself when it is one such file.

    ``source`` is a local path or a ``gs://BUCKET/PREFIX`` URI (read with the Storage client of
    ``settings``). Raises FileNotFoundError when there is nothing to read there.
    """
    if is_gcs_uri(str(source)):
        if settings is None:
            raise ValueError(f"reading {source} needs the settings of the environment (its GCS client)")
        return _bucket_event_files(str(source), settings)
    return _local_event_files(Path(source))


def _local_event_files(source: Path) -> list[EventFile]:
    if source.is_dir():
        json_files = sorted(source.glob("*.json"))
        if json_files:
            return [EventFile(str(path), partial(open, path, "rb")) for path in json_files]
        source = source / "watch_history.csv"
    if source.suffix in (".json", ".csv") and source.is_file():
        return [EventFile(str(source), partial(open, source, "rb"))]
    raise FileNotFoundError(f"no *.json event files or watch_history.csv at {source}")


def _bucket_event_files(uri: str, settings: Settings) -> list[EventFile]:
    with explained_gcp_errors():
        client = storage_client(settings)
        names = list_folder(client, uri)
        chosen = [name for name in names if name.endswith(".json")] or [
            name for name in names if name.endswith("/watch_history.csv")
        ]
        if not chosen and uri.endswith((".json", ".csv")):
            bucket, name = split_gcs_uri(uri)
            chosen = [uri] if client.bucket(bucket).blob(name).exists() else []
    if not chosen:
        raise FileNotFoundError(f"no *.json event files or watch_history.csv at {uri}")
    return [EventFile(name, partial(_open_object, client, name)) for name in chosen]


def _open_object(client: storage.Client, uri: str) -> BinaryIO:
    bucket, name = split_gcs_uri(uri)
    return client.bucket(bucket).blob(name).open("rb")


def iter_events(source: str | Path, settings: Settings | None = None) -> Iterator[Event]:
    """(user_id key, message bytes) for each event of the files ``event_files`` finds at ``source``:
    each line of a JSON-lines file sent as it is (the bare ``NaN`` token included), each row of a
    watch_history.csv as a typed event."""
    for file in event_files(source, settings):
        with file.open() as stream:
            if file.name.endswith(".json"):
                yield from _json_line_events(stream)
            else:
                yield from _csv_events(io.TextIOWrapper(stream, encoding="utf-8", newline=""))


def _json_line_events(lines: Iterable[bytes]) -> Iterator[Event]:
    for line in lines:
        line = line.rstrip(b"\r\n")
        if line.strip():
            yield _user_id_of(line), line


def _user_id_of(message: bytes) -> str | None:
    """The user_id of a JSON event; None for a malformed one, which is still sent (the speed
    layer quarantines it) on a random partition."""
    try:
        user_id = json.loads(message).get("user_id")  # json accepts NaN
    except (ValueError, AttributeError):
        return None
    return str(user_id) if user_id is not None else None


def _csv_events(rows: TextIO) -> Iterator[Event]:
    """One event a row, in event-time order like the real sample, so that a replay does not
    arrive days behind the streaming query's watermark. The file is read whole to sort it."""
    events = [event_from_row(row) for row in csv.DictReader(rows)]
    events.sort(key=lambda e: (e["timestamp"] or "", e["session_id"] or ""))
    for event in events:
        yield event["user_id"], json.dumps(event).encode()


def event_from_row(row: dict[str, str]) -> dict[str, object]:
    """A watch event from a watch_history.csv row: the columns with numbers and booleans typed
    (an empty number is NaN, as in the real sample), plus its event time."""
    event: dict[str, object] = {}
    for name, dtype in WATCH_HISTORY_TYPES.items():
        text = (row.get(name) or "").strip()
        if dtype == DOUBLE:
            event[name] = _number(text)
        elif dtype == BOOLEAN:
            event[name] = {"true": True, "false": False}.get(text.lower(), text or None)
        else:
            event[name] = text or None
    event["timestamp"] = event_time(event["watch_date"], event["session_id"])
    return event


def _number(text: str) -> float | str:
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return text  # left for the speed layer's checks rather than silently nulled


def event_time(watch_date: object, session_id: object) -> str | None:
    """``watch_date`` as ``YYYY-MM-DD HH:MM:SS``; a bare date gets a time of day derived from
    the session id, the same on every run (crc32, unlike hash(), is not salted per process)."""
    if not isinstance(watch_date, str):
        return None
    if DATE_TIME.match(watch_date):
        return watch_date[:10] + " " + watch_date[11:19]
    if DATE_ONLY.match(watch_date):
        seconds = zlib.crc32(str(session_id).encode()) % 86_400
        return f"{watch_date} {seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return watch_date  # unparseable: the speed layer quarantines it


def with_send_time(message: bytes, now: datetime | None = None) -> bytes:
    """``message`` with its ``timestamp`` replaced by the send time (UTC); a malformed message
    is returned unchanged."""
    try:
        event = json.loads(message)
    except ValueError:
        return message
    if not isinstance(event, dict):
        return message
    event["timestamp"] = (now or datetime.now(UTC)).strftime(EVENT_TIME_FORMAT)
    return json.dumps(event).encode()


# -- pacing and delivery bookkeeping -----------------------------------------------------------


class RatePacer:
    """Keeps calls to ``wait`` at ``rate`` a second (0: no limit) on a monotonic schedule.

    The n-th call is due at start + n / rate. A call sleeps only when it is at least
    ``min_sleep`` early, so thousands of events a second cost a few hundred sleeps instead of
    one each. After a stall (a broker outage) the schedule restarts from now rather than
    bursting to catch up.
    """

    def __init__(
        self,
        rate: float,
        min_sleep: float = 0.005,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.min_sleep = min_sleep
        self.clock = clock
        self.sleep = sleep
        self._next_due: float | None = None

    def wait(self) -> None:
        if not self.interval:
            return
        now = self.clock()
        if self._next_due is None or now - self._next_due > 1.0:
            self._next_due = now
        early = self._next_due - now
        if early >= self.min_sleep:
            self.sleep(early)
        self._next_due += self.interval


def describe(error: KafkaError) -> str:
    """One line for a librdkafka error: its text and its code's name."""
    return f"{error.str()} ({error.name()})"


def is_resendable(error: KafkaError) -> bool:
    """Whether sending the event again can help: librdkafka says the error is retriable, or the
    message timed out or never reached a broker."""
    return error.retriable() or error.code() in RESEND_ERRORS


class DeliveryTracker:
    """Counts acknowledgements and collects events to send again; fed by librdkafka's delivery
    reports, which confluent-kafka serves from poll() and flush() in the thread that calls them
    (so no lock is needed)."""

    def __init__(self) -> None:
        self.delivered = 0
        self.given_up = 0
        self.resent = 0
        self.last_error: KafkaError | None = None
        self._to_resend: deque[Event] = deque()

    def on_delivery(self, error: KafkaError | None, message: Message) -> None:
        """The ``on_delivery`` callback of every produce()."""
        if error is None:
            self.delivered += 1
        elif error.code() not in PURGED_ERRORS:
            key = message.key()
            self.on_error(key.decode("utf-8") if key is not None else None, message.value(), error)

    def on_error(self, key: str | None, message: bytes, error: KafkaError) -> None:
        """An event that failed: kept to be sent again when that can help, else given up."""
        self.last_error = error
        if is_resendable(error):
            self.resent += 1
            self._to_resend.append((key, message))
        else:
            self.give_up(key, error)

    def give_up(self, key: str | None, error: KafkaError) -> None:
        """An event that will not be sent again: counted, and its error printed if among the first."""
        self.last_error = error
        self.given_up += 1
        if self.given_up <= MAX_ERRORS_SHOWN:
            print(f"produce: an event of user {key} was not delivered: {describe(error)}", file=sys.stderr, flush=True)

    def take_resends(self) -> list[Event]:
        if not self._to_resend:
            return []
        events = list(self._to_resend)
        self._to_resend.clear()
        return events


class ProgressReporter:
    """A line every PROGRESS_INTERVAL_S with the counts and the recent rate."""

    def __init__(self, tracker: DeliveryTracker, enabled: bool):
        self.tracker = tracker
        self.enabled = enabled
        self._last_time = time.monotonic()
        self._last_delivered = 0

    def maybe_report(self, taken: int) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last_time < PROGRESS_INTERVAL_S:
            return
        tracker = self.tracker
        rate = (tracker.delivered - self._last_delivered) / (now - self._last_time)
        line = f"produce: {tracker.delivered:,} sent, {tracker.given_up:,} failed, {rate:,.0f}/s"
        pending = taken - tracker.delivered - tracker.given_up
        if pending > 0:
            line += f", {pending:,} awaiting acknowledgement"
        if tracker.resent and tracker.last_error is not None:
            line += f", {tracker.resent:,} resent (last error: {describe(tracker.last_error)})"
        print(line, file=sys.stderr, flush=True)
        self._last_time, self._last_delivered = now, tracker.delivered


# -- producing ---------------------------------------------------------------------------------


class NoBrokerError(ConnectionError):
    """No Kafka broker answered at the bootstrap servers within BROKER_WAIT_S."""


class ClientLog:
    """librdkafka's log (the ``logger`` of the producer's config) and its error callback
    (``error_cb``), written to Python logging: its log under ``producer.kafka.librdkafka`` (its
    warnings at INFO), its errors under ``producer.kafka`` at WARNING (a fatal one at ERROR)
    with the error's name in the record's ``kafka_error``.

    Both are served by poll() and flush() in the producing thread. A problem (an error code, all
    the "broker unreachable" ones being one, or a facility of librdkafka's log) is logged at its
    level when it first comes and when it comes back after PROBLEM_QUIET_S without it; in
    between it is logged at DEBUG, so that an outage is one line, not one a reconnect attempt.
    """

    def __init__(self) -> None:
        self.librdkafka = logging.getLogger("producer.kafka.librdkafka")
        self.silenced = False
        self._last_seen: dict[object, float] = {}

    def _first_in_a_while(self, problem: object) -> bool:
        now = time.monotonic()
        last = self._last_seen.get(problem)
        self._last_seen[problem] = now
        return last is None or now - last > PROBLEM_QUIET_S

    def error(self, error: KafkaError) -> None:
        if self.silenced:
            return
        problem = "connection" if error.code() in CONNECTION_ERRORS else error.code()
        if error.fatal():
            level = logging.ERROR
        elif self._first_in_a_while(problem):
            level = logging.WARNING
        else:
            level = logging.DEBUG
        kafka_log.log(level, "produce: Kafka client error: %s", describe(error), extra={"kafka_error": error.name()})

    def log(self, level: int, message: str, facility: str, *args: object) -> None:
        if self.silenced:
            return
        if level == logging.WARNING:
            # What librdkafka warns of it handles itself (a broker just started that grants no
            # producer id yet, a partition without a leader while the broker restarts); what it
            # cannot handle comes to error() or to the delivery reports.
            level = logging.INFO
        if level > logging.DEBUG and (facility == "FAIL" or not self._first_in_a_while(facility)):
            # Connection failures (facility FAIL) also come to error(), which says them once.
            level = logging.DEBUG
        self.librdkafka.log(level, message, facility, *args)


def new_producer(bootstrap_servers: str) -> Producer:
    """An idempotent producer connected to ``bootstrap_servers``; raises NoBrokerError when no
    broker answers there within BROKER_WAIT_S."""
    client_log = ClientLog()
    producer = Producer(
        {
            "bootstrap.servers": bootstrap_servers,
            "client.id": "netflix-lambda-produce",
            "acks": "all",
            # Idempotence makes retried batches land once and in order (librdkafka keeps per-key
            # order with up to 5 requests in flight); librdkafka then retries without limit
            # until the message times out.
            "enable.idempotence": True,
            # librdkafka's alias of message.timeout.ms.
            "delivery.timeout.ms": DELIVERY_TIMEOUT_MS,
            "linger.ms": LINGER_MS,
            "batch.size": 64 * 1024,
            # Reconnect within a second of a restarted broker instead of backing off to 10 s.
            "reconnect.backoff.max.ms": 1000,
            # The Java client's partitioner (and kafka-python's): a user's events go to the same
            # partition as they did with kafka-python.
            "partitioner": "murmur2_random",
            "logger": client_log,
            "error_cb": client_log.error,
        }
    )
    try:
        producer.list_topics(timeout=BROKER_WAIT_S)
    except KafkaException as error:
        # Its queued "connection refused" reports would only repeat what the caller says.
        client_log.silenced = True
        raise NoBrokerError(f"no Kafka broker answers at {bootstrap_servers}: {describe(error.args[0])}") from None
    return producer


def produce(
    bootstrap_servers: str,
    source: str | Path,
    topic: str = WATCH_EVENTS_TOPIC,
    rate: float = 5.0,
    limit: int | None = None,
    live: bool = False,
    progress: bool = True,
    settings: Settings | None = None,
) -> ProduceSummary:
    """Sends the events of ``source`` (a folder, a file, or gs:// with ``settings``) to ``topic``
    at ``rate`` a second (0: as fast as possible).

    ``limit`` stops after that many events; ``live`` stamps each event's ``timestamp`` with its
    send time. Returns once every event is acknowledged, or on Ctrl-C after a last flush.
    Raises NoBrokerError when no broker answers at ``bootstrap_servers``.
    """
    return send_events(
        bootstrap_servers,
        iter_events(source, settings),
        topic=topic,
        rate=rate,
        limit=limit,
        live=live,
        progress=progress,
    )


def send_events(
    bootstrap_servers: str,
    events: Iterable[Event],
    topic: str = WATCH_EVENTS_TOPIC,
    rate: float = 5.0,
    limit: int | None = None,
    live: bool = False,
    progress: bool = True,
) -> ProduceSummary:
    """``produce`` for events already read: (key, message) pairs from any iterable, an endless
    one included when ``limit`` is given (the benchmarks cycle the sample this way)."""
    if limit is not None:
        events = itertools.islice(events, limit)
    tracker = DeliveryTracker()
    reporter = ProgressReporter(tracker, progress)
    pacer = RatePacer(rate)
    taken = 0  # events read from the source (a resend is not a new event)
    started = time.monotonic()
    producer = new_producer(bootstrap_servers)
    try:
        for key, message in events:
            for resend_key, resend_message in tracker.take_resends():
                pacer.wait()
                _send(producer, topic, resend_key, resend_message, tracker, reporter, taken)
            pacer.wait()
            taken += 1
            _send(producer, topic, key, with_send_time(message) if live else message, tracker, reporter, taken)
            reporter.maybe_report(taken)
        _drain(producer, topic, tracker, reporter, taken)
    except KeyboardInterrupt:
        print("produce: interrupted; waiting for the events already sent", file=sys.stderr, flush=True)
        # What is still unacknowledged after this is counted as failed below.
        with contextlib.suppress(KeyboardInterrupt):
            producer.flush(INTERRUPT_FLUSH_TIMEOUT_S)
    finally:
        # Drop what is left (nothing after a drain) so that close(), which flushes, returns at once.
        with contextlib.suppress(KeyboardInterrupt):
            producer.purge()
            producer.close()
    summary = ProduceSummary(
        sent=tracker.delivered,
        failed=taken - tracker.delivered,
        seconds=time.monotonic() - started,
        topic=topic,
    )
    if progress:
        print(
            f"produce: {summary.sent:,} events sent to {topic}, {summary.failed:,} failed, in {summary.seconds:.1f} s"
        )
    return summary


def _send(
    producer: Producer,
    topic: str,
    key: str | None,
    message: bytes,
    tracker: DeliveryTracker,
    reporter: ProgressReporter,
    taken: int,
) -> None:
    """Hands one event to librdkafka, waiting for room in its queue, and serves the delivery
    reports that have come in."""
    while True:
        try:
            producer.produce(topic, key=key, value=message, on_delivery=tracker.on_delivery)
            break
        except BufferError:  # librdkafka's local queue is full: wait for acknowledgements
            producer.poll(QUEUE_FULL_POLL_S)
            reporter.maybe_report(taken)
        except KafkaException as error:  # this event cannot be sent (larger than the broker takes...)
            tracker.give_up(key, error.args[0])
            return
    producer.poll(0)


def _drain(producer: Producer, topic: str, tracker: DeliveryTracker, reporter: ProgressReporter, taken: int) -> None:
    """Waits for every acknowledgement, sending failed events again until none is left."""
    while True:
        if producer.flush(PROGRESS_INTERVAL_S):  # events still unacknowledged
            reporter.maybe_report(taken)
            continue
        resends = tracker.take_resends()
        if not resends:
            return
        time.sleep(RETRY_PAUSE_S)
        for key, message in resends:
            _send(producer, topic, key, message, tracker, reporter, taken)
