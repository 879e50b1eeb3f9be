"""Many readers and writers on the embedded default: one DuckDB file shared for over a minute.

The streaming job (2 s micro-batches) writes while the dashboards (a real server, read in headless
Chromium), a batch run and `netflix-lambda query` use the same file, each in its own process as
in production. Nothing may fail on a lock, and what the readers see must move on.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from netflix_core.settings import Settings, load_settings
from netflix_devtools.datagen import generate
from netflix_devtools.local_kafka import LocalKafkaBroker, free_port
from netflix_devtools.processes import http_ok
from producer.producer import produce
from tests.dashboard_fixtures import CHROMIUM, CHROMIUM_ARGS, chromium_available

REPO = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).with_name("netflix-lambda")
SHARED_SECONDS = 60
DEADLINE_SECONDS = 600
# DuckDB's lock conflicts ("Could not set lock", "Conflicting lock"), the warehouse's own bounded
# wait giving up ("stayed locked"), or any Python failure.
LOCK_TROUBLE = re.compile(r"set lock|conflicting lock|stayed locked|Traceback|WarehouseError", re.IGNORECASE)


@contextmanager
def process(command: list[str], environment: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A child in its own process group (its JVM included), killed with the group at the end."""
    with open(log, "ab") as output:
        child = subprocess.Popen(
            command, cwd=REPO, env=environment, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield child
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()


def produce_live_until(bootstrap_servers: str, source: Path, stop: threading.Event) -> None:
    while not stop.is_set():
        produce(bootstrap_servers, source, rate=50, limit=100, live=True, progress=False)


def query(environment: dict[str, str], sql: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CLI), "query", sql, "--format", "csv"], env=environment, capture_output=True, text=True, timeout=120
    )


COMMITTED = "SELECT MAX(batch_id) AS batch FROM netflix_streaming.stream_batches"


def newest_batch(result: subprocess.CompletedProcess) -> int | None:
    """The newest committed batch id `query` printed; None before the first commit."""
    lines = result.stdout.splitlines() if result.returncode == 0 else []
    return int(lines[1]) if len(lines) > 1 and lines[1].isdigit() else None


def wait_until(condition, what: str, child: subprocess.Popen, log: Path, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert child.poll() is None, f"{what}: the process ended:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{what}: not within {seconds:.0f} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.5)


@pytest.mark.timeout(1800)
def test_stream_dashboards_batch_and_query_share_one_duckdb_file(
    kafka_broker: LocalKafkaBroker, tmp_path: Path
) -> None:
    assert chromium_available(), f"no Chromium at {CHROMIUM}: scripts/setup.sh installs Debian's chromium"
    raw = tmp_path / "raw"
    generate(raw, users=300, movies=80, sessions=2_000, start="2024-06", end="2024-07", seed=3, progress=False)
    settings = Settings(
        raw_uri=str(raw),
        lake_uri=str(tmp_path / "lake"),
        duckdb_path=str(tmp_path / "warehouse.duckdb"),
        checkpoint_uri=str(tmp_path / "checkpoints"),
        spark_master="local[2]",
        kafka_bootstrap_servers=kafka_broker.bootstrap_servers,
        jars_dir=load_settings().jars_dir,
        spark_driver_memory="1g",
        dagster_home=str(tmp_path / "dagster"),
    )
    environment = {**os.environ, **settings.to_environ(), "PYTHONPATH": str(REPO)}
    port = free_port()
    stop_producing = threading.Event()
    producing = threading.Thread(
        target=produce_live_until, args=(kafka_broker.bootstrap_servers, raw / "watch_history.csv", stop_producing)
    )
    producing.start()
    stream_log, dashboard_log, batch_log = (tmp_path / f"{name}.log" for name in ("stream", "dashboard", "batch"))
    try:
        with (
            process([sys.executable, "-m", "spark_streaming", "--trigger", "2"], environment, stream_log) as stream,
            process([str(CLI), "dashboard", "--port", str(port)], environment, dashboard_log) as dashboard,
        ):
            wait_until(
                lambda: newest_batch(query(environment, COMMITTED)) is not None,
                "a first micro-batch",
                stream,
                stream_log,
            )
            wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/realtime"), "the dashboards", dashboard, dashboard_log)
            from playwright.sync_api import sync_playwright

            with (
                sync_playwright() as playwright,
                process([str(CLI), "batch", "--from", "2024-06", "--to", "2024-07"], environment, batch_log) as batch,
            ):
                executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
                browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{port}/realtime", wait_until="domcontentloaded")
                queried, shown = [], []
                started = time.monotonic()
                while time.monotonic() - started < SHARED_SECONDS or batch.poll() is None:
                    assert time.monotonic() - started < DEADLINE_SECONDS, (
                        f"the batch run is stuck:\n{batch_log.read_text()[-3000:]}"
                    )
                    result = query(environment, COMMITTED)
                    assert result.returncode == 0 and not LOCK_TROUBLE.search(result.stderr), result.stderr
                    queried.append(newest_batch(result))
                    last_commit = page.locator("#rt-last-commit")
                    if last_commit.count():
                        shown.append(int(re.search(r"batch #(\d+)", last_commit.inner_text()).group(1)))
                    assert stream.poll() is None, stream_log.read_text()[-3000:]
                    assert dashboard.poll() is None, dashboard_log.read_text()[-3000:]
                    time.sleep(2)
                browser.close()
                assert batch.returncode == 0, batch_log.read_text()[-3000:]
            assert "batch succeeded" in batch_log.read_text()
    finally:
        stop_producing.set()
        producing.join()

    assert queried == sorted(queried) and queried[-1] > queried[0], f"the query's reads did not advance: {queried}"
    assert len(shown) > 1 and shown == sorted(shown) and shown[-1] > shown[0], f"the dashboard did not advance: {shown}"
    assert not LOCK_TROUBLE.search(stream_log.read_text()), stream_log.read_text()[-3000:]
    dashboard_said = dashboard_log.read_text()
    assert not LOCK_TROUBLE.search(dashboard_said) and "failed" not in dashboard_said, dashboard_said[-3000:]
