"""The synthetic data generator: formats and ids like the real sample, determinism, value mixes,
and every quality problem that the cleaning rules of SPEC section 4 exist for."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from netflix_devtools import datagen
from netflix_devtools.datagen import COLUMNS, KEYS, QuirkRates, generate
from tests.conftest import SAMPLE_DATA as SAMPLE

pytestmark = pytest.mark.unit

ACTIONS = ("started", "completed", "stopped", "paused")
# The sample's ids (user_00001 .. user_10000, movie_0001 .. movie_1000) when sized like it.
USERS, MOVIES, SESSIONS = 10_000, 1_000, 20_000


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> datagen.GenerationSummary:
    """One run the size of the sample's users and movies, over a 6-month window."""
    return generate(
        tmp_path_factory.mktemp("gen"),
        users=USERS,
        movies=MOVIES,
        sessions=SESSIONS,
        start="2025-03",
        end="2025-08",
        seed=7,
        progress=False,
    )


@pytest.fixture(scope="module")
def db(run: datagen.GenerationSummary) -> duckdb.DuckDBPyConnection:
    """The generated files as text views (empty field = NULL), named after the tables."""
    con = duckdb.connect()
    for table in COLUMNS:
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_csv('{run.out_dir / table}.csv', "
            "header = true, all_varchar = true, quote = '\"')"
        )
    return con


def one(con: duckdb.DuckDBPyConnection, sql: str):
    return con.execute(sql).fetchone()[0]


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def file_bytes(out: Path) -> dict[str, bytes]:
    return {table: (out / f"{table}.csv").read_bytes() for table in COLUMNS}


# ---- formats and ids ------------------------------------------------------------------------


def test_headers_are_those_of_the_real_sample(run):
    for table in ("users", "movies", "reviews", "search_logs"):
        real = (SAMPLE / "raw" / f"{table}.csv").read_text().splitlines()[0]
        assert lines(run.out_dir / f"{table}.csv")[0].decode() == real
    streaming = (SAMPLE / "streaming" / "part-00000.json").read_text().splitlines()[0]
    event_fields = re.findall(r'"(\w+)": ', streaming)
    assert lines(run.out_dir / "watch_history.csv")[0].decode().split(",") == event_fields[:-1]  # minus timestamp


def test_ids_are_those_of_the_real_sample(db):
    real = duckdb.connect()
    for table, key in (("users", "user_id"), ("movies", "movie_id")):
        expected = {
            r[0]
            for r in real.execute(
                f"SELECT DISTINCT {key} FROM read_csv('{SAMPLE}/raw/{table}.csv', all_varchar = true)"
            ).fetchall()
        }
        generated = {r[0] for r in db.execute(f"SELECT DISTINCT {key} FROM {table} WHERE trim({key}) <> ''").fetchall()}
        assert generated == expected
    for table, prefix in (("watch_history", "session"), ("reviews", "review"), ("search_logs", "search")):
        key = KEYS[table]
        assert (
            one(
                db,
                rf"""SELECT count(*) FROM {table} WHERE trim({key}) <> ''
                           AND NOT regexp_full_match({key}, '{prefix}_\d{{6}}')""",
            )
            == 0
        )
    # Unknown ids are past the last user / movie but keep the sample's form.
    assert (
        one(
            db,
            r"""SELECT count(*) FROM watch_history WHERE user_id IS NOT NULL
                       AND NOT regexp_full_match(user_id, 'user_\d{5}')""",
        )
        == 0
    )


def test_ids_widen_when_the_numbers_need_it(tmp_path):
    generate(tmp_path, users=100_000, movies=12_345, sessions=100, reviews=0, searches=0, progress=False)
    users = lines(tmp_path / "users.csv")
    assert users[1].startswith(b"user_000001,") and users[100_000].startswith(b"user_100000,")
    assert lines(tmp_path / "movies.csv")[1].startswith(b"movie_00001,")


