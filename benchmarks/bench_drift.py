"""Data drift: Charter (numpy, DuckDB, Spark engines) against Evidently's data drift report and bare baselines.

Run from the repository root:

    python benchmarks/bench_drift.py                         # 1e6 vs 1e6 rows, every side, scale run at 1e8
    python benchmarks/bench_drift.py --scale-rows 0 --spark  # no scale run; Spark too
    python benchmarks/bench_drift.py --rows 0 --keep         # only the scale run; keep its 13 GB of Parquet
    python benchmarks/bench_drift.py --setup-evidently       # only create Evidently's environment

Data: a reference and a current table of ``--rows`` rows each, 20 numeric columns (normal, lognormal,
integer, uniform, exponential; some with missing values; 7 shifted in the current data, 3 of them
slightly) and 5 categorical ones (5 to 30 text categories; one drifted, one with a new category, one
with missing values), written once to Parquet in ``benchmarks/results/drift/``.

Each side runs in its own child process on the same files; the data are loaded before the clock
starts (except for the DuckDB engine, which reads the Parquet files as part of its work), and the
peak RSS is reset before each run (``/proc/self/clear_refs``) and read from ``VmHWM`` (it includes the
process's imports, about 200 MB, and the loaded data):

* Charter ``drift(reference, current)`` with the numpy engine on Arrow tables, exact (sorted values
  kept: the default up to 2e6 values per column) and as a sketch (``max_exact_rows=0``); the DuckDB
  engine from the Parquet files, both ways; Spark (``--spark``) from the same files;
* Evidently 0.7.23 ``Report([DataDriftPreset()])`` on pandas frames, in its own virtual environment
  (``benchmarks/.venv-evidently``, created on first use: Evidently does not import with pandas 3);
* SciPy: ``ks_2samp`` per numeric column and ``chi2_contingency`` per categorical one;
* Polars: PSI and Jensen-Shannon on reference-decile bins (columns sorted by Polars, bins counted by
  ``search_sorted``), and on category counts.

Asserted, or the script stops: Charter's normalised Wasserstein (numeric) and Jensen-Shannon distance
(categorical) equal Evidently's, to 1e-9 when exact and within the stated error bound as a sketch,
with the same drifted columns and share; SciPy's KS statistics and p-values and chi-square p-values
equal Charter's exact ones to 1e-9; every Charter engine gives the same report as the numpy engine.
The Polars baseline's bins (interpolated deciles) differ from Charter's, so its numbers are timed,
not compared.

The scale run (``--scale-rows``, split evenly between reference and current) profiles Parquet files
with the DuckDB engine (two threads, ``memory_limit`` 2 GB) as a sketch: the reference's edges from a
sample of a million rows, every column binned in NumPy behind DuckDB's scan.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import RESULTS, ROOT, command_line, current_rss_mb, machine, median, table, verdict

WORKDIR = RESULTS / "drift"
EVIDENTLY_ENV = ROOT / "benchmarks" / ".venv-evidently"
EVIDENTLY_REQUIREMENTS = ["evidently==0.7.23", "pandas<3", "pyarrow"]
NUMERIC = [f"n{i:02d}" for i in range(20)]
CATEGORICAL = [f"c{i}" for i in range(5)]
TOLERANCE = 1e-9
TARGET_EVIDENTLY = 50.0
TARGET_BASELINE = 1.5
TARGET_MB = 1024.0
TARGET_SCALE_S = 120.0


# -- data ------------------------------------------------------------------------------------------------


def _columns(rows: int, current: bool, seed: int) -> dict[str, Any]:
    """One table: the reference (``current=False``) or the current data, drawn with its own seed."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)
    c = 1.0 if current else 0.0
    cols: dict[str, Any] = {}
    for i in range(5):  # normal: n00 shifted by 0.5 sd, n01 by 0.04 sd, n02 wider
        shift = {0: 0.5, 1: 0.04}.get(i, 0.0) * c
        scale = 1.3 if (i == 2 and current) else 1.0
        cols[f"n{i:02d}"] = rng.normal(10.0 * i + shift, scale, rows)
    for i in range(5, 10):  # lognormal: n05 x 1.5, n07 sigma 1.05
        sigma = 1.05 if (i == 7 and current) else 1.0
        cols[f"n{i:02d}"] = rng.lognormal(0.0, sigma, rows) * (1.5 if (i == 5 and current) else 1.0)
    cols["n10"] = rng.integers(18, 91, rows) + (3 if current else 0)  # ages, 3 years older
    cols["n11"] = rng.poisson(5.0 + 0.1 * c, rows)  # counts, slightly more
    cols["n12"] = rng.integers(0, 1000, rows)
    cols["n13"] = rng.poisson(50.0, rows)
    cols["n14"] = rng.binomial(40, 0.3, rows)
    cols["n15"] = rng.uniform(0.0, 100.0, rows) + 10.0 * c  # shifted by a tenth of the range
    cols["n16"] = rng.exponential(2.0, rows)
    for i in (17, 18, 19):  # some missing values (5 % in n19's current data)
        x = rng.gamma(2.0 + i - 17, 1.0, rows)
        x[rng.random(rows) < (0.05 if (i == 19 and current) else 0.01)] = np.nan
        cols[f"n{i}"] = x
    cols["c0"] = _categories(rng, rows, [f"k{j}" for j in range(5)], [0.3, 0.25, 0.2, 0.15, 0.1])
    p1 = np.linspace(1, 2, 12) if current else np.ones(12)
    cols["c1"] = _categories(rng, rows, [f"region-{j}" for j in range(12)], p1 / p1.sum())
    names2 = [f"t{j}" for j in range(8)] + (["t-new"] if current else [])
    p2 = np.ones(len(names2))
    if current:
        p2[-1] = 0.2
    cols["c2"] = _categories(rng, rows, names2, p2 / p2.sum())
    c3 = _categories(rng, rows, ["low", "medium", "high"], [0.5, 0.3, 0.2])
    cols["c3"] = pc.if_else(pa.array(rng.random(rows) < 0.01), pa.scalar(None, pa.string()), c3)
    zipf = 1.0 / np.arange(1, 31)
    cols["c4"] = _categories(rng, rows, [f"product-{j:02d}" for j in range(30)], zipf / zipf.sum())
    return cols


