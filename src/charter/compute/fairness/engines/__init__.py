"""Where the statistics are computed. Every engine returns the same :class:`GroupStats`, exactly.

* ``numpy_engine``: NumPy/Arrow, in memory or chunk by chunk (always available);
* ``duckdb_engine``: DuckDB SQL, streaming large files (``statistics_duckdb``);
* ``spark_engine``: Spark DataFrames (``statistics_spark``, needs ``pyspark``).

The DuckDB and Spark engines are imported only when asked for (``compute_statistics(engine=...)``).
"""

ENGINES = ("numpy", "duckdb", "spark")
