"""Where drift profiles are computed. Every engine returns the same :class:`DatasetProfile`: equal
counts, edges, cells and sorted values (means and variances to rounding).

* ``numpy_engine``: NumPy/Arrow, in memory or chunk by chunk (always available);
* ``duckdb_engine``: DuckDB SQL over Parquet, CSV, Arrow, pandas or a relation, out of core;
* ``spark_engine``: Spark DataFrames (needs ``pyspark``).

The DuckDB and Spark engines are imported only when asked for (``profile(engine=...)``).
"""

ENGINES = ("numpy", "duckdb", "spark")
