"""Fairness statistics and metrics: Charter (numpy, DuckDB, Spark engines) against Fairlearn and AIF360.

Run from the repository root:

    python benchmarks/bench_fairness.py                          # 1e6, 3e6, 1e7 rows; scale run at 1e8
    python benchmarks/bench_fairness.py --sizes 1e6 --scale-rows 0 --spark

What is measured, each side in its own child process (peak RSS reset before each run by writing 5
to ``/proc/self/clear_refs``, then read from ``VmHWM``; the data are loaded before the clock starts):

* end to end from a pandas DataFrame whose group columns hold text (pandas 3's ``str`` dtype):
  Charter ``compute_statistics`` (numpy engine) + ``fairness_metrics`` (no bootstrap, every group
  kept) against Fairlearn ``MetricFrame`` (selection rate, TPR, FPR per group) +
  ``demographic_parity_difference``, and AIF360 (``BinaryLabelDataset`` built from the frame, the
  text codes factorised as AIF360 needs numbers, then one ``ClassificationMetric`` per group, that
  group against all the others); Charter's DuckDB engine reads the same rows from a Parquet file,
  Spark (``--spark``) from the same file;
* on categorical and on integer-coded group columns: Charter against Fairlearn on the same
  categoricals and against a bare ``np.bincount`` of the combined code ``(c1 * k2 + c2) * 4 +
  y_true * 2 + y_pred`` (the least any engine must do);
* at scale: the DuckDB engine over a folder of Parquet files (``--scale-rows``, written once into
  ``benchmarks/results/fairness/``), two threads, ``memory_limit`` 1 GB, with and without scores.

Data: synthetic (4 groups of unequal size; and 4 x 3 intersectional groups) at ``--sizes`` rows,
COMPAS (ProPublica's filter, 6,172 rows; prediction: score_text Medium or High) and Adult (32,561
rows; prediction: education_num >= 13). Every side must give the same per-group selection rate,
TPR and FPR and demographic parity difference to 1e-9, or the script stops.

Fairlearn takes about 10 s per million rows here: it is measured up to ``--fairlearn-max`` rows
and extrapolated linearly above (from its largest measured size; the tables say so), AIF360 up to
``--aif360-max`` (its memory grows with the rows: 2.7 GB at 1e7 rows here).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import RESULTS, ROOT, command_line, current_rss_mb, machine, median, table, verdict

WORKDIR = RESULTS / "fairness"
DATA = ROOT.parent / "shared" / "data"
TOLERANCE = 1e-9
TARGET_FAIRLEARN = 100.0
TARGET_AIF360 = 50.0
TARGET_FAIRLEARN_CATEGORICAL = 1000.0
TARGET_BARE = 2.0
TARGET_MEMORY = 2.0
TARGET_BILLION_S = 60.0
TARGET_BILLION_MB = 2048.0
PEERS = ("fairlearn", "aif360")
SLOW = ("fairlearn", "fairlearn-cat", "aif360")  # run once per child, not --repeat times

RACES = ("African-American", "Caucasian", "Hispanic", "Other")
AGES = ("under 25", "25 - 45", "over 45")


# -- data -------------------------------------------------------------------------------------------------


def synthetic_file(rows: int) -> Path:
    """Synthetic rows (cached): race (4 groups, 40/30/20/10 %), age (3 groups), y (base rate by group), p."""
    path = WORKDIR / f"synthetic-{rows}.parquet"
    if path.exists():
        return path
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    WORKDIR.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(rows)
    race = rng.choice(len(RACES), size=rows, p=[0.4, 0.3, 0.2, 0.1]).astype(np.int8)
    age = rng.choice(len(AGES), size=rows, p=[0.25, 0.5, 0.25]).astype(np.int8)
    y = (rng.random(rows) < 0.25 + 0.08 * race + 0.05 * age).astype(np.int8)
    p = (rng.random(rows) < np.where(y == 1, 0.75, 0.15) + 0.04 * race).astype(np.int8)
    table_ = pa.table(
        {
            "race": pa.array(np.asarray(RACES, dtype=object)[race], pa.string()),
            "age": pa.array(np.asarray(AGES, dtype=object)[age], pa.string()),
            "y": y,
            "p": p,
        }
    )
    pq.write_table(table_, path.with_suffix(".tmp"))
    path.with_suffix(".tmp").rename(path)
    return path


def real_file(name: str) -> Path:
    """COMPAS (ProPublica's filter) or Adult, with 0/1 label and prediction columns, as Parquet."""
    path = WORKDIR / f"{name}.parquet"
    if path.exists():
        return path
    import numpy as np
    import pandas as pd

    WORKDIR.mkdir(parents=True, exist_ok=True)
    if name == "compas":
        from charter.demo.data import compas_propublica

        df = compas_propublica(DATA)
        df = pd.DataFrame(
            {
                "race": df["race"],
                "sex": df["sex"],
                "y": df["two_year_recid"].astype(np.int8),
                "p": df["score_text"].isin(["Medium", "High"]).astype(np.int8),
            }
        )
    else:
        raw = pd.read_csv(DATA / "adult.csv")
        df = pd.DataFrame(
            {
                "sex": raw["sex"],
                "race": raw["race"],
                "y": (raw["income"] == ">50K").astype(np.int8),
                "p": (raw["education_num"] >= 13).astype(np.int8),
            }
        )
    df.reset_index(drop=True).to_parquet(path, index=False)
    return path


def case_file(case: str) -> Path:
    """``synthetic:ROWS:features`` or ``compas:features`` / ``adult:features``."""
    source = case.split(":")
    return synthetic_file(int(source[1])) if source[0] == "synthetic" else real_file(source[0])


def case_features(case: str) -> list[str]:
    return case.split(":")[-1].split(",")


def case_rows(case: str) -> int:
    import pyarrow.parquet as pq

    return int(pq.read_metadata(case_file(case)).num_rows)


# -- one side, in a child process -------------------------------------------------------------------------


# Other processes that work for a side (Spark's JVM): their memory counts too.
HELPERS: list[int] = []


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> float:
    """Reset the peak RSS of this process (and its helpers) to the current RSS; return the current RSS in MB."""
    Path("/proc/self/clear_refs").write_text("5")
    for pid in HELPERS:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    return current_rss_mb() + sum(_status_mb(pid, "VmRSS") for pid in HELPERS)


def peak_mb() -> float:
    return current_rss_mb("VmHWM") + sum(_status_mb(pid, "VmHWM") for pid in HELPERS)


Numbers = dict[str, list[float]]  # group label -> [selection rate, TPR, FPR]


def _label(values: Any) -> str:
    return ", ".join(str(v) for v in (values if isinstance(values, tuple) else (values,)))


def charter_numbers(result: Any) -> tuple[Numbers, float]:
    numbers = {
        _label(g.group): [g.values["selection_rate"], g.values["true_positive_rate"], g.values["false_positive_rate"]]
        for g in result.groups
    }
    return numbers, float(result["demographic_parity_difference"])


def side_charter(df: Any, features: list[str], path: Path) -> Callable[[], tuple[Numbers, float]]:
    from charter.compute.fairness import compute_statistics, fairness_metrics

    def run() -> tuple[Numbers, float]:
        stats = compute_statistics(df, y_true="y", y_pred="p", sensitive_features=features)
        return charter_numbers(fairness_metrics(stats, n_resamples=0, min_group_size=0))

    return run


def side_duckdb(df: Any, features: list[str], path: Path) -> Callable[[], tuple[Numbers, float]]:
    from charter.compute.fairness import fairness_metrics
    from charter.compute.fairness.engines.duckdb_engine import statistics_duckdb

    def run() -> tuple[Numbers, float]:
        stats = statistics_duckdb(path, y_true="y", y_pred="p", sensitive_features=features)
        return charter_numbers(fairness_metrics(stats, n_resamples=0, min_group_size=0))

    return run


def side_bare(df: Any, features: list[str], path: Path) -> Callable[[], tuple[Numbers, float]]:
    """``np.bincount`` of the combined code of the categoricals' codes, then the three rates."""
    import numpy as np

    codes = [df[f].cat.codes.to_numpy() for f in features]
    sizes = [len(df[f].cat.categories) for f in features]
    names = [list(df[f].cat.categories) for f in features]
    y, p = df["y"].to_numpy(), df["p"].to_numpy()

    def run() -> tuple[Numbers, float]:
        group = codes[0].astype(np.intp)
        for code, size in zip(codes[1:], sizes[1:], strict=True):
            group = group * size + code
        counts = np.bincount(group * 4 + y * 2 + p, minlength=int(np.prod(sizes)) * 4).reshape(-1, 2, 2)
        seen = np.flatnonzero(counts.sum(axis=(1, 2)))
        c = counts[seen].astype(np.float64)
        rates = np.stack(
            [(c[:, 0, 1] + c[:, 1, 1]) / c.sum(axis=(1, 2)), c[:, 1, 1] / c[:, 1].sum(1), c[:, 0, 1] / c[:, 0].sum(1)]
        )
        digits = np.unravel_index(seen, sizes)
        labels = [", ".join(str(names[i][digits[i][k]]) for i in range(len(features))) for k in range(len(seen))]
        numbers = {label: rates[:, k].tolist() for k, label in enumerate(labels)}
        return numbers, float(rates[0].max() - rates[0].min())

    return run


def side_fairlearn(df: Any, features: list[str], path: Path) -> Callable[[], tuple[Numbers, float]]:
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    sensitive = df[features] if len(features) > 1 else df[features[0]]

    def run() -> tuple[Numbers, float]:
        frame = MetricFrame(
            metrics={"sr": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
            y_true=df["y"],
            y_pred=df["p"],
            sensitive_features=sensitive,
        )
        dpd = demographic_parity_difference(df["y"], df["p"], sensitive_features=sensitive)
        numbers = {_label(k): [float(v) for v in row] for k, row in frame.by_group.iterrows()}
        return numbers, float(dpd)

    return run


def side_aif360(df: Any, features: list[str], path: Path) -> Callable[[], tuple[Numbers, float]]:
    import logging

    logging.disable(logging.WARNING)  # "No module named 'tensorflow'" and the like, on import
    import pandas as pd
    from aif360.datasets import BinaryLabelDataset
    from aif360.metrics import ClassificationMetric

    def run() -> tuple[Numbers, float]:
        numeric, uniques = {}, {}
        for f in features:
            codes, values = pd.factorize(df[f], sort=True)
            numeric[f], uniques[f] = codes.astype("float64"), list(values)
        numeric["y"] = df["y"].astype("float64")
        truth = BinaryLabelDataset(
            df=pd.DataFrame(numeric),
            label_names=["y"],
            protected_attribute_names=features,
            favorable_label=1.0,
            unfavorable_label=0.0,
        )
        predicted = truth.copy()
        predicted.labels = df["p"].to_numpy(dtype="float64").reshape(-1, 1)
        seen = pd.DataFrame(numeric)[features].drop_duplicates().to_dict("records")
        numbers = {}
        for group in seen:
            others = [g for g in seen if g != group]
            metric = ClassificationMetric(truth, predicted, unprivileged_groups=[group], privileged_groups=others)
            label = ", ".join(str(uniques[f][int(group[f])]) for f in features)
            numbers[label] = [
                float(metric.selection_rate(privileged=False)),
                float(metric.true_positive_rate(privileged=False)),
                float(metric.false_positive_rate(privileged=False)),
            ]
        selection = [v[0] for v in numbers.values()]
        return numbers, max(selection) - min(selection)

    return run


def side_spark(df: Any, features: list[str], path: Path) -> Callable[[], tuple[Numbers, float]]:
    from pyspark.sql import SparkSession

    from charter.compute.fairness import fairness_metrics
    from charter.compute.fairness.engines.spark_engine import statistics_spark

    scratch = WORKDIR / "spark-tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "does not yet fully support pandas >= 3"
        spark = (
            SparkSession.builder.master("local[2]")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.memory", "2g")
            .config("spark.local.dir", str(scratch))
            .config("spark.driver.extraJavaOptions", f"-Djava.io.tmpdir={scratch}")
            .getOrCreate()
        )
    spark.sparkContext.setLogLevel("ERROR")
    jvm = spark.sparkContext._gateway.proc  # the spark-submit process, which execs the JVM
    if jvm is not None:
        HELPERS.append(jvm.pid)

    def run() -> tuple[Numbers, float]:
        stats = statistics_spark(spark.read.parquet(str(path)), y_true="y", y_pred="p", sensitive_features=features)
        return charter_numbers(fairness_metrics(stats, n_resamples=0, min_group_size=0))

    return run


SIDES: dict[str, Callable[[Any, list[str], Path], Callable[[], tuple[Numbers, float]]]] = {
    "charter": side_charter,
    "charter-duckdb": side_duckdb,
    "charter-spark": side_spark,
    "fairlearn": side_fairlearn,
    "aif360": side_aif360,
    "charter-cat": side_charter,
    "charter-int": side_charter,
    "bare-bincount": side_bare,
    "fairlearn-cat": side_fairlearn,
}


def child(side: str, case: str, repeat: int) -> None:
    import pandas as pd

    features = case_features(case)
    path = case_file(case)
    df = pd.read_parquet(path, columns=[*features, "y", "p"])
    if side in ("charter-cat", "bare-bincount", "fairlearn-cat"):
        df = df.astype(dict.fromkeys(features, "category"))
    elif side == "charter-int":  # integer codes, as a model pipeline would have them
        df = df.assign(**{f: pd.factorize(df[f], sort=True)[0].astype("int8") for f in features})
    input_mb = float(df.memory_usage(deep=True, index=False).sum()) / 1e6
    started = time.perf_counter()
    run = SIDES[side](df, features, path)
    setup = time.perf_counter() - started
    seconds, added = [], []
    numbers, dpd = {}, float("nan")
    for _ in range(repeat):
        before = reset_peak()
        started = time.perf_counter()
        numbers, dpd = run()
        seconds.append(time.perf_counter() - started)
        added.append(peak_mb() - before)
    if side == "charter-int":  # codes back to the labels they stand for, to compare
        names = [sorted(pd.read_parquet(path, columns=[f])[f].unique()) for f in features]
        numbers = {", ".join(str(names[i][int(c)]) for i, c in enumerate(k.split(", "))): v for k, v in numbers.items()}
    print(
        json.dumps(
            {
                "side": side,
                "case": case,
                "rows": len(df),
                "seconds": seconds,
                "setup_seconds": setup,
                "added_mb": max(added),
                "peak_mb": peak_mb(),
                "input_mb": input_mb,
                "numbers": numbers,
                "dpd": dpd,
            }
        )
    )


def run_child(side: str, case: str, repeat: int) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603  (this script, with fixed arguments)
        [sys.executable, __file__, "--child", side, case, str(repeat)], capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"{side} on {case} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- the scale run ------------------------------------------------------------------------------------------


def scale_folder(rows: int) -> Path:
    """``rows`` rows of Parquet in files of 1e7 rows: group (dictionary text), y, p (int8), score (float64)."""
    folder = WORKDIR / f"scale-{rows}"
    if (folder / "complete").exists():
        return folder
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    names = pa.array(["group_a", "group_b", "group_c", "group_d"])
    per_file = 10_000_000
    started = time.perf_counter()
    for i, start in enumerate(range(0, rows, per_file)):
        n = min(per_file, rows - start)
        g = rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1]).astype(np.int8)
        y = (rng.random(n) < 0.3 + 0.05 * g).astype(np.int8)
        score = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
        chunk = pa.table(
            {
                "group": pa.DictionaryArray.from_arrays(pa.array(g), names),
                "y": y,
                "p": (score >= 0.5).astype(np.int8),
                "score": score,
            }
        )
        pq.write_table(chunk, folder / f"part-{i:04d}.parquet")
    (folder / "complete").write_text(str(rows))
    print(f"  {rows:,} rows of Parquet written in {time.perf_counter() - started:.0f} s")
    return folder