def _categories(rng: Any, rows: int, names: list[str], p: Any) -> Any:
    import numpy as np
    import pyarrow as pa

    codes = rng.choice(len(names), size=rows, p=np.asarray(p, dtype=float))
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(names)).cast(pa.string())


def data_files(rows: int) -> tuple[Path, Path]:
    """The reference and current Parquet files of ``rows`` rows each (written once, then reused)."""
    ref, cur = WORKDIR / f"reference-{rows}.parquet", WORKDIR / f"current-{rows}.parquet"
    if ref.exists() and cur.exists():
        return ref, cur
    import pyarrow as pa
    import pyarrow.parquet as pq

    WORKDIR.mkdir(parents=True, exist_ok=True)
    for path, current in ((ref, False), (cur, True)):
        tmp = path.with_suffix(".tmp")
        writer = None
        step = 5_000_000
        for i, start in enumerate(range(0, rows, step)):
            part = pa.table(_columns(min(step, rows - start), current, seed=rows * 2 + int(current) + 1000 * i))
            writer = writer or pq.ParquetWriter(tmp, part.schema)
            writer.write_table(part, row_group_size=1_000_000)
        assert writer is not None
        writer.close()
        tmp.rename(path)
    return ref, cur


# -- Evidently's environment --------------------------------------------------------------------------------


def evidently_python() -> Path:
    """The Python of Evidently's own virtual environment, created (about a minute) when missing."""
    python = EVIDENTLY_ENV / "bin" / "python"
    if python.exists():
        return python
    print(f"creating {EVIDENTLY_ENV.relative_to(ROOT)} with {' '.join(EVIDENTLY_REQUIREMENTS)} ...")
    shutil.rmtree(EVIDENTLY_ENV, ignore_errors=True)
    venv.EnvBuilder(with_pip=True).create(EVIDENTLY_ENV)
    subprocess.run(  # noqa: S603  (fixed arguments)
        [str(python), "-m", "pip", "install", "--quiet", *EVIDENTLY_REQUIREMENTS], check=True
    )
    return python


