"""Unsafe-model scanning: throughput and peak memory of ``charter.compute.scan`` against picklescan and
modelscan, on the same files in the same run.

Run from the repository root:

    python benchmarks/bench_scan.py                    # 1 GiB files, 3 runs per tool
    python benchmarks/bench_scan.py --size-mib 256 --repeat 1

Files (written to ``benchmarks/results/``, deleted afterwards unless ``--keep``):

* ``ndarray.pkl``: a float64 NumPy array of ``--size-mib``, ``pickle.dump`` at the default protocol
  (4): one ``_reconstruct`` call and one huge ``BINBYTES8`` argument;
* ``bytes-payload.pkl``: a dict of 16 distinct bytes objects of ``--size-mib`` in total, followed by
  an ``os.system`` ``__reduce__`` payload (never loaded): a scanner must get past the data to see it;
* ``tensor.safetensors``: one F32 tensor of ``--size-mib`` (``safetensors.numpy.save_file``);
* ``small-objects.pkl``: ``--ops-mib`` of small tuples, strings and dicts: millions of opcodes and
  memo entries, the per-opcode cost without large payloads.

Each tool scans each file in its own child process (so that its peak RSS, ``VmHWM``, is its own),
``--repeat`` times in alternating order; the median time is reported. The script asserts that the
three tools agree on "flagged or not" for every file: picklescan reports "dangerous" globals,
modelscan issues, Charter the ``unsafe`` verdict. (modelscan skips safetensors files: no issue,
nothing scanned; picklescan reads them as a broken pickle with no imports: no issue.)
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, command_line, current_rss_mb, machine, median, peak_rss_mb, table, verdict

TOOLS = ("charter", "picklescan", "modelscan")
TARGET_PICKLE_MBS = 200.0
TARGET_SAFETENSORS_S = 1.0


class Payload:
    """Pickles as ``os.system("echo never run")``; the benchmark only writes it."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.system, ("echo never run",)


# -- the files --------------------------------------------------------------------------------------