def test_row_counts_are_the_distinct_ids_plus_the_quirk_copies(run, db):
    # Each file is one chunk here: distinct rows + exact duplicates + conflicting copies + keyless copies.
    sizes = {
        "users": USERS,
        "movies": MOVIES,
        "watch_history": SESSIONS,
        "reviews": round(SESSIONS * 0.15),
        "search_logs": round(SESSIONS * 0.25),
    }
    for table, n in sizes.items():
        expected = n + round(0.03 * n) + round(0.002 * n) + round(0.001 * n)
        assert run.rows[f"{table}.csv"] == expected
        assert len(lines(run.out_dir / f"{table}.csv")) == expected + 1
        key = KEYS[table]
        assert one(db, f"SELECT count(DISTINCT {key}) FROM {table} WHERE trim({key}) <> ''") == n


def test_values_are_written_like_the_sample(run, db):
    text = {table: (run.out_dir / f"{table}.csv").read_text() for table in COLUMNS}
    # Only review texts with a comma are quoted, as pandas wrote the sample.
    quoted = re.findall(r'"[^"]*"', text["reviews"])
    assert quoted and all("," in q for q in quoted)
    assert '"' not in text["users"] + text["movies"] + text["watch_history"] + text["search_logs"]
    checks = {
        "users": {
            "age": r"-?\d+\.0",
            "monthly_spend": r"-?\d+\.\d{1,2}",
            "is_active": "True|False",
            "subscription_start_date": r"\d{4}-\d\d-\d\d",
            "created_at": r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}",
        },
        "movies": {
            "duration_minutes": r"\d+\.0",
            "imdb_rating": r"-?\d+\.\d",
            "release_year": r"\d{4}",
            "production_budget": r"\d+\.0",
        },
        "watch_history": {
            "watch_date": r"\d{4}-\d\d-\d\d( \d\d:\d\d:\d\d)?",
            "is_download": "True|False",
            "progress_percentage": r"-?\d+\.\d",
            "user_rating": r"[1-5]\.0",
        },
        "reviews": {"sentiment_score": r"[01]\.\d{1,3}", "total_votes": r"\d+\.0"},
        "search_logs": {"search_duration_seconds": r"\d+\.\d", "clicked_result_position": r"\d+"},
    }
    for table, columns in checks.items():
        for column, pattern in columns.items():
            parses = "try_cast(watch_date AS timestamp) IS NOT NULL" if column == "watch_date" else "true"
            odd = one(
                db,
                f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL AND {parses} "
                f"AND NOT regexp_full_match({column}, '{pattern}')",
            )
            assert odd == 0, (table, column)
    # Durations print with one decimal, except the deliberately non-numeric ones.
    assert (
        one(
            db,
            r"""SELECT count(*) FROM watch_history WHERE watch_duration_minutes IS NOT NULL
                       AND NOT regexp_full_match(watch_duration_minutes, '-?\d+\.\d')
                       AND watch_duration_minutes NOT IN ('abc', 'ten')""",
        )
        == 0
    )
    # Both watch_date forms occur, the timestamp one for about a tenth of the rows.
    timed = one(db, "SELECT avg((length(watch_date) = 19)::int) FROM watch_history")
    assert 0.07 < timed < 0.13


# ---- determinism ------------------------------------------------------------------------------


def test_same_seed_gives_identical_files_and_another_seed_other_files(tmp_path):
    args = dict(users=500, movies=100, sessions=3_000, progress=False)
    generate(tmp_path / "a", seed=3, **args)
    generate(tmp_path / "b", seed=3, **args)
    generate(tmp_path / "c", seed=4, **args)
    first, again, other = (file_bytes(tmp_path / d) for d in "abc")
    assert first == again
    assert all(first[t] != other[t] for t in COLUMNS)


def test_output_does_not_depend_on_thread_timing(tmp_path, monkeypatch):
    # Many small chunks, made one at a time and then two at a time: the same bytes.
    monkeypatch.setattr(datagen, "CHUNK_ROWS", 700)
    args = dict(users=1_500, movies=200, sessions=6_000, seed=11, progress=False)
    monkeypatch.setattr(datagen, "WORKERS", 1)
    generate(tmp_path / "serial", **args)
    monkeypatch.setattr(datagen, "WORKERS", 2)
    summary = generate(tmp_path / "parallel", **args)
    assert file_bytes(tmp_path / "serial") == file_bytes(tmp_path / "parallel")
    # Every chunk got its own random stream: the chunks of watch_history do not repeat each other.
    body = lines(tmp_path / "parallel" / "watch_history.csv")[1:]
    assert summary.rows["watch_history.csv"] == len(body) > 6_000
    assert len({line.split(b",", 1)[1] for line in body}) > 0.95 * len(body)


