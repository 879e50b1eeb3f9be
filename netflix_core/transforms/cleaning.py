"""Cleaning rules of SPEC section 4, one definition for both layers.

Every raw row ends in exactly one of three places: the clean table, ``rejected_rows`` with the
first reason that applies (in the order of ``REJECT_REASONS``), or collapsed into an identical
row (an exact duplicate, counted but not rejected).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, DateType, DoubleType, IntegerType, StringType, TimestampType

from netflix_core.contract import (
    ACTIONS,
    PRIMARY_KEYS,
    RAW_COLUMNS,
    REQUIRED_COLUMNS,
    REQUIRED_DATES,
)
from netflix_core.schemas import RAW_SCHEMAS
from netflix_core.transforms.raw_files import CORRUPT_RECORD

RAW = "_raw"
RAW_JSON = "_raw_json"
REASON = "_reject_reason"
EXACT_DUPLICATE = "_exact_duplicate"
FINGERPRINT = "_fingerprint"
MONTH = "month"

# 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS[.ffffff]'; Spark's cast alone would also take '2025' or '2025-1-5'.
_DATE_TEXT = r"\d{4}-\d{2}-\d{2}"
_TIME_TEXT = r" \d{2}:\d{2}:\d{2}(\.\d{1,6})?"
DATETIME_TEXT = rf"^{_DATE_TEXT}({_TIME_TEXT})?$"
TIMESTAMP_TEXT = rf"^{_DATE_TEXT}{_TIME_TEXT}$"


def parse_timestamp(text: Column, time_required: bool = False) -> Column:
    """The text as a timestamp, NULL when it is not one (an impossible date such as 2024-02-30 too)."""
    return F.when(text.rlike(TIMESTAMP_TEXT if time_required else DATETIME_TEXT), text.cast(TimestampType()))


def parse_double(text: Column) -> Column:
    # The token NaN stands for a missing number in the dataset, as in the streaming events.
    number = text.cast(DoubleType())
    return F.when(~F.isnan(number), number)


def _parse(text: Column, dtype) -> Column:
    if isinstance(dtype, TimestampType):
        return parse_timestamp(text)
    if isinstance(dtype, DateType):
        return F.to_date(parse_timestamp(text))
    if isinstance(dtype, DoubleType):
        return parse_double(text)
    if isinstance(dtype, IntegerType):
        number = parse_double(text)
        return F.when(number == F.floor(number), number.cast(IntegerType()))
    if isinstance(dtype, BooleanType):
        word = F.lower(F.trim(text))
        return F.when(word == "true", True).when(word == "false", False)
    return text


def _missing(text: Column) -> Column:
    """No value: NULL, blank, or the dataset's missing-number token NaN."""
    # Only text that spells NaN is cast: a cast that fails (every date, every true/false) costs
    # the JVM an exception, and that was most of the time spent cleaning a file.
    could_be_nan = F.lower(text).contains("nan")
    return is_blank(text) | F.coalesce(could_be_nan & F.isnan(text.cast(DoubleType())), F.lit(False))


def _unparseable(text: Column, parsed: Column) -> Column:
    """A value is there but is not of its type."""
    return ~_missing(text) & parsed.isNull()


def _any(conditions: list[Column]) -> Column:
    return reduce(lambda left, right: left | right, conditions, F.lit(False))


def is_blank(column: Column) -> Column:
    """NULL, empty or only spaces: a key like that is missing."""
    return column.isNull() | (F.trim(column) == "")


@dataclass(frozen=True)
class CleanResult:
    """A cleaned input: every raw row labeled once, from which both outputs are read."""

    table: str
    labeled: DataFrame
    clean_columns: tuple[str, ...]

    @property
    def clean(self) -> DataFrame:
        return self.labeled.filter(~F.col(EXACT_DUPLICATE) & F.col(REASON).isNull()).select(*self.clean_columns)

    @property
    def rejected(self) -> DataFrame:
        """Rejected rows in the shape of the lake table ``rejected_rows`` (without run_id)."""
        month = F.col(MONTH) if MONTH in self.labeled.columns else F.lit(None).cast(DateType())
        return self.labeled.filter(~F.col(EXACT_DUPLICATE) & F.col(REASON).isNotNull()).select(
            F.lit(self.table).alias("source_table"),
            F.col(REASON).alias("reason"),
            F.col(RAW_JSON).alias("raw_row"),
            month.alias(MONTH),
        )

    def reading(self, labeled: DataFrame) -> CleanResult:
        """The same result read from ``labeled``, a materialized copy of the labeled rows."""
        return CleanResult(self.table, labeled, self.clean_columns)

    def outcome_counts(self, by_month: bool = False) -> list[dict]:
        """Rows per outcome (``clean``, ``exact_duplicate`` or a reject reason), optionally per month."""
        outcome = F.when(F.col(EXACT_DUPLICATE), "exact_duplicate").otherwise(F.coalesce(F.col(REASON), F.lit("clean")))
        keys = [outcome.alias("outcome")] + ([F.col(MONTH)] if by_month else [])
        return [row.asDict() for row in self.labeled.groupBy(*keys).count().collect()]


