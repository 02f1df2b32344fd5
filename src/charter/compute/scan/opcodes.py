"""The unpickler's stack machine, run on symbolic values: every opcode of protocols 0 to 5 is read
and applied to a stack, a mark stack and a memo of *descriptions* (literals, imported globals,
call results), never to real objects. Nothing is imported or called; what an import, a call, a
``BUILD`` or a mutation means is left to the subclass (:class:`.pickles.PickleWalker`).

Values: plain literals (``None``, bools, numbers, strings and bytes up to ``MAX_TEXT``, tuples,
lists and dicts up to ``CAP`` items), :class:`Global` (an import), :class:`Obj` (a call result),
:class:`Persistent` (a persistent id) and :data:`OPAQUE` (anything not kept). Arguments longer than
``MAX_TEXT`` are skipped without being read (``Source.skip``).
"""

from __future__ import annotations

import _compat_pickle
import codecs
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from charter.compute.scan.report import Malformed
from charter.compute.scan.streams import Source

MAX_TEXT: Final = 4096  # longer strings and bytes are skipped: no module name or shape is that long
CAP: Final = 1024  # items kept per list or dict (the rest is walked but not remembered)
_PLAIN_KEYS = (str, int, float, bytes, type(None))


class Opaque:
    """A value the scanner does not keep (a large string, a set, an out-of-band buffer)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<opaque>"


OPAQUE: Final = Opaque()


@dataclass(eq=False, slots=True)
class Global:
    module: str
    name: str
    resolved: bool = True

    def __str__(self) -> str:
        return f"{self.module}.{self.name}" if self.resolved else "<unresolved global>"


@dataclass(eq=False, slots=True)
class Obj:
    """The result of a call or an instantiation; ``state`` is set by ``BUILD``."""

    func: object
    args: object
    how: str
    state: object = None


@dataclass(eq=False, slots=True)
class Persistent:
    pid: object


class Memo:
    """The unpickler's memo, compactly: which keys exist (a dense prefix ``0..dense-1`` plus a set of
    the others, so that ``len`` is exact for ``MEMOIZE`` and a missing key is still an error) and the
    values a later ``GET`` can make matter: strings that can name a module or attribute (``STACK_GLOBAL``
    operands; any other string there fails closed, as unresolved), imports, call results (a dtype that
    joblib wrappers share). Plain data (numbers, containers, text) reads back as opaque, so a pickle of
    millions of small objects costs the scanner little per object."""

    __slots__ = ("dense", "extra", "values")

    def __init__(self) -> None:
        self.dense = 0
        self.extra: set[int] = set()
        self.values: dict[int, object] = {}

    def __len__(self) -> int:
        return self.dense + len(self.extra)

    def put(self, index: int, value: object) -> None:
        if index == self.dense:
            self.dense += 1
            while self.extra and self.dense in self.extra:
                self.extra.remove(self.dense)
                self.dense += 1
        elif index > self.dense:
            self.extra.add(index)
        if isinstance(value, Global | Obj | Persistent) or (
            isinstance(value, str) and len(value) <= 256 and value.replace(".", "_").isidentifier()
        ):
            self.values[index] = value
        elif self.values:
            self.values.pop(index, None)

    def get(self, index: int) -> object:
        if index < self.dense or index in self.extra:
            return self.values.get(index, OPAQUE)
        raise KeyError(index)


def describe(value: object) -> str:
    if isinstance(value, Global):
        return str(value)
    if isinstance(value, Obj):
        func = value.func
        return f"the result of calling {func if isinstance(func, Global) else 'a computed value'}"
    if isinstance(value, Persistent):
        return "a persistent-id object"
    return type(value).__name__


class StackMachine:
    """The opcodes; subclasses implement the hooks ``_import``, ``_unresolved``, ``_call``,
    ``_mutates`` and ``_built``."""

    def __init__(self) -> None:
        self.memo = Memo()
        self.stack: list[object] = []
        self.metastack: list[list[object]] = []
        self.proto = 0
        self.value: object = None  # what the last STOP returned
        self.src: Source
        self._table = self._build_table()

    def _one(self) -> None:
        """Run one pickle, up to and including its STOP."""
        self.stack, self.metastack, self.proto = [], [], 0
        src, table = self.src, self._table
        while True:
            pos = src.pos
            if pos < len(src.buf):
                code = src.buf[pos]
                src.pos = pos + 1
            else:
                code = src.byte()
            handler = table[code]
            if handler is None:
                raise Malformed(f"invalid opcode 0x{code:02x} at offset {src.tell() - 1}")
            if handler():
                self._stopped()
                return

    # -- hooks ----------------------------------------------------------------------------------------

    def _import(self, module: str, name: str) -> Global:
        raise NotImplementedError

    def _unresolved(self, what: str) -> Global:
        raise NotImplementedError

    def _call(self, func: object, how: str) -> None:
        raise NotImplementedError

    def _mutates(self, target: object, how: str) -> bool:
        raise NotImplementedError

    def _built(self, obj: Obj) -> None:
        """After ``BUILD`` gave ``obj`` its state."""

    def _stopped(self) -> None:
        """After a STOP."""

    def _global(self, module: str, name: str) -> bool:
        if self.proto < 3:  # what pickle's find_class does for protocols 0-2 (fix_imports)
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        return self._push(self._import(module, name))

    def _push_unresolved(self, what: str) -> bool:
        return self._push(self._unresolved(what))

    # -- stack ----------------------------------------------------------------------------------------

    def _pop(self) -> object:
        try:
            return self.stack.pop()
        except IndexError:
            raise Malformed(f"stack underflow at offset {self.src.tell() - 1}") from None

    def _top(self) -> object:
        if not self.stack:
            raise Malformed(f"stack underflow at offset {self.src.tell() - 1}")
        return self.stack[-1]

    def _pop_mark(self) -> list[object]:
        items = self.stack
        try:
            self.stack = self.metastack.pop()
        except IndexError:
            raise Malformed(f"no MARK to pop at offset {self.src.tell() - 1}") from None
        return items

    def _push(self, value: object) -> bool:
        self.stack.append(value)
        return False

    # -- arguments ------------------------------------------------------------------------------------

    def _text(self, what: str, encoding: str) -> str:
        data = self.src.line(MAX_TEXT)
        if data is None:
            raise Malformed(f"{what} longer than {MAX_TEXT} bytes")
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise Malformed(f"{what} is not {encoding}: {exc}") from None

    def _int_line(self, what: str) -> int:
        data = self.src.line(MAX_TEXT)
        try:
            return int(data if data is not None else b"", 10)
        except ValueError:
            raise Malformed(f"{what} needs a decimal argument") from None

    def _unicode(self, n: int) -> bool:
        if n > MAX_TEXT:
            self.src.skip(n)
            return self._push(OPAQUE)
        try:
            return self._push(self.src.read(n).decode("utf-8", "surrogatepass"))
        except UnicodeDecodeError:
            raise Malformed("a BINUNICODE argument is not UTF-8") from None

    def _bytes(self, n: int, *, ascii_text: bool = False) -> bool:
        if n > MAX_TEXT:
            self.src.skip(n)
            return self._push(OPAQUE)
        data = self.src.read(n)
        if not ascii_text:
            return self._push(data)
        try:
            return self._push(data.decode("ascii"))
        except UnicodeDecodeError:
            raise Malformed("a BINSTRING argument is not ASCII") from None

    def _u32(self) -> int:
        return int.from_bytes(self.src.read(4), "little")

    def _u64(self) -> int:
        return int.from_bytes(self.src.read(8), "little")

    def _i32(self) -> int:
        return int.from_bytes(self.src.read(4), "little", signed=True)

    # -- opcodes --------------------------------------------------------------------------------------

    def _build_table(self) -> list[Callable[[], bool] | None]:
        table: list[Callable[[], bool] | None] = [None] * 256
        ops: dict[bytes, Callable[[], bool]] = {
            b"(": self.op_mark,
            b".": self.op_stop,
            b"0": self.op_pop,
            b"1": self.op_pop_mark,
            b"2": lambda: self._push(self._top()),
            b"F": self.op_float,
            b"I": self.op_int,
            b"J": lambda: self._push(self._i32()),
            b"K": lambda: self._push(self.src.byte()),
            b"L": self.op_long,
            b"M": lambda: self._push(int.from_bytes(self.src.read(2), "little")),
            b"N": lambda: self._push(None),
            b"P": lambda: self._push(Persistent(self._text("PERSID", "ascii"))),
            b"Q": lambda: self._push(Persistent(self._pop())),
            b"R": self.op_reduce,
            b"S": self.op_string,
            b"T": self.op_binstring,
            b"U": lambda: self._bytes(self.src.byte(), ascii_text=True),
            b"V": self.op_unicode,
            b"X": lambda: self._unicode(self._u32()),
            b"a": self.op_append,
            b"b": self.op_build,
            b"c": lambda: self._global(self._text("GLOBAL module", "utf-8"), self._text("GLOBAL name", "utf-8")),
            b"d": self.op_dict,
            b"}": lambda: self._push({}),
            b"e": self.op_appends,
            b"g": lambda: self._get(self._int_line("GET")),
            b"h": lambda: self._get(self.src.byte()),
            b"i": self.op_inst,
            b"j": lambda: self._get(self._u32()),
            b"l": lambda: self._push(self._pop_mark()[:CAP]),
            b"]": lambda: self._push([]),
            b"o": self.op_obj,
            b"p": lambda: self._put(self._int_line("PUT")),
            b"q": lambda: self._put(self.src.byte()),
            b"r": lambda: self._put(self._u32()),
            b"s": self.op_setitem,
            b"t": lambda: self._push(tuple(self._pop_mark()[:CAP])),
            b")": lambda: self._push(()),
            b"u": self.op_setitems,
            b"G": lambda: self._push(struct.unpack(">d", self.src.read(8))[0]),
            b"\x80": self.op_proto,
            b"\x81": self.op_newobj,
            b"\x82": lambda: self._push_unresolved(f"EXT1 extension code {self.src.byte()} (resolved through copyreg)"),
            b"\x83": lambda: self._push_unresolved(f"EXT2 extension code {int.from_bytes(self.src.read(2), 'little')}"),
            b"\x84": lambda: self._push_unresolved(f"EXT4 extension code {self._i32()}"),
            b"\x85": lambda: self._push((self._pop(),)),
            b"\x86": self.op_tuple2,
            b"\x87": self.op_tuple3,
            b"\x88": lambda: self._push(True),
            b"\x89": lambda: self._push(False),
            b"\x8a": lambda: self._push(int.from_bytes(self.src.read(self.src.byte()), "little", signed=True)),
            b"\x8b": self.op_long4,
            b"B": lambda: self._bytes(self._u32()),
            b"C": lambda: self._bytes(self.src.byte()),
            b"\x8c": lambda: self._unicode(self.src.byte()),
            b"\x8d": lambda: self._unicode(self._u64()),
            b"\x8e": lambda: self._bytes(self._u64()),
            b"\x8f": lambda: self._push(OPAQUE),
            b"\x90": self.op_additems,
            b"\x91": self.op_frozenset,
            b"\x92": self.op_newobj_ex,
            b"\x93": self.op_stack_global,
            b"\x94": self.op_memoize,
            b"\x95": lambda: self._push_nothing(self.src.read(8)),
            b"\x96": lambda: self._bytes(self._u64()),
            b"\x97": lambda: self._push(OPAQUE),
            b"\x98": lambda: self._push_nothing(self._top()),
        }
        for code, handler in ops.items():
            table[code[0]] = handler
        return table

    @staticmethod
    def _push_nothing(_: object) -> bool:
        return False

    def op_mark(self) -> bool:
        self.metastack.append(self.stack)
        self.stack = []
        return False

    def op_stop(self) -> bool:
        self.value = self._pop()
        return True

    def op_pop(self) -> bool:
        if self.stack:
            self.stack.pop()
        else:
            self._pop_mark()
        return False

    def op_pop_mark(self) -> bool:
        self._pop_mark()
        return False

    def op_float(self) -> bool:
        data = self.src.line(MAX_TEXT)
        try:
            return self._push(float(data if data is not None else b""))
        except ValueError:
            raise Malformed("FLOAT needs a number") from None

    def op_int(self) -> bool:
        data = self.src.line(MAX_TEXT)
        if data in (b"00", b"01"):
            return self._push(data == b"01")
        try:
            return self._push(int(data if data is not None else b"", 0))
        except ValueError:
            raise Malformed("INT needs an integer") from None

    def op_long(self) -> bool:
        data = self.src.line(MAX_TEXT)
        if data is None:
            return self._push(OPAQUE)
        try:
            return self._push(int(data[:-1] if data.endswith(b"L") else data, 0))
        except ValueError:
            raise Malformed("LONG needs an integer") from None

    def op_long4(self) -> bool:
        n = self._i32()
        if n < 0:
            raise Malformed("LONG4 with a negative byte count")
        if n > MAX_TEXT:
            self.src.skip(n)
            return self._push(OPAQUE)
        return self._push(int.from_bytes(self.src.read(n), "little", signed=True))

    def op_string(self) -> bool:
        data = self.src.line(MAX_TEXT)
        if data is None:
            return self._push(OPAQUE)
        if len(data) < 2 or data[0] != data[-1] or data[0] not in b"\"'":
            raise Malformed("the STRING opcode argument must be quoted")
        try:
            return self._push(codecs.escape_decode(data[1:-1])[0].decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            raise Malformed("a STRING argument is not an ASCII string literal") from None

    def op_binstring(self) -> bool:
        n = self._i32()
        if n < 0:
            raise Malformed("BINSTRING with a negative byte count")
        return self._bytes(n, ascii_text=True)

    def op_unicode(self) -> bool:
        data = self.src.line(MAX_TEXT)
        if data is None:
            return self._push(OPAQUE)
        try:
            return self._push(data.decode("raw-unicode-escape"))
        except UnicodeDecodeError:
            raise Malformed("a UNICODE argument does not decode") from None

    def op_proto(self) -> bool:
        proto = self.src.byte()
        if proto > 5:
            raise Malformed(f"unsupported pickle protocol {proto}")
        self.proto = proto
        return False

    def op_tuple2(self) -> bool:
        b = self._pop()
        return self._push((self._pop(), b))

    def op_tuple3(self) -> bool:
        c, b = self._pop(), self._pop()
        return self._push((self._pop(), b, c))

    def op_dict(self) -> bool:
        items = self._pop_mark()
        if len(items) % 2:
            raise Malformed("DICT with an odd number of items")
        d: dict[object, object] = {}
        self._set_pairs(d, items)
        return self._push(d)

    def op_setitem(self) -> bool:
        value, key = self._pop(), self._pop()
        self._set_into(self._top(), [key, value], "SETITEM")
        return False

    def op_setitems(self) -> bool:
        items = self._pop_mark()
        if len(items) % 2:
            raise Malformed("SETITEMS with an odd number of items")
        self._set_into(self._top(), items, "SETITEMS")
        return False

    def _set_into(self, target: object, items: list[object], how: str) -> None:
        if isinstance(target, dict):
            self._set_pairs(target, items)
        elif not self._mutates(target, how) and isinstance(target, str | bytes | int | float | tuple | None):
            raise Malformed(f"{how} on a {type(target).__name__}")

    @staticmethod
    def _set_pairs(d: dict[object, object], items: list[object]) -> None:
        # Only keys of plain types are kept (the state dicts read later have string keys): hashing a
        # crafted key, a tuple nested a million deep, would overflow the C stack.
        for i in range(0, len(items), 2):
            key = items[i]
            if isinstance(key, _PLAIN_KEYS) and (len(d) < CAP or key in d):
                d[key] = items[i + 1]

    def op_append(self) -> bool:
        value = self._pop()
        self._append_into(self._top(), [value], "APPEND")
        return False

    def op_appends(self) -> bool:
        items = self._pop_mark()
        self._append_into(self._top(), items, "APPENDS")
        return False

    def _append_into(self, target: object, items: list[object], how: str) -> None:
        if isinstance(target, list):
            target.extend(items[: max(0, CAP - len(target))])
        elif not self._mutates(target, how) and isinstance(target, str | bytes | int | float | tuple | dict | None):
            raise Malformed(f"{how} on a {type(target).__name__}")

    def op_frozenset(self) -> bool:
        self._pop_mark()
        return self._push(OPAQUE)

    def op_additems(self) -> bool:
        self._pop_mark()
        self._mutates(self._top(), "ADDITEMS")
        return False

    def _get(self, index: int) -> bool:
        try:
            return self._push(self.memo.get(index))
        except KeyError:
            raise Malformed(f"memo key {index} was never stored (offset {self.src.tell()})") from None

    def _put(self, index: int) -> bool:
        if index < 0:
            raise Malformed("negative memo key")
        self.memo.put(index, self._top())
        return False

    def op_memoize(self) -> bool:
        memo, stack = self.memo, self.stack
        if not stack:
            raise Malformed(f"stack underflow at offset {self.src.tell() - 1}")
        memo.put(len(memo), stack[-1])
        return False

    def op_stack_global(self) -> bool:
        name, module = self._pop(), self._pop()
        if isinstance(module, str) and isinstance(name, str):
            return self._global(module, name)
        return self._push_unresolved(
            f"STACK_GLOBAL on values the scanner cannot read as text ({describe(module)}, {describe(name)})"
        )

    def op_inst(self) -> bool:
        module, name = self._text("INST module", "ascii"), self._text("INST name", "ascii")
        args = self._pop_mark()
        self._global(module, name)
        cls = self._pop()
        self._call(cls, "INST")
        return self._push(Obj(cls, tuple(args[:CAP]), "INST"))

    def op_obj(self) -> bool:
        items = self._pop_mark()
        if not items:
            raise Malformed("OBJ without a class")
        self._call(items[0], "OBJ")
        return self._push(Obj(items[0], tuple(items[1:CAP]), "OBJ"))

    def op_reduce(self) -> bool:
        args, func = self._pop(), self._pop()
        self._call(func, "REDUCE")
        return self._push(Obj(func, args, "REDUCE"))

    def op_newobj(self) -> bool:
        args, cls = self._pop(), self._pop()
        self._call(cls, "NEWOBJ")
        return self._push(Obj(cls, args, "NEWOBJ"))

    def op_newobj_ex(self) -> bool:
        self._pop()  # keyword arguments
        args, cls = self._pop(), self._pop()
        self._call(cls, "NEWOBJ_EX")
        return self._push(Obj(cls, args, "NEWOBJ_EX"))

    def op_build(self) -> bool:
        state = self._pop()
        target = self._top()
        if self._mutates(target, "BUILD"):
            return False
        if isinstance(target, Obj):
            target.state = state
            self._built(target)
        return False
