"""Cleaning rules of SPEC section 4, one definition for both layers.

Every raw row ends in exactly one of three places: the clean table, ``rejected_rows`` with the
first reason that applies (in the order of ``REJECT_REASONS``), or collapsed into an identical
row (an exact duplicate, counted but not rejected).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, DateType, DoubleType, IntegerType, StringType, TimestampType

from netflix_assets.schemas import RAW_COLUMNS, RAW_SCHEMAS, REQUIRED_COLUMNS, PRIMARY_KEYS
from netflix_assets.transforms.churn import ACTIONS
from netflix_assets.transforms.raw import CORRUPT_RECORD

REJECT_REASONS = ("missing_key", "bad_date", "bad_value", "duplicate_key", "unknown_user", "unknown_movie")
REJECTED_ROWS_COLUMNS = ("source_table", "reason", "raw_row", "month", "run_id")

RAW = "_raw"
REASON = "_reject_reason"
EXACT_DUPLICATE = "_exact_duplicate"
MONTH = "month"

# 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS[.ffffff]'; Spark's cast alone would also take '2025' or '2025-1-5'.
DATETIME_TEXT = r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2}(\.\d{1,6})?)?$"
NAN_TEXT = r"^\s*[Nn]a[Nn]\s*$"


def parse_timestamp(text: Column) -> Column:
    return F.when(text.rlike(DATETIME_TEXT), text.cast(TimestampType()))


def parse_double(text: Column) -> Column:
    # The token NaN stands for a missing number in the dataset, as in the streaming events.
    number = text.cast(DoubleType())
    return F.when(~text.rlike(NAN_TEXT) & ~F.isnan(number), number)


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


def _unparseable(text: Column, parsed: Column) -> Column:
    present = text.isNotNull() & (F.trim(text) != "") & ~text.rlike(NAN_TEXT)
    return present & parsed.isNull()


def _any(conditions: list[Column]) -> Column:
    return reduce(lambda left, right: left | right, conditions, F.lit(False))


def _blank(column: Column) -> Column:
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
            F.to_json(F.col(RAW)).alias("raw_row"),
            month.alias(MONTH),
        )

    def persisted(self) -> CleanResult:
        """Keeps the labeled rows so that counting and writing both outputs parse the input once."""
        return CleanResult(self.table, self.labeled.persist(StorageLevel.MEMORY_AND_DISK), self.clean_columns)

    def unpersist(self) -> None:
        self.labeled.unpersist()

    def outcome_counts(self, by_month: bool = False) -> list[dict]:
        """Rows per outcome (``clean``, ``exact_duplicate`` or a reject reason), optionally per month."""
        outcome = F.when(F.col(EXACT_DUPLICATE), "exact_duplicate").otherwise(F.coalesce(F.col(REASON), F.lit("clean")))
        keys = [outcome.alias("outcome")] + ([F.col(MONTH)] if by_month else [])
        return [row.asDict() for row in self.labeled.groupBy(*keys).count().collect()]


def _typed(raw: DataFrame, table: str) -> DataFrame:
    """Raw text kept as one struct for ``rejected_rows``; each column cast to its SPEC type."""
    schema = RAW_SCHEMAS[table]
    raw_struct = F.struct(*RAW_COLUMNS[table], CORRUPT_RECORD).alias(RAW)
    unparseable_dates = [
        _unparseable(F.col(f.name), _parse(F.col(f.name), f.dataType))
        for f in schema
        if isinstance(f.dataType, (DateType, TimestampType))
    ]
    unparseable_values = [
        _unparseable(F.col(f.name), _parse(F.col(f.name), f.dataType))
        for f in schema
        if not isinstance(f.dataType, (DateType, TimestampType, StringType))
    ]
    return raw.select(
        raw_struct,
        *[_parse(F.col(f.name), f.dataType).alias(f.name) for f in schema],
        _any(unparseable_dates).alias("_bad_date"),
        (_any(unparseable_values) | F.col(CORRUPT_RECORD).isNotNull()).alias("_bad_value"),
    )


def _label(
    raw: DataFrame,
    table: str,
    keep_first: list[Column],
    bad_values: list[Column] | None = None,
) -> DataFrame:
    """Labels each row: exact duplicate, or first reject reason up to ``duplicate_key``, or kept.

    One window over the key does both jobs: rows sort valid-first, then by ``keep_first`` (the
    rule that says which duplicate survives), then by their raw text, so identical rows are
    neighbours and the survivor is the first row.
    """
    typed = _typed(raw, table)
    key = PRIMARY_KEYS[table]
    early_reason = (
        F.when(_any([_blank(F.col(c)) for c in REQUIRED_COLUMNS[table]]), "missing_key")
        .when(F.col("_bad_date"), "bad_date")
        .when(F.col("_bad_value") | _any(bad_values or []), "bad_value")
    )
    labeled = typed.withColumn(REASON, early_reason)
    order = [F.col(REASON).isNull().desc(), *keep_first, F.col(RAW).asc()]
    by_key = Window.partitionBy(F.col(RAW)[key]).orderBy(*order)
    return (
        labeled.withColumn(EXACT_DUPLICATE, F.coalesce(F.col(RAW).eqNullSafe(F.lag(RAW).over(by_key)), F.lit(False)))
        .withColumn(
            REASON,
            F.when(F.col(REASON).isNull() & (F.row_number().over(by_key) > 1), "duplicate_key").otherwise(F.col(REASON)),
        )
        .drop("_bad_date", "_bad_value")
    )


def _null_outside(column: str, low: float | None = None, high: float | None = None, low_inclusive: bool = True) -> Column:
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


def clean_users(raw: DataFrame) -> CleanResult:
    labeled = _label(
        raw,
        "users",
        keep_first=[F.col("created_at").desc_nulls_last(), F.col("email").asc_nulls_last()],
    ).withColumns(
        {
            "age": _null_outside("age", 13, 100),
            "monthly_spend": _null_outside("monthly_spend", 0),
            "household_size": _null_outside("household_size", 0, low_inclusive=False),
            "gender": F.coalesce(F.col("gender"), F.lit("Unknown")),
        }
    )
    return CleanResult("users", labeled, tuple(RAW_COLUMNS["users"]))


def clean_movies(raw: DataFrame) -> CleanResult:
    labeled = _label(raw, "movies", keep_first=[]).withColumns(
        {
            "duration_minutes": _null_outside("duration_minutes", 0, low_inclusive=False),
            "imdb_rating": _null_outside("imdb_rating", 0, 10),
        }
    )
    return CleanResult("movies", labeled, tuple(RAW_COLUMNS["movies"]))


def _month_of(column: str) -> Column:
    return F.trunc(F.col(column), "month")


def clean_watch_history(raw: DataFrame, users: DataFrame, movies: DataFrame) -> CleanResult:
    """Clean sessions; ``users`` and ``movies`` are the clean dimensions (only their keys are used)."""
    labeled = _label(
        raw,
        "watch_history",
        keep_first=[F.col("watch_date").desc_nulls_last()],
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
    return CleanResult("watch_history", labeled, (*RAW_COLUMNS["watch_history"], MONTH))


def clean_reviews(raw: DataFrame, users: DataFrame, movies: DataFrame) -> CleanResult:
    labeled = _label(
        raw,
        "reviews",
        keep_first=[F.col("review_date").desc_nulls_last()],
        bad_values=[F.col("rating").isNull() | ~F.col("rating").between(1, 5)],
    ).withColumn(MONTH, _month_of("review_date"))
    labeled = _reject_unknown(labeled, "user_id", users, "unknown_user")
    labeled = _reject_unknown(labeled, "movie_id", movies, "unknown_movie")
    return CleanResult("reviews", labeled, (*RAW_COLUMNS["reviews"], MONTH))


def clean_search_logs(raw: DataFrame) -> CleanResult:
    labeled = _label(
        raw, "search_logs", keep_first=[F.col("search_date").desc_nulls_last()]
    ).withColumn(MONTH, _month_of("search_date"))
    return CleanResult("search_logs", labeled, (*RAW_COLUMNS["search_logs"], MONTH))
