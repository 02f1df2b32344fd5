"""Static pickle analysis: a symbolic unpickler that reads every opcode and never imports or calls.

:mod:`.opcodes` runs the unpickler's stack, mark stack and memo on *symbolic* values (literals,
imported globals, call results), so that ``STACK_GLOBAL`` is resolved from exactly the two values
the real unpickler would pop, whether they were pushed directly, through ``GET``/``BINGET``/
``LONG_BINGET`` of memoized strings, through ``DUP``, or via the ``STRING`` family. This module
decides what its imports and calls mean, and records:

* every import (``GLOBAL``, ``INST``, ``STACK_GLOBAL``), judged by :mod:`.allowlist`, and whether the
  pickle calls it (``REDUCE``, ``INST``, ``OBJ``: any callable; ``NEWOBJ``: a class's ``__new__``);
* operands it cannot resolve (``STACK_GLOBAL`` on computed values, ``EXT`` codes): critical;
* ``BUILD``, ``SETITEM(S)``, ``APPEND(S)`` or ``ADDITEMS`` applied to an imported object (planting
  attributes on a module, as in ``numpy.prod.a = "os"``): critical;
* a call of something that is not an imported global (the result of another call): high.

Several pickles may follow one another; the walk continues after ``STOP`` until the end of the
stream (a payload hidden in the second pickle is found). A legacy ``torch.save`` file (its first
pickle is torch's magic number) holds exactly five pickles followed by raw storage bytes, which
torch reads without unpickling; the walk stops after the fifth. joblib files interleave raw array
bytes with the pickle after each ``NumpyArrayWrapper``; the walk reads the wrapper's shape and
dtype and skips exactly those bytes (or walks the nested pickle of an object array).

Large string and bytes arguments are skipped without being copied (``seek`` when the stream
allows it), so scanning is bounded by the number of opcodes, not the size of the payloads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from charter.compute.scan.allowlist import Judgement, is_identifier_path, judge
from charter.compute.scan.opcodes import OPAQUE, Global, Obj, Persistent, StackMachine, describe
from charter.compute.scan.report import Malformed, Recorder, Severity, Unverifiable
from charter.compute.scan.streams import Source

MAX_REPORTED: Final = 200  # distinct non-allowlisted globals reported per stream
TORCH_MAGIC: Final = 0x1950A86A20F9469CFC6C
_CALLS = {"REDUCE", "INST", "OBJ"}  # call an arbitrary callable with arguments
_JOBLIB_WRAPPERS = {("joblib.numpy_pickle", "NumpyArrayWrapper")}
_COPYREG_NEW = {("copyreg", "_reconstructor"), ("copyreg", "__newobj__"), ("copyreg", "__newobj_ex__")}
_TYPESTR = re.compile(r"^[<>|=]?([biufcOMmSUV?])(\d*)")


@dataclass(slots=True)
class _Use:
    global_: Global
    judgement: Judgement
    called: str | None = None


@dataclass
class WalkResult:
    pickles: int = 0
    error: Unverifiable | None = None
    evidence: bool = False  # looks like a pickle: an importable global, or a complete pickle
    legacy_torch: bool = False
    joblib_arrays: int = 0
    uses: dict[tuple[str, str], _Use] = field(default_factory=dict)


class PickleWalker(StackMachine):
    """Walk one stream of pickles; findings go to ``rec`` under ``member``."""

    def __init__(self, rec: Recorder, member: str | None) -> None:
        super().__init__()
        self.rec, self.member = rec, member
        self.result = WalkResult()
        self._reported: set[tuple[str, str]] = set()
        self._events: set[tuple[str, str]] = set()

    # -- driving ------------------------------------------------------------------------------------

    def run(self, src: Source) -> WalkResult:
        """Walk pickles until the end of ``src``; an error is kept in the result, with what came before."""
        self.src = src
        try:
            if src.at_eof():
                raise Malformed("empty stream: not a pickle")
            while True:
                self._one()
                if self.result.pickles == 1 and _is_torch_magic(self.value):
                    self.result.legacy_torch = True
                if self.result.legacy_torch and self.result.pickles == 5:
                    break  # then raw storages, which torch reads without unpickling
                if src.at_eof():
                    break
        except Unverifiable as exc:
            self.result.error = exc
        except (RecursionError, MemoryError) as exc:
            self.result.error = Malformed(f"the pickle is too deeply nested or too large to analyse: {exc!r}")
        self._flush()
        return self.result

    def _stopped(self) -> None:
        self.result.pickles += 1
        self.result.evidence = True

    def _flush(self) -> None:
        count = 0
        for key, use in self.result.uses.items():
            if use.judgement == "safe" or key in self._reported:
                continue
            self._reported.add(key)
            count += 1
            if count > MAX_REPORTED:
                self.rec.add(self.member, "pickle-unknown-global", "high", "more non-allowlisted imports follow")
                return
            g = use.global_
            called = f" and calls it ({use.called})" if use.called else ""
            if use.judgement == "dangerous":
                self.rec.add(
                    self.member,
                    "pickle-dangerous-global",
                    "critical",
                    f"imports {g}{called}",
                    module=g.module,
                    name=g.name,
                )
            else:
                severity: Severity = "high" if use.called in _CALLS else "medium"
                self.rec.add(
                    self.member,
                    "pickle-unknown-global",
                    severity,
                    f"imports {g}, which is not on the allowlist{called}",
                    module=g.module,
                    name=g.name,
                )

    # -- what is judged -------------------------------------------------------------------------------

    def _import(self, module: str, name: str) -> Global:
        if is_identifier_path(module) and is_identifier_path(name):
            self.result.evidence = True
        key = (module, name)
        use = self.result.uses.get(key)
        if use is None:
            use = self.result.uses[key] = _Use(Global(module, name), judge(module, name))
        return use.global_

    def _event(
        self, rule: str, severity: Severity, message: str, *, module: str | None = None, name: str | None = None
    ) -> None:
        """A finding about an operation, once per distinct message (a loop of tricks is one finding)."""
        key = (rule, message)
        if key in self._events or len(self._events) >= MAX_REPORTED:
            return
        self._events.add(key)
        self.rec.add(self.member, rule, severity, message, module=module, name=name)

    def _unresolved(self, what: str) -> Global:
        self._event("pickle-unresolved-global", "critical", what)
        return Global("?", "?", resolved=False)

    def _call(self, func: object, how: str) -> None:
        if isinstance(func, Global):
            if func.resolved:
                use = self.result.uses[(func.module, func.name)]
                if use.called is None or how in _CALLS:
                    use.called = how
        elif isinstance(func, Obj | Persistent):
            self._event("pickle-indirect-call", "high", f"{how} calls {describe(func)}, not an imported global")
        else:
            raise Malformed(f"{how} on a {type(func).__name__}, which is not callable")

    def _mutates(self, target: object, how: str) -> bool:
        if isinstance(target, Global):
            self._event(
                "pickle-global-mutation",
                "critical",
                f"{how} changes the imported object {target} itself",
                module=target.module if target.resolved else None,
                name=target.name if target.resolved else None,
            )
            return True
        return False

    # -- joblib ---------------------------------------------------------------------------------------

    def _built(self, obj: Obj) -> None:
        if _class_key(obj) in _JOBLIB_WRAPPERS:
            self._joblib_array(obj)

    def _joblib_array(self, wrapper: Obj) -> None:
        """joblib writes the array right after the wrapper: raw bytes, or a nested pickle for objects."""
        state = wrapper.state
        if not isinstance(state, dict):
            raise Malformed("a joblib NumpyArrayWrapper without its state")
        shape, dtype = state.get("shape"), state.get("dtype")
        if not isinstance(shape, tuple) or not all(isinstance(x, int) and x >= 0 for x in shape):
            raise Malformed("a joblib NumpyArrayWrapper with an unreadable shape")
        itemsize, hasobject = _dtype_info(dtype)
        self.result.joblib_arrays += 1
        if hasobject:  # joblib unpickles it with a fresh Unpickler: own stack and memo
            nested = PickleWalker(self.rec, self.member)
            nested.src = self.src
            nested._reported = self._reported
            try:
                nested._one()
            finally:
                nested._flush()
        else:
            if state.get("numpy_array_alignment_bytes") is not None:
                self.src.skip(self.src.byte())  # one byte of padding length, then the padding
            count = 1
            for x in shape:
                count *= x
            self.src.skip(count * itemsize)
        self.stack[-1] = OPAQUE  # NumpyUnpickler replaces the wrapper by the array


def _class_key(obj: Obj) -> tuple[str, str] | None:
    func = obj.func
    if isinstance(func, Global) and (func.module, func.name) in _COPYREG_NEW:
        args = obj.args
        func = args[0] if isinstance(args, tuple) and args else None
    return (func.module, func.name) if isinstance(func, Global) else None


def _dtype_info(dtype: object) -> tuple[int, bool]:
    """Item size and "holds objects" of a pickled ``numpy.dtype`` (args ``(typestr, align, copy)``,
    state ``(version, byteorder, subarray, names, fields, elsize, alignment, flags, ...)``)."""
    if not (isinstance(dtype, Obj) and isinstance(dtype.func, Global) and str(dtype.func) == "numpy.dtype"):
        raise Malformed("a joblib NumpyArrayWrapper whose dtype is not a numpy.dtype")
    args, state = dtype.args, dtype.state
    typestr = args[0] if isinstance(args, tuple) and args and isinstance(args[0], str) else ""
    match = _TYPESTR.match(typestr)
    if match is None or not isinstance(state, tuple) or len(state) < 8:
        raise Malformed(f"a joblib array of unreadable dtype {typestr!r}")
    elsize, flags = state[5], state[7]
    hasobject = match.group(1) == "O" or (isinstance(flags, int) and bool(flags & 1))
    if isinstance(elsize, int) and elsize > 0:
        return elsize, hasobject
    if match.group(2):
        return int(match.group(2)), hasobject
    if match.group(1) == "?":
        return 1, hasobject
    raise Malformed(f"a joblib array of unreadable dtype {typestr!r}")


def _is_torch_magic(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value == TORCH_MAGIC


def walk(rec: Recorder, member: str | None, src: Source) -> WalkResult:
    """Walk a stream that is known to be a pickle (by name or magic): errors make it not verified."""
    result = PickleWalker(rec, member).run(src)
    if result.error is not None:
        rec.failed(member, result.error)
    return result


def probe(rec: Recorder, member: str | None, src: Source) -> WalkResult | None:
    """Walk a stream that *may* be a pickle. If it looks like one (an importable global, or a complete
    pickle), report it as :func:`walk` would; otherwise report nothing and return None. A stream that
    breaks before importing anything cannot run code when unpickled (every call needs an import)."""
    scratch = rec.child()
    result = PickleWalker(scratch, member).run(src)
    if not result.evidence:
        return None
    rec.absorb(scratch)
    if result.error is not None:
        rec.failed(member, result.error)
    return result
