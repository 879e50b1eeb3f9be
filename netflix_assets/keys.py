"""Asset keys: the contract's dataset (or layer) as the prefix, the table as the name."""

import dagster as dg

from netflix_core.contract import PROCESSED, SERVING, STREAMING, WATCH_EVENTS_TOPIC


def raw_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", table])


def lake_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["lake", table])


def processed_key(table: str) -> dg.AssetKey:
    return dg.AssetKey([PROCESSED, table])


def streaming_key(table: str) -> dg.AssetKey:
    return dg.AssetKey([STREAMING, table])


def serving_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([SERVING, name])


TOPIC_KEY = dg.AssetKey(["kafka", WATCH_EVENTS_TOPIC])