def make_files(size: int, ops_size: int) -> dict[str, Path]:
    import numpy as np
    from safetensors.numpy import save_file

    RESULTS.mkdir(parents=True, exist_ok=True)
    files = {
        "ndarray.pkl": RESULTS / "scan-ndarray.pkl",
        "bytes-payload.pkl": RESULTS / "scan-bytes-payload.pkl",
        "tensor.safetensors": RESULTS / "scan-tensor.safetensors",
        "small-objects.pkl": RESULTS / "scan-small-objects.pkl",
    }
    started = time.perf_counter()
    array = np.arange(size // 8, dtype=np.float64)
    with files["ndarray.pkl"].open("wb") as f:
        pickle.dump(array, f)
    del array
    chunk = size // 16
    blobs: dict[str, Any] = {f"layer{i:02d}": bytes([i]) * chunk for i in range(16)}
    blobs["zz_payload"] = Payload()
    with files["bytes-payload.pkl"].open("wb") as f:
        pickle.dump(blobs, f)
    del blobs
    save_file({"w": np.zeros(size // 4, dtype=np.float32)}, str(files["tensor.safetensors"]))
    rows, n = [], 0
    while n < ops_size:
        i = len(rows)
        row = (i, float(i) / 3, f"token-{i}", {"id": i, "ok": i % 2 == 0})
        rows.append(row)
        n += 48  # roughly what each row costs in the pickle
    with files["small-objects.pkl"].open("wb") as f:
        pickle.dump(rows, f)
    print(f"  files written in {time.perf_counter() - started:.0f} s")
    return files


# -- one scan, in a child process ---------------------------------------------------------------------


def child(tool: str, path: str) -> None:
    if tool == "charter":
        from charter.compute.scan import scan_path

        before = current_rss_mb()
        started = time.perf_counter()
        report = scan_path(path)
        seconds = time.perf_counter() - started
        result, flagged = report.verdict, report.verdict == "unsafe"
        detail = sorted({f"{f.rule}:{f.module}.{f.name}" if f.module else f.rule for f in report.findings})
    elif tool == "picklescan":
        from picklescan.scanner import scan_file_path

        before = current_rss_mb()
        started = time.perf_counter()
        found = scan_file_path(path)
        seconds = time.perf_counter() - started
        flagged = found.issues_count > 0
        result = "dangerous" if flagged else "error" if found.scan_err else "clean"
        detail = sorted({f"{g.module}.{g.name}:{g.safety.value}" for g in found.globals})
    else:
        import logging

        from modelscan.modelscan import ModelScan

        logging.disable(logging.CRITICAL)
        before = current_rss_mb()
        scanner = ModelScan()
        started = time.perf_counter()
        results = scanner.scan(path)
        seconds = time.perf_counter() - started
        issues = results["summary"]["total_issues"]
        flagged = issues > 0
        scanned = results["summary"]["scanned"]["total_scanned"]
        result = f"{issues} issues" if scanned else "skipped"
        if scanner.errors:
            result += ", error"
        detail = sorted({str(i.details.module) + "." + str(i.details.operator) for i in scanner.issues.all_issues})
    print(
        json.dumps(
            {
                "tool": tool,
                "verdict": result,
                "flagged": flagged,
                "seconds": seconds,
                "rss_before_mb": before,
                "peak_rss_mb": peak_rss_mb(),
                "detail": detail,
            }
        )
    )


def run(tool: str, path: Path) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603  (this script, with fixed arguments)
        [sys.executable, __file__, "--child", tool, str(path)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


# -- main ------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the large files (default 1 GiB)")
    parser.add_argument("--ops-mib", type=int, default=32, help="size of the small-objects pickle")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool and file (the median is reported)")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS))
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--child", nargs=2, metavar=("TOOL", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    tools = [t for t in args.tools.split(",") if t]
    print(f"$ {command_line()}\nmachine: {machine()}")
    files = make_files(args.size_mib << 20, args.ops_mib << 20)
    report: dict[str, Any] = {"command": command_line(), "machine": machine(), "files": {}}
    rows = []
    try:
        for label, path in files.items():
            size = path.stat().st_size
            runs: dict[str, list[dict[str, Any]]] = {t: [] for t in tools}
            for r in range(args.repeat):
                for tool in tools if r % 2 == 0 else reversed(tools):
                    runs[tool].append(run(tool, path))
            flagged = {tool: {x["flagged"] for x in rs} for tool, rs in runs.items()}
            assert all(len(v) == 1 for v in flagged.values()), f"{label}: a tool changed its mind: {flagged}"
            answers = {tool: v.pop() for tool, v in flagged.items()}
            assert len(set(answers.values())) == 1, f"{label}: the tools disagree: {answers} {runs}"
            expected = label == "bytes-payload.pkl"
            assert answers[tools[0]] is expected, f"{label}: flagged {answers}, expected {expected}"
            summary = {}
            for tool, rs in runs.items():
                seconds = median([x["seconds"] for x in rs])
                summary[tool] = {
                    "verdict": rs[0]["verdict"],
                    "seconds": seconds,
                    "seconds_runs": [x["seconds"] for x in rs],
                    "mb_per_s": size / 1e6 / seconds,
                    "peak_rss_mb": max(x["peak_rss_mb"] for x in rs),
                    "rss_before_mb": max(x["rss_before_mb"] for x in rs),
                    "detail": rs[0]["detail"],
                }
            report["files"][label] = {"bytes": size, "tools": summary}
            base = summary.get("charter", {}).get("seconds")
            for tool, s in summary.items():
                target = "-"
                if tool == "charter" and label in ("ndarray.pkl", "bytes-payload.pkl"):
                    target = f">= {TARGET_PICKLE_MBS:.0f} MB/s: {verdict(s['mb_per_s'] >= TARGET_PICKLE_MBS)}"
                elif tool == "charter" and label == "tensor.safetensors":
                    target = f"< {TARGET_SAFETENSORS_S:.0f} s: {verdict(s['seconds'] < TARGET_SAFETENSORS_S)}"
                rows.append(
                    [
                        label,
                        f"{size / (1 << 20):,.0f} MiB",
                        tool,
                        s["verdict"],
                        s["seconds"] * 1000,
                        s["mb_per_s"],
                        s["peak_rss_mb"],
                        s["peak_rss_mb"] - s["rss_before_mb"],
                        s["seconds"] / base if base else float("nan"),
                        target,
                    ]
                )
            timings = ", ".join(f"{t} {s['seconds']:.3f} s" for t, s in summary.items())
            print(f"  {label}: {timings}")
    finally:
        if not args.keep:
            for path in files.values():
                path.unlink(missing_ok=True)
    header = ["file", "size", "tool", "verdict", "ms", "MB/s", "peak RSS MB", "RSS added MB", "time / Charter"]
    print(table(f"Scan of each file, median of {args.repeat} runs, each in its own process", [*header, "target"], rows))
    out = RESULTS / "bench_scan.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nraw figures: {out.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
