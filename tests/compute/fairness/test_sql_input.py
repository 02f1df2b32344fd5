"""A SQL query as the data: the same statistics as the DataFrame the query reads, from every place it runs.

DuckDB in process over a Hive-partitioned Parquet dataset joined with another Parquet file (engines
numpy, streaming Arrow batches, and duckdb, aggregating the query as a subquery), a SQLite file and
a PostgreSQL database by URL (streamed in batches), and Spark SQL. Expected statistics are the numpy
engine's on the DataFrame itself, which ``test_engines_duckdb`` checks against a plain reference.
"""

from __future__ import annotations

import gc
import hashlib
import inspect
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, text

from charter.compute.fairness import SqlQuery, compute_statistics
from charter.errors import InvalidInput
from tests.compute.fairness.test_engines_duckdb import (
    COMPAS_CASES,
    DATA,
    EDGE_SCORES,
    assert_same,
    compas_frame,
    random_frame,
)
from tests.conftest import require_postgres

ENGINES = ("numpy", "duckdb")
COLUMNS = ["race", "sex", "age_cat", "two_year_recid", "high_risk", "recid_text", "high_risk_text", "risk"]


@pytest.fixture(scope="module")
def compas() -> pd.DataFrame:
    if not (DATA / "compas_two_years.csv").exists():
        pytest.skip("the COMPAS data is not in shared/data")
    df = compas_frame()
    df.insert(0, "id", np.arange(len(df), dtype=np.int64))
    df["day"] = [f"2026-01-{1 + i % 28:02d}" for i in range(len(df))]
    return df


