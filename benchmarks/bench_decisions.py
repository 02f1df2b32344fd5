"""Decision ingestion rate on SQLite (not a test: run it).

    .venv/bin/python benchmarks/bench_decisions.py [--batches 20] [--batch-size 10000] [--store parquet]
        [--gc-freeze] [--writers 2] [--one-transaction] [--server-workers 2]

Each batch is validated into a ``DecisionBatch`` (as the route does), then logged as the route logs
it: its target found in a reading transaction, prepared after it, written in a writing one
(``--one-transaction``: all in one writing transaction, as before the route prepared first), the
garbage collector held throughout, as the route holds it, on a migrated SQLite file: two personal
fields pseudonymised, a subject, a score and an explanation per decision. Variants: with sensitive
attributes (kept apart), with encrypted personal fields (special-category lineage), through the
HTTP route in process, from ``--writers`` threads and processes at once, and (``--server-workers
N``) over HTTP to a real ``charter serve --workers N`` from N client threads. Prints the load
average, wall and CPU-time rates, and the time the garbage collector took outside the clock.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from _common import Clock, machine
from fastapi.testclient import TestClient
from sqlalchemy import text

from charter.client.decisions import new_decision_id
from charter.config import Settings
from charter.db.engine import Database
from charter.db.migrate import upgrade
from charter.decisions import service
from charter.decisions.parquet import configured
from charter.decisions.pseudonyms import keys_for
from charter.decisions.schemas import DecisionBatch
from charter.gcpause import paused
from charter.identity import service as identity
from charter.identity.schemas import ApiKeyCreate, RoleGrant, ServiceAccountCreate, TeamCreate
from charter.inventory import service as inventory
from charter.inventory.schemas import DatasetCreate, DatasetLink, ModelCreate, VersionCreate
from charter.security.keyfiles import ensure_key_files
from charter.security.permissions import Role
from charter.security.principal import Principal

OPERATOR = Principal.system("bench")
START = datetime(2026, 1, 1, tzinfo=UTC)


def items(first: int, count: int, version: str, attributes: bool) -> list[dict[str, Any]]:
    out = []
    for n in range(first, first + count):
        item: dict[str, Any] = {
            "decision_id": new_decision_id(),  # what the SDK makes: time-ordered
            "version": version,
            "decided_at": (START + timedelta(milliseconds=n)).isoformat(),
            "inputs": {"name": f"Applicant {n}", "email": f"a{n}@example.com", "income": n % 90_000, "age": n % 70},
            "output": "approve" if n % 3 else "deny",
            "score": (n % 1000) / 1000,
            "explanation": {"text": "income", "attributions": {"income": 0.6, "age": 0.1}},
            "subject": f"customer-{n}",
        }
        if attributes:
            item["sensitive_attributes"] = {"sex": "female" if n % 2 else "male", "age_band": "25-34"}
        out.append(item)
    return out


def body(decisions: list[dict[str, Any]]) -> dict[str, Any]:
    """A batch as the route receives it: two input fields named personal."""
    return {"decisions": decisions, "personal_fields": ["name", "email"]}


class Collector:
    """Time the cyclic garbage collector spends (``gc.callbacks``) while ``active``: from the start of a
    request to a young collection forced once its batch is freed (the collection the server would run
    then). Collections while the benchmark builds its payloads are not the server's and not counted."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.active = False
        self._started = 0.0
        gc.callbacks.append(self._on)

    def _on(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self.active:
            self.seconds += time.perf_counter() - self._started

    def settle(self) -> None:
        """The collection that follows a request, once its objects are freed; then stop counting."""
        gc.collect(0)
        self.active = False

    def reset(self) -> None:
        self.seconds = 0.0

    def micros(self, decisions: int) -> float:
        return self.seconds / decisions * 1e6


def rate(label: str, size: int, laps: list[tuple[float, float]]) -> None:
    total = size * len(laps)
    wall, cpu = sum(w for w, _ in laps), sum(c for _, c in laps)
    median = sorted(w for w, _ in laps)[len(laps) // 2]
    print(
        f"{label:<48} {total:>8,}: wall {total / wall:>7,.0f}/s (median batch {size / median:>7,.0f}/s),"
        f" CPU time {total / cpu:>7,.0f}/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument(
        "--store", choices=["database", "parquet"], default="database", help="CHARTER_DECISION_STORE to measure"
    )
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() once set up, as a tuned server would after start-up: the garbage collector's "
        "full passes then skip the long-lived heap (most of what validating a batch costs otherwise)",
    )
    parser.add_argument(
        "--writers",
        type=int,
        default=2,
        help="also log from this many threads at once (pseudonymised), as concurrent requests to one server; 1: not",
    )
    parser.add_argument(
        "--one-transaction",
        action="store_true",
        help="prepare and write each batch in one writing transaction (as before the route prepared first): "
        "on SQLite the write lock is then held while the batch is prepared",
    )
    parser.add_argument(
        "--server-workers",
        type=int,
        default=0,
        help="also run `charter serve --workers N` on the database and post batches to it from N client "
        "threads, over the loopback (0: not)",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="charter-bench-"))
    url = f"sqlite:///{folder / 'charter.db'}"
    settings = Settings(
        home=folder / "home",
        database_url=url,
        env="development",
        audit_checkpoint_interval=0,
        decision_store=args.store,
    )
    parquet = configured(settings)
    sink = service.DATABASE if parquet is None else parquet
    ensure_key_files(settings)
    db = Database(url)
    upgrade(db)
    keys = keys_for(settings.secret)
    with db.session() as session:
        team = identity.create_team(session, OPERATOR, TeamCreate(name="credit-risk"))
        for name, classification in (("apps", "personal"), ("health", "special_category")):
            inventory.register_dataset(
                session,
                OPERATOR,
                DatasetCreate(name=name, team=team.name, classification=classification, legal_basis="contract"),
            )
        inventory.register_model(session, OPERATOR, ModelCreate(name="scoring", team=team.name))
        inventory.create_version(session, OPERATOR, "scoring", VersionCreate(version="1.0.0", datasets=[]))
        inventory.create_version(
            session, OPERATOR, "scoring", VersionCreate(version="1.1.0", datasets=[DatasetLink(dataset="apps")])
        )
        inventory.create_version(
            session, OPERATOR, "scoring", VersionCreate(version="2.0.0", datasets=[DatasetLink(dataset="health")])
        )
        grant = RoleGrant(role=Role.SERVICE, team=team.name)
        identity.create_service_account(session, OPERATOR, ServiceAccountCreate(name="scorer", roles=[grant]))
        api_key = identity.create_api_key(session, OPERATOR, ApiKeyCreate(service_account="scorer", name="b")).key
    size, batches = args.batch_size, args.batches
    from charter.server.app import create_app

    app = create_app(settings, db=db)  # a server's heap, whether or not the HTTP run follows
    if args.gc_freeze:
        gc.freeze()
    counter = iter(range(0, 10**9, size))

    collector = Collector()

    def log_batch(batch: DecisionBatch) -> None:
        if args.one_transaction:
            with db.session() as session:
                service.log_decisions(session, OPERATOR, "scoring", batch, keys=keys, sink=sink)
            return
        # As the route does: the target found in a reading transaction, the batch prepared once it
        # has ended, then written in a writing one.
        with db.session(write=False) as session:
            target = service.batch_target(session, OPERATOR, "scoring", batch)
        prepared = service.prepare_decisions(target, batch, keys=keys)
        with db.session() as session:
            service.log_decisions(session, OPERATOR, "scoring", batch, keys=keys, sink=sink, prepared=prepared)

    def request(first: int) -> DecisionBatch:
        """A pseudonymised batch, validated as the route validates it."""
        return DecisionBatch.model_validate(body(items(first, size, "1.1.0", False)))

    def logged() -> int:
        with db.session(write=False) as session:
            return int(session.execute(text("SELECT count(*) FROM decisions")).scalar_one())

    def parallel_run(writers: int, *, processes: bool) -> None:
        """``writers`` threads of this process (a server's request threads) or forked processes
        (``charter serve --workers N``) logging at once; their batches validated before the clock."""
        before = logged()
        mine = [[request(next(counter)) for _ in range(max(1, batches // writers))] for _ in range(writers)]
        gc.collect()
        gc.freeze()  # the waiting batches are not the server's to walk: each request would hold one
        runtime: Any = multiprocessing.get_context("fork") if processes else threading
        start = runtime.Barrier(writers + 1)

        def work(own: list[DecisionBatch]) -> None:
            if processes:
                db.engine.dispose(close=False)  # the parent's connections are not this process's to use
            start.wait()
            for batch in own:
                with paused():
                    log_batch(batch)

        spawn = runtime.Process if processes else threading.Thread
        started = [spawn(target=work, args=(own,)) for own in mine]
        for worker in started:
            worker.start()
        start.wait()
        clock = Clock()
        for worker in started:
            worker.join()
        wall, cpu = clock.lap()
        total = size * sum(len(own) for own in mine)
        assert logged() - before == total, "every decision of every writer is stored"
        label = f"{writers} writers at once, {'processes' if processes else 'threads'}: log + commit"
        # A process's CPU time leaves out its children's: printed for threads only.
        spent = "" if processes else f", CPU time {total / cpu:>7,.0f}/s"
        print(f"{label:<48} {total:>8,}: wall {total / wall:>7,.0f}/s{spent}")
        del mine
        gc.unfreeze()

    def service_run(label: str, version: str, attributes: bool) -> None:
        validate: list[tuple[float, float]] = []
        log: list[tuple[float, float]] = []
        collector.reset()
        for _ in range(batches):
            # Made one at a time, as a server receives them: a heap full of waiting batches would
            # make the garbage collector's full passes, not the log, the cost being measured.
            payload = items(next(counter), size, version, attributes)
            collector.active = True
            clock = Clock()
            # The collector held from validation to commit, as the route holds it for the whole request
            # (charter.server.bulk). Resumed before that, it would walk the whole batch it had not seen
            # (3 to 7 us a decision, charged to whatever allocates next); resumed after the batch is
            # freed, it finds little to walk. What it does cost is counted and printed, not hidden.
            with paused():
                batch = DecisionBatch.model_validate(body(payload))
                validate.append(clock.lap())
                log_batch(batch)
                log.append(clock.lap())
                del payload, batch  # freed before collection resumes, as a request's batch is
            collector.settle()
        rate(f"{label}: log + commit", size, log)
        both = [(a[0] + b[0], a[1] + b[1]) for a, b in zip(validate, log, strict=True)]
        rate(f"{label}: validate + log + commit", size, both)
        print(f"{'':<48} garbage collector, after the clock: {collector.micros(size * batches):.2f} us a decision")

    print(machine())
    print(f"store: {args.store}")
    service_run("pseudonymised", "1.1.0", attributes=False)
    if args.writers > 1:
        parallel_run(args.writers, processes=False)
        parallel_run(args.writers, processes=True)
    service_run("pseudonymised + attributes", "1.1.0", attributes=True)
    service_run("encrypted (special category)", "2.0.0", attributes=False)

    with TestClient(app) as client:
        send: Callable[[bytes], Any] = lambda content: client.post(  # noqa: E731
            "/api/v1/models/scoring/decisions",
            content=content,
            headers={"X-API-Key": api_key, "Content-Type": "application/json"},
        )
        took: list[tuple[float, float]] = []
        collector.reset()
        for _ in range(batches):
            # Encoded before the clock starts: what is measured is the server's side of the request.
            encoded = orjson.dumps(body(items(next(counter), size, "1.1.0", False)))
            collector.active = True
            clock = Clock()
            response = send(encoded)
            took.append(clock.lap())
            assert response.status_code == 200, response.text
            del encoded, response
            collector.settle()
        rate("HTTP route, in process", size, took)
        print(f"{'':<48} garbage collector, after the clock: {collector.micros(size * batches):.2f} us a decision")
    db.dispose()
    if args.server_workers:
        served = server_run(settings, api_key, args.server_workers, size, max(1, batches // args.server_workers))
        print(f"{f'HTTP, charter serve --workers {args.server_workers}':<48} {served}")
    shutil.rmtree(folder)  # 500 MB a run


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_run(settings: Settings, api_key: str, workers: int, size: int, per_client: int) -> str:
    """``per_client`` batches of ``size`` posted to a real server (``charter serve --workers N``, its
    own processes) from each of ``workers`` client threads, bodies encoded before the clock; every
    decision counted stored."""
    port = free_port()
    env = {
        **os.environ,
        "CHARTER_HOME": str(settings.home),
        "CHARTER_DATABASE_URL": settings.database_url or "",
        "CHARTER_ENV": "development",
        "CHARTER_AUDIT_CHECKPOINT_INTERVAL": "0",
        "CHARTER_WORKER_INTERVAL": "0",  # no monitor runs beside the ingestion
        "CHARTER_DECISION_STORE": settings.decision_store,
    }
    command = [sys.executable, "-m", "charter", "serve", "--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    try:
        deadline = time.monotonic() + 60
        while True:  # until a worker answers /readyz
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                probe.request("GET", "/readyz")
                if probe.getresponse().status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
            finally:
                probe.close()
            time.sleep(0.2)
        time.sleep(2)  # the other workers' start-up, off the clock
        first = 10**8  # other applicants and times than the runs before
        bodies = [
            [
                orjson.dumps(body(items(first + (c * per_client + i) * size, size, "1.1.0", False)))
                for i in range(per_client)
            ]
            for c in range(workers)
        ]
        headers = {"X-API-Key": api_key, "Content-Type": "application/json"}
        start = threading.Barrier(workers + 1)
        stored: list[int] = []

        def client(own: list[bytes]) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            start.wait()
            for encoded in own:
                connection.request("POST", "/api/v1/models/scoring/decisions", body=encoded, headers=headers)
                response = connection.getresponse()
                answer = response.read()
                assert response.status == 200, answer[:500]
                stored.append(orjson.loads(answer)["stored"])
            connection.close()

        threads = [threading.Thread(target=client, args=(own,)) for own in bodies]
        for thread in threads:
            thread.start()
        start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
    finally:
        server.terminate()
        server.wait()
    total = size * per_client * workers
    assert sum(stored) == total, "every decision posted is stored"
    return f"{total:>8,}: wall {total / wall:>7,.0f}/s"


if __name__ == "__main__":
    main()
