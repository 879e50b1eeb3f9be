"""Replays watch events into Kafka for the speed layer: `netflix-lambda produce` (SPEC sections 7, 8).

Events come from JSON-lines files (the real sample: one event a line, sent byte for byte) or from
a generator's watch_history.csv (one event a row), in a local folder or under a bucket's prefix
(prod: ``gs://data_netflix_2025/streaming``). Each message is keyed by its user_id, so a
user's events keep their order on one partition.

No event is lost to a broker that is down or restarting: the idempotent producer (acks=all)
retries inside kafka-python, without duplicates or reordering, for up to DELIVERY_TIMEOUT_MS;
an event that still fails with a retriable error is sent again from here until it is delivered
or the user stops. An event given up on (a non-retriable error, or Ctrl-C before it was
acknowledged) is counted as failed and reported.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import math
import re
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

from netflix_core.contract import BOOLEAN, DOUBLE, EVENT_TIME_FORMAT, RAW_COLUMN_TYPES, WATCH_EVENTS_TOPIC
from netflix_core.gcp import explained_gcp_errors, is_gcs_uri, list_folder, split_gcs_uri, storage_client
from netflix_core.settings import Settings

if TYPE_CHECKING:
    from google.cloud import storage

# Long enough to ride out a broker restart inside kafka-python; a longer outage is handled by
# sending the failed events again.
DELIVERY_TIMEOUT_MS = 300_000
# How long send() may block on missing metadata or a full buffer before the event is requeued.
MAX_BLOCK_MS = 10_000
# A few milliseconds of batching multiply throughput at thousands of events a second and add
# nothing noticeable at the default 5 a second.
LINGER_MS = 5
PROGRESS_INTERVAL_S = 5.0
RETRY_PAUSE_S = 1.0
# After Ctrl-C, how long to wait for the events already handed to the producer.
INTERRUPT_FLUSH_TIMEOUT_S = 30.0
# Each event given up on is counted; only the first few errors are printed.
MAX_ERRORS_SHOWN = 5

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


class DeliveryTracker:
    """Counts acknowledgements and collects events to send again; fed by kafka-python's
    callbacks, which run on its sender thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.delivered = 0
        self.given_up = 0
        self.resent = 0
        self.last_error: BaseException | None = None
        self._to_resend: deque[Event] = deque()

    def on_delivered(self, _metadata: object) -> None:
        with self._lock:
            self.delivered += 1

    def on_error(self, key: str | None, message: bytes, error: BaseException) -> None:
        # kafka-python fails futures with KafkaError subclasses, whose class says if a retry can help.
        retriable = getattr(error, "retriable", False)
        with self._lock:
            self.last_error = error
            if retriable:
                self.resent += 1
                self._to_resend.append((key, message))
            else:
                self.given_up += 1
            report = not retriable and self.given_up <= MAX_ERRORS_SHOWN
        if report:
            print(f"produce: an event of user {key} was not delivered: {error!r}", file=sys.stderr, flush=True)

    def take_resends(self) -> list[Event]:
        with self._lock:
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
        if tracker.resent:
            line += f", {tracker.resent:,} resent (last error: {tracker.last_error})"
        print(line, file=sys.stderr, flush=True)
        self._last_time, self._last_delivered = now, tracker.delivered


# -- producing ---------------------------------------------------------------------------------


def new_producer(bootstrap_servers: str) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=bootstrap_servers,
        key_serializer=lambda key: key.encode("utf-8") if key is not None else None,
        acks="all",
        # Idempotence (kafka-python >= 2.1) makes retried batches land once and in order; it
        # also limits each connection to one request in flight, which keeps per-key order.
        enable_idempotence=True,
        retries=float("inf"),
        delivery_timeout_ms=DELIVERY_TIMEOUT_MS,
        max_block_ms=MAX_BLOCK_MS,
        linger_ms=LINGER_MS,
        batch_size=64 * 1024,
        # Reconnect within a second of a restarted broker instead of backing off to 30 s.
        reconnect_backoff_max_ms=1000,
    )


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
                _send(producer, topic, resend_key, resend_message, tracker)
            pacer.wait()
            taken += 1
            _send(producer, topic, key, with_send_time(message) if live else message, tracker)
            reporter.maybe_report(taken)
        _drain(producer, topic, tracker, reporter, taken)
    except KeyboardInterrupt:
        print("produce: interrupted; waiting for the events already sent", file=sys.stderr, flush=True)
        # What is still unacknowledged after this is counted as failed below.
        with contextlib.suppress(KafkaTimeoutError, KeyboardInterrupt):
            producer.flush(timeout=INTERRUPT_FLUSH_TIMEOUT_S)
    finally:
        producer.close(timeout=0)
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


def _send(producer: KafkaProducer, topic: str, key: str | None, message: bytes, tracker: DeliveryTracker) -> None:
    try:
        future = producer.send(topic, key=key, value=message)
    except KafkaError as error:  # no metadata or no buffer space within MAX_BLOCK_MS, or too large
        tracker.on_error(key, message, error)
        return
    future.add_callback(tracker.on_delivered)
    future.add_errback(tracker.on_error, key, message)


def _drain(
    producer: KafkaProducer, topic: str, tracker: DeliveryTracker, reporter: ProgressReporter, taken: int
) -> None:
    """Waits for every acknowledgement, sending failed events again until none is left."""
    while True:
        try:
            producer.flush(timeout=PROGRESS_INTERVAL_S)
        except KafkaTimeoutError:
            reporter.maybe_report(taken)
            continue
        resends = tracker.take_resends()
        if not resends:
            return
        time.sleep(RETRY_PAUSE_S)
        for key, message in resends:
            _send(producer, topic, key, message, tracker)