@pytest.fixture(scope="module")
def decision_log(compas: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """COMPAS as a decision log is stored: decisions partitioned by day (Hive layout), the sensitive
    attributes in a file of their own, joined by id."""
    root = tmp_path_factory.mktemp("log")
    decisions = compas[["id", "day", "two_year_recid", "high_risk", "recid_text", "high_risk_text", "risk"]]
    pq.write_to_dataset(pa.Table.from_pandas(decisions, preserve_index=False), root / "decisions", ["day"])
    compas[["id", "race", "sex", "age_cat"]].to_parquet(root / "attributes.parquet", index=False)
    return root


def log_query(root: Path, where: str = "", params: dict[str, Any] | None = None) -> SqlQuery:
    return SqlQuery(
        f"""
        SELECT d.*, a.race, a.sex, a.age_cat  -- the decisions and who they were about
        FROM read_parquet('{root}/decisions/**/*.parquet', hive_partitioning = true) AS d
        JOIN read_parquet('{root}/attributes.parquet') AS a USING (id)
        {where};
        """,
        params=params,
    )


def options(case: dict[str, Any]) -> dict[str, Any]:
    return {"positive_label": None, "scores": None, **case}


# -- DuckDB in process ----------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", range(len(COMPAS_CASES)))
def test_partitioned_parquet_joined_equals_the_dataframe(
    compas: pd.DataFrame, decision_log: Path, engine: str, case: int
) -> None:
    want = compute_statistics(compas, **options(COMPAS_CASES[case]))
    got = compute_statistics(log_query(decision_log), engine=engine, **options(COMPAS_CASES[case]))  # type: ignore[arg-type]
    assert_same(got, want)
    assert int(got.rows.sum()) == len(compas) == 6172


@pytest.mark.parametrize("engine", ENGINES)
def test_named_parameters_filter_the_partitions(compas: pd.DataFrame, decision_log: Path, engine: str) -> None:
    query = log_query(decision_log, "WHERE d.day >= $since AND a.sex = $sex", {"since": "2026-01-15", "sex": "Female"})
    case = options(COMPAS_CASES[1])  # race x sex, with scores
    got = compute_statistics(query, engine=engine, **case)  # type: ignore[arg-type]
    kept = compas[(compas["day"] >= "2026-01-15") & (compas["sex"] == "Female")]
    assert 0 < len(kept) < len(compas) / 4
    assert_same(got, compute_statistics(kept, **case))


@pytest.mark.parametrize("seed", range(8))
def test_random_data_both_engines_equal_the_file(tmp_path: Path, seed: int) -> None:
    """1-3 features of mixed types (categoricals, nullable ints and booleans, floats with NaN), gaps,
    label kinds, dyadic weights, scores on the bins' edges."""
    df, opts = random_frame(seed)
    path = tmp_path / "data.parquet"
    df.to_parquet(path, index=False)
    want = compute_statistics(str(path), **opts)
    query = SqlQuery("SELECT * FROM read_parquet($path)", params={"path": str(path)})
    numpy_stats = compute_statistics(query, engine="numpy", chunk_rows=777, **opts)
    duckdb_stats = compute_statistics(query, engine="duckdb", **opts)
    assert_same(numpy_stats, want)
    assert_same(duckdb_stats, want)


def test_batches_are_merged_and_reported(compas: pd.DataFrame, decision_log: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    got = compute_statistics(
        log_query(decision_log),
        chunk_rows=1000,
        progress=lambda done, total: seen.append((done, total)),
        **options(COMPAS_CASES[0]),
    )
    assert_same(got, compute_statistics(compas, **options(COMPAS_CASES[0])))
    done = [d for d, _ in seen]
    assert len(seen) >= 6 and done == sorted(set(done)) and done[-1] == len(compas)
    assert {total for _, total in seen} == {None}  # a query's length is unknown until read


def test_empty_result_gives_the_same_empty_statistics(decision_log: Path, tmp_path: Path) -> None:
    case = options(COMPAS_CASES[1])
    query = log_query(decision_log, "WHERE false")
    results = [compute_statistics(query, engine=engine, **case) for engine in ENGINES]  # type: ignore[arg-type]
    database = tmp_path / "empty.db"
    with sqlite3.connect(database) as con:
        con.execute("CREATE TABLE t (two_year_recid INT, high_risk INT, race TEXT, sex TEXT, risk REAL)")
    results.append(compute_statistics(SqlQuery("SELECT * FROM t", url=f"sqlite:///{database}"), **case))
    for stats in results:
        assert stats.groups == () and stats.features == ("race", "sex")
        assert stats.score_hist is not None and stats.score_hist.shape == (0, 2, 1000)
        assert_same(stats, results[0])


def test_missing_values_may_be_refused(decision_log: Path) -> None:
    query = log_query(
        decision_log, "WHERE d.id < 100 UNION ALL SELECT 99999, 1, 1, 'no', 'no', 0.5, '2026-01-01', NULL, 'Male', 'x'"
    )
    for engine in ENGINES:
        stats = compute_statistics(query, engine=engine, **options(COMPAS_CASES[0]))  # type: ignore[arg-type]
        assert (None,) in stats.groups
        with pytest.raises(InvalidInput, match="'race' has 1 missing value"):
            compute_statistics(query, engine=engine, missing="error", **options(COMPAS_CASES[0]))  # type: ignore[arg-type]


# -- a database by URL ----------------------------------------------------------------------------------


def sql_friendly_frame(seed: int, n: int = 5000) -> pd.DataFrame:
    """Random data of the types SQL databases keep as they are: text with NULLs, integers, floats with
    NULLs (NaN in the frame), 0/1 labels, scores on the bins' edges, dyadic weights."""
    rng = np.random.default_rng(seed)
    text_values = rng.choice(["north", "south", "east", "west"], size=n).astype(object)
    text_values[rng.random(n) < 0.05] = None
    band = rng.integers(0, 4, size=n) * 10 + 20
    level = np.where(rng.random(n) < 0.05, np.nan, rng.integers(0, 3, size=n) * 0.5)
    truth = (rng.random(n) < 0.4).astype(np.int64)
    pred = (rng.random(n) < np.where(truth == 1, 0.7, 0.3)).astype(np.int64)
    scores = rng.random(n)
    edge = rng.random(n) < 0.3
    scores[edge] = rng.choice(EDGE_SCORES, size=int(edge.sum()))
    return pd.DataFrame(
        {
            "region": pd.Series(text_values, dtype=object),
            "age band": band,  # a name to quote
            "level": level,
            "y": truth,
            "yhat": pred,
            "score": scores,
            "weight": rng.integers(0, 64, size=n) / 8,
        }
    )


RANDOM_CASES: list[dict[str, Any]] = [
    {"y_true": "y", "y_pred": "yhat", "sensitive_features": ["region"]},
    {"y_true": "y", "y_pred": "yhat", "sensitive_features": ["region", "age band"], "scores": "score"},
    {"y_true": "y", "y_pred": "yhat", "sensitive_features": ["level", "region"], "sample_weight": "weight"},
    {
        "y_true": "y",
        "y_pred": "yhat",
        "sensitive_features": ["age band", "level"],
        "scores": "score",
        "sample_weight": "weight",
        "bins": 100,
    },
]


def write_tables(url: str, schema: str | None, frames: dict[str, pd.DataFrame]) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            if schema is not None:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            for name, frame in frames.items():
                frame.to_sql(name, connection, schema=schema, index=False)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def sqlite_db(compas: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "predictions.db"
    url = f"sqlite:///{path}"
    write_tables(url, None, {"compas": compas[COLUMNS], **{f"random{s}": sql_friendly_frame(s) for s in range(2)}})
    return url


@pytest.fixture(scope="module")
def postgres_db(compas: pd.DataFrame) -> Iterator[tuple[str, str]]:
    """The same tables in a schema of their own in the test database (dropped at the end)."""
    url = require_postgres()
    schema = f"sql_input_{uuid.uuid4().hex[:8]}"
    write_tables(url, schema, {"compas": compas[COLUMNS], **{f"random{s}": sql_friendly_frame(s) for s in range(2)}})
    yield url, schema
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def _select(case: dict[str, Any], table: str) -> str:
    names = [case["y_true"], case["y_pred"], *case["sensitive_features"], case.get("scores"), case.get("sample_weight")]
    return "SELECT " + ", ".join(f'"{n}"' for n in dict.fromkeys(n for n in names if n)) + f" FROM {table}"


@pytest.mark.parametrize("chunk_rows", [None, 1000])
@pytest.mark.parametrize("case", range(len(COMPAS_CASES)))
def test_sqlite_file_equals_the_dataframe(
    compas: pd.DataFrame, sqlite_db: str, case: int, chunk_rows: int | None
) -> None:
    opts = options(COMPAS_CASES[case])
    got = compute_statistics(SqlQuery(_select(opts, "compas"), url=sqlite_db), chunk_rows=chunk_rows, **opts)
    assert_same(got, compute_statistics(compas, **opts))


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("case", range(len(RANDOM_CASES)))
def test_sqlite_random_data_equals_the_dataframe(sqlite_db: str, case: int, seed: int) -> None:
    opts = options(RANDOM_CASES[case])
    got = compute_statistics(SqlQuery(_select(opts, f"random{seed}"), url=sqlite_db), chunk_rows=999, **opts)
    assert_same(got, compute_statistics(sql_friendly_frame(seed), **opts))


@pytest.mark.postgres
@pytest.mark.parametrize("case", range(len(COMPAS_CASES)))
def test_postgresql_equals_the_dataframe(compas: pd.DataFrame, postgres_db: tuple[str, str], case: int) -> None:
    url, schema = postgres_db
    opts = options(COMPAS_CASES[case])
    got = compute_statistics(SqlQuery(_select(opts, f'"{schema}".compas'), url=url), chunk_rows=1000, **opts)
    assert_same(got, compute_statistics(compas, **opts))


@pytest.mark.postgres
@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("case", range(len(RANDOM_CASES)))
def test_postgresql_random_data_equals_the_dataframe(postgres_db: tuple[str, str], case: int, seed: int) -> None:
    url, schema = postgres_db
    opts = options(RANDOM_CASES[case])
    got = compute_statistics(SqlQuery(_select(opts, f'"{schema}".random{seed}'), url=url), chunk_rows=999, **opts)
    assert_same(got, compute_statistics(sql_friendly_frame(seed), **opts))


@pytest.mark.postgres
def test_postgresql_parameters_and_numeric_scores(compas: pd.DataFrame, postgres_db: tuple[str, str]) -> None:
    """``:name`` parameters; NUMERIC scores and weights arrive as decimals and are read as the nearest double."""
    url, schema = postgres_db
    query = SqlQuery(
        "SELECT two_year_recid, high_risk, race, CAST(risk AS NUMERIC(3, 1)) AS risk, "
        f'CAST(1 AS NUMERIC(2, 1)) + 0.5 AS w FROM "{schema}".compas WHERE sex = :sex',
        url=url,
        params={"sex": "Male"},
    )
    opts = {"y_true": "two_year_recid", "y_pred": "high_risk", "sensitive_features": "race", "scores": "risk"}
    got = compute_statistics(query, sample_weight="w", bins=10, **opts)
    male = compas[compas["sex"] == "Male"].assign(w=1.5)
    assert_same(got, compute_statistics(male, sample_weight="w", bins=10, **opts))


def test_sqlite_parameters_stream_in_batches(compas: pd.DataFrame, sqlite_db: str) -> None:
    seen: list[int] = []
    opts = options(COMPAS_CASES[0])
    query = SqlQuery(_select(opts, "compas") + " WHERE sex = :sex", url=sqlite_db, params={"sex": "Female"})
    got = compute_statistics(query, chunk_rows=250, progress=lambda done, _total: seen.append(done), **opts)
    female = compas[compas["sex"] == "Female"]
    assert_same(got, compute_statistics(female, **opts))
    assert seen == [*range(250, len(female), 250), len(female)]


def test_a_refused_batch_closes_the_reader_at_once(sqlite_db: str) -> None:
    """Refused half-way (labels that are not binary), the reader is closed before the error leaves, not
    left to the garbage collector, which could finalise its connection first and raise in the void."""
    opts = options(COMPAS_CASES[0])
    y_true, y_pred, (race,) = opts["y_true"], opts["y_pred"], opts["sensitive_features"]
    query = SqlQuery(f'SELECT "{y_pred}" + 1 AS "{y_true}", "{y_pred}", "{race}" FROM compas', url=sqlite_db)
    with pytest.raises(InvalidInput, match="binary") as refused:
        compute_statistics(query, chunk_rows=500, **opts)
    # The error's traceback still holds every frame it left (as a caller that keeps it does), and with
    # them the reader: it must be closed already, its connection released.
    assert refused.value.__traceback__ is not None
    open_readers = [
        o for o in gc.get_objects() if inspect.isgenerator(o) and o.__name__ == "database_batches" and o.gi_frame
    ]
    assert open_readers == []


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_query_cannot_change_the_database(database: str, request: pytest.FixtureRequest) -> None:
    if database == "sqlite":
        url, table = request.getfixturevalue("sqlite_db"), "compas"
    else:
        url, schema = request.getfixturevalue("postgres_db")
        table = f'"{schema}".compas'
    attempts = [
        f"DELETE FROM {table} RETURNING two_year_recid, high_risk, race",
        f"UPDATE {table} SET race = 'x' RETURNING two_year_recid, high_risk, race",
    ]
    for sql in attempts:
        with pytest.raises(InvalidInput, match="cannot run the SQL query on"):
            compute_statistics(
                SqlQuery(sql, url=url), y_true="two_year_recid", y_pred="high_risk", sensitive_features="race"
            )
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text(f"SELECT COUNT(*) FROM {table} WHERE race <> 'x'")).scalar_one() == 6172
    engine.dispose()


# -- errors -------------------------------------------------------------------------------------------------


ROLES = {"y_true": "y", "y_pred": "p", "sensitive_features": "g"}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("sql", "params", "message"),
    [
        ("SELEC 1", None, "cannot run the SQL query: Parser Error: syntax error at or near"),
        ("SELECT * FROM no_such_table", None, "cannot run the SQL query: Catalog Error: Table with name no_such_table"),
        ("SELECT 1 AS y, 1 AS p, 'a' AS h", None, "column 'g' not found; available columns: y, p, h"),
        ("SELECT 1 AS y, 1 AS p, $g AS g", None, "cannot run the SQL query: .*g"),
        ("SELECT 1 AS y, 1 AS p, 'a' AS g", {"unused": 1}, "cannot run the SQL query: Binder Error: .*count mismatch"),
        ("SELECT * FROM read_parquet('/no/such/file.parquet')", None, "cannot run the SQL query: IO Error"),
        ("SELECT * FROM sqlite_scan('x.db', 't')", None, "installs no DuckDB extension"),
        ("SELECT 1 AS y, 1 AS p, 'a' AS g; SELECT 2", None, "cannot run the SQL query"),
        # A value that does not convert, far into the result: raised while streaming.
        (
            "SELECT 1 AS y, 1 AS p, CAST(CASE WHEN range < 200000 THEN '1' ELSE 'x' END AS INTEGER) AS g "
            "FROM range(300000)",
            None,
            "cannot run the SQL query: Conversion Error",
        ),
    ],
)
def test_duckdb_errors_are_invalid_input(engine: str, sql: str, params: dict[str, Any] | None, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        compute_statistics(SqlQuery(sql, params=params), engine=engine, chunk_rows=1000, **ROLES)  # type: ignore[arg-type]
    assert caught.value.details.get("source") == "query" or "available" in caught.value.details


def test_database_errors_are_invalid_input(sqlite_db: str, tmp_path: Path) -> None:
    cases = [
        (SqlQuery("SELECT * FROM nope", url=sqlite_db), "cannot run the SQL query on sqlite:///.*no such table: nope"),
        (SqlQuery("SELECT 1 AS y, 1 AS p", url=sqlite_db), "column 'g' not found; available columns: y, p"),
        (SqlQuery("SELECT 1 AS y, 1 AS p, :g AS g", url=sqlite_db), "cannot run.*'g'"),
        (SqlQuery("SELECT 1", url=f"sqlite:///{tmp_path / 'none.db'}"), "no such SQLite database file"),
        (SqlQuery("SELECT 1", url="sqlite://"), "name a SQLite database file"),
        (SqlQuery("SELECT 1", url="mysql://root@localhost/db"), "a SQLite file or a PostgreSQL database, not 'mysql'"),
        (SqlQuery("SELECT 1", url="not a url"), "not a database URL"),
        (
            SqlQuery("SELECT 1", url="postgresql://alice:s3cret-pw@127.0.0.1:1/db"),
            r"cannot run the SQL query on postgresql://alice:\*\*\*@127.0.0.1:1/db: connection failed",
        ),
    ]
    for query, message in cases:
        with pytest.raises(InvalidInput, match=message) as caught:
            compute_statistics(query, **ROLES)
        assert "s3cret-pw" not in caught.value.message
    assert not (tmp_path / "none.db").exists()  # not created by asking


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_a_url_is_read_by_the_numpy_engine_only(sqlite_db: str, engine: str) -> None:
    with pytest.raises(InvalidInput, match=f"read by the numpy engine \\(engine='numpy'\\), not '{engine}'"):
        compute_statistics(SqlQuery("SELECT 1", url=sqlite_db), engine=engine, **ROLES)  # type: ignore[arg-type]


def test_the_query_itself_is_checked() -> None:
    for kwargs, message in [
        ({"sql": "  ;  "}, "needs the text of a query"),
        ({"sql": "SELECT 1", "url": ""}, "url must be a SQLAlchemy database URL"),
        ({"sql": "SELECT 1", "params": [1, 2]}, "params must map parameter names"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            SqlQuery(**kwargs)
    with pytest.raises(InvalidInput, match="with data, y_true must be a column name"):
        compute_statistics(SqlQuery("SELECT 1"), y_true=[1], y_pred="p", sensitive_features="g")


def test_the_password_is_never_shown_nor_fingerprinted() -> None:
    sql = "SELECT * FROM predictions"
    query = SqlQuery(sql, url="postgresql+psycopg://alice:s3cret-pw@db.internal:5432/risk", params={"day": 1})
    assert "s3cret-pw" not in repr(query) and "s3cret-pw" not in query.describe()
    assert repr(query) == (
        "SqlQuery(sql='SELECT * FROM predictions', url='postgresql+psycopg://alice:***@db.internal:5432/risk', "
        "params=['day'])"
    )
    without = "postgresql+psycopg://alice@db.internal:5432/risk"
    assert query.fingerprint() == "sha256:" + hashlib.sha256(f"{sql}\0{without}".encode()).hexdigest()
    assert query.fingerprint() == SqlQuery(sql, url=without).fingerprint()
    assert query.fingerprint() != SqlQuery(sql, url=without.replace("risk", "other")).fingerprint()
    assert SqlQuery(sql).fingerprint() == "sha256:" + hashlib.sha256(f"{sql}\0".encode()).hexdigest()


# -- Spark SQL ----------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")
def test_spark_sql_equals_the_dataframe(spark: Any, compas: pd.DataFrame, decision_log: Path) -> None:
    query = SqlQuery(
        f"SELECT d.*, a.race, a.sex FROM parquet.`{decision_log}/decisions` AS d "
        f"JOIN parquet.`{decision_log}/attributes.parquet` AS a ON d.id = a.id WHERE d.day >= :since",
        params={"since": "2026-01-15"},
    )
    case = options(COMPAS_CASES[1])
    got = compute_statistics(query, engine="spark", **case)
    assert_same(got, compute_statistics(compas[compas["day"] >= "2026-01-15"], **case))
    with pytest.raises(InvalidInput, match=r"cannot run the SQL query: .*no_such_table"):
        compute_statistics(SqlQuery("SELECT * FROM no_such_table"), engine="spark", **ROLES)
