"""A small, safe expression language for analysis ``successCondition``/``failureCondition``.

It implements the commonly used subset of `expr-lang/expr` (what Argo Rollouts evaluates
conditions with): a hand-written tokenizer, a Pratt parser building an immutable AST and
a tree-walking evaluator.  User text never reaches ``eval``/``compile``/``getattr``;
``a.b`` is only a key lookup on a mapping.

Grammar, with expr-lang's precedences (higher binds tighter)::

    expr    := binary [ "?" expr ":" expr ]
    binary  := unary { OP unary }   || or 10 | && and 15 | == != < <= > >= 20
               | in contains startsWith endsWith matches 20 (each also as "not in" ...)
               | + - 30 | * / % 60 | ** ^ 100 (right-assoc) | ?? 500 (nil-coalescing)
    unary   := ("!" | "not") expr@50 | ("-" | "+") expr@90 | postfix
    postfix := primary { "." NAME | "?." NAME | "[" expr "]" | "?.[" expr "]" }
    primary := INT | FLOAT | STRING | true | false | nil | NAME | "(" expr ")"
             | "[" [expr {"," expr} [","]] "]" | FUNC "(" [expr {"," expr}] ")"
             | PREDICATE "(" expr "," (expr | "{" expr "}") ")"
             | "#" | "." NAME                     (the element, inside a predicate)

Literals: ``12``, ``1_000``, ``0x1f``, ``0.5``, ``1e-3``, ``'s'``/``"s"`` (Go escapes),
`` `raw` ``; ``//`` and ``/* */`` comments.  Semantics follow expr-lang: ``/`` is float
division (``1/0`` is +Inf), ``%`` takes ints (Go sign rules), ``**`` gives a float, ints
are int64 (overflow is an error); ``&&``, ``||``, ``!`` and ``?:`` need bools; ordering
works on two numbers or two strings (else an error; NaN compares false); ``==`` is
numeric across int/float and false across other types; ``m.k``/``m["k"]`` on a mapping
is nil for a missing key, ``x?.k.j`` is nil when ``x`` is nil; indexes may be negative
(``result[-1]``), out of range is an error; ``x in nil`` is false.

Builtins: ``len`` (``len(nil)`` is 0), ``abs``, ``max``/``min`` (numbers and/or arrays;
nil when empty), ``sum``, ``mean``/``avg`` (0.0 when empty, as expr-lang), ``first``/
``last`` (nil when empty), ``asInt``/``asFloat`` (numbers and numeric strings, as in Argo
Rollouts), ``isNaN``, ``isInf``, ``isNil``, ``default(x, d)`` (``d`` when ``x`` is nil or
an empty array), and ``all any none one filter map count`` whose second argument is
evaluated per element, the element being ``#``: ``all(result, # < 1000)``.

Names: only ``names`` (default ``result``) and the builtins above exist; anything else
is an ExpressionError at parse time, so ``__import__('os')`` or ``open(...)`` never run.

Safety limits (module constants): 4096 source characters; 1024 AST nodes and nesting depth
64; 100_000 evaluation steps (every node visit, predicate iteration and element touched by
builtins, ``==``, ``in`` and concatenation); strings/arrays built by ``+`` at most 100_000
long; data compared by ``==`` (and ``in``) at most 100 levels deep (``_bounds.MAX_DEPTH``,
walked without recursion, so the outcome never depends on the interpreter's recursion
limit).  ``matches`` uses Python ``re`` guarded against catastrophic backtracking:
patterns of at most 256 characters, without backreferences, verbose mode, or a repeated
group that itself holds a quantifier or ``|``; subjects of at most 10_000 characters, and
``(len + 1) ** (quantifiers + 1) * 2 ** alternations`` at most 10**8.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final, NamedTuple, TypeGuard, final

from ..errors import EvaluationError, ExpressionError
from ._bounds import MAX_DEPTH as MAX_DATA_DEPTH

__all__ = ["EvaluationError", "Expression", "ExpressionError", "parse_condition"]

MAX_SOURCE_LENGTH: Final = 4096
MAX_NODES: Final = 1024
MAX_DEPTH: Final = 64
MAX_STEPS: Final = 100_000
MAX_LENGTH: Final = 100_000
MAX_PATTERN_LENGTH: Final = 256
MAX_SUBJECT_LENGTH: Final = 10_000
REGEX_BUDGET: Final = 10**8
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


class _Fail(Exception):
    """A value-level failure, re-raised as EvaluationError with the node's position."""


