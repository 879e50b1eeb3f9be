"""Bad input never disappears silently: a clear error naming the file and the problem, or rejected
rows with a reason; for every table, the rows counted in equal the rows accounted for."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest

from netflix_assets.assets.lake import dim_movies, dim_users, fact_reviews, fact_searches, fact_watch_sessions
from netflix_assets.assets.raw import raw_assets
from netflix_assets.resources import resources_for
from netflix_core.transforms.raw_files import RawInputError, read_raw_csv
from tests.conftest import (
    HEADERS,
    SAMPLE_RAW,
    csv_lines,
    make_settings,
    raw_tuple_of_json,
    read_lake_rows,
    read_rejected,
)
from tests.oracle import Oracle

MONTH = "2024-06-01"
LAKE_ASSETS = [dim_users, dim_movies, fact_reviews, fact_searches, fact_watch_sessions]


def _head(table: str, lines: int) -> str:
    with (SAMPLE_RAW / f"{table}.csv").open() as handle:
        return "".join(next(handle) for _ in range(lines + 1))


def _session(key: str, **values: str) -> dict:
    row = dict(
        session_id=key,
        user_id="user_00001",
        movie_id="movie_0001",
        watch_date="2024-06-10",
        device_type="Mobile",
        watch_duration_minutes="10.0",
        progress_percentage="50.0",
        action="started",
        quality="HD",
        location_country="USA",
        is_download="False",
        user_rating="",
    )
    row.update(values)
    return row


# Lines appended to the small base files; each is (text, what must happen to it).
BAD_LINES = {
    "users": [
        (
            "user_95001,a@example.org,A,B,abc,Male,USA,Texas,Austin,Basic,2024-01-01,True,9.99,Mobile,2.0,2024-01-01",
            "bad_value",
        ),
        (
            "user_95002,b@example.org,A,B,30.0,Male,USA,Texas,Austin,Basic,01/02/2024,True,9.99,Mobile,2.0,2024-01-01",
            "bad_date",
        ),
        (
            "user_95003,c@example.org,A,B,30.0,Male,USA,Texas,Austin,Basic,2024-01-01,True,9.99,Mobile,2.0,2024-01-01 25:61:00",
            "bad_date",
        ),
        ("user_95004,d@example.org,A,B,30.0,Male,USA", "bad_value"),  # truncated line
    ],
    "movies": [
        (
            "movie_9501,Extra Field,Movie,Drama,,2014,100.0,PG,English,USA,7.0,,,,,True,2023-01-01,False,surplus",
            "bad_value",
        ),
        ("movie_9502,Bad Year,Movie,Drama,,twenty,100.0,PG,English,USA,7.0,,,,,True,2023-01-01,False", "bad_value"),
        ("movie_9503,Bad Rating,Movie,Drama,,2014,100.0,PG,English,USA,high,,,,,True,2023-01-01,False", "bad_value"),
    ],
    "watch_history": [
        (csv_lines("watch_history", [_session("session_b01", watch_duration_minutes="abc")]).strip(), "bad_value"),
        (csv_lines("watch_history", [_session("session_b02", progress_percentage="half")]).strip(), "bad_value"),
        (csv_lines("watch_history", [_session("session_b03", watch_date="2024-06-31")]).strip(), "bad_date"),
        (csv_lines("watch_history", [_session("session_b04", watch_date="06/15/2024")]).strip(), "bad_date"),
        ("session_b05,user_00001,movie_0001,2024-06-11,Mobile,12.0", "bad_value"),  # truncated line
        (csv_lines("watch_history", [_session("session_b06")]).strip(), "clean"),
        (
            csv_lines("watch_history", [_session("session_b07", user_id="user_00002", action="completed")]).strip(),
            "clean",
        ),
        (
            "session_b08,user_00003,movie_0002,2024-06-12,Mobile,12.0,50.0,completed,HD,USA,False,,1,2",
            "bad_value",
        ),  # too many
    ],
    "reviews": [
        ("review_b01,user_00001,movie_0001,abc,2024-06-01,Mobile,True,1.0,2.0,Fine,positive,0.5", "bad_value"),
        ("review_b02,user_00001,movie_0001,4,2024-06-99,Mobile,True,1.0,2.0,Fine,positive,0.5", "bad_date"),
        ("review_b03,user_00001,movie_0001,5,2024-06-05,Mobile,True,1.0,2.0,Fine,positive,0.5", "clean"),
    ],
}


def _write_base(raw: Path) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "users.csv").write_text(_head("users", 60))
    (raw / "movies.csv").write_text(_head("movies", 30))
    (raw / "reviews.csv").write_text(",".join(HEADERS["reviews"]) + "\n")
    (raw / "search_logs.csv").write_text(",".join(HEADERS["search_logs"]) + "\n")  # header only
    (raw / "watch_history.csv").write_text(",".join(HEADERS["watch_history"]) + "\n")


def _data_lines(path: Path) -> int:
    with path.open(newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def _metadata(result, asset: list[str]) -> dict:
    events = [
        e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key.path == asset
    ]
    assert events, f"{asset} was not materialized"
    return {key: value.value for key, value in events[-1].metadata.items()}


def _failure_messages(result) -> str:
    return "\n".join(
        e.step_failure_data.error.message + str(e.step_failure_data.error.cause or "")
        for e in result.get_step_failure_events()
    )


@pytest.fixture(scope="module")
def bad_run(spark, tmp_path_factory):
    """Small real users/movies with bad lines appended, a watch history and reviews of bad rows."""
    root = tmp_path_factory.mktemp("bad_input")
    raw = root / "raw"
    _write_base(raw)
    for table, lines in BAD_LINES.items():
        path = raw / f"{table}.csv"
        text = path.read_text()
        body = "\n".join(line for line, _ in lines)
        # The truncated users line is the last line of its file, cut without a newline.
        path.write_text(text + body + ("" if table == "users" else "\n"))
    settings = make_settings(root, raw=raw)
    result = dg.materialize(
        LAKE_ASSETS,
        resources=resources_for(settings),
        partition_key=MONTH,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    return settings, result


@pytest.mark.parametrize("table", ["users", "movies", "watch_history", "reviews", "search_logs"])
def test_count_in_equals_count_out(bad_run, spark, table):
    settings, result = bad_run
    assert result.success, _failure_messages(result)
    asset = [
        "lake",
        {
            "users": "dim_users",
            "movies": "dim_movies",
            "watch_history": "fact_watch_sessions",
            "reviews": "fact_reviews",
            "search_logs": "fact_searches",
        }[table],
    ]
    metadata = _metadata(result, asset)
    lines_in = _data_lines(Path(settings.raw_uri) / f"{table}.csv")
    clean = len(read_lake_rows(spark, settings, asset[1])) if Path(settings.lake_uri, asset[1]).exists() else 0
    rejected = read_rejected(spark, settings, table)
    assert metadata["raw_rows"] == lines_in
    assert lines_in == clean + len(rejected) + metadata["exact_duplicates_collapsed"]
    assert metadata["rejected_rows"] == len(rejected)


@pytest.mark.parametrize("table", list(BAD_LINES))
def test_each_bad_line_is_rejected_with_its_reason(bad_run, spark, table):
    settings, result = bad_run
    assert result.success, _failure_messages(result)
    rejected = read_rejected(spark, settings, table)
    by_line = {}
    for row in rejected:
        values = json.loads(row["raw_row"])
        by_line[values.get(HEADERS[table][0])] = row["reason"]
    clean_keys = {row[HEADERS[table][0]] for row in read_lake_rows(spark, settings, _lake_table(table))}
    for line, expectation in BAD_LINES[table]:
        key = line.split(",")[0]
        if expectation == "clean":
            assert key in clean_keys and key not in by_line, line
        else:
            assert by_line.get(key) == expectation, (line, by_line.get(key))
            assert key not in clean_keys


def _lake_table(table: str) -> str:
    return {
        "users": "dim_users",
        "movies": "dim_movies",
        "watch_history": "fact_watch_sessions",
        "reviews": "fact_reviews",
    }[table]


def test_malformed_lines_keep_their_text(bad_run, spark):
    settings, _ = bad_run
    rows = {
        json.loads(r["raw_row"]).get("user_id"): json.loads(r["raw_row"])
        for r in read_rejected(spark, settings, "users")
    }
    assert rows["user_95004"]["_corrupt_record"] == "user_95004,d@example.org,A,B,30.0,Male,USA"
    sessions = {
        json.loads(r["raw_row"]).get("session_id"): json.loads(r["raw_row"])
        for r in read_rejected(spark, settings, "watch_history")
    }
    assert sessions["session_b05"]["_corrupt_record"] == "session_b05,user_00001,movie_0001,2024-06-11,Mobile,12.0"
    assert sessions["session_b01"]["watch_duration_minutes"] == "abc"
    # Every column of the file is in the JSON, a blank one as null; the unparsed line only when there is one.
    assert list(sessions["session_b01"]) == HEADERS["watch_history"]
    assert sessions["session_b01"]["user_rating"] is None


def test_bad_rows_agree_with_the_oracle(bad_run, spark):
    settings, _ = bad_run
    with Oracle(settings.raw_uri) as oracle:
        for table in ("users", "movies", "watch_history", "reviews"):
            actual = Counter(
                (r["reason"], r["month"], raw_tuple_of_json(r["raw_row"], table))
                for r in read_rejected(spark, settings, table)
            )
            assert actual == Counter(oracle.rejected(table)), table


def test_header_only_file_gives_an_empty_table(bad_run, spark):
    settings, result = bad_run
    metadata = _metadata(result, ["lake", "fact_searches"])
    assert metadata["raw_rows"] == 0 and metadata["dagster/row_count"] == 0
    assert read_lake_rows(spark, settings, "fact_searches") == []


def _rerun_sessions(bad_run, tmp_path, watch_history_text: str):
    settings, _ = bad_run
    raw = tmp_path / "raw"
    shutil.copytree(settings.raw_uri, raw)
    shutil.copytree(settings.lake_uri, tmp_path / "lake")
    (raw / "watch_history.csv").write_text(watch_history_text)
    rerun = make_settings(tmp_path, raw=raw)
    result = dg.materialize(
        [fact_watch_sessions],
        resources=resources_for(rerun),
        partition_key=MONTH,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    return rerun, result


def test_header_only_watch_history_empties_the_month(bad_run, spark, tmp_path):
    header = ",".join(HEADERS["watch_history"]) + "\n"
    settings, result = _rerun_sessions(bad_run, tmp_path, header)
    assert result.success, _failure_messages(result)
    assert _metadata(result, ["lake", "fact_watch_sessions"])["raw_rows"] == 0
    assert _metadata(result, ["lake", "fact_watch_sessions"])["dagster/row_count"] == 0
    assert not list(Path(settings.lake_uri, "fact_watch_sessions").rglob(f"month={MONTH}/*.parquet"))
    assert read_rejected(spark, settings, "watch_history") == []


def test_header_only_watch_history_gives_empty_monthly_tables(bad_run, spark, tmp_path):
    from netflix_assets.assets.processed import processed_assets

    header = ",".join(HEADERS["watch_history"]) + "\n"
    settings, result = _rerun_sessions(bad_run, tmp_path, header)
    assert result.success, _failure_messages(result)
    monthly = [a for a in processed_assets if a.partitions_def is not None]
    downstream = dg.materialize(
        monthly,
        resources=resources_for(settings),
        partition_key=MONTH,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert downstream.success, _failure_messages(downstream)
    for table in ("monthly_engagement", "monthly_active_users", "content_performance", "genre_performance"):
        assert _metadata(downstream, ["netflix_processed", table])["dagster/row_count"] == 0


def test_a_session_without_a_watch_date_is_not_lost(bad_run, spark, tmp_path):
    text = csv_lines("watch_history", [_session("session_n01", watch_date=""), _session("session_n02")])
    settings, result = _rerun_sessions(bad_run, tmp_path, ",".join(HEADERS["watch_history"]) + "\n" + text)
    assert result.success, _failure_messages(result)
    written = {row["session_id"] for row in read_lake_rows(spark, settings, "fact_watch_sessions")}
    rejected = {json.loads(r["raw_row"]).get("session_id") for r in read_rejected(spark, settings, "watch_history")}
    assert "session_n02" in written
    assert "session_n01" in written | rejected, "a session without a watch_date vanished"


def test_rejected_sessions_of_months_without_a_partition_are_kept_and_counted(bad_run, spark, tmp_path):
    sessions = [
        _session("session_o01", watch_date="2019-06-10", user_id="user_99999"),  # before the first month
        _session("session_o02", watch_date="2099-01-05", action="rewound"),  # after the current month
        _session("session_o03", watch_date="2019-06-11"),  # clean, but no partition to write it to
        _session("session_o04"),
    ]
    text = ",".join(HEADERS["watch_history"]) + "\n" + csv_lines("watch_history", sessions)
    settings, result = _rerun_sessions(bad_run, tmp_path, text)
    assert result.success, _failure_messages(result)
    rejected = {json.loads(r["raw_row"])["session_id"]: r for r in read_rejected(spark, settings, "watch_history")}
    assert rejected["session_o01"]["reason"] == "unknown_user"
    assert str(rejected["session_o01"]["month"]) == "2019-06-01"
    assert rejected["session_o02"]["reason"] == "bad_value"
    assert {row["session_id"] for row in read_lake_rows(spark, settings, "fact_watch_sessions")} == {"session_o04"}
    metadata = _metadata(result, ["lake", "fact_watch_sessions"])
    assert metadata["rejected_rows"] == 2 and metadata["clean_sessions_in_other_months"] == 1
    assert metadata["raw_rows"] == 3  # the clean session of 2019 is counted apart, above


# -- whole files that cannot be read: a clear error, naming the file and the problem ----------


def test_missing_column_is_a_clear_error(spark, tmp_path):
    raw = tmp_path / "raw"
    _write_base(raw)
    with (raw / "movies.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    drop = rows[0].index("imdb_rating")
    with (raw / "movies.csv").open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([r[:drop] + r[drop + 1 :] for r in rows])
    with pytest.raises(RawInputError, match=r"movies\.csv.*imdb_rating"):
        read_raw_csv(spark, str(raw / "movies.csv"), "movies")

    settings = make_settings(tmp_path, raw=raw)
    result = dg.materialize(
        [dim_movies], resources=resources_for(settings), instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert not result.success
    message = _failure_messages(result)
    assert "movies.csv" in message and "imdb_rating" in message
    assert not Path(settings.lake_uri, "dim_movies").exists()


def test_missing_file_is_a_clear_error(spark, tmp_path):
    raw = tmp_path / "raw"
    _write_base(raw)
    (raw / "reviews.csv").unlink()
    with pytest.raises(RawInputError, match=r"reviews\.csv"):
        read_raw_csv(spark, str(raw / "reviews.csv"), "reviews")
    settings = make_settings(tmp_path, raw=raw)
    raw_reviews = next(a for a in raw_assets if a.key.path == ["raw", "reviews"])
    result = dg.materialize(
        [raw_reviews], resources=resources_for(settings), instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert not result.success
    assert "reviews.csv" in _failure_messages(result)


def test_empty_file_without_header_is_a_clear_error(spark, tmp_path):
    path = tmp_path / "users.csv"
    path.write_text("")
    with pytest.raises(RawInputError, match=r"users\.csv"):
        read_raw_csv(spark, str(path), "users")


def test_wrong_file_under_the_name_is_a_clear_error(spark, tmp_path):
    """search_logs content saved as users.csv: every users column but none is named."""
    path = tmp_path / "users.csv"
    shutil.copyfile(SAMPLE_RAW / "search_logs.csv", path)
    with pytest.raises(RawInputError, match=r"users\.csv.*(email|age)"):
        read_raw_csv(spark, str(path), "users")


# -- valid CSV that must read as written (RFC 4180, as pandas and Python's csv module write it) --

_REVIEW_HEADER = ",".join(HEADERS["reviews"]) + "\n"


def _reviews_file(tmp_path: Path, texts: list[str]) -> tuple[Path, list[dict]]:
    rows = [
        dict(
            review_id=f"review_q{i}",
            user_id="user_00001",
            movie_id="movie_0001",
            rating="4",
            review_date="2024-06-01",
            device_type="Mobile",
            is_verified_watch="True",
            helpful_votes="1.0",
            total_votes="2.0",
            review_text=text,
            sentiment="positive",
            sentiment_score="0.5",
        )
        for i, text in enumerate(texts)
    ]
    path = tmp_path / "reviews.csv"
    path.write_text(_REVIEW_HEADER + csv_lines("reviews", rows))
    return path, rows


def test_doubled_quotes_read_as_written(spark, tmp_path):
    path, rows = _reviews_file(tmp_path, ['He said "wow"', "plain"])
    read = {r.review_id: r for r in read_raw_csv(spark, str(path), "reviews").collect()}
    assert {key: r.review_text for key, r in read.items()} == {r["review_id"]: r["review_text"] for r in rows}


def test_quoted_line_break_is_one_row(spark, tmp_path):
    path, rows = _reviews_file(tmp_path, ["Two\nlines", "plain"])
    read = read_raw_csv(spark, str(path), "reviews").collect()
    assert len(read) == len(rows)
    assert {r.review_id: r.review_text for r in read} == {r["review_id"]: r["review_text"] for r in rows}
    assert all(r._corrupt_record is None for r in read)
