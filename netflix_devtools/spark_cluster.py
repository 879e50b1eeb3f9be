"""A Spark standalone cluster on this machine: one master and N workers, all on 127.0.0.1.

The processes are the ones docker-compose.yml runs in containers, started with ``spark-class``
from this virtualenv (pyspark ships the standalone master and worker)::

    spark-class org.apache.spark.deploy.master.Master --host 127.0.0.1 --port P --webui-port W
    spark-class org.apache.spark.deploy.worker.Worker spark://127.0.0.1:P --host 127.0.0.1 ...

Each process binds 127.0.0.1 only (SPARK_LOCAL_IP, which also moves the web UIs off 0.0.0.0),
on free ports, with its files under one work folder; ``standalone_cluster`` waits until the
master reports every worker ALIVE, yields the master URL for ``SPARK_MASTER``, and stops the
workers, then the master, on exit (SIGTERM to each process group, SIGKILL after a grace period).
A driver that uses the cluster must be reachable from it: run it with SPARK_LOCAL_IP=127.0.0.1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from netflix_devtools.processes import ServerError, free_port, log_tail, stop_process_group, wait_for

LOOPBACK = "127.0.0.1"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


class SparkClusterError(ServerError):
    """The standalone master or a worker did not come up."""


@dataclasses.dataclass(frozen=True)
class StandaloneCluster:
    master_url: str  # spark://127.0.0.1:PORT, the value for SPARK_MASTER
    web_ui: str  # the master's status page; /json/ is its state as JSON
    work_dir: Path
    # The master's and the workers' process ids, each leading its process group (a worker's
    # executors are its children): what a benchmark samples to measure the cluster's memory.
    pids: tuple[int, ...] = ()

    def state(self) -> dict:
        with urllib.request.urlopen(f"{self.web_ui}/json/", timeout=5) as response:
            return json.load(response)

    def alive_workers(self) -> list[dict]:
        return [worker for worker in self.state()["workers"] if worker["state"] == "ALIVE"]


def spark_class() -> Path:
    """``spark-class`` of the virtualenv that runs this code (installed with pyspark)."""
    path = Path(sys.executable).with_name("spark-class")
    if not path.is_file():
        raise SparkClusterError(f"no spark-class beside {sys.executable}: is pyspark installed in this virtualenv?")
    return path


def loopback_environment(work_dir: Path) -> dict[str, str]:
    """The environment of a cluster process: loopback only, files under ``work_dir``."""
    return {
        **os.environ,
        "SPARK_LOCAL_IP": LOOPBACK,
        "SPARK_LOCAL_DIRS": str(work_dir / "local"),
        "SPARK_LOG_DIR": str(work_dir / "logs"),
        "SPARK_PID_DIR": str(work_dir),
        # Python workers run this interpreter, whatever the driver's PATH says.
        "PYSPARK_PYTHON": sys.executable,
    }


def _start(arguments: list[str], work_dir: Path, log_path: Path) -> subprocess.Popen:
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            [str(spark_class()), *arguments],
            cwd=work_dir,
            env=loopback_environment(work_dir),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@contextlib.contextmanager
def standalone_cluster(
    work_dir: str | os.PathLike[str],
    workers: int = 2,
    cores_per_worker: int = 1,
    memory_per_worker: str = "1g",
    timeout: float = 120.0,
) -> Iterator[StandaloneCluster]:
    """Runs a master and ``workers`` workers; yields the cluster once every worker is ALIVE."""
    work = Path(work_dir).resolve()
    for folder in ("local", "logs", "workers"):
        (work / folder).mkdir(parents=True, exist_ok=True)
    port, web_port = free_port(), free_port()
    cluster = StandaloneCluster(f"spark://{LOOPBACK}:{port}", f"http://{LOOPBACK}:{web_port}", work)
    master_log = work / "logs" / "master.log"
    processes: list[subprocess.Popen] = []
    worker_logs: list[tuple[subprocess.Popen, Path]] = []

    def all_workers_alive() -> bool | None:
        for worker, log in worker_logs:
            if worker.poll() is not None:
                raise SparkClusterError(
                    f"a Spark worker exited with code {worker.returncode}; log {log}:\n{log_tail(log)}"
                )
        return True if len(cluster.alive_workers()) >= workers else None

    try:
        master = _start(
            [MASTER_CLASS, "--host", LOOPBACK, "--port", str(port), "--webui-port", str(web_port)], work, master_log
        )
        processes.append(master)
        wait_for("the Spark master", lambda: _answers(cluster), master, master_log, timeout, SparkClusterError)
        for number in range(workers):
            worker_log = work / "logs" / f"worker-{number}.log"
            worker_dir = work / "workers" / str(number)
            worker_dir.mkdir(exist_ok=True)
            arguments = [
                WORKER_CLASS, cluster.master_url,
                "--host", LOOPBACK,
                "--port", str(free_port()),
                "--webui-port", str(free_port()),
                "--cores", str(cores_per_worker),
                "--memory", memory_per_worker,
                "--work-dir", str(worker_dir),
            ]  # fmt: skip
            processes.append(_start(arguments, work, worker_log))
            worker_logs.append((processes[-1], worker_log))
        wait_for(f"{workers} Spark workers", all_workers_alive, master, master_log, timeout, SparkClusterError)
        yield dataclasses.replace(cluster, pids=tuple(process.pid for process in processes))
    finally:
        # Workers first: a worker whose master went away keeps retrying to reconnect.
        for process in reversed(processes):
            stop_process_group(process)


def _answers(cluster: StandaloneCluster) -> bool | None:
    try:
        cluster.state()
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return True
