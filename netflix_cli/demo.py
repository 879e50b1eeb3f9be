"""``netflix-lambda demo``: the whole system end to end on the embedded defaults, until Ctrl-C.

From the current folder (empty, or a previous demo's): generate data, run the batch backfill,
start Kafka and the streaming job, replay some recorded events (closed days for the batch layer
to recompute), produce live events, serve the dashboards, and recompute the speed layer's closed
days whenever there are new ones. Every stage prints what it does; each long-lived part is a child
process in its own process group (its own JVM or server, and DuckDB wants one writing process at a
time, which short transactions make work), with its log under ``data/logs``. Ctrl-C stops them
all, newest first, and says so once none is left; so do SIGTERM and SIGHUP (a service manager, a
closed terminal). A second run reuses what the first built.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from netflix_core import contract
from netflix_core.lake import missing_raw_files
from netflix_core.serving import closed_days_not_recomputed, windows_by_source
from netflix_core.settings import Settings
from netflix_core.warehouse import READER_LOCK_TIMEOUT_SECONDS, Warehouse, WarehouseError, open_warehouse
from netflix_devtools.datagen import generate
from netflix_devtools.local_kafka import KafkaBrokerError, LocalKafkaBroker
from netflix_devtools.processes import http_ok

STAGES = 7
HISTORY_EVENTS = 1_000
STATUS_SECONDS = 15.0
POLL_SECONDS = 0.5
STREAM_START_DEADLINE = 600.0
DASHBOARD_DEADLINE = 60.0
STOP_DEADLINE = 30.0


class DemoError(RuntimeError):
    """A stage that could not finish; the message says which and where its log is."""


class StopSignal(BaseException):
    """SIGTERM or SIGHUP: the demo stops what it started, as on Ctrl-C (and, like it, no Exception)."""


# Without handlers these signals end the demo at once and leave its children (each in its own
# process group, out of the signal's reach) running: the broker, the stream's JVM, the dashboard.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _raise_stop_signal(signal_number: int, _frame: object) -> None:
    raise StopSignal(signal.Signals(signal_number).name)


def say(message: str) -> None:
    print(message, flush=True)


@dataclass
class Child:
    """A process the demo started, alone in its process group (which takes its JVM along)."""

    name: str
    process: subprocess.Popen
    log: Path | None

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGINT (a clean stop), then SIGTERM, then SIGKILL, to the whole group, until it is empty."""
        for signal_number in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if not self._group_alive():
                break
            try:
                os.killpg(self.process.pid, signal_number)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + STOP_DEADLINE
            while self._group_alive() and time.monotonic() < deadline:
                time.sleep(0.1)
        self.process.wait()

    def _group_alive(self) -> bool:
        self.process.poll()  # reaps the leader once it exits, so an empty group reads as gone
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True


