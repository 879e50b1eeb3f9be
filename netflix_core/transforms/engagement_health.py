"""engagement_health_realtime (contract section 7) as plain DataFrame -> DataFrame functions.

Kafka records -> parsed events with a quarantine reason -> valid, de-duplicated events ->
enriched with the clean users and movies -> 5-minute windows with the churn rates and alert.
The same functions run on the streaming job's DataFrame and on batch DataFrames (the sink's
re-read of one micro-batch's offsets, tests), so every rule has one definition.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, MapType, StringType, StructField, StructType

from netflix_core.contract import (
    ARCHIVE_KAFKA_COLUMNS,
    ENGAGEMENT_HEALTH_REALTIME,
    EVENT_MOVIE_ATTRIBUTES,
    EVENT_USER_ATTRIBUTES,
    GRAIN_DIMENSIONS,
    QUARANTINE_REASONS,
    UNKNOWN,
    WATERMARK_DELAY,
    WINDOW_DURATION,
)
from netflix_core.schemas import WATCH_EVENT_SCHEMA
from netflix_core.transforms.churn import alert_level, with_churn_flags
from netflix_core.transforms.cleaning import is_blank, parse_timestamp
from netflix_core.transforms.raw_files import CORRUPT_RECORD

(
    NOT_JSON,
    MISSING_SESSION_ID,
    MISSING_USER_ID,
    MISSING_MOVIE_ID,
    MISSING_TIMESTAMP,
    BAD_TIMESTAMP,
    BAD_VALUE,
    NEGATIVE_DURATION,
) = QUARANTINE_REASONS

KAFKA_METADATA_COLUMNS = ("raw_value", *ARCHIVE_KAFKA_COLUMNS)
REALTIME_COLUMNS = ENGAGEMENT_HEALTH_REALTIME.column_names
DEDUPLICATION_KEY = ("session_id", "event_time")
# The relative standard deviation of the speed layer's HyperLogLog (Spark's default): fixed in the
# streaming state's schema, and the error the reconciliation allows unique_users.
UNIQUE_USERS_RSD = 0.05

_EVENT = "_event"
_IS_JSON_OBJECT = "_is_json_object"


def _with_corrupt_record(schema: StructType) -> StructType:
    return StructType([*schema.fields, StructField(CORRUPT_RECORD, StringType())])


def _event_field(field: StructField) -> Column:
    """A field of the event with the bare token NaN read as NULL, as SPEC section 7 asks.

    allowNonNumericNumbers reads NaN as Double.NaN in a number field; in a text field Spark keeps
    the token's JSON text '"NaN"'. A quoted "NaN" (text 'NaN') is read as missing too.
    """
    value = F.col(f"{_EVENT}.{field.name}")
    if isinstance(field.dataType, DoubleType):
        value = F.nanvl(value, F.lit(None).cast(DoubleType()))
    elif isinstance(field.dataType, StringType):
        value = F.when(~value.isin("NaN", '"NaN"'), value)
    return value.alias(field.name)


def _quarantine_reason() -> Column:
    return (
        F.when(~F.col(_IS_JSON_OBJECT), NOT_JSON)
        .when(is_blank(F.col("session_id")), MISSING_SESSION_ID)
        .when(is_blank(F.col("user_id")), MISSING_USER_ID)
        .when(is_blank(F.col("movie_id")), MISSING_MOVIE_ID)
        .when(is_blank(F.col("timestamp")), MISSING_TIMESTAMP)
        .when(F.col("event_time").isNull(), BAD_TIMESTAMP)
        # A field of the wrong JSON type (e.g. a word where a number belongs): Spark keeps the
        # other fields and names the record corrupt.
        .when(F.col(f"{_EVENT}.{CORRUPT_RECORD}").isNotNull(), BAD_VALUE)
        .when(F.col("watch_duration_minutes") < 0, NEGATIVE_DURATION)
    )


def parse_watch_events(kafka_records: DataFrame) -> DataFrame:
    """Kafka records (value, topic, partition, offset, timestamp) -> one typed row per message.

    Keeps the Kafka metadata (``raw_value``, ``topic``, ``partition``, ``offset``,
    ``kafka_timestamp``), the event's fields typed by ``WATCH_EVENT_SCHEMA`` (NaN read as NULL),
    ``event_time`` and ``quarantine_reason`` (NULL for a valid event).
    """
    text = F.col("value").cast(StringType())
    options = {"mode": "PERMISSIVE", "allowNonNumericNumbers": "true", "columnNameOfCorruptRecord": CORRUPT_RECORD}
    event = F.from_json(text, _with_corrupt_record(WATCH_EVENT_SCHEMA), options)
    decoded = kafka_records.select(
        text.alias("raw_value"),
        "topic",
        "partition",
        "offset",
        F.col("timestamp").alias("kafka_timestamp"),
        # Parsed inside a generator (one row in, one out): the optimizer pushes a later filter on
        # the fields (valid_events) below a projection by copying the parse into the condition,
        # once per field it tests, but never below a generator.
        F.inline(F.array(F.struct(event.alias(_EVENT)))),
    )
    # A message the event schema reads without a corrupt record is a JSON object. Only the others
    # are parsed again, as a map, which is NULL exactly when the text is not one JSON object
    # (garbage, an array, a scalar): a second parse of every message cost as much as the first.
    read_cleanly = F.col(_EVENT).isNotNull() & F.col(f"{_EVENT}.{CORRUPT_RECORD}").isNull()
    is_json_object = read_cleanly | F.from_json("raw_value", MapType(StringType(), StringType()), options).isNotNull()
    typed = decoded.select(
        *KAFKA_METADATA_COLUMNS,
        is_json_object.alias(_IS_JSON_OBJECT),
        _EVENT,
        *[_event_field(field) for field in WATCH_EVENT_SCHEMA.fields],
    )
    event_time = parse_timestamp(F.col("timestamp"), time_required=True)
    return (
        typed.withColumn("event_time", event_time)
        .withColumn("quarantine_reason", _quarantine_reason())
        .drop(_IS_JSON_OBJECT, _EVENT)
    )


def valid_events(parsed: DataFrame) -> DataFrame:
    return parsed.filter(F.col("quarantine_reason").isNull()).drop("quarantine_reason")


def archived_events(parsed: DataFrame) -> DataFrame:
    """The valid events of parsed Kafka records as the lake archives them: the event's fields, its
    event time, its Kafka coordinates and ``event_date`` (the folder it is filed under)."""
    fields = [*WATCH_EVENT_SCHEMA.names, "event_time", *ARCHIVE_KAFKA_COLUMNS]
    return valid_events(parsed).select(*fields, F.to_date("event_time").alias("event_date"))


def deduplicate_events(events: DataFrame) -> DataFrame:
    """Drops repeats of (session_id, event_time): on a stream those seen within the watermark.

    On a stream Spark keeps each key until the watermark passes its event time, and drops an event
    older than the watermark as late before it is looked up, so no repeat gets through. (Spark's
    dropDuplicatesWithinWatermark, meant for keys without the event time, would keep every key a
    watermark delay longer: twice the state, which Spark scans whole each batch to evict.) On a
    batch, all copies of a key share its event time; it keeps the first Kafka record of each key,
    as the stream does (copies of a session share its user's partition, read in order).
    """
    key = list(DEDUPLICATION_KEY)
    if events.isStreaming:
        return events.withWatermark("event_time", WATERMARK_DELAY).dropDuplicates(key)
    first_record = Window.partitionBy(*key).orderBy("topic", "partition", "offset")
    return events.withColumn("_copy", F.row_number().over(first_record)).filter(F.col("_copy") == 1).drop("_copy")


def user_dimension(clean_users: DataFrame) -> DataFrame:
    return clean_users.select("user_id", *EVENT_USER_ATTRIBUTES)


def movie_dimension(clean_movies: DataFrame) -> DataFrame:
    """The movie attributes of the grain; is_netflix_original as text so an unknown movie can say 'Unknown'."""
    original = F.col("is_netflix_original")
    as_text = {"is_netflix_original": F.when(original, "True").when(~original, "False")}
    return clean_movies.select(
        "movie_id", *(as_text.get(name, F.col(name)).alias(name) for name in EVENT_MOVIE_ATTRIBUTES)
    )


def enrich_events(events: DataFrame, users: DataFrame, movies: DataFrame) -> DataFrame:
    """Left joins with the user and movie dimensions (one row per key); missing dimensions -> 'Unknown'.

    ``users``/``movies`` are the outputs of ``user_dimension``/``movie_dimension``, small enough to broadcast.
    """
    enriched = events.join(F.broadcast(users), "user_id", "left").join(F.broadcast(movies), "movie_id", "left")
    text_dimensions = ("subscription_plan", *GRAIN_DIMENSIONS)
    return enriched.withColumns({name: F.coalesce(F.col(name), F.lit(UNKNOWN)) for name in text_dimensions})


def _percent_of_sessions(count_column: str) -> Column:
    # count x 100 / total rounds once, so a whole percentage is exact: 11 of 20 is 55.0, where
    # 11 / 20 * 100 gives 55.00000000000001.
    return F.col(count_column) * 100 / F.col("total_sessions")


def aggregate_engagement(events: DataFrame, exact_distinct_users: bool = False) -> DataFrame:
    """Enriched, de-duplicated events -> engagement_health_realtime rows (5-minute tumbling windows).

    ``unique_users`` is HyperLogLog's estimate (what a stream can keep in state) unless
    ``exact_distinct_users``. ``updated_at`` is Spark's current_timestamp(), which a streaming query
    fixes per micro-batch.
    """
    flagged = with_churn_flags(events)
    window = F.window("event_time", WINDOW_DURATION)
    unique_users = (
        F.count_distinct("user_id") if exact_distinct_users else F.approx_count_distinct("user_id", UNIQUE_USERS_RSD)
    )
    counts = flagged.groupBy(window.alias("window"), *GRAIN_DIMENSIONS).agg(
        F.count(F.lit(1)).alias("total_sessions"),
        unique_users.alias("unique_users"),
        F.sum("watch_duration_minutes").alias("total_watch_minutes"),
        F.avg("progress_percentage").alias("avg_completion_pct"),
        F.avg("imdb_rating").alias("avg_content_quality"),
        F.count_if(F.col("is_low_engagement")).alias("low_engagement_count"),
        F.count_if(F.col("is_abandoned")).alias("abandonment_count"),
        F.count_if(F.col("is_quality_downgrade")).alias("quality_downgrade_count"),
        F.count_if(F.col("is_completed")).alias("completion_count"),
        F.sum("monthly_spend").alias("revenue_impact"),
        F.avg("monthly_spend").alias("avg_subscriber_value"),
    )
    with_rates = counts.withColumns(
        {
            "window_start": F.col("window.start"),
            "window_end": F.col("window.end"),
            "low_engagement_rate": _percent_of_sessions("low_engagement_count"),
            "abandonment_rate": _percent_of_sessions("abandonment_count"),
            "completion_rate": _percent_of_sessions("completion_count"),
            "updated_at": F.current_timestamp(),
        }
    )
    return with_rates.withColumn("alert_level", alert_level(F.col("low_engagement_rate"))).select(*REALTIME_COLUMNS)


def engagement_health(kafka_records: DataFrame, users: DataFrame, movies: DataFrame) -> DataFrame:
    """The whole speed-layer pipeline: Kafka records -> valid events -> dedup -> enrich -> windows."""
    events = deduplicate_events(valid_events(parse_watch_events(kafka_records)))
    return aggregate_engagement(enrich_events(events, users, movies))
