"""Two real server processes writing to one PostgreSQL database keep one unbroken audit chain.

Each process appends audit events in its own transactions; only the
advisory lock taken in ``charter.audit.service._lock_head`` keeps them from
both reading the same head and appending the same ``seq``. The test starts
two ``uvicorn`` processes as an operator would (home and keys made by
``charter init``), fires a few hundred audited writes at both at once from
several threads, and then checks the chain row by row.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from charter.audit.models import AuditEventRow
from charter.audit.service import verify
from charter.db.engine import Database
from charter.security.audit_chain import GENESIS
from charter.security.keys import load_audit_key
from tests.conftest import PASSWORD, require_postgres, truncate_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SECRET = "concurrency-test-secret-" + "x" * 40  # 64 characters, not a known default
THREADS = 8
TEAMS = 240
USERS = 24  # each user also gets a role: two events per request
READY_TIMEOUT = 30.0
UVICORN = [sys.executable, "-m", "uvicorn", "charter.server.asgi:app", "--host", "127.0.0.1", "--no-access-log"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def server_env(home: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTER_")}
    env.update(
        CHARTER_HOME=str(home),
        CHARTER_DATABASE_URL=database_url,
        CHARTER_SECRET_KEY=SECRET,
        CHARTER_AUDIT_CHECKPOINT_INTERVAL="0",
        CHARTER_PASSWORD_MIN_LENGTH="12",
        CHARTER_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def launch(name: str, env: dict[str, str], logs: Path, attempt: int) -> Server:
    port = free_port()
    log = logs / f"{name}-{attempt}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([*UVICORN, "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    return Server(process, f"http://127.0.0.1:{port}", log)


def ready(server: Server) -> bool:
    """Wait for /readyz; False when the process died (its log says why)."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline and server.process.poll() is None:
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return False


def start_servers(names: list[str], env: dict[str, str], logs: Path, started: list[Server]) -> None:
    """Start ``uvicorn charter.server.asgi:app`` per name, side by side; relaunch one whose port was taken."""
    pending = {name: launch(name, env, logs, 0) for name in names}
    started.extend(pending.values())
    for name, server in pending.items():
        attempt = 0
        while not ready(server):
            stop(server)
            attempt += 1
            if attempt == 3 or "address already in use" not in server.output().lower():
                pytest.fail(f"server {name} did not become ready:\n{server.output()}")
            server = launch(name, env, logs, attempt)
            started.append(server)


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


@dataclass
class Deployment:
    home: Path
    database_url: str
    servers: list[Server]


@pytest.fixture
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    require_postgres()
    url: str = request.getfixturevalue("postgres_migrated")
    truncate_postgres(url)
    home = tmp_path / "home"
    env = server_env(home, url)
    # The operator's path: `charter init` makes the home, the audit signing key and the administrator.
    init = subprocess.run(
        [sys.executable, "-m", "charter", "init", "--admin-username", "admin"],
        env={**env, "CHARTER_ADMIN_PASSWORD": PASSWORD},
        capture_output=True,
        timeout=60,
    )
    assert init.returncode == 0, init.stdout.decode() + init.stderr.decode()
    assert (home / "keys" / "audit-ed25519.pem").exists()

    servers: list[Server] = []
    try:
        start_servers(["a", "b"], env, tmp_path, servers)
        yield Deployment(home, url, [s for s in servers if s.process.poll() is None])
    finally:
        for server in servers:
            stop(server)


@dataclass(frozen=True)
class Write:
    server: int  # index into deployment.servers
    path: str
    body: dict[str, Any]
    actions: tuple[str, ...]  # the audit events a success must leave, in order


@dataclass(frozen=True)
class Outcome:
    write: Write
    status: int
    request_id: str
    text: str


