# Entry points; each one sets up what it needs first (scripts/setup.sh is fast when nothing changed).
PY := .venv/bin/python
CLI := .venv/bin/netflix-lambda

.PHONY: setup test test-emulators batch dagster bench bench-stream

setup:
	bash scripts/setup.sh

test: setup
	$(PY) -m pytest

# The prod path's building blocks (GCS, Spark on gs://, BigQuery) against local emulators alone.
test-emulators: setup
	$(PY) -m pytest -m emulators

# Sample data (generated once into data/raw), then the whole batch layer into data/warehouse.duckdb.
batch: setup
	@test -f data/raw/watch_history.csv || $(CLI) generate --out data/raw
	$(CLI) batch

dagster: setup
	DAGSTER_HOME=$${DAGSTER_HOME:-$$PWD/.dagster_home} && mkdir -p $$DAGSTER_HOME && \
	  DAGSTER_HOME=$$DAGSTER_HOME .venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1

bench: setup
	$(PY) benchmarks/batch.py

bench-stream: setup
	$(PY) benchmarks/streaming.py
