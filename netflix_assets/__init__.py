"""Engagement analytics for a streaming service: the Dagster code location.

Importing this package is cheap: Dagster definitions live in ``netflix_assets.definitions``,
so the Spark streaming job and the CLI can import the shared transforms without loading Dagster.
"""