class _NilChain(Exception):
    """``x?.k`` met a nil ``x``: the whole member chain evaluates to nil."""


# --- tokens and AST -----------------------------------------------------------------

_TOKEN_RE: Final = re.compile(
    r"""(?P<ws>[ \t\r\n]+|//[^\n]*|/\*.*?\*/)
    |(?P<num>0[xX][0-9a-fA-F_]+|[0-9][0-9_]*(?:\.[0-9][0-9_]*)?(?:[eE][+-]?[0-9]+)?)
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    |(?P<op>\*\*|\?\?|\?\.(?![0-9])|==|!=|<=|>=|&&|\|\||[-+*/%^<>!?:()\[\]{},.\#])""",
    re.X | re.S,
)
_ESCAPE_RE: Final = re.compile(
    r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", re.S
)
_ESCAPES: Final = dict(zip("ntrabfv\\'\"`", "\n\t\r\a\b\f\v\\'\"`", strict=True))
_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT_TEXT: Final = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT: Final = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan)", re.I
)


class _Token(NamedTuple):
    kind: str  # num, str, name, op or eof
    text: str
    pos: int


@dataclass(frozen=True, slots=True)
class _Node:
    """An AST node: ``op`` is "lit" (``value``), "name" (``value``), "#", "[]", "?:",
    "." / "?." (index), "?" (a chain holding "?."), "neg", "pos", "!", a binary operator
    or a builtin's name."""

    pos: int
    op: str
    args: tuple[_Node, ...] = ()
    value: object = None


def _where(source: str, pos: int) -> str:
    col = pos - source.rfind("\n", 0, pos)
    line = f"line {source.count(chr(10), 0, pos) + 1}, " if "\n" in source else ""
    return f"{line}column {col}"


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(source):
        m = _TOKEN_RE.match(source, pos)
        if m is None or m.group() == "/" and source.startswith("/*", pos):
            what = (
                "unterminated comment"
                if m
                else "unterminated string"
                if source[pos] in "\"'`"
                else f"unexpected character {source[pos]!r}"
            )
            raise ExpressionError(f"{what} at {_where(source, pos)}")
        if m.lastgroup != "ws":
            tokens.append(_Token(m.lastgroup or "", m.group(), pos))
        pos = m.end()
    return [*tokens, _Token("eof", "", len(source))]


def _unescape(m: re.Match[str]) -> str:
    esc = m.group(1)
    if len(esc) > 1:
        return chr(int(esc, 8) if esc[0] in "01234567" else int(esc[1:], 16))
    if esc not in _ESCAPES:
        raise ValueError(f"invalid escape sequence \\{esc}")
    return _ESCAPES[esc]


# --- parser -------------------------------------------------------------------------

_BINARY: Final = {
    "||": 10,
    "or": 10,
    "&&": 15,
    "and": 15,
    "==": 20,
    "!=": 20,
    "<": 20,
    ">": 20,
    "<=": 20,
    ">=": 20,
    "in": 20,
    "matches": 20,
    "contains": 20,
    "startsWith": 20,
    "endsWith": 20,
    "+": 30,
    "-": 30,
    "*": 60,
    "/": 60,
    "%": 60,
    "**": 100,
    "^": 100,
    "??": 500,
}
_ALIASES: Final = {"or": "||", "and": "&&", "^": "**"}
_NEGATABLE: Final = frozenset({"in", "matches", "contains", "startsWith", "endsWith"})
_UNARY: Final = {"not": ("!", 50), "!": ("!", 50), "-": ("neg", 90), "+": ("pos", 90)}
_CONSTANTS: Final = {"true": True, "false": False, "nil": None}
_KEYWORDS: Final = frozenset({"and", "or", "not", *_CONSTANTS, *_NEGATABLE})
_PREDICATES: Final = frozenset({"all", "any", "none", "one", "filter", "map", "count"})


