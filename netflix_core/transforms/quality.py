"""Data-quality measures of contract section 9, computed from a DataFrame in hand, in one pass.

The batch assets measure the table they just wrote; the speed layer uses the key
measure to refuse a dimension that would multiply the events joined to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


@dataclass(frozen=True)
class QualityMeasures:
    rows: int
    null_keys: int = 0
    duplicate_keys: int = 0
    # Per column: rows whose non-NULL value is not accepted / lies outside its range.
    unexpected_values: dict[str, int] = field(default_factory=dict)
    out_of_range: dict[str, int] = field(default_factory=dict)

    @property
    def keys_valid(self) -> bool:
        return self.null_keys == 0 and self.duplicate_keys == 0

    def key_metadata(self) -> dict[str, int]:
        return {"rows": self.rows, "null_keys": self.null_keys, "duplicate_keys": self.duplicate_keys}


def _count_where(condition: Column) -> Column:
    return F.sum(condition.cast("long"))


def measure_quality(
    frame: DataFrame,
    key: str | None = None,
    accepted: dict[str, tuple[str, ...]] | None = None,
    ranges: dict[str, tuple[float, float]] | None = None,
) -> QualityMeasures:
    """Row count, and the key's NULLs and duplicates, unexpected values and out-of-range values."""
    accepted, ranges = accepted or {}, ranges or {}
    measures = [F.count(F.lit(1)).alias("rows")]
    if key:
        measures += [
            F.count_distinct(F.col(key)).alias("distinct_keys"),
            _count_where(F.col(key).isNull()).alias("null_keys"),
        ]
    measures += [
        _count_where(F.col(column).isNotNull() & ~F.col(column).isin(*values)).alias(f"accepted_{column}")
        for column, values in accepted.items()
    ]
    measures += [
        _count_where(~F.col(column).between(low, high)).alias(f"range_{column}")
        for column, (low, high) in ranges.items()
    ]
    row = frame.agg(*measures).first()
    rows = row["rows"]
    null_keys = (row["null_keys"] or 0) if key else 0
    return QualityMeasures(
        rows=rows,
        null_keys=null_keys,
        duplicate_keys=rows - null_keys - row["distinct_keys"] if key else 0,
        unexpected_values={column: row[f"accepted_{column}"] or 0 for column in accepted},
        out_of_range={column: row[f"range_{column}"] or 0 for column in ranges},
    )
