"""An independent computation of the batch layer, written from SPEC.md (sections 3, 4, 6) alone.

DuckDB SQL over the raw CSVs read as text (``all_varchar``): the cleaning rules, the rejected
rows with their reasons, the clean tables, the star-schema facts and the five
``netflix_processed`` tables. Nothing here imports the project's transforms.

Choices where SPEC leaves room (documented by the implementation, restated here):
- a row gets the FIRST applicable reason in the order missing_key, bad_date, bad_value,
  duplicate_key, unknown_user, unknown_movie;
- exact duplicate rows (identical raw text) collapse to one first; the copies are counted;
- a present value that does not parse as its SPEC type is bad_date (date/timestamp columns) or
  bad_value (others); the text NaN is a missing value; only the columns SPEC section 3 types are
  typed, the rest stay text;
- a line with too few or too many fields is bad_value (its fields are read positionally);
- watch_history action NULL is bad_value; reviews rating NULL or not an integer is bad_value;
- duplicate keys keep: users the latest created_at then the smallest email; watch_history the
  latest watch_date; reviews/search_logs the latest review_date/search_date; then (and for
  movies only) the smallest raw text, compared column by column in SPEC order, NULL first.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import duckdb

COLUMNS: dict[str, list[str]] = {
    "users": [
        "user_id",
        "email",
        "first_name",
        "last_name",
        "age",
        "gender",
        "country",
        "state_province",
        "city",
        "subscription_plan",
        "subscription_start_date",
        "is_active",
        "monthly_spend",
        "primary_device",
        "household_size",
        "created_at",
    ],
    "movies": [
        "movie_id",
        "title",
        "content_type",
        "genre_primary",
        "genre_secondary",
        "release_year",
        "duration_minutes",
        "rating",
        "language",
        "country_of_origin",
        "imdb_rating",
        "production_budget",
        "box_office_revenue",
        "number_of_seasons",
        "number_of_episodes",
        "is_netflix_original",
        "added_to_platform",
        "content_warning",
    ],
    "watch_history": [
        "session_id",
        "user_id",
        "movie_id",
        "watch_date",
        "device_type",
        "watch_duration_minutes",
        "progress_percentage",
        "action",
        "quality",
        "location_country",
        "is_download",
        "user_rating",
    ],
    "reviews": [
        "review_id",
        "user_id",
        "movie_id",
        "rating",
        "review_date",
        "device_type",
        "is_verified_watch",
        "helpful_votes",
        "total_votes",
        "review_text",
        "sentiment",
        "sentiment_score",
    ],
    "search_logs": [
        "search_id",
        "user_id",
        "search_query",
        "search_date",
        "results_returned",
        "clicked_result_position",
        "device_type",
        "search_duration_seconds",
        "had_typo",
        "used_filters",
        "location_country",
    ],
}

# The types SPEC section 3 gives; every other column is text.
SPEC_TYPES: dict[str, dict[str, str]] = {
    "users": {
        "age": "double",
        "subscription_start_date": "date",
        "is_active": "bool",
        "monthly_spend": "double",
        "household_size": "double",
        "created_at": "timestamp",
    },
    "movies": {
        "release_year": "int",
        "duration_minutes": "double",
        "imdb_rating": "double",
        "is_netflix_original": "bool",
        "added_to_platform": "date",
        "content_warning": "bool",
    },
    "watch_history": {
        "watch_date": "timestamp",
        "watch_duration_minutes": "double",
        "progress_percentage": "double",
        "is_download": "bool",
        "user_rating": "double",
    },
    "reviews": {"rating": "int", "review_date": "date"},
    "search_logs": {"search_date": "date"},
}

KEYS = {
    "users": "user_id",
    "movies": "movie_id",
    "watch_history": "session_id",
    "reviews": "review_id",
    "search_logs": "search_id",
}
REQUIRED = {
    "users": ["user_id"],
    "movies": ["movie_id"],
    "watch_history": ["session_id", "user_id", "movie_id"],
    "reviews": ["review_id", "user_id", "movie_id"],
    "search_logs": ["search_id", "user_id"],
}
# Which typed column orders duplicates (latest first), and further tie-breakers, before the raw text.
KEEP_FIRST = {
    "users": ["p_created_at DESC NULLS LAST", "email ASC NULLS LAST"],
    "movies": [],
    "watch_history": ["p_watch_date DESC NULLS LAST"],
    "reviews": ["p_review_date DESC NULLS LAST"],
    "search_logs": ["p_search_date DESC NULLS LAST"],
}
# The date that gives a row its month (rejected rows keep it "where known").
MONTH_OF = {"watch_history": "watch_date", "reviews": "review_date", "search_logs": "search_date"}
ACTIONS = ("started", "completed", "stopped", "paused")

REASONS = ("missing_key", "bad_date", "bad_value", "duplicate_key", "unknown_user", "unknown_movie")

CORRUPT = "_corrupt_record"

_MACROS = r"""
CREATE MACRO is_blank(x) AS (x IS NULL OR trim(x) = '');
CREATE MACRO is_present(x) AS NOT (x IS NULL OR trim(x) = '' OR lower(trim(x)) = 'nan');
CREATE MACRO to_double(x) AS CASE WHEN is_present(x) THEN try_cast(trim(x) AS DOUBLE) END;
CREATE MACRO to_int(x) AS CASE WHEN to_double(x) = floor(to_double(x)) THEN CAST(to_double(x) AS INTEGER) END;
CREATE MACRO to_bool(x) AS CASE WHEN is_present(x) THEN
    CASE lower(trim(x)) WHEN 'true' THEN TRUE WHEN 'false' THEN FALSE END END;
