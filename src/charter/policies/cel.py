"""CEL expressions for policies: compile, check against the facts' types, evaluate. Pure.

Evaluation is the Rust-backed ``common-expression-language`` package (import name ``cel``): about
a microsecond per expression with a reused context. That package has no type checker, so a policy
would otherwise learn of a misspelt fact only when it runs. This module therefore parses every
expression a second time with a small CEL parser of its own and checks it against the declared
types of the facts (:mod:`charter.policies.facts`):

- syntax errors come from the ``cel`` package itself (it is the one that evaluates, so it is the
  authority on what parses), with its line and column;
- then every identifier must be declared (``facts``, or a variable a macro binds), every field
  read from a struct must exist, every function must be one the evaluator has, and operators
  must be given types they work on (``1 + 2.5`` is an error in CEL, not a coercion);
- the whole expression must be a ``bool``.

Each error carries its line and column (1-based). A null fact (``T?``) type-checks as ``T``:
reading it at run time where a value is required is an evaluation error, which a gate treats as a
failure (fail closed) and reports with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cel as _cel

from charter.policies.types import (
    BOOL,
    BYTES,
    DOUBLE,
    DURATION,
    DYN,
    INT,
    NULL,
    NUMERIC,
    STRING,
    TIMESTAMP,
    UINT,
    Type,
    list_of,
    map_of,
)

__all__ = [
    "CelError",
    "Compiled",
    "EvalError",
    "Outcome",
    "check",
    "compile_expression",
    "context_for",
    "evaluate",
    "prune",
]

Path = tuple[str, ...]


class CelError(ValueError):
    """An expression that cannot be saved: the message, and where (1-based line and column)."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.message = message
        self.line = line
        self.column = column


# -- lexer ------------------------------------------------------------------------------------------

