"""The embedded local Apache Kafka broker behind `netflix-lambda kafka start|stop|status`.

One JVM runs a single-node KRaft cluster (broker and controller in the same process) from the
jars that scripts/setup.sh resolved into ``<jars_dir>/kafka``. It is started detached, in its own
process group, so it outlives the command that started it; everything it keeps lives under one
data dir:

    <data_dir>/server.properties   written at every start (the controller port is chosen then)
    <data_dir>/log4j.properties
    <data_dir>/kraft-logs/         topic partitions and the KRaft metadata log
    <data_dir>/broker.pid
    <data_dir>/broker.log          the JVM's stdout and stderr, appended across restarts
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.admin import NewPartitions, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from netflix_core.contract import WATCH_EVENTS_PARTITIONS, WATCH_EVENTS_TOPIC
from netflix_core.settings import Settings, load_settings
from netflix_devtools.processes import free_port

JVM_OPTIONS = ("-Xms128m", "-Xmx512m", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true")
NODE_ID = 1
LOG_TAIL_LINES = 40
POLL_SECONDS = 0.2


class KafkaBrokerError(RuntimeError):
    """The local broker could not be set up, started or stopped; the message says why."""


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap_servers: str
    log_path: Path
    # Partition count of each non-internal topic; empty when the broker is not running.
    topics: dict[str, int] = field(default_factory=dict)


def new_cluster_id() -> str:
    """A cluster id in Kafka's own form (``Uuid.randomUuid``): 16 random bytes, URL-safe base64.

    Made here rather than with ``kafka-storage random-uuid`` to spare a JVM start; like Kafka,
    it avoids a leading '-', which a command line would read as an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _listener_address(bootstrap_servers: str) -> tuple[str, int]:
    """The host and port the broker listens on; ``localhost`` means the IPv4 loopback only."""
    servers = [s.strip() for s in bootstrap_servers.split(",") if s.strip()]
    if len(servers) != 1:
        raise ValueError(f"the local broker needs exactly one host:port, not {bootstrap_servers!r}")
    host, sep, port = servers[0].rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"bootstrap address must be host:port, not {servers[0]!r}")
    if host in ("", "localhost"):
        host = "127.0.0.1"
    return host, int(port)