# ---- quirks -----------------------------------------------------------------------------------


def test_exact_duplicates_are_identical_lines_in_every_file(run):
    for table in COLUMNS:
        body = lines(run.out_dir / f"{table}.csv")[1:]
        copies = len(body) - len(set(body))
        n = len(body) / 1.033
        assert copies >= 0.9 * 0.03 * n, table


@pytest.mark.parametrize("table, key", [(t, k) for t, k in KEYS.items()])
def test_every_file_has_missing_and_conflicting_keys(db, table, key):
    empty = one(db, f"SELECT count(*) FROM {table} WHERE {key} IS NULL")
    blank = one(db, f"SELECT count(*) FROM {table} WHERE {key} IS NOT NULL AND trim({key}) = ''")
    assert empty > 0
    assert blank > 0 or table == "movies"  # 1,000 movies get one keyless copy: an empty key
    conflicting = one(
        db,
        f"""SELECT count(*) FROM (SELECT {key} FROM (SELECT DISTINCT * FROM {table})
                              WHERE trim({key}) <> '' GROUP BY 1 HAVING count(*) > 1)""",
    )
    assert conflicting >= 0.002 * one(db, f"SELECT count(DISTINCT {key}) FROM {table}") - 1


def test_users_quirks(db):
    # Conflicting user_ids differ in e-mail; most in created_at too, some tie on it.
    pairs = db.execute("""SELECT count(DISTINCT email), count(DISTINCT created_at) FROM (SELECT DISTINCT * FROM users)
                          WHERE trim(user_id) <> '' GROUP BY user_id HAVING count(*) > 1""").fetchall()
    assert all(emails == 2 for emails, _ in pairs)
    created = Counter(times for _, times in pairs)
    assert created[2] > created[1] > 0
    ages = [r[0] for r in db.execute("SELECT age::double FROM users WHERE age IS NOT NULL").fetchall()]
    assert min(ages) < 0 and max(ages) > 100 and any(0 < a < 13 for a in ages)
    assert 0.10 < one(db, "SELECT avg((age IS NULL)::int) FROM users") < 0.14
    assert one(db, "SELECT count(*) FROM users WHERE monthly_spend::double < 0") > 0
    assert one(db, "SELECT count(*) FROM users WHERE household_size = '0.0'") > 0


def test_movies_quirks(db):
    assert one(db, "SELECT count(*) FROM movies WHERE duration_minutes = '0.0'") > 0
    assert one(db, "SELECT count(*) FROM movies WHERE imdb_rating::double > 10") > 0
    assert one(db, "SELECT count(*) FROM movies WHERE imdb_rating::double < 0") > 0


def test_watch_history_quirks(db):
    bad_dates = one(db, "SELECT count(*) FROM watch_history WHERE try_cast(watch_date AS timestamp) IS NULL")
    assert bad_dates >= 0.001 * SESSIONS
    assert one(db, f"SELECT count(*) FROM watch_history WHERE action NOT IN {ACTIONS}") > 0
    assert one(db, "SELECT count(*) FROM watch_history WHERE watch_duration_minutes IN ('abc', 'ten')") > 0
    assert one(db, "SELECT count(*) FROM watch_history WHERE try_cast(watch_duration_minutes AS double) < 0") > 0
    assert one(db, "SELECT count(*) FROM watch_history WHERE try_cast(progress_percentage AS double) > 100") > 0
    assert one(db, "SELECT count(*) FROM watch_history WHERE try_cast(progress_percentage AS double) < 0") > 0
    assert one(db, "SELECT count(*) FROM watch_history WHERE user_id IS NULL") > 0
    assert one(db, "SELECT count(*) FROM watch_history WHERE movie_id IS NULL") > 0
    unknown = "SELECT count(*) FROM watch_history WHERE {0} NOT IN (SELECT {0} FROM {1} WHERE {0} IS NOT NULL)"
    assert 0.001 * SESSIONS < one(db, unknown.format("user_id", "users")) < 0.004 * SESSIONS
    assert 0.001 * SESSIONS < one(db, unknown.format("movie_id", "movies")) < 0.004 * SESSIONS
    # Conflicting copies of a session: another watch_date, mostly in the same month.
    months = db.execute("""SELECT count(DISTINCT left(watch_date, 7)) FROM (SELECT DISTINCT * FROM watch_history)
                           WHERE trim(session_id) <> '' GROUP BY session_id HAVING count(DISTINCT watch_date) > 1
                           """).fetchall()
    spread = Counter(m for (m,) in months)
    assert len(months) >= 0.002 * SESSIONS * 0.9
    assert spread[1] > spread[2] > 0


