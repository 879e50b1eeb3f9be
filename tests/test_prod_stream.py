"""The speed layer in prod (NETFLIX_ENV=prod) against the emulators: events from the bucket's
streaming/ prefix, Kafka -> Spark with its checkpoint on gs:// -> BigQuery, exactly once through
two SIGKILLs; then the command line's producer, dashboards and recompute on the same environment.

The job runs as ``python -m spark_streaming`` in its own process group (a JVM with the GCS
connector), as in the local exactly-once test of test_streaming_e2e.py, whose scenario this is.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from netflix_core import contract
from netflix_core.gcp import split_gcs_uri, storage_client
from netflix_core.kafka import KafkaTopic
from netflix_core.lake import LakePaths
from netflix_core.settings import Settings
from netflix_core.warehouse import open_warehouse
from netflix_dashboard import data
from netflix_devtools.local_kafka import LocalKafkaBroker
from netflix_devtools.processes import free_port, http_ok
from tests.emulator_fixtures import upload_folder
from tests.streaming_fixtures import SAMPLE_RAW, SAMPLE_STREAMING
from tests.test_streaming_e2e import CheckpointFiles, SpeedLayer, batch_ids, kill_at_seeded_points_then_catch_up

pytestmark = pytest.mark.emulators

REPO = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).with_name("netflix-lambda")


def gcs_checkpoint_files(settings: Settings, checkpoint_uri: str) -> CheckpointFiles:
    client = storage_client(settings)
    bucket, prefix = split_gcs_uri(checkpoint_uri)

    def files(folder: str) -> set[str]:
        base = f"{prefix}/{folder}/"
        return {
            blob.name[len(base) :] for blob in client.list_blobs(bucket, prefix=base) if not blob.name.endswith("/")
        }

    return files


def cli_environment(settings: Settings) -> dict[str, str]:
    # PYTHONPATH: the command runs this checkout's code, whichever checkout installed the script.
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(REPO),
        **settings.to_environ(),
    }


@pytest.fixture(scope="module")
def settings(prod_settings: Callable[[str], Settings], kafka_broker: LocalKafkaBroker, tmp_path_factory) -> Settings:
    """Prod settings with the sample's users and movies under raw/ and its events under streaming/."""
    settings = prod_settings("stream").with_overrides(kafka_bootstrap_servers=kafka_broker.bootstrap_servers)
    dimensions = tmp_path_factory.mktemp("dimensions")
    for name in ("users.csv", "movies.csv"):
        (dimensions / name).symlink_to(SAMPLE_RAW / name)
    upload_folder(settings, dimensions, settings.raw_uri)
    upload_folder(settings, SAMPLE_STREAMING, settings.events_uri)
    return settings


