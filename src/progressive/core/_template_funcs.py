"""The functions notification templates may call, and how Go prints a value.

:mod:`progressive.core._gotemplate` executes templates; this module holds what a
template can *do* with values: Go's ``text/template`` builtins and the subset of
`sprig <https://masterminds.github.io/sprig/>`_ that notification templates use.  Every
function is plain Python over JSON-like values (mappings, lists, strings, numbers,
bools, None); none reads a clock, the environment or a file.  A function that could
build a large value (``repeat``, ``indent``, ``list``...) charges the executor's budget
for what it builds, through the ``grow`` callback it is given.

Go semantics kept: ``and``/``or`` return an operand (not a bool) and stop early;
truthiness is Go's (``0``, ``""``, empty lists and maps, nil and false are false);
``index`` of a missing map key is nil; ``eq`` takes several right operands.  Numbers
compare across int and float (Go would refuse ``eq 1.0 1``).
"""

from __future__ import annotations

import base64
import binascii
import decimal
import hashlib
import html
import json
import math
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Final, TypeGuard

from ..errors import ProgressiveError

__all__ = ["FUNCTIONS", "TemplateFailure", "go_print", "go_sprint", "truth", "type_name"]


class TemplateFailure(ProgressiveError):
    """A function or a value could not do what was asked (the executor adds where)."""


Grow = Callable[[int], None]
Function = Callable[[Grow, Sequence[object]], object]


def type_name(value: object) -> str:
    for kind, name in (
        (type(None), "nil"),
        (bool, "bool"),
        (int, "int"),
        (float, "float64"),
        (str, "string"),
        (list | tuple, "slice"),
        (Mapping, "map"),
    ):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _is_num(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def truth(value: object) -> bool:
    """Go's ``if``: false, 0, nil and empty strings, lists and maps are false."""
    if value is None or value is False:
        return False
    if _is_num(value):
        return value != 0
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) > 0
    return True


