"""What a scan returns: findings, per-file results, the overall verdict, and the limits it ran under.

Verdict rules (one place, so that every format follows them):

* every finding has a *rule*; each rule has one effect: ``unsafe`` (something a loader must not
  accept), ``not_verified`` (the scanner could not inspect everything), or ``info`` (context only);
* a file is ``unsafe`` if any of its findings is unsafe, else ``not_verified`` if any is, else
  ``clean``: unsafe wins over not verified, so a payload found before a parse error is still reported;
* a report takes the worst verdict of its files; an empty folder is ``not_verified`` (nothing was
  verified), never ``clean``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Verdict = Literal["clean", "unsafe", "not_verified"]
Severity = Literal["low", "medium", "high", "critical"]
Effect = Literal["unsafe", "not_verified", "info"]

# Rule -> effect. A rule missing here counts as unsafe (fail closed).
RULES: dict[str, Effect] = {
    # pickle
    "pickle-dangerous-global": "unsafe",  # a denylisted import: code execution, files, network, nested loads
    "pickle-unknown-global": "unsafe",  # an import outside the allowlist of known-safe ML globals
    "pickle-unresolved-global": "unsafe",  # STACK_GLOBAL on computed values, or an EXT code: cannot be judged
    "pickle-global-mutation": "unsafe",  # BUILD / SETITEM / APPEND applied to an imported object
    "pickle-indirect-call": "unsafe",  # calling the result of a call (a gadget chain)
    # archives
    "archive-path-traversal": "unsafe",
    "archive-name-mismatch": "unsafe",  # central directory and local header disagree on a member's name
    # other formats
    "keras-lambda": "unsafe",
    "keras-unknown-module": "unsafe",
    "onnx-external-data-escape": "unsafe",
    "safetensors-malformed": "unsafe",
    # could not inspect
    "unknown-format": "not_verified",
    "parse-error": "not_verified",
    "truncated": "not_verified",
    "read-error": "not_verified",
    "encrypted-member": "not_verified",
    "unsupported-compression": "not_verified",
    "limit-exceeded": "not_verified",
    "safetensors-unreadable-header": "not_verified",
    "safetensors-unknown-dtype": "not_verified",
    "not-followed": "not_verified",
    "empty-folder": "not_verified",
    # context
    "onnx-custom-op": "info",
}

_RANK: dict[Verdict, int] = {"clean": 0, "not_verified": 1, "unsafe": 2}
_EXIT: dict[Verdict, int] = {"clean": 0, "unsafe": 1, "not_verified": 2}


def effect_of(rule: str) -> Effect:
    return RULES.get(rule, "unsafe")


@dataclass(frozen=True)
class Finding:
    """One observation. ``member`` names the place inside an archive (``a.zip!b.npy`` when nested);
    ``module``/``name`` the imported global, when the finding is about one."""

    file: str
    member: str | None
    rule: str
    severity: Severity
    message: str
    module: str | None = None
    name: str | None = None

    @property
    def effect(self) -> Effect:
        return effect_of(self.rule)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "member": self.member,
            "rule": self.rule,
            "severity": self.severity,
            "effect": self.effect,
            "message": self.message,
            "module": self.module,
            "name": self.name,
        }


def verdict_of(findings: tuple[Finding, ...] | list[Finding]) -> Verdict:
    effects = {f.effect for f in findings}
    if "unsafe" in effects:
        return "unsafe"
    if "not_verified" in effects:
        return "not_verified"
    return "clean"


def worst(verdicts: list[Verdict]) -> Verdict:
    return max(verdicts, key=_RANK.__getitem__, default="not_verified")


@dataclass(frozen=True)
class FileResult:
    path: str
    format: str
    verdict: Verdict
    size: int
    findings: tuple[Finding, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "verdict": self.verdict,
            "size": self.size,
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass(frozen=True)
class ScanReport:
    verdict: Verdict
    findings: tuple[Finding, ...]
    files: tuple[FileResult, ...]

    def exit_code(self) -> int:
        """ClamAV's convention, as picklescan and modelscan use it: 0 clean, 1 unsafe, 2 not verified."""
        return _EXIT[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        counts = {v: sum(1 for f in self.files if f.verdict == v) for v in ("clean", "unsafe", "not_verified")}
        return {
            "verdict": self.verdict,
            "exit_code": self.exit_code(),
            "summary": {"files": len(self.files), **counts, "findings": len(self.findings)},
            "files": [f.to_dict() for f in self.files],
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass(frozen=True, kw_only=True)
class ScanLimits:
    """Resource limits. Exceeding one is a ``limit-exceeded`` finding: the file is not verified
    (unless something unsafe was found anyway).

    * ``max_archive_members``: members read from one zip archive;
    * ``max_compression_ratio``: uncompressed / compressed size of one archive member or compressed
      stream, judged once it has produced ``ratio_check_min_bytes`` (small members are never bombs;
      deflate tops out near 1,032:1, so genuine files of zeros can exceed 100: raise it for those);
    * ``max_total_uncompressed``: the sum of the declared sizes of an archive's members, and the
      output of a compressed stream;
    * ``max_archive_depth``: archives inside archives.
    """

    max_archive_members: int = 100_000
    max_compression_ratio: float = 100.0
    ratio_check_min_bytes: int = 1 << 20
    max_total_uncompressed: int = 128 << 30
    max_archive_depth: int = 3


class Unverifiable(Exception):
    """Raised below the format scanners; becomes a finding with the rule named here."""

    rule = "parse-error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Malformed(Unverifiable):
    rule = "parse-error"


class Truncated(Unverifiable, EOFError):
    rule = "truncated"


class LimitExceeded(Unverifiable):
    rule = "limit-exceeded"


class Recorder:
    """The findings of one top-level file, filled in by the format scanners."""

    def __init__(self, file: str, limits: ScanLimits) -> None:
        self.file = file
        self.limits = limits
        self.findings: list[Finding] = []

    def add(
        self,
        member: str | None,
        rule: str,
        severity: Severity,
        message: str,
        *,
        module: str | None = None,
        name: str | None = None,
    ) -> None:
        self.findings.append(Finding(self.file, member, rule, severity, message, module, name))

    def child(self) -> Recorder:
        """A scratch recorder for a tentative scan (content sniffing); merge it with ``absorb``."""
        return Recorder(self.file, self.limits)

    def absorb(self, other: Recorder) -> None:
        self.findings.extend(other.findings)

    def failed(self, member: str | None, exc: Unverifiable) -> None:
        self.add(member, exc.rule, "medium", exc.message)