# -- memory ---------------------------------------------------------------------------------------------------

HELPERS: list[int] = []  # other processes that work for a side (Spark's JVM)


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> float:
    Path("/proc/self/clear_refs").write_text("5")
    for pid in HELPERS:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    return current_rss_mb() + sum(_status_mb(pid, "VmRSS") for pid in HELPERS)


def peak_mb() -> float:
    return current_rss_mb("VmHWM") + sum(_status_mb(pid, "VmHWM") for pid in HELPERS)


# -- the sides (each in a child process) ---------------------------------------------------------------------

Numbers = dict[str, dict[str, Any]]  # column -> statistic -> value
_KEPT = ("kind", "drifted", "psi", "ks_statistic", "ks_pvalue", "ks_method", "ks_error_bound", "wasserstein_distance",
         "wasserstein_distance_norm", "wasserstein_error_bound", "jensenshannon_distance", "chi2_pvalue")  # fmt: skip


def _charter_numbers(report: Any) -> Numbers:
    out: Numbers = {}
    for name, column in report.to_dict()["columns"].items():
        out[name] = {key: column.get(key) for key in _KEPT}
        out[name]["std"] = column["reference"].get("std")
    out["_dataset"] = {"drift_share": report.drift_share, "dataset_drift": report.dataset_drift}
    return out


def side_charter(engine: str, exact: bool) -> Callable[[Path, Path], tuple[Callable[[], Numbers], float]]:
    def setup(ref_path: Path, cur_path: Path) -> tuple[Callable[[], Numbers], float]:
        import pyarrow.parquet as pq

        from charter.compute.drift import drift
        from charter.compute.drift.statistics import _scipy

        _scipy()  # SciPy imported before the clock, as the SciPy baseline's is
        options: dict[str, Any] = {} if exact else {"max_exact_rows": 0}
        if engine == "numpy":
            import pyarrow as pa

            ref = pq.read_table(ref_path, read_dictionary=CATEGORICAL)
            cur = pq.read_table(cur_path, read_dictionary=CATEGORICAL)
            pa.default_memory_pool().release_unused()  # Parquet decoding buffers Arrow's pool would keep
            size = (ref.nbytes + cur.nbytes) / 1e6
            return (lambda: _charter_numbers(drift(ref, cur, **options))), size
        size = (ref_path.stat().st_size + cur_path.stat().st_size) / 1e6
        return (lambda: _charter_numbers(drift(ref_path, cur_path, engine="duckdb", **options))), size

    return setup


def side_spark(ref_path: Path, cur_path: Path) -> tuple[Callable[[], Numbers], float]:
    import warnings

    from pyspark.sql import SparkSession

    from charter.compute.drift import drift
    from charter.compute.drift.statistics import _scipy

    _scipy()
    scratch = WORKDIR / "spark-tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "does not yet fully support pandas >= 3"
        spark = (
            SparkSession.builder.master("local[2]")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.memory", "3g")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.local.dir", str(scratch))
            .config("spark.driver.extraJavaOptions", f"-Djava.io.tmpdir={scratch}")
            .getOrCreate()
        )
    spark.sparkContext.setLogLevel("ERROR")
    jvm = spark.sparkContext._gateway.proc
    if jvm is not None:
        HELPERS.append(jvm.pid)

    def run() -> Numbers:
        ref, cur = spark.read.parquet(str(ref_path)), spark.read.parquet(str(cur_path))
        return _charter_numbers(drift(ref, cur, engine="spark", max_exact_rows=0))

    return run, (ref_path.stat().st_size + cur_path.stat().st_size) / 1e6


