"""Wall time and peak memory of a command and all its descendants (the Spark JVM included), and
what the benchmark scripts share on the command line: PASS/MISS and one-line usage errors."""

from __future__ import annotations

import argparse
import os
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
GIB = 1024**3
# The batch layer's memory target (issue 9), for the backfill and the scale curve alike.
TARGET_PEAK_GIB = 6


@dataclass(frozen=True)
class Measurement:
    seconds: float
    peak_rss_bytes: int
    returncode: int


def verdict(met: bool) -> str:
    return "PASS" if met else "MISS"


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a user's mistake as one line on stderr (exit code 2), not a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _children(pid: int) -> list[int]:
    found = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:  # the process ended while we looked
        return found
    for task in tasks:
        try:
            found.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def tree_rss_bytes(root: int) -> int:
    """Resident memory of ``root`` and every descendant, summed."""
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES
        except OSError:
            continue
        pending.extend(_children(pid))
    return total


def run_measured(
    command: list[str], env: dict[str, str], log_path: Path, interval: float = 0.2, also: Sequence[int] = ()
) -> Measurement:
    """Runs ``command`` with its output in ``log_path``, sampling the process tree's memory.

    The trees of the processes in ``also`` (a Spark cluster's master and workers, which run the
    command's executors) are added to each sample: the peak is that of their sum.
    """
    peak = 0
    started = time.monotonic()
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, sum(tree_rss_bytes(pid) for pid in (process.pid, *also)))
                done.wait(interval)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        returncode = process.wait()
        done.set()
        sampler.join()
    return Measurement(time.monotonic() - started, peak, returncode)
