"""Speed layer benchmark: sustained throughput and end-to-end latency of the streaming job.

In a scratch folder it starts its own Kafka broker and `python -m spark_streaming` (10 s trigger
by default) on a fresh checkpoint and DuckDB file, waits for the query to answer, then produces
the real sample's events in a loop at --rate events/s with live timestamps: --warm-up seconds
(JIT, RocksDB and caches warming; left out of the figures) followed by --seconds measured.
Once the stream has caught up it reads the records of the run back from Kafka and assigns each
to the micro-batch whose offset range in ``stream_batches`` holds it, so each event's latency is
its Kafka record timestamp -> the ``committed_at`` of its batch.

Prints the produced and committed rates, latency p50/p95/p99 of the measured events and the
micro-batches, each against its target with PASS or MISS. Targets on the 2-core reference machine:
the default mode (10 s trigger) commits 2,000 events/s with p95 <= 15 s; the low-latency mode
(--low-latency: a 1 s trigger) commits 2,000 events/s with p95 <= 3 s and p99 <= 5 s.

--find-max-rate looks for the highest rate the stream keeps up with. On one broker and one
streaming job for the whole run it offers --start-rate events/s, then --step more at a time up to
--max-rate; each step is a --warm-up followed by --step-seconds measured (five minutes by
default), and the stream catches up before the next step starts. A step passes when the events
produced in its measured window are committed at >= 98% of the offered rate with p95 <= 15 s
(the mode's latency targets); stepping stops at the first step that fails. Target in the default
mode: >= 10,000 events/s. Beside it, before the stream starts, the same producer code sends
--ceiling-events as fast as it can (live timestamps, to a topic of its own the stream does not
read): the producer's own ceiling. A step whose producer sent more than 2% below the offered
rate says so: that step is limited by the producer, not by the stream.

Events are the sample's 4,500 cycled from memory (live timestamps make each one new), so a long
run needs no events file. The broker keeps every record of the run: all six default steps of
--find-max-rate are 35 million records, about 13 GB in the scratch folder, which is removed at
the end unless --keep or --workdir.

    .venv/bin/python benchmarks/streaming.py [--rate 2000] [--seconds 60] [--warm-up 30] [--trigger 10 | --low-latency]
    .venv/bin/python benchmarks/streaming.py --find-max-rate [--start-rate 5000] [--step 5000] [--max-rate 30000]
        [--step-seconds 300] [--warm-up 30] [--ceiling-events 200000]
    (either one: [--workdir DIR] [--keep])
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from kafka import KafkaConsumer, TopicPartition  # noqa: E402

from benchmarks._measure import ArgumentParser, verdict  # noqa: E402
from netflix_core.contract import WATCH_EVENTS_PARTITIONS  # noqa: E402
from netflix_core.settings import Settings, load_settings  # noqa: E402
from netflix_core.warehouse.duckdb_warehouse import DuckDBWarehouse  # noqa: E402
from netflix_devtools.local_kafka import WATCH_EVENTS_TOPIC, KafkaBrokerError, LocalKafkaBroker  # noqa: E402
from netflix_devtools.processes import free_port, stop_process_group  # noqa: E402
from producer.producer import Event, ProduceSummary, iter_events, send_events  # noqa: E402

SAMPLE = ROOT / "sample_data" / "kaggle-netflix-2025"
PROBE_EVENTS = 10
CATCH_UP_TIMEOUT_S = 300
# A rate is kept when at least this share of it is committed (and, for the producer, sent).
RATE_SHARE = 0.98
CEILING_TOPIC = "benchmark_producer_ceiling"
STREAM_STOP_GRACE_S = 30


class BenchmarkError(RuntimeError):
    """The run could not go on (the streaming job exited, ...); the message says why."""


@dataclass(frozen=True)
class Mode:
    trigger: float
    target_p95_s: float
    target_p99_s: float | None = None
    target_max_rate: float | None = None  # what --find-max-rate must reach, events/s


DEFAULT_MODE = Mode(trigger=10, target_p95_s=15.0, target_max_rate=10_000)
LOW_LATENCY_MODE = Mode(trigger=1, target_p95_s=3.0, target_p99_s=5.0)


@dataclass(frozen=True)
class Batch:
    batch_id: int
    committed_at: float  # epoch seconds
    input_rows: int
    start: dict[str, int]  # partition -> first offset
    end: dict[str, int]  # partition -> offset after the last


@dataclass(frozen=True)
class Window:
    """The events produced in a measured window and the micro-batches that committed them."""

    produced: int  # events with a Kafka timestamp in the window
    produced_rate: float | None  # events/s the producer achieved in the window
    batches: list[Batch]  # the micro-batches holding those events, in order
    latencies: np.ndarray  # seconds, one per event; a lower bound for the uncommitted ones
    uncommitted: int  # events still not committed when the wait for them ended
    waited_s: float  # how long the stream was given to catch up after the producer stopped

    @property
    def committed_rate(self) -> float | None:
        return committed_rate(self.batches)


# -- the scratch broker and streaming job ------------------------------------------------------


def scratch_settings(workdir: Path, bootstrap_servers: str) -> Settings:
    return load_settings().with_overrides(
        raw_uri=str(SAMPLE / "raw"),
        lake_uri=str(workdir / "lake"),
        duckdb_path=str(workdir / "warehouse.duckdb"),
        checkpoint_uri=str(workdir / "checkpoints"),
        kafka_bootstrap_servers=bootstrap_servers,
        kafka_data_dir=str(workdir / "kafka"),
    )


def sample_events() -> Iterator[Event]:
    """The sample's 4,500 events, read as `netflix-lambda produce` reads them, over and over."""
    while True:
        yield from iter_events(SAMPLE / "streaming")


