"""Encryption at rest: Charter's streaming AES-256-GCM envelope against Fernet and against a plain copy.

Run from the repository root:

    python benchmarks/bench_crypto.py                 # a 1 GiB artifact, 5 repetitions
    python benchmarks/bench_crypto.py --size-mib 256 --repeat 5

What is measured, side by side in the same run, each phase in its own child process
so that its peak memory is its own (the peak is reset before each operation by writing
5 to ``/proc/self/clear_refs``, and read from ``VmHWM`` after it):

* in memory, an array of float32 of the given size: ``encrypt_weights`` /
  ``decrypt_weights`` (and ``encrypt_bytes`` / ``decrypt_bytes`` of its memory) against
  the naive approach they replace, ``Fernet(key).encrypt(arr.tobytes())`` and
  ``np.frombuffer(Fernet(key).decrypt(token), dtype).reshape(shape)``. Both sides must
  give back the same array (its SHA-256 is compared) or the script stops;
* file to file, on the same disk (``benchmarks/results/crypto/``): ``encrypt_file`` and
  ``decrypt_file`` against ``shutil.copyfile`` of the same file, then ``save_encrypted_array``
  / ``load_encrypted_array`` against ``np.save`` / ``np.load``. The decrypted file must have
  the source's SHA-256. The files are in the page cache (just written), for every side alike;
  ``fsync=False`` unless said, as ``copyfile`` does not flush either; one line each measures
  the default (``fsync=True``) against ``copyfile`` followed by ``fsync``.

GB/s are decimal (10^9 bytes of plaintext per second), over wall-clock time; "CPU s" is the
process's user + system time for the operation (encryption hashes the plaintext on a second
thread, so it can exceed the wall-clock time). Figures are the median of the repetitions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import RESULTS, command_line, current_rss_mb, machine, median, table, verdict

WORKDIR = RESULTS / "crypto"
TARGET_MEMORY_GBPS = 5.0
TARGET_FILE_RATIO = 1.5
TARGET_EXTRA_MB = 64.0
TARGET_FERNET_SPEEDUP = 100.0


# -- child side -------------------------------------------------------------------------------------


def reset_peak() -> float:
    """Reset the peak RSS to the current RSS (Linux >= 4.0) and return the current RSS in MB."""
    Path("/proc/self/clear_refs").write_text("5")
    return current_rss_mb()


def measure(action: Callable[[], Any], *, sync: bool = False) -> tuple[Any, dict[str, float]]:
    if sync:
        os.sync()  # every file operation starts with no dirty pages waiting to be written
    before = reset_peak()
    cpu, wall = time.process_time(), time.perf_counter()
    result = action()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return result, {"seconds": wall, "cpu": cpu, "peak_mb": current_rss_mb("VmHWM") - before}


def make_array(size: int) -> Any:
    import numpy as np

    return np.random.default_rng(0).random(size // 4, dtype=np.float32)


def digest_of(array: Any) -> str:
    import numpy as np

    return hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    buffer = memoryview(bytearray(1 << 20))
    with open(path, "rb", buffering=0) as f:
        while count := f.readinto(buffer):
            digest.update(buffer[:count])
    return digest.hexdigest()


def child(phase: str, size: int, repeat: int, warmup: int) -> None:
    """Runs in a child process; prints one JSON object: {operation: [measurement, ...]} plus digests.

    The first ``warmup`` rounds are not recorded: on this VM the first touch of memory the guest
    has not used before is faulted in by the host, ten times slower than later rounds.
    """
    import numpy as np
    from cryptography.fernet import Fernet

    from charter.compute.crypto.envelope import decrypt_bytes, decrypt_file, encrypt_bytes, encrypt_file, new_data_key
    from charter.compute.crypto.weights import (
        decrypt_weights,
        encrypt_weights,
        load_encrypted_array,
        save_encrypted_array,
    )

    array = make_array(size)
    source = digest_of(array)
    key = new_data_key()
    out: dict[str, Any] = {"source": source, "runs": {}}

    rounds = range(-warmup, repeat)  # negative: warm-up, not recorded

    def record(name: str, values: dict[str, float], current: int) -> None:
        if current >= 0:
            out["runs"].setdefault(name, []).append(values)

    if phase == "charter-memory":
        for current in rounds:
            blob, m = measure(lambda: encrypt_weights(array, key))
            record("encrypt_weights", m, current)
            back, m = measure(lambda b=blob: decrypt_weights(b, key))
            record("decrypt_weights", m, current)
            out["weights"] = digest_of(back)
            del back, blob
            blob, m = measure(lambda: encrypt_bytes(array.data, key))
            record("encrypt_bytes", m, current)
            plain, m = measure(lambda b=blob: decrypt_bytes(b, key))
            record("decrypt_bytes", m, current)
            out["bytes"] = hashlib.sha256(plain).hexdigest()
            del plain, blob
    elif phase == "fernet-memory":
        fernet = Fernet(Fernet.generate_key())
        for current in rounds:
            token, m = measure(lambda: fernet.encrypt(array.tobytes()))
            record("fernet encrypt", m, current)
            back, m = measure(lambda t=token: np.frombuffer(fernet.decrypt(t), dtype=array.dtype).reshape(array.shape))
            record("fernet decrypt", m, current)
            out["weights"] = digest_of(back)
            del back, token
    elif phase == "files":
        WORKDIR.mkdir(parents=True, exist_ok=True)
        src, copy, enc, dec = (WORKDIR / name for name in ("artifact.bin", "copy.bin", "artifact.enc", "back.bin"))
        array.tofile(src)
        del array
        out["file_source"] = file_digest(src)

        def copy_and_fsync() -> None:
            shutil.copyfile(src, copy)
            with open(copy, "rb") as f:
                os.fsync(f.fileno())

        try:
            for current in rounds:
                _, m = measure(lambda: shutil.copyfile(src, copy), sync=True)
                record("copyfile", m, current)
                copy.unlink()
                _, m = measure(lambda: encrypt_file(src, enc, key, fsync=False), sync=True)
                record("encrypt_file", m, current)
                _, m = measure(lambda: decrypt_file(enc, dec, key, fsync=False), sync=True)
                record("decrypt_file", m, current)
                out["file_back"] = file_digest(dec)
                dec.unlink()
                enc.unlink()  # every side writes a new file: replacing one would time its deletion too
            _, m = measure(copy_and_fsync, sync=True)
            record("copyfile + fsync", m, 0)
            copy.unlink()
            _, m = measure(lambda: encrypt_file(src, enc, key), sync=True)
            record("encrypt_file, fsync", m, 0)
            _, m = measure(lambda: decrypt_file(enc, dec, key), sync=True)
            record("decrypt_file, fsync", m, 0)
        finally:
            for path in (src, copy, enc, dec):
                path.unlink(missing_ok=True)
    elif phase == "array-files":
        WORKDIR.mkdir(parents=True, exist_ok=True)
        npy, enc = WORKDIR / "array.npy", WORKDIR / "array.enc"
        try:
            for current in rounds:
                _, m = measure(lambda: np.save(npy, array), sync=True)
                record("np.save", m, current)
                back, m = measure(lambda: np.load(npy), sync=True)
                record("np.load", m, current)
                del back
                npy.unlink()
                _, m = measure(lambda: save_encrypted_array(array, enc, key, fsync=False), sync=True)
                record("save_encrypted_array", m, current)
                back, m = measure(lambda: load_encrypted_array(enc, key), sync=True)
                record("load_encrypted_array", m, current)
                out["weights"] = digest_of(back)
                del back
                enc.unlink()
        finally:
            npy.unlink(missing_ok=True)
            enc.unlink(missing_ok=True)
    else:
        raise SystemExit(f"unknown phase {phase}")
    print(json.dumps(out))


# -- parent side ------------------------------------------------------------------------------------


def run_child(phase: str, size: int, repeat: int, warmup: int) -> dict[str, Any]:
    print(f"  {phase} ...", end="", flush=True)
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603  (this script, with fixed arguments)
        [
            *(sys.executable, __file__, "--child", phase, "--size-mib", str(size >> 20)),
            *("--repeat", str(repeat), "--warmup", str(warmup)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{phase} failed:\n{done.stderr}")
    print(f" {time.perf_counter() - started:.0f} s")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def summary(runs: list[dict[str, float]]) -> dict[str, float]:
    """Median of each figure, and the best (shortest) time: this shared VM's page cache and memory
    make single runs vary by a factor of two or more."""
    out = {key: median([run[key] for run in runs]) for key in ("seconds", "cpu", "peak_mb")}
    out["best_seconds"] = min(run["seconds"] for run in runs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="artifact size in MiB (default 1024)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of each operation")
    parser.add_argument("--fernet-repeat", type=int, default=1, help="repetitions of the (slow) Fernet side")
    parser.add_argument("--no-fernet", action="store_true", help="skip Fernet (it needs ~9x the size in memory)")
    parser.add_argument("--warmup", type=int, default=1, help="unrecorded rounds before the measured ones")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = args.size_mib << 20
    if args.child:
        child(args.child, size, args.repeat, args.warmup)
        return

    print(f"$ {command_line()}\nmachine: {machine()}")
    print(f"artifact: {size:,} bytes ({args.size_mib} MiB) of float32")
    charter = run_child("charter-memory", size, args.repeat, args.warmup)
    fernet = None if args.no_fernet else run_child("fernet-memory", size, args.fernet_repeat, args.warmup)
    files = run_child("files", size, args.repeat, args.warmup)
    arrays = run_child("array-files", size, args.repeat, args.warmup)

    # Same answers everywhere, or the figures mean nothing.
    source = charter["source"]
    assert charter["weights"] == source, "decrypt_weights did not give the array back"
    assert charter["bytes"] == source, "decrypt_bytes did not give the bytes back"
    assert fernet is None or fernet["weights"] == source, "Fernet did not give the array back"
    assert files["file_back"] == files["file_source"], "decrypt_file did not give the file back"
    assert arrays["weights"] == source, "load_encrypted_array did not give the array back"
    print("every side gave back the same array (SHA-256 compared)")

    stats = {
        name: summary(runs)
        for result in (charter, fernet or {"runs": {}}, files, arrays)
        for name, runs in result["runs"].items()
    }
    rows: list[list[object]] = []
    figures: dict[str, Any] = {"size": size, "stats": stats}

    def rate(name: str) -> str:
        st = stats[name]
        return f"{size / st['seconds'] / 1e9:.2f} ({size / st['best_seconds'] / 1e9:.2f})"

    def row(name: str, baseline: str | None, target: str = "-", *, output_mb: float = 0.0) -> None:
        st = stats[name]
        peak = (
            f"{st['peak_mb']:.0f} (output + {st['peak_mb'] - output_mb:.0f})" if output_mb else f"{st['peak_mb']:.0f}"
        )
        if baseline is None or baseline not in stats:
            rows.append([name, rate(name), "-", "-", f"{st['cpu']:.2f}", peak, "-", target])
            return
        base = stats[baseline]
        rows.append(
            [
                name,
                rate(name),
                f"{baseline}: {rate(baseline)}",
                f"{st['seconds'] / base['seconds']:.2f} ({st['best_seconds'] / base['best_seconds']:.2f})",
                f"{st['cpu']:.2f}",
                peak,
                f"{base['peak_mb']:.0f}",
                target,
            ]
        )

    def gbps(name: str) -> float:
        return size / stats[name]["seconds"] / 1e9

    out_mb = size / 2**20
    for name, baseline in (("encrypt_weights", "fernet encrypt"), ("decrypt_weights", "fernet decrypt")):
        ok = gbps(name) >= TARGET_MEMORY_GBPS
        row(name, baseline, f">= {TARGET_MEMORY_GBPS:.0f} GB/s: {verdict(ok)}", output_mb=out_mb)
    row("encrypt_bytes", "fernet encrypt", output_mb=out_mb)
    row("decrypt_bytes", "fernet decrypt", output_mb=out_mb)
    for name in ("encrypt_file", "decrypt_file"):
        ratio = stats[name]["seconds"] / stats["copyfile"]["seconds"]
        target = (
            f"<= {TARGET_FILE_RATIO}x copy: {verdict(ratio <= TARGET_FILE_RATIO)}; "
            f"< {TARGET_EXTRA_MB:.0f} MB: {verdict(stats[name]['peak_mb'] < TARGET_EXTRA_MB)}"
        )
        row(name, "copyfile", target)
    row("encrypt_file, fsync", "copyfile + fsync")
    row("decrypt_file, fsync", "copyfile + fsync")
    row("save_encrypted_array", "np.save")
    row("load_encrypted_array", "np.load", output_mb=out_mb)
    print(
        table(
            f"Encryption at rest, {args.size_mib} MiB: median (best) of {args.repeat} runs "
            f"(Fernet: {args.fernet_repeat})",
            [
                "operation",
                "GB/s",
                "baseline GB/s",
                "time ratio",
                "CPU s",
                "peak MB",
                "baseline peak MB",
                "target",
            ],
            rows,
        )
    )
    if fernet is not None:
        speedups = {
            op: stats[f"fernet {op}"]["seconds"] / stats[f"{op}_weights"]["seconds"] for op in ("encrypt", "decrypt")
        }
        figures["fernet_speedup"] = speedups
        print(
            f"speed-up over Fernet: encrypt {speedups['encrypt']:.0f}x, decrypt {speedups['decrypt']:.0f}x "
            f"(>= {TARGET_FERNET_SPEEDUP:.0f}x: {verdict(min(speedups.values()) >= TARGET_FERNET_SPEEDUP)})"
        )
    print("load average at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "bench_crypto.json"
    out.write_text(json.dumps({"command": command_line(), "machine": machine(), "rows": rows, **figures}, indent=2))
    print(f"\nraw figures: {out.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
