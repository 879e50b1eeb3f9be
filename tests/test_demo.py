"""`netflix-lambda demo`, small and time-limited, from an empty folder on the embedded defaults.

It must fill every table (the batch layer's, the speed layer's, the batch view and the serving view
from both layers), serve the dashboards, and after Ctrl-C (SIGINT) leave no process it started.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netflix_core import contract
from netflix_core.warehouse.duckdb_warehouse import DuckDBWarehouse
from netflix_devtools.local_kafka import free_port
from netflix_devtools.processes import http_ok

CLI = Path(sys.executable).with_name("netflix-lambda")
# A cold start on a shared 2-core machine: a batch backfill, three JVMs and a recompute run.
DEADLINE_SECONDS = 1200
TABLES = (
    *(table.qualified_name for table in contract.BATCH_TABLES),
    contract.ENGAGEMENT_HEALTH_BATCH.qualified_name,
    *(table.qualified_name for table in contract.STREAMING_TABLES),
)


def rows_per_table(warehouse: DuckDBWarehouse) -> dict[str, int]:
    counts = {}
    for table in TABLES:
        exists = warehouse.table_exists(table)
        counts[table] = int(warehouse.query(f"SELECT COUNT(*) AS n FROM {table}")["n"].iloc[0]) if exists else 0
    return counts


def serving_sources(warehouse: DuckDBWarehouse) -> set[str]:
    if not warehouse.table_exists(contract.ENGAGEMENT_HEALTH_SERVING):
        return set()
    return set(warehouse.query(f"SELECT DISTINCT source FROM {contract.ENGAGEMENT_HEALTH_SERVING}")["source"])


def processes_in(folder: Path) -> list[str]:
    """Processes working in ``folder`` (the demo's children and theirs all do), this one aside."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if cwd == folder or folder in cwd.parents:
            found.append(f"{entry.name}: {command[:200]}")
    return found


@pytest.mark.timeout(1800)
def test_the_demo_fills_every_table_and_ctrl_c_leaves_nothing_behind(tmp_path: Path) -> None:
    folder = (tmp_path / "demo").resolve()
    folder.mkdir()
    port = free_port()
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("NETFLIX_", "DAGSTER_", "SPARK_", "KAFKA_"))
    }
    environment |= {
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "SPARK_MASTER": "local[2]",
        "NETFLIX_SPARK_DRIVER_MEMORY": "1g",
    }
    output = tmp_path / "demo.out"
    with open(output, "wb") as printed:
        demo = subprocess.Popen(
            [str(CLI), "demo", "--sessions", "2000", "--rate", "20", "--port", str(port)],
            cwd=folder,
            env=environment,
            stdout=printed,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    warehouse = DuckDBWarehouse(str(folder / "data" / "warehouse.duckdb"), lock_timeout_seconds=60)
    try:
        deadline, counts, sources = time.monotonic() + DEADLINE_SECONDS, {}, set()
        while not (all(counts.values()) and sources == {"batch", "speed"}):
            assert demo.poll() is None, f"the demo ended:\n{output.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"tables {counts}, serving {sources}:\n{output.read_text()[-4000:]}"
            time.sleep(2)
            if warehouse.table_exists(contract.STREAM_BATCHES.qualified_name):
                counts, sources = rows_per_table(warehouse), serving_sources(warehouse)
        assert http_ok(f"http://127.0.0.1:{port}/realtime") and http_ok(f"http://127.0.0.1:{port}/history")
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            code = demo.wait(timeout=240)
        finally:
            if demo.poll() is None:
                os.killpg(demo.pid, signal.SIGKILL)

    printed = output.read_text()
    assert code == 0, printed[-4000:]
    for stage in range(1, 8):
        assert f"[{stage}/7]" in printed
    assert f"http://127.0.0.1:{port}/realtime" in printed and "dagster" in printed
    started = [int(pid) for pid in re.findall(r"\(pid (\d+)\)", printed)]
    assert len(started) >= 4, printed  # the broker, the stream, the producer, the dashboards
    assert [pid for pid in started if Path(f"/proc/{pid}").exists()] == []
    assert processes_in(folder) == []
    assert "demo: stopped" in printed