def send_live(bootstrap_servers: str, rate: float, count: int, topic: str = WATCH_EVENTS_TOPIC) -> ProduceSummary:
    """``count`` live-stamped sample events at ``rate`` a second (0: as fast as possible)."""
    summary = send_events(
        bootstrap_servers, sample_events(), topic=topic, rate=rate, limit=count, live=True, progress=False
    )
    if summary.sent + summary.failed < count:  # the producer stopped early: Ctrl-C
        raise KeyboardInterrupt
    return summary


@contextlib.contextmanager
def scratch_broker(settings: Settings) -> Iterator[LocalKafkaBroker]:
    broker = LocalKafkaBroker(settings.kafka_bootstrap_servers, settings.kafka_data_dir, settings.jars_dir)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def start_stream(settings: Settings, trigger: float, log: Path) -> subprocess.Popen[bytes]:
    environment = {**os.environ, **settings.to_environ(), "PYTHONPATH": str(ROOT)}
    with open(log, "wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "spark_streaming", "--trigger", str(trigger)],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


class SpeedLayer:
    """The streaming job under test, reading the scratch broker and writing the scratch warehouse."""

    def __init__(self, settings: Settings, stream: subprocess.Popen[bytes], log: Path):
        self.bootstrap_servers = settings.kafka_bootstrap_servers
        self.warehouse = DuckDBWarehouse(settings.duckdb_path)
        self.stream = stream
        self.log = log

    def batches(self) -> list[Batch]:
        return committed_batches(self.warehouse)

    def end_offsets(self) -> dict[str, int]:
        return end_offsets(self.bootstrap_servers)

    def wait_until_committed(self, target: dict[str, int], timeout: float = CATCH_UP_TIMEOUT_S) -> bool:
        """Waits until a micro-batch ends at ``target``; False if none did within ``timeout``."""
        deadline = time.monotonic() + timeout
        while not ((batches := self.batches()) and batches[-1].end == target):
            if self.stream.poll() is not None:
                raise BenchmarkError(f"the streaming job exited (code {self.stream.returncode}); log: {self.log}")
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)
        return True

    def run_load(self, rate: float, warm_up: float, seconds: float, catch_up_timeout: float) -> Window:
        """Produces at ``rate`` for ``warm_up`` + ``seconds``, waits for the stream to catch up and
        measures the events of the last ``seconds`` (those sent after the warm-up)."""
        start = self.end_offsets()
        started = time.time()
        send_live(self.bootstrap_servers, rate, math.ceil(rate * (warm_up + seconds)))
        end = self.end_offsets()
        stopped = time.monotonic()
        self.wait_until_committed(end, catch_up_timeout)
        waited = time.monotonic() - stopped
        timestamps = kafka_timestamps(self.bootstrap_servers, start, end)
        return measure_window(self.batches(), timestamps, started + warm_up, time.time(), waited)


