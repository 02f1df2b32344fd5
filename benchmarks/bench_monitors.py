"""Monitor evaluation for 500 models (target: one round in under 10 s), on SQLite (not a test: run it).

    .venv/bin/python benchmarks/bench_monitors.py [--models 500] [--points 1440]

Each model has a version, a day of per-minute accuracy points (``--points``) and two monitors: a
metric threshold (mean accuracy over the last hour >= 0.8; one model in ten breaches it) and a
data-quality check over its logged decisions (100 each). One ``worker.tick`` leases every due
monitor, evaluates it, records the run, fires the alerts (and opens the incidents), and is timed
end to end; then a second round finds nothing due. There is no peer that evaluates governance
monitors with leases, alerts and incidents, so nothing runs side by side here: the figure is
against the target.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from charter.config import Settings
from charter.db.engine import Database
from charter.db.migrate import upgrade
from charter.decisions import service as decisions
from charter.decisions.pseudonyms import keys_for
from charter.decisions.schemas import DecisionBatch
from charter.identity import service as identity
from charter.identity.schemas import TeamCreate
from charter.inventory import service as inventory
from charter.inventory.schemas import ModelCreate, VersionCreate
from charter.metrics import service as metrics
from charter.metrics.schemas import MetricBatch
from charter.monitoring import service as monitoring
from charter.monitoring import worker
from charter.monitoring.schemas import DataQualityMonitorCreate, MetricMonitorCreate
from charter.security.keyfiles import ensure_key_files
from charter.security.principal import Principal

OPERATOR = Principal.system("bench")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--profile", action="store_true", help="print where the round's time goes")
    parser.add_argument("--points", type=int, default=1440, help="accuracy points per model (one a minute)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="charter-bench-"))
    url = f"sqlite:///{folder / 'charter.db'}"
    settings = Settings(home=folder / "home", database_url=url, env="development", audit_checkpoint_interval=0)
    ensure_key_files(settings)
    db = Database(url)
    upgrade(db)
    keys = keys_for(settings.secret)
    now = datetime.now(UTC).replace(microsecond=0)
    started = time.perf_counter()
    with db.session() as session:
        identity.create_team(session, OPERATOR, TeamCreate(name="fleet"))
    for n in range(args.models):
        name = f"model-{n:04d}"
        with db.session() as session:
            inventory.register_model(session, OPERATOR, ModelCreate(name=name, team="fleet"))
            inventory.create_version(session, OPERATOR, name, VersionCreate(version="1.0.0"))
            low = n % 10 == 0  # one model in ten breaches its accuracy floor
            points = [
                {
                    "name": "accuracy",
                    "value": (0.7 if low else 0.9) + 0.001 * (i % 7),
                    "time": now - timedelta(minutes=args.points - i),
                }
                for i in range(args.points)
            ]
            metrics.ingest(session, OPERATOR, name, MetricBatch.model_validate({"points": points, "version": "1.0.0"}))
            batch = DecisionBatch.model_validate(
                {
                    "decisions": [
                        {
                            "decision_id": f"{name}-{i}",
                            "version": "1.0.0",
                            "decided_at": now - timedelta(minutes=i),
                            "inputs": {"income": None if i % 9 == 0 else 1000 + i, "region": "eu"},
                            "output": i % 2,
                        }
                        for i in range(100)
                    ]
                }
            )
            decisions.log_decisions(session, OPERATOR, name, batch, keys=keys)
            config = {"metric": "accuracy", "op": ">=", "value": 0.8, "window": 3600}
            monitoring.create_monitor(
                session,
                OPERATOR,
                name,
                MetricMonitorCreate(name="accuracy", kind="metric_threshold", config=config, version="1.0.0"),  # type: ignore[arg-type]
            )
            quality = {"window": 86_400, "max_null_rate": 0.2, "schema": {"income": "number", "region": "string"}}
            monitoring.create_monitor(
                session,
                OPERATOR,
                name,
                DataQualityMonitorCreate(name="quality", kind="data_quality", config=quality, version="1.0.0"),  # type: ignore[arg-type]
            )
    print(f"set up {args.models} models, {2 * args.models} monitors in {time.perf_counter() - started:.1f} s")

    moment = datetime.now(UTC) + timedelta(seconds=1)
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    begin, cpu = time.perf_counter(), time.process_time()
    total = rounds = breaches = 0
    while True:  # a round leases at most worker.CLAIM_BATCH monitors; a worker loops until none is due
        done = worker.tick(db, settings, worker="bench", now=moment)
        rounds += 1
        total += done.runs
        breaches += done.breaches
        if done.runs == 0:
            break
    wall, used = time.perf_counter() - begin, time.process_time() - cpu
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    print(
        f"evaluated {total} monitors of {args.models} models in {wall:.2f} s "
        f"({rounds} rounds, CPU {used:.2f} s, {1000 * wall / max(total, 1):.1f} ms a monitor); breaches {breaches}"
    )
    with db.session(write=False) as session:
        firing = sum(n for _, _, n in monitoring.firing_counts(session))
    print(f"alerts firing: {firing} (expected {args.models // 10} accuracy floors; the quality checks pass)")
    print(f"target: 500 models in < 10 s: {'met' if wall < 10 * args.models / 500 else 'missed'}")
    db.dispose()


if __name__ == "__main__":
    main()
