"""A 2 GB artifact streamed file to file: same SHA-256 back, and memory that does not grow with the size."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from charter.compute.crypto.envelope import encrypted_size

SIZE = 2 * 1024**3
MAX_GROWTH = 64 * 1024**2

# Run in a child process, so that its peak RSS (VmHWM) is its own and the baseline is taken
# just before the artifact goes through.
CHILD = r"""
import hashlib, json, os, sys, time
from pathlib import Path
from charter.compute.crypto.envelope import decrypt_file, encrypt_bytes, encrypt_file, new_data_key

def peak_rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")

folder, size = Path(sys.argv[1]), int(sys.argv[2])
block = bytearray(hashlib.shake_256(b"pattern").digest(1 << 20))
source = hashlib.sha256()
with open(folder / "artifact.bin", "wb", buffering=0) as f:
    for i in range(size // len(block)):
        block[:8] = i.to_bytes(8, "big")  # every block differs: a reordered chunk would show
        source.update(block)
        f.write(block)
key = new_data_key()
encrypt_bytes(b"warm-up" * 1000, key)
base = peak_rss()
started = time.perf_counter()
encrypted = encrypt_file(folder / "artifact.bin", folder / "artifact.enc", key, aad=source.digest())
encrypt_seconds = time.perf_counter() - started
os.remove(folder / "artifact.bin")
started = time.perf_counter()
decrypted = decrypt_file(folder / "artifact.enc", folder / "artifact.out", key, aad=source.digest())
decrypt_seconds = time.perf_counter() - started
growth = peak_rss() - base
back = hashlib.sha256()
buffer = memoryview(bytearray(1 << 20))
with open(folder / "artifact.out", "rb", buffering=0) as f:
    while count := f.readinto(buffer):
        back.update(buffer[:count])
print(json.dumps({
    "source_sha256": source.hexdigest(),
    "encrypt_sha256": encrypted.sha256,
    "decrypted_sha256": back.hexdigest(),
    "plaintext_size": encrypted.plaintext_size,
    "ciphertext_size": encrypted.ciphertext_size,
    "encrypted_file_size": (folder / "artifact.enc").stat().st_size,
    "decrypted_size": decrypted.plaintext_size,
    "growth": growth,
    "encrypt_seconds": encrypt_seconds,
    "decrypt_seconds": decrypt_seconds,
}))
"""


@pytest.mark.slow
def test_a_2_gb_artifact_streams_through_in_constant_memory(tmp_path: Path) -> None:
    folder = tmp_path / "large"
    folder.mkdir()
    if shutil.disk_usage(folder).free < 3 * SIZE:
        pytest.fail(f"this test needs {3 * SIZE // 1024**3} GB free in {folder}")
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(folder), str(SIZE)],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    finally:
        shutil.rmtree(folder)  # 4 GB: never left behind for pytest's retained temporary folders
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["encrypt_sha256"] == report["source_sha256"]
    assert report["decrypted_sha256"] == report["source_sha256"]
    assert report["plaintext_size"] == report["decrypted_size"] == SIZE
    assert report["ciphertext_size"] == report["encrypted_file_size"] == encrypted_size(SIZE)
    assert report["growth"] < MAX_GROWTH, f"peak RSS grew by {report['growth'] / 1024**2:.1f} MB"
