"""Unsafe-model scanning without loading anything: pickles (raw, joblib, PyTorch zip and legacy,
NumPy object arrays) walked opcode by opcode against an allowlist, zip archives member by member,
Keras configs, ONNX external data and safetensors headers.

    report = scan_path("models/")          # a file or a folder
    report.verdict                         # "clean" | "unsafe" | "not_verified"
    report.exit_code()                     # 0 | 1 | 2

Verdicts: see :mod:`charter.compute.scan.report` (unsafe wins over not verified; unparseable,
encrypted, truncated, over-limit and unknown content is not verified, never clean).
"""

from charter.compute.scan.dispatch import scan_file, scan_path
from charter.compute.scan.report import FileResult, Finding, ScanLimits, ScanReport, Severity, Verdict

__all__ = ["FileResult", "Finding", "ScanLimits", "ScanReport", "Severity", "Verdict", "scan_file", "scan_path"]
