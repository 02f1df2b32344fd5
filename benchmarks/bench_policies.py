"""Policies: the latency of a gate decision with 50 enforced policies, and a dry run over 10,000 versions.

Run from the repository root:

    python benchmarks/bench_policies.py [--versions 10000] [--decisions 400] [--postgres URL]

An inventory of ``--versions`` model versions (five per model) is written straight into a fresh
database: datasets (some personal), artifacts with scan verdicts, approvals, fairness evidence
(disparate impact spread over 0.5..1.0), open incidents on some models. Then:

* **gate decision**: 50 enforced policies (the six of the starter pack, and variants of them with
  other thresholds and stages); each decision is what a promotion to production runs in
  ``charter.policies.gates.decide``: load the live policies, build the version's facts (every
  section the policies read), evaluate every match condition and rule, apply waivers. p50 and
  p99 over ``--decisions`` decisions on random versions, each in a session of its own;
* **the floor**: the same 50 policies evaluated by the bare CEL library over a facts document
  built once (no database, no facts building): what the decision would cost if facts were free;
* **dry run**: ``charter.policies.service.dry_run`` of one policy over every version, as if each
  were promoted to production (fairness: evidence facts; documentation: model-card completeness,
  which builds each version's card).

There is no other product to run side by side (no open-source policy engine reads a model
registry's facts), so the bare evaluation is the reference point.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import command_line, machine, peak_rss_mb, percentile, table, verdict
from sqlalchemy import insert, select, text

from charter.db.engine import Database
from charter.db.migrate import upgrade
from charter.evidence.models import EvidenceRow
from charter.identity.models import TeamRow
from charter.incidents.models import IncidentModelRow, IncidentRow
from charter.inventory.models import (
    ArtifactRow,
    BlobRow,
    DatasetRow,
    ModelRow,
    ModelVersionRow,
    StageTransitionRow,
    VersionDatasetRow,
)
from charter.policies import engine, facts, gates, service
from charter.policies.documents import pack_documents
from charter.policies.schemas import DryRunRequest, PolicyDocument
from charter.security.principal import Principal

TARGET_P50_MS = 5.0
TARGET_P99_MS = 20.0
TARGET_DRY_RUN_S = 2.0
ROSA, RICK = Principal.system("rosa"), Principal.system("rick")
NOW = datetime.now(UTC)


def seed(db: Database, versions: int) -> None:
    """Write the inventory with bulk inserts (the services would take minutes for 10,000 versions)."""
    rng = random.Random(7)
    models = versions // 5
    with db.session() as s:
        s.execute(insert(TeamRow), [{"id": 1, "name": "credit-risk", "created_by": "bench"}])
        s.execute(
            insert(DatasetRow),
            [
                {
                    "id": 1,
                    "name": "applications",
                    "team_id": 1,
                    "classification": "personal",
                    "legal_basis": "contract",
                    "created_by": "b",
                },
                {"id": 2, "name": "holdout", "team_id": 1, "classification": "internal", "created_by": "b"},
                {
                    "id": 3,
                    "name": "health",
                    "team_id": 1,
                    "classification": "special_category",
                    "legal_basis": "consent",
                    "created_by": "b",
                },
            ],
        )
        s.execute(insert(BlobRow), [{"digest": "0" * 64, "size": 10, "stored_size": 10}])
        s.execute(
            insert(ModelRow),
            [
                {
                    "id": m,
                    "name": f"model-{m:05d}",
                    "team_id": 1,
                    "domain": "credit",
                    "risk_tier": rng.choice(["high", "high", "limited", "minimal", None]),
                    "purpose": "Score applications",
                    "intended_use": "Loan officers",
                    "out_of_scope_uses": ["mortgages"],
                    "tags": ["bench"],
                    "created_by": "bench",
                }
                for m in range(1, models + 1)
            ],
        )
        rows, links, files, moves, evidence = [], [], [], [], []
        for v in range(1, versions + 1):
            model_id = (v - 1) // 5 + 1
            stage = rng.choice(["draft", "review", "approved", "production", "deprecated"])
            rows.append(
                {
                    "id": v,
                    "model_id": model_id,
                    "version": f"{(v - 1) % 5 + 1}.0.0",
                    "stage": stage,
                    "metrics": {"auc": 0.7 + rng.random() / 4},
                    "card": {
                        "limitations": "Few",
                        "ethical_considerations": "Some",
                        "human_oversight": "Analysts review",
                    }
                    if rng.random() < 0.7
                    else {},
                    "signature": b"bundle",
                    "signature_key_id": "k",
                    "created_by": "user:olivia",
                    "created_at": NOW - timedelta(days=rng.randint(0, 400)),
                }
            )
            links.append({"version_id": v, "dataset_id": rng.choice([1, 2, 3]), "role": "training"})
            links.append({"version_id": v, "dataset_id": 2, "role": "evaluation"})
            files.append(
                {
                    "version_id": v,
                    "path": "model.pkl",
                    "digest": "0" * 64,
                    "size": 10,
                    "format": "pickle",
                    "scan_verdict": "clean" if rng.random() < 0.95 else "unsafe",
                    "created_by": "user:olivia",
                }
            )
            if stage != "draft":
                moves.append({"version_id": v, "from_stage": "review", "to_stage": "approved", "actor": "user:rita"})
            ratio = 0.5 + rng.random() / 2
            evidence.append(
                {
                    "version_id": v,
                    "kind": "fairness",
                    "title": "Fairness by race",
                    "summary": {
                        "passed": ratio >= 0.8,
                        "four_fifths": {"ratio": ratio},
                        "metrics": {"demographic_parity_ratio": ratio},
                    },
                    "body": {},
                    "passed": ratio >= 0.8,
                    "library_version": "bench",
                    "sha256": "0" * 64,
                    "created_by": "user:olivia",
                    "created_at": NOW - timedelta(days=rng.randint(0, 200)),
                }
            )
        s.execute(insert(ModelVersionRow), rows)
        s.execute(insert(VersionDatasetRow), links)
        s.execute(insert(ArtifactRow), files)
        s.execute(insert(StageTransitionRow), moves)
        s.execute(insert(EvidenceRow), evidence)
        incidents = [
            {
                "id": i,
                "title": "Drift",
                "type": "performance",
                "severity": rng.choice(["SEV1", "SEV2", "SEV3", "SEV4"]),
                "status": "investigating",
                "source": "monitoring_alert",
                "reporter": "bench",
                "detected_at": NOW,
                "response_due_at": NOW,
            }
            for i in range(1, models // 10 + 1)
        ]
        s.execute(insert(IncidentRow), incidents)
        s.execute(
            insert(IncidentModelRow),
            [{"incident_id": i["id"], "model_id": i["id"] * 7 % models + 1} for i in incidents],
        )


def variants() -> list[PolicyDocument]:
    """50 policies: the starter pack and variants with other thresholds, stages and tiers."""
    pack = pack_documents()
    out = list(pack)
    n = 0
    while len(out) < 50:
        base = pack[n % len(pack)]
        n += 1
        data = base.model_dump(mode="json")
        data["id"] = f"{base.id}-v{n}"
        data["match"] = data["match"].replace("'production'", "'approved'" if n % 2 else "'production'")
        for rule in data["rules"]:
            rule["expr"] = rule["expr"].replace("0.8", f"0.{7 + n % 3}").replace("90.0", f"{60 + n}.0")
        out.append(PolicyDocument.model_validate(data))
    return out


def enforce(db: Database, documents: list[PolicyDocument]) -> None:
    with db.session() as s:
        for document in documents:
            service.create_policy(s, ROSA, document)
            service.change_state(s, ROSA, document.id, "enforce")
            service.approve(s, RICK, document.id)


def bench_gate(db: Database, versions: int, decisions: int) -> tuple[list[float], list[float], int]:
    rng = random.Random(11)
    times, blocked = [], 0
    event = facts.Event("promote", "user:olivia", "approved", "production")
    for _ in range(decisions):
        vid = rng.randint(1, versions)
        with db.session(write=False) as s:
            # The version row is the promotion's own (loaded before the gates run): not timed.
            row = s.get(ModelVersionRow, vid)
            assert row is not None
            start = time.perf_counter()
            decision = gates.decide(s, row, event)
            times.append((time.perf_counter() - start) * 1000)
        blocked += bool(decision.refusals)
    # The floor: the same policies, one facts document built once, the bare library evaluating.
    with db.session(write=False) as s:
        live = service.live_policies(s, NOW)
        row = s.get(ModelVersionRow, 1)
        assert row is not None
        doc = facts.build(s, row, NOW, event=event)
    compiled = [p.compiled for p in live]
    ctx = engine.context(doc, engine.paths_of(compiled))
    floor = []
    for _ in range(decisions):
        start = time.perf_counter()
        for policy in compiled:
            policy.match.program.execute(ctx)
            for rule in policy.rules:
                try:
                    rule.expr.program.execute(ctx)
                except Exception:  # noqa: S112 (a null fact: the floor only times the library)
                    continue
        floor.append((time.perf_counter() - start) * 1000)
    return times, floor, blocked


def bench_dry_run(db: Database, policy_id: str) -> tuple[float, Any]:
    with db.session(write=False) as s:
        service.dry_run(s, ROSA, policy_id, DryRunRequest(stage="production"))  # warm: compile, caches
    best = float("inf")
    result = None
    for _ in range(3):
        start = time.perf_counter()
        with db.session(write=False) as s:
            result = service.dry_run(s, ROSA, policy_id, DryRunRequest(stage="production"))
        best = min(best, time.perf_counter() - start)
    return best, result


def run(url: str, args: argparse.Namespace) -> list[list[object]]:
    db = Database(url)
    if db.dialect == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(db)
    start = time.perf_counter()
    seed(db, args.versions)
    print(f"[{db.dialect}] seeded {args.versions:,} versions in {time.perf_counter() - start:.1f} s")
    documents = variants()
    enforce(db, documents)
    with db.session(write=False) as s:
        assert len(service.live_policies(s, NOW)) == 50
        assert s.scalar(select(ModelVersionRow.id).order_by(ModelVersionRow.id.desc()).limit(1)) == args.versions
    times, floor, blocked = bench_gate(db, args.versions, args.decisions)
    fair_s, fair = bench_dry_run(db, "high-risk-fairness")
    card_s, card = bench_dry_run(db, "high-risk-documentation")
    db.dispose()
    p50, p99 = percentile(times, 50), percentile(times, 99)
    print(f"[{db.dialect}] {blocked} of {args.decisions} decisions blocked")
    return [
        [
            db.dialect,
            "gate decision, 50 enforced policies (p50 ms)",
            p50,
            f"<= {TARGET_P50_MS}: {verdict(p50 <= TARGET_P50_MS)}",
        ],
        [
            db.dialect,
            "gate decision, 50 enforced policies (p99 ms)",
            p99,
            f"<= {TARGET_P99_MS}: {verdict(p99 <= TARGET_P99_MS)}",
        ],
        [db.dialect, "floor: bare CEL, 50 policies, facts given (p50 ms)", percentile(floor, 50), "-"],
        [
            db.dialect,
            f"dry run, fairness, {fair.evaluated:,} versions ({fair.applies:,} apply) (s)",
            fair_s,
            f"<= {TARGET_DRY_RUN_S}: {verdict(fair_s <= TARGET_DRY_RUN_S)}",
        ],
        [
            db.dialect,
            f"dry run, model card, {card.evaluated:,} versions ({card.applies:,} apply) (s)",
            card_s,
            f"<= {TARGET_DRY_RUN_S}: {verdict(card_s <= TARGET_DRY_RUN_S)}",
        ],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=400)
    parser.add_argument("--postgres", help="also run on this (throw-away) PostgreSQL database")
    args = parser.parse_args()
    print(machine())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += run(f"sqlite:///{Path(tmp) / 'bench.db'}", args)
    if args.postgres:
        rows += run(args.postgres, args)
    print(table(f"Command: `{command_line()}`", ["database", "measure", "value", "target"], rows))
    print(f"\npeak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
