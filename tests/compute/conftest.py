"""Fixtures of the compute tests: one local Spark session for the whole run (it takes seconds to start)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A ``local[2]`` SparkSession: 1 GB of JVM heap, no UI, loopback only, scratch files under pytest's tmp."""
    # pyspark is in the test extra: a missing one is an install error, not a reason to skip.
    from pyspark.sql import SparkSession

    scratch = tmp_path_factory.mktemp("spark")
    with warnings.catch_warnings():
        # PySpark 4.3 warns on import paths that it "does not yet fully support pandas >= 3.0.0".
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
        session = (
            SparkSession.builder.master("local[2]")
            .appName("charter-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.memory", "1g")  # -Xmx of the one JVM (driver and executors in local mode)
            .config("spark.driver.extraJavaOptions", f"-Djava.io.tmpdir={scratch}")
            .config("spark.local.dir", str(scratch))
            .config("spark.sql.warehouse.dir", str(scratch / "warehouse"))
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.sql.session.timeZone", "UTC")
            .getOrCreate()
        )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
