"""``netflix-lambda``: the platform's command line (SPEC section 8).

Each command prints what it did and where; heavy modules are imported by the command that
needs them, so ``netflix-lambda query`` does not start a JVM.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from netflix_assets.settings import Settings, load_settings


def _generate(args: argparse.Namespace, settings: Settings) -> int:
    from netflix_assets.datagen import generate

    summary = generate(
        args.out, users=args.users, movies=args.movies, sessions=args.sessions,
        start=args.start, end=args.end, seed=args.seed,
    )
    for file_name, rows in summary.rows.items():
        print(f"wrote {rows:>12,} rows  {Path(summary.out_dir) / file_name}")
    print(f"generated in {summary.seconds:.1f} s")
    return 0


def _kafka(args: argparse.Namespace, settings: Settings) -> int:
    from netflix_assets.local_kafka import KafkaBrokerError, LocalKafkaBroker

    broker = LocalKafkaBroker.from_settings(settings)
    try:
        if args.action == "start":
            broker.start()
        elif args.action == "stop":
            broker.stop()
    except KafkaBrokerError as error:
        print(f"netflix-lambda kafka {args.action}: {error}", file=sys.stderr)
        return 1
    status = broker.status()
    state = f"running (pid {status.pid})" if status.running else "stopped"
    print(f"kafka broker {state} at {status.bootstrap_servers}; data in {settings.kafka_data_dir}; log {status.log_path}")
    for topic, partitions in (status.topics or {}).items():
        print(f"  topic {topic}: {partitions} partitions")
    return 0


def _produce(args: argparse.Namespace, settings: Settings) -> int:
    from kafka.errors import NoBrokersAvailable

    from producer.producer import produce

    try:
        summary = produce(
            settings.kafka_bootstrap_servers, Path(args.source), rate=args.rate, limit=args.limit, live=args.live
        )
    except NoBrokersAvailable:
        print(
            f"netflix-lambda produce: no Kafka broker answers at {settings.kafka_bootstrap_servers} "
            "(start the local one with `netflix-lambda kafka start`)",
            file=sys.stderr,
        )
        return 2
    return 0 if summary.failed == 0 else 1


def _batch(args: argparse.Namespace, settings: Settings) -> int:
    from netflix_assets.batch_run import run_batch

    return 0 if run_batch(settings, args.from_month, args.to_month) else 1


def _stream(args: argparse.Namespace, settings: Settings) -> int:
    from spark_streaming.job import main as stream_main

    return stream_main(settings, available_now=args.available_now, trigger_seconds=args.trigger)


def _query(args: argparse.Namespace, settings: Settings) -> int:
    from netflix_assets.resources import DuckDBWarehouse

    if settings.is_prod:
        print("netflix-lambda query reads the local DuckDB warehouse; use the BigQuery console in prod", file=sys.stderr)
        return 2
    if not Path(settings.duckdb_path).exists():
        print(f"no warehouse at {settings.duckdb_path} yet: run `netflix-lambda batch` first", file=sys.stderr)
        return 1
    frame = DuckDBWarehouse.from_settings(settings).query(args.sql)
    if args.format == "csv":
        sys.stdout.write(frame.to_csv(index=False))
    elif args.format == "json":
        sys.stdout.write(frame.to_json(orient="records", date_format="iso", lines=True))
    else:
        print(frame.to_string(index=False) if len(frame) else "(no rows)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="netflix-lambda", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write the five raw CSVs at any scale")
    generate.add_argument("--out", required=True, help="output folder")
    generate.add_argument("--users", type=int, default=10_000)
    generate.add_argument("--movies", type=int, default=1_000)
    generate.add_argument("--sessions", type=int, default=100_000)
    generate.add_argument("--start", default="2024-01", help="first month, YYYY-MM")
    generate.add_argument("--end", default="2025-12", help="last month, YYYY-MM")
    generate.add_argument("--seed", type=int, default=42)
    generate.set_defaults(handler=_generate)

    kafka = commands.add_parser("kafka", help="the local Apache Kafka broker (KRaft)")
    kafka.add_argument("action", choices=["start", "stop", "status"])
    kafka.set_defaults(handler=_kafka)

    produce = commands.add_parser("produce", help="replay watch events into Kafka")
    produce.add_argument("--source", default=None, help="folder of JSON-lines events or a generator's output")
    produce.add_argument("--rate", type=float, default=5.0, help="events per second, 0 for no limit")
    produce.add_argument("--limit", type=int, default=None)
    produce.add_argument("--live", action="store_true", help="stamp each event with the time it is sent")
    produce.set_defaults(handler=_produce)

    batch = commands.add_parser("batch", help="materialize the batch layer through Dagster, in one run")
    batch.add_argument("--from", dest="from_month", default=None, help="first month, YYYY-MM")
    batch.add_argument("--to", dest="to_month", default=None, help="last month, YYYY-MM (inclusive)")
    batch.set_defaults(handler=_batch)

    stream = commands.add_parser("stream", help="run the streaming query")
    stream.add_argument("--available-now", action="store_true", help="process what is in the topic, then stop")
    stream.add_argument("--trigger", type=float, default=10.0, help="micro-batch trigger in seconds")
    stream.set_defaults(handler=_stream)

    query = commands.add_parser("query", help="run SQL against the warehouse")
    query.add_argument("sql")
    query.add_argument("--format", choices=["csv", "json", "table"], default="table")
    query.set_defaults(handler=_query)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ValueError as error:
        print(f"netflix-lambda: {error}", file=sys.stderr)
        return 2
    if args.command == "produce" and args.source is None:
        args.source = settings.raw_uri
    return args.handler(args, settings)


if __name__ == "__main__":
    sys.exit(main())
