"""Reading YAML and JSON documents from files safely: bounded in size, depth and time.

Everything a manifest file can do to the process reading it is bounded here, before
any object is read (:mod:`progressive._loader` then routes the objects by kind):

* **Files**: only regular files are read (a FIFO would block forever, ``/dev/zero``
  never ends), opened without blocking and checked before the first byte is read;
  at most :data:`MAX_FILE_BYTES` bytes are read from a file or from standard input.
* **Text**: UTF-8 (a byte order mark is allowed) or UTF-16 with its byte order mark;
  other bytes are refused with their line and column.
* **YAML**: PyYAML's safe loader (libyaml's when available and the text cannot nest
  deeply enough to overflow its C stack), with three changes that follow what
  Kubernetes does with the same text: timestamps stay strings, a key repeated in one
  mapping is an error, and an integer too large to print is an error.
* **JSON**: one value or several one after the other (as kubectl reads them); a key
  repeated in one object is an error, as in YAML, and so is a huge integer.
* **Every document**: refused when nested more than
  :data:`~progressive.core._bounds.MAX_DEPTH` levels deep or holding more than
  :data:`~progressive.core._bounds.MAX_VALUES` values once YAML aliases are expanded
  ("billion laughs"); see :func:`~progressive.core._bounds.check_bounds`.

Reading is linear in the size of the text: documents are read one after the other and
nothing is looked up again per document.  Nothing here raises for bad content:
:func:`read_file` raises :class:`Unreadable` (the file as a whole), :func:`parse`
returns the documents it could read and the error that stopped it.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from typing import IO, Any, AnyStr, Final

import attrs
import yaml

from .core._bounds import MAX_DEPTH, MAX_VALUES, check_bounds
from .errors import FieldProblem, ProgressiveError

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_VALUES",
    "Parsed",
    "Unreadable",
    "parse",
    "read_file",
    "read_stream",
]

#: The most bytes read from one file (or standard input): far more than any set of
#: manifests (the API server takes 3 MiB per request), far less than fills memory.
MAX_FILE_BYTES: Final = 32 * 1024 * 1024
# libyaml's composer recurses on the C stack; beyond this nesting bound the pure-Python
# loader (which raises RecursionError instead of crashing) reads the text.
_C_NESTING_LIMIT: Final = 1000
# The largest int PyYAML may build: well below what Python can still print.
_MAX_INT_BITS: Final = 10_000
# The longest JSON integer literal read (int() refuses more than 4300 digits).
_MAX_JSON_DIGITS: Final = 3000
_MIB: Final = 1024 * 1024


# -- files ---------------------------------------------------------------------------------


class Unreadable(ProgressiveError):
    """A file that is not read at all; the message says why (``cannot read: ...``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_FILE_TYPES: Final = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_file(path: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    The path is checked before it is opened (a socket cannot be opened), opened
    without blocking (a FIFO with no writer would block the open itself) and checked
    again through the open descriptor, so that it cannot be swapped in between.

    Raises:
        Unreadable: it cannot be opened, is not a regular file, or is too big.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        _check_regular(os.stat(path).st_mode)
        fd = os.open(path, flags)
    except OSError as exc:
        raise Unreadable(f"cannot read: {exc.strerror or exc}") from None
    with open(fd, "rb", closefd=True) as handle:
        info = os.fstat(fd)
        _check_regular(info.st_mode)
        if info.st_size > limit:
            raise Unreadable(_too_big(limit))
        return read_stream(handle, limit)


def _check_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        what = next((name for test, name in _FILE_TYPES if test(mode)), "this")
        raise Unreadable(
            f"cannot read {what}: manifests are read from regular files, or from "
            "standard input with '-'"
        )


def read_stream(stream: IO[AnyStr], limit: int = MAX_FILE_BYTES) -> AnyStr:
    """At most ``limit`` bytes (or characters, from a text stream) from ``stream``
    (standard input), to its end.

    Raises:
        Unreadable: it cannot be read, or holds more than ``limit`` bytes.
    """
    try:
        data = stream.read(limit + 1)
    except OSError as exc:
        raise Unreadable(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise Unreadable(_too_big(limit))
    return data


def _too_big(limit: int) -> str:
    size = f"{limit / _MIB:g} MiB" if limit >= _MIB else f"{limit} bytes"
    return f"is larger than {size}, the most read from one file or standard input: split it"


# -- documents -----------------------------------------------------------------------------


@attrs.frozen
class Parsed:
    """One document of a file: its 0-based ``index`` in the stream and its ``value``
    (None for an empty document, as between two ``---``).

    ``errors`` are about this document (a path of ``""``) or a field of it (a repeated
    JSON key); ``refused`` says the value is not to be read at all (nested too deeply,
    too big).
    """

    index: int
    value: object
    errors: tuple[FieldProblem, ...] = ()
    refused: bool = False


def parse(name: str, content: str | bytes) -> tuple[list[Parsed], str | None]:
    """The documents of a file's ``content``: JSON when ``name`` ends with ``.json``,
    else YAML.  Returns them with the error that stopped reading, if one did (the
    documents before it are kept)."""
    if isinstance(content, bytes):
        text, problem = _decode(content)
        if text is None:
            return [], problem
    else:
        text = content
    read = _load_json if name.endswith(".json") else _load_yaml
    out: list[Parsed] = []
    stop: str | None = None
    for index, value, duplicates, error in read(text):
        if error is not None:
            stop = error
            break
        unfit = check_bounds(value)
        if unfit is not None:
            out.append(Parsed(index, value, (unfit,), refused=True))
        else:
            out.append(Parsed(index, value, duplicates))
    return out, stop


# A document as a reader yields it: (index, value, duplicate keys, None), or, last,
# (index, None, (), the error that stopped reading).
_Read = tuple[int, object, tuple[FieldProblem, ...], "str | None"]


def _decode(data: bytes) -> tuple[str | None, str | None]:
    """The text of a file, or the error saying why it has none."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), None
        except UnicodeDecodeError:
            return None, "not valid UTF-16 text"
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, (
            f"line {line}, column {column}: not valid UTF-8 "
            f"(byte 0x{data[exc.start]:02x}); manifests must be UTF-8 text"
        )


def _position(text: str, offset: int) -> str:
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def _show(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _repeated(key: str) -> str:
    return f"duplicate key {_show(key)}"


# -- YAML ----------------------------------------------------------------------------------


class _Checks:
    """What the loaders add to PyYAML's safe loader (see the module docstring)."""

    duplicates: list[FieldProblem]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[str, yaml.Mark] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            if key_node.value in first:
                self.duplicates.append(
                    FieldProblem(
                        "",
                        f"{_at(key_node.start_mark)}: {_repeated(key_node.value)} "
                        f"(first at {_at(first[key_node.value])}); Kubernetes refuses it",
                    )
                )
            else:
                first[key_node.value] = key_node.start_mark
        result: dict[Any, Any] = super().construct_mapping(node, deep)  # type: ignore[misc]
        return result

    def construct_checked_int(self, node: yaml.ScalarNode) -> int:
        try:
            value: int = yaml.SafeLoader.construct_yaml_int(self, node)  # type: ignore[arg-type]
        except ValueError:
            value = 1 << _MAX_INT_BITS  # more digits than int() may parse
        if value.bit_length() > _MAX_INT_BITS:
            raise yaml.constructor.ConstructorError(
                None, None, "integer is too large", node.start_mark
            )
        return value


def _customize(loader: type[Any]) -> None:
    loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if not tag.endswith(":timestamp")]
        for first, resolvers in loader.yaml_implicit_resolvers.items()
    }
    loader.add_constructor("tag:yaml.org,2002:int", _Checks.construct_checked_int)


class _SafeLoader(_Checks, yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates = []


_customize(_SafeLoader)

_FastLoader: type[Any] | None = None
if getattr(yaml, "__with_libyaml__", False):

    class _CSafeLoader(_Checks, yaml.CSafeLoader):
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.duplicates = []

    _customize(_CSafeLoader)
    _FastLoader = _CSafeLoader


_NON_PRINTABLE: Final = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


# A line starting with `---` always starts a document (YAML forbids it inside scalars
# and flow collections), so documents can be bounded one by one.
_DOCUMENT_START: Final = re.compile(r"^---(?=\s|$)", re.MULTILINE)


def _nesting_bound(text: str) -> int:
    """An upper bound on how deep a document of ``text`` can nest: block collections need
    indentation (at most two levels per column), flow collections need brackets."""
    bound = 0
    for document in _DOCUMENT_START.split(text):
        longest = max((len(line) for line in document.splitlines()), default=0)
        bound = max(bound, 2 * longest + 1 + document.count("[") + document.count("{"))
    return bound


def _at(mark: yaml.Mark | None) -> str:
    return "" if mark is None else f"line {mark.line + 1}, column {mark.column + 1}"


def _yaml_error(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = (exc.problem or "invalid YAML").strip()
        where = _at(exc.problem_mark) or _at(exc.context_mark)
        message = f"{where}: {problem}" if where else problem
        context, mark = exc.context, exc.context_mark
        if (
            context
            and mark is not None
            and mark is not exc.problem_mark
            and (
                exc.problem_mark is None
                or (mark.line, mark.column) != (exc.problem_mark.line, exc.problem_mark.column)
            )
        ):
            message += f" ({context} at {_at(mark)})"
        elif context and not where:
            message += f" ({context})"
        return message
    return f"invalid YAML: {exc}"


def _load_yaml(text: str) -> Iterator[_Read]:
    cls: type[Any] = _SafeLoader
    if _FastLoader is not None and _nesting_bound(text) <= _C_NESTING_LIMIT:
        cls = _FastLoader
    # PyYAML refuses these (the pure-Python reader before reading anything, libyaml when
    # it gets there, with a byte offset); finding them here gives one answer, in lines.
    if (bad := _NON_PRINTABLE.search(text)) is not None:
        where = _position(text, bad.start())
        yield 0, None, (), f"{where}: character #x{ord(bad.group()):04x} is not allowed in YAML"
        return
    loader = None
    index = 0
    try:
        loader = cls(text)
        while loader.check_data():
            data = loader.get_data()
            yield index, data, tuple(loader.duplicates), None
            loader.duplicates = []
            index += 1
    except yaml.YAMLError as exc:
        yield index, None, (), _yaml_error(exc)
    except RecursionError:
        yield index, None, (), f"nested too deeply (document {index})"
    finally:
        if loader is not None:
            loader.dispose()


# -- JSON ----------------------------------------------------------------------------------


class _JsonObjects:
    """``object_pairs_hook``: builds each object (the last value of a repeated key wins,
    as in ``json.loads``) and remembers the objects whose keys repeat."""

    def __init__(self) -> None:
        self.repeated: dict[int, tuple[dict[str, Any], list[str]]] = {}

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            repeated: dict[str, None] = {}
            for key, _ in pairs:
                if key in seen:
                    repeated[key] = None
                seen.add(key)
            self.repeated[id(obj)] = (obj, list(repeated))
        return obj

    def errors(self, document: object) -> tuple[FieldProblem, ...]:
        """The repeated keys of ``document``'s objects, with each object's field path;
        forgets them.  (A JSON document is a tree as long as its text: the walk is
        bounded by it, and stops once every such object is found.)"""
        if not self.repeated:
            return ()
        out: list[FieldProblem] = []
        left = len(self.repeated)
        stack: list[tuple[object, str]] = [(document, "")]
        while stack and left:
            node, path = stack.pop()
            if isinstance(node, dict):
                if (found := self.repeated.get(id(node))) is not None and found[0] is node:
                    left -= 1
                    out.extend(
                        FieldProblem(path, f"{_repeated(key)}; Kubernetes refuses it")
                        for key in found[1]
                    )
                stack.extend((v, f"{path}.{k}" if path else k) for k, v in node.items())
            elif isinstance(node, list):
                stack.extend((v, f"{path}[{i}]") for i, v in enumerate(node))
        self.repeated.clear()
        return tuple(sorted(out, key=lambda e: e.path))


def _json_int(text: str) -> int:
    if len(text) > _MAX_JSON_DIGITS:
        raise ValueError("integer is too large")
    return int(text)


def _load_json(text: str) -> Iterator[_Read]:
    """A JSON file: one value, or several one after the other (as kubectl reads them)."""
    objects = _JsonObjects()
    decoder = json.JSONDecoder(parse_int=_json_int, object_pairs_hook=objects)
    pos, end, index = 0, len(text), 0
    while True:
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        if pos >= end:
            return
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield index, None, (), f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
            return
        except ValueError as exc:  # _json_int
            yield index, None, (), f"{_position(text, pos)}: {exc}"
            return
        except RecursionError:
            yield index, None, (), f"{_position(text, pos)}: nested too deeply"
            return
        yield index, value, objects.errors(value), None
        index += 1
