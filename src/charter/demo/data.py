"""The reference data sets as their usual analyses use them (see shared/data/README.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

COMPAS = "compas_two_years.csv"
ADULT = "adult.csv"


def compas_propublica(folder: Path) -> pd.DataFrame:
    """COMPAS rows kept by ProPublica's methodology: 6,172 of 7,214.

    Screening within 30 days of the arrest, a known recidivism flag, no ordinary-traffic charges,
    and a risk score; the tool's decision is ``score_text`` Medium or High.
    """
    import pandas as pd

    raw = pd.read_csv(folder / COMPAS)
    kept = raw[
        raw["days_b_screening_arrest"].between(-30, 30)
        & (raw["is_recid"] != -1)
        & (raw["c_charge_degree"] != "O")
        & raw["score_text"].notna()
        & (raw["score_text"] != "N/A")
    ]
    return kept.reset_index(drop=True)