def test_reviews_quirks(db):
    ratings = {r[0] for r in db.execute("SELECT DISTINCT rating FROM reviews").fetchall()}
    assert {"7", "0", "abc"} <= ratings and {"1", "2", "3", "4", "5"} <= ratings
    for column, table in (("user_id", "users"), ("movie_id", "movies")):
        assert one(db, f"SELECT count(*) FROM reviews WHERE {column} IS NULL") > 0
        assert (
            one(
                db,
                f"""SELECT count(*) FROM reviews
                           WHERE {column} NOT IN (SELECT {column} FROM {table} WHERE {column} IS NOT NULL)""",
            )
            > 0
        )


def test_search_logs_quirks(db):
    assert one(db, "SELECT count(*) FROM search_logs WHERE user_id IS NULL") > 0


def test_small_files_still_get_every_quirk(tmp_path):
    generate(tmp_path, users=60, movies=60, sessions=200, reviews=60, searches=60, progress=False)
    con = duckdb.connect()
    for table, _key in KEYS.items():
        body = lines(tmp_path / f"{table}.csv")[1:]
        assert len(body) - len(set(body)) >= 1, table
        keys = Counter(line.split(b",", 1)[0] for line in set(body))
        assert keys[b""] + keys[b" "] >= 1, table
        assert any(count > 1 for k, count in keys.items() if k.strip()), table
    con.execute(f"CREATE VIEW w AS SELECT * FROM read_csv('{tmp_path}/watch_history.csv', all_varchar = true)")
    assert one(con, "SELECT count(*) FROM w WHERE try_cast(watch_date AS timestamp) IS NULL") >= 1
    assert one(con, f"SELECT count(*) FROM w WHERE action NOT IN {ACTIONS} OR watch_duration_minutes = 'abc'") >= 1
    assert one(con, "SELECT count(*) FROM w WHERE user_id > 'user_00060' OR movie_id > 'movie_0060'") >= 2
    assert one(con, "SELECT count(*) FROM w WHERE try_cast(watch_duration_minutes AS double) < 0") >= 1


def test_without_quirks_the_files_are_clean(tmp_path):
    none = QuirkRates(
        exact_duplicates=0,
        missing_values={},
        outliers={},
        conflicting_keys=0,
        unknown_ids=0,
        bad_dates=0,
        bad_values=0,
        missing_keys=0,
    )
    summary = generate(tmp_path, users=300, movies=80, sessions=2_000, quirks=none, progress=False)
    assert summary.rows == {
        "users.csv": 300,
        "movies.csv": 80,
        "watch_history.csv": 2_000,
        "reviews.csv": 300,
        "search_logs.csv": 500,
    }
    con = duckdb.connect()
    w = f"read_csv('{tmp_path}/watch_history.csv', all_varchar = true)"
    assert one(con, f"SELECT count(*) FROM {w} WHERE try_cast(watch_date AS timestamp) IS NULL") == 0
    assert one(con, f"SELECT count(*) FROM {w} WHERE action NOT IN {ACTIONS}") == 0
    assert (
        one(
            con,
            f"SELECT count(*) FROM {w} WHERE watch_duration_minutes IS NULL "
            "OR watch_duration_minutes::double < 0 OR progress_percentage::double NOT BETWEEN 0 AND 100",
        )
        == 0
    )
    assert one(con, f"SELECT max(user_id) FROM {w}") <= "user_00300"
    u = f"read_csv('{tmp_path}/users.csv', all_varchar = true)"
    assert one(con, f"SELECT count(*) FROM {u} WHERE age IS NULL OR age::double NOT BETWEEN 13 AND 100") == 0


# ---- value mixes and dates ------------------------------------------------------------------


