"""Running local servers for tests and tools: free loopback ports, waits with deadlines, logs in
files, and stops that leave no process behind (the emulators, the Spark standalone cluster)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class ServerError(RuntimeError):
    """A server could not be found, exited early, or did not answer before its deadline."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(log_path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    process: subprocess.Popen,
    log_path: Path,
    timeout: float,
    error: type[ServerError] = ServerError,
) -> T:
    """Polls ``probe`` until it returns a value, the process exits, or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    pause = 0.02
    while True:
        result = probe()
        if result is not None:
            return result
        if process.poll() is not None:
            raise error(
                f"{what} exited with code {process.returncode} before it answered; "
                f"log {log_path}:\n{log_tail(log_path)}"
            )
        if time.monotonic() >= deadline:
            raise error(f"{what} did not answer within {timeout:.0f} s; log {log_path}:\n{log_tail(log_path)}")
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


def http_ok(url: str) -> bool | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return True if response.status == 200 else None
    except (urllib.error.URLError, OSError):
        return None


def stop_process_group(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM to the process group (the server and anything it started), SIGKILL after ``grace``."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # The leader is gone; a child that ignored SIGTERM would still be in the group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def log_file(log_path: str | os.PathLike[str] | None, name: str) -> Iterator[Path]:
    """The given log path, or one in a temporary folder that is removed afterwards."""
    if log_path is not None:
        path = Path(log_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as folder:
        yield Path(folder) / f"{name}.log"
