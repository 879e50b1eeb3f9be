"""``netflix-lambda``: the platform's command line (contract section 8).

Each command prints what it did and where; heavy modules are imported by the command that
needs them, so ``netflix-lambda query`` starts no JVM. A user's mistake is one line on stderr
and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import NoReturn

from netflix_core.settings import Settings, load_settings

USAGE_ERROR = 2


def fail(command: str, message: str) -> int:
    print(f"netflix-lambda {command}: {message}", file=sys.stderr)
    return USAGE_ERROR


class CommandLineParser(argparse.ArgumentParser):
    """argparse with the contract's rule for mistakes: one line, not the usage block above it."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: {message} (--help lists what it takes)\n")


def port_number(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"a port is 1 to 65535, not {port}")
    return port


def cannot_listen(host: str, port: int) -> str | None:
    """Why a server could not listen on host:port (taken, or not this machine's address), else None."""
    try:
        with socket.create_server((host, port)):
            return None
    except OSError as error:
        return f"cannot listen on {host}:{port}: {os.strerror(error.errno) if error.errno else error}"


def _generate(args: argparse.Namespace, settings: Settings) -> int:
    from netflix_devtools.datagen import generate

    try:
        summary = generate(
            args.out, users=args.users, movies=args.movies, sessions=args.sessions,
            start=args.start, end=args.end, seed=args.seed,
        )  # fmt: skip
    except ValueError as error:
        return fail("generate", str(error))
    except OSError as error:
        return fail("generate", f"cannot write {args.out}: {error.strerror or error}")
    for file_name, rows in summary.rows.items():
        print(f"wrote {rows:>12,} rows  {Path(summary.out_dir) / file_name}")
    print(f"generated in {summary.seconds:.1f} s")
    return 0


def _kafka(args: argparse.Namespace, settings: Settings) -> int:
    from netflix_devtools.local_kafka import KafkaBrokerError, LocalKafkaBroker

    try:
        broker = LocalKafkaBroker.from_settings(settings)
        if args.action == "start":
            broker.start()
        elif args.action == "stop":
            broker.stop()
    except (KafkaBrokerError, ValueError) as error:  # ValueError: KAFKA_BOOTSTRAP_SERVERS is no host:port
        return fail(f"kafka {args.action}", str(error))
    status = broker.status()
    state = f"running (pid {status.pid})" if status.running else "stopped"
    print(
        f"kafka broker {state} at {status.bootstrap_servers}; data in {settings.kafka_data_dir}; log {status.log_path}"
    )
    for topic, partitions in (status.topics or {}).items():
        print(f"  topic {topic}: {partitions} partitions")
    return 0


def _produce(args: argparse.Namespace, settings: Settings) -> int:
    from producer.command import run

    return run(args, settings)


def _batch(args: argparse.Namespace, settings: Settings) -> int:
    from netflix_cli.batch import UsageError, partition_range, run_batch
    from netflix_core.gcp import GcpError
    from netflix_core.lake import missing_raw_files

    try:
        first, last = partition_range(args.from_month, args.to_month)
        missing = missing_raw_files(settings)
    except (UsageError, GcpError) as error:
        return fail("batch", str(error))
    if missing:
        return fail(
            "batch",
            f"missing raw file(s) {', '.join(missing)} in {settings.raw_uri} "
            "(generate them with `netflix-lambda generate --out DIR`, or set NETFLIX_RAW_URI)",
        )
    return 0 if run_batch(settings, first, last, verbose=args.verbose) else 1


def _recompute(args: argparse.Namespace, settings: Settings) -> int:
    from netflix_cli.batch import UsageError
    from netflix_cli.recompute import parse_day_range, run_recompute

    try:
        first, last = parse_day_range(args.from_day, args.to_day)
        return run_recompute(settings, first, last, verbose=args.verbose)
    except UsageError as error:
        return fail("recompute", str(error))


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from netflix_cli.demo import Demo

    if settings.is_prod:
        return fail("demo", "runs on the embedded defaults; unset NETFLIX_ENV or set it to local")
    if args.sessions <= 0 or args.rate <= 0:
        return fail("demo", "--sessions and --rate must be positive")
    problem = cannot_listen("127.0.0.1", args.port)
    if problem:
        return fail("demo", f"{problem} (the dashboards' port, --port)")
    return Demo(settings, args.sessions, args.rate, args.port).run()