def scale_child(folder: str) -> None:
    from charter.compute.fairness.engines.duckdb_engine import statistics_duckdb

    out = []
    for scores in (None, "score"):
        before = reset_peak()
        started = time.perf_counter()
        stats = statistics_duckdb(
            folder, y_true="y", y_pred="p", sensitive_features=["group"], scores=scores, threads=2, memory_limit="1GB"
        )
        out.append(
            {
                "scores": scores is not None,
                "seconds": time.perf_counter() - started,
                "rows": int(stats.rows.sum()),
                "peak_mb": peak_mb(),
                "before_mb": before,
            }
        )
    print(json.dumps(out))


# -- main ---------------------------------------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    return [int(float(s)) for s in text.split(",") if s.strip()]


def _same(a: dict[str, Any], b: dict[str, Any]) -> int:
    """Charter's numbers (``a``) and another side's agree; returns how many rates Charter leaves undefined.

    A rate with a zero denominator is ``None`` in Charter; Fairlearn gives 0 there, AIF360 NaN:
    those are not compared (and counted).
    """
    where = f"{a['side']} vs {b['side']} on {a['case']}"
    assert set(a["numbers"]) == set(b["numbers"]), f"{where}: groups differ: {set(a['numbers']) ^ set(b['numbers'])}"
    undefined = 0
    for label, values in a["numbers"].items():
        for x, y in zip(values, b["numbers"][label], strict=True):
            if x is None:
                undefined += 1
                continue
            assert abs(x - y) <= TOLERANCE, f"{where}: {label}: {values} vs {b['numbers'][label]}"
    assert abs(a["dpd"] - b["dpd"]) <= TOLERANCE, f"{where}: demographic parity difference {a['dpd']} vs {b['dpd']}"
    return undefined


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1e6,3e6,1e7", help="synthetic sizes in rows (default 1e6,3e6,1e7)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each fast side (the median is reported)")
    parser.add_argument("--fairlearn-max", type=float, default=3e6, help="largest size Fairlearn runs at")
    parser.add_argument("--aif360-max", type=float, default=1e7, help="largest size AIF360 runs at")
    parser.add_argument("--spark", action="store_true", help="also the Spark engine (local[2])")
    parser.add_argument("--scale-rows", type=float, default=1e8, help="rows of the DuckDB scale run (0: none)")
    parser.add_argument("--keep", action="store_true", help="keep the scale run's Parquet files")
    parser.add_argument("--out", default="bench_fairness.json", help="raw figures, in benchmarks/results/")
    parser.add_argument("--child", nargs=3, metavar=("SIDE", "CASE", "REPEAT"), help=argparse.SUPPRESS)
    parser.add_argument("--scale-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    if args.scale_child:
        scale_child(args.scale_child)
        return

    print(f"$ {command_line()}\nmachine: {machine()}")
    sizes = _sizes(args.sizes)
    limits = {"fairlearn": args.fairlearn_max, "fairlearn-cat": args.fairlearn_max, "aif360": args.aif360_max}
    cases = [f"{name}:{feats}" for name, feats in (("compas", "race"), ("compas", "race,sex"), ("adult", "sex"))]
    cases += ["adult:sex,race"]
    cases += [f"synthetic:{n}:{feats}" for feats in ("race", "race,age") for n in sizes]
    report: dict[str, Any] = {"command": command_line(), "machine": machine(), "runs": []}

    def measure(side: str, case: str) -> dict[str, Any] | None:
        rows = case_rows(case)
        if rows > limits.get(side, float("inf")):
            return None
        result = run_child(side, case, 1 if side in SLOW else args.repeat)
        report["runs"].append(result)
        print(f"  {case:>32} {side:>14}: {median(result['seconds']):8.4f} s, +{result['added_mb']:.0f} MB")
        return result

    def estimate(side: str, case: str, measured: dict[tuple[str, str], dict[str, Any]]) -> tuple[float, str]:
        """The side's seconds: measured, or scaled linearly from its largest measured size of the same features."""
        if (side, case) in measured:
            return median(measured[(side, case)]["seconds"]), "measured"
        features = case.split(":")[-1]
        same = [c for c in cases if c.startswith("synthetic:") and c.endswith(":" + features)]
        runs = [r for (s, c), r in measured.items() if s == side and c in same]
        if not runs:
            return float("nan"), "-"
        largest = max(runs, key=lambda r: r["rows"])
        rows = case_rows(case)
        return median(largest["seconds"]) * rows / largest["rows"], f"extrapolated from {largest['rows']:,.0f} rows"

    # 1. End to end from pandas (text labels), and DuckDB from Parquet.
    print("\nend to end (text group labels)")
    sides = ["charter", "charter-duckdb", *(["charter-spark"] if args.spark else []), *PEERS]
    measured: dict[tuple[str, str], dict[str, Any]] = {}
    for case in cases:
        for side in sides:
            result = measure(side, case)
            if result is not None:
                measured[(side, case)] = result
                undefined = _same(measured[("charter", case)], result)
                if undefined and side in PEERS:
                    print(f"    {undefined} rates undefined (zero denominator) in Charter, not compared")
    print("every side gave the same rates and demographic parity difference (to 1e-9)")
    rows_out = []
    for case in cases:
        base = median(measured[("charter", case)]["seconds"])
        for side in sides:
            seconds, how = estimate(side, case, measured)
            run = measured.get((side, case))
            if side == "charter-spark" and run:
                how += f" (+ {run['setup_seconds']:.1f} s to start the session)"
            target = "-"
            if case.startswith("synthetic:10000000:") and side in ("fairlearn", "aif360"):
                need = TARGET_FAIRLEARN if side == "fairlearn" else TARGET_AIF360
                target = f">= {need:.0f}x: {verdict(seconds / base >= need)}"
            if case.startswith("synthetic:10000000:") and side == "charter":
                limit = TARGET_MEMORY * run["input_mb"] if run else float("nan")
                target = f"memory < {TARGET_MEMORY:.0f}x input: {verdict(bool(run) and run['added_mb'] < limit)}"
            rows_out.append(
                [
                    case.replace("synthetic:", "synthetic ").replace(":", " by "),
                    f"{case_rows(case):,}",
                    side,
                    seconds,
                    run["added_mb"] if run else float("nan"),
                    run["input_mb"] if run else float("nan"),
                    seconds / base,
                    how,
                    target,
                ]
            )
    header = ["data by features", "rows", "side", "seconds", "peak MB added", "input MB", "x Charter", "how", "target"]
    print(table("End to end: per-group selection rate, TPR, FPR + demographic parity difference", header, rows_out))

    # 2. Categorical and integer-coded inputs against a bare bincount.
    print("\ncategorical / integer-coded group columns")
    cat_sides = ["charter-cat", "charter-int", "bare-bincount", "fairlearn-cat"]
    synthetic = [c for c in cases if c.startswith("synthetic:")]
    for case in synthetic:
        for side in cat_sides:
            result = measure(side, case)
            if result is not None:
                measured[(side, case)] = result
                _same(measured[("charter", case)], result)
    rows_out = []
    for case in synthetic:
        bare = median(measured[("bare-bincount", case)]["seconds"])
        charter_cat = median(measured[("charter-cat", case)]["seconds"])
        for side in cat_sides:
            seconds, how = estimate(side, case, measured)
            target = "-"
            if side == "charter-cat":
                target = f"<= {TARGET_BARE:.0f}x bare: {verdict(seconds / bare <= TARGET_BARE)}"
            if side == "fairlearn-cat" and case.startswith("synthetic:10000000:"):
                ok = seconds / charter_cat >= TARGET_FAIRLEARN_CATEGORICAL
                target = f">= {TARGET_FAIRLEARN_CATEGORICAL:.0f}x Charter: {verdict(ok)}"
            run = measured.get((side, case))
            rows_out.append(
                [
                    case.replace("synthetic:", "synthetic ").replace(":", " by "),
                    side,
                    seconds * 1000,
                    run["added_mb"] if run else float("nan"),
                    seconds / bare,
                    seconds / charter_cat,
                    how,
                    target,
                ]
            )
    header = ["data by features", "side", "ms", "peak MB added", "x bare", "x Charter (cat)", "how", "target"]
    print(table("Categorical and integer-coded inputs", header, rows_out))

    # 3. DuckDB over a folder of Parquet files.
    scale_rows = int(args.scale_rows)
    if scale_rows:
        print(f"\nscale: DuckDB engine over {scale_rows:,} rows of Parquet")
        folder = scale_folder(scale_rows)
        size_mb = sum(f.stat().st_size for f in folder.glob("*.parquet")) / 1e6
        done = subprocess.run(  # noqa: S603
            [sys.executable, __file__, "--scale-child", str(folder)], capture_output=True, text=True, check=True
        )
        scale = json.loads(done.stdout.strip().splitlines()[-1])
        report["scale"] = {"rows": scale_rows, "parquet_mb": size_mb, "runs": scale}
        rows_out = []
        for run in scale:
            assert run["rows"] == scale_rows, run
            factor = 1e9 / scale_rows
            billion = run["seconds"] * factor
            how = "measured" if factor == 1 else f"x {factor:g}, linear"
            rows_out.append(
                [
                    "with scores (1000 bins)" if run["scores"] else "confusion only",
                    f"{scale_rows:,}",
                    f"{size_mb:,.0f}",
                    run["seconds"],
                    scale_rows / run["seconds"] / 1e6,
                    run["peak_mb"],
                    billion,
                    how,
                    f"< {TARGET_BILLION_S:.0f} s: {verdict(billion < TARGET_BILLION_S)}; "
                    f"< 2 GB: {verdict(run['peak_mb'] < TARGET_BILLION_MB)}",
                ]
            )
        header = ["statistics", "rows", "Parquet MB", "seconds", "M rows/s", "peak RSS MB", "1e9 rows, s", "how"]
        header.append("target")
        print(table("DuckDB engine, folder of Parquet files, 2 threads, memory_limit 1GB", header, rows_out))
        if not args.keep:
            shutil.rmtree(folder)

    out = RESULTS / args.out
    out.write_text(json.dumps(report, indent=2))
    print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"raw figures: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