def planned_writes() -> list[Write]:
    writes = [Write(i % 2, "/api/v1/teams", {"name": f"team-{i:04d}"}, ("team.create",)) for i in range(TEAMS)]
    for i in range(USERS):
        body = {"username": f"user-{i:03d}", "password": PASSWORD, "roles": [{"role": "viewer"}]}
        writes.insert(i * (TEAMS // USERS), Write((i + 1) % 2, "/api/v1/users", body, ("user.create", "role.grant")))
    return writes


def test_two_processes_append_one_gapless_linked_chain(deployment: Deployment) -> None:
    servers = deployment.servers
    assert len({s.process.pid for s in servers}) == 2
    login = httpx.post(f"{servers[0].url}/api/v1/auth/token", data={"username": "admin", "password": PASSWORD})
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

    db = Database(deployment.database_url)
    try:
        with db.session(write=False) as session:
            before = session.scalar(select(AuditEventRow.seq).order_by(AuditEventRow.seq.desc()).limit(1)) or 0
        assert before > 0  # init and sign-in are in the trail already

        writes = planned_writes()
        barrier = threading.Barrier(THREADS)
        waited = threading.local()
        limits = httpx.Limits(max_connections=THREADS, max_keepalive_connections=THREADS)

        with (
            httpx.Client(base_url=servers[0].url, headers=headers, timeout=30, limits=limits) as client_a,
            httpx.Client(base_url=servers[1].url, headers=headers, timeout=30, limits=limits) as client_b,
        ):

            def send(write: Write) -> Outcome:
                if not getattr(waited, "done", False):
                    waited.done = True
                    barrier.wait(timeout=30)  # every thread is ready before the first write goes out
                response = (client_a, client_b)[write.server].post(write.path, json=write.body)
                return Outcome(write, response.status_code, response.headers["x-request-id"], response.text)

            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=THREADS) as pool:
                outcomes = list(pool.map(send, writes))
            elapsed = time.monotonic() - started

        failures = [(o.write.path, o.status, o.text[:200]) for o in outcomes if o.status != 201]
        assert failures == [], f"{len(failures)} writes failed: {failures[:5]}"
        served = Counter(o.write.server for o in outcomes)
        assert served[0] > 100 and served[1] > 100, served  # both processes really took the load

        with db.session(write=False) as session:
            rows = session.execute(
                select(AuditEventRow.seq, AuditEventRow.prev_hash, AuditEventRow.hash, AuditEventRow.body).order_by(
                    AuditEventRow.seq
                )
            ).all()
            report = verify(
                session, public_key=load_audit_key(deployment.home / "keys" / "audit-ed25519.pem").public_key()
            )
    finally:
        db.dispose()

    # seq is exactly 1..N: nothing lost, nothing appended twice.
    expected_new = sum(len(o.write.actions) for o in outcomes)
    assert [r.seq for r in rows] == list(range(1, before + expected_new + 1))
    # Each event links to the one before it.
    assert bytes(rows[0].prev_hash) == GENESIS
    for previous, row in pairwise(rows):
        assert bytes(row.prev_hash) == bytes(previous.hash), f"seq {row.seq} does not link to seq {previous.seq}"
    assert report.ok, report.fault
    assert report.size == len(rows)

    # Every successful write left exactly its events, tagged with the request that made them.
    events = [json.loads(r.body) for r in rows if r.seq > before]
    by_request: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_request.setdefault(event["request_id"], []).append(event)
    assert set(by_request) == {o.request_id for o in outcomes}
    for outcome in outcomes:
        found = by_request[outcome.request_id]
        assert tuple(e["action"] for e in found) == outcome.write.actions
        name = outcome.write.body.get("name") or outcome.write.body["username"]
        assert {(e["actor"], e["resource_id"]) for e in found} == {("user:admin", name)}
        assert [e["seq"] for e in found] == list(range(found[0]["seq"], found[0]["seq"] + len(found)))

    # The two processes' appends interleave in the chain: they really ran at the same time.
    server_of = {o.request_id: o.write.server for o in outcomes}
    order = [server_of[e["request_id"]] for e in events]
    switches = sum(1 for a, b in pairwise(order) if a != b)
    assert switches >= 20, f"only {switches} switches between the servers' events"
    assert elapsed < 45, f"the load took {elapsed:.1f} s"
