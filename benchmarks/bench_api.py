"""API: an authenticated GET against a real ``charter serve`` process, at a fixed rate and flat out.

Run from the repository root (needs ``taskset``, and ``wrk`` for the
maximum-throughput part: ``apt-get install wrk``):

    python benchmarks/bench_api.py

What it does:

1. makes a fresh ``CHARTER_HOME`` under ``benchmarks/results/`` with the CLI,
   as an operator would: ``charter init``, three teams, a user with four role
   bindings (one organisation-wide, three in teams), ``charter token create``;
2. starts ``charter serve`` (uvicorn, one process) pinned to CPU 0, and, as
   peers, two floors on the same uvicorn (``_api_peer.py``) that answer with
   the same bytes after a string comparison of the token: FastAPI with the
   shape of Charter's routes (a sync generator dependency and a sync route,
   so the same thread-pool hops) but no database, and a bare ASGI app;
3. offers a fixed load of ``--rate`` requests/s for ``--duration`` s from an
   open-loop generator (asyncio + uvloop over raw keep-alive connections, in
   this process, pinned to CPU 1): each request is sent at its scheduled
   time whether or not earlier ones have been answered, and its latency is
   counted from that time, so a stalled server cannot hide its queue;
4. measures the maximum throughput with ``wrk`` (pinned to CPU 1, closed loop,
   ``--connections`` connections).

Every response of both servers is checked: status 200 and the same body.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from _common import RESULTS, ROOT, command_line, machine, percentile, table, verdict

TARGET_P99_MS = 20.0
CHARTER = str(Path(sys.executable).with_name("charter"))
PASSWORD = "bench-password-0123456789"  # noqa: S105  (a throw-away benchmark home)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([CHARTER, *args], env=env, check=True, capture_output=True, text=True)  # noqa: S603
    return out.stdout.strip()


def prepare_home(home: Path) -> tuple[dict[str, str], str]:
    """A fresh Charter home made through the CLI; returns the environment and an access token."""
    shutil.rmtree(home, ignore_errors=True)
    env = {**os.environ, "CHARTER_HOME": str(home)}
    env.pop("CHARTER_DATABASE_URL", None)
    cli(env, "init", "--admin-password", PASSWORD)
    for team in ("credit-risk", "fraud", "marketing"):
        cli(env, "team", "create", team)
    roles = ["viewer", "model_owner@credit-risk", "reviewer@fraud", "risk_officer@marketing"]
    cli(env, "user", "create", "bench-user", "--password", PASSWORD, *[x for r in roles for x in ("--role", r)])
    token = cli(env, "token", "create", "bench-user", "--ttl", "7200").splitlines()[-1]
    return env, token


def start(argv: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(["taskset", "-c", "0", *argv], env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603,S607
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return process
        except urllib.error.HTTPError:  # it answers (the floors have no /healthz)
            return process
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{argv[0]} did not start; see {log}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def get(port: int, path: str, token: str) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return int(response.status), response.read()


# -- open-loop generator ----------------------------------------------------------------------------


class Connection:
    """One HTTP/1.1 keep-alive connection; a request is written whole, the response read by Content-Length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        if match is None:
            raise RuntimeError(f"no Content-Length in {head!r}")
        return status, await self.reader.readexactly(int(match.group(1)))