def test_value_mixes_match_the_real_sample(db):
    def shares(table: str, column: str) -> dict[str, float]:
        return dict(
            db.execute(
                f"SELECT {column}, count(*) / sum(count(*)) OVER () FROM {table} WHERE {column} IS NOT NULL GROUP BY 1"
            ).fetchall()
        )

    actions = shares("watch_history", "action")
    assert all(abs(actions[a] - 0.25) < 0.05 for a in ACTIONS)
    quality = shares("watch_history", "quality")
    for value, share in {"HD": 0.50, "4K": 0.30, "SD": 0.15, "Ultra HD": 0.05}.items():
        assert abs(quality[value] - share) < 0.02
    assert set(shares("watch_history", "device_type")) == {"Smart TV", "Tablet", "Desktop", "Mobile", "Laptop"}
    assert abs(shares("watch_history", "location_country")["USA"] - 0.70) < 0.03
    plans = shares("users", "subscription_plan")
    assert set(plans) == {"Basic", "Standard", "Premium", "Premium+"} and abs(plans["Premium+"] - 0.10) < 0.02
    assert abs(shares("movies", "content_type")["Movie"] - 0.44) < 0.05
    assert abs(shares("reviews", "rating")["4"] - 0.35) < 0.03
    median, rated = db.execute("""SELECT median(try_cast(watch_duration_minutes AS double)),
                                         avg((user_rating IS NOT NULL)::int) FROM watch_history""").fetchone()
    assert 40 < median < 65 and 0.15 < rated < 0.25


def test_dates_fall_in_the_window_except_the_bad_ones(db):
    for table, column in (("watch_history", "watch_date"), ("reviews", "review_date"), ("search_logs", "search_date")):
        first, last, bad = db.execute(f"""SELECT min(d), max(d), count(*) FILTER (WHERE d IS NULL) FROM
            (SELECT try_cast(left({column}, 10) AS date) AS d FROM {table})""").fetchone()
        assert str(first) == "2025-03-01" and str(last) == "2025-08-31", table
        assert (bad > 0) == (table == "watch_history")
    bad_dates = {
        r[0]
        for r in db.execute(
            "SELECT DISTINCT watch_date FROM watch_history WHERE try_cast(left(watch_date, 10) AS date) IS NULL"
        ).fetchall()
    }
    assert len(bad_dates) >= 3  # several kinds of unparseable date


def test_sessions_grow_over_the_window(tmp_path):
    generate(tmp_path, users=2_000, movies=100, sessions=30_000, reviews=0, searches=0, progress=False)
    months = dict(
        duckdb.connect()
        .execute(f"""SELECT strftime(try_cast(left(watch_date, 10) AS date), '%Y-%m') AS m,
        count(*) FROM read_csv('{tmp_path}/watch_history.csv', all_varchar = true) WHERE m IS NOT NULL
        GROUP BY 1""")
        .fetchall()
    )
    assert len(months) == 24
    assert months["2025-12"] > 1.3 * months["2024-01"]


# ---- interface --------------------------------------------------------------------------------


def test_side_file_sizes_default_to_shares_of_sessions_and_can_be_set(tmp_path):
    none = QuirkRates(exact_duplicates=0, conflicting_keys=0, missing_keys=0)
    summary = generate(tmp_path, users=100, movies=50, sessions=1_000, reviews=7, quirks=none, progress=False)
    assert (summary.rows["reviews.csv"], summary.rows["search_logs.csv"]) == (7, 250)
    assert summary.out_dir == tmp_path and summary.seconds > 0


def test_progress_goes_to_stderr(tmp_path, capsys):
    generate(tmp_path, users=50, movies=50, sessions=100, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "search_logs.csv" in captured.err


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(start="2025-13"), "YYYY-MM"),
        (dict(start="2025"), "YYYY-MM"),
        (dict(start="2025-06", end="2025-05"), "before"),
        (dict(users=0), "at least 1"),
        (dict(sessions=-1), "negative"),
        (dict(seed=-1), "negative"),
    ],
)
def test_bad_arguments_are_refused(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate(tmp_path, progress=False, **kwargs)
    assert not any(tmp_path.iterdir())


def test_quirk_rates_are_checked():
    with pytest.raises(ValueError, match="no such column"):
        QuirkRates(missing_values={"users.city": 0.1})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        QuirkRates(bad_dates=1.5)
