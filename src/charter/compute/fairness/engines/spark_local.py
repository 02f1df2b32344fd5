"""A local Spark session for the command line: ``charter fairness --engine spark`` on a file or a query.

On a cluster, callers pass their own Spark DataFrame to ``statistics_spark``; on one machine the
CLI starts Spark in local mode (as NOTES.md found works here: ``local[2]``, no UI, bound to the
loopback address), reads the file, and stops the session when the statistics are in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from charter.errors import InvalidInput


@contextmanager
def local_session() -> Iterator[Any]:
    """The active Spark session, or a local one started now and stopped at the end."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise InvalidInput("The Spark engine needs PySpark: pip install 'charter[spark]'.") from exc
    existing = SparkSession.getActiveSession()
    spark = existing or (
        SparkSession.builder.master("local[2]")
        .appName("charter-fairness")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    try:
        yield spark
    finally:
        if existing is None:  # a session someone else started is theirs to stop
            spark.stop()


@contextmanager
def local_dataframe(path: str | Path) -> Iterator[Any]:
    """The file (CSV with a header, Parquet, or a folder of Parquet files) as a Spark DataFrame."""
    source = Path(path)
    with local_session() as spark:
        name = source.name.lower()
        if name.endswith((".csv", ".csv.gz", ".tsv")):
            frame = spark.read.option("header", "true").option("inferSchema", "true").csv(str(source))
        else:
            frame = spark.read.parquet(str(source))
        yield frame