async def open_loop(
    port: int,
    path: str,
    token: str,
    *,
    rate: float,
    duration: float,
    expected: bytes,
    max_connections: int = 256,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Send ``rate * duration`` requests at their scheduled times; bounded in count, connections and time."""
    raw = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        "User-Agent: charter-bench\r\nAccept: */*\r\n\r\n"
    ).encode()
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    opened = 0
    latencies: list[float] = []
    failures: list[str] = []
    wrong: list[str] = []
    # uvloop's loop.time() ticks in whole milliseconds: schedule and measure with perf_counter.
    clock = time.perf_counter

    async def one(scheduled: float) -> None:
        nonlocal opened
        if idle.empty() and opened < max_connections:
            opened += 1
            conn = Connection(*await asyncio.open_connection("127.0.0.1", port))
        else:
            conn = await idle.get()  # every connection is busy: this request queues (its latency counts it)
        try:
            status, body = await asyncio.wait_for(conn.request(raw), timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, RuntimeError) as exc:
            failures.append(type(exc).__name__)
            conn.writer.close()
            try:
                idle.put_nowait(Connection(*await asyncio.open_connection("127.0.0.1", port)))
            except OSError:
                failures.append("reconnect failed")
            return
        latencies.append(clock() - scheduled)
        if status != 200:
            failures.append(f"HTTP {status}")
        elif body != expected:
            wrong.append(body[:200].decode(errors="replace"))
        idle.put_nowait(conn)

    total = int(rate * duration)
    tasks = []
    begin = clock() + 0.05
    for i in range(total):
        scheduled = begin + i / rate
        delay = scheduled - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    # Bounded in time too: whatever has not been answered well after the last send is given up.
    _done, pending = await asyncio.wait(tasks, timeout=timeout + 5)
    for task in pending:
        task.cancel()
        failures.append("given up")
    elapsed = clock() - begin
    while not idle.empty():
        idle.get_nowait().writer.close()
    return {
        "sent": total,
        "answered": len(latencies),
        "seconds": elapsed,
        "latencies": latencies,
        "failures": failures,
        "wrong_answers": wrong,
        "connections": opened,
    }


def fixed_rate(
    pid: int, port: int, path: str, token: str, *, rate: float, duration: float, expected: bytes
) -> dict[str, Any]:
    import uvloop

    cpu_before, wall_before, own_before = cpu_seconds(pid), time.monotonic(), time.process_time()
    result = uvloop.run(open_loop(port, path, token, rate=rate, duration=duration, expected=expected))
    wall = time.monotonic() - wall_before
    result["server_cpu"] = (cpu_seconds(pid) - cpu_before) / wall
    result["generator_cpu"] = (time.process_time() - own_before) / wall
    lat = result.pop("latencies")
    result.update(
        p50_ms=percentile(lat, 50) * 1e3,
        p90_ms=percentile(lat, 90) * 1e3,
        p99_ms=percentile(lat, 99) * 1e3,
        max_ms=max(lat) * 1e3 if lat else float("nan"),
        achieved_rps=len(lat) / result["seconds"],
    )
    return result


# -- wrk (maximum throughput) -----------------------------------------------------------------------


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def flat_out(pid: int, port: int, path: str, token: str, *, seconds: int, connections: int) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    if wrk is None:
        return {"error": "wrk is not installed"}
    cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
    out = subprocess.run(  # noqa: S603
        [  # noqa: S607
            "taskset",
            "-c",
            "1",
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-H",
            f"Authorization: Bearer {token}",
            f"http://127.0.0.1:{port}{path}",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    server_cpu = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - wall_before)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    return {
        "rps": rps,
        "p50_ms": _ms(lat["50"]),
        "p99_ms": _ms(lat["99"]),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else None,
        "server_cpu": server_cpu,
        "raw": out,
    }


# -- main -------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", default="/api/v1/auth/whoami", help="authenticated GET to measure")
    parser.add_argument("--rate", type=float, default=200.0, help="offered load, requests/s")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds at the offered load")
    parser.add_argument("--max-seconds", type=int, default=15, help="seconds of wrk for the maximum throughput")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument(
        "--sweep",
        default="50,100,150",
        help="also offer these rates to Charter (10 s each), comma-separated; '' for none",
    )
    args = parser.parse_args()
    print(f"$ {command_line()}\nmachine: {machine()}")
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {1})  # the generator; the servers get CPU 0

    home = RESULTS / "api-home"
    RESULTS.mkdir(parents=True, exist_ok=True)
    print("preparing a Charter home with the CLI (init, 3 teams, a user with 4 bindings, a token) ...")
    env, token = prepare_home(home)
    servers: dict[str, subprocess.Popen[bytes]] = {}
    ports = {}
    results: dict[str, dict[str, Any]] = {}
    sweep: list[dict[str, Any]] = []
    try:
        ports["charter"] = free_port()
        servers["charter"] = start(
            [CHARTER, "serve", "--port", str(ports["charter"])], env, ports["charter"], home / "serve.log"
        )
        status, expected = get(ports["charter"], args.path, token)
        assert status == 200, (status, expected)
        (home / "expected.json").write_bytes(expected)
        peer_env = {**env, "BENCH_PEER_TOKEN": token, "BENCH_PEER_BODY": str(home / "expected.json")}
        for name, app in (("fastapi", "_api_peer:fastapi_app"), ("asgi", "_api_peer:app")):
            ports[name] = free_port()
            servers[name] = start(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    app,
                    "--app-dir",
                    str(ROOT / "benchmarks"),
                    "--port",
                    str(ports[name]),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                    "--proxy-headers",
                ],
                peer_env,
                ports[name],
                home / f"{name}.log",
            )
            assert get(ports[name], args.path, token) == (200, expected), f"the {name} floor answers differently"
        print(f"GET {args.path} answers {len(expected)} bytes; both floors answer the same bytes")
        for name in ("charter", "fastapi", "asgi"):
            pid, port = servers[name].pid, ports[name]
            # taskset execs the server in the same process, so this pid is the server's
            fixed_rate(pid, port, args.path, token, rate=args.rate, duration=2, expected=expected)  # warm-up
            print(f"{name}: {args.rate:.0f} requests/s for {args.duration:.0f} s ...")
            fixed = fixed_rate(pid, port, args.path, token, rate=args.rate, duration=args.duration, expected=expected)
            assert not fixed["wrong_answers"], fixed["wrong_answers"][:3]
            print(f"  the generator used {100 * fixed['generator_cpu']:.0f}% of a CPU")
            if fixed["failures"]:
                print(f"  {len(fixed['failures'])} requests failed: {sorted(set(fixed['failures']))}")
            print(f"{name}: wrk, {args.connections} connections, {args.max_seconds} s ...")
            flat = flat_out(pid, port, args.path, token, seconds=args.max_seconds, connections=args.connections)
            assert not flat.get("non_2xx"), flat
            results[name] = {"fixed": fixed, "max": flat, "peak_rss_mb": peak_rss_mb(pid)}
        pid, port = servers["charter"].pid, ports["charter"]
        for rate in [float(r) for r in args.sweep.split(",") if r.strip()]:
            print(f"charter: {rate:.0f} requests/s for 10 s ...")
            swept = fixed_rate(pid, port, args.path, token, rate=rate, duration=10, expected=expected)
            assert not swept["wrong_answers"], swept["wrong_answers"][:3]
            sweep.append(swept | {"rate": rate})
    finally:
        for process in servers.values():
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()

    rows = []
    labels = {
        "charter": "charter serve",
        "fastapi": "floor: FastAPI, same route shape, no DB",
        "asgi": "floor: bare ASGI app",
    }
    for name, label in labels.items():
        r = results[name]
        f, m = r["fixed"], r["max"]
        target = "-"
        if name == "charter":
            target = f"p99 <= {TARGET_P99_MS:.0f} ms at {args.rate:.0f}/s: {verdict(f['p99_ms'] <= TARGET_P99_MS)}"
        rows.append(
            [
                label,
                f"{f['achieved_rps']:.0f}",
                f"{f['p50_ms']:.2f}",
                f"{f['p99_ms']:.2f}",
                f"{f['max_ms']:.1f}",
                f"{100 * f['server_cpu']:.0f}%",
                f"{m.get('rps', float('nan')):,.0f}",
                f"{m.get('p99_ms', float('nan')):.1f}",
                f"{r['peak_rss_mb']:.0f}",
                target,
            ]
        )
    top = {name: r["max"].get("rps", float("nan")) for name, r in results.items()}
    print(
        table(
            f"GET {args.path} with a bearer token: {args.rate:.0f} req/s offered for {args.duration:.0f} s "
            f"(open loop), then wrk flat out ({args.connections} connections)",
            [
                "server",
                "answered/s",
                "p50 ms",
                "p99 ms",
                "max ms",
                "server CPU",
                "max req/s (wrk)",
                "wrk p99 ms",
                "peak RSS MB",
                "target",
            ],
            rows,
        )
    )
    print(
        f"maximum throughput, Charter / FastAPI floor: {top['charter'] / top['fastapi']:.2f}; "
        f"Charter / bare ASGI floor: {top['charter'] / top['asgi']:.3f}"
    )
    if sweep:
        print(
            table(
                "charter serve at lower offered loads (10 s each, open loop)",
                ["offered/s", "answered/s", "p50 ms", "p99 ms", "max ms", "server CPU", "failed", "p99 <= 20 ms"],
                [
                    [
                        f"{r['rate']:.0f}",
                        f"{r['achieved_rps']:.0f}",
                        f"{r['p50_ms']:.2f}",
                        f"{r['p99_ms']:.2f}",
                        f"{r['max_ms']:.1f}",
                        f"{100 * r['server_cpu']:.0f}%",
                        len(r["failures"]),
                        "yes" if r["p99_ms"] <= TARGET_P99_MS else "no",
                    ]
                    for r in sweep
                ],
            )
        )
    out = RESULTS / "bench_api.json"
    for r in results.values():
        r["max"].pop("raw", None)
    out.write_text(
        json.dumps({"command": command_line(), "machine": machine(), "results": results, "sweep": sweep}, indent=2)
    )
    print(f"\nraw figures: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