@dataclass
class Demo:
    settings: Settings
    sessions: int
    rate: float
    port: int
    children: list[Child] = field(default_factory=list)
    broker_started: LocalKafkaBroker | None = None
    recomputed_for: set[tuple[date, ...]] = field(default_factory=set)

    def run(self) -> int:
        say(f"demo: the lambda architecture end to end in {Path.cwd()} (data under data/); Ctrl-C stops everything")
        code = 0
        # SIGINT is also the clean stop the demo sends each child. A shell that starts the demo in
        # the background ignores SIGINT, and the children would inherit that and ignore the stop.
        handlers = {signal.SIGINT: signal.default_int_handler, **dict.fromkeys(STOP_SIGNALS, _raise_stop_signal)}
        previous_handlers = {number: signal.signal(number, handler) for number, handler in handlers.items()}
        try:
            self._generate()
            self._batch()
            self._kafka()
            self._stream()
            self._produce()
            self._dashboard()
            self._watch()
        except KeyboardInterrupt:
            say("\ndemo: Ctrl-C, stopping what the demo started")
        except StopSignal as stop:
            say(f"\ndemo: {stop}, stopping what the demo started")
        except (DemoError, KafkaBrokerError, WarehouseError) as error:
            print(f"netflix-lambda demo: {error}", file=sys.stderr, flush=True)
            code = 1
        finally:
            # A second SIGTERM (a service manager repeating itself) must not cut the stopping short.
            for number in STOP_SIGNALS:
                signal.signal(number, signal.SIG_IGN)
            self._stop_all()
            for number, handler in previous_handlers.items():
                signal.signal(number, handler)
        return code

    # --- the stages --------------------------------------------------------------------------------

    def _generate(self) -> None:
        raw = Path(self.settings.raw_uri)
        if not missing_raw_files(self.settings):
            say(f"[1/{STAGES}] generate: reusing the raw files in {raw}")
            return
        say(f"[1/{STAGES}] generate: {self.sessions:,} watch sessions and the other four files into {raw}")
        summary = generate(raw, sessions=self.sessions, progress=False)
        say(f"      {sum(summary.rows.values()):,} rows in {summary.seconds:.1f} s")

    def _batch(self) -> None:
        if self._rows(contract.MONTHLY_ENGAGEMENT.qualified_name):
            say(f"[2/{STAGES}] batch: reusing the batch layer's tables in {self.settings.duckdb_path}")
            return
        say(f"[2/{STAGES}] batch: the whole batch layer through Dagster (a minute or two)")
        self._run_to_end("batch", "batch")

    def _kafka(self) -> None:
        broker = LocalKafkaBroker.from_settings(self.settings)
        if broker.status().running:
            say(f"[3/{STAGES}] kafka: reusing the broker already running at {self.settings.kafka_bootstrap_servers}")
        else:
            say(f"[3/{STAGES}] kafka: starting Apache Kafka (KRaft) at {self.settings.kafka_bootstrap_servers}")
            broker.start()
            self.broker_started = broker
            say(f"      broker running (pid {broker.status().pid}), data in {self.settings.kafka_data_dir}")
        broker.ensure_topic()

    def _stream(self) -> None:
        say(f"[4/{STAGES}] stream: starting the streaming job (Spark Structured Streaming, 10 s micro-batches)")
        stream = self._start("stream", "stream")
        deadline = time.monotonic() + STREAM_START_DEADLINE
        # The job creates its tables once its JVM is up and it has read the dimensions.
        while not self._warehouse().table_exists(contract.STREAM_BATCHES.qualified_name):
            self._require_running(stream)
            if time.monotonic() > deadline:
                raise DemoError(f"the streaming job did not start in {STREAM_START_DEADLINE:.0f} s; see {stream.log}")
            time.sleep(POLL_SECONDS)
        say("      the streaming job is reading the topic")

    def _produce(self) -> None:
        source = self.settings.raw_uri
        if self._stream_has_read_events():
            say(
                f"[5/{STAGES}] produce: the stream has events of an earlier run; live events at {self.rate:g}/s from {source}"
            )
        else:
            say(
                f"[5/{STAGES}] produce: {HISTORY_EVENTS:,} recorded events (their own, past days: closed days "
                f"for the batch layer to recompute), then live events at {self.rate:g}/s from {source}"
            )
            self._run_to_end("history", "produce", "--rate", "0", "--limit", str(HISTORY_EVENTS), quiet=True)
        self._start("producer", *self._live_producer())

    def _live_producer(self) -> tuple[str, ...]:
        return ("produce", "--live", "--rate", f"{self.rate:g}")

    def _dashboard(self) -> None:
        say(f"[6/{STAGES}] dashboard: serving the two dashboards on port {self.port}")
        dashboard = self._start("dashboard", "dashboard", "--host", "127.0.0.1", "--port", str(self.port))
        url = f"http://127.0.0.1:{self.port}/realtime"
        deadline = time.monotonic() + DASHBOARD_DEADLINE
        while not http_ok(url):
            self._require_running(dashboard)
            if time.monotonic() > deadline:
                raise DemoError(f"the dashboards did not answer at {url} in {DASHBOARD_DEADLINE:.0f} s")
            time.sleep(POLL_SECONDS)
        dagster_home = self.settings.dagster_home
        # The web server alone, not `dagster dev`: its daemon would run engagement_stream_sensor,
        # which starts a second streaming job on the checkpoint of the one the demo runs.
        webserver = Path(sys.executable).with_name("dagster-webserver")
        say(
            f"[7/{STAGES}] running. Look at:\n"
            f"      Real-Time Engagement  http://127.0.0.1:{self.port}/realtime\n"
            f"      Historical Trends     http://127.0.0.1:{self.port}/history\n"
            f"      Dagster UI            cd {Path.cwd()} && DAGSTER_HOME={dagster_home} "
            f"{webserver} -m netflix_assets.definitions -h 127.0.0.1\n"
            f'      the warehouse         netflix-lambda query "SELECT * FROM {contract.ENGAGEMENT_HEALTH_SERVING} '
            'ORDER BY window_start DESC LIMIT 10"\n'
            "      Ctrl-C stops it all"
        )

    def _watch(self) -> None:
        """Until Ctrl-C: live events on, and now and then a status line and a recompute of new closed days."""
        next_look = 0.0
        while True:
            for child in self.children:
                if child.name in ("stream", "dashboard"):
                    self._require_running(child)
            producer = next(child for child in self.children if child.name == "producer")
            if not producer.running:
                self._require_finished(producer)
                # The source is used up: live events start over from its first row.
                self.children.remove(producer)
                self._start("producer", *self._live_producer())
            if time.monotonic() >= next_look:
                say(f"      {self._status()}")
                self._recompute_closed_days()
                next_look = time.monotonic() + STATUS_SECONDS
            time.sleep(1.0)

    def _recompute_closed_days(self) -> None:
        # Closed days of the speed layer's windows; the recompute finds the archive's own.
        closed = tuple(closed_days_not_recomputed(self._warehouse()))
        if not closed or closed in self.recomputed_for:
            return
        self.recomputed_for.add(closed)
        say(f"      the speed layer closed {len(closed)} day(s) the batch layer has not recomputed: recomputing")
        self._run_to_end("recompute", "recompute")

    # --- reading the warehouse ------------------------------------------------------------------

    def _warehouse(self) -> Warehouse:
        return open_warehouse(self.settings, READER_LOCK_TIMEOUT_SECONDS)

    def _rows(self, table: str) -> int:
        warehouse = self._warehouse()
        if not warehouse.table_exists(table):
            return 0
        return int(warehouse.query(f"SELECT COUNT(*) AS n FROM {table}")["n"].iloc[0])

    def _status(self) -> str:
        warehouse = self._warehouse()
        latest = warehouse.latest_batch()
        if latest is None:
            return "no micro-batch yet"
        totals = warehouse.query(
            f"SELECT COUNT(*) AS batches, COALESCE(SUM(input_rows), 0) AS events "
            f"FROM {contract.STREAM_BATCHES.qualified_name}"
        ).iloc[0]
        lag = "" if latest.lag_seconds is None else f", lag {latest.lag_seconds:.1f} s"
        windows = windows_by_source(warehouse)
        sources = "; serving view: " + ", ".join(f"{n} {source} windows" for source, n in sorted(windows.items()))
        return (
            f"{datetime.now():%H:%M:%S} stream: {int(totals['batches'])} micro-batches, "
            f"{int(totals['events']):,} events, last batch {latest.batch_id}{lag}{sources if windows else ''}"
        )

    def _stream_has_read_events(self) -> bool:
        """Whether an earlier run fed the stream already (its recorded events are not replayed twice)."""
        warehouse = self._warehouse()
        if not warehouse.table_exists(contract.STREAM_BATCHES.qualified_name):
            return False
        read = warehouse.query(
            f"SELECT COUNT(*) AS n FROM {contract.STREAM_BATCHES.qualified_name} WHERE input_rows > 0"
        )
        return int(read["n"].iloc[0]) > 0

    # --- children -----------------------------------------------------------------------------------

    def _command(self, *arguments: str) -> list[str]:
        return [sys.executable, "-m", "netflix_cli.main", *arguments]

    def _environment(self) -> dict[str, str]:
        return {**os.environ, **self.settings.to_environ()}

    def _start(self, name: str, *arguments: str) -> Child:
        logs = Path(self.settings.duckdb_path).parent / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"{name}.log"
        with open(log, "ab") as output:
            process = subprocess.Popen(
                self._command(*arguments),
                env=self._environment(),
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        child = Child(name, process, log)
        self.children.append(child)
        say(f"      started {name} (pid {process.pid}), log {log}")
        return child

    def _run_to_end(self, name: str, *arguments: str, quiet: bool = False) -> None:
        """A command in the foreground, its output on this terminal (in its own group: Ctrl-C is ours)."""
        process = subprocess.Popen(
            self._command(*arguments),
            env=self._environment(),
            stdout=subprocess.DEVNULL if quiet else None,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        child = Child(name, process, None)
        self.children.append(child)
        try:
            code = process.wait()
        finally:
            if not child.running:
                self.children.remove(child)
        if code != 0:
            raise DemoError(f"`netflix-lambda {' '.join(arguments)}` failed with exit code {code}")

    def _require_finished(self, child: Child) -> None:
        if child.process.returncode != 0:
            self._require_running(child)

    def _require_running(self, child: Child) -> None:
        if not child.running:
            raise DemoError(
                f"{child.name} stopped (exit code {child.process.returncode}); the end of {child.log}:\n"
                f"{child.log_tail()}"
            )

    def _stop_all(self) -> None:
        for child in reversed(self.children):
            if child.running or child._group_alive():
                say(f"      stopping {child.name} (pid {child.process.pid})")
            child.stop()
        if self.broker_started is not None:
            say(f"      stopping the Kafka broker (pid {self.broker_started.status().pid})")
            self.broker_started.stop()
        stopped = len(self.children) + (self.broker_started is not None)
        say(f"demo: stopped; {stopped} process(es) it started are gone. `netflix-lambda demo` again resumes here.")