def _stream(args: argparse.Namespace, settings: Settings) -> int:
    from spark_streaming.job import main as stream_main

    return stream_main(settings, available_now=args.available_now, trigger_seconds=args.trigger)


def _query(args: argparse.Namespace, settings: Settings) -> int:
    from netflix_core.warehouse import READER_LOCK_TIMEOUT_SECONDS, WarehouseError, open_warehouse

    if not settings.is_prod and not Path(settings.duckdb_path).exists():
        return fail("query", f"no warehouse at {settings.duckdb_path} yet: run `netflix-lambda batch` first")
    try:
        frame = open_warehouse(settings, READER_LOCK_TIMEOUT_SECONDS).query(args.sql)
    except WarehouseError as error:
        return fail("query", str(error))
    if args.format == "csv":
        sys.stdout.write(frame.to_csv(index=False))
    elif args.format == "json":
        sys.stdout.write(frame.to_json(orient="records", date_format="iso", lines=True))
    else:
        print(frame.to_string(index=False) if len(frame) else "(no rows)")
    return 0


def _dashboard(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    from netflix_core.warehouse import READER_LOCK_TIMEOUT_SECONDS, WarehouseError, open_warehouse
    from netflix_dashboard import serve

    problem = cannot_listen(args.host, args.port)
    if problem:
        return fail("dashboard", problem)
    try:
        warehouse = open_warehouse(settings, READER_LOCK_TIMEOUT_SECONDS)
    except WarehouseError as error:
        return fail("dashboard", str(error))
    # Werkzeug logs every request; the dashboards' own address is the one line worth printing.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    print(
        f"dashboards on http://{args.host}:{args.port}/realtime and http://{args.host}:{args.port}/history "
        f"(warehouse {settings.warehouse_description}); Ctrl-C stops them",
        flush=True,
    )
    serve(warehouse, host=args.host, port=args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from producer.command import add_arguments as add_produce_arguments
    from spark_streaming.job import add_arguments as add_stream_arguments

    parser = CommandLineParser(prog="netflix-lambda", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('netflix-lambda')}")
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
    add_produce_arguments(produce)
    produce.set_defaults(handler=_produce)

    batch = commands.add_parser("batch", help="materialize the batch layer through Dagster, in one run")
    batch.add_argument("--from", dest="from_month", default=None, help="first month, YYYY-MM")
    batch.add_argument("--to", dest="to_month", default=None, help="last month, YYYY-MM (inclusive)")
    batch.add_argument("--verbose", action="store_true", help="also print Dagster's event log")
    batch.set_defaults(handler=_batch)

    recompute = commands.add_parser(
        "recompute", help="recompute the speed layer's days from its archive through Dagster, then the serving view"
    )
    recompute.add_argument("--from", dest="from_day", default=None, help="first day, YYYY-MM-DD")
    recompute.add_argument(
        "--to", dest="to_day", default=None, help="last day, YYYY-MM-DD (inclusive; default: the last closed day)"
    )
    recompute.add_argument("--verbose", action="store_true", help="also print Dagster's event log")
    recompute.set_defaults(handler=_recompute)

    demo = commands.add_parser(
        "demo", help="the whole system end to end on the embedded defaults, until Ctrl-C (start here)"
    )
    demo.add_argument("--sessions", type=int, default=20_000, help="watch sessions to generate (default 20,000)")
    demo.add_argument("--rate", type=float, default=20.0, help="live events per second (default 20)")
    demo.add_argument("--port", type=port_number, default=8501, help="the dashboards' port (default 8501)")
    demo.set_defaults(handler=_demo)

    stream = commands.add_parser("stream", help="run the streaming query")
    add_stream_arguments(stream)
    stream.set_defaults(handler=_stream)

    dashboard = commands.add_parser("dashboard", help="serve the Real-Time Engagement and Historical Trends dashboards")
    dashboard.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    dashboard.add_argument("--port", type=port_number, default=8501)
    dashboard.set_defaults(handler=_dashboard)

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
        return fail(args.command, str(error))
    # Dagster's Beta and Preview notices are for the code location's authors, not its users.
    warnings.filterwarnings("ignore", module="dagster")
    try:
        return args.handler(args, settings)
    except KeyboardInterrupt:
        print(f"netflix-lambda {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
