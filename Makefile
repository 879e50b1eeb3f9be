# Entry points; each one sets up what it needs first (scripts/setup.sh is fast when nothing changed).
PY := .venv/bin/python
CLI := .venv/bin/netflix-lambda
# The Dagster instance that `netflix-lambda batch` writes to and `dagster dev` shows.
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: setup lint test unit test-emulators demo batch dagster bench bench-stream bench-throughput bench-scale

setup:
	@bash scripts/setup.sh

# Ruff (lint and format) and the import contracts of pyproject.toml (the layers point one way).
lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports --no-cache

# --durations: the slowest tests at the end of the log, to see where CI's time goes.
test: lint
	$(PY) -m pytest --durations=15

# The fast tier: no JVM, no broker, no Dagster run.
unit: setup
	$(PY) -m pytest -m unit

# The prod path's building blocks (GCS, Spark on gs://, BigQuery) against local emulators alone.
test-emulators: setup
	$(PY) -m pytest -m emulators

# The whole system end to end under data/ (generate, batch, Kafka, stream, live events, recompute,
# dashboards on http://127.0.0.1:8501) until Ctrl-C, which stops everything it started.
demo: setup
	@$(CLI) demo

# Sample data (generated once into data/raw), then the whole batch layer into data/warehouse.duckdb.
batch: setup
	@test -f data/raw/watch_history.csv || $(CLI) generate --out data/raw
	@$(CLI) batch

dagster: setup
	@$(PY) -m netflix_cli.instance
	.venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1

bench: setup
	$(PY) benchmarks/batch.py

bench-stream: setup
	$(PY) benchmarks/streaming.py

# The highest rate the speed layer keeps (5,000 to 30,000 events/s in steps of five minutes).
bench-throughput: setup
	$(PY) benchmarks/streaming.py --find-max-rate

# The backfill at 1M, 10M and 30M sessions on local[*] and on a loopback standalone cluster;
# writes docs/benchmarks/scale-curve.md and .svg.
bench-scale: setup
	$(PY) benchmarks/scale.py