class _Parser:
    def __init__(self, source: str, names: frozenset[str]) -> None:
        self.source, self.names, self.tokens = source, names, _tokenize(source)
        self.i = self.depth = self.closures = 0

    def error(self, message: str, pos: int) -> ExpressionError:
        return ExpressionError(f"{message} at {_where(self.source, pos)}")

    def unexpected(self, tok: _Token) -> ExpressionError:
        what = f"unexpected {tok.text!r}" if tok.kind != "eof" else "unexpected end of expression"
        return self.error(what, tok.pos)

    def at(self, text: str, offset: int = 0) -> bool:
        tok = self.tokens[min(self.i + offset, len(self.tokens) - 1)]
        return tok.kind in ("op", "name") and tok.text == text

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return tok

    def expect(self, text: str) -> None:
        if not self.at(text):
            tok = self.tokens[self.i]
            found = repr(tok.text) if tok.kind != "eof" else "end of expression"
            raise self.error(f"expected {text!r} but found {found}", tok.pos)
        self.advance()

    def parse(self) -> _Node:
        if self.tokens[0].kind == "eof":
            raise ExpressionError("empty expression")
        node = self.expr(0)
        if self.tokens[self.i].kind != "eof":
            raise self.unexpected(self.tokens[self.i])
        return node

    def expr(self, min_prec: int) -> _Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(
                f"expression nested too deeply (limit {MAX_DEPTH})", self.tokens[self.i].pos
            )
        left = self.unary()
        while True:
            tok = self.tokens[self.i]
            negate = self.at("not") and any(self.at(op, 1) for op in _NEGATABLE)
            op_tok = self.tokens[self.i + negate]
            if op_tok.kind not in ("op", "name") or _BINARY.get(op_tok.text, -1) < min_prec:
                break
            self.i += 1 + negate
            prec = _BINARY[op_tok.text]
            right = self.expr(prec if op_tok.text in ("**", "^") else prec + 1)
            op = _ALIASES.get(op_tok.text, op_tok.text)
            if op == "matches" and right.op == "lit" and isinstance(right.value, str):
                try:
                    _regex(right.value)
                except _Fail as exc:
                    raise self.error(str(exc), right.pos) from None
            left = _Node(op_tok.pos, op, (left, right))
            left = _Node(tok.pos, "!", (left,)) if negate else left
        if min_prec == 0 and self.at("?"):
            pos = self.advance().pos
            then = self.expr(0)
            self.expect(":")
            left = _Node(pos, "?:", (left, then, self.expr(0)))
        self.depth -= 1
        return left

    def unary(self) -> _Node:
        tok = self.tokens[self.i]
        if tok.text in _UNARY and tok.kind != "str":
            self.advance()
            op, prec = _UNARY[tok.text]
            return _Node(tok.pos, op, (self.expr(prec),))
        return self.postfix(self.primary())

    def primary(self) -> _Node:
        tok = self.advance()
        if tok.kind == "num":
            return _Node(tok.pos, "lit", value=self.number(tok))
        if tok.kind == "str":
            try:
                text = tok.text[1:-1]
                text = text if tok.text[0] == "`" else _ESCAPE_RE.sub(_unescape, text)
            except ValueError as exc:
                raise self.error(f"invalid string literal: {exc}", tok.pos) from None
            return _Node(tok.pos, "lit", value=text)
        if tok.kind == "name" and tok.text in _CONSTANTS:
            return _Node(tok.pos, "lit", value=_CONSTANTS[tok.text])
        if tok.kind == "name" and tok.text not in _KEYWORDS:
            if self.at("("):
                return self.call(tok)
            if tok.text not in self.names:
                allowed = ", ".join(sorted(self.names)) or "none"
                raise self.error(f"unknown name {tok.text!r} (allowed: {allowed})", tok.pos)
            return _Node(tok.pos, "name", value=tok.text)
        if tok.text == "(" and tok.kind == "op":
            node = self.expr(0)
            self.expect(")")
            return node
        if tok.text == "[" and tok.kind == "op":
            return _Node(tok.pos, "[]", self.arguments("]"))
        if tok.text == "#" and tok.kind == "op":
            if not self.closures:
                raise self.error("'#' is only allowed inside a predicate", tok.pos)
            return _Node(tok.pos, "#")
        if tok.text == "." and self.closures and self.tokens[self.i].kind == "name":
            key = _Node(self.tokens[self.i].pos, "lit", value=self.advance().text)
            return _Node(tok.pos, ".", (_Node(tok.pos, "#"), key))
        raise self.unexpected(tok)

    def number(self, tok: _Token) -> int | float:
        text = tok.text
        try:
            value: int | float = (
                int(text, 16)
                if text[:2] in ("0x", "0X")
                else float(text)
                if any(c in text for c in ".eE")
                else int(text)
            )
        except ValueError:
            raise self.error(f"invalid number {text!r}", tok.pos) from None
        if math.isinf(value) if isinstance(value, float) else not _INT_MIN <= value <= _INT_MAX:
            raise self.error(f"number {text!r} out of range", tok.pos)
        return value

    def arguments(self, closing: str) -> tuple[_Node, ...]:
        items: list[_Node] = []
        while not self.at(closing):
            items.append(self.expr(0))
            if not self.at(","):
                break
            self.advance()
        self.expect(closing)
        return tuple(items)

    def call(self, tok: _Token) -> _Node:
        self.advance()  # "("
        if tok.text in _PREDICATES:
            seq = self.expr(0)
            self.expect(",")
            self.closures += 1
            braces = self.at("{")
            if braces:
                self.advance()
            body = self.expr(0)
            if braces:
                self.expect("}")
            self.closures -= 1
            self.expect(")")
            return _Node(tok.pos, tok.text, (seq, body))
        if tok.text not in _FUNCTIONS:
            raise self.error(f"unknown function {tok.text!r}", tok.pos)
        args = self.arguments(")")
        low, high, _ = _FUNCTIONS[tok.text]
        if not low <= len(args) <= high:
            want = str(low) if low == high else f"at least {low}"
            raise self.error(f"{tok.text}() takes {want} argument(s), got {len(args)}", tok.pos)
        return _Node(tok.pos, tok.text, args)

    def postfix(self, node: _Node) -> _Node:
        start, optional = node, False
        while True:
            if self.at(".") or self.at("?."):
                op = self.advance().text
                optional |= op == "?."
                if op == "?." and self.at("["):
                    self.advance()
                    node = _Node(self.tokens[self.i].pos, op, (node, self.expr(0)))
                    self.expect("]")
                    continue
                name = self.advance()
                if name.kind != "name":
                    raise self.error("expected a field name after '.'", name.pos)
                node = _Node(name.pos, op, (node, _Node(name.pos, "lit", value=name.text)))
            elif self.at("["):
                pos = self.advance().pos
                node = _Node(pos, ".", (node, self.expr(0)))
                self.expect("]")
            elif self.at("("):
                raise self.error("only builtin functions can be called", self.tokens[self.i].pos)
            else:
                return _Node(start.pos, "?", (node,)) if optional else node