def _go_float(value: float) -> str:
    """``%v`` of a float64: the shortest digits that read back the same, with an
    exponent when it is below -4 or at least 6 (``1e+06``, ``123456``), as Go prints."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    number = decimal.Decimal(repr(value)).normalize()
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    power = len(text) - 1 + exponent
    if power < -4 or power >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{'-' if sign else ''}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    return format(number, "f")


def go_print(value: object, *, top: bool = True) -> str:
    """``fmt.Sprint`` of one value, as ``{{ . }}`` prints it: nil alone is ``<no value>``,
    nil inside a list or map ``<nil>``; maps print ``map[k:v ...]`` with sorted keys."""
    if value is None:
        return "<no value>" if top else "<nil>"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        inner = " ".join(f"{k}:{go_print(v, top=False)}" for k, v in items)
        return f"map[{inner}]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_print(v, top=False) for v in value) + "]"
    return str(value)


def go_sprint(args: Sequence[object]) -> str:
    """``fmt.Sprint``: a space between two operands when neither is a string."""
    out = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_print(arg, top=False))
    return "".join(out)


# -- printf -----------------------------------------------------------------------------

_VERB: Final = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])")


def _printf(fmt: str, args: Sequence[object]) -> str:
    """``fmt.Sprintf`` for the verbs ``%v %s %d %f %g %e %q %t %x %X %%`` with flags,
    width and precision; a missing operand is ``%!v(MISSING)``, as in Go."""
    out: list[str] = []
    pos = used = 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width, precision, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[used]
        used += 1
        out.append(_format_one(arg, flags, width, precision, verb))
    out.append(fmt[pos:])
    if used < len(args):
        extra = ", ".join(f"{type_name(a)}={go_print(a, top=False)}" for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _pad(text: str, flags: str, width: str | None) -> str:
    return format(text, ("<" if "-" in flags else ">") + (width or ""))


def _format_one(
    arg: object, flags: str, width: str | None, precision: str | None, verb: str
) -> str:
    """One verb of ``printf``; a verb that does not fit the operand is ``%!d(string=a)``."""
    if arg is None and verb != "v":
        return f"%!{verb}(<nil>)"
    if verb == "v" or verb == "s" and not isinstance(arg, bool | int | float):
        text = go_print(arg, top=False)
        return _pad(text[: int(precision)] if precision is not None else text, flags, width)
    if verb == "q" and isinstance(arg, str):
        return _pad(json.dumps(arg, ensure_ascii=False), flags, width)
    if verb == "t" and isinstance(arg, bool):
        return _pad("true" if arg else "false", flags, width)
    if _is_num(arg) and (verb == "d" and isinstance(arg, int) or verb in "feEgGxX"):
        align = "<" if "-" in flags else ("0>" if "0" in flags else ">")
        sign = "+" if "+" in flags else " " if " " in flags else ""
        if verb in "xX" and isinstance(arg, int):
            return format(arg, f"{align}{sign}{width or ''}{verb}")
        if verb in "xX":
            return _pad(float(arg).hex(), flags, width)
        digits = f".{precision}" if precision is not None and verb != "d" else ""
        return format(arg, f"{align}{sign}{width or ''}{digits}{verb}")
    return f"%!{verb}({type_name(arg)}={go_print(arg, top=False)})"


# -- argument checks -----------------------------------------------------------------------


def _arity(name: str, args: Sequence[object], low: int, high: int | None = None) -> None:
    high = low if high is None else high
    if not low <= len(args) <= (high if high >= 0 else len(args)):
        want = str(low) if low == high else f"at least {low}" if high < 0 else f"{low} to {high}"
        raise TemplateFailure(f"wrong number of args for {name}: want {want} got {len(args)}")


def _string(name: str, value: object) -> str:
    if isinstance(value, str):
        return value
    raise TemplateFailure(f"{name}: expected a string, got {type_name(value)}")


def _to_int(value: object) -> int:
    """sprig's ``toInt64``: numbers truncated, numeric strings parsed, anything else 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else 0
    if isinstance(value, str):
        try:
            return int(value.strip(), 0)
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                return 0
            return int(number) if math.isfinite(number) else 0
    return 0


def _to_float(value: object) -> float:
    if isinstance(value, bool):
        return float(value)
    if _is_num(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return 0.0
    return 0.0


def _to_string(value: object) -> str:
    return value if isinstance(value, str) else go_print(value, top=False)


# -- comparisons ---------------------------------------------------------------------------


def _comparable(name: str, a: object, b: object) -> None:
    for value in (a, b):
        if isinstance(value, list | tuple | Mapping):
            raise TemplateFailure(f"{name}: non-comparable type {type_name(value)}")


def _eq(grow: Grow, args: Sequence[object]) -> object:
    _arity("eq", args, 2, -1)
    first = args[0]
    for other in args[1:]:
        _comparable("eq", first, other)
        if _is_num(first) and _is_num(other):
            if first == other:
                return True
        elif type(first) is type(other) and first == other:
            return True
    return False


def _order(name: str, test: Callable[[object, object], bool]) -> Function:
    def compare(grow: Grow, args: Sequence[object]) -> object:
        _arity(name, args, 2)
        a, b = args
        if _is_num(a) and _is_num(b) or isinstance(a, str) and isinstance(b, str):
            return test(a, b)
        kinds = f"{type_name(a)} and {type_name(b)}"
        raise TemplateFailure(f"{name}: incompatible types for comparison: {kinds}")

    return compare


# -- the builtins of text/template -------------------------------------------------------


def _len(grow: Grow, args: Sequence[object]) -> object:
    _arity("len", args, 1)
    value = args[0]
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, list | tuple | Mapping):
        return len(value)
    raise TemplateFailure(f"len of type {type_name(value)}")