_RESERVED = frozenset(
    "as break const continue else for function if import let loop package namespace return var void while".split()
)
# Raw strings (r'...') have no escapes: there a backslash before a quote does not hide it.
_STRING = (
    r"(?:[rR][bB]?|[bB][rR])(?:'''.*?'''|\"\"\".*?\"\"\"|'[^'\n]*'|\"[^\"\n]*\")"
    r"|[bB]?(?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\"|'(?:\\.|[^\\'\n])*'|\"(?:\\.|[^\\\"\n])*\")"
)
_NUMBER = r"0[xX][0-9a-fA-F]+[uU]?|(?:[0-9]+\.[0-9]+|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+|[0-9]+[uU]?"
_TOKEN = re.compile(
    rf"(?P<ws>\s+|//[^\n]*)|(?P<string>{_STRING})|(?P<number>{_NUMBER})|(?P<ident>[_a-zA-Z][_a-zA-Z0-9]*)"
    r"|(?P<op>\|\||&&|==|!=|<=|>=|[<>!+\-*/%?:.,\[\](){}])",
    re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    kind: str  # string, number, ident, op, end
    text: str
    pos: int


def _tokens(source: str) -> list[Token]:
    out: list[Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise _error(source, pos, f"unexpected character {source[pos]!r}")
        kind = match.lastgroup
        assert kind is not None
        if kind != "ws":
            out.append(Token(kind, match.group(), pos))
        pos = match.end()
    out.append(Token("end", "", len(source)))
    return out


def _line_column(source: str, pos: int) -> tuple[int, int]:
    line = source.count("\n", 0, pos) + 1
    column = pos - (source.rfind("\n", 0, pos) + 1) + 1
    return line, column


def _error(source: str, pos: int, message: str) -> CelError:
    return CelError(message, *_line_column(source, pos))


# -- syntax tree ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    pos: int


@dataclass(frozen=True)
class Lit(Node):
    type: Type


@dataclass(frozen=True)
class Ident(Node):
    name: str


@dataclass(frozen=True)
class Select(Node):
    operand: Node
    name: str


@dataclass(frozen=True)
class Index(Node):
    operand: Node
    index: Node


@dataclass(frozen=True)
class Call(Node):
    target: Node | None
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class ListExpr(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class MapExpr(Node):
    entries: tuple[tuple[Node, Node], ...]


@dataclass(frozen=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Cond(Node):
    cond: Node
    then: Node
    other: Node


# -- parser (CEL's grammar: https://github.com/google/cel-spec/blob/master/doc/langdef.md) ----------

_RELATIONS = frozenset({"<", "<=", ">=", ">", "==", "!=", "in"})


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokens(source)
        self.at = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.at]

    def _is(self, text: str) -> bool:
        return self.tok.kind in ("op", "ident") and self.tok.text == text

    def _take(self, text: str) -> Token:
        if not self._is(text):
            found = self.tok.text or "the end"
            raise _error(self.source, self.tok.pos, f"expected {text!r}, found {found!r}")
        return self._next()

    def _next(self) -> Token:
        token = self.tok
        self.at += 1
        return token

    def parse(self) -> Node:
        node = self.expr()
        if self.tok.kind != "end":
            raise _error(self.source, self.tok.pos, f"unexpected {self.tok.text!r}")
        return node

    def expr(self) -> Node:
        cond = self.or_()
        if self._is("?"):
            pos = self._next().pos
            then = self.or_()
            self._take(":")
            return Cond(pos, cond, then, self.expr())
        return cond

    def or_(self) -> Node:
        node = self.and_()
        while self._is("||"):
            pos = self._next().pos
            node = Binary(pos, "||", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.relation()
        while self._is("&&"):
            pos = self._next().pos
            node = Binary(pos, "&&", node, self.relation())
        return node

    def relation(self) -> Node:
        node = self.addition()
        while self.tok.text in _RELATIONS and self.tok.kind in ("op", "ident"):
            token = self._next()
            node = Binary(token.pos, token.text, node, self.addition())
        return node

    def addition(self) -> Node:
        node = self.multiplication()
        while self._is("+") or self._is("-"):
            token = self._next()
            node = Binary(token.pos, token.text, node, self.multiplication())
        return node

    def multiplication(self) -> Node:
        node = self.unary()
        while self._is("*") or self._is("/") or self._is("%"):
            token = self._next()
            node = Binary(token.pos, token.text, node, self.unary())
        return node

    def unary(self) -> Node:
        if self._is("!") or self._is("-"):
            token = self._next()
            if token.text == "-" and self.tok.kind == "number":
                number = self._next()  # a negative literal, not negation (-9223372036854775808 fits)
                return self.member(Lit(token.pos, _number_type(number.text)))
            return Unary(token.pos, token.text, self.unary())
        return self.member(self.primary())

    def member(self, node: Node) -> Node:
        while True:
            if self._is("."):
                self._next()
                name = self._ident()
                if self._is("("):
                    node = Call(name.pos, node, name.text, self._args(")"))
                else:
                    node = Select(name.pos, node, name.text)
            elif self._is("["):
                pos = self._next().pos
                index = self.expr()
                self._take("]")
                node = Index(pos, node, index)
            elif self._is("{") and isinstance(node, Ident | Select):
                raise _error(self.source, self.tok.pos, "creating messages (Type{...}) is not supported")
            else:
                return node

    def _ident(self) -> Token:
        if self.tok.kind != "ident":
            raise _error(self.source, self.tok.pos, f"expected a name, found {self.tok.text or 'the end'!r}")
        return self._next()

    def _args(self, close: str) -> tuple[Node, ...]:
        self._next()  # the opening bracket
        items: list[Node] = []
        while not self._is(close):
            items.append(self.expr())
            if not self._is(","):
                break
            self._next()
        self._take(close)
        return tuple(items)

    def primary(self) -> Node:
        token = self.tok
        if token.kind == "number":
            self._next()
            return Lit(token.pos, _number_type(token.text))
        if token.kind == "string":
            self._next()
            prefix = token.text[: len(token.text) - len(token.text.lstrip("rRbB"))]
            return Lit(token.pos, BYTES if "b" in prefix.lower() else STRING)
        if token.kind == "ident":
            self._next()
            if token.text in ("true", "false"):
                return Lit(token.pos, BOOL)
            if token.text == "null":
                return Lit(token.pos, NULL)
            if token.text in _RESERVED or token.text == "in":
                raise _error(self.source, token.pos, f"{token.text!r} is a reserved word")
            if self._is("("):
                return Call(token.pos, None, token.text, self._args(")"))
            return Ident(token.pos, token.text)
        if self._is("."):  # a name in the root namespace: .facts
            self._next()
            name = self._ident()
            return Ident(name.pos, name.text)
        if self._is("("):
            self._next()
            node = self.expr()
            self._take(")")
            return node
        if self._is("["):
            return ListExpr(token.pos, self._args("]"))
        if self._is("{"):
            self._next()
            entries: list[tuple[Node, Node]] = []
            while not self._is("}"):
                key = self.expr()
                self._take(":")
                entries.append((key, self.expr()))
                if not self._is(","):
                    break
                self._next()
            self._take("}")
            return MapExpr(token.pos, tuple(entries))
        raise _error(self.source, token.pos, f"unexpected {token.text or 'end of the expression'!r}")


def _number_type(text: str) -> Type:
    lower = text.lower()
    if lower.startswith("0x"):
        return UINT if lower.endswith("u") else INT
    if lower.endswith("u"):
        return UINT
    return DOUBLE if ("." in text or "e" in lower) else INT


def parse(source: str) -> Node:
    """The syntax tree of ``source`` (raises :class:`CelError`)."""
    return _Parser(source).parse()


# -- checker ----------------------------------------------------------------------------------------

_CONVERSIONS: dict[str, Type] = {
    "int": INT,
    "uint": UINT,
    "double": DOUBLE,
    "string": STRING,
    "bytes": BYTES,
    "timestamp": TIMESTAMP,
    "duration": DURATION,
    "dyn": DYN,
}
#: What each conversion accepts (the evaluator has no int(timestamp), no bool(...)).
_CONVERTS_FROM: dict[str, frozenset[str]] = {
    "int": frozenset({"int", "uint", "double", "string"}),
    "uint": frozenset({"int", "uint", "double", "string"}),
    "double": frozenset({"int", "uint", "double", "string"}),
    "string": frozenset({"int", "uint", "double", "string", "bytes", "bool", "timestamp", "duration"}),
    "bytes": frozenset({"string", "bytes"}),
    "timestamp": frozenset({"string", "timestamp"}),
    "duration": frozenset({"string", "duration"}),
}
_TIME_PARTS = (
    "getFullYear",
    "getMonth",
    "getDayOfYear",
    "getDayOfMonth",
    "getDate",
    "getDayOfWeek",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
)
_DURATION_PARTS = ("getHours", "getMinutes", "getSeconds", "getMilliseconds")
_STRING_METHODS = ("contains", "startsWith", "endsWith", "matches")
_MACROS = ("all", "exists", "exists_one", "map", "filter")
_TYPE_NAMES = frozenset({"bool", "int", "uint", "double", "string", "bytes", "list", "map", "null_type", "type"})


@dataclass
class _Scope:
    names: Mapping[str, Type]

    def child(self, name: str, type_: Type) -> _Scope:
        return _Scope({**self.names, name: type_})


@dataclass
class _Checker:
    source: str
    root: str
    paths: set[Path] = field(default_factory=set)

    def fail(self, node: Node | int, message: str) -> CelError:
        return _error(self.source, node if isinstance(node, int) else node.pos, message)

    # A chain of field reads from the root (facts.evidence.fairness.age_days) is resolved as one
    # path, recorded once where the chain ends: the evaluator builds only the facts that are read.
    def check(self, node: Node, scope: _Scope) -> Type:
        if isinstance(node, Select | Index | Ident):
            type_, path = self.member(node, scope)
            if path is not None:
                self.paths.add(path)
            return type_
        if isinstance(node, Lit):
            return node.type
        if isinstance(node, ListExpr):
            items = [self.check(item, scope) for item in node.items]
            return list_of(_common(items))
        if isinstance(node, MapExpr):
            for key, _value in node.entries:
                self.check(key, scope)
            return map_of(_common([self.check(value, scope) for _key, value in node.entries]))
        if isinstance(node, Unary):
            return self.unary(node, scope)
        if isinstance(node, Binary):
            return self.binary(node, scope)
        if isinstance(node, Cond):
            self.expect_bool(node.cond, scope, "the condition of `? :`")
            return _common([self.check(node.then, scope), self.check(node.other, scope)])
        assert isinstance(node, Call)
        return self.call(node, scope)

    def member(self, node: Node, scope: _Scope) -> tuple[Type, Path | None]:
        """The type of a name or field chain, and its path from the root when it is one."""
        type_, path, _label = self.chain(node, scope)
        return type_, path

    def chain(self, node: Node, scope: _Scope) -> tuple[Type, Path | None, str]:
        """As :meth:`member`, plus the chain as written (``d.legal_basis``) for messages."""
        if isinstance(node, Ident):
            if node.name in scope.names:
                return scope.names[node.name], ((node.name,) if node.name == self.root else None), node.name
            if node.name in _TYPE_NAMES:
                return DYN, None, node.name
            raise self.fail(node, f"unknown name {node.name!r}: {_known(scope.names)}")
        if isinstance(node, Select):
            operand, path, label = self.chain_or_value(node.operand, scope)
            return self.field(node, operand, node.name, path, label)
        assert isinstance(node, Index)
        operand, path, label = self.chain_or_value(node.operand, scope)
        index = self.check(node.index, scope)
        if operand.kind == "struct" and isinstance(node.index, Lit) and index.kind == "string":
            name = _string_literal(self.source, node.index)
            if name is not None:
                return self.field(node.index, operand, name, path, label)
        if path is not None:
            self.paths.add(path)
        base = operand.non_null()
        if base.kind == "list":
            if index.kind not in ("int", "uint", "dyn"):
                raise self.fail(node.index, f"a list index must be an int, not {_a(index)}")
            return base.elem or DYN, None, f"{label}[]"
        if base.kind in ("map", "struct", "dyn"):
            return ((base.elem or DYN) if base.kind == "map" else DYN), None, f"{label}[]"
        raise self.fail(node, f"{label} is {_a(operand)}: it cannot be indexed")

    def chain_or_value(self, node: Node, scope: _Scope) -> tuple[Type, Path | None, str]:
        if isinstance(node, Select | Index | Ident):
            return self.chain(node, scope)
        return self.check(node, scope), None, "the value"

    def field(self, at: Node, operand: Type, name: str, path: Path | None, label: str) -> tuple[Type, Path | None, str]:
        base = operand.non_null()
        if base.kind == "struct":
            fields = base.fields or {}
            if name not in fields:
                raise self.fail(at, f"unknown fact {label}.{name}: {label} has {_choices(fields)}")
            return fields[name].type, ((*path, name) if path is not None else None), f"{label}.{name}"
        if path is not None:
            self.paths.add(path)  # a map or dyn below a struct: read the whole of it
        if base.kind == "map":
            return base.elem or DYN, None, f"{label}.{name}"
        if base.kind == "dyn":
            return DYN, None, f"{label}.{name}"
        raise self.fail(at, f"{label} is {_a(operand)}: it has no field {name!r}")

    def expect_bool(self, node: Node, scope: _Scope, what: str) -> None:
        type_ = self.check(node, scope)
        if type_.non_null().kind not in ("bool", "dyn"):
            raise self.fail(_start(node), f"{what} must be a bool, not {type_}")

    def unary(self, node: Unary, scope: _Scope) -> Type:
        operand = self.check(node.operand, scope).non_null()
        if node.op == "!":
            if operand.kind not in ("bool", "dyn"):
                raise self.fail(node, f"`!` needs a bool, not {operand}")
            return BOOL
        if operand.kind not in ("int", "double", "duration", "dyn"):
            raise self.fail(node, f"`-` needs an int, a double or a duration, not {operand}")
        return operand

    def binary(self, node: Binary, scope: _Scope) -> Type:
        if node.op in ("&&", "||"):
            self.expect_bool(node.left, scope, f"the left side of `{node.op}`")
            self.expect_bool(node.right, scope, f"the right side of `{node.op}`")
            return BOOL
        left = self.check(node.left, scope)
        right = self.check(node.right, scope)
        a, b = left.non_null(), right.non_null()
        if node.op in ("==", "!="):
            if not _comparable(a, b, equality=True):
                raise self.fail(node, f"`{node.op}` compares {_a(left)} with {_a(right)}: they can never be equal")
            return BOOL
        if node.op in ("<", "<=", ">", ">="):
            if not _comparable(a, b, equality=False):
                raise self.fail(node, f"`{node.op}` cannot order {_a(left)} and {_a(right)}")
            return BOOL
        if node.op == "in":
            if b.kind not in ("list", "map", "dyn"):
                raise self.fail(node, f"`in` needs a list or a map on its right, not {right}")
            return BOOL
        return self.arithmetic(node, a, b)

    def arithmetic(self, node: Binary, a: Type, b: Type) -> Type:
        if "dyn" in (a.kind, b.kind):
            return DYN
        op, kinds = node.op, (a.kind, b.kind)
        if a.kind == b.kind and a.kind in NUMERIC and (op != "%" or a.kind != "double"):
            return a
        if op == "+":
            if a.kind == b.kind and a.kind in ("string", "bytes"):
                return a
            if a.kind == b.kind == "list":
                return list_of(_common([a.elem or DYN, b.elem or DYN]))
            if kinds in (("timestamp", "duration"), ("duration", "timestamp")):
                return TIMESTAMP
            if kinds == ("duration", "duration"):
                return DURATION
        if op == "-":
            if kinds == ("timestamp", "timestamp"):
                return DURATION
            if kinds == ("timestamp", "duration"):
                return TIMESTAMP
            if kinds == ("duration", "duration"):
                return DURATION
        hint = ""
        if a.kind in NUMERIC and b.kind in NUMERIC:
            hint = " (CEL does not mix int and double in arithmetic: convert with double(x) or int(x))"
        raise self.fail(node, f"`{op}` is not defined for {a} and {b}{hint}")

    def call(self, node: Call, scope: _Scope) -> Type:
        name, args = node.name, node.args
        if node.target is None:
            return self.function(node, scope)
        if name in _MACROS:
            return self.macro(node, scope)
        target = self.check(node.target, scope).non_null()
        arg_types = [self.check(arg, scope).non_null() for arg in args]
        if name == "size" and not args and target.kind in ("string", "bytes", "list", "map", "struct", "dyn"):
            return INT
        if name in _STRING_METHODS and target.kind in ("string", "dyn"):
            self.arity(node, 1)
            if arg_types[0].kind not in ("string", "dyn"):
                raise self.fail(args[0], f"{name}() takes a string, not {arg_types[0]}")
            return BOOL
        if target.kind in ("timestamp", "dyn") and name in _TIME_PARTS and len(args) <= 1:
            return INT
        if target.kind == "duration" and name in _DURATION_PARTS and not args:
            return INT
        raise self.fail(node, f"unknown function {name}() on {_a(target)}")

    def function(self, node: Call, scope: _Scope) -> Type:
        name, args = node.name, node.args
        if name == "has":
            self.arity(node, 1)
            (arg,) = args
            if not isinstance(arg, Select):
                raise self.fail(node, "has() takes a field selection, such as has(facts.model.risk_tier)")
            operand, path, label = self.chain_or_value(arg.operand, scope)
            self.field(arg, operand, arg.name, path, label)
            if path is not None:
                self.paths.add((*path, arg.name) if operand.non_null().kind == "struct" else path)
            return BOOL
        arg_types = [self.check(arg, scope).non_null() for arg in args]
        if name == "size":
            self.arity(node, 1)
            if arg_types[0].kind not in ("string", "bytes", "list", "map", "struct", "dyn"):
                raise self.fail(node, f"size() takes a string, bytes, a list or a map, not {arg_types[0]}")
            return INT
        if name in _CONVERSIONS:
            self.arity(node, 1)
            allowed = _CONVERTS_FROM.get(name)
            if allowed is not None and arg_types[0].kind not in allowed | {"dyn"}:
                raise self.fail(node, f"{name}() cannot convert {_a(arg_types[0])}")
            return _CONVERSIONS[name]
        if name == "type":
            self.arity(node, 1)
            return DYN
        if name == "matches":
            self.arity(node, 2)
            return BOOL
        raise self.fail(node, f"unknown function {name}()")

    def macro(self, node: Call, scope: _Scope) -> Type:
        assert node.target is not None
        name, args = node.name, node.args
        target = self.check(node.target, scope).non_null()
        if target.kind == "list":
            var_type = target.elem or DYN
        elif target.kind in ("map", "struct"):
            var_type = STRING  # comprehensions over a map bind its keys
        elif target.kind == "dyn":
            var_type = DYN
        else:
            raise self.fail(node, f"{name}() needs a list or a map, not {_a(target)}")
        if len(args) not in ((2, 3) if name == "map" else (2,)) or not isinstance(args[0], Ident):
            shape = f"{name}(x, predicate)" if name != "map" else "map(x, expression) or map(x, filter, expression)"
            raise self.fail(node, f"{name}() is a macro: write it as list.{shape}")
        inner = scope.child(args[0].name, var_type)
        if name == "map":
            if len(args) == 3:
                self.expect_bool(args[1], inner, "the filter of map()")
            return list_of(self.check(args[-1], inner))
        self.expect_bool(args[1], inner, f"the predicate of {name}()")
        return list_of(var_type) if name == "filter" else BOOL

    def arity(self, node: Call, count: int) -> None:
        if len(node.args) != count:
            raise self.fail(
                node, f"{node.name}() takes {count} argument{'s' if count != 1 else ''}, not {len(node.args)}"
            )


def _start(node: Node) -> int:
    """Where the text of ``node`` begins (a field read's own position is its name's)."""
    if isinstance(node, Select | Index):
        return _start(node.operand)
    if isinstance(node, Call) and node.target is not None:
        return _start(node.target)
    if isinstance(node, Binary):
        return _start(node.left)
    if isinstance(node, Cond):
        return _start(node.cond)
    return node.pos


def _comparable(a: Type, b: Type, *, equality: bool) -> bool:
    if "dyn" in (a.kind, b.kind):
        return True
    if equality and "null" in (a.kind, b.kind):
        return True
    if a.kind in NUMERIC and b.kind in NUMERIC:
        return True
    if a.kind != b.kind:
        return equality and {a.kind, b.kind} <= {"map", "struct"}
    return equality or a.kind in ("string", "bytes", "bool", "timestamp", "duration")


def _common(types: list[Type]) -> Type:
    """The one type of a list's items or a conditional's branches; dyn when they differ."""
    kinds = {t.non_null().kind for t in types if t.kind != "null"}
    if len(kinds) == 1:
        first = next(t for t in types if t.kind != "null")
        return first.or_null() if any(t.nullable or t.kind == "null" for t in types) else first
    return NULL if not kinds else DYN


def _a(type_: Type) -> str:
    text = str(type_)
    return ("an " if text[0] in "aeiou" else "a ") + text


def _known(names: Mapping[str, Type]) -> str:
    return "the names available are " + ", ".join(sorted(names))


def _choices(fields: Mapping[str, Any]) -> str:
    return ", ".join(sorted(fields))


def _string_literal(source: str, node: Lit) -> str | None:
    """The value of a simple quoted string literal (no escapes, no prefix), else None."""
    match = re.compile(r"'([^'\\\n]*)'|\"([^\"\\\n]*)\"").match(source, node.pos)
    if match is None:
        return None
    return match.group(1) if match.group(1) is not None else match.group(2)


def check(source: str, root: str, root_type: Type) -> tuple[Type, frozenset[Path]]:
    """Parse and type-check ``source`` with one declared variable; returns its type and the fact paths it reads."""
    checker = _Checker(source, root)
    type_ = checker.check(parse(source), _Scope({root: root_type}))
    return type_, frozenset(checker.paths)


# -- compile and evaluate ---------------------------------------------------------------------------

_CEL_POSITION = re.compile(r"<input>:(\d+):(\d+): (.*)")


@dataclass(frozen=True)
class Compiled:
    """A checked expression, ready to evaluate; ``paths``: the facts it reads."""

    source: str
    program: _cel.Program
    paths: frozenset[Path]


def compile_expression(source: str, *, root: str, root_type: Type) -> Compiled:
    """Compile and check a policy expression; raises :class:`CelError` with the position of the first error."""
    if not source.strip():
        raise CelError("the expression is empty", 1, 1)
    try:
        program = _cel.compile(source)
    except ValueError as exc:
        match = _CEL_POSITION.search(str(exc))
        if match is None:
            raise CelError(str(exc).splitlines()[0], 1, 1) from None
        raise CelError(match.group(3), int(match.group(1)), int(match.group(2))) from None
    type_, paths = check(source, root, root_type)
    if type_.non_null().kind not in ("bool", "dyn"):
        raise CelError(f"the expression must be true or false (a bool), but it is {_a(type_)}", 1, 1)
    return Compiled(source, program, paths)


@dataclass(frozen=True)
class EvalError:
    """An expression that could not be evaluated, and why (a gate counts it as a failure)."""

    reason: str


Outcome = bool | EvalError

_FIRST_SENTENCE = re.compile(r"^(.*?[.:])(\s|$)")


def context_for(root: str, document: Mapping[str, Any]) -> _cel.Context:
    """A context for evaluating many expressions over one document (built once: it is the costly part)."""
    return _cel.Context({root: document})


def evaluate(compiled: Compiled, context: _cel.Context) -> Outcome:
    """True or False, or the reason the expression could not be decided. Never raises."""
    try:
        value = compiled.program.execute(context)
    except KeyError as exc:
        return EvalError(f"reads {exc.args[0]!r}, which is missing")
    except ZeroDivisionError:
        return EvalError("divides by zero")
    except IndexError as exc:
        return EvalError(f"reads past the end of a list ({exc})")
    except Exception as exc:  # the evaluator's TypeError, RuntimeError, OverflowError, ...
        text = str(exc).split(". CEL", 1)[0].split(". Check", 1)[0]
        return EvalError(f"{text.strip()} (a fact it reads may be null or of another type)")
    if isinstance(value, bool):
        return value
    return EvalError(f"gave {type(value).__name__} {value!r:.60}, not true or false")


def prune(document: Mapping[str, Any], paths: frozenset[Path]) -> dict[str, Any]:
    """The part of ``document`` the paths read (each path's whole subtree), for a cheaper context.

    Paths start with the root variable's name, which is not a key of ``document``.
    """
    tree: dict[str, Any] = {}
    for path in sorted(paths, key=len):  # a shorter path takes its whole subtree: longer ones add nothing
        if len(path) == 1:
            return dict(document)
        node = tree
        for part in path[1:-1]:
            child = node.setdefault(part, {})
            if child is True:
                break
            node = child
        else:
            node[path[-1]] = True
    return _take(document, tree)


def _take(document: Mapping[str, Any], tree: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, sub in tree.items():
        if key in document:
            value = document[key]
            out[key] = value if sub is True or not isinstance(value, Mapping) else _take(value, sub)
    return out
