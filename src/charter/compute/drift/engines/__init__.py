"""Where drift profiles are computed. Every engine returns the same :class:`DatasetProfile`: equal
counts, edges, cells and sorted values (means and variances to rounding), except the edges of a
large reference in the DuckDB engine, which are sampled (on the same edges, the same counts).

* ``numpy_engine``: NumPy/Arrow, in memory or chunk by chunk (always available);
* ``duckdb_engine``: DuckDB over Parquet, CSV, Arrow, pandas or a relation, out of core, with the
  numeric columns binned batch by batch in NumPy behind its scan (``batches``);
* ``spark_engine``: Spark DataFrames (needs ``pyspark``).

The DuckDB and Spark engines are imported only when asked for (``profile(engine=...)``).
"""

ENGINES = ("numpy", "duckdb", "spark")