def _index(grow: Grow, args: Sequence[object]) -> object:
    _arity("index", args, 1, -1)
    value = args[0]
    for key in args[1:]:
        if isinstance(value, Mapping):
            value = value.get(key) if isinstance(key, str | int | float) else None
        elif isinstance(value, list | tuple | str):
            if not _is_num(key) or key != int(key):
                raise TemplateFailure(f"index of {type_name(value)} with a {type_name(key)}")
            i = int(key)
            if not 0 <= i < len(value):
                raise TemplateFailure(f"index out of range: {i}")
            value = value[i] if not isinstance(value, str) else value.encode()[i]
        elif value is None:
            raise TemplateFailure("index of untyped nil")
        else:
            raise TemplateFailure(f"can't index item of type {type_name(value)}")
    return value


def _slice(grow: Grow, args: Sequence[object]) -> object:
    _arity("slice", args, 1, 3)
    value, bounds = args[0], [_to_int(a) for a in args[1:]]
    if not isinstance(value, str | list | tuple):
        raise TemplateFailure(f"can't slice item of type {type_name(value)}")
    start = bounds[0] if bounds else 0
    end = bounds[1] if len(bounds) > 1 else len(value)
    if not 0 <= start <= end <= len(value):
        raise TemplateFailure(f"slice bounds out of range [{start}:{end}]")
    return value[start:end] if isinstance(value, str) else list(value[start:end])


def _not(grow: Grow, args: Sequence[object]) -> object:
    _arity("not", args, 1)
    return not truth(args[0])


def _print(grow: Grow, args: Sequence[object]) -> object:
    text = go_sprint(args)
    grow(len(text))
    return text


def _println(grow: Grow, args: Sequence[object]) -> object:
    text = " ".join(go_print(a, top=False) for a in args) + "\n"
    grow(len(text))
    return text


def _sprintf(grow: Grow, args: Sequence[object]) -> object:
    _arity("printf", args, 1, -1)
    text = _printf(_string("printf", args[0]), args[1:])
    grow(len(text))
    return text


def _html(grow: Grow, args: Sequence[object]) -> object:
    text = html.escape(go_sprint(args), quote=True).replace("&#x27;", "&#39;")
    return text.replace("&quot;", "&#34;")


_JS_ESCAPES: Final = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "<": "\\u003C",
    ">": "\\u003E",
    "&": "\\u0026",
    "=": "\\u003D",
}


def _js(grow: Grow, args: Sequence[object]) -> object:
    text = go_sprint(args)
    return "".join(_JS_ESCAPES.get(c, c if c >= " " else f"\\u{ord(c):04X}") for c in text)


def _urlquery(grow: Grow, args: Sequence[object]) -> object:
    return urllib.parse.quote_plus(go_sprint(args))


# -- sprig: strings ------------------------------------------------------------------------


def _unary_string(name: str, op: Callable[[str], str]) -> Function:
    def call(grow: Grow, args: Sequence[object]) -> object:
        _arity(name, args, 1)
        return op(_to_string(args[0]))

    return call


def _binary_string(name: str, op: Callable[[str, str], object]) -> Function:
    """sprig's argument order: the string operated on comes last (``trimPrefix "v" .x``)."""

    def call(grow: Grow, args: Sequence[object]) -> object:
        _arity(name, args, 2)
        return op(_to_string(args[0]), _to_string(args[1]))

    return call


def _replace(grow: Grow, args: Sequence[object]) -> object:
    _arity("replace", args, 3)
    old, new, text = (_to_string(a) for a in args)
    count = text.count(old) if old else len(text) + 1
    grow(len(text) + count * max(0, len(new) - len(old)))
    return text.replace(old, new)


def _repeat(grow: Grow, args: Sequence[object]) -> object:
    _arity("repeat", args, 2)
    count, text = _to_int(args[0]), _to_string(args[1])
    if count < 0:
        raise TemplateFailure("repeat: negative count")
    grow(count * len(text))
    return text * count