def side_scipy(ref_path: Path, cur_path: Path) -> tuple[Callable[[], Numbers], float]:
    """``ks_2samp`` per numeric column, ``chi2_contingency`` per categorical one (the textbook way)."""
    import numpy as np
    import pandas as pd
    from scipy import stats

    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    size = float(ref.memory_usage(deep=True).sum() + cur.memory_usage(deep=True).sum()) / 1e6

    def run() -> Numbers:
        out: Numbers = {}
        for name in NUMERIC:
            a, b = ref[name].dropna().to_numpy(), cur[name].dropna().to_numpy()
            result = stats.ks_2samp(a, b)
            out[name] = {"ks_statistic": float(result.statistic), "ks_pvalue": float(result.pvalue)}
        for name in CATEGORICAL:
            counts = pd.concat([ref[name].value_counts(), cur[name].value_counts()], axis=1).fillna(0)
            chi2 = stats.chi2_contingency(np.asarray(counts.T, dtype=float), correction=False)
            out[name] = {"chi2_pvalue": float(chi2.pvalue)}
        return out

    return run, size


def side_polars(ref_path: Path, cur_path: Path) -> tuple[Callable[[], Numbers], float]:
    """PSI and Jensen-Shannon on reference deciles (Polars sorts; ``search_sorted`` counts) and on categories."""
    import numpy as np
    import polars as pl

    ref, cur = pl.read_parquet(ref_path), pl.read_parquet(cur_path)
    size = (ref.estimated_size() + cur.estimated_size()) / 1e6
    levels = [i / 10 for i in range(1, 10)]

    def distances(p: Any, q: Any) -> dict[str, float]:
        p, q = p / p.sum(), q / q.sum()
        ps, qs = np.where(p == 0, 1e-4, p), np.where(q == 0, 1e-4, q)
        m = (p + q) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.nansum(np.where(p > 0, p * np.log(p / m), 0.0)) + np.nansum(np.where(q > 0, q * np.log(q / m), 0.0))
        return {"psi": float(np.sum((qs - ps) * np.log(qs / ps))), "jensenshannon_distance": float(np.sqrt(kl / 2))}

    def run() -> Numbers:
        out: Numbers = {}
        quantiles = ref.select([pl.col(n).drop_nans().quantile(q).alias(f"{n}|{q}") for n in NUMERIC for q in levels])
        row = quantiles.row(0, named=True)
        for name in NUMERIC:
            edges = pl.Series(sorted({row[f"{name}|{q}"] for q in levels}), dtype=pl.Float64)
            counts = []
            for frame in (ref, cur):
                column = frame.get_column(name).cast(pl.Float64).drop_nulls().drop_nans().sort()
                upto = column.search_sorted(edges, side="right").to_numpy()
                counts.append(np.diff(np.concatenate([[0], upto, [len(column)]])))
            out[name] = distances(np.asarray(counts[0], float), np.asarray(counts[1], float))
        for name in CATEGORICAL:
            r = ref.get_column(name).drop_nulls().value_counts()
            c = cur.get_column(name).drop_nulls().value_counts()
            joined = r.join(c, on=name, how="full", coalesce=True).fill_null(0)
            out[name] = distances(joined.get_column("count").to_numpy(), joined.get_column("count_right").to_numpy())
        return out

    return run, size


SIDES: dict[str, Callable[[Path, Path], tuple[Callable[[], Numbers], float]]] = {
    "charter-numpy": side_charter("numpy", exact=True),
    "charter-numpy-sketch": side_charter("numpy", exact=False),
    "charter-duckdb": side_charter("duckdb", exact=True),
    "charter-duckdb-sketch": side_charter("duckdb", exact=False),
    "charter-spark-sketch": side_spark,
    "scipy": side_scipy,
    "polars": side_polars,
}


def child(side: str, rows: int, repeat: int) -> None:
    ref_path, cur_path = data_files(rows)
    started = time.perf_counter()
    run, input_mb = SIDES[side](ref_path, cur_path)
    setup = time.perf_counter() - started
    seconds, added, peaks = [], [], []
    numbers: Numbers = {}
    for _ in range(repeat):
        before = reset_peak()
        started = time.perf_counter()
        numbers = run()
        seconds.append(time.perf_counter() - started)
        peaks.append(peak_mb())
        added.append(peaks[-1] - before)
    result = {"side": side, "rows": rows, "seconds": seconds, "setup_seconds": setup, "added_mb": max(added)}
    print(json.dumps({**result, "peak_mb": max(peaks), "input_mb": input_mb, "numbers": numbers}))