def test_the_producer_reads_the_buckets_streaming_prefix(settings: Settings) -> None:
    produced = subprocess.run(
        [str(CLI), "produce", "--rate", "0", "--limit", "20"],
        env=cli_environment(settings), cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert produced.returncode == 0, produced.stderr[-3000:]
    assert "20 events sent" in produced.stdout

    nothing = settings.with_overrides(events_uri=f"{settings.events_uri}-nothing-here")
    missing = subprocess.run(
        [str(CLI), "produce"], env=cli_environment(nothing), cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().splitlines() == [
        f"produce: no events at {nothing.events_uri}: pass --source DIR (JSON-lines files or a watch_history.csv)"
    ]


def test_sigkill_mid_stream_with_checkpoints_on_gcs_neither_loses_nor_double_counts(
    settings: Settings, private_kafka_broker: LocalKafkaBroker, tmp_path: Path
) -> None:
    # A broker of its own: the scenario's reference is every record of the job's (default) topic.
    settings = settings.with_overrides(kafka_bootstrap_servers=private_kafka_broker.bootstrap_servers)
    layer = SpeedLayer(
        LakePaths.from_settings(settings),
        open_warehouse(settings),
        KafkaTopic(settings.kafka_bootstrap_servers),
        settings,
    )
    assert layer.checkpoint.startswith("gs://")
    checkpoint = gcs_checkpoint_files(settings, layer.checkpoint)
    kill_at_seeded_points_then_catch_up(settings, layer, checkpoint, tmp_path)
    assert batch_ids(checkpoint, "commits"), "the checkpoint's commit log is in the bucket"


def test_the_dashboards_read_bigquery(settings: Settings) -> None:
    """After the stream: the Real-Time page's reads come from BigQuery, and the command serves both pages."""
    realtime = data.load_realtime(open_warehouse(settings))
    assert realtime.windows.status is data.Status.READY and len(realtime.windows.frame) > 0
    assert realtime.batches.status is data.Status.READY
    history = data.load_history(open_warehouse(settings))
    assert history.engagement.status is data.Status.MISSING  # no batch run in this project

    port = free_port()
    server = subprocess.Popen(
        [str(CLI), "dashboard", "--port", str(port)],
        env=cli_environment(settings), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not http_ok(f"http://127.0.0.1:{port}/realtime"):
            assert server.poll() is None, server.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the dashboards did not answer within 60 s"
            time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_dash-layout", timeout=10) as layout:
            assert layout.status == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert f"BigQuery project {settings.gcp_project}" in server.stdout.read().decode()


def test_recompute_switches_the_closed_days_to_the_batch_view_in_bigquery(
    settings: Settings, private_kafka_broker: LocalKafkaBroker
) -> None:
    """After the stream: a second query replays the first 150 events of the bucket's streaming/
    prefix (1 and 2 December 2025, days the first query's watermark, on 5 January 2026, has
    closed) into the same archive and tables; `netflix-lambda recompute` then recomputes them from
    the archive on gs:// into BigQuery, reconciles them and refreshes the serving view."""
    replay = settings.with_overrides(
        kafka_bootstrap_servers=private_kafka_broker.bootstrap_servers,
        checkpoint_uri=f"{settings.checkpoint_uri}-replay",
    )

    def cli(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CLI), *arguments], env=cli_environment(replay), cwd=REPO, capture_output=True, text=True, timeout=300
        )

    for command in (["produce", "--rate", "0", "--limit", "150"], ["stream", "--available-now"]):
        done = cli(*command)
        assert done.returncode == 0, done.stderr[-3000:]
    warehouse = open_warehouse(settings)
    realtime = contract.ENGAGEMENT_HEALTH_REALTIME.qualified_name
    batch = contract.ENGAGEMENT_HEALTH_BATCH.qualified_name
    newest = warehouse.query(f"SELECT MAX(max_event_time) AS newest FROM {contract.STREAM_BATCHES.qualified_name}")
    # SPEC section 7: the watermark trails the newest event by 10 minutes; 5 January stays open.
    assert (newest["newest"].iloc[0] - pd.Timedelta(minutes=10)).date() == date(2026, 1, 5)
    closed = [date(2025, 12, 1), date(2025, 12, 2)]

    recomputed = cli("recompute")

    assert recomputed.returncode == 0, recomputed.stdout[-3000:] + recomputed.stderr[-3000:]
    printed = recomputed.stdout
    assert "2 day(s) of the archive, 2025-12-01 to 2025-12-02, in one run" in printed, printed
    assert "recompute succeeded" in printed and "1 of 1 checks passed" in printed, printed
    assert "reconciliation:" in printed and "windows of 2 days agree" in printed, printed

    def sessions_per_day(table: str) -> dict[date, int]:
        per_day = warehouse.query(
            f"SELECT CAST(window_start AS DATE) AS day, SUM(total_sessions) AS sessions FROM {table} GROUP BY day"
        )
        return {pd.Timestamp(day).date(): int(n) for day, n in zip(per_day["day"], per_day["sessions"])}

    # No event of the replay was late: the batch view counts what the speed layer counted, per day.
    speed = sessions_per_day(realtime)
    assert sessions_per_day(batch) == {day: speed[day] for day in closed}
    assert sum(speed[day] for day in closed) > 0
    view = warehouse.query(
        f"SELECT CAST(window_start AS DATE) AS day, source, COUNT(*) AS segments "
        f"FROM {contract.ENGAGEMENT_HEALTH_SERVING} GROUP BY day, source"
    )
    sources = view.groupby(view["day"].map(lambda day: pd.Timestamp(day).date()))["source"].unique().map(sorted)
    assert sources.to_dict() == {**{day: ["batch"] for day in closed}, date(2026, 1, 5): ["speed"]}
