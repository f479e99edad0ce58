"""Go's ``text/template``, the part notification templates use, executed safely.

Argo Rollouts renders notification templates with Go's ``text/template`` and sprig's
functions; the same ConfigMap must render the same text here.  This module parses a
template into an immutable tree and executes it over JSON-like data (mappings, lists,
strings, numbers, bools, None).  Nothing in a template reaches Python: ``.a.b`` is a
key lookup in a mapping, functions come from a fixed table
(:data:`~progressive.core._template_funcs.FUNCTIONS`), and there is no way to call a
method, read a file, the environment or a clock.

Supported::

    text {{ pipeline }} {{- trimmed -}} {{/* comment */}}
    {{ if p }} .. {{ else if p }} .. {{ else }} .. {{ end }}       (and "with", "else with")
    {{ range p }} .. {{ else }} .. {{ end }}     {{ range $i, $e := p }}  {{ break }} {{ continue }}
    {{ $x := p }}  {{ $x = p }}  $  $x.field  .field.sub  (pipeline).field
    pipeline := command { "|" command }    command := operand { operand }  (a function call
    when the first operand is a function name; a pipeline's value is its last argument)
    operands: "string" `raw` 'c' 12 0x1f 1.5e3 true false nil . .a.b $v $v.a (pipeline) fn

Not supported, each a :class:`TemplateError` naming it: ``define``, ``template`` and
``block`` (a notification template is one text), method calls, and functions outside
the table.  Differences from Go, on the lenient side: a field of a missing value is
missing (Go errors on an explicit null), and numbers compare across int and float.
Integers print as integers (Go decodes JSON numbers into float64 and prints
``1e+06``).

Bounds (module constants): :data:`MAX_SOURCE` characters of text, :data:`MAX_NODES`
nodes, :data:`MAX_DEPTH` levels of blocks and parentheses; executing, at most
:data:`MAX_STEPS` steps (nodes, fields, iterations, and what functions build) and
:data:`MAX_OUTPUT` characters of output, so no template can loop or grow for ever.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from ..errors import RenderError, TemplateError
from ._template_funcs import FUNCTIONS, TemplateFailure, go_print, truth, type_name

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_OUTPUT",
    "MAX_SOURCE",
    "MAX_STEPS",
    "GoTemplate",
]

MAX_SOURCE: Final = 64 * 1024
MAX_NODES: Final = 20_000
MAX_DEPTH: Final = 50
MAX_STEPS: Final = 200_000
MAX_OUTPUT: Final = 256 * 1024

_KEYWORDS: Final = frozenset(
    {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}
)
_LAZY: Final = frozenset({"and", "or"})
_ESCAPES: Final = dict(zip("abfnrtv\\\"'", "\a\b\f\n\r\t\v\\\"'", strict=True))
_ESCAPE_RE: Final = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)")
_NUMBER_RE: Final = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+"
    r"|(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9_]+)?)"
)
_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VAR_RE: Final = re.compile(r"\$[A-Za-z0-9_]*")
_CHAR_RE: Final = re.compile(r"'(\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|[0-7]{3}|.)|[^\\'\n])'")
_SPACE: Final = " \t\r\n"
_SPACES: Final = frozenset(_SPACE)


# -- tokens ----------------------------------------------------------------------------------


class _Token(NamedTuple):
    kind: str  # field dot var string number bool nil ident | ( ) := = ,
    value: object
    pos: int
    spaced: bool  # whitespace before it


@dataclass(frozen=True, slots=True)
class _Text:
    text: str


@dataclass(frozen=True, slots=True)
class _ActionItem:
    tokens: tuple[_Token, ...]
    pos: int


def _where(source: str, pos: int) -> str:
    line = source.count("\n", 0, pos) + 1
    column = pos - source.rfind("\n", 0, pos)
    return f"{line}:{column}"


def _unescape(m: re.Match[str]) -> str:
    esc = m.group(1)
    if len(esc) == 1:
        if esc not in _ESCAPES:
            raise ValueError(f"unknown escape sequence \\{esc}")
        return _ESCAPES[esc]
    return chr(int(esc, 8) if esc[0] in "01234567" else int(esc[1:], 16))


class _Lexer:
    def __init__(self, name: str, source: str) -> None:
        self.name, self.source = name, source

    def error(self, message: str, pos: int) -> TemplateError:
        return TemplateError(f"template {self.name}:{_where(self.source, pos)}: {message}")

    def items(self) -> list[_Text | _ActionItem]:
        src, out, pos = self.source, list[_Text | _ActionItem](), 0
        trim_next = False
        while pos < len(src):
            start = src.find("{{", pos)
            text = src[pos:] if start < 0 else src[pos:start]
            trim = src[start + 2 : start + 3] == "-" and src[start + 3 : start + 4] in _SPACES
            if trim_next:
                text = text.lstrip(_SPACE)
            if trim:
                text = text.rstrip(_SPACE)
            if text:
                out.append(_Text(text))
            if start < 0:
                break
            inner = start + (4 if trim else 2)
            if src.startswith("/*", inner):
                pos, trim_next = self._comment(start, inner)
                continue
            tokens, pos, trim_next = self._action(inner)
            out.append(_ActionItem(tuple(tokens), start))
        return out

    def _comment(self, start: int, inner: int) -> tuple[int, bool]:
        src = self.source
        opening = src.index("/*", inner)
        end = src.find("*/", opening + 2)
        if end < 0:
            raise self.error("unclosed comment", start)
        rest = end + 2
        if src.startswith(" -}}", rest) or src.startswith("\t-}}", rest):
            return rest + 4, True
        if src.startswith("}}", rest):
            return rest + 2, False
        raise self.error("comment ends before closing delimiter", start)

    def _action(self, pos: int) -> tuple[list[_Token], int, bool]:
        src, tokens = self.source, list[_Token]()
        begin = pos
        while True:
            spaced = False
            while pos < len(src) and src[pos] in _SPACE:
                pos, spaced = pos + 1, True
            if pos >= len(src):
                raise self.error("unclosed action", begin - 2)
            if spaced and src.startswith("-}}", pos):
                return tokens, pos + 3, True
            if src.startswith("}}", pos):
                return tokens, pos + 2, False
            token, pos = self._token(pos, spaced or not tokens)
            tokens.append(token)

    def _token(self, pos: int, spaced: bool) -> tuple[_Token, int]:
        src = self.source
        c = src[pos]
        if c in "|(),=":
            return _Token(c, c, pos, spaced), pos + 1
        if src.startswith(":=", pos):
            return _Token(":=", ":=", pos, spaced), pos + 2
        if c == '"':
            end = pos + 1
            while end < len(src) and src[end] != '"':
                if src[end] == "\n":
                    break
                end += 2 if src[end] == "\\" else 1
            if end >= len(src) or src[end] != '"':
                raise self.error("unterminated quoted string", pos)
            try:
                value = _ESCAPE_RE.sub(_unescape, src[pos + 1 : end])
            except ValueError as exc:
                raise self.error(str(exc), pos) from None
            return _Token("string", value, pos, spaced), end + 1
        if c == "`":
            end = src.find("`", pos + 1)
            if end < 0:
                raise self.error("unterminated raw quoted string", pos)
            return _Token("string", src[pos + 1 : end], pos, spaced), end + 1
        if c == "'":
            m = _CHAR_RE.match(src, pos)
            if m is None:
                raise self.error("invalid character constant", pos)
            try:
                char = _ESCAPE_RE.sub(_unescape, m.group(1))
            except ValueError as exc:
                raise self.error(str(exc), pos) from None
            return _Token("number", ord(char), pos, spaced), m.end()
        if c == "$":
            m = _VAR_RE.match(src, pos)
            assert m is not None
            return _Token("var", m.group(), pos, spaced), m.end()
        if c == "." and not src[pos + 1 : pos + 2].isdigit():
            m = _NAME_RE.match(src, pos + 1)
            if m is None:
                return _Token("dot", ".", pos, spaced), pos + 1
            return _Token("field", m.group(), pos, spaced), m.end()
        if (
            c.isdigit()
            or c in "+-."
            and src[pos + 1 : pos + 2].isdigit()
            or c in "+-"
            and src[pos + 1 : pos + 2] == "."
        ):
            m = _NUMBER_RE.match(src, pos)
            if m is None or not m.group().strip("+-"):
                raise self.error(f"bad number syntax: {src[pos : pos + 10]!r}", pos)
            return _Token("number", self._number(m.group(), pos), pos, spaced), m.end()
        m = _NAME_RE.match(src, pos)
        if m is not None:
            word = m.group()
            if word in ("true", "false"):
                return _Token("bool", word == "true", pos, spaced), m.end()
            if word == "nil":
                return _Token("nil", None, pos, spaced), m.end()
            return _Token("ident", word, pos, spaced), m.end()
        raise self.error(f"unexpected {c!r} in action", pos)

    def _number(self, text: str, pos: int) -> int | float:
        body = text.lstrip("+-")
        try:
            if body[:2].lower() in ("0x", "0o", "0b") or not any(c in body for c in ".eE"):
                if re.fullmatch(r"0[0-7_]+", body):
                    value: int | float = int(body, 8)
                else:
                    value = int(body, 0)
                return -value if text.startswith("-") else value
            return float(text)
        except ValueError:
            raise self.error(f"bad number syntax: {text!r}", pos) from None


# -- the tree --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Lit:
    pos: int
    value: object


@dataclass(frozen=True, slots=True)
class _Dot:
    pos: int


@dataclass(frozen=True, slots=True)
class _Nil:
    pos: int


@dataclass(frozen=True, slots=True)
class _Field:
    pos: int
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Var:
    pos: int
    name: str
    names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Ident:
    pos: int
    name: str


@dataclass(frozen=True, slots=True)
class _Chain:
    pos: int
    node: _Pipe
    names: tuple[str, ...]


_Operand = _Lit | _Dot | _Nil | _Field | _Var | _Ident | _Chain


@dataclass(frozen=True, slots=True)
class _Command:
    pos: int
    args: tuple[_Operand | _Pipe, ...]


@dataclass(frozen=True, slots=True)
class _Pipe:
    pos: int
    commands: tuple[_Command, ...]
    decl: tuple[str, ...] = ()
    assign: bool = False


@dataclass(frozen=True, slots=True)
class _Action:
    pos: int
    pipe: _Pipe


@dataclass(frozen=True, slots=True)
class _Cond:
    pos: int
    kind: str  # "if" or "with"
    branches: tuple[tuple[_Pipe, tuple[_Node, ...]], ...]
    otherwise: tuple[_Node, ...] | None


@dataclass(frozen=True, slots=True)
class _Range:
    pos: int
    pipe: _Pipe
    body: tuple[_Node, ...]
    otherwise: tuple[_Node, ...] | None


@dataclass(frozen=True, slots=True)
class _Jump:
    pos: int
    kind: str  # "break" or "continue"


_Node = _Text | _Action | _Cond | _Range | _Jump
_Ending = tuple[str, tuple[_Token, ...], int]  # "end" / "else", the rest, where


class _Parser:
    def __init__(self, lexer: _Lexer) -> None:
        self.lexer = lexer
        self.items = lexer.items()
        self.i = 0
        self.nodes = 0
        self.depth = 0
        self.ranges = 0
        self.scope: list[str] = ["$"]

    def error(self, message: str, pos: int) -> TemplateError:
        return self.lexer.error(message, pos)

    def count(self, pos: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.error(f"template too large (more than {MAX_NODES} nodes)", pos)

    def parse(self) -> tuple[_Node, ...]:
        nodes, ending = self.list()
        if ending is not None:
            raise self.error(f"unexpected {{{{{ending[0]}}}}}", ending[2])
        return nodes

    def list(self) -> tuple[tuple[_Node, ...], _Ending | None]:
        nodes: list[_Node] = []
        while self.i < len(self.items):
            item = self.items[self.i]
            self.i += 1
            if isinstance(item, _Text):
                self.count(0)
                nodes.append(item)
                continue
            tokens, pos = item.tokens, item.pos
            if not tokens:
                raise self.error("missing value for command", pos)
            first = tokens[0]
            word = first.value if first.kind == "ident" else None
            if word in ("end", "else"):
                return tuple(nodes), (str(word), tokens[1:], pos)
            self.count(pos)
            if word in ("if", "with"):
                nodes.append(self.conditional(str(word), tokens[1:], pos))
            elif word == "range":
                nodes.append(self.range(tokens[1:], pos))
            elif word in ("break", "continue"):
                if not self.ranges:
                    raise self.error(f"{{{{{word}}}}} outside {{{{range}}}}", pos)
                if len(tokens) > 1:
                    raise self.error(f"unexpected {tokens[1].value!r} in {word}", pos)
                nodes.append(_Jump(pos, str(word)))
            elif word in ("define", "template", "block"):
                raise self.error(
                    f"{{{{{word}}}}} is not supported: a notification template is one text",
                    pos,
                )
            else:
                nodes.append(_Action(pos, self.pipeline(tokens, pos, declare=True)))
        return tuple(nodes), None

    def block(self) -> tuple[tuple[_Node, ...], _Ending | None]:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"blocks nested too deeply (limit {MAX_DEPTH})", 0)
        mark = len(self.scope)
        try:
            return self.list()
        finally:
            del self.scope[mark:]
            self.depth -= 1

    def closing(self, kind: str, ending: _Ending | None, pos: int) -> None:
        if ending is None:
            raise self.error(f"unexpected EOF: {{{{{kind}}}}} has no {{{{end}}}}", pos)
        if ending[0] != "end" or ending[1]:
            raise self.error(f"expected {{{{end}}}} for {{{{{kind}}}}}", ending[2])

    def conditional(self, kind: str, tokens: Sequence[_Token], pos: int) -> _Cond:
        mark = len(self.scope)
        branches = []
        pipe = self.pipeline(tokens, pos, declare=True)
        body, ending = self.block()
        branches.append((pipe, body))
        try:
            while ending is not None and ending[0] == "else":
                rest, at = ending[1], ending[2]
                if rest and rest[0].kind == "ident" and rest[0].value == kind:
                    pipe = self.pipeline(rest[1:], at, declare=True)
                    body, ending = self.block()
                    branches.append((pipe, body))
                    continue
                if rest:
                    raise self.error(f"unexpected {rest[0].value!r} after else", at)
                otherwise, ending = self.block()
                self.closing(kind, ending, pos)
                return _Cond(pos, kind, tuple(branches), otherwise)
            self.closing(kind, ending, pos)
            return _Cond(pos, kind, tuple(branches), None)
        finally:
            del self.scope[mark:]

    def range(self, tokens: Sequence[_Token], pos: int) -> _Range:
        mark = len(self.scope)
        pipe = self.pipeline(tokens, pos, declare=True, variables=2)
        self.ranges += 1
        try:
            body, ending = self.block()
        finally:
            self.ranges -= 1
        otherwise = None
        if ending is not None and ending[0] == "else" and not ending[1]:
            del self.scope[mark:]  # the range's variables are not the else's
            otherwise, ending = self.block()
        self.closing("range", ending, pos)
        del self.scope[mark:]
        return _Range(pos, pipe, body, otherwise)

    def pipeline(
        self, tokens: Sequence[_Token], pos: int, *, declare: bool = False, variables: int = 1
    ) -> _Pipe:
        decl: list[str] = []
        assign = False
        tokens = list(tokens)
        if declare:
            j = 0
            names = []
            while j < len(tokens) and tokens[j].kind == "var":
                names.append(str(tokens[j].value))
                if j + 1 < len(tokens) and tokens[j + 1].kind == "," and len(names) < variables:
                    j += 2
                    continue
                j += 1
                break
            if names and j < len(tokens) and tokens[j].kind in (":=", "="):
                assign = tokens[j].kind == "="
                for name in names:
                    if assign and name not in self.scope:
                        raise self.error(f"undefined variable {name!r}", tokens[0].pos)
                decl = names
                tokens = tokens[j + 1 :]
        commands: list[_Command] = []
        current: list[_Token] = []
        depth = 0
        for token in [*tokens, _Token("|", "|", tokens[-1].pos if tokens else pos, True)]:
            depth += token.kind == "("
            depth -= token.kind == ")"
            if token.kind == "|" and depth == 0:
                if not current:
                    raise self.error("missing value for command", token.pos)
                commands.append(self.command(current))
                current = []
            else:
                current.append(token)
        if depth:
            raise self.error("unclosed left paren", pos)
        if not commands:
            raise self.error("missing value for command", pos)
        if not assign:
            self.scope.extend(decl)
        return _Pipe(pos, tuple(commands), tuple(decl), assign)

    def command(self, tokens: Sequence[_Token]) -> _Command:
        args: list[_Operand | _Pipe] = []
        j = 0
        while j < len(tokens):
            if args and not tokens[j].spaced and tokens[j].kind != "(":
                raise self.error(f"missing space before {tokens[j].value!r}", tokens[j].pos)
            operand, j = self.operand(tokens, j)
            args.append(operand)
        return _Command(tokens[0].pos, tuple(args))

    def fields(self, tokens: Sequence[_Token], j: int) -> tuple[tuple[str, ...], int]:
        names = []
        while j < len(tokens) and tokens[j].kind == "field" and not tokens[j].spaced:
            names.append(str(tokens[j].value))
            j += 1
        return tuple(names), j

    def operand(self, tokens: Sequence[_Token], j: int) -> tuple[_Operand | _Pipe, int]:
        token = tokens[j]
        self.count(token.pos)
        kind, pos = token.kind, token.pos
        if kind == "(":
            depth, k = 0, j
            for k in range(j, len(tokens)):
                depth += tokens[k].kind == "("
                depth -= tokens[k].kind == ")"
                if depth == 0:
                    break
            if depth:
                raise self.error("unclosed left paren", pos)
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(f"parentheses nested too deeply (limit {MAX_DEPTH})", pos)
            try:
                inner = self.pipeline(tokens[j + 1 : k], pos)
            finally:
                self.depth -= 1
            names, end = self.fields(tokens, k + 1)
            return (_Chain(pos, inner, names) if names else inner), end
        if kind == ")":
            raise self.error("unexpected right paren", pos)
        if kind == "field":
            names, end = self.fields(tokens, j + 1)
            return _Field(pos, (str(token.value), *names)), end
        if kind == "var":
            name = str(token.value)
            if name not in self.scope:
                raise self.error(f"undefined variable {name!r}", pos)
            names, end = self.fields(tokens, j + 1)
            return _Var(pos, name, names), end
        if kind == "dot":
            return _Dot(pos), j + 1
        if kind in ("string", "number", "bool"):
            return _Lit(pos, token.value), j + 1
        if kind == "nil":
            return _Nil(pos), j + 1
        if kind == "ident":
            name = str(token.value)
            if name in _KEYWORDS:
                raise self.error(f"unexpected {name!r} in command", pos)
            if name not in FUNCTIONS and name not in _LAZY:
                raise self.error(f"function {name!r} not defined", pos)
            return _Ident(pos, name), j + 1
        raise self.error(f"unexpected {token.value!r} in command", pos)


# -- executing -------------------------------------------------------------------------------


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Failed(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


_NO_FINAL: Final = object()


class _Executor:
    def __init__(self, data: object, max_output: int) -> None:
        self.out: list[str] = []
        self.size = 0
        self.steps = 0
        self.max_output = max_output
        self.vars: list[tuple[str, object]] = [("$", data)]
        self.pos = 0

    def charge(self, steps: int = 1) -> None:
        self.steps += steps
        if self.steps > MAX_STEPS:
            raise _Failed(f"template takes more than {MAX_STEPS} steps", self.pos)

    def grow(self, size: int) -> None:
        if size > self.max_output:
            raise _Failed(f"a value longer than {self.max_output} characters", self.pos)
        self.charge(size // 64 + 1)

    def write(self, text: str) -> None:
        self.size += len(text)
        if self.size > self.max_output:
            raise _Failed(f"output longer than {self.max_output} characters", self.pos)
        self.out.append(text)

    def walk(self, dot: object, nodes: Sequence[_Node]) -> None:
        for node in nodes:
            self.charge()
            if isinstance(node, _Text):
                self.write(node.text)
            elif isinstance(node, _Action):
                self.pos = node.pos
                value = self.pipeline(dot, node.pipe)
                if not node.pipe.decl:
                    self.write(go_print(value))
            elif isinstance(node, _Cond):
                self.conditional(dot, node)
            elif isinstance(node, _Range):
                self.range(dot, node)
            else:
                raise _Break() if node.kind == "break" else _Continue()

    def conditional(self, dot: object, node: _Cond) -> None:
        mark = len(self.vars)
        try:
            for pipe, body in node.branches:
                self.pos = pipe.pos
                value = self.pipeline(dot, pipe)
                if truth(value):
                    self.walk(value if node.kind == "with" else dot, body)
                    return
            if node.otherwise is not None:
                self.walk(dot, node.otherwise)
        finally:
            del self.vars[mark:]

    def range(self, dot: object, node: _Range) -> None:
        self.pos = node.pos
        value = self.pipeline(dot, _Pipe(node.pipe.pos, node.pipe.commands))
        items: Iterable[tuple[object, object]]
        if isinstance(value, list | tuple):
            items = enumerate(value)
        elif isinstance(value, Mapping):
            items = ((k, value[k]) for k in sorted(value, key=str))
        elif isinstance(value, int) and not isinstance(value, bool):
            items = ((i, i) for i in range(value))
        elif value is None:
            items = ()
        else:
            raise _Failed(f"range can't iterate over {go_print(value)}", node.pos)
        decl = node.pipe.decl
        empty = True
        for key, element in items:
            empty = False
            self.charge()
            mark = len(self.vars)
            if len(decl) == 1:
                self.bind(decl[0], element, node.pipe.assign)
            elif len(decl) == 2:
                self.bind(decl[0], key, node.pipe.assign)
                self.bind(decl[1], element, node.pipe.assign)
            try:
                self.walk(element, node.body)
            except _Continue:
                pass
            except _Break:
                break
            finally:
                del self.vars[mark:]
        if empty and node.otherwise is not None:
            self.walk(dot, node.otherwise)

    def bind(self, name: str, value: object, assign: bool) -> None:
        if not assign:
            self.vars.append((name, value))
            return
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        raise _Failed(f"undefined variable {name!r}", self.pos)

    def variable(self, name: str) -> object:
        for known, value in reversed(self.vars):
            if known == name:
                return value
        raise _Failed(f"undefined variable {name!r}", self.pos)

    def pipeline(self, dot: object, pipe: _Pipe) -> object:
        value: object = _NO_FINAL
        for command in pipe.commands:
            value = self.command(dot, command, value)
        for name in pipe.decl:
            self.bind(name, value, pipe.assign)
        return value

    def command(self, dot: object, command: _Command, final: object) -> object:
        self.charge()
        first, rest = command.args[0], command.args[1:]
        if isinstance(first, _Ident):
            return self.call(dot, first, rest, final)
        if rest or final is not _NO_FINAL:
            if isinstance(first, _Field | _Var | _Chain) and first.names:
                raise _Failed(f"{first.names[-1]} is not a method but has arguments", first.pos)
            raise _Failed(f"can't give argument to non-function {self.show(first)}", first.pos)
        if isinstance(first, _Nil):
            raise _Failed("nil is not a command", first.pos)
        return self.argument(dot, first)

    def show(self, operand: _Operand | _Pipe) -> str:
        if isinstance(operand, _Lit):
            return go_print(operand.value)
        return "(pipeline)" if isinstance(operand, _Pipe) else "."

    def argument(self, dot: object, operand: _Operand | _Pipe) -> object:
        if isinstance(operand, _Lit):
            return operand.value
        if isinstance(operand, _Dot):
            return dot
        if isinstance(operand, _Nil):
            return None
        if isinstance(operand, _Field):
            return self.fields(dot, operand.names, operand.pos)
        if isinstance(operand, _Var):
            return self.fields(self.variable(operand.name), operand.names, operand.pos)
        if isinstance(operand, _Chain):
            return self.fields(self.pipeline(dot, operand.node), operand.names, operand.pos)
        if isinstance(operand, _Ident):
            return self.call(dot, operand, (), _NO_FINAL)
        return self.pipeline(dot, operand)

    def fields(self, value: object, names: Sequence[str], pos: int) -> object:
        for name in names:
            self.charge()
            if isinstance(value, Mapping):
                value = value.get(name)
            elif value is not None:
                raise _Failed(f"can't evaluate field {name} in type {type_name(value)}", pos)
        return value

    def call(
        self, dot: object, ident: _Ident, args: Sequence[_Operand | _Pipe], final: object
    ) -> object:
        self.pos = ident.pos
        if ident.name in _LAZY:
            if not args and final is _NO_FINAL:
                raise _Failed(f"wrong number of args for {ident.name}: want at least 1", ident.pos)
            value: object = None
            for arg in args:
                value = self.argument(dot, arg)
                if truth(value) == (ident.name == "or"):
                    return value
            return final if final is not _NO_FINAL else value
        values = [self.argument(dot, arg) for arg in args]
        if final is not _NO_FINAL:
            values.append(final)
        self.pos = ident.pos
        try:
            return FUNCTIONS[ident.name](self.grow, values)
        except TemplateFailure as exc:
            raise _Failed(f"error calling {ident.name}: {exc}", ident.pos) from None


def _operand_names(operand: _Operand | _Pipe, at_root: bool) -> Iterator[str]:
    if isinstance(operand, _Field) and at_root:
        yield operand.names[0]
    elif isinstance(operand, _Var) and operand.name == "$" and operand.names:
        yield operand.names[0]
    elif isinstance(operand, _Chain):
        yield from _pipe_names(operand.node, at_root)
    elif isinstance(operand, _Pipe):
        yield from _pipe_names(operand, at_root)


def _pipe_names(pipe: _Pipe, at_root: bool) -> Iterator[str]:
    for command in pipe.commands:
        for arg in command.args:
            yield from _operand_names(arg, at_root)


def _root_names(nodes: Sequence[_Node], at_root: bool) -> Iterator[str]:
    """The first names of the field chains read from the data itself (``.x`` where dot
    is the data, and ``$.x`` anywhere)."""
    for node in nodes:
        if isinstance(node, _Action):
            yield from _pipe_names(node.pipe, at_root)
        elif isinstance(node, _Cond):
            for pipe, body in node.branches:
                yield from _pipe_names(pipe, at_root)
                yield from _root_names(body, at_root and node.kind == "if")
            yield from _root_names(node.otherwise or (), at_root)
        elif isinstance(node, _Range):
            yield from _pipe_names(node.pipe, at_root)
            yield from _root_names(node.body, False)
            yield from _root_names(node.otherwise or (), at_root)


@dataclass(frozen=True)
class GoTemplate:
    """A parsed template; an immutable value, safe to share and render concurrently.

    Constructing one parses ``source`` and raises :class:`TemplateError` when it is
    invalid or uses what is not supported.
    """

    name: str
    source: str
    _root: tuple[_Node, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.source, str):
            raise TemplateError(f"template {self.name}: expected text, got {type(self.source)}")
        if len(self.source) > MAX_SOURCE:
            raise TemplateError(f"template {self.name}: longer than {MAX_SOURCE} characters")
        object.__setattr__(self, "_root", _Parser(_Lexer(self.name, self.source)).parse())

    def data_names(self) -> frozenset[str]:
        """The top-level names the template reads from its data (``.rollout``,
        ``$.recipient``): what a caller checks against the variables it provides."""
        return frozenset(_root_names(self._root, True))

    def render(self, data: Mapping[str, object], *, max_output: int = MAX_OUTPUT) -> str:
        """The text, with ``data`` as ``.`` and ``$``.

        Raises:
            RenderError: a value a function refused, a field of a non-map, a bound
                reached; the message names the template, line and column.
        """
        executor = _Executor(data, max_output)
        try:
            executor.walk(data, self._root)
        except _Failed as exc:
            where = _where(self.source, exc.pos)
            raise RenderError(f"template {self.name}:{where}: {exc}") from None
        except (_Break, _Continue):  # the parser allows them only inside a range
            raise RenderError(f"template {self.name}: break or continue outside range") from None
        except RecursionError:
            raise RenderError(f"template {self.name}: data nested too deeply") from None
        return "".join(executor.out)