@contextlib.contextmanager
def streaming_job(settings: Settings, trigger: float, log: Path) -> Iterator[SpeedLayer]:
    """Starts the streaming job and yields it once it has committed a first probe of events."""
    stream = start_stream(settings, trigger, log)
    try:
        layer = SpeedLayer(settings, stream, log)
        send_live(layer.bootstrap_servers, 0, PROBE_EVENTS)
        if not layer.wait_until_committed(layer.end_offsets()):
            raise BenchmarkError(f"the streaming job committed nothing within {CATCH_UP_TIMEOUT_S} s; log: {log}")
        yield layer
    finally:
        stop_process_group(stream, grace=STREAM_STOP_GRACE_S)


# -- reading back what was committed -----------------------------------------------------------


def utc_epoch(naive_utc: datetime) -> float:
    return naive_utc.replace(tzinfo=UTC).timestamp()


def committed_batches(warehouse: DuckDBWarehouse) -> list[Batch]:
    if not Path(warehouse.path).exists():
        return []
    with warehouse.connect(read_only=True) as connection:
        exists = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'stream_batches'"
        ).fetchall()[0][0]
        rows = (
            exists
            and connection.execute(
                "SELECT batch_id, committed_at, input_rows, start_offsets, end_offsets "
                "FROM netflix_streaming.stream_batches ORDER BY batch_id"
            ).fetchall()
        )
    return [
        Batch(
            batch_id,
            utc_epoch(committed),
            rows_in,
            json.loads(start)[WATCH_EVENTS_TOPIC],
            json.loads(end)[WATCH_EVENTS_TOPIC],
        )
        for batch_id, committed, rows_in, start, end in rows or []
    ]


def end_offsets(bootstrap_servers: str) -> dict[str, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers)
    try:
        partitions = [TopicPartition(WATCH_EVENTS_TOPIC, p) for p in consumer.partitions_for_topic(WATCH_EVENTS_TOPIC)]
        return {str(tp.partition): offset for tp, offset in consumer.end_offsets(partitions).items()}
    finally:
        consumer.close()


