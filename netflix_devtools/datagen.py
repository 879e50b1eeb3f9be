"""Synthetic raw files in the schema of the Kaggle "Netflix 2025 User Behavior Dataset".

The full dataset's watch_history.csv is not available offline and the real sample is small, so the
project makes its own inputs. `generate` writes users.csv, movies.csv, watch_history.csv,
reviews.csv and search_logs.csv at any scale, with the column order and value formats of the real
files (sample_data/kaggle-netflix-2025), their value mixes (measured on that sample and
hard-coded below, so nothing reads the sample at run time) and their quality problems, so that
every cleaning rule of the batch layer (SPEC section 4) has rows to catch in every table it
applies to.

Speed and memory: each file is made in chunks of `CHUNK_ROWS` rows. A chunk is drawn with numpy,
turned into CSV text with Arrow compute kernels (no Python loop over rows) and written as one
buffer, so memory stays flat whatever the number of rows; two chunks are made at a time on two
threads (numpy and Arrow release the GIL). Each chunk draws from its own random stream derived
from (seed, file, chunk number) and chunks are written in order: the same seed and arguments give
byte-identical files.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from netflix_core.contract import PRIMARY_KEYS, RAW_COLUMNS

__all__ = [
    "CHUNK_ROWS",
    "COLUMNS",
    "DEFAULT_OUTLIER_RATES",
    "KEYS",
    "SAMPLE_MISSING_RATES",
    "WORKERS",
    "GenerationSummary",
    "QuirkRates",
    "generate",
]

# Header of each file, in the order of the real sample (the contract's order), and its key.
COLUMNS: Mapping[str, tuple[str, ...]] = MappingProxyType(RAW_COLUMNS)
KEYS: Mapping[str, str] = MappingProxyType(PRIMARY_KEYS)

# Rows drawn, formatted and written at a time: bounds the memory of a run. The random streams are
# per chunk, so changing it changes the bytes (not the mixes) of files larger than one chunk.
CHUNK_ROWS = 250_000
WORKERS = 2  # chunks made at the same time (the machine this was tuned on has two cores)
MIN_ROWS_FOR_EVERY_QUIRK = 50  # a file with at least this many rows shows every enabled quirk

# Defaults of the side files relative to the watch history, as in the full dataset (105k sessions,
# 15k reviews, 25k searches); capped so that a very large run stays mostly watch history.
REVIEWS_PER_SESSION, SEARCHES_PER_SESSION, SIDE_FILE_CAP = 0.15, 0.25, 1_000_000

# NULL shares per column in the real sample (watch history: the streaming sample).
SAMPLE_MISSING_RATES: Mapping[str, float] = MappingProxyType(
    {
        "users.age": 0.119,
        "users.gender": 0.080,
        "users.monthly_spend": 0.099,
        "users.household_size": 0.150,
        "movies.imdb_rating": 0.144,
        "watch_history.watch_duration_minutes": 0.118,
        "watch_history.progress_percentage": 0.081,
        "reviews.helpful_votes": 0.117,
        "reviews.total_votes": 0.117,
        "reviews.review_text": 0.051,
        "reviews.sentiment_score": 0.078,
        "search_logs.search_duration_seconds": 0.048,
    }
)
# Shares of values out of their valid range. Ages: 3.2 % of the sample's ages are outside [13, 100];
# the others are absent from the sample but are what the cleaning rules exist for.
DEFAULT_OUTLIER_RATES: Mapping[str, float] = MappingProxyType(
    {
        "users.age": 0.03,  # 1..12, negative, over 100
        "users.monthly_spend": 0.015,  # two in three over 100 (1 % in the sample), or negative
        "users.household_size": 0.005,  # 0
        "movies.duration_minutes": 0.002,  # 0 (one title in the sample)
        "movies.imdb_rating": 0.005,  # over 10 or negative
        "watch_history.watch_duration_minutes": 0.002,  # negative
        "watch_history.progress_percentage": 0.002,  # over 100 or negative
    }
)


@dataclass(frozen=True)
class QuirkRates:
    """How much of each quality problem the files get, as shares of a file's distinct rows.

    `exact_duplicates`, `conflicting_keys` and `missing_keys` (of the primary key) add rows: copies
    of existing rows, appended in shuffled order after the distinct rows of each chunk, as the
    sample appends its duplicates. The other quirks alter rows in place. Each quirk is tied to a
    cleaning rule of SPEC section 4 and is only put where that rule applies:

    - missing_values: NULL shares per "table.column" (default: the sample's shares).
    - outliers: out-of-range shares per "table.column" (see DEFAULT_OUTLIER_RATES).
    - conflicting_keys: same key, other content. users: other e-mail and created_at (one in four
      keeps created_at, a tie broken by e-mail); movies: other imdb_rating and added_to_platform;
      watch_history: other watch_date (three in four in the same month), action, progress and
      duration; reviews and search_logs: another row under the same id and user (and movie).
    - unknown_ids: user_id / movie_id (each) outside the generated users / movies, still well-formed
      (watch_history, reviews; search_logs user_id, for the referential-integrity check).
    - bad_dates: unparseable watch_date.
    - bad_values: watch_history action outside the four values or a non-numeric duration;
      reviews rating 0, 6, 7 or non-numeric.
    - missing_keys: empty or blank primary key (extra rows), and in place empty user_id / movie_id
      in watch_history and reviews, user_id in search_logs.

    The first chunk of a file with at least MIN_ROWS_FOR_EVERY_QUIRK rows gets every quirk whose
    rate is positive at least once, so small test runs still exercise every rule.
    """

    exact_duplicates: float = 0.03
    missing_values: Mapping[str, float] = field(default_factory=lambda: SAMPLE_MISSING_RATES)
    outliers: Mapping[str, float] = field(default_factory=lambda: DEFAULT_OUTLIER_RATES)
    conflicting_keys: float = 0.002
    unknown_ids: float = 0.002
    bad_dates: float = 0.001
    bad_values: float = 0.001
    missing_keys: float = 0.001

    def __post_init__(self) -> None:
        for name, supported in (("missing_values", SAMPLE_MISSING_RATES), ("outliers", DEFAULT_OUTLIER_RATES)):
            unknown = set(getattr(self, name)) - set(supported)
            if unknown:
                raise ValueError(f"{name}: no such column {sorted(unknown)}; choose from {sorted(supported)}")
        rates = {
            name: getattr(self, name)
            for name in (
                "exact_duplicates",
                "conflicting_keys",
                "unknown_ids",
                "bad_dates",
                "bad_values",
                "missing_keys",
            )
        }
        rates.update({f"missing_values[{k}]": v for k, v in self.missing_values.items()})
        rates.update({f"outliers[{k}]": v for k, v in self.outliers.items()})
        for name, rate in rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be a share in [0, 1], got {rate}")


@dataclass(frozen=True)
class GenerationSummary:
    out_dir: Path
    rows: dict[str, int]  # data rows written per file name, e.g. {"users.csv": 10300}
    seconds: float


# --------------------------------------------------------------------------------------------
# Formatting: numpy values -> Arrow string arrays in the sample's text forms (NULL = empty field).

_KEEP_NULLS = pc.JoinOptions(null_handling="emit_null")
_NULL_AS_EMPTY = pc.JoinOptions(null_handling="replace", null_replacement="")
_BOOLEAN_TEXT = pa.array(["False", "True"])
_SIGN_TEXT = pa.array(["", "-"])


def _csv_field(value: str) -> str:
    """A value as a CSV field, quoted only where needed (as pandas writes the sample)."""
    if any(c in value for c in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


class _Categorical:
    """A column with a fixed set of values drawn with the sample's frequencies."""

    def __init__(self, weighted: Sequence[tuple[object, float]]):
        values, weights = zip(*weighted)
        self.values = np.asarray(values)
        self.text = pa.array([_csv_field(str(v)) for v in values])
        shares = np.asarray(weights, dtype=float)
        self.cdf = np.cumsum(shares / shares.sum())

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Codes (positions in the value list)."""
        return np.minimum(np.searchsorted(self.cdf, rng.random(n), side="right"), len(self.cdf) - 1)

    def format(self, codes: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
        return pc.take(self.text, pa.array(codes, mask=null))


def _uniform(values: Sequence[str]) -> _Categorical:
    return _Categorical([(v, 1) for v in values])


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Ids like user_00042: the number zero-padded to `width` digits (wider numbers keep all digits)."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


@cache
def _fraction_text(places: int) -> pa.Array:
    """Fraction digits as Python's repr prints a rounded float: 0 -> "0", 50 -> "5", 5 -> "05"."""
    return pa.array([f"{i:0{places}d}".rstrip("0") or "0" for i in range(10**places)] if places else ["0"])


def _decimal(scaled: np.ndarray, places: int, null: np.ndarray | None = None) -> pa.Array:
    """Numbers given in units of 10**-places, printed like the sample's floats (43.0, 45.9, 13.56, 0.041)."""
    unit = 10**places
    magnitude = np.abs(scaled)
    whole = pc.cast(pa.array(magnitude // unit, mask=null), pa.string())
    fraction = pc.take(_fraction_text(places), pa.array(magnitude % unit))
    sign = pc.take(_SIGN_TEXT, pa.array((scaled < 0).view(np.int8)))
    return pc.binary_join_element_wise(sign, whole, ".", fraction, "", options=_KEEP_NULLS)


def _integers(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pc.cast(pa.array(values, mask=null), pa.string())


def _flags(values: np.ndarray) -> pa.Array:
    return pc.take(_BOOLEAN_TEXT, pa.array(values.view(np.int8)))


@cache
def _clock_text() -> pa.Array:
    """HH:MM:SS for every second of a day."""
    return pa.array([f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)])


def _replace_at(column: pa.Array, rows: np.ndarray, values: Sequence[str] | pa.Array) -> pa.Array:
    """`column` with the text at `rows` (distinct positions) replaced by `values`, in the same order."""
    if len(rows) == 0:
        return column
    order = np.argsort(rows)
    mask = np.zeros(len(column), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(column, pa.array(mask), pa.array(values, pa.string()).take(order))


def _cycle(pattern: Sequence, count: int) -> np.ndarray:
    """`count` values taken from `pattern` in turn: fixed proportions, and the first ones first."""
    return np.resize(np.asarray(pattern), count)


Rows = dict[str, pa.Array]  # column -> text, all of the same length


def _take(rows: Rows, positions: np.ndarray) -> Rows:
    indices = pa.array(positions, pa.int64())
    return {name: column.take(indices) for name, column in rows.items()}


def _concat(parts: Sequence[Rows]) -> Rows:
    return {name: pa.concat_arrays([p[name] for p in parts]) for name in parts[0]}


def _row_count(rows: Rows) -> int:
    return len(next(iter(rows.values())))


# --------------------------------------------------------------------------------------------
# Value mixes measured on the real sample: (value, count in the sample) or shares.

_COUNTRIES = _Categorical((("USA", 7204), ("Canada", 3096)))
_US_STATES = (
    ("North Carolina", 416),
    ("Tennessee", 393),
    ("Texas", 376),
    ("Indiana", 374),
    ("California", 363),
    ("Arizona", 361),
    ("Wisconsin", 359),
    ("Georgia", 359),
    ("Virginia", 357),
    ("Michigan", 356),
    ("Illinois", 355),
    ("Pennsylvania", 355),
    ("Florida", 353),
    ("Maryland", 351),
    ("Ohio", 351),
    ("New York", 349),
    ("New Jersey", 349),
    ("Missouri", 347),
    ("Massachusetts", 345),
    ("Washington", 335),
)
_CA_PROVINCES = (
    ("Nova Scotia", 341),
    ("Quebec", 323),
    ("Ontario", 322),
    ("Prince Edward Island", 314),
    ("Alberta", 310),
    ("British Columbia", 309),
    ("Newfoundland and Labrador", 304),
    ("Manitoba", 299),
    ("New Brunswick", 288),
    ("Saskatchewan", 286),
)
_STATES_OF = (_Categorical(_US_STATES), _Categorical(_CA_PROVINCES))  # by _COUNTRIES code
_STATES = _Categorical(_US_STATES + _CA_PROVINCES)  # text of both: Canadian codes follow the US ones
_GENDERS = _Categorical((("Female", 4324), ("Male", 4228), ("Prefer not to say", 471), ("Other", 453)))
_PLANS = _Categorical((("Standard", 3625), ("Premium", 3619), ("Basic", 2020), ("Premium+", 1036)))
_USER_DEVICES = _Categorical(
    (
        ("Desktop", 1807),
        ("Tablet", 1759),
        ("Laptop", 1706),
        ("Smart TV", 1704),
        ("Gaming Console", 1675),
        ("Mobile", 1649),
    )
)
_HOUSEHOLD_SIZES = _Categorical(((1, 1719), (2, 2659), (3, 1717), (4, 1350), (5, 695), (6, 371), (7, 172), (8, 72)))
_ACTIVE_SHARE = 0.852
_INTENSITY_SHAPE = 4.0  # gamma shape of the users' watching intensity: the sample's users are nearly even
_FIRST_NAMES = _uniform(
    (
        "James",
        "Mary",
        "John",
        "Patricia",
        "Robert",
        "Jennifer",
        "Michael",
        "Linda",
        "William",
        "Elizabeth",
        "David",
        "Barbara",
        "Richard",
        "Susan",
        "Joseph",
        "Jessica",
        "Thomas",
        "Sarah",
        "Charles",
        "Karen",
        "Christopher",
        "Lisa",
        "Daniel",
        "Nancy",
        "Matthew",
        "Betty",
        "Anthony",
        "Sandra",
        "Mark",
        "Margaret",
        "Donald",
        "Ashley",
        "Steven",
        "Kimberly",
        "Paul",
        "Emily",
        "Andrew",
        "Donna",
        "Joshua",
        "Michelle",
        "Kenneth",
        "Carol",
        "Kevin",
        "Amanda",
        "Brian",
        "Melissa",
        "George",
        "Deborah",
        "Timothy",
        "Stephanie",
        "Ronald",
        "Rebecca",
        "Jason",
        "Laura",
        "Edward",
        "Sharon",
        "Jeffrey",
        "Cynthia",
        "Ryan",
        "Kathleen",
        "Jacob",
        "Amy",
        "Gary",
        "Angela",
        "Nicholas",
        "Shirley",
        "Eric",
        "Brenda",
        "Jonathan",
        "Emma",
        "Stephen",
        "Anna",
        "Larry",
        "Pamela",
        "Justin",
        "Nicole",
        "Scott",
        "Samantha",
        "Brandon",
        "Katherine",
        "Benjamin",
        "Christine",
        "Samuel",
        "Debra",
        "Gregory",
        "Rachel",
        "Alexander",
        "Carolyn",
        "Frank",
        "Janet",
        "Patrick",
        "Maria",
        "Raymond",
        "Heather",
        "Jack",
        "Diane",
        "Dennis",
        "Julie",
        "Jerry",
        "Joyce",
    )
)
_LAST_NAMES = _uniform(
    (
        "Smith",
        "Johnson",
        "Williams",
        "Brown",
        "Jones",
        "Garcia",
        "Miller",
        "Davis",
        "Rodriguez",
        "Martinez",
        "Hernandez",
        "Lopez",
        "Gonzalez",
        "Wilson",
        "Anderson",
        "Thomas",
        "Taylor",
        "Moore",
        "Jackson",
        "Martin",
        "Lee",
        "Perez",
        "Thompson",
        "White",
        "Harris",
        "Sanchez",
        "Clark",
        "Ramirez",
        "Lewis",
        "Robinson",
        "Walker",
        "Young",
        "Allen",
        "King",
        "Wright",
        "Scott",
        "Torres",
        "Nguyen",
        "Hill",
        "Flores",
        "Green",
        "Adams",
        "Nelson",
        "Baker",
        "Hall",
        "Rivera",
        "Campbell",
        "Mitchell",
        "Carter",
        "Roberts",
        "Gomez",
        "Phillips",
        "Evans",
        "Turner",
        "Diaz",
        "Parker",
        "Cruz",
        "Edwards",
        "Collins",
        "Reyes",
        "Stewart",
        "Morris",
        "Morales",
        "Murphy",
        "Cook",
        "Rogers",
        "Gutierrez",
        "Ortiz",
        "Morgan",
        "Cooper",
        "Peterson",
        "Bailey",
        "Reed",
        "Kelly",
        "Howard",
        "Ramos",
        "Kim",
        "Cox",
        "Ward",
        "Richardson",
        "Watson",
        "Brooks",
        "Chavez",
        "Wood",
        "James",
        "Bennett",
        "Gray",
        "Mendoza",
        "Ruiz",
        "Hughes",
        "Price",
        "Alvarez",
        "Castillo",
        "Sanders",
        "Patel",
        "Myers",
        "Long",
        "Ross",
        "Foster",
        "Jimenez",
    )
)
# E-mail local parts as Faker writes them in the sample (figueroajohn, smiller, richard13, ...):
# (head, tail) per form, 0 = first name, 1 = last name, 2 = initial, 3 = two digits.
_EMAIL_FORMS = _Categorical((((1, 0), 20), ((0, 1), 25), ((2, 1), 10), ((0, 3), 25), ((1, 3), 20)))
_EMAIL_DOMAINS = _Categorical((("example.org", 3490), ("example.com", 3449), ("example.net", 3361)))
_CITY_PREFIXES = ("North", "South", "East", "West", "New", "Lake", "Port")
_CITY_SUFFIXES = (
    "haven",
    "stad",
    "bury",
    "ton",
    "view",
    "side",
    "fort",
    "furt",
    "mouth",
    "burgh",
    "land",
    "ville",
    "berg",
    "borough",
    "port",
    "chester",
    "shire",
    "town",
    "field",
)

_TITLE_FIRST_WORDS = _uniform(
    (
        "A",
        "Adventure",
        "An",
        "Battle",
        "Big",
        "Bright",
        "City",
        "Dark",
        "Day",
        "Dragon",
        "Dream",
        "Empire",
        "Family",
        "Fire",
        "First",
        "Hero",
        "House",
        "Ice",
        "Journey",
        "King",
        "Kingdom",
        "Last",
        "Legend",
        "Little",
        "Love",
        "Mission",
        "My",
        "Mystery",
        "New",
        "Night",
        "Old",
        "Our",
        "Phoenix",
        "Princess",
        "Queen",
        "Quest",
        "Secret",
        "Storm",
        "Story",
        "The",
        "War",
        "Warrior",
    )
)
_TITLE_LAST_WORDS = _uniform(
    (
        "Adventure",
        "Battle",
        "City",
        "Day",
        "Dragon",
        "Dream",
        "Empire",
        "Family",
        "Fire",
        "Hero",
        "House",
        "Ice",
        "Journey",
        "King",
        "Kingdom",
        "Legend",
        "Love",
        "Mission",
        "Mystery",
        "Night",
        "Phoenix",
        "Princess",
        "Queen",
        "Quest",
        "Secret",
        "Storm",
        "Story",
        "War",
        "Warrior",
    )
)
# content type: count, then mean and standard deviation of duration_minutes
_CONTENT_TYPE_DURATIONS = {
    "Movie": (458, 110, 27),
    "TV Series": (267, 45, 15),
    "Documentary": (142, 87, 19),
    "Stand-up Comedy": (119, 60, 16),
    "Limited Series": (54, 52, 20),
}
_CONTENT_TYPES = _Categorical([(name, v[0]) for name, v in _CONTENT_TYPE_DURATIONS.items()])
_SERIES_TYPES = ("TV Series", "Limited Series")
_GENRES = _Categorical(
    (
        ("Adventure", 72),
        ("War", 62),
        ("Comedy", 60),
        ("Sci-Fi", 60),
        ("Action", 60),
        ("Animation", 59),
        ("Western", 55),
        ("History", 54),
        ("Romance", 54),
        ("Documentary", 52),
        ("Biography", 52),
        ("Crime", 50),
        ("Family", 48),
        ("Horror", 48),
        ("Fantasy", 47),
        ("Music", 45),
        ("Drama", 45),
        ("Sport", 41),
        ("Mystery", 39),
        ("Thriller", 37),
    )
)
_SECONDARY_GENRE_SHARE = 0.359
_CERTIFICATES = _Categorical(
    (
        ("TV-Y", 104),
        ("NC-17", 103),
        ("TV-MA", 100),
        ("TV-Y7", 100),
        ("TV-14", 99),
        ("PG", 97),
        ("G", 97),
        ("PG-13", 95),
        ("TV-PG", 91),
        ("R", 80),
        ("TV-G", 74),
    )
)
_LANGUAGES = _Categorical(
    (
        ("English", 608),
        ("Spanish", 103),
        ("French", 67),
        ("Hindi", 60),
        ("Japanese", 55),
        ("Italian", 53),
        ("Korean", 53),
        ("German", 41),
    )
)
_ORIGINS = _Categorical(
    (
        ("USA", 543),
        ("South Korea", 118),
        ("Canada", 102),
        ("UK", 88),
        ("Japan", 57),
        ("Germany", 48),
        ("France", 44),
        ("India", 40),
    )
)
_LONG_TITLE_SHARE = 0.024  # durations of 200..590 minutes
_BUDGET_SHARE, _BOX_OFFICE_SHARE = 0.80, 0.72  # of movies
_SEASONS_SHARE = 0.90  # of series; series always have number_of_episodes
_ORIGINAL_SHARE, _WARNING_SHARE = 0.306, 0.193
_OLD_TITLE_SHARE = 0.02  # released 1953..1989; the others 1990..the year before the anchor
_FLAT_IMDB_SHARE = 0.15  # IMDb ratings spread evenly over 0.5..10, the others a bell around 6.5

_WATCH_DEVICES = _Categorical((("Smart TV", 950), ("Tablet", 901), ("Desktop", 895), ("Mobile", 880), ("Laptop", 874)))
_ACTIONS = _Categorical((("stopped", 1180), ("started", 1121), ("paused", 1110), ("completed", 1089)))
_QUALITIES = _Categorical((("HD", 50), ("4K", 30), ("SD", 15), ("Ultra HD", 5)))
_WATCH_COUNTRIES = _Categorical((("USA", 3185), ("Canada", 1315)))
_DOWNLOAD_SHARE = 0.194
_RATED_SHARE = 0.193  # sessions with a user_rating
_USER_RATINGS = _Categorical(((1, 84), (2, 120), (3, 239), (4, 259), (5, 168)))
_LONG_SESSION_SHARE = 0.012  # binge sessions of 300..800 minutes
_TIMESTAMP_SHARE = 0.10  # watch_date written as YYYY-MM-DD HH:MM:SS instead of YYYY-MM-DD
_HOURS = _Categorical(
    tuple(
        enumerate(
            (
                36,
                52,
                45,
                44,
                48,
                105,
                106,
                127,
                132,
                136,
                125,
                172,
                181,
                158,
                185,
                179,
                216,
                200,
                347,
                431,
                437,
                432,
                339,
                267,
            )
        )
    )
)

_REVIEW_RATINGS = _Categorical(((1, 776), (2, 1520), (3, 3824), (4, 5373), (5, 3957)))
_REVIEW_TEXTS = {  # by sentiment; as many texts for each
    "negative": (
        "Not worth the time. Very predictable.",
        "Slow paced and boring.",
        "Overhyped. Didn't live up to expectations.",
        "Confusing plot. Hard to follow.",
        "Waste of time. Poor character development.",
        "Poor acting and weak plot.",
        "Boring storyline, couldn't finish watching.",
        "Not my cup of tea. Too violent.",
        "Terrible script and direction.",
        "Disappointing. Expected much more.",
    ),
    "neutral": (
        "It was okay. Nothing special.",
        "Mixed feelings about this one.",
        "Has its moments but overall average.",
        "Watchable but predictable.",
        "Average movie. Some good moments.",
        "Could have been better.",
        "Decent watch but forgettable.",
        "Okay for a one-time watch.",
        "It's fine for background watching.",
        "Not bad but not great either.",
    ),
    "positive": (
        "This series is a masterpiece!",
        "Outstanding direction and screenplay.",
        "Absolutely loved this movie. Great acting and storyline.",
        "One of the best series I've ever watched. Highly recommend!",
        "Amazing show! Couldn't stop watching.",
        "Perfect blend of drama and action.",
        "Brilliant performance by the cast. Must watch!",
        "Incredible story telling. Kept me engaged throughout.",
        "Fantastic cinematography and plot twists.",
        "This movie exceeded my expectations.",
    ),
}
_TEXTS_PER_SENTIMENT = 10
_SENTIMENTS = _uniform(tuple(_REVIEW_TEXTS))
_TEXTS = _uniform(tuple(text for texts in _REVIEW_TEXTS.values() for text in texts))
_SENTIMENT_OF_RATING = np.array([0, 0, 1, 2, 2])  # _SENTIMENTS code for ratings 1..5
_SCORE_RANGES = np.array([(0, 400), (400, 600), (600, 1000)])  # sentiment_score in thousandths, by sentiment
_REVIEW_DEVICES = _Categorical((("Smart TV", 3932), ("Mobile", 3932), ("Tablet", 3800), ("Laptop", 3786)))
_VERIFIED_SHARE = 0.806
_TOTAL_VOTES_MEAN, _HELPFUL_VOTES_MEAN = 5.36, 3.0

_SEARCH_QUERIES = _Categorical(
    (
        ("stand up comedy", 1021),
        ("comedy shows", 1007),
        ("sci-fi", 1001),
        ("classic movies", 995),
        ("superhero movies", 992),
        ("travel documentaries", 983),
        ("new releases", 978),
        ("drama series", 975),
        ("horror movies", 971),
        ("family movies", 970),
        ("romantic comedies", 969),
        ("trending now", 963),
        ("netflix originals", 955),
        ("thriller series", 955),
        ("true crime", 953),
        ("cooking shows", 941),
        ("war movies", 935),
        ("christmas movies", 932),
        ("documentaries", 929),
        ("action movies", 929),
        ("biographies", 919),
        ("animated shows", 918),
        ("korean drama", 882),
        ("music documentaries", 881),
        ("halloween movies", 872),
        ("movies based on true stories", 408),
        ("short episodes under 30 minutes", 403),
        ("shows with strong female leads", 394),
        ("movies like stranger things", 378),
        ("best movies 2024", 372),
        ("award winning documentaries", 365),
        ("series with only one season", 354),
    )
)
_SEARCH_DEVICES = _Categorical((("Tablet", 6783), ("Laptop", 6585), ("Smart TV", 6569), ("Mobile", 6563)))
_SEARCH_COUNTRIES = _Categorical((("USA", 18557), ("Canada", 7943)))
_CLICK_SHARE, _TYPO_SHARE, _FILTER_SHARE = 0.489, 0.151, 0.255

# Quirk values, used in turn so that every kind shows up once a few rows have the quirk.
_BAD_DATES = ("2025-13-45", "not a date", "2024-02-30", "0000-00-00", "yesterday")
_BAD_ACTIONS = ("rewound", "fast_forwarded", "skipped", "buffering")
_NON_NUMBERS = ("abc", "ten")
_BAD_REVIEW_RATINGS = ("7", "0", "abc", "6")
_BLANK_KEYS = ("", "", " ")

# Random streams: one per (seed, file, chunk), and one for the users' traits that files share.
_STREAMS = {"audience": 0, "users": 1, "movies": 2, "watch_history": 3, "reviews": 4, "search_logs": 5}


# --------------------------------------------------------------------------------------------
# Dates


class _Calendar:
    """Days as integers (days since `origin`), printed as YYYY-MM-DD."""

    def __init__(self, first: np.datetime64, last: np.datetime64):
        self.origin = first
        self.text = pa.array(np.arange(first, last + 1, dtype="datetime64[D]").astype(str))

    def day(self, date: np.datetime64) -> int:
        return int((date - self.origin).astype(int))

    def dates(self, days: np.ndarray) -> pa.Array:
        return pc.take(self.text, pa.array(days))

    def timestamps(self, days: np.ndarray, seconds: np.ndarray, micros: np.ndarray | None = None) -> pa.Array:
        """YYYY-MM-DD HH:MM:SS, with .ffffff when `micros` is given."""
        parts = [self.dates(days), " ", pc.take(_clock_text(), pa.array(seconds))]
        if micros is not None:
            parts += [".", pc.utf8_lpad(pc.cast(pa.array(micros), pa.string()), 6, "0")]
        return pc.binary_join_element_wise(*parts, "")

    def months(self, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First day of each day's month, and first day of the month after."""
        month = (self.origin + days).astype("datetime64[M]")
        start = (month.astype("datetime64[D]") - self.origin).astype(np.int64)
        end = ((month + 1).astype("datetime64[D]") - self.origin).astype(np.int64)
        return start, end


@dataclass(frozen=True)
class _Window:
    """The days of activity (sessions, reviews, searches) and of account data, as calendar days.

    In the sample, subscriptions and created_at span the three years up to 2025-08-01, titles were
    added in the five years up to then, and activity runs 2024-01..2025-12. The same spans are kept
    for any window, anchored four months before the end month.
    """

    start: int  # first day of the start month
    end: int  # last day of the end month
    subscriptions: tuple[int, int]  # first and last subscription_start_date (created_at: a day later)
    additions: tuple[int, int]  # first and last added_to_platform
    last_release_year: int
    calendar: _Calendar

    @classmethod
    def parse(cls, start: str, end: str) -> _Window:
        try:
            if not all(re.fullmatch(r"\d{4}-\d{2}", m) for m in (start, end)):
                raise ValueError
            first_month, last_month = np.datetime64(start, "M"), np.datetime64(end, "M")
        except (TypeError, ValueError):
            raise ValueError(f"start and end must be months as YYYY-MM, got {start!r} and {end!r}") from None
        if last_month < first_month:
            raise ValueError(f"end {end} is before start {start}")
        anchor_month = last_month - 4
        anchor = anchor_month.astype("datetime64[D]")
        first_day = first_month.astype("datetime64[D]")
        last_day = (last_month + 1).astype("datetime64[D]") - 1
        added_from = (anchor_month - 60).astype("datetime64[D]") + 1
        calendar = _Calendar(min(first_day, added_from), max(last_day, anchor + 1))
        return cls(
            start=calendar.day(first_day),
            end=calendar.day(last_day),
            subscriptions=(calendar.day((anchor_month - 36).astype("datetime64[D]") + 1), calendar.day(anchor)),
            additions=(calendar.day(added_from), calendar.day(anchor)),
            last_release_year=anchor.astype(object).year - 1,
            calendar=calendar,
        )


@dataclass(frozen=True)
class _Audience:
    """Per-user traits shared by users.csv and watch_history.csv.

    A user watches from the later of subscription_start_date and the window start up to the window
    end (or an earlier churn day, for users no longer active), with a personal intensity. Users keep
    joining during the window, so sessions grow month by month, and cohorts and retention curves
    look like those of a real service.
    """

    subscribed: np.ndarray  # subscription_start_date, as a calendar day
    active: np.ndarray  # is_active
    first_day: np.ndarray  # first day the user can watch
    span: np.ndarray  # number of days the user can watch
    cdf: np.ndarray  # cumulative share of all sessions, by user

    @classmethod
    def draw(cls, rng: np.random.Generator, users: int, window: _Window) -> _Audience:
        subscribed = rng.integers(window.subscriptions[0], window.subscriptions[1] + 1, users)
        active = rng.random(users) < _ACTIVE_SHARE
        first_day = np.clip(subscribed, window.start, window.end)
        churn_day = first_day + np.floor(rng.random(users) * (window.end - first_day + 1)).astype(np.int64)
        span = np.where(active, window.end, churn_day) - first_day + 1
        weight = rng.gamma(_INTENSITY_SHAPE, 1.0, users) * span
        return cls(subscribed, active, first_day, span, np.cumsum(weight / weight.sum()))

    def sessions(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """User numbers (1-based) and days of `n` sessions."""
        user = np.minimum(np.searchsorted(self.cdf, rng.random(n), side="right"), len(self.cdf) - 1)
        day = self.first_day[user] + np.floor(rng.random(n) * self.span[user]).astype(np.int64)
        return user + 1, day


# --------------------------------------------------------------------------------------------
# Quirk bookkeeping


@dataclass(frozen=True)
class _Quota:
    """How many rows of one chunk get each quirk, and which."""

    rates: QuirkRates
    rows: int
    guarantee: bool  # every quirk with a positive rate appears at least once in this chunk

    def count(self, rate: float) -> int:
        if rate <= 0:
            return 0
        wanted = round(rate * self.rows)
        return min(max(wanted, 1) if self.guarantee else wanted, self.rows)

    def nulls(self, rng: np.random.Generator, column: str) -> np.ndarray | None:
        rate = self.rates.missing_values.get(column, 0.0)
        return rng.random(self.rows) < rate if rate > 0 else None

    def outliers(self, rng: np.random.Generator, column: str, null: np.ndarray | None) -> np.ndarray:
        """Rows that get an out-of-range value in `column` (and so are not NULL there)."""
        rows = rng.choice(self.rows, self.count(self.rates.outliers.get(column, 0.0)), replace=False)
        if null is not None:
            null[rows] = False
        return rows

    def pick(self, rng: np.random.Generator, **counts: int) -> dict[str, np.ndarray]:
        """Rows for each named quirk, no row shared, so that each quirk is seen on its own."""
        rows = rng.choice(self.rows, min(sum(counts.values()), self.rows), replace=False)
        bounds = np.cumsum([0, *counts.values()])
        return {name: rows[bounds[i] : bounds[i + 1]] for i, name in enumerate(counts)}


def _blank(column: pa.Array, rows: np.ndarray) -> pa.Array:
    return _replace_at(column, rows, [""] * len(rows))


# --------------------------------------------------------------------------------------------
# The five files

ChunkMaker = Callable[[np.random.Generator, int, int, _Quota], tuple[Rows, Rows]]


class _Files:
    """Makes the chunks of each file and holds what the files share: sizes, id widths, window, users.

    A chunk maker takes (random stream, number of rows before the chunk, rows, quota) and returns
    the chunk's distinct rows, with their in-place quirks, and its conflicting copies.
    """

    def __init__(self, sizes: dict[str, int], window: _Window, quirks: QuirkRates, seed: int):
        self.sizes, self.window, self.quirks, self.seed = sizes, window, quirks, seed
        # Width of the digits of ids, as in the sample (user_00001, movie_0001, session_000001),
        # wider when the numbers need it.
        self.widths = {table: max(6, len(str(size))) for table, size in sizes.items()}
        self.widths["users"] = max(5, len(str(sizes["users"])))
        self.widths["movies"] = max(4, len(str(sizes["movies"])))
        self.audience = _Audience.draw(self.rng("audience", 0), sizes["users"], window)
        self.makers: dict[str, ChunkMaker] = {
            "users": self._users,
            "movies": self._movies,
            "watch_history": self._watch_history,
            "reviews": self._reviews,
            "search_logs": self._search_logs,
        }

    def rng(self, stream: str, chunk: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, _STREAMS[stream], chunk])

    def ids(self, table: str, numbers: np.ndarray) -> pa.Array:
        prefix = {
            "users": "user_",
            "movies": "movie_",
            "watch_history": "session_",
            "reviews": "review_",
            "search_logs": "search_",
        }[table]
        return _ids(prefix, numbers, self.widths[table])

    def unknown(self, rng: np.random.Generator, table: str, n: int) -> np.ndarray:
        """Well-formed numbers past the last user or movie: a few distinct ones, as stray ids are."""
        size = self.sizes[table]
        return size + 1 + rng.integers(0, max(10, size // 100), n)

    # ---- users ------------------------------------------------------------------------------

    def _users(self, rng: np.random.Generator, first: int, n: int, quota: _Quota) -> tuple[Rows, Rows]:
        window, calendar = self.window, self.window.calendar
        first_names, last_names = _FIRST_NAMES.draw(rng, n), _LAST_NAMES.draw(rng, n)
        age = np.rint(rng.normal(35, 12, n)).astype(np.int64)
        out_of_range = (age < 13) | (age > 100)
        age[out_of_range] = rng.integers(18, 61, out_of_range.sum())
        country = _COUNTRIES.draw(rng, n)
        state = np.where(country == 0, _STATES_OF[0].draw(rng, n), len(_US_STATES) + _STATES_OF[1].draw(rng, n))
        spend = np.maximum(np.rint(rng.gamma(2.0, 790.0, n)), 10).astype(np.int64)  # cents
        household = _HOUSEHOLD_SIZES.values[_HOUSEHOLD_SIZES.draw(rng, n)]
        created = (
            rng.integers(window.subscriptions[0] + 1, window.subscriptions[1] + 2, n),
            rng.integers(0, 86_400, n),
            rng.integers(0, 1_000_000, n),
        )

        nulls = {c: quota.nulls(rng, f"users.{c}") for c in ("age", "gender", "monthly_spend", "household_size")}
        rows = quota.outliers(rng, "users.age", nulls["age"])
        kind = _cycle((0, 1, 0, 2, 0, 0), len(rows))  # mostly children, more of them near 12, as in the sample
        children = np.maximum(13 - rng.geometric(0.25, len(rows)), 0)
        age[rows] = np.select(
            [kind == 0, kind == 1], [children, rng.integers(-7, 0, len(rows))], rng.integers(101, 110, len(rows))
        )
        rows = quota.outliers(rng, "users.monthly_spend", nulls["monthly_spend"])
        spend[rows] = np.where(
            _cycle((True, True, False), len(rows)),
            rng.integers(10_000, 100_000, len(rows)),
            -rng.integers(1, 5_000, len(rows)),
        )
        household[quota.outliers(rng, "users.household_size", nulls["household_size"])] = 0

        base = {
            "user_id": self.ids("users", np.arange(first + 1, first + n + 1)),
            "email": _emails(rng, first_names, last_names),
            "first_name": _FIRST_NAMES.format(first_names),
            "last_name": _LAST_NAMES.format(last_names),
            "age": _decimal(age, 0, nulls["age"]),
            "gender": _GENDERS.format(_GENDERS.draw(rng, n), nulls["gender"]),
            "country": _COUNTRIES.format(country),
            "state_province": _STATES.format(state),
            "city": _cities(rng, n),
            "subscription_plan": _PLANS.format(_PLANS.draw(rng, n)),
            "subscription_start_date": calendar.dates(self.audience.subscribed[first : first + n]),
            "is_active": _flags(self.audience.active[first : first + n]),
            "monthly_spend": _decimal(spend, 2, nulls["monthly_spend"]),
            "primary_device": _USER_DEVICES.format(_USER_DEVICES.draw(rng, n)),
            "household_size": _decimal(household, 0, nulls["household_size"]),
            "created_at": calendar.timestamps(*created),
        }

        # Conflicting copies: another e-mail, and another created_at but for one in four (a tie).
        sources = rng.choice(n, quota.count(quota.rates.conflicting_keys), replace=False)
        conflicts = _take(base, sources)
        conflicts["email"] = _emails(rng, first_names[sources], last_names[sources], distinct=True)
        moved = np.flatnonzero(_cycle((True, False, True, True), len(sources)))
        conflicts["created_at"] = _replace_at(
            conflicts["created_at"],
            moved,
            calendar.timestamps(
                rng.integers(window.subscriptions[0] + 1, window.subscriptions[1] + 2, len(moved)),
                rng.integers(0, 86_400, len(moved)),
                rng.integers(0, 1_000_000, len(moved)),
            ),
        )
        return base, conflicts

    # ---- movies -----------------------------------------------------------------------------

    def _movies(self, rng: np.random.Generator, first: int, n: int, quota: _Quota) -> tuple[Rows, Rows]:
        window = self.window
        kind = _CONTENT_TYPES.draw(rng, n)
        is_movie = _CONTENT_TYPES.values[kind] == "Movie"
        is_series = np.isin(_CONTENT_TYPES.values[kind], _SERIES_TYPES)
        mean, spread = (np.array([v[i] for v in _CONTENT_TYPE_DURATIONS.values()]) for i in (1, 2))
        duration = np.maximum(np.rint(rng.normal(mean[kind], spread[kind])), 5).astype(np.int64)
        long = rng.random(n) < _LONG_TITLE_SHARE
        duration[long] = rng.integers(200, 591, long.sum())
        release_year = np.where(
            rng.random(n) < _OLD_TITLE_SHARE,
            rng.integers(1953, 1990, n),
            rng.integers(1990, window.last_release_year + 1, n),
        )
        secondary = np.where(rng.random(n) < _SECONDARY_GENRE_SHARE, _GENRES.draw(rng, n), -1)
        budget = np.rint(rng.lognormal(np.log(3.78e6), 1.45, n)).astype(np.int64)
        box_office = np.rint(rng.lognormal(np.log(11.3e6), 2.1, n)).astype(np.int64)
        imdb = _imdb_tenths(rng, n)

        imdb_null = quota.nulls(rng, "movies.imdb_rating")
        rows = quota.outliers(rng, "movies.imdb_rating", imdb_null)
        imdb[rows] = np.where(
            _cycle((True, True, False), len(rows)), rng.integers(101, 151, len(rows)), -rng.integers(1, 31, len(rows))
        )
        duration[quota.outliers(rng, "movies.duration_minutes", None)] = 0

        base = {
            "movie_id": self.ids("movies", np.arange(first + 1, first + n + 1)),
            "title": pc.binary_join_element_wise(
                _TITLE_FIRST_WORDS.format(_TITLE_FIRST_WORDS.draw(rng, n)),
                " ",
                _TITLE_LAST_WORDS.format(_TITLE_LAST_WORDS.draw(rng, n)),
                "",
            ),
            "content_type": _CONTENT_TYPES.format(kind),
            "genre_primary": _GENRES.format(_GENRES.draw(rng, n)),
            "genre_secondary": _GENRES.format(secondary, secondary < 0),
            "release_year": _integers(release_year),
            "duration_minutes": _decimal(duration, 0),
            "rating": _CERTIFICATES.format(_CERTIFICATES.draw(rng, n)),
            "language": _LANGUAGES.format(_LANGUAGES.draw(rng, n)),
            "country_of_origin": _ORIGINS.format(_ORIGINS.draw(rng, n)),
            "imdb_rating": _decimal(imdb, 1, imdb_null),
            "production_budget": _decimal(budget, 0, ~(is_movie & (rng.random(n) < _BUDGET_SHARE))),
            "box_office_revenue": _decimal(box_office, 0, ~(is_movie & (rng.random(n) < _BOX_OFFICE_SHARE))),
            "number_of_seasons": _decimal(rng.integers(1, 15, n), 0, ~(is_series & (rng.random(n) < _SEASONS_SHARE))),
            "number_of_episodes": _decimal(rng.integers(6, 200, n), 0, ~is_series),
            "is_netflix_original": _flags(rng.random(n) < _ORIGINAL_SHARE),
            "added_to_platform": window.calendar.dates(rng.integers(window.additions[0], window.additions[1] + 1, n)),
            "content_warning": _flags(rng.random(n) < _WARNING_SHARE),
        }

        # Conflicting copies: another imdb_rating and date added.
        sources = rng.choice(n, quota.count(quota.rates.conflicting_keys), replace=False)
        conflicts = _take(base, sources)
        conflicts["imdb_rating"] = _decimal(_imdb_tenths(rng, len(sources)), 1)
        conflicts["added_to_platform"] = window.calendar.dates(
            rng.integers(window.additions[0], window.additions[1] + 1, len(sources))
        )
        return base, conflicts

    # ---- watch_history ----------------------------------------------------------------------

    def _draw_sessions(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        user, day = self.audience.sessions(rng, n)
        duration = np.maximum(np.rint(rng.gamma(2.0, 300.0, n)), 1).astype(np.int64)  # tenths of minutes
        binge = rng.random(n) < _LONG_SESSION_SHARE
        duration[binge] = rng.integers(3_000, 8_000, binge.sum())
        timed = rng.random(n) < _TIMESTAMP_SHARE
        second = _HOURS.draw(rng, n) * 3600 + rng.integers(0, 3600, n)
        rated = rng.random(n) < _RATED_SHARE
        return {
            "user": user,
            "movie": rng.integers(1, self.sizes["movies"] + 1, n),
            "day": day,
            "second": np.where(timed, second, -1),
            "device": _WATCH_DEVICES.draw(rng, n),
            "duration": duration,
            "progress": rng.integers(0, 1001, n),
            "action": _ACTIONS.draw(rng, n),
            "quality": _QUALITIES.draw(rng, n),
            "country": _WATCH_COUNTRIES.draw(rng, n),
            "download": rng.random(n) < _DOWNLOAD_SHARE,
            "rating": np.where(rated, _USER_RATINGS.values[_USER_RATINGS.draw(rng, n)], 0),
        }

    def _format_sessions(
        self, numbers: np.ndarray, s: dict[str, np.ndarray], nulls: Mapping[str, np.ndarray | None]
    ) -> Rows:
        calendar = self.window.calendar
        timed = np.flatnonzero(s["second"] >= 0)
        return {
            "session_id": self.ids("watch_history", numbers),
            "user_id": self.ids("users", s["user"]),
            "movie_id": self.ids("movies", s["movie"]),
            "watch_date": _replace_at(
                calendar.dates(s["day"]), timed, calendar.timestamps(s["day"][timed], s["second"][timed])
            ),
            "device_type": _WATCH_DEVICES.format(s["device"]),
            "watch_duration_minutes": _decimal(s["duration"], 1, nulls.get("watch_duration_minutes")),
            "progress_percentage": _decimal(s["progress"], 1, nulls.get("progress_percentage")),
            "action": _ACTIONS.format(s["action"]),
            "quality": _QUALITIES.format(s["quality"]),
            "location_country": _WATCH_COUNTRIES.format(s["country"]),
            "is_download": _flags(s["download"]),
            "user_rating": _decimal(s["rating"], 0, s["rating"] == 0),
        }

    def _watch_history(self, rng: np.random.Generator, first: int, n: int, quota: _Quota) -> tuple[Rows, Rows]:
        rates = quota.rates
        numbers = np.arange(first + 1, first + n + 1)
        s = self._draw_sessions(rng, n)
        nulls = {c: quota.nulls(rng, f"watch_history.{c}") for c in ("watch_duration_minutes", "progress_percentage")}
        rows = quota.outliers(rng, "watch_history.watch_duration_minutes", nulls["watch_duration_minutes"])
        s["duration"][rows] = -rng.integers(1, 1_200, len(rows))
        rows = quota.outliers(rng, "watch_history.progress_percentage", nulls["progress_percentage"])
        s["progress"][rows] = np.where(
            _cycle((True, False), len(rows)), rng.integers(1_001, 1_500, len(rows)), -rng.integers(1, 200, len(rows))
        )
        picked = quota.pick(
            rng,
            conflict=quota.count(rates.conflicting_keys),
            bad_date=quota.count(rates.bad_dates),
            bad_value=quota.count(rates.bad_values),
            unknown_user=quota.count(rates.unknown_ids),
            unknown_movie=quota.count(rates.unknown_ids),
            blank_user=quota.count(rates.missing_keys),
            blank_movie=quota.count(rates.missing_keys),
        )
        s["user"][picked["unknown_user"]] = self.unknown(rng, "users", len(picked["unknown_user"]))
        s["movie"][picked["unknown_movie"]] = self.unknown(rng, "movies", len(picked["unknown_movie"]))

        base = self._format_sessions(numbers, s, nulls)
        base["user_id"] = _blank(base["user_id"], picked["blank_user"])
        base["movie_id"] = _blank(base["movie_id"], picked["blank_movie"])
        base["watch_date"] = _replace_at(
            base["watch_date"], picked["bad_date"], _cycle(_BAD_DATES, len(picked["bad_date"]))
        )
        bad_action = _cycle((True, False), len(picked["bad_value"]))
        rows = picked["bad_value"][bad_action]
        base["action"] = _replace_at(base["action"], rows, _cycle(_BAD_ACTIONS, len(rows)))
        rows = picked["bad_value"][~bad_action]
        base["watch_duration_minutes"] = _replace_at(
            base["watch_duration_minutes"], rows, _cycle(_NON_NUMBERS, len(rows))
        )

        # Conflicting copies: the same session (user and title) recorded again on another day,
        # with another outcome.
        sources = picked["conflict"]
        again = self._draw_sessions(rng, len(sources))
        again["user"], again["movie"] = s["user"][sources], s["movie"][sources]
        again["day"] = self._other_days(rng, s["day"][sources])
        return base, self._format_sessions(numbers[sources], again, {})

    def _other_days(self, rng: np.random.Generator, days: np.ndarray) -> np.ndarray:
        """Other days for the same sessions: three in four in the same month, the others in the
        month before or after, when the window has one."""
        window, n = self.window, len(days)
        month_start, next_month = window.calendar.months(days)
        same_month = month_start + (days - month_start + rng.integers(1, 28, n)) % (next_month - month_start)
        after = next_month + rng.integers(0, 28, n)
        before = month_start - 1 - rng.integers(0, 28, n)
        other_month = np.where(rng.random(n) < 0.5, after, before)
        other_month = np.where(other_month > window.end, before, other_month)
        other_month = np.where(other_month < window.start, after, other_month)
        crossing = _cycle((False, False, False, True), n) & (other_month >= window.start) & (other_month <= window.end)
        return np.where(crossing, other_month, same_month)

    # ---- reviews ----------------------------------------------------------------------------

    def _draw_reviews(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        total = rng.poisson(_TOTAL_VOTES_MEAN, n)
        return {
            "user": rng.integers(1, self.sizes["users"] + 1, n),
            "movie": rng.integers(1, self.sizes["movies"] + 1, n),
            "rating": _REVIEW_RATINGS.values[_REVIEW_RATINGS.draw(rng, n)],
            "day": rng.integers(self.window.start, self.window.end + 1, n),
            "device": _REVIEW_DEVICES.draw(rng, n),
            "verified": rng.random(n) < _VERIFIED_SHARE,
            "helpful": np.minimum(rng.poisson(_HELPFUL_VOTES_MEAN, n), total),
            "total": total,
            "text": rng.integers(0, _TEXTS_PER_SENTIMENT, n),
            "score": rng.random(n),
        }

    def _format_reviews(
        self, numbers: np.ndarray, r: dict[str, np.ndarray], nulls: Mapping[str, np.ndarray | None]
    ) -> Rows:
        sentiment = _SENTIMENT_OF_RATING[r["rating"] - 1]
        low, high = _SCORE_RANGES[sentiment].T
        score = np.minimum(low + (r["score"] * (high - low + 1)).astype(np.int64), high)
        return {
            "review_id": self.ids("reviews", numbers),
            "user_id": self.ids("users", r["user"]),
            "movie_id": self.ids("movies", r["movie"]),
            "rating": _integers(r["rating"]),
            "review_date": self.window.calendar.dates(r["day"]),
            "device_type": _REVIEW_DEVICES.format(r["device"]),
            "is_verified_watch": _flags(r["verified"]),
            "helpful_votes": _decimal(r["helpful"], 0, nulls.get("helpful_votes")),
            "total_votes": _decimal(r["total"], 0, nulls.get("total_votes")),
            "review_text": _TEXTS.format(sentiment * _TEXTS_PER_SENTIMENT + r["text"], nulls.get("review_text")),
            "sentiment": _SENTIMENTS.format(sentiment),
            "sentiment_score": _decimal(score, 3, nulls.get("sentiment_score")),
        }

    def _reviews(self, rng: np.random.Generator, first: int, n: int, quota: _Quota) -> tuple[Rows, Rows]:
        rates = quota.rates
        numbers = np.arange(first + 1, first + n + 1)
        r = self._draw_reviews(rng, n)
        nulls = {
            c: quota.nulls(rng, f"reviews.{c}")
            for c in ("helpful_votes", "total_votes", "review_text", "sentiment_score")
        }
        picked = quota.pick(
            rng,
            conflict=quota.count(rates.conflicting_keys),
            bad_value=quota.count(rates.bad_values),
            unknown_user=quota.count(rates.unknown_ids),
            unknown_movie=quota.count(rates.unknown_ids),
            blank_user=quota.count(rates.missing_keys),
            blank_movie=quota.count(rates.missing_keys),
        )
        r["user"][picked["unknown_user"]] = self.unknown(rng, "users", len(picked["unknown_user"]))
        r["movie"][picked["unknown_movie"]] = self.unknown(rng, "movies", len(picked["unknown_movie"]))

        base = self._format_reviews(numbers, r, nulls)
        base["user_id"] = _blank(base["user_id"], picked["blank_user"])
        base["movie_id"] = _blank(base["movie_id"], picked["blank_movie"])
        base["rating"] = _replace_at(
            base["rating"], picked["bad_value"], _cycle(_BAD_REVIEW_RATINGS, len(picked["bad_value"]))
        )

        # Conflicting copies: the same review (user and title) written again.
        sources = picked["conflict"]
        again = self._draw_reviews(rng, len(sources))
        again["user"], again["movie"] = r["user"][sources], r["movie"][sources]
        return base, self._format_reviews(numbers[sources], again, {})

    # ---- search_logs ------------------------------------------------------------------------

    def _draw_searches(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        return {
            "user": rng.integers(1, self.sizes["users"] + 1, n),
            "query": _SEARCH_QUERIES.draw(rng, n),
            "day": rng.integers(self.window.start, self.window.end + 1, n),
            "results": rng.integers(0, 101, n),
            "clicked": np.where(rng.random(n) < _CLICK_SHARE, rng.integers(1, 11, n), 0),
            "device": _SEARCH_DEVICES.draw(rng, n),
            "duration": np.maximum(np.rint(rng.gamma(2.0, 100.0, n)), 2).astype(np.int64),  # tenths of seconds
            "typo": rng.random(n) < _TYPO_SHARE,
            "filters": rng.random(n) < _FILTER_SHARE,
            "country": _SEARCH_COUNTRIES.draw(rng, n),
        }

    def _format_searches(self, numbers: np.ndarray, s: dict[str, np.ndarray], duration_null: np.ndarray | None) -> Rows:
        return {
            "search_id": self.ids("search_logs", numbers),
            "user_id": self.ids("users", s["user"]),
            "search_query": _SEARCH_QUERIES.format(s["query"]),
            "search_date": self.window.calendar.dates(s["day"]),
            "results_returned": _integers(s["results"]),
            "clicked_result_position": _integers(s["clicked"], s["clicked"] == 0),
            "device_type": _SEARCH_DEVICES.format(s["device"]),
            "search_duration_seconds": _decimal(s["duration"], 1, duration_null),
            "had_typo": _flags(s["typo"]),
            "used_filters": _flags(s["filters"]),
            "location_country": _SEARCH_COUNTRIES.format(s["country"]),
        }

    def _search_logs(self, rng: np.random.Generator, first: int, n: int, quota: _Quota) -> tuple[Rows, Rows]:
        rates = quota.rates
        numbers = np.arange(first + 1, first + n + 1)
        s = self._draw_searches(rng, n)
        duration_null = quota.nulls(rng, "search_logs.search_duration_seconds")
        picked = quota.pick(
            rng,
            conflict=quota.count(rates.conflicting_keys),
            unknown_user=quota.count(rates.unknown_ids),
            blank_user=quota.count(rates.missing_keys),
        )
        s["user"][picked["unknown_user"]] = self.unknown(rng, "users", len(picked["unknown_user"]))
        base = self._format_searches(numbers, s, duration_null)
        base["user_id"] = _blank(base["user_id"], picked["blank_user"])

        # Conflicting copies: another search logged under the same id, by the same user.
        sources = picked["conflict"]
        again = self._draw_searches(rng, len(sources))
        again["user"] = s["user"][sources]
        return base, self._format_searches(numbers[sources], again, None)


def _imdb_tenths(rng: np.random.Generator, n: int) -> np.ndarray:
    """IMDb ratings in tenths: a bell around 6.5, plus a flat share over the whole scale, as in the sample."""
    bell = np.clip(np.rint(rng.normal(65, 13, n)), 10, 100)
    return np.where(rng.random(n) < _FLAT_IMDB_SHARE, rng.integers(5, 101, n), bell).astype(np.int64)


def _emails(rng: np.random.Generator, first: np.ndarray, last: np.ndarray, distinct: bool = False) -> pa.Array:
    """Faker-like addresses made of the user's names, so that some users share one, as in the sample.

    With `distinct`: first.lastNNN, a form the others never produce, so the address differs from
    any made for the same names without it.
    """
    n = len(first)
    first_text = pc.utf8_lower(_FIRST_NAMES.format(first))
    last_text = pc.utf8_lower(_LAST_NAMES.format(last))
    domain = _EMAIL_DOMAINS.format(_EMAIL_DOMAINS.draw(rng, n))
    if distinct:
        number = pc.utf8_lpad(pc.cast(pa.array(rng.integers(0, 1000, n)), pa.string()), 3, "0")
        return pc.binary_join_element_wise(first_text, ".", last_text, number, "@", domain, "")
    parts = (
        first_text,
        last_text,
        pc.utf8_slice_codeunits(first_text, 0, 1),
        pc.utf8_lpad(pc.cast(pa.array(rng.integers(0, 100, n)), pa.string()), 2, "0"),
    )
    head, tail = (pa.array(codes) for codes in _EMAIL_FORMS.values[_EMAIL_FORMS.draw(rng, n)].T)
    return pc.binary_join_element_wise(pc.choose(head, *parts), pc.choose(tail, *parts), "@", domain, "")


def _cities(rng: np.random.Generator, n: int) -> pa.Array:
    """Faker-like town names: North Jefferyhaven, South Noah, Traciebury, Port Susan."""
    has_prefix = rng.random(n) < 0.5
    has_suffix = ~has_prefix | (rng.random(n) < 0.5)  # a bare name always gets a suffix
    prefix = pc.take(
        pa.array([""] + [p + " " for p in _CITY_PREFIXES]),
        pa.array(np.where(has_prefix, rng.integers(1, len(_CITY_PREFIXES) + 1, n), 0)),
    )
    suffix = pc.take(
        pa.array([""] + list(_CITY_SUFFIXES)),
        pa.array(np.where(has_suffix, rng.integers(1, len(_CITY_SUFFIXES) + 1, n), 0)),
    )
    by_first_name = rng.random(n) < 0.5
    name = pc.if_else(
        pa.array(by_first_name),
        _FIRST_NAMES.format(_FIRST_NAMES.draw(rng, n)),
        _LAST_NAMES.format(_LAST_NAMES.draw(rng, n)),
    )
    return pc.binary_join_element_wise(prefix, name, suffix, "")


# --------------------------------------------------------------------------------------------
# Writing


def _copies(rng: np.random.Generator, table: str, base: Rows, conflicts: Rows, quota: _Quota) -> Rows:
    """The rows that follow the distinct ones, in shuffled order: exact duplicates, conflicting
    copies, and copies whose primary key is empty or blank."""
    n, key = _row_count(base), KEYS[table]
    duplicates = _take(base, rng.integers(0, n, quota.count(quota.rates.exact_duplicates)))
    keyless = _take(base, rng.integers(0, n, quota.count(quota.rates.missing_keys)))
    keyless[key] = pa.array(_cycle(_BLANK_KEYS, len(keyless[key])), pa.string())
    extras = _concat([duplicates, conflicts, keyless])
    return _take(extras, rng.permutation(_row_count(extras)))


def _csv_lines(rows: Rows, columns: Sequence[str]) -> pa.Array:
    """One CSV line per row, each ending with a newline."""
    lines = pc.binary_join_element_wise(*(rows[c] for c in columns), ",", options=_NULL_AS_EMPTY)
    return pc.binary_join_element_wise(lines, "\n", "")


def _write_lines(out: BinaryIO, lines: pa.Array) -> None:
    """The lines lie end to end in the array's data buffer: write that part of the buffer as it is."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    out.write(memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]])


def _chunk_lines(files: _Files, table: str, index: int) -> list[pa.Array]:
    """The CSV lines of chunk `index` of `table`: its distinct rows, then their copies."""
    total = files.sizes[table]
    first = index * CHUNK_ROWS
    n = min(CHUNK_ROWS, total - first)
    rng = files.rng(table, index)
    quota = _Quota(files.quirks, n, guarantee=index == 0 and total >= MIN_ROWS_FOR_EVERY_QUIRK)
    base, conflicts = files.makers[table](rng, first, n, quota)
    copies = _copies(rng, table, base, conflicts, quota)
    return [_csv_lines(base, COLUMNS[table]), _csv_lines(copies, COLUMNS[table])]


def _write_file(files: _Files, table: str, path: Path, pool: ThreadPoolExecutor, bar: tqdm) -> int:
    """Write one file, returning its number of data rows.

    Chunks are made `WORKERS` at a time in `pool` (numpy and Arrow release the GIL, so they run on
    separate cores) and written in order, so the bytes do not depend on the timing of the threads.
    The file keeps a temporary name until complete, so no half-written file is left under its name.
    """
    written = 0

    def write_next(out: BinaryIO) -> None:
        nonlocal written
        base_lines, copy_lines = pending.popleft().result()
        _write_lines(out, base_lines)
        _write_lines(out, copy_lines)
        written += len(base_lines) + len(copy_lines)
        bar.update(len(base_lines))

    pending: deque[Future[list[pa.Array]]] = deque()
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as out:
        out.write((",".join(COLUMNS[table]) + "\n").encode())
        for index in range(-(-files.sizes[table] // CHUNK_ROWS)):
            pending.append(pool.submit(_chunk_lines, files, table, index))
            if len(pending) == WORKERS:
                write_next(out)
        while pending:
            write_next(out)
    os.replace(partial, path)
    return written


def generate(
    out_dir: Path | str,
    users: int = 10_000,
    movies: int = 1_000,
    sessions: int = 100_000,
    start: str = "2024-01",
    end: str = "2025-12",
    seed: int = 42,
    quirks: QuirkRates = QuirkRates(),
    progress: bool = True,
    reviews: int | None = None,
    searches: int | None = None,
) -> GenerationSummary:
    """Write users.csv, movies.csv, watch_history.csv, reviews.csv and search_logs.csv into `out_dir`.

    `users`, `movies`, `sessions`, `reviews` and `searches` count distinct ids (user_00001 ...);
    the files have a few more rows: the copies that `quirks` asks for. Sessions, reviews and
    searches fall in the months `start`..`end` (YYYY-MM, both included), apart from deliberately
    bad dates. `reviews` and `searches` default to 15 % and 25 % of `sessions`, at most 1,000,000
    each. The same arguments give byte-identical files. `progress` shows a bar on stderr.
    """
    began = time.perf_counter()
    if reviews is None:
        reviews = min(round(sessions * REVIEWS_PER_SESSION), SIDE_FILE_CAP)
    if searches is None:
        searches = min(round(sessions * SEARCHES_PER_SESSION), SIDE_FILE_CAP)
    if users < 1 or movies < 1:
        raise ValueError("users and movies must be at least 1")
    if min(sessions, reviews, searches) < 0:
        raise ValueError("sessions, reviews and searches must not be negative")
    if seed < 0:
        raise ValueError("seed must not be negative")
    sizes = {"users": users, "movies": movies, "watch_history": sessions, "reviews": reviews, "search_logs": searches}
    files = _Files(sizes, _Window.parse(start, end), quirks, seed)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = {}
    with (
        ThreadPoolExecutor(WORKERS) as pool,
        tqdm(total=sum(sizes.values()), unit=" rows", unit_scale=True, file=sys.stderr, disable=not progress) as bar,
    ):
        for table in COLUMNS:
            bar.set_description(f"{table}.csv")
            rows[f"{table}.csv"] = _write_file(files, table, out / f"{table}.csv", pool, bar)
    return GenerationSummary(out_dir=out, rows=rows, seconds=time.perf_counter() - began)
