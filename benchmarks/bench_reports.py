"""Reports: an organisation report over 500 models, built and rendered in every format.

Run from the repository root:

    python benchmarks/bench_reports.py [--models 500] [--formats json html pdf oscal] [--postgres URL]

The inventory of ``benchmarks/bench_policies.py`` is written straight into a fresh database
(five versions per model, datasets, signed artifacts, approvals, fairness evidence with disparate
impact spread over 0.5..1.0, incidents on one model in ten), then the starter pack is installed
with its fairness policy enforced, a waiver of the fairness rule is granted on one model in
twenty, and every model gets a risk-register entry. Then:

* **build**: :func:`charter.reports.builder.build_organisation_report` over every model and all
  four frameworks (a compliance status per model, recorded in the history, plus one batched query
  per kind of row, and the audit chain verified), timed with the snapshots already recorded once
  (a second report, as on a live system) and the first time;
* **render**: each format of that document (JSON, HTML, PDF, OSCAL; all four by default);
* **generate**: :func:`charter.reports.service.generate` end to end (build, render all formats,
  store encrypted, audit) in one transaction.

Each measure reports wall and CPU time (this process; the machine may be shared) and the peak
resident memory during that measure alone. Target (issue 6): an organisation report over 500
models generated in every format within 30 s end to end, with a peak well under 1 GB.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import Clock, command_line, machine, peak_rss_mb, table, verdict
from bench_policies import ROSA, seed
from sqlalchemy import insert, text

from charter.config import Settings
from charter.db.engine import Database
from charter.db.migrate import upgrade
from charter.inventory.artifacts import Protection
from charter.policies import service as policies
from charter.policies.models import WaiverRow
from charter.reports import builder, service
from charter.reports.render import render
from charter.reports.schemas import FORMATS
from charter.risk.models import RiskRow
from charter.security.keyfiles import ensure_key_files
from charter.security.keys import load_audit_key
from charter.security.principal import Principal

TARGET_S = 30.0  # generate (build, render every format, store, audit), end to end
PEAK_MB = 1000  # peak resident memory while generating
NOW = datetime.now(UTC)
RICK = Principal.system("rick")


def governance(db: Database, models: int) -> None:
    """The starter pack with its fairness policy enforced, waivers on some models, a register entry on each."""
    with db.session() as s:
        policies.install_pack(s, ROSA)
        policies.change_state(s, ROSA, "high-risk-fairness", "enforce")
        policies.approve(s, RICK, "high-risk-fairness")
    rng = random.Random(5)
    with db.session() as s:
        s.execute(
            insert(WaiverRow),
            [
                {
                    "policy_id": "high-risk-fairness",
                    "rule_id": "disparate-impact",
                    "model_id": m,
                    "justification": "Retraining under way",
                    "approved_by": "user:rosa",
                    "granted_at": NOW - timedelta(days=rng.randint(1, 60)),
                    "expires_at": NOW + timedelta(days=rng.randint(-20, 30)),
                }
                for m in range(1, models + 1, 20)
            ],
        )
        s.execute(
            insert(RiskRow),
            [
                {
                    "model_id": m,
                    "team_id": 1,
                    "title": "Disparate impact on protected groups",
                    "category": "bias",
                    "likelihood": 3,
                    "impact": 4,
                    "inherent_rating": "high",
                    "controls": ["fairness review"],
                    "control_rules": ["high-risk-fairness/disparate-impact"],
                    "residual_likelihood": 2,
                    "residual_impact": 3,
                    "residual_rating": "medium",
                    "owner": "rosa",
                    "treatment": "mitigate",
                    "status": "open",
                    "created_by": "bench",
                    "updated_by": "bench",
                }
                for m in range(1, models + 1)
            ],
        )


def reset_peak_rss() -> None:
    """Start a new peak-RSS measurement (Linux: writing 5 to clear_refs resets VmHWM to the current RSS)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def run(url: str, home: Path, models: int, formats: list[str]) -> list[list[object]]:
    db = Database(url)
    if db.dialect == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(db)
    started = time.perf_counter()
    seed(db, models * 5)
    governance(db, models)
    print(f"[{db.dialect}] seeded {models:,} models ({models * 5:,} versions) in {time.perf_counter() - started:.1f} s")
    settings = Settings(home=home, database_url=url, audit_checkpoint_interval=0)
    ensure_key_files(settings)
    key = load_audit_key(settings.audit_key_file).public_key()
    period = {"start": NOW - timedelta(days=365), "end": NOW + timedelta(minutes=1)}
    rows: list[list[object]] = []
    document = None
    for attempt in ("first (records the snapshots)", "again (history up to date)"):
        reset_peak_rss()
        clock = Clock()
        with db.session() as s:
            document = builder.build_organisation_report(s, ROSA, public_key=key, **period)  # type: ignore[arg-type]
        wall, cpu = clock.lap()
        rows.append(
            [db.dialect, f"build, {len(document.models)} models, 4 frameworks, {attempt}", wall, cpu, peak_rss_mb(), ""]
        )
    assert document is not None and len(document.models) == models
    print(
        f"[{db.dialect}] {document.totals.gaps:,} gaps ({document.totals.waived_gaps} waived), "
        f"{document.totals.open_incidents} open incidents, audit ok={document.audit.ok}"
    )
    for fmt in formats:
        reset_peak_rss()
        clock = Clock()
        content = render(document, fmt)  # type: ignore[arg-type]
        wall, cpu = clock.lap()
        rows.append([db.dialect, f"render {fmt} ({len(content) / 1e6:.1f} MB)", wall, cpu, peak_rss_mb(), ""])
        del content
    del document
    reset_peak_rss()
    clock = Clock()
    with db.session() as s:
        read = service.generate(
            s,
            ROSA,
            Protection(settings),
            kind="organisation",
            public_key=key,
            formats=formats,
            **period,  # type: ignore[arg-type]
        )
    wall, cpu = clock.lap()
    peak = peak_rss_mb()
    what = "+".join(f.format for f in read.files)
    met = wall <= TARGET_S and peak < PEAK_MB
    rows.append(
        [
            db.dialect,
            f"generate: build, render {what}, store, audit; target <= {TARGET_S:.0f} s, < {PEAK_MB:,} MB",
            wall,
            cpu,
            peak,
            verdict(met) if set(formats) == set(FORMATS) else "(not every format)",
        ]
    )
    db.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--postgres", help="also run on this (throw-away) PostgreSQL database")
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS), help="default: all four")
    args = parser.parse_args()
    print(machine())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += run(f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp) / "home", args.models, args.formats)
        if args.postgres:
            rows += run(args.postgres, Path(tmp) / "home-pg", args.models, args.formats)
    header = ["database", "measure", "wall s", "CPU s", "peak RSS MB", "target"]
    print(table(f"Command: `{command_line()}`", header, rows))
    print(f"\n{machine()} (at the end)")
    print(f"peak RSS of the whole run {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