def evidently_child(ref_path: str, cur_path: str) -> None:
    """Runs in Evidently's environment (pandas < 3): no Charter import here."""
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    input_mb = float(ref.memory_usage(deep=True).sum() + cur.memory_usage(deep=True).sum()) / 1e6
    before = reset_peak()
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(cur, ref)
    seconds = time.perf_counter() - started
    peak = peak_mb()
    numbers: Numbers = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config.get("type") == "evidently:metric_v2:ValueDrift":
            numbers[config["column"]] = {"method": config["method"], "value": float(metric["value"]),
                                         "threshold": config["threshold"]}  # fmt: skip
        elif config.get("type") == "evidently:metric_v2:DriftedColumnsCount":
            numbers["_dataset"] = {"count": metric["value"]["count"], "share": metric["value"]["share"]}
    result = {"side": "evidently", "rows": len(ref), "seconds": [seconds], "setup_seconds": 0.0}
    print(json.dumps({**result, "added_mb": peak - before, "peak_mb": peak, "input_mb": input_mb, "numbers": numbers}))


def _child_json(command: list[str], what: str) -> dict[str, Any]:
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "DO_NOT_TRACK": "1"})  # noqa: S603
    if done.returncode != 0:
        sys.exit(f"{what} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run_child(side: str, rows: int, repeat: int) -> dict[str, Any]:
    if side == "evidently":
        ref, cur = data_files(rows)
        python = evidently_python()
        return _child_json([str(python), __file__, "--evidently-child", str(ref), str(cur)], "evidently")
    return _child_json([sys.executable, __file__, "--child", side, str(rows), str(repeat)], side)


# -- checks -----------------------------------------------------------------------------------------------------


def check_evidently(charter: dict[str, Any], evidently: dict[str, Any]) -> str:
    """Normalised Wasserstein and Jensen-Shannon against Evidently: equal when exact, within the bound as a sketch."""
    ours, theirs = charter["numbers"], evidently["numbers"]
    worst = 0.0
    for name in NUMERIC + CATEGORICAL:
        mine, other = ours[name], theirs[name]
        if name in NUMERIC:
            assert other["method"] == "Wasserstein distance (normed)", (name, other)
            value = mine["wasserstein_distance_norm"]
            allowed = TOLERANCE * max(1.0, abs(value)) + mine["wasserstein_error_bound"] / max(mine["std"], 0.001)
        else:
            assert other["method"] == "Jensen-Shannon distance", (name, other)
            value, allowed = mine["jensenshannon_distance"], TOLERANCE
        gap = abs(value - other["value"])
        assert gap <= allowed, (
            f"{charter['side']} vs evidently, {name}: {value} vs {other['value']} (allowed {allowed})"
        )
        worst = max(worst, gap)
        if allowed <= 2 * TOLERANCE or abs(other["value"] - other["threshold"]) > allowed:
            assert mine["drifted"] == (other["value"] >= other["threshold"]), (name, mine, other)
    return f"largest difference {worst:.1e}"


def check_scipy(charter: dict[str, Any], scipy: dict[str, Any]) -> None:
    for name, values in scipy["numbers"].items():
        for statistic, value in values.items():
            mine = charter["numbers"][name][statistic]
            assert abs(mine - value) <= TOLERANCE, f"scipy vs charter, {name}.{statistic}: {value} vs {mine}"


def check_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Two Charter engines: the same decisions, and the same numbers to rounding."""
    for name, values in a["numbers"].items():
        for key, value in values.items():
            other = b["numbers"][name][key]
            if isinstance(value, float) and isinstance(other, float):
                assert abs(value - other) <= TOLERANCE * max(1.0, abs(value)), (a["side"], b["side"], name, key)
            else:
                assert value == other, (a["side"], b["side"], name, key, value, other)


# -- the scale run -------------------------------------------------------------------------------------------------


def scale_child(rows: int) -> None:
    from charter.compute.drift import compare
    from charter.compute.drift.columns import Request
    from charter.compute.drift.engines.duckdb_engine import profile_duckdb

    ref_path, cur_path = data_files(rows // 2)
    load_before = os.getloadavg()
    before = reset_peak()
    cpu = time.process_time()  # every thread of this process: the work done, whatever the machine's load
    started = time.perf_counter()
    request = Request(None, frozenset(), frozenset(), 1000, 0)
    ref = profile_duckdb(ref_path, request, threads=2, memory_limit="2GB")
    reference_s = time.perf_counter() - started
    current_request = Request(None, frozenset(), frozenset(), 1000, 0, kinds=ref.kinds(), edges=ref.edges())
    cur = profile_duckdb(cur_path, current_request, threads=2, memory_limit="2GB")
    report = compare(ref, cur)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu
    worst_ks = max(c.details.get("ks_error_bound", 0.0) for c in report.columns.values())
    result = {"rows": rows, "seconds": seconds, "reference_seconds": reference_s, "cpu_seconds": cpu_seconds,
              "peak_mb": peak_mb(), "before_mb": before, "load_before": load_before,
              "load_after": os.getloadavg()}  # fmt: skip
    print(json.dumps({**result, "drifted": list(report.drifted_columns), "worst_ks_bound": worst_ks}))


# -- main ------------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--rows", type=float, default=1e6, help="rows of the reference and of the current data (0: none)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each Charter and baseline side (median)")
    parser.add_argument("--spark", action="store_true", help="also the Spark engine (local[2])")
    parser.add_argument("--no-evidently", action="store_true", help="skip Evidently (72 s and 2 GB at 1e6 rows)")
    parser.add_argument("--scale-rows", type=float, default=1e8, help="rows of the DuckDB scale run, in all (0: none)")
    parser.add_argument("--keep", action="store_true", help="keep the scale run's Parquet files")
    parser.add_argument("--setup-evidently", action="store_true", help="create Evidently's environment and stop")
    parser.add_argument("--out", default="bench_drift.json", help="raw figures, in benchmarks/results/")
    parser.add_argument("--child", nargs=3, metavar=("SIDE", "ROWS", "REPEAT"), help=argparse.SUPPRESS)
    parser.add_argument("--evidently-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--scale-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    if args.evidently_child:
        evidently_child(*args.evidently_child)
        return
    if args.scale_child:
        scale_child(args.scale_child)
        return
    if args.setup_evidently:
        print(evidently_python())
        return

    print(f"$ {command_line()}\nmachine: {machine()}")
    report: dict[str, Any] = {"command": command_line(), "machine": machine(), "runs": {}}
    if int(args.rows):
        side_by_side(args, report)
    if int(args.scale_rows):
        scale_run(args, report)
    out = RESULTS / args.out
    out.write_text(json.dumps(report, indent=2))
    print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"raw figures: {out.relative_to(ROOT)}")


def side_by_side(args: argparse.Namespace, report: dict[str, Any]) -> None:
    """Every side on ``--rows`` + ``--rows`` rows, the numbers checked against each other."""
    rows = int(args.rows)
    started = time.perf_counter()
    data_files(rows)
    print(f"data: {rows:,} + {rows:,} rows, {len(NUMERIC)} numeric + {len(CATEGORICAL)} categorical columns "
          f"({time.perf_counter() - started:.0f} s to write or find)")  # fmt: skip
    sides = ["charter-numpy", "charter-numpy-sketch", "charter-duckdb", "charter-duckdb-sketch"]
    sides += ["charter-spark-sketch"] if args.spark else []
    baselines = ["scipy", "polars"]
    runs: dict[str, dict[str, Any]] = {}
    for side in [*sides, *baselines, *([] if args.no_evidently else ["evidently"])]:
        runs[side] = run_child(side, rows, args.repeat)
        print(f"  {side:>22}: {median(runs[side]['seconds']):8.3f} s, peak {runs[side]['peak_mb']:.0f} MB")
    report["runs"] = runs

    exact = runs["charter-numpy"]
    check_scipy(exact, runs["scipy"])
    check_same(exact, runs["charter-duckdb"])
    check_same(runs["charter-numpy-sketch"], runs["charter-duckdb-sketch"])
    if args.spark:
        check_same(runs["charter-numpy-sketch"], runs["charter-spark-sketch"])
    agreement = {"charter-duckdb": "= charter-numpy", "charter-duckdb-sketch": "= charter-numpy-sketch",
                 "charter-spark-sketch": "= charter-numpy-sketch", "scipy": "KS, chi2 p = Charter's (1e-9)",
                 "polars": "not compared (other bins)"}  # fmt: skip
    if "evidently" in runs:
        for side in ("charter-numpy", "charter-numpy-sketch"):
            agreement[side] = "W norm, JS vs Evidently: " + check_evidently(runs[side], runs["evidently"])
        ev = runs["evidently"]["numbers"]["_dataset"]
        assert abs(ev["share"] - exact["numbers"]["_dataset"]["drift_share"]) <= 1e-12, (ev, exact["numbers"])
    print("every check passed: " + "; ".join(f"{k}: {v}" for k, v in agreement.items() if k in runs))

    best = min(median(runs[b]["seconds"]) for b in baselines)
    evidently_s = median(runs["evidently"]["seconds"]) if "evidently" in runs else float("nan")
    rows_out = []
    for side in [*sides, *baselines, *(["evidently"] if "evidently" in runs else [])]:
        run = runs[side]
        seconds = median(run["seconds"])
        target = "-"
        if side.startswith("charter"):
            target = (
                (f">= {TARGET_EVIDENTLY:.0f}x Evidently: {verdict(evidently_s / seconds >= TARGET_EVIDENTLY)}; "
                 if "evidently" in runs else "")
                + f"<= {TARGET_BASELINE}x best baseline: {verdict(seconds / best <= TARGET_BASELINE)}; "
                f"< 1 GB: {verdict(run['peak_mb'] < TARGET_MB)}"
            )  # fmt: skip
        rows_out.append([side, seconds, evidently_s / seconds, seconds / best, run["peak_mb"], run["added_mb"],
                         run["input_mb"], agreement.get(side, "-"), target])  # fmt: skip
    header = ["side", "seconds", "x faster than Evidently", "x best baseline", "peak RSS MB", "MB added",
              "input MB", "agreement", "target"]  # fmt: skip
    print(table(f"Drift, {rows:,} vs {rows:,} rows, 20 numeric + 5 categorical columns (median of {args.repeat})",
                header, rows_out))  # fmt: skip


def scale_run(args: argparse.Namespace, report: dict[str, Any]) -> None:
    """The DuckDB engine from Parquet at ``--scale-rows`` rows in all, in a child process."""
    scale_rows = int(args.scale_rows)
    started = time.perf_counter()
    ref_path, cur_path = data_files(scale_rows // 2)
    written = time.perf_counter() - started
    size_mb = (ref_path.stat().st_size + cur_path.stat().st_size) / 1e6
    print(f"\nscale: {scale_rows // 2:,} + {scale_rows // 2:,} rows of Parquet ({size_mb:,.0f} MB; {written:.0f} s)")
    done = subprocess.run(  # noqa: S603
        [sys.executable, __file__, "--scale-child", str(scale_rows)], capture_output=True, text=True, check=True
    )
    scale = json.loads(done.stdout.strip().splitlines()[-1])
    report["scale"] = {**scale, "parquet_mb": size_mb}
    load = f"{scale['load_before'][0]:.1f} / {scale['load_after'][0]:.1f}"
    print(table("DuckDB engine, sketch (1000 bins; edges from a sample of 1e6 rows), 2 threads, memory_limit 2GB",
                ["rows in all", "Parquet MB", "seconds", "of which reference", "CPU seconds", "M rows/s",
                 "peak RSS MB", "largest KS bound", "load before / after", "target"],
                [[f"{scale_rows:,}", size_mb, scale["seconds"], scale["reference_seconds"], scale["cpu_seconds"],
                  scale_rows / scale["seconds"] / 1e6, scale["peak_mb"], f"{scale['worst_ks_bound']:.4f}", load,
                  f"< {TARGET_SCALE_S:.0f} s: {verdict(scale['seconds'] < TARGET_SCALE_S)}; "
                  f"< 1 GB: {verdict(scale['peak_mb'] < TARGET_MB)}"]]))  # fmt: skip
    if not args.keep:
        ref_path.unlink()
        cur_path.unlink()


if __name__ == "__main__":
    main()