# --- values -------------------------------------------------------------------------


def _is_num(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _tname(value: object) -> str:
    for kind, name in (
        (type(None), "nil"),
        (bool, "bool"),
        (int, "int"),
        (float, "float"),
        (str, "string"),
        (list | tuple, "array"),
        (Mapping, "map"),
    ):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _short(value: object) -> str:
    if value is None or isinstance(value, bool | int | float | str):
        try:
            text = repr(value)
        except ValueError:  # an int too large to print
            return _tname(value)
        return text if len(text) <= 40 else text[:37] + "..."
    return _tname(value)


def _int(value: int) -> int:
    if not _INT_MIN <= value <= _INT_MAX:
        raise _Fail("integer overflow")
    return value


def _op_error(op: str, left: object, right: object) -> _Fail:
    return _Fail(f"invalid operation: {_tname(left)} {op} {_tname(right)}")


_ORDER: Final = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _compare(op: str, a: object, b: object) -> bool:
    if _is_num(a) and _is_num(b) or isinstance(a, str) and isinstance(b, str):
        return bool(_ORDER[op](a, b))  # NaN compares false, as in Go
    raise _op_error(op, a, b)


@lru_cache(maxsize=128)
def _regex(pattern: str) -> tuple[re.Pattern[str], int, int]:
    """Compile a guarded pattern; return it with its quantifier and ``|`` counts."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise _Fail(f"regular expression longer than {MAX_PATTERN_LENGTH} characters")
    if "(?P=" in pattern or "(?(" in pattern or re.search(r"\\[1-9]", pattern):
        raise _Fail("backreferences are not supported in regular expressions")
    groups: list[bool] = []  # per open group: does it hold a quantifier or "|"?
    quantifiers = bars = i = 0
    while i < len(pattern):
        c, before = pattern[i], pattern[i - 1 : i]
        if c == "\\":
            i += 1
        elif c == "[":  # skip a character class
            i += 2 if pattern.startswith("[^", i) else 1
            i += pattern.startswith("]", i)
            while i < len(pattern) and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
        elif c == "(":
            groups.append(False)
        elif c == ")" and groups:
            inner = groups.pop()
            if inner and pattern[i + 1 : i + 2] in ("*", "+", "{"):
                raise _Fail(
                    "regular expression repeats a group holding a quantifier or '|' "
                    "(catastrophic backtracking risk)"
                )
            if groups:
                groups[-1] |= inner
        elif c in "*+{|" or c == "?" and before not in ("(", "*", "+", "?", "}"):
            bars += c == "|"
            quantifiers += c != "|" and not (c == "+" and before in ("*", "+", "?", "}"))
            if groups:
                groups[-1] = True
        i += 1
    try:
        compiled = re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        raise _Fail(f"invalid regular expression: {exc}") from None
    if compiled.flags & re.VERBOSE:
        raise _Fail("verbose regular expressions are not supported")
    return compiled, quantifiers, bars


# --- builtins -----------------------------------------------------------------------


def _array(ev: _Evaluator, value: object, func: str) -> list[object] | tuple[object, ...]:
    if not isinstance(value, list | tuple):
        raise _Fail(f"{func}() expects an array, got {_tname(value)}")
    ev.charge(len(value))
    return value


def _numbers(ev: _Evaluator, values: Iterable[object], func: str) -> Iterator[int | float]:
    """Yield the numbers in ``values``, flattening nested arrays; each costs a step."""
    stack = [iter(values)]
    while stack:
        for value in stack[-1]:
            ev.charge(1)
            if isinstance(value, list | tuple):
                stack.append(iter(value))
                break
            if not _is_num(value):
                raise _Fail(f"invalid argument for {func} (type {_tname(value)})")
            yield value
        else:
            stack.pop()


def _extreme(ev: _Evaluator, args: list[object], func: str) -> object:
    best: int | float | None = None
    for x in _numbers(ev, args, func):
        if best is None or (best < x if func == "max" else best > x):
            best = x
    return best


def _sum(ev: _Evaluator, args: list[object]) -> object:
    total: int | float = 0
    for x in _numbers(ev, _array(ev, args[0], "sum"), "sum"):
        total += x
        total = _int(total) if isinstance(total, int) else total
    return total


def _mean(ev: _Evaluator, args: list[object]) -> object:
    values = [float(x) for x in _numbers(ev, _array(ev, args[0], "mean"), "mean")]
    return sum(values) / len(values) if values else 0.0


def _len(ev: _Evaluator, args: list[object]) -> object:
    if isinstance(args[0], str | list | tuple | Mapping):
        return len(args[0])
    if args[0] is None:
        return 0
    raise _Fail(f"invalid argument for len (type {_tname(args[0])})")


def _abs(ev: _Evaluator, args: list[object]) -> object:
    if not _is_num(args[0]):
        raise _Fail(f"invalid argument for abs (type {_tname(args[0])})")
    return _int(abs(args[0])) if isinstance(args[0], int) else abs(args[0])


def _end(ev: _Evaluator, args: list[object], index: int) -> object:
    items = () if args[0] is None else _array(ev, args[0], "first/last")
    return items[index] if items else None


def _as_int(ev: _Evaluator, args: list[object]) -> object:
    value = args[0]
    if _is_num(value) and math.isfinite(value):
        return _int(int(value))  # truncates toward zero, like Go's int64(f)
    if isinstance(value, str) and _INT_TEXT.fullmatch(value):
        return _int(int(value))
    raise _Fail(f"asInt() not supported on {_tname(value)} {_short(value)}")


def _as_float(ev: _Evaluator, args: list[object]) -> object:
    value = args[0]
    if _is_num(value) or isinstance(value, str) and _FLOAT_TEXT.fullmatch(value):
        return float(value)
    raise _Fail(f"asFloat() not supported on {_tname(value)} {_short(value)}")


def _float_test(args: list[object], test: Callable[[float], bool], func: str) -> object:
    if not _is_num(args[0]):
        raise _Fail(f"{func}() expects a number, got {_tname(args[0])}")
    return isinstance(args[0], float) and test(args[0])


def _default(ev: _Evaluator, args: list[object]) -> object:
    value, fallback = args
    return fallback if value is None or isinstance(value, list | tuple) and not value else value


_Fn = Callable[["_Evaluator", list[object]], object]
_FUNCTIONS: Final[dict[str, tuple[int, int, _Fn]]] = {
    "len": (1, 1, _len),
    "abs": (1, 1, _abs),
    "max": (1, MAX_NODES, lambda ev, args: _extreme(ev, args, "max")),
    "min": (1, MAX_NODES, lambda ev, args: _extreme(ev, args, "min")),
    "sum": (1, 1, _sum),
    "mean": (1, 1, _mean),
    "avg": (1, 1, _mean),
    "first": (1, 1, lambda ev, args: _end(ev, args, 0)),
    "last": (1, 1, lambda ev, args: _end(ev, args, -1)),
    "asInt": (1, 1, _as_int),
    "asFloat": (1, 1, _as_float),
    "isNaN": (1, 1, lambda ev, args: _float_test(args, math.isnan, "isNaN")),
    "isInf": (1, 1, lambda ev, args: _float_test(args, math.isinf, "isInf")),
    "isNil": (1, 1, lambda ev, args: args[0] is None),
    "default": (2, 2, _default),
}


# --- evaluator ----------------------------------------------------------------------


class _Evaluator:
    def __init__(self, source: str, env: Mapping[str, object]) -> None:
        self.source, self.env, self.steps = source, env, 0
        self.elements: list[object] = []

    def charge(self, steps: int) -> None:
        self.steps += steps
        if self.steps > MAX_STEPS:
            raise EvaluationError(f"evaluation exceeded the budget of {MAX_STEPS} steps")

    def eval(self, node: _Node) -> object:
        self.charge(1)
        try:
            return self.dispatch(node)
        except _Fail as exc:
            raise EvaluationError(f"{exc} at {_where(self.source, node.pos)}") from None

    def boolean(self, node: _Node, what: str) -> bool:
        value = self.eval(node)
        if not isinstance(value, bool):
            raise _Fail(f"{what} expects a bool, got {_tname(value)}")
        return value

    def dispatch(self, node: _Node) -> object:
        op, args = node.op, node.args
        if op == "lit":
            return node.value
        if op == "name":
            if node.value not in self.env:
                raise _Fail(f"name {node.value!r} is not defined")
            return self.env[str(node.value)]
        if op == "#":
            return self.elements[-1]
        if op == "?":
            try:
                return self.eval(args[0])
            except _NilChain:
                return None
        if op == "[]":
            return [self.eval(arg) for arg in args]
        if op in _PREDICATES:
            return self.predicate(node)
        if op in _FUNCTIONS:
            return _FUNCTIONS[op][2](self, [self.eval(arg) for arg in args])
        if op in ("&&", "||"):
            left = self.boolean(args[0], f"operator {op}")
            return left if left == (op == "||") else self.boolean(args[1], f"operator {op}")
        if op == "?:":
            return self.eval(args[1] if self.boolean(args[0], "operator ?:") else args[2])
        if op == "!":
            return not self.boolean(args[0], "operator !")
        value = self.eval(args[0])
        if op in ("neg", "pos"):
            if not _is_num(value):
                raise _Fail(f"invalid operation: {'-' if op == 'neg' else '+'}{_tname(value)}")
            return value if op == "pos" else _int(-value) if isinstance(value, int) else -value
        if op == "?." and value is None:
            raise _NilChain
        if op == "??" and value is not None:
            return value
        right = self.eval(args[1])
        if op in (".", "?."):
            return self.index(value, right)
        if op in ("==", "!="):
            return self.equal(value, right) == (op == "==")
        if op in _ORDER:
            return _compare(op, value, right)
        if op == "in":
            if isinstance(right, Mapping):
                return (isinstance(value, str) or _is_num(value)) and value in right
            return right is not None and any(
                self.equal(value, item) for item in _array(self, right, "in")
            )
        if op in _NEGATABLE:
            return self.string_op(op, value, right)
        return right if op == "??" else self.arithmetic(op, value, right)

    def index(self, obj: object, key: object) -> object:
        if isinstance(obj, Mapping):
            if isinstance(key, str) or _is_num(key):
                return obj.get(key)
            raise _Fail(f"invalid map key type {_tname(key)}")
        if isinstance(obj, list | tuple | str):
            key = int(key) if isinstance(key, float) and math.isfinite(key) else key
            if not isinstance(key, int) or isinstance(key, bool):
                raise _Fail(f"array index must be an int, got {_tname(key)}")
            if not -len(obj) <= key < len(obj):
                raise _Fail(f"index out of range: {key} (array length is {len(obj)})")
            return obj[key]
        raise _Fail(f"cannot fetch {_short(key)} from {_tname(obj)}")

    def string_op(self, op: str, left: object, right: object) -> bool:
        if not (isinstance(left, str) and isinstance(right, str)):
            raise _op_error(op, left, right)
        self.charge(len(left) // 16)
        if op == "contains":
            return right in left
        if op in ("startsWith", "endsWith"):
            return left.startswith(right) if op == "startsWith" else left.endswith(right)
        compiled, quantifiers, bars = _regex(right)
        if len(left) > MAX_SUBJECT_LENGTH or (
            (len(left) + 1) ** (quantifiers + 1) * 2**bars > REGEX_BUDGET
        ):
            raise _Fail(f"string of length {len(left)} is too long to match this pattern")
        return compiled.search(left) is not None

    def grow(self, size: int) -> bool:
        if size > MAX_LENGTH:
            raise _Fail(f"result longer than {MAX_LENGTH}")
        self.charge(size // 16)
        return True

    def arithmetic(self, op: str, a: object, b: object) -> object:
        if op == "+" and isinstance(a, str) and isinstance(b, str):
            return a + b if self.grow(len(a) + len(b)) else ""
        if op == "+" and isinstance(a, list | tuple) and isinstance(b, list | tuple):
            return [*a, *b] if self.grow(len(a) + len(b)) else []
        if (
            not (_is_num(a) and _is_num(b))
            or op == "%"
            and not (isinstance(a, int) and isinstance(b, int))
        ):
            raise _op_error(op, a, b)
        try:
            if op == "/":
                x, y = float(a), float(b)
                if y == 0:  # Go float division: +-Inf, or NaN for 0/0
                    return x * math.copysign(1.0, y) * math.inf if x else math.nan
                return x / y
            if op == "**":
                return math.pow(a, b)
            if op == "%":
                if b == 0:
                    raise _Fail("integer divide by zero")
                rest = abs(a) % abs(b)
                return -rest if a < 0 else rest
            result = a + b if op == "+" else a - b if op == "-" else a * b
        except (OverflowError, ValueError) as exc:
            raise _Fail(f"arithmetic error in {op}: {exc}") from None
        return _int(result) if isinstance(result, int) else result

    def equal(self, a: object, b: object) -> bool:
        """expr-lang's ``==``, walked without recursion: arrays and maps nested more
        than :data:`~progressive.core._bounds.MAX_DEPTH` levels deep are an error,
        whatever the interpreter's recursion limit or the caller's stack depth."""
        stack: list[tuple[object, object, int]] = [(a, b, 1)]
        while stack:
            a, b, depth = stack.pop()
            pairs: list[tuple[object, object]] = []
            if _is_num(a) and _is_num(b):
                same = a == b
            elif a is None or b is None or isinstance(a, bool | str) or isinstance(b, bool | str):
                same = type(a) is type(b) and a == b
            elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
                self.charge(len(a))
                same, pairs = len(a) == len(b), list(zip(a, b, strict=False))
            elif isinstance(a, Mapping) and isinstance(b, Mapping):
                self.charge(len(a))
                same = len(a) == len(b) and all(k in b for k in a)
                pairs = [(v, b[k]) for k, v in a.items()] if same else []
            else:
                same = a is b
            if not same:
                return False
            if pairs and depth >= MAX_DATA_DEPTH:
                raise _Fail(f"data nested more than {MAX_DATA_DEPTH} levels deep")
            stack.extend((x, y, depth + 1) for x, y in reversed(pairs))
        return True

    def predicate(self, node: _Node) -> object:
        func, body = node.op, node.args[1]
        items = _array(self, self.eval(node.args[0]), func)
        matched, kept = 0, list[object]()
        for item in items:
            self.elements.append(item)
            try:
                value = (
                    self.eval(body)
                    if func == "map"
                    else self.boolean(body, f"predicate of {func}()")
                )
            finally:
                self.elements.pop()
            if func == "map" or value is True:
                matched += 1
                kept.append(value if func == "map" else item)
            if (
                func == "all"
                and value is False
                or func in ("any", "none")
                and value is True
                or func == "one"
                and matched > 1
            ):
                break
        return {
            "map": kept,
            "filter": kept,
            "count": matched,
            "all": matched == len(items),
            "any": matched > 0,
            "none": matched == 0,
            "one": matched == 1,
        }[func]


# --- public API ---------------------------------------------------------------------


@final
@dataclass(frozen=True)
class Expression:
    """A parsed, validated condition; an immutable value, safe to share and reuse.

    ``names`` are the free variables it may use.  Constructing one parses ``source``
    and raises :class:`ExpressionError` if it is invalid.
    """

    source: str
    names: tuple[str, ...] = ("result",)
    _root: _Node = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.source, str):
            raise ExpressionError(f"expression must be a string, got {_tname(self.source)}")
        if len(self.source) > MAX_SOURCE_LENGTH:
            raise ExpressionError(f"expression longer than {MAX_SOURCE_LENGTH} characters")
        names = (self.names,) if isinstance(self.names, str) else tuple(self.names)
        for name in names:
            if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or name in _KEYWORDS:
                raise ExpressionError(f"invalid variable name {name!r}")
        object.__setattr__(self, "names", names)
        root = _Parser(self.source, frozenset(names)).parse()
        count, stack = 0, [(root, 1)]
        while stack:
            node, depth = stack.pop()
            count += 1
            if count > MAX_NODES or depth > MAX_DEPTH:
                limit = f"{MAX_NODES} nodes" if count > MAX_NODES else f"depth {MAX_DEPTH}"
                raise ExpressionError(f"expression too complex (limit {limit})")
            stack.extend((child, depth + 1) for child in node.args)
        object.__setattr__(self, "_root", root)

    @classmethod
    def parse(cls, source: str, names: Iterable[str] = ("result",)) -> Expression:
        """Parse ``source``; raise :class:`ExpressionError` if it is invalid."""
        return cls(source, (names,) if isinstance(names, str) else tuple(names))

    def evaluate(self, env: Mapping[str, object]) -> object:
        """Evaluate against ``env``; raise :class:`EvaluationError` on any failure."""
        if not isinstance(env, Mapping):
            raise EvaluationError(f"environment must be a mapping, got {_tname(env)}")
        try:
            return _Evaluator(self.source, env).eval(self._root)
        except EvaluationError:
            raise
        except RecursionError:
            raise EvaluationError("data nested too deeply") from None
        except (_Fail, ArithmeticError, LookupError, TypeError, ValueError) as exc:
            raise EvaluationError(f"evaluation failed: {exc}") from None

    def evaluate_bool(self, env: Mapping[str, object]) -> bool:
        """Evaluate a condition; raise :class:`EvaluationError` unless it yields a bool."""
        value = self.evaluate(env)
        if not isinstance(value, bool):
            raise EvaluationError(
                f"condition must evaluate to a bool, got {_tname(value)} {_short(value)}"
            )
        return value


def parse_condition(source: str, names: Iterable[str] = ("result",)) -> Expression:
    """Parse a metric condition whose free variables are ``names`` (default ``result``)."""
    return Expression.parse(source, names)