def _indent(newline: bool) -> Function:
    def call(grow: Grow, args: Sequence[object]) -> object:
        _arity("nindent" if newline else "indent", args, 2)
        pad = " " * max(0, _to_int(args[0]))
        text = _to_string(args[1])
        grow(len(text) + len(pad) * (text.count("\n") + 1))
        out = pad + text.replace("\n", "\n" + pad)
        return "\n" + out if newline else out

    return call


def _substr(grow: Grow, args: Sequence[object]) -> object:
    _arity("substr", args, 3)
    start, end, text = _to_int(args[0]), _to_int(args[1]), _to_string(args[2])
    start = max(0, start)
    if end < 0 or end > len(text):
        end = len(text)
    return text[start:end] if start <= end else ""


def _trunc(grow: Grow, args: Sequence[object]) -> object:
    _arity("trunc", args, 2)
    n, text = _to_int(args[0]), _to_string(args[1])
    if n < 0:
        return text[max(0, len(text) + n) :]
    return text[:n]


def _abbrev(grow: Grow, args: Sequence[object]) -> object:
    _arity("abbrev", args, 2)
    width, text = _to_int(args[0]), _to_string(args[1])
    if width < 4 or len(text) <= width:
        return text
    return text[: width - 3] + "..."


def _quote(char: str) -> Function:
    def call(grow: Grow, args: Sequence[object]) -> object:
        parts = []
        for a in args:
            if a is None:
                continue
            text = _to_string(a)
            parts.append(json.dumps(text, ensure_ascii=False) if char == '"' else f"'{text}'")
        out = " ".join(parts)
        grow(len(out))
        return out

    return call


def _cat(grow: Grow, args: Sequence[object]) -> object:
    out = " ".join(_to_string(a) for a in args if a is not None)
    grow(len(out))
    return out


def _join(grow: Grow, args: Sequence[object]) -> object:
    _arity("join", args, 2)
    sep, items = _to_string(args[0]), args[1]
    if isinstance(items, str):
        return items
    if not isinstance(items, list | tuple):
        raise TemplateFailure(f"join: expected a list, got {type_name(items)}")
    out = sep.join(_to_string(i) if i is not None else "" for i in items)
    grow(len(out))
    return out


def _split_list(grow: Grow, args: Sequence[object]) -> object:
    _arity("splitList", args, 2)
    sep, text = _to_string(args[0]), _to_string(args[1])
    parts = text.split(sep) if sep else list(text)
    grow(len(parts))
    return parts


# -- sprig: defaults, logic, encoding ------------------------------------------------------


def _default(grow: Grow, args: Sequence[object]) -> object:
    _arity("default", args, 1, 2)
    if len(args) == 1 or not truth(args[1]):
        return args[0]
    return args[1]


def _empty(grow: Grow, args: Sequence[object]) -> object:
    _arity("empty", args, 1)
    return not truth(args[0])


def _coalesce(grow: Grow, args: Sequence[object]) -> object:
    return next((a for a in args if truth(a)), None)


def _ternary(grow: Grow, args: Sequence[object]) -> object:
    _arity("ternary", args, 3)
    return args[0] if truth(args[2]) else args[1]


