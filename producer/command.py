"""The producer's command-line options and entry point, shared by `netflix-lambda produce` and
`python -m producer`."""

from __future__ import annotations

import argparse
import sys

from netflix_core.gcp import GcpError
from netflix_core.kafka import NO_BROKER_HINT
from netflix_core.settings import Settings
from producer.producer import NoBrokerError, event_files, produce


def non_negative_rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of events per second: {text!r}") from None
    if rate < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (no limit) or more, not {text}")
    return rate


def positive_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if count <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        default=None,
        help=(
            "folder (or gs://BUCKET/PREFIX) of JSON-lines events or a generator's output "
            "(default: NETFLIX_EVENTS_URI, which is the bucket's streaming/ prefix in prod, else NETFLIX_RAW_URI)"
        ),
    )
    parser.add_argument("--rate", type=non_negative_rate, default=5.0, help="events per second, 0 for no limit")
    parser.add_argument("--limit", type=positive_count, default=None, help="stop after this many events")
    parser.add_argument("--live", action="store_true", help="stamp each event with the time it is sent")


def run(args: argparse.Namespace, settings: Settings) -> int:
    source = args.source or settings.events_uri or settings.raw_uri
    try:
        event_files(source, settings)
    except FileNotFoundError:
        print(
            f"produce: no events at {source}: pass --source DIR (JSON-lines files or a watch_history.csv)",
            file=sys.stderr,
        )
        return 2
    except GcpError as error:
        print(f"produce: cannot read {source}: {error}", file=sys.stderr)
        return 2
    try:
        summary = produce(
            settings.kafka_bootstrap_servers,
            source,
            rate=args.rate,
            limit=args.limit,
            live=args.live,
            settings=settings,
        )
    except NoBrokerError:
        print(
            f"produce: no Kafka broker answers at {settings.kafka_bootstrap_servers}: {NO_BROKER_HINT}", file=sys.stderr
        )
        return 2
    return 0 if summary.failed == 0 else 1