def kafka_timestamps(
    bootstrap_servers: str, start: dict[str, int], end: dict[str, int]
) -> dict[str, tuple[int, np.ndarray]]:
    """partition -> (first offset, Kafka record timestamps in epoch seconds, one per offset from
    it) of the records between ``start`` and ``end``; NaN where no record was read."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # Millions of records after a long step: fewer, larger fetches.
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    try:
        ranges = {p: (start.get(p, 0), last) for p, last in end.items() if last > start.get(p, 0)}
        stamps = {p: np.full(last - first, np.nan) for p, (first, last) in ranges.items()}
        partitions = {p: TopicPartition(WATCH_EVENTS_TOPIC, int(p)) for p in ranges}
        consumer.assign(list(partitions.values()))
        for p, tp in partitions.items():
            consumer.seek(tp, ranges[p][0])
        unread = {partitions[p]: p for p in ranges}
        while unread:
            for tp, records in consumer.poll(timeout_ms=1000, max_records=50_000).items():
                p = str(tp.partition)
                first, last = ranges[p]
                offsets = np.fromiter((r.offset for r in records), np.int64, len(records))
                sent = np.fromiter((r.timestamp for r in records), np.float64, len(records)) / 1000
                inside = offsets < last
                stamps[p][offsets[inside] - first] = sent[inside]
                if records[-1].offset + 1 >= last:
                    unread.pop(tp, None)
                    consumer.pause(tp)
        return {p: (ranges[p][0], stamps[p]) for p in ranges}
    finally:
        consumer.close()


def measure_window(
    batches: list[Batch],
    timestamps: dict[str, tuple[int, np.ndarray]],
    from_time: float,
    now: float,
    waited_s: float,
) -> Window:
    """The events of ``timestamps`` sent at or after ``from_time``: the batches holding them and
    their latencies; an event no batch holds yet counts as ``now`` minus its send time."""
    holding, latencies = [], []
    for batch in batches:
        sent = [np.empty(0)]
        for partition, last in batch.end.items():
            if partition in timestamps:
                first, stamps = timestamps[partition]
                sent.append(stamps[max(batch.start.get(partition, 0) - first, 0) : max(last - first, 0)])
        measured = np.concatenate(sent)
        measured = measured[measured >= from_time]  # NaN (no record read) is never in the window
        if measured.size:
            holding.append(batch)
            latencies.append(batch.committed_at - measured)
    committed_end = {p: max((b.end.get(p, 0) for b in batches), default=0) for p in timestamps}
    pending = np.concatenate(
        [np.empty(0)] + [stamps[max(committed_end[p] - first, 0) :] for p, (first, stamps) in timestamps.items()]
    )
    pending = pending[pending >= from_time]
    everything = np.concatenate([np.empty(0)] + [stamps for _, stamps in timestamps.values()])
    window = everything[everything >= from_time]
    span = window.max() - from_time if window.size else 0.0
    return Window(
        produced=int(window.size),
        produced_rate=window.size / span if span > 0 else None,
        batches=holding,
        latencies=np.concatenate([*latencies, now - pending]),
        uncommitted=int(pending.size),
        waited_s=waited_s,
    )


def steady_batches(batches: list[Batch]) -> list[Batch]:
    """The batches after the first; the last, which holds the tail after the producer stopped,
    left out when there are three or more."""
    return batches[1:-1] if len(batches) >= 3 else batches[1:]


def committed_rate(batches: list[Batch]) -> float | None:
    """Events per second committed by the steady batches, over the time since the first batch's
    commit. None with fewer than two batches (a window shorter than a trigger or two)."""
    steady = steady_batches(batches)
    if not steady:
        return None
    span = steady[-1].committed_at - batches[0].committed_at
    return sum(b.input_rows for b in steady) / span if span > 0 else None


# -- one rate, measured in detail --------------------------------------------------------------


def report(mode: Mode, rate: float, window: Window) -> None:
    rate_now = window.committed_rate
    p50, p95, p99 = np.percentile(window.latencies, [50, 95, 99])
    at_least = ">=" if window.uncommitted else ""
    print()
    print(f"produced    {window.produced:,} measured events at {format_rate(window.produced_rate)} events/s")
    print(
        f"committed   {format_rate(rate_now)} events/s over {len(steady_batches(window.batches))} steady micro-batches"
    )
    print(
        f"latency     p50 {at_least}{p50:.2f} s   p95 {at_least}{p95:.2f} s   p99 {at_least}{p99:.2f} s   "
        f"max {at_least}{window.latencies.max():.2f} s "
        f"({len(window.latencies):,} measured events, Kafka timestamp -> committed_at)"
    )
    if window.uncommitted:
        print(
            f"            {window.uncommitted:,} events not committed {window.waited_s:.0f} s after the producer stopped"
        )
    print(f"trigger     {mode.trigger:g} s")
    kept = rate_now is not None and rate_now >= RATE_SHARE * rate
    print(f"rate        {format_rate(rate_now):>10} events/s target >= {RATE_SHARE * rate:,.0f}: {verdict(kept)}")
    print(f"p95         {p95:>10.2f} s        target <= {mode.target_p95_s:g} s: {verdict(p95 <= mode.target_p95_s)}")
    if mode.target_p99_s is not None:
        print(
            f"p99         {p99:>10.2f} s        target <= {mode.target_p99_s:g} s: {verdict(p99 <= mode.target_p99_s)}"
        )
    print()
    print("batch   events   since previous commit")
    for previous, batch in zip([None, *window.batches], window.batches):
        interval = "" if previous is None else f"{batch.committed_at - previous.committed_at:.1f} s"
        print(f"{batch.batch_id:>5}  {batch.input_rows:>7}   {interval}")


def format_rate(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:,.0f}"


def run_one_rate(args: argparse.Namespace, mode: Mode, workdir: Path) -> int:
    settings = scratch_settings(workdir, f"127.0.0.1:{free_port()}")
    log = workdir / "stream.log"
    with scratch_broker(settings):
        print(f"starting the streaming job (trigger {mode.trigger:g} s); log: {log}", flush=True)
        with streaming_job(settings, mode.trigger, log) as layer:
            events = math.ceil(args.rate * (args.warm_up + args.seconds))
            print(
                f"producing {events:,} events at {args.rate:,.0f}/s: "
                f"{args.warm_up:g} s warm-up + {args.seconds:g} s measured",
                flush=True,
            )
            window = layer.run_load(args.rate, args.warm_up, args.seconds, CATCH_UP_TIMEOUT_S)
    if not window.produced:
        raise BenchmarkError("no event was produced in the measured window")
    report(mode, args.rate, window)
    return 0


# -- stepping the rate up ----------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    rate: float
    window: Window
    mode: Mode

    @property
    def p95(self) -> float:
        return float(np.percentile(self.window.latencies, 95))

    @property
    def p99(self) -> float:
        return float(np.percentile(self.window.latencies, 99))

    @property
    def rate_kept(self) -> bool:
        rate = self.window.committed_rate
        return rate is not None and rate >= RATE_SHARE * self.rate

    @property
    def latency_kept(self) -> bool:
        p99_kept = self.mode.target_p99_s is None or self.p99 <= self.mode.target_p99_s
        return self.p95 <= self.mode.target_p95_s and p99_kept

    @property
    def passed(self) -> bool:
        # A stream still behind after the wait is not keeping up, whatever the figures so far.
        return self.rate_kept and self.latency_kept and not self.window.uncommitted

    @property
    def producer_limited(self) -> bool:
        sent = self.window.produced_rate
        return sent is None or sent < RATE_SHARE * self.rate

    def line(self, number: int) -> str:
        window, mode = self.window, self.mode
        at_least = ">=" if window.uncommitted else ""
        p99_target = "" if mode.target_p99_s is None else f" (<= {mode.target_p99_s:g} s)"
        line = (
            f"step {number}  offered {self.rate:>7,.0f}/s  produced {format_rate(window.produced_rate):>7}/s  "
            f"committed {format_rate(window.committed_rate):>7}/s (>= {RATE_SHARE * self.rate:,.0f}: "
            f"{verdict(self.rate_kept)})  p95 {at_least}{self.p95:.1f} s (<= {mode.target_p95_s:g} s: "
            f"{verdict(self.p95 <= mode.target_p95_s)})  p99 {at_least}{self.p99:.1f} s{p99_target}  "
            f"-> {'PASS' if self.passed else 'FAIL'}"
        )
        if window.uncommitted:
            line += f"; {window.uncommitted:,} events not committed {window.waited_s:.0f} s after the producer stopped"
        if self.producer_limited:
            line += (
                f"; PRODUCER-LIMITED: it sent {format_rate(window.produced_rate)}/s, more than "
                f"{1 - RATE_SHARE:.0%} below the offered rate (this step measures the producer, not the stream)"
            )
        return line


def step_rates(start: float, step: float, maximum: float) -> list[float]:
    count = math.floor((maximum - start) / step + 1e-9) + 1
    return [start + index * step for index in range(count)]


def find_max_rate(args: argparse.Namespace, mode: Mode, workdir: Path) -> int:
    rates = step_rates(args.start_rate, args.step, args.max_rate)
    settings = scratch_settings(workdir, f"127.0.0.1:{free_port()}")
    log = workdir / "stream.log"
    per_step = args.warm_up + args.step_seconds
    print(
        f"stepping {rates[0]:,.0f} -> {rates[-1]:,.0f} events/s by {args.step:,.0f}: up to {len(rates)} steps of "
        f"{args.warm_up:g} s warm-up + {args.step_seconds:g} s measured (trigger {mode.trigger:g} s)",
        flush=True,
    )
    steps: list[Step] = []
    with scratch_broker(settings) as broker:
        print(
            f"producer ceiling: {args.ceiling_events:,} events as fast as possible to {CEILING_TOPIC} ...", flush=True
        )
        broker.ensure_topic(CEILING_TOPIC, WATCH_EVENTS_PARTITIONS)
        ceiling = send_live(settings.kafka_bootstrap_servers, 0, args.ceiling_events, topic=CEILING_TOPIC)
        ceiling_rate = ceiling.sent / ceiling.seconds
        print(
            f"producer ceiling  {ceiling_rate:,.0f} events/s ({ceiling.sent:,} sent in {ceiling.seconds:.1f} s, "
            "live timestamps, no stream running)",
            flush=True,
        )
        print(f"starting the streaming job (trigger {mode.trigger:g} s); log: {log}", flush=True)
        with streaming_job(settings, mode.trigger, log) as layer:
            for number, rate in enumerate(rates, 1):
                print(
                    f"step {number}/{len(rates)}: {rate:,.0f} events/s, {math.ceil(rate * per_step):,} events "
                    f"over {per_step:g} s ...",
                    flush=True,
                )
                window = layer.run_load(rate, args.warm_up, args.step_seconds, max(CATCH_UP_TIMEOUT_S, per_step))
                if not window.produced:
                    raise BenchmarkError(f"no event was produced in the measured window of step {number}")
                steps.append(Step(rate, window, mode))
                print(steps[-1].line(number), flush=True)
                if not steps[-1].passed:
                    break

    passed = [step for step in steps if step.passed]
    best = passed[-1].rate if passed else 0.0
    print()
    target = mode.target_max_rate
    target_text = (
        f"target >= {target:,.0f} events/s: {verdict(best >= target)}"
        if target is not None
        else f"(no throughput target with a {mode.trigger:g} s trigger)"
    )
    best_text = f"{best:>8,.0f} events/s" if passed else f"none (from {rates[0]:,.0f} events/s)"
    print(f"highest passing rate  {best_text}   {target_text}")
    failed = steps[-1] if not steps[-1].passed else None
    if failed is None:
        print(f"every step passed: the stream keeps at least {rates[-1]:,.0f} events/s (raise --max-rate to go on)")
    else:
        print(
            f"first failing step    {failed.rate:>8,.0f} events/s   committed {format_rate(failed.window.committed_rate)}/s, "
            f"p95 {failed.p95:.1f} s"
            + (" (limited by the producer: the stream's own ceiling may be higher)" if failed.producer_limited else "")
        )
    print(f"producer ceiling      {ceiling_rate:>8,.0f} events/s   (the same producer code, rate=0, on its own)")
    return 0


# -- command line ------------------------------------------------------------------------------


def parse_arguments() -> tuple[argparse.Namespace, Mode]:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=None, help="events per second (default 2000)")
    parser.add_argument("--seconds", type=float, default=None, help="measured production time (default 60)")
    parser.add_argument("--warm-up", type=float, default=30, help="production before each measured time (default 30)")
    interval = parser.add_mutually_exclusive_group()
    interval.add_argument("--trigger", type=float, default=None, help="micro-batch interval in seconds (default 10)")
    interval.add_argument("--low-latency", action="store_true", help="a 1 s trigger, held to p95 <= 3 s and p99 <= 5 s")
    stepping = parser.add_argument_group("--find-max-rate")
    stepping.add_argument("--find-max-rate", action="store_true", help="step the rate up until a step fails")
    stepping.add_argument("--start-rate", type=float, default=None, help="first step, events/s (default 5000)")
    stepping.add_argument("--step", type=float, default=None, help="added at each step, events/s (default 5000)")
    stepping.add_argument("--max-rate", type=float, default=None, help="last step at most, events/s (default 30000)")
    stepping.add_argument("--step-seconds", type=float, default=None, help="measured time per step (default 300)")
    stepping.add_argument(
        "--ceiling-events", type=int, default=None, help="events of the producer's ceiling run (default 200000)"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary scratch folder")
    args = parser.parse_args()

    single = {"--rate": args.rate, "--seconds": args.seconds}
    stepped = {
        "--start-rate": args.start_rate,
        "--step": args.step,
        "--max-rate": args.max_rate,
        "--step-seconds": args.step_seconds,
        "--ceiling-events": args.ceiling_events,
    }
    misplaced = [name for name, value in (single if args.find_max_rate else stepped).items() if value is not None]
    if misplaced and args.find_max_rate:
        parser.error(f"{misplaced[0]} is for one rate; --find-max-rate steps it with --start-rate, --step, --max-rate")
    if misplaced:
        parser.error(f"{misplaced[0]} goes with --find-max-rate")
    args.rate = 2000 if args.rate is None else args.rate
    args.seconds = 60 if args.seconds is None else args.seconds
    args.start_rate = 5000 if args.start_rate is None else args.start_rate
    args.step = 5000 if args.step is None else args.step
    args.max_rate = 30000 if args.max_rate is None else args.max_rate
    args.step_seconds = 300 if args.step_seconds is None else args.step_seconds
    args.ceiling_events = 200_000 if args.ceiling_events is None else args.ceiling_events

    mode = LOW_LATENCY_MODE if args.low_latency else DEFAULT_MODE
    if args.trigger is not None:
        if not args.trigger > 0:
            parser.error("--trigger must be above 0 seconds")
        mode = Mode(args.trigger, DEFAULT_MODE.target_p95_s)
    if args.warm_up < 0:
        parser.error("--warm-up must not be negative")
    if args.find_max_rate:
        for name in ("--start-rate", "--step", "--max-rate", "--step-seconds", "--ceiling-events"):
            if not getattr(args, name[2:].replace("-", "_")) > 0:
                parser.error(f"{name} must be above 0")
        if args.max_rate < args.start_rate:
            parser.error("--max-rate must be at least --start-rate")
        if args.step_seconds < 2 * mode.trigger:
            parser.error(f"--step-seconds must be at least two triggers ({2 * mode.trigger:g} s) to measure a rate")
    else:
        if not args.rate > 0 or not args.seconds > 0:
            parser.error("--rate and --seconds must be above 0")
    if (
        args.workdir is not None
        and args.workdir.exists()
        and (not args.workdir.is_dir() or any(args.workdir.iterdir()))
    ):
        parser.error(f"--workdir {args.workdir} must be a new or empty folder")
    return args, mode


def main() -> int:
    args, mode = parse_arguments()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="netflix-stream-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        code = (find_max_rate if args.find_max_rate else run_one_rate)(args, mode, workdir)
    except (BenchmarkError, KafkaBrokerError) as error:
        print(f"streaming benchmark failed: {error}; scratch folder kept: {workdir}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted; scratch folder kept: {workdir}", file=sys.stderr)
        return 130
    if args.keep or args.workdir is not None:
        print(f"\nscratch folder: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
        print("\nscratch folder removed (--keep keeps it)")
    return code


if __name__ == "__main__":
    sys.exit(main())