CREATE MACRO to_ts(x) AS CASE WHEN is_present(x)
    AND regexp_full_match(x, '\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2}(\.\d{1,6})?)?')
    THEN try_cast(x AS TIMESTAMP) END;
CREATE MACRO to_date(x) AS CAST(to_ts(x) AS DATE);
"""

_PARSERS = {"double": "to_double", "int": "to_int", "bool": "to_bool", "timestamp": "to_ts", "date": "to_date"}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class OracleInputError(ValueError):
    pass


class Oracle:
    """Builds every table once in an in-memory DuckDB; query it with ``rows``/``df``."""

    def __init__(self, raw_dir: str | Path, months: tuple[date, date] | None = None):
        self.raw_dir = Path(raw_dir)
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        for statement in _MACROS.strip().split(";"):
            if statement.strip():
                self.con.execute(statement)
        for table in COLUMNS:
            self._load(table)
            self._label(table)
        self._resolve_references()
        self._processed()

    # -- plumbing ---------------------------------------------------------------------------

    def __enter__(self) -> Oracle:
        return self

    def __exit__(self, *exc) -> None:
        self.con.close()

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    def df(self, sql: str):
        return self.con.execute(sql).df()

    # -- reading ----------------------------------------------------------------------------

    def _load(self, table: str) -> None:
        path = self.raw_dir / f"{table}.csv"
        if not path.exists():
            raise OracleInputError(f"{path} does not exist")
        with path.open(newline="") as handle:
            header = next(csv.reader(handle), [])
        missing = [c for c in COLUMNS[table] if c not in header]
        if missing:
            raise OracleInputError(f"{path}: missing column(s) {missing}")
        columns = "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in header) + "}"
        self.con.execute(
            f"""CREATE TABLE src_{table} AS SELECT * FROM read_csv('{path}', header = true, delim = ',',
                quote = '"', escape = '"', auto_detect = false, columns = {columns},
                store_rejects = true, rejects_table = 'rej_{table}', rejects_scan = 'scan_{table}')"""
        )
        selected = ", ".join(_q(c) for c in COLUMNS[table])
        self.con.execute(
            f"CREATE TABLE raw_{table} AS SELECT {selected}, CAST(NULL AS VARCHAR) AS {CORRUPT} FROM src_{table}"
        )
        # Lines with too few or too many fields: their fields positionally, and the line itself.
        bad_lines = self.rows(f"SELECT DISTINCT line, csv_line FROM rej_{table} ORDER BY line")
        for _, line in bad_lines:
            tokens = next(csv.reader(io.StringIO(line)), [])
            values = {
                name: (tokens[i] if i < len(tokens) and tokens[i] != "" else None) for i, name in enumerate(header)
            }
            placeholders = ", ".join("?" for _ in range(len(COLUMNS[table]) + 1))
            self.con.execute(
                f"INSERT INTO raw_{table} VALUES ({placeholders})", [values[c] for c in COLUMNS[table]] + [line]
            )

    # -- cleaning ---------------------------------------------------------------------------

    def _label(self, table: str) -> None:
        columns = COLUMNS[table]
        raw_list = ", ".join(_q(c) for c in columns) + f", {CORRUPT}"
        self.con.execute(
            f"CREATE TABLE dist_{table} AS SELECT {raw_list}, count(*) AS copies FROM raw_{table} GROUP BY ALL"
        )
        types = SPEC_TYPES[table]
        parsed = ", ".join(f"{_PARSERS[t]}({_q(c)}) AS p_{c}" for c, t in types.items())
        missing_key = " OR ".join(f"is_blank({_q(c)})" for c in REQUIRED[table])
        bad_date = (
            " OR ".join(
                f"(is_present({_q(c)}) AND {_PARSERS[t]}({_q(c)}) IS NULL)"
                for c, t in types.items()
                if t in ("date", "timestamp")
            )
            or "FALSE"
        )
        if table == "watch_history":
            # A session's month comes from its watch_date: without one it cannot be kept.
            bad_date += " OR NOT is_present(watch_date)"
        bad_values = [f"{CORRUPT} IS NOT NULL"] + [
            f"(is_present({_q(c)}) AND {_PARSERS[t]}({_q(c)}) IS NULL)"
            for c, t in types.items()
            if t not in ("date", "timestamp")
        ]
        if table == "watch_history":
            bad_values.append("(action IS NULL OR action NOT IN ('" + "', '".join(ACTIONS) + "'))")
        if table == "reviews":
            bad_values.append("(to_int(rating) IS NULL OR to_int(rating) NOT BETWEEN 1 AND 5)")
        bad_value = " OR ".join(bad_values)
        self.con.execute(
            f"""CREATE TABLE early_{table} AS SELECT *, {parsed},
                CASE WHEN {missing_key} THEN 'missing_key'
                     WHEN {bad_date} THEN 'bad_date'
                     WHEN {bad_value} THEN 'bad_value' END AS early_reason
                FROM dist_{table}"""
        )
        order = KEEP_FIRST[table] + [f"{_q(c)} ASC NULLS FIRST" for c in columns] + [f"{CORRUPT} ASC NULLS FIRST"]
        key = _q(KEYS[table])
        self.con.execute(
            f"""CREATE TABLE dup_{table} AS SELECT *,
                CASE WHEN early_reason IS NOT NULL THEN early_reason
                     WHEN row_number() OVER (PARTITION BY {key}, early_reason IS NULL ORDER BY {", ".join(order)}) > 1
                     THEN 'duplicate_key' END AS dup_reason
                FROM early_{table}"""
        )

    def _resolve_references(self) -> None:
        for table in ("users", "movies", "search_logs"):
            self.con.execute(f"CREATE TABLE lab_{table} AS SELECT *, dup_reason AS reason FROM dup_{table}")
        self._clean_users()
        self._clean_movies()
        for table in ("watch_history", "reviews"):
            self.con.execute(
                f"""CREATE TABLE lab_{table} AS SELECT d.*,
                    CASE WHEN dup_reason IS NOT NULL THEN dup_reason
                         WHEN user_id NOT IN (SELECT user_id FROM clean_users) THEN 'unknown_user'
                         WHEN movie_id NOT IN (SELECT movie_id FROM clean_movies) THEN 'unknown_movie' END AS reason
                    FROM dup_{table} d"""
            )
        self._clean_watch_history()
        self._clean_reviews()
        self._clean_search_logs()

    def _select_clean(self, table: str, overrides: dict[str, str], extra: str = "") -> str:
        types = SPEC_TYPES[table]
        items = []
        for column in COLUMNS[table]:
            if column in overrides:
                items.append(f"{overrides[column]} AS {_q(column)}")
            elif column in types:
                items.append(f"p_{column} AS {_q(column)}")
            else:
                items.append(_q(column))
        return f"SELECT {', '.join(items)}{extra} FROM lab_{table} WHERE reason IS NULL"

    def _clean_users(self) -> None:
        self.con.execute(
            "CREATE TABLE clean_users AS "
            + self._select_clean(
                "users",
                {
                    "age": "CASE WHEN p_age BETWEEN 13 AND 100 THEN p_age END",
                    "monthly_spend": "CASE WHEN p_monthly_spend >= 0 THEN p_monthly_spend END",
                    "household_size": "CASE WHEN p_household_size > 0 THEN p_household_size END",
                    "gender": "coalesce(gender, 'Unknown')",
                },
            )
        )

    def _clean_movies(self) -> None:
        self.con.execute(
            "CREATE TABLE clean_movies AS "
            + self._select_clean(
                "movies",
                {
                    "duration_minutes": "CASE WHEN p_duration_minutes > 0 THEN p_duration_minutes END",
                    "imdb_rating": "CASE WHEN p_imdb_rating BETWEEN 0 AND 10 THEN p_imdb_rating END",
                },
            )
        )

    def _clean_watch_history(self) -> None:
        self.con.execute(
            "CREATE TABLE clean_watch_history AS "
            + self._select_clean(
                "watch_history",
                {
                    "watch_duration_minutes": "CASE WHEN p_watch_duration_minutes >= 0 THEN p_watch_duration_minutes END",
                    "progress_percentage": "CASE WHEN p_progress_percentage BETWEEN 0 AND 100 THEN p_progress_percentage END",
                },
                extra=", CAST(date_trunc('month', p_watch_date) AS DATE) AS month",
            )
        )

    def _clean_reviews(self) -> None:
        self.con.execute(
            "CREATE TABLE clean_reviews AS "
            + self._select_clean("reviews", {}, extra=", CAST(date_trunc('month', p_review_date) AS DATE) AS month")
        )

    def _clean_search_logs(self) -> None:
        self.con.execute(
            "CREATE TABLE clean_search_logs AS "
            + self._select_clean("search_logs", {}, extra=", CAST(date_trunc('month', p_search_date) AS DATE) AS month")
        )

    # -- star schema and netflix_processed (SPEC sections 5, 6) -----------------------------

    def _processed(self) -> None:
        sql = """
        CREATE TABLE facts AS
        SELECT w.*, u.country, u.subscription_plan, m.genre_primary, m.content_type, m.is_netflix_original
        FROM clean_watch_history w
        LEFT JOIN clean_users u USING (user_id)
        LEFT JOIN clean_movies m USING (movie_id);

        CREATE TABLE monthly_engagement AS
        SELECT month, country, subscription_plan,
               count(*) AS total_sessions,
               count(DISTINCT user_id) AS monthly_active_users,
               sum(watch_duration_minutes) AS total_watch_time_minutes,
               avg(watch_duration_minutes) AS avg_session_duration,
               count(DISTINCT movie_id) AS unique_content_viewed,
               count(*) FILTER (WHERE action = 'completed') / count(*) AS completion_rate
        FROM facts GROUP BY month, country, subscription_plan;

        CREATE TABLE monthly_active_users AS
        SELECT month,
               count(DISTINCT user_id) AS monthly_active_users,
               count(DISTINCT country) AS countries,
               count(*) AS total_sessions,
               sum(watch_duration_minutes) AS total_watch_time_minutes
        FROM facts GROUP BY month;

        CREATE TABLE review_stats AS
        SELECT month, movie_id, count(*) AS review_count, avg(rating) AS avg_review_rating
        FROM clean_reviews GROUP BY month, movie_id;

        CREATE TABLE content_performance AS
        SELECT v.month, v.movie_id, m.title, m.content_type, m.genre_primary, m.is_netflix_original,
               v.total_views, v.unique_viewers, v.total_watch_time_minutes, v.avg_progress_pct, v.completion_rate,
               coalesce(r.review_count, 0) AS review_count, r.avg_review_rating
        FROM (
            SELECT month, movie_id,
                   count(*) AS total_views,
                   count(DISTINCT user_id) AS unique_viewers,
                   sum(watch_duration_minutes) AS total_watch_time_minutes,
                   avg(progress_percentage) AS avg_progress_pct,
                   count(*) FILTER (WHERE action = 'completed') / count(*) AS completion_rate
            FROM facts GROUP BY month, movie_id
        ) v
        LEFT JOIN clean_movies m USING (movie_id)
        LEFT JOIN review_stats r ON r.month = v.month AND r.movie_id = v.movie_id;

        CREATE TABLE genre_performance AS
        WITH views AS (
            SELECT month, genre_primary,
                   count(*) AS total_views,
                   count(DISTINCT user_id) AS unique_viewers,
                   count(DISTINCT movie_id) AS unique_titles,
                   sum(watch_duration_minutes) AS total_watch_time_minutes,
                   avg(watch_duration_minutes) AS avg_watch_duration,
                   count(*) FILTER (WHERE action = 'completed') / count(*) AS completion_rate
            FROM facts GROUP BY month, genre_primary
        ),
        month_totals AS (SELECT month, sum(watch_duration_minutes) AS month_watch FROM facts GROUP BY month),
        genre_reviews AS (
            SELECT r.month, m.genre_primary, avg(r.rating) AS avg_review_rating
            FROM clean_reviews r JOIN clean_movies m USING (movie_id)
            GROUP BY r.month, m.genre_primary
        )
        SELECT v.month, v.genre_primary, v.total_views, v.unique_viewers, v.unique_titles,
               v.total_watch_time_minutes, v.avg_watch_duration, v.completion_rate, g.avg_review_rating,
               v.total_watch_time_minutes / t.month_watch AS watch_time_share
        FROM views v
        JOIN month_totals t USING (month)
        LEFT JOIN genre_reviews g ON g.month = v.month AND g.genre_primary IS NOT DISTINCT FROM v.genre_primary;

        CREATE TABLE cohort_retention AS
        WITH activity AS (SELECT DISTINCT user_id, month FROM facts),
        cohorts AS (SELECT user_id, min(month) AS cohort_month FROM activity GROUP BY user_id),
        sizes AS (SELECT cohort_month, count(*) AS cohort_size FROM cohorts GROUP BY cohort_month)
        SELECT c.cohort_month, a.month AS activity_month,
               CAST(date_diff('month', c.cohort_month, a.month) AS INTEGER) AS months_since_cohort,
               s.cohort_size, count(*) AS active_users, count(*) / s.cohort_size AS retention_rate
        FROM activity a JOIN cohorts c USING (user_id) JOIN sizes s USING (cohort_month)
        GROUP BY c.cohort_month, a.month, s.cohort_size;
        """
        for statement in sql.split(";"):
            if statement.strip():
                self.con.execute(statement)

    # -- answers ----------------------------------------------------------------------------

    def raw_count(self, table: str) -> int:
        return self.rows(f"SELECT count(*) FROM raw_{table}")[0][0]

    def collapsed(self, table: str) -> int:
        return self.rows(f"SELECT coalesce(sum(copies - 1), 0) FROM lab_{table}")[0][0]

    def clean_count(self, table: str) -> int:
        return self.rows(f"SELECT count(*) FROM clean_{table}")[0][0]

    def reason_counts(self, table: str) -> dict[str, int]:
        counts = dict(self.rows(f"SELECT reason, count(*) FROM lab_{table} WHERE reason IS NOT NULL GROUP BY reason"))
        return {reason: counts.get(reason, 0) for reason in REASONS}

    def rejected(self, table: str) -> list[tuple]:
        """(reason, month, raw values in SPEC column order + _corrupt_record), one per rejected row."""
        month = f"CAST(date_trunc('month', p_{MONTH_OF[table]}) AS DATE)" if table in MONTH_OF else "CAST(NULL AS DATE)"
        raw_list = ", ".join(_q(c) for c in COLUMNS[table]) + f", {CORRUPT}"
        return [
            (row[0], row[1], tuple(row[2:]))
            for row in self.rows(f"SELECT reason, {month}, {raw_list} FROM lab_{table} WHERE reason IS NOT NULL")
        ]

    def clean_rows(self, table: str) -> dict[str, dict]:
        """The clean table keyed by its primary key."""
        cursor = self.con.execute(f"SELECT * FROM clean_{table}")
        names = [d[0] for d in cursor.description]
        return {row[0]: dict(zip(names, row)) for row in cursor.fetchall()}

    def table(self, name: str, order_by: list[str]) -> list[dict]:
        cursor = self.con.execute(f"SELECT * FROM {name} ORDER BY {', '.join(c + ' NULLS FIRST' for c in order_by)}")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def month_range(self) -> tuple[date, date]:
        """First and last month of any parseable watch_date (rejected rows included)."""
        first, last = self.rows(
            "SELECT CAST(date_trunc('month', min(p_watch_date)) AS DATE), "
            "CAST(date_trunc('month', max(p_watch_date)) AS DATE) FROM lab_watch_history"
        )[0]
        return first, last