def _raw_json() -> Column:
    """The raw row as a JSON object with every column of the file, a blank field as null; the
    unparsed line too (``_corrupt_record``) when it had too few or too many fields."""
    raw, keep_nulls = F.col(RAW), {"ignoreNullFields": "false"}
    return F.when(raw[CORRUPT_RECORD].isNull(), F.to_json(raw.dropFields(CORRUPT_RECORD), keep_nulls)).otherwise(
        F.to_json(raw, keep_nulls)
    )


def _result(table: str, labeled: DataFrame, clean_columns: tuple[str, ...]) -> CleanResult:
    """Freezes the labels: the raw text survives only as JSON, and only on rejected rows."""
    rejected = F.col(REASON).isNotNull() & ~F.col(EXACT_DUPLICATE)
    finished = labeled.withColumn(RAW_JSON, F.when(rejected, _raw_json())).drop(RAW)
    return CleanResult(table, finished, clean_columns)


def _row_fingerprint(table: str) -> Column:
    # NULL is hashed as a marker: Spark's hash skips NULLs, which would equate (a, NULL) and (NULL, a).
    return F.xxhash64(*[F.coalesce(F.col(c), F.lit("\u0000")) for c in (*RAW_COLUMNS[table], CORRUPT_RECORD)])


def _label(
    raw: DataFrame,
    table: str,
    keep_first: list[tuple[str, bool]],
    bad_values: list[Column] | None = None,
) -> DataFrame:
    """Labels each row: exact duplicate, or first reject reason up to ``duplicate_key``, or kept.

    One window over the key does both jobs. Rows sort valid-first, then by the ``keep_first``
    (column, descending) pairs, the rule that says which duplicate survives, then by their raw
    text column by column (NULL first), so identical rows are neighbours, found by a 64-bit
    fingerprint, and the survivor is the first row. Only the raw text goes through the shuffle;
    typed columns are parsed after it.
    """
    schema = RAW_SCHEMAS[table]
    typed = {f.name: _parse(F.col(f.name), f.dataType) for f in schema}
    dates = [f.name for f in schema if isinstance(f.dataType, (DateType, TimestampType))]
    values = [f.name for f in schema if f.name not in dates and not isinstance(f.dataType, StringType)]
    early_reason = (
        F.when(_any([is_blank(F.col(c)) for c in REQUIRED_COLUMNS[table]]), "missing_key")
        .when(
            _any([_unparseable(F.col(c), typed[c]) for c in dates])
            | _any([_missing(F.col(c)) for c in REQUIRED_DATES.get(table, [])]),
            "bad_date",
        )
        .when(
            _any([_unparseable(F.col(c), typed[c]) for c in values])
            | F.col(CORRUPT_RECORD).isNotNull()
            | _any(bad_values or []),
            "bad_value",
        )
    )
    order_columns = {f"_order_{name}": typed[name] for name, _ in keep_first}
    by_key = Window.partitionBy(PRIMARY_KEYS[table]).orderBy(
        F.col(REASON).isNull().desc(),
        *[
            F.col(f"_order_{name}").desc_nulls_last() if descending else F.col(f"_order_{name}").asc_nulls_last()
            for name, descending in keep_first
        ],
        *[F.col(c).asc_nulls_first() for c in (*RAW_COLUMNS[table], CORRUPT_RECORD)],
    )
    # Both window functions in one projection, so Spark sorts the rows once.
    return (
        raw.withColumns({REASON: early_reason, FINGERPRINT: _row_fingerprint(table), **order_columns})
        .withColumns(
            {"_previous_fingerprint": F.lag(FINGERPRINT).over(by_key), "_position": F.row_number().over(by_key)}
        )
        .select(
            F.struct(*RAW_COLUMNS[table], CORRUPT_RECORD).alias(RAW),
            *[typed[f.name].alias(f.name) for f in schema],
            F.when(F.col(REASON).isNull() & (F.col("_position") > 1), "duplicate_key")
            .otherwise(F.col(REASON))
            .alias(REASON),
            F.coalesce(F.col("_previous_fingerprint") == F.col(FINGERPRINT), F.lit(False)).alias(EXACT_DUPLICATE),
        )
    )