def _port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class LocalKafkaBroker:
    """A single-node KRaft broker run from ``<jars_dir>/kafka`` with its data in ``data_dir``.

    ``jars_dir`` is the root folder of the Maven-resolved jars (``Settings.jars_dir``, ``.jars``).
    """

    def __init__(self, bootstrap_servers: str, data_dir: Path | str, jars_dir: Path | str):
        self.bootstrap_servers = bootstrap_servers
        self.host, self.port = _listener_address(bootstrap_servers)
        self.data_dir = Path(data_dir).resolve()
        self.kafka_jars_dir = Path(jars_dir).resolve() / "kafka"
        self.log_path = self.data_dir / "broker.log"
        self.pid_path = self.data_dir / "broker.pid"
        self.config_path = self.data_dir / "server.properties"
        self.log4j_path = self.data_dir / "log4j.properties"
        self.storage_dir = self.data_dir / "kraft-logs"
        # The broker this object started, if any: it must be reaped by this process, or it would
        # linger as a zombie that still looks alive to os.kill(pid, 0).
        self._process: subprocess.Popen[bytes] | None = None
        # Where this start's lines begin in the (appended) broker log.
        self._log_start_offset = 0

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> LocalKafkaBroker:
        settings = settings or load_settings()
        return cls(settings.kafka_bootstrap_servers, settings.kafka_data_dir, settings.jars_dir)

    @property
    def connect_address(self) -> str:
        return f"{self.host}:{self.port}"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> None:
        """Starts the broker (formatting its storage the first time) and creates the event topic.

        Does nothing but check the topic when this data dir's broker is already running.
        """
        if self._running_pid() is not None:
            self._wait_until_ready(timeout)
        else:
            if _port_answers(self.host, self.port):
                raise KafkaBrokerError(
                    f"{self.connect_address} is already in use by another process; "
                    "stop it or choose another KAFKA_BOOTSTRAP_SERVERS"
                )
            self._launch()
            try:
                self._wait_until_ready(timeout)
            except KafkaBrokerError:
                self.stop()  # a half-started broker would keep holding the port and the data dir
                raise
        self.ensure_topic()

    def stop(self, timeout: float = 30) -> None:
        """Stops the broker: SIGTERM to its process group, SIGKILL if it is still there after ``timeout``."""
        pid = self._running_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            if not self._wait_for_exit(pid, timeout):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                self._wait_for_exit(pid, 10)
        self.pid_path.unlink(missing_ok=True)
        self._process = None

    def status(self) -> BrokerStatus:
        pid = self._running_pid()
        running = pid is not None and _port_answers(self.host, self.port)
        topics: dict[str, int] = {}
        if running:
            # A broker still starting accepts connections before it answers metadata requests.
            with contextlib.suppress(KafkaError), self._admin() as admin:
                topics = {t["topic"]: len(t["partitions"]) for t in admin.describe_topics() if not t["is_internal"]}
        return BrokerStatus(running, pid, self.bootstrap_servers, self.log_path, topics)

    def ensure_topic(self, name: str = WATCH_EVENTS_TOPIC, partitions: int = WATCH_EVENTS_PARTITIONS) -> None:
        """Creates ``name`` with ``partitions`` partitions, or adds partitions up to that count.

        Returns once every partition has a leader, so a producer can write to it right away.
        """
        with self._admin() as admin:
            existing = self._partition_count(admin, name)
            if existing == 0:
                # Another client may create it between the two calls; that is just as good.
                with contextlib.suppress(TopicAlreadyExistsError):
                    admin.create_topics([NewTopic(name, partitions, replication_factor=1)], timeout_ms=30_000)
            elif existing < partitions:
                admin.create_partitions({name: NewPartitions(partitions)}, timeout_ms=30_000)
            deadline = time.monotonic() + 30
            while self._partition_count(admin, name, with_leader=True) < partitions:
                if time.monotonic() > deadline:
                    raise KafkaBrokerError(f"topic {name} has no leader for all {partitions} partitions after 30 s")
                time.sleep(POLL_SECONDS)

    # -- internals ---------------------------------------------------------------------------

    def _launch(self) -> None:
        java = shutil.which("java")
        if java is None:
            raise KafkaBrokerError("java is not on PATH: the local Kafka broker needs Java 17")
        if not any(self.kafka_jars_dir.glob("kafka_*.jar")):
            raise KafkaBrokerError(f"no Kafka broker jars in {self.kafka_jars_dir}: run scripts/setup.sh")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        controller_port = free_port()
        while controller_port == self.port:  # not bound yet, so the OS may offer the broker's port again
            controller_port = free_port()
        self._write_config(controller_port=controller_port)
        classpath = f"{self.kafka_jars_dir}/*"
        jvm = [java, *JVM_OPTIONS, f"-Dlog4j.configuration={self.log4j_path.as_uri()}", "-cp", classpath]
        if not (self.storage_dir / "meta.properties").exists():
            self._format_storage(jvm)
        self._log_start_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [*jvm, "kafka.Kafka", str(self.config_path)],
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session and process group: Ctrl-C in the starting shell does not reach
                # it, and stop() can signal the JVM with anything it may have spawned.
                start_new_session=True,
            )
        self.pid_path.write_text(f"{self._process.pid}\n")

    def _format_storage(self, jvm: list[str]) -> None:
        command = [*jvm, "kafka.tools.StorageTool", "format"]
        command += ["--cluster-id", new_cluster_id(), "--config", str(self.config_path)]
        result = subprocess.run(command, cwd=self.data_dir, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise KafkaBrokerError(f"formatting {self.storage_dir} failed:\n{result.stdout}{result.stderr}")

    def _write_config(self, controller_port: int) -> None:
        # A static controller quorum (controller.quorum.voters) takes its endpoint from this file
        # alone, so the controller may get a different free port at every start.
        properties = {
            "process.roles": "broker,controller",
            "node.id": NODE_ID,
            "controller.quorum.voters": f"{NODE_ID}@127.0.0.1:{controller_port}",
            "listeners": f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": self.storage_dir,
            # One node: every replication factor is 1, and a consumer group starts at once.
            "num.partitions": WATCH_EVENTS_PARTITIONS,
            "default.replication.factor": 1,
            "offsets.topic.replication.factor": 1,
            "offsets.topic.num.partitions": 3,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "transaction.state.log.num.partitions": 3,
            "group.initial.rebalance.delay.ms": 0,
            # Topics are made on purpose (ensure_topic), so a typo cannot create an empty one.
            "auto.create.topics.enable": "false",
            # Replaying the full history must stay possible: never delete events by age.
            "log.retention.ms": -1,
        }
        self.config_path.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
        self.log4j_path.write_text(
            "log4j.rootLogger=INFO, stdout\n"
            "log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
            "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
            # Per-request and per-partition chatter would drown the useful lines.
            "log4j.logger.kafka.request.logger=WARN\n"
            "log4j.logger.state.change.logger=WARN\n"
        )

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self._running_pid() is None:
                raise KafkaBrokerError(f"the Kafka broker exited while starting; {self._log_tail()}")
            if _port_answers(self.host, self.port) and self._answers_metadata():
                return
            if time.monotonic() > deadline:
                raise KafkaBrokerError(
                    f"the Kafka broker did not answer on {self.connect_address} within {timeout:.0f} s; "
                    f"{self._log_tail()}"
                )
            time.sleep(POLL_SECONDS)

    def _answers_metadata(self) -> bool:
        try:
            with self._admin() as admin:
                admin.list_topics()
            return True
        except KafkaError:
            return False

    @contextlib.contextmanager
    def _admin(self) -> Iterator[KafkaAdminClient]:
        admin = KafkaAdminClient(bootstrap_servers=self.connect_address, request_timeout_ms=10_000)
        try:
            yield admin
        finally:
            admin.close()

    @staticmethod
    def _partition_count(admin: KafkaAdminClient, topic: str, with_leader: bool = False) -> int:
        (description,) = admin.describe_topics([topic])
        if description["error_code"]:
            return 0
        return sum(1 for p in description["partitions"] if not with_leader or p["leader"] >= 0)

    def _running_pid(self) -> int | None:
        """The pid in the pid file if that process is alive and is a Kafka broker (pids get reused)."""
        try:
            pid = int(self.pid_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if self._is_broker_alive(pid) else None

    def _is_broker_alive(self, pid: int) -> bool:
        if self._process is not None and self._process.pid == pid:
            return self._process.poll() is None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # alive, owned by another user
        cmdline = Path(f"/proc/{pid}/cmdline")
        if cmdline.exists():
            with contextlib.suppress(OSError):
                return b"kafka.Kafka" in cmdline.read_bytes()
        return True

    def _wait_for_exit(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._is_broker_alive(pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(POLL_SECONDS)
        return True

    def _log_tail(self) -> str:
        """The last lines this start wrote to the broker log, to show why it failed."""
        if not self.log_path.exists():
            return f"no log at {self.log_path}"
        with open(self.log_path, "rb") as log:
            log.seek(self._log_start_offset)
            lines = log.read().decode(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        return f"last lines of {self.log_path}:\n" + "\n".join(lines)
