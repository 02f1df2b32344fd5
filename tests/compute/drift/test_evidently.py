"""Agreement with Evidently 0.7.23 where the definitions coincide, on Adult (men vs women).

Evidently does not import with pandas 3, so it runs in its own virtual environment, the one the
drift benchmark creates (``python benchmarks/bench_drift.py --setup-evidently``); without it the
test is skipped. Its statistics are called on the same rows, read from the same Parquet files:
normalised Wasserstein and the KS p-value for numeric columns, Jensen-Shannon and PSI for categorical
ones (the smoothing of empty categories coincides unless a share is below 1e-4).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from charter.compute.drift import drift
from tests.compute.drift.engines import adult_split

EVIDENTLY_PYTHON = Path(__file__).resolve().parents[3] / "benchmarks" / ".venv-evidently" / "bin" / "python"
NUMERIC = ["age", "fnlwgt", "hours_per_week", "capital_gain"]
CATEGORICAL = ["race", "workclass", "relationship", "marital_status", "occupation"]

SCRIPT = """
import json, sys
import pandas as pd
from evidently.legacy.core import ColumnType
from evidently.legacy.calculations.stattests.jensenshannon import _jensenshannon
from evidently.legacy.calculations.stattests.ks_stattest import _ks_stat_test
from evidently.legacy.calculations.stattests.psi import _psi
from evidently.legacy.calculations.stattests.wasserstein_distance_norm import _wasserstein_distance_norm

ref, cur = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
numeric, categorical = sys.argv[3].split(","), sys.argv[4].split(",")
out = {}
for name in numeric:
    numbers = ref[name], cur[name], ColumnType.Numerical
    out[name] = {
        "wasserstein_distance_norm": float(_wasserstein_distance_norm(*numbers, 0.1)[0]),
        "ks_pvalue": float(_ks_stat_test(*numbers, 0.05)[0]),
    }
for name in categorical:
    out[name] = {
        "jensenshannon_distance": float(_jensenshannon(ref[name], cur[name], ColumnType.Categorical, 0.1)[0]),
        "psi": float(_psi(ref[name], cur[name], ColumnType.Categorical, 0.1)[0]),
    }
print(json.dumps(out))
"""


@pytest.mark.skipif(not EVIDENTLY_PYTHON.exists(), reason="no Evidently environment (bench_drift.py --setup-evidently)")
def test_same_numbers_as_evidently(tmp_path: Path) -> None:
    men, women = adult_split()
    ref_path, cur_path = tmp_path / "men.parquet", tmp_path / "women.parquet"
    men.to_parquet(ref_path, index=False)
    women.to_parquet(cur_path, index=False)
    done = subprocess.run(  # a fixed script, in the benchmark's environment
        [str(EVIDENTLY_PYTHON), "-c", SCRIPT, str(ref_path), str(cur_path), ",".join(NUMERIC), ",".join(CATEGORICAL)],
        capture_output=True,
        text=True,
        env={**os.environ, "DO_NOT_TRACK": "1"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    report = drift(ref_path, cur_path, columns=NUMERIC + CATEGORICAL)
    for name in NUMERIC:
        for statistic in ("wasserstein_distance_norm", "ks_pvalue"):
            assert report[name][statistic] == pytest.approx(theirs[name][statistic], rel=1e-9, abs=1e-12), name
    for name in CATEGORICAL:
        column = report[name]
        assert column["jensenshannon_distance"] == pytest.approx(theirs[name]["jensenshannon_distance"], rel=1e-12)
        # Evidently also replaces an empty category's share by 1e-4, unless the smallest share is below 1e-4
        assert column["psi"] == pytest.approx(theirs[name]["psi"], rel=1e-12), name
    assert report["occupation"].missing_categories == ("Armed-Forces",)  # an empty category, smoothed alike