def _null_outside(
    column: str, low: float | None = None, high: float | None = None, low_inclusive: bool = True
) -> Column:
    value = F.col(column)
    ok = F.lit(True)
    if low is not None:
        ok = ok & ((value >= low) if low_inclusive else (value > low))
    if high is not None:
        ok = ok & (value <= high)
    return F.when(ok, value)


def _reject_unknown(labeled: DataFrame, column: str, known: DataFrame, reason: str) -> DataFrame:
    """``reason`` for surviving rows whose ``column`` is not a key of the clean dimension ``known``."""
    flag = f"_known_{column}"
    keys = known.select(F.col(column).alias(flag + "_key")).withColumn(flag, F.lit(True))
    joined = labeled.join(F.broadcast(keys), labeled[column] == keys[flag + "_key"], "left")
    return joined.withColumn(
        REASON,
        F.when(F.col(REASON).isNull() & F.col(flag).isNull(), reason).otherwise(F.col(REASON)),
    ).drop(flag, flag + "_key")


def _month_of(column: str) -> Column:
    return F.trunc(F.col(column), "month")


def clean_users(raw: DataFrame) -> CleanResult:
    labeled = _label(raw, "users", keep_first=[("created_at", True), ("email", False)]).withColumns(
        {
            "age": _null_outside("age", 13, 100),
            "monthly_spend": _null_outside("monthly_spend", 0),
            "household_size": _null_outside("household_size", 0, low_inclusive=False),
            "gender": F.coalesce(F.col("gender"), F.lit("Unknown")),
        }
    )
    return _result("users", labeled, tuple(RAW_COLUMNS["users"]))


def clean_movies(raw: DataFrame) -> CleanResult:
    labeled = _label(raw, "movies", keep_first=[]).withColumns(
        {
            "duration_minutes": _null_outside("duration_minutes", 0, low_inclusive=False),
            "imdb_rating": _null_outside("imdb_rating", 0, 10),
        }
    )
    return _result("movies", labeled, tuple(RAW_COLUMNS["movies"]))


def clean_watch_history(raw: DataFrame, users: DataFrame, movies: DataFrame) -> CleanResult:
    """Clean sessions; ``users`` and ``movies`` are the clean dimensions (only their keys are used)."""
    labeled = _label(
        raw,
        "watch_history",
        keep_first=[("watch_date", True)],
        bad_values=[F.col("action").isNull() | ~F.col("action").isin(*ACTIONS)],
    ).withColumns(
        {
            "watch_duration_minutes": _null_outside("watch_duration_minutes", 0),
            "progress_percentage": _null_outside("progress_percentage", 0, 100),
            MONTH: _month_of("watch_date"),
        }
    )
    labeled = _reject_unknown(labeled, "user_id", users, "unknown_user")
    labeled = _reject_unknown(labeled, "movie_id", movies, "unknown_movie")
    return _result("watch_history", labeled, (*RAW_COLUMNS["watch_history"], MONTH))


def clean_reviews(raw: DataFrame, users: DataFrame, movies: DataFrame) -> CleanResult:
    labeled = _label(
        raw,
        "reviews",
        keep_first=[("review_date", True)],
        bad_values=[F.col("rating").isNull() | ~F.col("rating").between(1, 5)],
    ).withColumn(MONTH, _month_of("review_date"))
    labeled = _reject_unknown(labeled, "user_id", users, "unknown_user")
    labeled = _reject_unknown(labeled, "movie_id", movies, "unknown_movie")
    return _result("reviews", labeled, (*RAW_COLUMNS["reviews"], MONTH))


def clean_search_logs(raw: DataFrame) -> CleanResult:
    labeled = _label(raw, "search_logs", keep_first=[("search_date", True)]).withColumn(MONTH, _month_of("search_date"))
    return _result("search_logs", labeled, (*RAW_COLUMNS["search_logs"], MONTH))
