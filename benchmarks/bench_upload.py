"""The whole upload pipeline on one machine: scan, hash, encrypt into the store, sign; then verify.

Run: ``python benchmarks/bench_upload.py [--size-mib 1024]``. The baseline is what storing the
file costs with no protection at all: ``shutil.copyfile`` into the same folder plus ``fsync``
(the store fsyncs too). Both sides must leave the same bytes behind: the copy's SHA-256 and the
verified, decrypted artifact's SHA-256 are compared. The file is a safetensors file of random
float32 data (random, so that nothing compresses or dedupes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import struct
import tempfile
import time
from pathlib import Path

from _common import RESULTS, command_line, machine, peak_rss_mb, table

from charter.config import Settings
from charter.db.engine import Database
from charter.db.migrate import upgrade
from charter.identity import service as identity
from charter.identity.schemas import TeamCreate
from charter.inventory import artifacts, service
from charter.inventory.schemas import ModelCreate, VersionCreate
from charter.security.keyfiles import ensure_key_files
from charter.security.principal import Principal

OPERATOR = Principal.system("bench")


def make_safetensors(path: Path, size: int) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [size // 4], "data_offsets": [0, size // 4 * 4]}}).encode()
    block = os.urandom(1 << 20)
    with path.open("wb") as out:
        out.write(struct.pack("<Q", len(header)) + header)
        for _ in range(size >> 20):
            out.write(block)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    size = args.size_mib << 20
    RESULTS.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(dir=RESULTS, prefix="upload-"))
    try:
        settings = Settings(home=home, database_url=f"sqlite:///{home}/charter.db", env="development")
        ensure_key_files(settings)
        db = Database(settings.effective_database_url)
        upgrade(db)
        source = home / "weights.safetensors"
        make_safetensors(source, size)
        with db.session() as session:
            identity.create_team(session, OPERATOR, TeamCreate(name="bench"))
            service.register_model(session, OPERATOR, ModelCreate(name="m", team="bench"))
            service.create_version(session, OPERATOR, "m", VersionCreate(version="1"))
        protection = artifacts.Protection(settings)

        os.sync()
        start = time.perf_counter()
        copy = home / "copy.safetensors"
        shutil.copyfile(source, copy)
        with copy.open("rb") as f:
            os.fsync(f.fileno())
        copy_s = time.perf_counter() - start

        os.sync()
        # As the route uploads: checked in a reading transaction, scanned and hashed with none open,
        # encrypted, stored and signed in a writing one (on SQLite, under the database's write lock).
        start = time.perf_counter()
        with db.session(write=False) as session:
            target = artifacts.upload_target(
                session, OPERATOR, protection, "m", "1", path="weights.safetensors", plaintext=source
            )
        scanned = artifacts.scan_upload(protection, target, source)
        scan_s = time.perf_counter() - start
        with db.session() as session:
            artifact = artifacts.upload(
                session, OPERATOR, protection, "m", "1", path="weights.safetensors", plaintext=source, scanned=scanned
            )
        upload_s = time.perf_counter() - start
        locked_s = upload_s - scan_s
        start = time.perf_counter()
        with db.session(write=False) as session:
            row = service.get_version_row(session, service.get_model_row(session, "m"), "1")
            report = artifacts.verify_stored(protection, row)
        verify_s = time.perf_counter() - start
        assert report.ok, report.problems
        assert artifact.scan_verdict == "clean", artifact.scan_findings
        assert artifact.digest == sha256(copy) == sha256(source), "the two sides stored different bytes"
        db.dispose()
    finally:
        shutil.rmtree(home)
    gb = size / 1e9
    print(f"# {command_line()}\n# {machine()}\n")
    print(
        table(
            f"Upload pipeline, {args.size_mib} MiB safetensors (both sides stored the same bytes)",
            ["operation", "seconds", "GB/s", "vs copy + fsync"],
            [
                ["copyfile + fsync (no protection)", f"{copy_s:.2f}", f"{gb / copy_s:.2f}", "1.00x"],
                [
                    "upload: scan, hash, encrypt, store, sign",
                    f"{upload_s:.2f}",
                    f"{gb / upload_s:.2f}",
                    f"{upload_s / copy_s:.2f}x",
                ],
                ["- of which check, scan, hash (no lock)", f"{scan_s:.2f}", f"{gb / scan_s:.2f}", "-"],
                ["- of which encrypt, store, sign (write lock)", f"{locked_s:.2f}", f"{gb / locked_s:.2f}", "-"],
                [
                    "verify: decrypt, hash, check signature",
                    f"{verify_s:.2f}",
                    f"{gb / verify_s:.2f}",
                    f"{verify_s / copy_s:.2f}x",
                ],
            ],
        )
    )
    print(f"peak RSS of the process: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