def _json(indent: int | None) -> Function:
    def call(grow: Grow, args: Sequence[object]) -> object:
        _arity("toJson", args, 1)
        try:
            text = json.dumps(args[0], indent=indent, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TemplateFailure(f"toJson: {exc}") from None
        grow(len(text))
        return text

    return call


def _b64enc(grow: Grow, args: Sequence[object]) -> object:
    _arity("b64enc", args, 1)
    text = base64.b64encode(_to_string(args[0]).encode()).decode()
    grow(len(text))
    return text


def _b64dec(grow: Grow, args: Sequence[object]) -> object:
    _arity("b64dec", args, 1)
    try:
        return base64.b64decode(_to_string(args[0]), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        return str(exc)  # sprig returns the error's text


def _digest(name: str) -> Function:
    def call(grow: Grow, args: Sequence[object]) -> object:
        _arity(name, args, 1)
        return hashlib.new(name.removesuffix("sum"), _to_string(args[0]).encode()).hexdigest()

    return call


# -- sprig: numbers ------------------------------------------------------------------------


def _arith(name: str, op: Callable[[int, int], int]) -> Function:
    def call(grow: Grow, args: Sequence[object]) -> object:
        _arity(name, args, 2 if name != "add" and name != "mul" else 1, -1)
        result = _to_int(args[0])
        for arg in args[1:]:
            b = _to_int(arg)
            if name in ("div", "mod") and b == 0:
                raise TemplateFailure(f"{name}: integer divide by zero")
            result = op(result, b)
        if not -(2**63) <= result < 2**63:
            raise TemplateFailure(f"{name}: integer overflow")
        return result

    return call


def _go_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _go_mod(a: int, b: int) -> int:
    return a - b * _go_div(a, b)


def _add1(grow: Grow, args: Sequence[object]) -> object:
    _arity("add1", args, 1)
    return _to_int(args[0]) + 1


def _extreme(name: str, pick: Callable[..., int]) -> Function:
    def call(grow: Grow, args: Sequence[object]) -> object:
        _arity(name, args, 1, -1)
        return pick(_to_int(a) for a in args)

    return call


def _float_op(name: str, op: Callable[[float], float]) -> Function:
    def call(grow: Grow, args: Sequence[object]) -> object:
        _arity(name, args, 1)
        return op(_to_float(args[0]))

    return call


def _conversion(name: str, op: Callable[[object], object]) -> Function:
    def call(grow: Grow, args: Sequence[object]) -> object:
        _arity(name, args, 1)
        return op(args[0])

    return call


# -- sprig: lists and dicts ----------------------------------------------------------------


def _list(grow: Grow, args: Sequence[object]) -> object:
    grow(len(args))
    return list(args)


def _dict(grow: Grow, args: Sequence[object]) -> object:
    grow(len(args))
    out: dict[str, object] = {}
    for i in range(0, len(args), 2):
        out[_to_string(args[i])] = args[i + 1] if i + 1 < len(args) else ""
    return out


def _get(grow: Grow, args: Sequence[object]) -> object:
    _arity("get", args, 2)
    mapping, key = args
    if not isinstance(mapping, Mapping):
        raise TemplateFailure(f"get: expected a map, got {type_name(mapping)}")
    return mapping.get(_to_string(key), "")


def _has_key(grow: Grow, args: Sequence[object]) -> object:
    _arity("hasKey", args, 2)
    mapping, key = args
    if not isinstance(mapping, Mapping):
        raise TemplateFailure(f"hasKey: expected a map, got {type_name(mapping)}")
    return _to_string(key) in mapping


def _keys(grow: Grow, args: Sequence[object]) -> object:
    out: list[object] = []
    for mapping in args:
        if not isinstance(mapping, Mapping):
            raise TemplateFailure(f"keys: expected a map, got {type_name(mapping)}")
        out.extend(sorted(str(k) for k in mapping))
    grow(len(out))
    return out


def _end(name: str, first: bool) -> Function:
    def call(grow: Grow, args: Sequence[object]) -> object:
        _arity(name, args, 1)
        items = args[0]
        if items is None:
            return None
        if not isinstance(items, list | tuple):
            raise TemplateFailure(f"{name}: expected a list, got {type_name(items)}")
        if not items:
            return None
        return items[0] if first else items[-1]

    return call


def _has(grow: Grow, args: Sequence[object]) -> object:
    _arity("has", args, 2)
    needle, items = args
    if not isinstance(items, list | tuple):
        return False
    return any(_eq(grow, (needle, item)) for item in items)


def _unsupported(name: str, why: str) -> Function:
    def call(grow: Grow, args: Sequence[object]) -> object:
        raise TemplateFailure(f"{name} is not supported: {why}")

    return call


_NO_CLOCK: Final = "templates are rendered without a clock (see docs/notifications.md)"

#: name -> function(grow, args).  ``and`` and ``or`` are not here: the executor
#: evaluates their operands lazily.
FUNCTIONS: Final[Mapping[str, Function]] = {
    # text/template
    "not": _not,
    "len": _len,
    "index": _index,
    "slice": _slice,
    "eq": _eq,
    "ne": lambda grow, args: not _eq(grow, args),
    "lt": _order("lt", lambda a, b: a < b),  # type: ignore[operator]
    "le": _order("le", lambda a, b: a <= b),  # type: ignore[operator]
    "gt": _order("gt", lambda a, b: a > b),  # type: ignore[operator]
    "ge": _order("ge", lambda a, b: a >= b),  # type: ignore[operator]
    "print": _print,
    "println": _println,
    "printf": _sprintf,
    "html": _html,
    "js": _js,
    "urlquery": _urlquery,
    "call": _unsupported("call", "templates call no Go functions"),
    # sprig: strings
    "upper": _unary_string("upper", str.upper),
    "lower": _unary_string("lower", str.lower),
    "title": _unary_string("title", lambda s: re.sub(r"\b[a-z]", lambda m: m[0].upper(), s)),
    "trim": _unary_string("trim", str.strip),
    "nospace": _unary_string("nospace", lambda s: "".join(s.split())),
    "toString": _unary_string("toString", lambda s: s),
    "trimAll": _binary_string("trimAll", lambda cut, s: s.strip(cut)),
    "trimPrefix": _binary_string("trimPrefix", lambda p, s: s.removeprefix(p)),
    "trimSuffix": _binary_string("trimSuffix", lambda p, s: s.removesuffix(p)),
    "contains": _binary_string("contains", lambda sub, s: sub in s),
    "hasPrefix": _binary_string("hasPrefix", lambda p, s: s.startswith(p)),
    "hasSuffix": _binary_string("hasSuffix", lambda p, s: s.endswith(p)),
    "replace": _replace,
    "repeat": _repeat,
    "indent": _indent(False),
    "nindent": _indent(True),
    "substr": _substr,
    "trunc": _trunc,
    "abbrev": _abbrev,
    "quote": _quote('"'),
    "squote": _quote("'"),
    "cat": _cat,
    "join": _join,
    "splitList": _split_list,
    # sprig: defaults, logic, encoding
    "default": _default,
    "empty": _empty,
    "coalesce": _coalesce,
    "ternary": _ternary,
    "toJson": _json(None),
    "toRawJson": _json(None),
    "toPrettyJson": _json(2),
    "b64enc": _b64enc,
    "b64dec": _b64dec,
    "sha1sum": _digest("sha1sum"),
    "sha256sum": _digest("sha256sum"),
    # sprig: numbers
    "add": _arith("add", lambda a, b: a + b),
    "sub": _arith("sub", lambda a, b: a - b),
    "mul": _arith("mul", lambda a, b: a * b),
    "div": _arith("div", _go_div),
    "mod": _arith("mod", _go_mod),
    "add1": _add1,
    "max": _extreme("max", max),
    "min": _extreme("min", min),
    "floor": _float_op("floor", lambda x: float(math.floor(x)) if math.isfinite(x) else x),
    "ceil": _float_op("ceil", lambda x: float(math.ceil(x)) if math.isfinite(x) else x),
    "int": _conversion("int", _to_int),
    "int64": _conversion("int64", _to_int),
    "atoi": _conversion("atoi", _to_int),
    "float64": _conversion("float64", _to_float),
    # sprig: lists and dicts
    "list": _list,
    "dict": _dict,
    "get": _get,
    "hasKey": _has_key,
    "keys": _keys,
    "first": _end("first", True),
    "last": _end("last", False),
    "has": _has,
    # what a template cannot do here, said plainly rather than "function not defined"
    "now": _unsupported("now", _NO_CLOCK),
    "date": _unsupported("date", _NO_CLOCK),
    "ago": _unsupported("ago", _NO_CLOCK),
    "env": _unsupported("env", "templates read no environment"),
    "expandenv": _unsupported("expandenv", "templates read no environment"),
}
